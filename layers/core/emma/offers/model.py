"""What an offer is, as typed data: the coupon Emma asks a shop to create, what the shop created, and the
incentive decision that came before it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

IncentivePolicy = Literal["always", "predicted"]
INCENTIVE_POLICIES: tuple[str, ...] = ("always", "predicted")
CouponKind = Literal["offer", "referral", "reward"]
# offer: one customer, one use (a cart or winback coupon); reward: the same, promised (never withheld);
# referral: a customer's own code for friends: many uses, once per friend.
Arm = Literal["coupon", "control", "withheld", "explore", "unavailable"]
PROVIDERS: tuple[str, ...] = ("shopify", "woocommerce", "shopware", "pool")


@dataclass(frozen=True)
class CouponOffer:
    """The coupon Emma asks the shop to create for one message (or one referrer).

    ``code`` is the code Emma asks for: derived from the message key (emma.dispatch.tokens.coupon_code), so a
    retry asks for the same one. ``reference`` names the message (``<template>:<message ref>``) and is stored on
    the shop's coupon where the platform has room for it, so a retry that finds the code taken can tell its own
    coupon from someone else's. Amounts are in the shop's currency, as decimals."""

    shop: str
    code: str
    kind: CouponKind
    percent: int
    starts_at: datetime
    ends_at: datetime | None  # None: no end (a referral code)
    reference: str
    title: str  # what the shop's admin shows, e.g. "Emma cart-coupon 3f9a0c1d2e"
    template: str
    minimum_order: Decimal | None = None
    usage_limit: int | None = 1  # None: unlimited (referral codes, limited to once per customer instead)
    once_per_customer: bool = True
    customer_email: str | None = None  # restricts the code to the customer where the platform supports it
    customer_id: str | None = None  # the platform's own customer id (Shopify: numeric), when the profile has it


@dataclass(frozen=True)
class IssuedCoupon:
    """A code that exists in the shop: safe to put into a message."""

    code: str
    provider: str  # shopify, woocommerce, shopware, pool
    provider_id: str  # the platform's id of the coupon (a gid, a coupon id, an individual code id, the pool)
    ends_at: datetime | None = None  # may be earlier than asked (a Shopware promotion's own end)
    remaining: int | None = None  # a pool's codes left after this one (the low-pool alarm reads it)
    low: bool = False  # fewer left than the shop's low_alarm
