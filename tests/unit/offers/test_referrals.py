"""Referrals (emma.offers.referrals): a friend's first order with another customer's referral code records
referral.made on the referrer and referral.converted on the friend, once; nothing else does. With the real
ingest service over in-memory ports, so "first order" is read from profiles as ingest builds them."""

from datetime import timedelta
from pathlib import Path

import pytest

from emma.events.model import EventType
from emma.ingest.service import IngestService
from emma.offers.ports import CouponRecord
from emma.offers.referrals import REFERRAL_CONVERTED, Referrals, event_id, is_first_order
from emma.rules.engine import evaluate_event
from emma.rules.loader import load_definitions
from emma_local.fakes import FixedClock, InMemoryCatalog, InMemoryProfileRepository, InMemoryPublisher
from emma_local.fakes.offers import InMemoryCoupons
from tests.factories import T0, event, order

ROOT = Path(__file__).resolve().parents[3]
SHOP = "elektro-emma"
DAVID = {"customer_id": "c-david", "email": "david@example.com"}
EVA = {"email": "eva@example.com"}  # a guest: known by the order's email only


class World:
    def __init__(self):
        self.clock = FixedClock(T0)
        profiles = InMemoryProfileRepository()
        self.publisher = InMemoryPublisher()
        self.ingest = IngestService(
            profiles, InMemoryCatalog(profiles), self.publisher, self.clock, parallel_customers=1
        )
        self.coupons = InMemoryCoupons()
        self.ingested: list = []
        self.referrals = Referrals(self.coupons, self.ingest.resolve, self._ingest, self.clock)

    def _ingest(self, events):
        self.ingested.append(list(events))
        return self.ingest.ingest(events)

    def pid(self, refs):
        ref = f"cid:{refs['customer_id']}" if "customer_id" in refs else refs["email"]
        return self.ingest.resolve(SHOP, ref).profile_id

    def code(self, code, owner, kind="referral"):
        self.coupons.save(
            CouponRecord(
                shop=SHOP,
                code=code,
                profile_id=owner,
                message_key=f"referral:{owner}" if kind == "referral" else f"msg:{code}",
                template="review-and-referral-invite" if kind == "referral" else "cart-coupon",
                kind=kind,
                provider="shopify",
                provider_id=f"gid://shopify/DiscountCodeNode/{code}",
                issued_at=T0,
            )
        )

    def order(self, order_id, refs, *codes, minutes=0, **kw):
        """The order as the journeys function gets it from the bus: stored, with the profile id (and repeat)."""
        placed = order(order_id, "49.00", customer=refs, discount_codes=list(codes), minutes=minutes, **kw)
        self.ingest.ingest([placed])
        return next(e for e in reversed(self.publisher.published) if e.id == placed.id)

    def made(self):
        return [e for e in self.publisher.published if e.type == EventType.REFERRAL_MADE]

    def converted(self):
        return [
            e
            for e in self.publisher.published
            if e.type == EventType.CUSTOM and e.properties.name == REFERRAL_CONVERTED
        ]


@pytest.fixture
def world():
    w = World()
    w.ingest.ingest([event("customer.registered", customer=DAVID)])
    w.code("DAVID-7K2Q", w.pid(DAVID))
    return w


def test_a_friends_first_order_with_the_code_records_both_sides(world):
    placed = world.order("1001", EVA, "david-7k2q", minutes=5)  # WooCommerce lowercases codes
    done = world.referrals.on_event(placed)
    david, eva = world.pid(DAVID), world.pid(EVA)
    assert done == [f"referral: {david} referred {eva} (order 1001, code DAVID-7K2Q)"]
    (made,) = world.made()
    assert made.id == "referral:1001:DAVID-7K2Q" and made.customer.profile_id == david
    assert made.properties.referral_code == "DAVID-7K2Q" and made.properties.referred_email is None  # not the friend's
    assert made.source.kind == "emma" and made.source.name == "referral" and made.source.delivery_id == placed.id
    assert made.occurred_at == placed.occurred_at  # when the friend bought
    (converted,) = world.converted()
    assert converted.id == "referral:1001:converted" and converted.customer.profile_id == eva
    assert converted.properties.properties == {"referral_code": "DAVID-7K2Q", "order_id": "1001", "referrer": david}
    assert world.ingest.resolve(SHOP, david).referrals == 1  # the referrer's count, not the friend's
    assert world.ingest.resolve(SHOP, eva).referrals == 0


def test_a_redelivery_or_replay_records_nothing_twice(world):
    placed = world.order("1001", EVA, "DAVID-7K2Q")
    world.referrals.on_event(placed)
    world.referrals.on_event(placed)  # SQS delivers the order again
    world.referrals.on_event(placed)
    assert len(world.made()) == 1 and len(world.converted()) == 1
    assert [e.id for e in world.ingested[1]] == [e.id for e in world.ingested[0]]  # the same ids each time
    assert world.ingest.resolve(SHOP, world.pid(DAVID)).referrals == 1
    # The shop sends the same order again under a new delivery id: stored as a repeat, no referral.
    again = world.order("1001", EVA, "DAVID-7K2Q", id="shopify:other-delivery")
    assert again.repeat and world.referrals.find(again) is None


def test_a_second_order_by_the_friend_is_no_referral(world):
    world.order("0999", EVA, minutes=-60 * 24 * 30)  # Eva bought before, without a code
    later = world.order("1001", EVA, "DAVID-7K2Q")
    assert world.referrals.on_event(later) == []
    first = world.order("2001", {"email": "fritz@example.com"}, "DAVID-7K2Q")
    world.referrals.on_event(first)
    second = world.order("2002", {"email": "fritz@example.com"}, "DAVID-7K2Q", minutes=60)
    assert world.referrals.on_event(second) == []
    assert [e.id for e in world.made()] == ["referral:2001:DAVID-7K2Q"]


def test_an_earlier_cancelled_order_counts_and_out_of_order_deliveries_do_not_matter(world):
    world.order("0999", EVA, "DAVID-7K2Q", minutes=-60)
    world.ingest.ingest([order("0999", "49.00", type_="order.cancelled", customer=EVA, minutes=-30)])
    again = world.order("1001", EVA, "DAVID-7K2Q")  # ordered, cancelled, ordered again: not a first order
    assert world.referrals.find(again) is None
    # A later order delivered before the first: the first is still the first.
    late = world.order("3002", {"email": "gil@example.com"}, minutes=120)
    early = world.order("3001", {"email": "gil@example.com"}, "DAVID-7K2Q")
    assert world.referrals.find(late) is None and world.referrals.find(early) is not None


def test_own_code_unknown_code_and_other_kinds_are_no_referral(world):
    own = world.order("1001", DAVID, "DAVID-7K2Q")  # David's first order, with his own code
    assert world.referrals.on_event(own) == []
    world.code("CART-1", world.pid(DAVID), kind="offer")
    world.code("REWARD-1", world.pid(DAVID), kind="reward")
    for n, code in enumerate(["SUMMER10", "CART-1", "REWARD-1"]):
        placed = world.order(f"20{n}", {"email": f"friend{n}@example.com"}, code)
        assert world.referrals.on_event(placed) == [], code
    assert world.made() == [] and world.converted() == []


def test_the_same_customer_under_another_address_is_a_self_referral(world):
    # David orders as a guest under his address: the guest order lands on his profile.
    placed = world.order("1001", {"email": "david@example.com"}, "DAVID-7K2Q")
    assert placed.customer.profile_id == world.pid(DAVID) and world.referrals.find(placed) is None


def test_one_referrer_per_order_the_first_code_of_another_customer(world):
    world.ingest.ingest([event("customer.registered", customer={"customer_id": "c-anna", "email": "anna@example.com"})])
    world.code("ANNA-3PX", world.pid({"customer_id": "c-anna"}))
    placed = world.order("1001", EVA, "SUMMER10", "ANNA-3PX", "DAVID-7K2Q")
    world.referrals.on_event(placed)
    (made,) = world.made()
    assert made.properties.referral_code == "ANNA-3PX"


def test_test_orders_other_order_events_and_anonymous_events_are_ignored(world):
    assert world.referrals.find(world.order("1001", EVA, "DAVID-7K2Q", test=True)) is None
    paid = order("1002", "49.00", type_="order.paid", customer=EVA, discount_codes=["DAVID-7K2Q"])
    assert world.referrals.find(paid) is None
    no_profile = order("1003", "49.00", customer=EVA, discount_codes=["DAVID-7K2Q"])  # not through ingest
    assert no_profile.customer.profile_id is None and world.referrals.find(no_profile) is None


def test_first_order_and_long_order_ids():
    w = World()
    placed = w.order("1", EVA)
    profile = w.ingest.resolve(SHOP, placed.customer.profile_id)
    assert is_first_order(profile, "1") and not is_first_order(profile, "unknown")
    long = "x" * 400
    assert len(event_id(long, "converted")) <= 256 and event_id(long, "a") != event_id("y" * 400, "a")
    assert event_id(long, "a") == event_id(long, "a")


def test_the_trigger_enters_the_friend_on_emmas_event_only(world):
    defs = load_definitions(ROOT)
    world.referrals.on_event(world.order("1001", EVA, "DAVID-7K2Q"))
    (converted,) = world.converted()
    eva = world.ingest.resolve(SHOP, converted.customer.profile_id)
    now = T0 + timedelta(minutes=1)
    assert "referral-converted" in evaluate_event(defs, eva, converted, now, set()).fired
    spoofed = event("custom", customer=EVA, name=REFERRAL_CONVERTED, properties={"referral_code": "X"})
    assert "referral-converted" not in evaluate_event(defs, eva, spoofed, now, set()).fired  # a tracker call
