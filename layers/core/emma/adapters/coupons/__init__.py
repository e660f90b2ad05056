"""One adapter per platform's coupon API (emma.offers.ports.CouponProvider), over one HTTP transport."""
