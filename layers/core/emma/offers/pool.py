"""The pool provider: codes the shop uploaded (a CSV from its platform or its till), handed out once each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from emma.offers.config import PoolCoupons
from emma.offers.model import CouponOffer, IssuedCoupon
from emma.offers.ports import CodePool, ProviderRefused

DEFAULT_POOL = "default"


def pool_name(config: PoolCoupons, template: str, kind: str) -> str:
    """The pool a template's codes come from: named for the template, else for its kind, else 'default'."""
    return config.pools.get(template) or config.pools.get(kind) or DEFAULT_POOL


class PoolProvider:
    name = "pool"

    def __init__(self, pool: CodePool, config: PoolCoupons, now: Callable[[], datetime]) -> None:
        self._pool, self._config, self._now = pool, config, now

    def issue(self, offer: CouponOffer) -> IssuedCoupon:
        """A code claimed for the offer's message (PoolEmpty when none is left). It ends when the shop's code
        does, or when the offer does, whichever is first; ``remaining`` says how many the pool has left."""
        if offer.kind == "referral" and not (offer.template in self._config.pools or "referral" in self._config.pools):
            # the default pool holds one-use offer codes: a referral code is shared with many friends
            raise ProviderRefused("referral codes need a pool of their own (coupons.pools: referral)")
        name = pool_name(self._config, offer.template, offer.kind)
        code = self._pool.claim(offer.shop, name, offer.reference, self._now())
        ends = [e for e in (code.ends_at, offer.ends_at) if e is not None]
        remaining = self._pool.remaining(offer.shop, name)
        return IssuedCoupon(
            code.code,
            "pool",
            f"pool:{name}",
            min(ends) if ends else None,
            remaining=remaining,
            low=remaining < self._config.low_alarm,
        )
