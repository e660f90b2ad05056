"""What the coupon adapters' tests share: a clock the stand-ins and the adapters read, and an offer to create."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from emma.offers.model import CouponOffer

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    """The stand-in's clock (now) and the adapter's (monotonic), moved together."""

    def __init__(self, now: datetime = NOW) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return self.moment.timestamp()

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


def make_offer(shop: str, code: str, reference: str, **changes) -> CouponOffer:
    """A cart coupon's offer: 10 %, a week, for Lena."""
    values = {
        "shop": shop,
        "code": code,
        "kind": "offer",
        "percent": 10,
        "starts_at": NOW,
        "ends_at": NOW + timedelta(days=7),
        "reference": reference,
        "title": "Emma cart-coupon 3f9a0c1d2e",
        "template": "cart-coupon",
        "customer_email": "lena.schmidt@example.de",
        **changes,
    }
    return CouponOffer(**values)
