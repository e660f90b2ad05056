"""Counters count things, not deliveries: the same order, coupon or message under new delivery ids
changes no counter (issue 12)."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from emma.ingest.service import IngestService
from emma.profiles.model import MAX_COUNTED_IDS
from emma.sources import shopify
from emma_local.fakes import FixedClock, InMemoryCatalog, InMemoryProfileRepository, InMemoryPublisher
from factories import T0, event, order

SHOPIFY = Path(__file__).parents[3] / "events" / "shopify"
RECEIVED = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def service():
    repo = InMemoryProfileRepository()
    return IngestService(repo, InMemoryCatalog(repo), InMemoryPublisher(), FixedClock(T0), sleep=lambda s: None)


def _webhook(topic: str, delivery_id: str) -> list:
    payload = json.loads((SHOPIFY / f"{topic.replace('/', '_')}.json").read_text(encoding="utf-8"))
    return shopify.map_delivery("elektro-emma", topic, delivery_id, payload, RECEIVED)


def test_the_same_shopify_order_under_50_delivery_ids_counts_once(service):
    reports = [service.ingest(_webhook("orders/create", f"webhook-{n}")) for n in range(50)]
    assert all(r.accepted for r in reports)  # every delivery is stored (and published): nothing refused

    lena = service.resolve("elektro-emma", "cid:7008001")
    assert lena.orders.count == 1
    assert lena.event_counts["order.placed"] == 1
    assert lena.event_counts["coupon.redeemed"] == 1  # SUMMER10 on this order, once
    assert len(lena.event_times["order.placed"]) == 1  # windowed counts ("2 orders in 90 days") too
    assert lena.coupons_redeemed == ["SUMMER10"]


def test_each_kind_of_order_event_counts_once_per_order(service):
    for n in range(3):
        service.ingest(_webhook("orders/create", f"create-{n}"))
        service.ingest(_webhook("orders/paid", f"paid-{n}"))
        service.ingest(_webhook("orders/fulfilled", f"fulfilled-{n}"))
    lena = service.resolve("elektro-emma", "cid:7008001")
    counts = {k: v for k, v in lena.event_counts.items() if k.startswith("order.")}
    assert counts == {"order.placed": 1, "order.paid": 1, "order.fulfilled": 1}
    # a second order is a second thing
    service.ingest([order("o-2", "20.00", customer={"customer_id": "7008001"}, id="shopify:other")])
    assert service.resolve("elektro-emma", "cid:7008001").event_counts["order.placed"] == 2


LENA = {"customer_id": "c-1", "email": "lena@example.de"}


def _message_event(type_: str, message_id: str | None, minutes: float) -> object:
    return event(type_, customer=LENA, source="ses", minutes=minutes, message_id=message_id)


def test_a_message_counts_once_per_kind_however_often_it_is_opened(service):
    events = [_message_event("email.sent", "m-1", 0), _message_event("email.delivered", "m-1", 1)]
    events += [_message_event("email.opened", "m-1", 60 * h) for h in (2, 3, 20)]  # opened three times
    events += [_message_event("email.clicked", "m-1", 60 * h) for h in (3, 21)]
    events += [_message_event("email.sent", "m-2", 5), _message_event("email.opened", "m-2", 600)]
    service.ingest(events)
    lena = service.resolve("elektro-emma", "cid:c-1")
    assert lena.event_counts["email.opened"] == 2  # two messages opened (unique opens)
    assert lena.event_counts["email.clicked"] == 1
    stats = lena.channels["email"]
    assert (stats.sent, stats.delivered, stats.opened, stats.clicked) == (2, 1, 2, 1)
    assert sum(stats.hours) == 3  # the first open and the first click of each message
    assert stats.last_open_at == T0 + timedelta(hours=20)  # the newest open is still known


def test_message_events_without_a_message_id_count_each_time(service):
    service.ingest([_message_event("email.opened", None, m) for m in (1, 2)])
    assert service.resolve("elektro-emma", "cid:c-1").event_counts["email.opened"] == 2


def test_other_events_count_each_time(service):
    service.ingest([event("page.viewed", customer=LENA, minutes=m) for m in range(3)])
    assert service.resolve("elektro-emma", "cid:c-1").event_counts["page.viewed"] == 3


def test_the_remembered_ids_are_bounded_and_the_oldest_go_first(service):
    bound = MAX_COUNTED_IDS["order"]
    service.ingest([order(f"o-{n}", "1.00", customer=LENA, id=f"shopify:o-{n}", minutes=n) for n in range(bound + 5)])
    lena = service.resolve("elektro-emma", "cid:c-1")
    assert len(lena.counted["order"]) == bound and "o-0" not in lena.counted["order"]
    assert lena.event_counts["order.placed"] == bound + 5
    service.ingest([order(f"o-{bound + 4}", "1.00", customer=LENA, id="shopify:again-newest")])
    assert service.resolve("elektro-emma", "cid:c-1").event_counts["order.placed"] == bound + 5


def test_a_long_message_id_is_remembered_as_a_short_digest(service):
    long_id = "0107018c3f5d2b1a-6d1c2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f-000000"
    service.ingest([_message_event("email.opened", long_id, m) for m in (1, 2)])
    lena = service.resolve("elektro-emma", "cid:c-1")
    (key,) = lena.counted["email"]
    assert key.startswith("#") and len(key) == 17
    assert lena.event_counts["email.opened"] == 1


def test_merging_two_profiles_that_both_counted_an_order_counts_it_once(service):
    # the guest checkout (email only), then the same order under another delivery id with the account
    guest, account = {"email": "lena@example.de"}, {"customer_id": "c-1"}
    service.ingest([order("o-1", "50.00", customer=guest, id="shopify:guest")])
    service.ingest([event("email.sent", customer=guest, source="ses", message_id="m-1", id="ses:1")])
    service.ingest([order("o-1", "50.00", customer=account, id="shopify:account")])
    service.ingest([event("email.sent", customer=account, source="ses", message_id="m-1", id="ses:2")])
    before = service.resolve("elektro-emma", "cid:c-1")
    assert before.profile_id != service.resolve("elektro-emma", "lena@example.de").profile_id

    service.ingest([event("customer.identified", customer=LENA, minutes=10)])  # one customer: merged
    lena = service.resolve("elektro-emma", "cid:c-1")
    assert lena.profile_id == service.resolve("elektro-emma", "lena@example.de").profile_id
    assert lena.orders.count == 1
    assert lena.event_counts["order.placed"] == 1
    assert lena.event_counts["email.sent"] == 1 and lena.channels["email"].sent == 1
    assert len(lena.event_times["order.placed"]) == 1
    # and after the merge, a redelivery is still not counted
    service.ingest([order("o-1", "50.00", customer=account, id="shopify:third")])
    assert service.resolve("elektro-emma", "cid:c-1").event_counts["order.placed"] == 1


def test_a_repeat_that_is_republished_after_a_crash_is_still_marked_repeat():
    """The delivery stored a repeat but died before publishing it; when it is sent again after the
    lease, the republished event must still say `repeat` (its trigger must not fire a second time)."""
    from emma.errors import PublishError

    repo, clock = InMemoryProfileRepository(), FixedClock(T0)
    publisher = InMemoryPublisher()
    service = IngestService(repo, InMemoryCatalog(repo), publisher, clock, sleep=lambda s: None)
    service.ingest(_webhook("orders/create", "first"))
    again = _webhook("orders/create", "second")
    publisher.fail_ids = {e.id for e in again}
    with pytest.raises(PublishError):
        service.ingest(again)  # stored (a repeat of the order), not published
    publisher.fail_ids = set()
    clock.advance(seconds=60)  # past the republish lease
    service.ingest(_webhook("orders/create", "second"))
    republished = [e for e in publisher.published if e.id in {x.id for x in again}]
    assert republished and all(e.repeat for e in republished if str(e.type) == "order.placed")
