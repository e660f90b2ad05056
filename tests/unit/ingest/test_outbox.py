"""The outbox (emma.ingest.outbox): with a store that publishes its commits' outboxes (the DynamoDB adapter
through the table's stream; the in-memory store with ``outbox=True``), the events travel with the profile
write and go out through the relay: stored once, published once however often they are delivered, and a
relay that fails loses nothing when it is retried."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from emma.adapters.dynamodb import DynamoProfileRepository, outbox_from_image
from emma.errors import InvalidPayload, PublishError
from emma.ingest.outbox import OutboxRelay
from emma.ingest.ports import AliasKey, Commit
from emma.ingest.service import IngestService
from emma.profiles.model import new_profile
from emma_local.fakes import FixedClock, InMemoryCatalog, InMemoryProfileRepository, InMemoryPublisher
from factories import T0, event, order

LENA = {"customer_id": "7008001", "email": "lena@example.de"}


@pytest.fixture
def repo():
    return InMemoryProfileRepository(outbox=True)


@pytest.fixture
def bus():
    return InMemoryPublisher()


@pytest.fixture
def service(repo, bus):
    return IngestService(repo, InMemoryCatalog(repo), bus, FixedClock(T0), sleep=lambda s: None)


def test_the_events_travel_with_the_profile_write_and_go_out_through_the_relay(service, repo, bus):
    report = service.ingest([order("o1", "99.00", customer=LENA), event("page.viewed", customer=LENA, path="/")])
    assert report.published == 2 and bus.published == []  # stored with the profile, not sent by the request
    (outbox,) = repo.take_stream()
    profile = service.resolve("elektro-emma", "cid:7008001")
    assert outbox.profile_id == profile.profile_id and outbox.version == profile.version == 1
    assert [e.customer.profile_id for e in outbox.events] == [profile.profile_id] * 2  # stamped as stored
    assert service.history(profile) == []  # the relay writes the log entries
    assert OutboxRelay(bus, repo).relay([outbox]) == 2
    assert [e.id for e in bus.published] == [e.id for e in outbox.events]
    assert sorted(e["type"] for e in service.history(profile)) == ["order.placed", "page.viewed"]


def test_ten_deliveries_change_the_profile_once_and_leave_one_outbox(service, repo, bus):
    delivery = order("o1", "10.00", customer=LENA, id="shopify-delivery-1")
    reports = [service.ingest([delivery]) for _ in range(10)]
    assert [len(r.accepted) for r in reports] == [1] + [0] * 9 and sum(r.published for r in reports) == 1
    OutboxRelay(bus, repo).relay(repo.take_stream())
    assert [e.id for e in bus.published] == ["shopify-delivery-1"]
    assert service.resolve("elektro-emma", "cid:7008001").orders.count == 1


def test_a_relay_that_fails_is_retried_and_loses_nothing(service, repo):
    service.ingest([order("o1", "10.00", customer=LENA, id="a"), order("o2", "20.00", customer=LENA, id="b")])
    pending = repo.take_stream()
    down = InMemoryPublisher(fail_ids=["b"])
    with pytest.raises(PublishError):
        OutboxRelay(down, repo).relay(pending)  # the stream keeps the records: the same batch comes again
    up = InMemoryPublisher()
    assert OutboxRelay(up, repo).relay(pending) == 2
    assert [e.id for e in up.published] == ["a", "b"]
    profile = service.resolve("elektro-emma", "cid:7008001")
    assert sorted(e["id"] for e in service.history(profile)) == ["a", "b"]  # logged once each


def test_a_backfill_leaves_no_outbox(service, repo):
    service.ingest([order("o1", "10.00", customer=LENA)], backfill=True)
    assert repo.take_stream() == []


def test_concurrent_writers_each_leave_their_own_outbox(repo, bus):
    # real backoff sleeps: without them four threads can starve one of its ten attempts (not what is tested here)
    service = IngestService(repo, InMemoryCatalog(repo), bus, FixedClock(T0))
    orders = [[order(f"o{t}-{i}", "1.00", customer=LENA) for i in range(5)] for t in range(4)]
    threads = [threading.Thread(target=lambda batch=b: [service.ingest([e]) for e in batch]) for b in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outboxes = repo.take_stream()
    assert sorted(o.version for o in outboxes) == list(range(1, 21))  # every commit, each once
    OutboxRelay(bus, repo).relay(sorted(outboxes, key=lambda o: o.version))
    assert len(bus.published) == 20 and service.resolve("elektro-emma", "cid:7008001").orders.count == 20


# ---- the DynamoDB adapter's outbox ----------------------------------------------------------------


def _commit(events, version=1):
    profile = new_profile("elektro-emma", "p_1", T0)
    profile.version = version
    return Commit("elektro-emma", profile, None, events, 1, claim_aliases=[AliasKey("cid", "7008001")], outbox=True)


def _image(item, lambda_form=True):
    """A profile item as a stream record's NewImage: Lambda's event carries binary as base64 text."""
    if not lambda_form:
        return item
    return {k: ({"B": base64.b64encode(v["B"]).decode()} if "B" in v else v) for k, v in item.items()}


def test_the_profile_item_carries_the_outbox_and_the_log_is_left_to_the_publisher():
    repo = DynamoProfileRepository(None, "profiles", log_days=lambda shop: 30)
    events = [order("o1", "10.00", customer=LENA, id="a"), event("page.viewed", customer=LENA, id="b")]
    items, kinds = repo.transaction(_commit(events))
    # no log entries and no idempotency records in the transaction: the publisher logs, the profile remembers
    assert [k for k, _ in kinds] == ["profile", "alias"]
    profile_item = items[0]["Put"]["Item"]
    for form in (True, False):  # as Lambda hands it, and as boto3 does
        outbox = outbox_from_image(_image(profile_item, form))
        assert outbox is not None and [e.id for e in outbox.events] == ["a", "b"]
        assert (outbox.shop, outbox.profile_id, outbox.version, outbox.first_seq, outbox.log_days) == (
            "elektro-emma",
            "p_1",
            1,
            1,
            30,
        )


def test_images_without_this_writes_events_are_passed_over_and_garbage_is_refused():
    repo = DynamoProfileRepository(None, "profiles")
    item = repo.transaction(_commit([order("o1", "10.00", customer=LENA)]))[0][0]["Put"]["Item"]
    assert outbox_from_image({**item, "version": {"N": "2"}}) is None  # an earlier write's outbox
    assert outbox_from_image({**item, "sk": {"S": "DERIVED"}}) is None
    assert outbox_from_image({k: v for k, v in item.items() if k != "outbox"}) is None
    with pytest.raises(InvalidPayload, match="unreadable outbox"):
        outbox_from_image({**item, "outbox": {"B": base64.b64encode(b"not zlib").decode()}})
    assert json.dumps(_image(item))  # the Lambda form is plain JSON


def test_the_publisher_logs_a_commit_s_events_in_one_item_read_back_as_events():
    writes = []

    class Client:
        def batch_write_item(self, RequestItems):
            writes.extend(r["PutRequest"]["Item"] for r in RequestItems["profiles"])
            return {}

        def query(self, **kwargs):
            return {"Items": writes}

    repo = DynamoProfileRepository(Client(), "profiles", log_cap=500)
    events = [order("o1", "10.00", customer=LENA, id="a"), event("page.viewed", customer=LENA, id="b", minutes=1)]
    item = repo.transaction(_commit(events))[0][0]["Put"]["Item"]
    outbox = outbox_from_image(_image(item))
    repo.write_log([outbox, outbox])  # a retried batch: the same item, once
    (entry,) = writes
    assert entry["sk"] == {"S": "LOG#C000001"} and entry["count"] == {"N": "2"}  # ring slot: the version
    assert [e["id"] for e in repo.read_log("elektro-emma", "p_1", 10)] == ["b", "a"]  # newest first


# ---- the event ids a profile absorbed (emma.ingest.seen), instead of idempotency records ----------


def test_no_idempotency_record_is_kept_the_profile_remembers_the_ids(service, repo):
    service.ingest([order("o1", "10.00", customer=LENA, id="a")])
    assert repo.seen == {}  # no record per event
    profile = service.resolve("elektro-emma", "cid:7008001")
    assert len(repo.seen_ids[("elektro-emma", profile.profile_id)]) == 1


def test_a_delivery_resent_days_later_is_found_in_the_archive(repo, bus):
    from datetime import timedelta

    from emma.ingest.seen import KEEP_NEWEST, SPILL_AT

    clock = FixedClock(T0)
    service = IngestService(repo, InMemoryCatalog(repo), bus, clock, sleep=lambda s: None)
    early = [event("page.viewed", customer=LENA, id=f"early-{i}", at=T0) for i in range(SPILL_AT)]
    service.ingest(early)
    clock.at = T0 + timedelta(days=4)
    later = [event("page.viewed", customer=LENA, id=f"later-{i}", at=clock.at) for i in range(KEEP_NEWEST)]
    service.ingest(later)
    profile = service.resolve("elektro-emma", "cid:7008001")
    assert repo.archive and len(repo.seen_ids[("elektro-emma", profile.profile_id)]) == KEEP_NEWEST
    version = profile.version
    report = service.ingest([early[3]])  # a sender retrying four days later
    assert report.duplicates == ["early-3"] and not report.accepted
    assert service.resolve("elektro-emma", "cid:7008001").version == version  # nothing written


def test_an_import_run_twice_stores_its_history_once(service, repo):
    from datetime import timedelta

    history = [
        order(f"o{i}", "10.00", customer=LENA, id=f"import:o{i}", at=T0 - timedelta(days=30 + i)) for i in range(20)
    ]
    first = service.ingest(history, backfill=True)
    again = service.ingest(history, backfill=True)
    assert len(first.accepted) == 20 and len(again.duplicates) == 20 and not again.accepted
    assert service.resolve("elektro-emma", "cid:7008001").orders.count == 20
    assert len(repo.seen) == 20  # a backfill's events keep their records (the profile's ids are the live ones)


def test_a_merged_away_profiles_events_stay_duplicates(service, repo):
    anon = {"anonymous_id": "anon-5"}
    viewed = event("page.viewed", customer=anon, id="v1")
    service.ingest([viewed])
    service.ingest([event("customer.identified", customer={**anon, **LENA}, id="i1")])
    report = service.ingest([viewed])  # the tracker retries the anonymous page view
    assert report.duplicates == ["v1"]


def test_a_profile_erased_before_its_outbox_is_relayed_leaves_nothing_behind(service, repo, bus):
    service.ingest([order("o1", "10.00", customer=LENA, id="a")])
    pending = repo.take_stream()
    profile = service.resolve("elektro-emma", "cid:7008001")
    del repo.profiles[("elektro-emma", profile.profile_id)]  # the erasure got there first (the publisher is behind)
    assert OutboxRelay(bus, repo).relay(pending) == 0
    assert bus.published == [] and not repo.logs.get(("elektro-emma", profile.profile_id))
