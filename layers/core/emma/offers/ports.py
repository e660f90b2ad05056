"""What offers need from the outside world: the shop's coupon API (one adapter per platform in
emma.adapters.coupons) and the store of issued codes (emma.adapters.offers). emma_local.fakes has fakes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from emma.errors import EmmaError, TransientError
from emma.offers.model import CouponKind, CouponOffer, IssuedCoupon
from emma.offers.uplift import UpliftTable


class CouponUnavailable(EmmaError):
    """No working code for this message now. ``reason`` is what the message log and the alarm say."""

    status = 503
    code = "coupon_unavailable"


class ProviderTransient(TransientError):
    """The shop's API is busy or unreachable (throttled, 5xx, a timeout): ask again after ``retry_after``
    seconds. The message is deferred, never sent without its code."""

    code = "coupon_provider_busy"

    def __init__(self, message: str, retry_after: float = 60.0) -> None:
        super().__init__(message)
        self.retry_after = max(1.0, float(retry_after))


class ProviderMisconfigured(CouponUnavailable):
    """The shop's credentials are missing or refused, or its set-up is wrong (an unknown Shopware promotion):
    nothing Emma can fix by retrying soon. Messages are deferred and an alarm raised until the shop fixes it."""

    code = "coupon_provider_misconfigured"


class ProviderRefused(CouponUnavailable):
    """The shop refused this one coupon for good (a validation error, the code taken by a coupon that is not
    Emma's): the message goes without it, with the reason."""

    code = "coupon_refused"


class PoolEmpty(CouponUnavailable):
    """The shop's uploaded pool has no code left."""

    code = "coupon_pool_empty"


class CouponProvider(Protocol):
    name: str

    def issue(self, offer: CouponOffer) -> IssuedCoupon:
        """Create ``offer.code`` in the shop, or find it there when an earlier attempt created it (same code,
        same ``offer.reference``): idempotent. ProviderTransient: try again later; ProviderMisconfigured:
        credentials or set-up wrong; ProviderRefused: refused for good; PoolEmpty: no code left."""
        ...


@dataclass(frozen=True)
class CouponRecord:
    """Emma's record of one code it had created (or claimed from a pool): which message and customer it is for.
    A redemption names the code; this record links it back to its message and customer (a referral code to its
    owner: emma.offers.referrals)."""

    shop: str
    code: str
    profile_id: str
    message_key: str
    template: str
    kind: CouponKind
    provider: str
    provider_id: str
    issued_at: datetime
    ends_at: datetime | None = None


class CouponStore(Protocol):
    def save(self, record: CouponRecord) -> None:
        """Record an issued code (idempotent: the same code for the same message overwrites nothing else)."""
        ...

    def get(self, shop: str, code: str) -> CouponRecord | None:
        """The record of a code, compared without case (WooCommerce lowercases codes)."""
        ...


@dataclass(frozen=True)
class PoolCode:
    code: str
    ends_at: datetime | None = None  # when the shop's code stops working (the pool skips it after that)


class CodePool(Protocol):
    """Codes a shop uploaded, each handed out once."""

    def claim(self, shop: str, pool: str, reference: str, now: datetime) -> PoolCode:
        """A code of the pool for ``reference`` (a message): the same one on every retry, and never one handed
        to another reference. PoolEmpty when none is left."""
        ...

    def add(self, shop: str, pool: str, codes: Sequence[PoolCode]) -> int:
        """Add codes to the pool (a code already in it, or handed out before, is not added again): how many
        were added."""
        ...

    def remaining(self, shop: str, pool: str) -> int: ...


class UpliftTables(Protocol):
    """The uplift estimate per template (emma.offers.uplift), written hourly by the KPI snapshot job and read by
    the dispatcher (cached)."""

    def save(self, shop: str, tables: Mapping[str, UpliftTable], at: datetime) -> None: ...

    def get(self, shop: str) -> dict[str, UpliftTable]:
        """Template -> its table; {} before the first estimate."""
        ...
