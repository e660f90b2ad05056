"""Backfill: a shop's history imported at once ends where the same history seen live ends.

The same generated history (customers registering, consenting, ordering, cancelling, refunding over three
years) is fed two ways into in-memory stores:
- live: event by event on a clock that follows the history, every event through ingest and the rules
  function as published, the scheduled job run every day (timers, the prior's daily refit);
- backfill: the records in batches through the ImportWorker (nothing published), then concluded twice.
At the end both shops must hold the same profiles, the same segments and lifecycle stages, the same segment
sizes and member lists, the same counters and so the same prior, and the same predictions; the backfill
published nothing and armed no absence trigger.
"""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from emma.events.model import Channel, LineItem
from emma.imports.model import CustomerRecord, ImportedConsent, OrderRecord, events_of
from emma.imports.service import ImportWorker
from emma.ingest.service import IngestService
from emma.predict.model import score_profile
from emma.predict.prior import Prior
from emma.rules.loader import load_definitions
from emma.rules.service import RulesService
from emma_local.fakes import (
    FixedClock,
    InMemoryCatalog,
    InMemoryProfileRepository,
    InMemoryPublisher,
    InMemoryRulesStore,
)

DEFS = load_definitions(Path(__file__).resolve().parents[3])
SHOP = "elektro-emma"
END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
START = END - timedelta(days=3 * 365)
PRODUCTS = [
    ("sm-1", "smartphones", "Nordphone", Decimal("649.00")),
    ("sm-2", "smartphones", "Pixelio", Decimal("799.00")),
    ("ac-1", "accessories", "Nordphone", Decimal("29.90")),
    ("ac-2", "accessories", "Caseco", Decimal("19.90")),
    ("au-1", "audio", "Soundhaus", Decimal("129.00")),
    ("tv-1", "tv", "Viewa", Decimal("999.00")),
]


def history(seed: int = 7, customers: int = 90) -> tuple[list[CustomerRecord], list[OrderRecord]]:
    rng = random.Random(seed)
    people, orders = [], []
    line = 1
    for i in range(customers):
        line += 1
        created = START + timedelta(minutes=rng.randrange(0, 3 * 365 * 24 * 60 - 60 * 24 * 40))
        consents = ()
        if rng.random() < 0.6:
            at = created + timedelta(minutes=rng.randrange(0, 60 * 24 * 30))
            consents = (ImportedConsent(channel=Channel.EMAIL, granted=True, at=at, source="shop:newsletter-form"),)
            if rng.random() < 0.15:
                later = at + timedelta(days=rng.randrange(1, 300))
                if later < END:
                    consents += (ImportedConsent(channel=Channel.EMAIL, granted=False, at=later, source="shop:unsub"),)
        people.append(
            CustomerRecord(
                line=line,
                customer_id=f"c{i}",
                email=f"kunde{i}@example.de",
                first_name=f"Kunde{i}",
                country="DE",
                created_at=None if rng.random() < 0.1 else created,
                consents=consents,
            )
        )
        at = created + timedelta(days=rng.expovariate(1 / 20))
        while at < END - timedelta(hours=1) and rng.random() < 0.78:
            picks = rng.sample(PRODUCTS, rng.choice((1, 1, 2, 3)))
            items = tuple(
                LineItem(product_id=p, name=p, category=c, brand=b, quantity=1, price=price) for p, c, b, price in picks
            )
            total = sum((item.price or Decimal(0)) for item in items)
            roll = rng.random()
            order_id = f"o{i}-{len(orders)}"
            orders.append(
                OrderRecord(
                    line=1,  # numbered below, in file order
                    order_id=order_id,
                    order_number=f"#{1000 + len(orders)}",
                    customer_id=None if rng.random() < 0.2 else f"c{i}",  # guest checkouts: email only
                    email=f"kunde{i}@example.de",
                    placed_at=at,
                    currency="EUR",
                    total=total,
                    discount_codes=("WELCOME10",) if rng.random() < 0.1 else (),
                    items=items,
                    cancelled_at=at + timedelta(days=1) if roll < 0.05 and at + timedelta(days=1) < END else None,
                    refunded=(total / 2).quantize(Decimal("0.01")) if 0.05 <= roll < 0.1 else None,
                    refunded_at=at + timedelta(days=3) if 0.05 <= roll < 0.1 and at + timedelta(days=3) < END else None,
                )
            )
            at += timedelta(days=rng.expovariate(1 / 120))
    orders.sort(key=lambda o: o.placed_at)
    orders = [o.model_copy(update={"line": n + 2}) for n, o in enumerate(orders)]
    return people, orders


class Shop:
    def __init__(self, at: datetime) -> None:
        self.clock = FixedClock(at)
        self.repo = InMemoryProfileRepository(check_limits=False)
        self.bus = InMemoryPublisher()
        self.ingest = IngestService(self.repo, InMemoryCatalog(self.repo), self.bus, self.clock, sleep=lambda s: None)
        self.store = InMemoryRulesStore(self.repo, check_limits=False)
        self.conclusions = InMemoryPublisher()
        self.rules = RulesService(self.store, self.conclusions, DEFS, self.clock, sleep=lambda s: None)

    def profile_of(self, cid: str):
        return self.ingest.resolve(SHOP, f"cid:{cid}")


def live(people: list[CustomerRecord], orders: list[OrderRecord]) -> Shop:
    shop = Shop(START)
    events = [e for r in people for e in events_of(SHOP, "emma", r, END)]
    events += [e for r in orders for e in events_of(SHOP, "emma", r, END)]
    events.sort(key=lambda e: e.occurred_at)
    day = START
    for event in events:
        while day + timedelta(days=1) <= event.occurred_at:  # the scheduled job, every day in between
            day += timedelta(days=1)
            shop.clock.at = day
            shop.rules.on_schedule([SHOP])
        shop.clock.at = max(shop.clock.at, event.occurred_at)
        before = len(shop.bus.published)
        shop.ingest.ingest([event.model_copy(update={"received_at": shop.clock.at})])
        for published in shop.bus.published[before:]:
            shop.rules.on_event(published)
    while day + timedelta(days=1) <= END:
        day += timedelta(days=1)
        shop.clock.at = day
        shop.rules.on_schedule([SHOP])
    shop.clock.at = END
    shop.rules.on_schedule([SHOP])
    return shop


def backfill(people: list[CustomerRecord], orders: list[OrderRecord], batch: int = 40) -> Shop:
    shop = Shop(END)
    worker = ImportWorker(shop.ingest, shop.rules, shop.clock)
    touched: set[str] = set()
    for records in (people, orders):
        for n in range(0, len(records), batch):
            touched |= set(worker.store(SHOP, "emma", records[n : n + batch]).profiles)
    ids = sorted(touched)
    for phase, refit in (("conclude", False), ("rescore", True)):
        for n in range(0, len(ids), 50):
            worker.conclude(SHOP, ids[n : n + 50], f"job:{phase}:{n}", refit=refit and n == 0)
    return shop


@pytest.fixture(scope="module")
def shops():
    people, orders = history()
    return people, orders, live(people, orders), backfill(people, orders)


def close(a, b) -> bool:
    """Equal; numbers to 1e-6 relative and times derived from them to the second (the live shop adds the
    same float days in another order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return a == pytest.approx(b, rel=1e-6, abs=1e-9)
    if isinstance(a, str) and isinstance(b, str) and a[:4].isdigit() and "T" in a:  # times derived from floats
        with contextlib.suppress(ValueError):
            return abs((datetime.fromisoformat(a) - datetime.fromisoformat(b)).total_seconds()) < 1
    return a == b


PROFILE_FIELDS_NOT_COMPARED = {
    "profile_id",
    "version",
    "updated_at",
    "log_seq",
    "merged_from",
    "created_at",
    "imported_at",
}


def test_the_history_is_a_real_one(shops):
    people, orders, _, _ = shops
    assert len(people) == 90 and 150 <= len(orders) <= 600
    assert sum(1 for o in orders if o.cancelled_at) >= 3 and sum(1 for o in orders if o.refunded) >= 3
    assert sum(1 for o in orders if o.customer_id is None) >= 20
    assert sum(1 for p in people if p.created_at is None) >= 3 and sum(1 for p in people if p.consents) >= 30


def test_profiles_are_the_same(shops):
    people, _, was_live, filled = shops
    for person in people:
        a = was_live.profile_of(person.customer_id).model_dump(mode="json", exclude=PROFILE_FIELDS_NOT_COMPARED)
        b = filled.profile_of(person.customer_id).model_dump(mode="json", exclude=PROFILE_FIELDS_NOT_COMPARED)
        assert a == b, person.customer_id


def test_segments_lifecycle_and_member_lists_are_the_same(shops):
    people, _, was_live, filled = shops
    differences = []
    for person in people:
        a = was_live.store.derived_states[(SHOP, was_live.profile_of(person.customer_id).profile_id)]
        b = filled.store.derived_states[(SHOP, filled.profile_of(person.customer_id).profile_id)]
        if (sorted(a.segments), a.lifecycle_stage, a.rfm) != (sorted(b.segments), b.lifecycle_stage, b.rfm):
            differences.append((person.customer_id, sorted(set(a.segments) ^ set(b.segments)), a.lifecycle_stage))
    assert differences == []
    assert was_live.rules.segment_sizes(SHOP) == filled.rules.segment_sizes(SHOP)
    sizes = filled.rules.segment_sizes(SHOP)
    assert sizes["lapsed"] > 10 and sizes["known-customers"] == 90  # the history means something
    for segment in ("lapsed", "loyal", "reachable-email", "first-time-buyers"):
        live_members = {m["email"] for m in was_live.store.segment_members(SHOP, segment, None, 500, None)[0]}
        filled_members = {m["email"] for m in filled.store.segment_members(SHOP, segment, None, 500, None)[0]}
        assert live_members == filled_members, segment


def test_the_prior_and_predictions_are_the_same(shops):
    people, _, was_live, filled = shops
    # The same counters (the live shop also keeps counters that went back to zero; sums of float days are
    # added in another order: equal to the microsecond-day)
    live_stats = {k: v for k, v in was_live.store.stats[SHOP].items() if v}
    filled_stats = {k: v for k, v in filled.store.stats[SHOP].items() if v}
    assert live_stats == pytest.approx(filled_stats, abs=1e-4)
    was_live.rules.refit_priors([SHOP], force=True)  # the live shop's prior is at most a day old: refit it now
    prior_live = Prior.model_validate(was_live.store.prior(SHOP)[0])
    prior_filled = Prior.model_validate(filled.store.prior(SHOP)[0])
    assert close(prior_live.model_dump(mode="json"), prior_filled.model_dump(mode="json"))
    for person in people:
        b = filled.profile_of(person.customer_id)
        stored = filled.store.derived_states[(SHOP, b.profile_id)].predictions
        expected = score_profile(was_live.profile_of(person.customer_id), END, prior_live).model_dump(mode="json")
        assert close(stored, expected), person.customer_id


def test_the_backfill_published_nothing_and_armed_nothing(shops):
    _, _, was_live, filled = shops
    assert filled.bus.published == [] and filled.conclusions.published == []
    assert was_live.conclusions.published  # the live shop did conclude things out loud
    assert all(not d.arms for d in filled.store.derived_states.values())
    assert all(t.kind == "review" for t in filled.store.timers.values())  # future changes come live, from reviews


def test_the_same_batches_again_change_nothing(shops):
    people, orders, _, _ = shops
    shop = backfill(people, orders)
    before = {k: v for k, v in shop.repo.profiles.items()}
    derived = {k: v.model_dump() for k, v in shop.store.derived_states.items()}
    worker = ImportWorker(shop.ingest, shop.rules, shop.clock)
    shop.clock.at += timedelta(minutes=1)  # a real clock has moved on meanwhile
    again = worker.store(SHOP, "emma", people[:40])
    assert again.accepted == 0 and again.duplicates > 0 and again.profiles
    worker.conclude(SHOP, again.profiles, "job:conclude:0")
    assert shop.repo.profiles == before
    assert {k: v.model_dump() for k, v in shop.store.derived_states.items()} == derived


def test_after_the_import_life_goes_on_live(shops):
    """Review timers make time-based changes after the import (a customer lapsing next month) come out
    loud, and a new order of an imported customer fires the triggers a repeat purchase fires."""
    people, orders, _, _ = shops
    shop = backfill(people, orders)
    shop.clock.at = END + timedelta(days=60)
    shop.rules.on_schedule([SHOP])
    entered = [e for e in shop.conclusions.published if e.type == "segment.entered"]
    assert any(e.properties.segment == "lapsed" for e in entered)
    buyer = next(o for o in reversed(orders) if o.customer_id and not o.cancelled_at)
    fresh = buyer.model_copy(update={"order_id": "live-1", "placed_at": shop.clock.at, "discount_codes": ()})
    before = len(shop.conclusions.published)
    shop.ingest.ingest(events_of(SHOP, "emma", fresh, shop.clock.at))
    for event in shop.bus.published:
        shop.rules.on_event(event)
    fired = {e.properties.trigger for e in shop.conclusions.published[before:] if e.type == "trigger.fired"}
    assert {"order-placed", "repeat-purchase"} <= fired


def test_a_live_event_before_the_conclusion_announces_no_history(shops):
    """An imported customer who comes back before their history was concluded (emma import --conclude-later,
    or during a long import): the segments the history earned are recorded silently, the event's triggers fire."""
    people, orders, _, _ = shops
    shop = Shop(END)
    worker = ImportWorker(shop.ingest, shop.rules, shop.clock)
    buyer = next(o for o in reversed(orders) if o.customer_id and not o.cancelled_at)
    mine = [o for o in orders if o.email == buyer.email]
    worker.store(SHOP, "emma", [p for p in people if p.email == buyer.email])
    worker.store(SHOP, "emma", mine)  # stored, not concluded
    fresh = buyer.model_copy(update={"order_id": "live-2", "placed_at": END, "discount_codes": ()})
    shop.ingest.ingest(events_of(SHOP, "emma", fresh, END))
    for event in shop.bus.published:
        shop.rules.on_event(event)
    published = {e.type for e in shop.conclusions.published}
    assert "trigger.fired" in published
    assert not published & {"segment.entered", "lifecycle.changed"}, published
    profile = shop.profile_of(buyer.customer_id)
    derived = shop.store.derived_states[(SHOP, profile.profile_id)]
    assert derived.segments and shop.rules.segment_sizes(SHOP)["known-customers"] == 1


def test_customers_erased_in_emma_are_left_out_of_an_import(shops):
    """An old export must not bring back what an erasure removed: a customer with an address of an erased
    customer is skipped and counted, the others are stored; one look-up for the whole batch."""
    people, orders, _, _ = shops

    class Erased:
        def __init__(self, *addresses):
            self.addresses, self.asked = set(addresses), 0

        def suppressed(self, shop, emails, phones):
            return bool(self.addresses & {*emails, *phones})

        def erased_addresses(self, shop, emails, phones):
            self.asked += 1
            return self.addresses & {*emails, *phones}

    gone = people[3].email
    shop = Shop(END)
    erased = Erased(gone)
    shop.ingest = IngestService(
        shop.repo, InMemoryCatalog(shop.repo), shop.bus, shop.clock, sleep=lambda s: None, suppressions=erased
    )
    worker = ImportWorker(shop.ingest, shop.rules, shop.clock)
    report = worker.store(SHOP, "emma", people[:10])
    assert report.erased == 1 and erased.asked == 1 and report.skipped >= 1
    with pytest.raises(Exception, match="no profile"):
        shop.ingest.resolve(SHOP, gone)
    assert shop.profile_of(people[4].customer_id).emails == [people[4].email]
    report = worker.store(SHOP, "emma", [o for o in orders if o.email == gone][:3] or people[3:4])
    assert report.accepted == 0 and report.erased == 1


def test_a_record_whose_time_no_event_can_hold_is_refused_with_the_field_and_never_a_server_error():
    """Found by the OpenAPI conformance run: a consent given at 0001-01-01T00:04+01:00 is a valid RFC 3339 time,
    but out of range once converted to UTC, which every canonical event is. The record refuses a time on the first
    or last day a datetime holds, whatever its offset, as the OpenAPI document says (a pattern); a record built
    without validation still makes a clear 400, not a server error."""
    from datetime import timezone

    from pydantic import ValidationError

    from emma.errors import InvalidPayload
    from emma.imports.model import ADMITTED_TIME_PATTERN, OrderRecord

    early = datetime(1, 1, 1, 0, 4, tzinfo=timezone(timedelta(hours=1)))
    consent = {"channel": "email", "granted": True, "source": "shop:form"}
    for at in (early, "0001-01-01T12:00:00-05:00", "9999-12-31T23:00:00-01:00", "9000-01-01T00:00:00Z"):
        with pytest.raises(ValidationError, match=r"consents\.0\.at[\s\S]*0001-01-01 or in the years 9000-9999"):
            CustomerRecord.model_validate({"line": 2, "consents": [{**consent, "at": at}]})
    with pytest.raises(ValidationError, match=r"placed_at"):
        OrderRecord.model_validate(
            {"line": 2, "order_id": "1", "placed_at": "9500-12-31T10:00:00Z", "currency": "EUR", "total": "1"}
        )
    ok = CustomerRecord.model_validate({"line": 2, "consents": [{**consent, "at": "0001-01-02T00:04:00+01:00"}]})
    assert ok.consents[0].at.year == 1
    schema = CustomerRecord.model_json_schema()
    assert schema["$defs"]["ImportedConsent"]["properties"]["at"]["pattern"] == ADMITTED_TIME_PATTERN

    unchecked = ImportedConsent.model_construct(channel=Channel.EMAIL, granted=True, at=early, source="shop:form")
    record = CustomerRecord(line=2, customer_id="c1", email="kunde1@example.de").model_copy(
        update={"consents": (unchecked,)}
    )
    with pytest.raises(InvalidPayload) as info:
        events_of("elektro-emma", "emma", record, datetime(2026, 12, 6, tzinfo=UTC))
    assert info.value.status == 400 and "out of range" in str(info.value)


def test_orders_at_the_earliest_and_latest_times_the_document_admits_are_stored_and_concluded():
    """The OpenAPI document admits record times from 0001-01-02 to 8999-12-31: an import of such orders (a
    smartphone, whose upgrade estimate adds years to the purchase) stores and concludes them, no OverflowError."""
    shop = Shop(END)
    worker = ImportWorker(shop.ingest, shop.rules, shop.clock)
    phone = LineItem(product_id="p-phone", name="Phone", category="smartphones", quantity=1, price=Decimal("499"))
    orders = [
        OrderRecord.model_validate(
            {
                "line": n + 2,
                "order_id": f"o{n}",
                "email": f"k{n}@example.de",
                "placed_at": placed,
                "currency": "EUR",
                "total": "499",
                "items": [phone.model_dump()],
                "refunded": "10",
                "refunded_at": placed,
            }
        )
        for n, placed in enumerate(("8999-06-01T00:00:00Z", "8999-12-31T23:00:00-23:59", "0001-01-02T00:00:00+23:59"))
    ]
    report = worker.store(SHOP, "emma", orders)
    assert report.accepted == len(orders) * 2 and len(report.profiles) == 3
    done = worker.conclude(SHOP, sorted(report.profiles), "job:edge", refit=False)
    assert done.evaluated == 3
    for n in range(3):
        assert shop.ingest.resolve(SHOP, f"k{n}@example.de").orders.count == 1
