"""Offers: coupon codes the shop accepts, and the policy that decides who gets one (docs/offers.md)."""
