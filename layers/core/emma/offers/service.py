"""Issuing a message's coupon: the code exists in the shop before the message names it, once per message.

``CouponIssuer.issue`` asks the shop's provider (emma.adapters.coupons, or the pool) to create the code, then
records it (emma.offers.ports.CouponStore) so a redemption finds its message. Both steps are idempotent: a retry
of the message (the dispatcher names the code on the message log before sending) finds the record and calls no
one; a retry after a crash between the two asks the provider again, which finds the code it created.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from emma.offers.model import CouponKind, CouponOffer, IssuedCoupon
from emma.offers.ports import CouponProvider, CouponRecord, CouponStore, ProviderMisconfigured
from emma.shops import ShopConfig

ProviderFactory = Callable[[ShopConfig], CouponProvider]


def make_offer(
    *,
    shop: str,
    code: str,
    template: str,
    reference: str,
    kind: CouponKind,
    percent: int,
    valid_days: int,
    minimum_order: Decimal | None,
    now: datetime,
    customer_email: str | None,
    customer_id: str | None,
) -> CouponOffer:
    """The offer of one message: one customer, one use, ``valid_days`` from now; a referral code has no end
    and is used once per friend."""
    referral = kind == "referral"
    return CouponOffer(
        shop=shop,
        code=code,
        kind=kind,
        percent=percent,
        starts_at=now,
        ends_at=None if referral else now + timedelta(days=valid_days),
        reference=reference,
        title=f"Emma {template} {reference.rsplit(':', 1)[-1]}",
        template=template,
        minimum_order=minimum_order,
        usage_limit=None if referral else 1,
        once_per_customer=True,
        customer_email=None if referral else customer_email,
        customer_id=None if referral else customer_id,
    )


class CouponIssuer:
    def __init__(self, store: CouponStore, providers: ProviderFactory) -> None:
        self._store = store
        self._providers = providers

    def issue(
        self, shop: ShopConfig, offer: CouponOffer, profile_id: str, message_key: str, now: datetime, known: str | None
    ) -> IssuedCoupon:
        """The code of ``offer``, created in the shop (or found: ``known`` is the code an earlier attempt of this
        message recorded). Raises what the provider raises (emma.offers.ports)."""
        if known:
            record = self._store.get(shop.shop, known)
            if record is not None and record.message_key == message_key:
                return IssuedCoupon(record.code, record.provider, record.provider_id, record.ends_at)
        if shop.coupons is None:
            raise ProviderMisconfigured(f"shop {shop.shop!r} has no coupon provider")
        issued = self._providers(shop).issue(offer)
        ends = issued.ends_at or offer.ends_at
        if offer.ends_at is not None and ends is not None:
            ends = min(ends, offer.ends_at)
        issued = replace(issued, ends_at=ends)
        self._store.save(
            CouponRecord(
                shop=shop.shop,
                code=issued.code,
                profile_id=profile_id,
                message_key=message_key,
                template=offer.template,
                kind=offer.kind,
                provider=issued.provider,
                provider_id=issued.provider_id,
                issued_at=now,
                ends_at=issued.ends_at,
            )
        )
        return issued
