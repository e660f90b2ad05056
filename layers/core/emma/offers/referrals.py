"""Referrals: a friend's first order with another customer's referral code (docs/offers.md#referrals). Pure.

Emma issues each customer's referral code through the shop's coupon provider and keeps a record of it (kind
``referral``, the owner's profile id: emma.offers.ports.CouponStore). When an ``order.placed`` arrives whose
discount codes name such a code, ``Referrals.on_event`` decides whether it is a referral:

* the code's record is of kind ``referral`` (not a message's offer or reward), owned by ANOTHER customer (not
  the orderer, nor a profile merged into the orderer's, nor one with the orderer's email);
* the order is the orderer's first: it is on their profile, is no test order, and no other order (cancelled
  ones included: ordering, cancelling and ordering again is not a second first order) was placed before it;
  a profile that has forgotten older orders (``orders.dropped``) is not a new customer either;
* the event is not a ``repeat`` (the same order under a new delivery id).

Then it ingests two events (source ``emma``, name ``referral``):

* on the referrer's profile ``referral.made`` (id ``referral:<order id>:<code>``; property referral_code, not the
  friend's address, which would outlive the friend's erasure in the referrer's history): a journey waiting for
  it (the smartphone onboarding's ``friend-buys``) moves on, the referrer is rewarded;
* on the friend's profile the custom event ``referral.converted`` (id ``referral:<order id>:converted``;
  properties referral_code, order_id, referrer: the referrer's profile id): the trigger ``referral-converted``
  enters the friend into ``referral-friend-reward``.

Only the first referral code of another customer in the order counts: one friend, one referrer. Both ids are
derived from the order, so a redelivered order (SQS) or a replay yields the same events, which ingest's
idempotency records store once; a crash between storing and publishing is republished by the retry.

``coupon.redeemed`` events are not read: every source lists the order's codes in its ``order.placed``
(Shopify, WooCommerce, Shopware, the tracker's Order Completed ``coupon``), and the redemptions are derived
from that same order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from emma.clock import Clock
from emma.errors import ProfileNotFound
from emma.events.model import CanonicalEvent, EventType, OrderEvent, Source, SourceKind, parse_event
from emma.offers.ports import CouponRecord, CouponStore
from emma.profiles.model import Profile

REFERRAL_CONVERTED = "referral.converted"  # the custom event's name on the friend's profile
SOURCE_NAME = "referral"
MAX_ID = 256  # CanonicalEvent.id

ProfileLookup = Callable[[str, str], Profile]  # (shop, profile id) -> the live profile; ProfileNotFound if none
Ingest = Callable[[Sequence[CanonicalEvent]], Any]  # stores and publishes (emma.ingest.service.IngestService)


@dataclass(frozen=True)
class Referral:
    """A friend's first order with a referrer's code."""

    shop: str
    code: str  # as the record has it (the case Emma created it in)
    order_id: str
    ordered_at: datetime
    referrer: Profile
    friend: Profile


def event_id(order_id: str, suffix: str) -> str:
    """``referral:<order id>:<suffix>``, at most 256 characters (a long order id is hashed)."""
    value = f"referral:{order_id}:{suffix}"
    if len(value) <= MAX_ID:
        return value
    digest = hashlib.sha256(order_id.encode()).hexdigest()
    return f"referral:{digest}:{suffix}"[:MAX_ID]


def is_first_order(profile: Profile, order_id: str) -> bool:
    """The order is the customer's first: on the profile, no test order, and no other order (counted,
    cancelled or refunded; test orders aside) placed before it. Ties in time go by order id, so of two
    orders at the same second exactly one is first."""
    orders = profile.orders
    this = next((r for r in orders.recent if r.order_id == order_id), None)
    if this is None or this.test:
        return False
    if orders.dropped is not None:  # orders older than those kept: a customer of long standing
        return False
    mine = (this.placed_at, this.order_id)
    return not any((r.placed_at, r.order_id) < mine for r in orders.recent if not r.test and r.order_id != order_id)


def is_same_customer(referrer: Profile, friend: Profile) -> bool:
    """The owner of the code is the orderer: the same profile, one merged into the other, or a shared
    address or shop customer id."""
    if referrer.profile_id == friend.profile_id:
        return True
    if referrer.profile_id in friend.merged_from or friend.profile_id in referrer.merged_from:
        return True
    return bool(set(referrer.emails) & set(friend.emails)) or bool(
        set(referrer.customer_ids) & set(friend.customer_ids)
    )


class Referrals:
    """Decides referrals from the bus's canonical events and records them through ingest."""

    def __init__(self, coupons: CouponStore, profiles: ProfileLookup, ingest: Ingest, clock: Clock) -> None:
        self._coupons, self._profiles, self._ingest, self._clock = coupons, profiles, ingest, clock

    def find(self, event: CanonicalEvent) -> Referral | None:
        """The referral this event makes, or None (not a placed order, a repeat, a test order, no referral
        code of another customer, not the orderer's first order)."""
        if not isinstance(event, OrderEvent) or event.type != EventType.ORDER_PLACED:
            return None
        props = event.properties
        if event.repeat or props.test or not props.discount_codes or not event.customer.profile_id:
            return None
        records = [r for r in self._records(event.shop, props.discount_codes) if r.kind == "referral"]
        if not records:
            return None
        try:
            friend = self._profiles(event.shop, event.customer.profile_id)
        except ProfileNotFound:  # erased meanwhile
            return None
        if not is_first_order(friend, props.order_id):
            return None
        for record in records:  # the first code of another customer: one friend, one referrer
            try:
                referrer = self._profiles(event.shop, record.profile_id)
            except ProfileNotFound:
                continue
            if is_same_customer(referrer, friend):
                continue  # a self-referral earns nothing
            return Referral(event.shop, record.code, props.order_id, event.occurred_at, referrer, friend)
        return None

    def _records(self, shop: str, codes: Sequence[str]) -> list[CouponRecord]:
        seen: set[str] = set()
        out = []
        for code in codes:
            folded = code.strip().casefold()
            if not folded or folded in seen:
                continue
            seen.add(folded)
            record = self._coupons.get(shop, code.strip())
            if record is not None:
                out.append(record)
        return out

    def events(self, referral: Referral, cause: CanonicalEvent) -> list[CanonicalEvent]:
        """``referral.made`` on the referrer's profile, ``referral.converted`` (custom) on the friend's."""
        now = self._clock.now()
        source = Source(kind=SourceKind.EMMA, name=SOURCE_NAME, delivery_id=cause.id[:512]).model_dump()
        common = {
            "shop": referral.shop,
            "occurred_at": referral.ordered_at.isoformat(),
            "received_at": now.isoformat(),
            "source": source,
        }
        made = parse_event(
            {
                **common,
                "id": event_id(referral.order_id, referral.code),
                "type": EventType.REFERRAL_MADE.value,
                "customer": referral.referrer.references().model_dump(exclude_none=True),
                # not the friend's address: it would stay in the referrer's history after the friend's erasure
                "properties": {"referral_code": referral.code},
            }
        )
        converted = parse_event(
            {
                **common,
                "id": event_id(referral.order_id, "converted"),
                "type": EventType.CUSTOM.value,
                "customer": referral.friend.references().model_dump(exclude_none=True),
                "properties": {
                    "name": REFERRAL_CONVERTED,
                    "properties": {
                        "referral_code": referral.code,
                        "order_id": referral.order_id,
                        "referrer": referral.referrer.profile_id,
                    },
                },
            }
        )
        return [made, converted]

    def on_event(self, event: CanonicalEvent) -> list[str]:
        """Record the referral this event makes, if any; returns what it did (for logs and tests). Safe to
        run again for the same event: the events' ids are the order's."""
        referral = self.find(event)
        if referral is None:
            return []
        self._ingest(self.events(referral, event))
        return [
            f"referral: {referral.referrer.profile_id} referred {referral.friend.profile_id} "
            f"(order {referral.order_id}, code {referral.code})"
        ]
