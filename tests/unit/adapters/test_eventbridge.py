import json

import pytest

from emma.adapters.eventbridge import EventBridgePublisher
from emma.errors import PublishError
from factories import event


class FakeEvents:
    """PutEvents that fails the entries it is told to, a given number of times."""

    def __init__(self, fail: dict[str, int] | None = None):
        self.fail = dict(fail or {})
        self.calls: list[list[dict]] = []

    def put_events(self, Entries):
        assert len(Entries) <= 10
        self.calls.append(Entries)
        results = []
        for entry in Entries:
            ids = [e["id"] for e in json.loads(entry["Detail"])["events"]]
            failing = [i for i in ids if self.fail.get(i, 0) > 0]
            for event_id in failing:
                self.fail[event_id] -= 1
            if failing:
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            else:
                results.append({"EventId": "x"})
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


def events(n, type_="page.viewed", blob=0):
    props = {"blob": "x" * blob} if blob else {}
    if type_ == "custom":
        return [event("custom", id=f"e{i}", name="x", properties=props) for i in range(n)]
    return [event(type_, id=f"e{i}") for i in range(n)]


def bundled(call):
    return [[e["id"] for e in json.loads(entry["Detail"])["events"]] for entry in call]


def test_a_request_s_events_travel_in_one_entry_with_their_types():
    fake = FakeEvents()
    mixed = [*events(2), event("order.placed", id="o1", order_id="o1", total="10.00", currency="EUR", items=[])]
    EventBridgePublisher(fake, "bus", sleep=lambda s: None).publish(mixed)
    assert len(fake.calls) == 1 and bundled(fake.calls[0]) == [["e0", "e1", "o1"]]
    entry = fake.calls[0][0]
    assert entry["Source"] == "emma.ingest" and entry["EventBusName"] == "bus"
    assert entry["DetailType"] == "emma.bundle"  # more than one type
    detail = json.loads(entry["Detail"])
    assert detail["types"] == ["order.placed", "page.viewed"]  # what rules match (detail.types)
    assert [e["type"] for e in detail["events"]] == ["page.viewed", "page.viewed", "order.placed"]


def test_one_type_names_the_entry():
    fake = FakeEvents()
    EventBridgePublisher(fake, "bus", sleep=lambda s: None).publish(events(3))
    assert fake.calls[0][0]["DetailType"] == "page.viewed"


def test_bundles_stay_under_the_size_a_queue_message_holds_and_keep_the_order():
    fake = FakeEvents()
    EventBridgePublisher(fake, "bus", sleep=lambda s: None).publish(events(9, "custom", blob=50_000))
    entries = [entry for call in fake.calls for entry in call]
    assert len(entries) == 3  # 4 events of ~50 KB an entry, not 9 entries
    assert all(len(e["Detail"].encode()) <= 224 * 1024 for e in entries)
    assert [i for call in fake.calls for ids in bundled(call) for i in ids] == [f"e{i}" for i in range(9)]


def test_only_failed_entries_are_retried():
    fake = FakeEvents(fail={"e30": 2})
    EventBridgePublisher(fake, "bus", sleep=lambda s: None).publish(events(40, "custom", blob=20_000))
    sent = [ids for call in fake.calls for ids in bundled(call)]
    failed = next(ids for ids in sent if "e30" in ids)
    assert sent.count(failed) == 3  # the failing entry twice more
    assert all(sent.count(ids) == 1 for ids in sent if ids != failed)
    assert sorted({i for ids in sent for i in ids}) == sorted(f"e{i}" for i in range(40))


def test_entries_failing_every_attempt_are_reported_not_dropped():
    fake = FakeEvents(fail={"e1": 99})
    with pytest.raises(PublishError, match=r"rejected 5 event\(s\) after 4 attempts: e0 \(InternalFailure"):
        EventBridgePublisher(fake, "bus", sleep=lambda s: None).publish(events(5))


def test_client_errors_are_retried_then_reported():
    from botocore.exceptions import ClientError

    class Throttled:
        calls = 0

        def put_events(self, Entries):
            self.calls += 1
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "PutEvents")

    client = Throttled()
    with pytest.raises(PublishError, match="ThrottlingException"):
        EventBridgePublisher(client, "bus", max_attempts=3, sleep=lambda s: None).publish(events(1))
    assert client.calls == 3


def test_an_event_over_the_entry_limit_is_refused_by_name():
    big = event("custom", id="huge", name="x", properties={"blob": "x" * 300_000})
    with pytest.raises(PublishError, match="huge"):
        EventBridgePublisher(FakeEvents(), "bus").publish([big])


def test_calls_also_stay_under_the_request_size_limit():
    fake = FakeEvents()
    EventBridgePublisher(fake, "bus", sleep=lambda s: None).publish(events(7, "custom", blob=150_000))
    assert all(sum(len(e["Detail"]) for e in call) < 256 * 1024 for call in fake.calls)
    assert sum(len(ids) for call in fake.calls for ids in bundled(call)) == 7


def test_the_largest_event_ingest_accepts_travels_and_a_larger_one_is_refused_by_name():
    from emma.errors import EventTooLarge
    from emma.sources.common import MAX_EVENT_BYTES

    largest = event("custom", id="big", name="x", properties={"blob": "x" * (MAX_EVENT_BYTES - 1000)})
    largest = largest.model_copy(
        update={"customer": largest.customer.model_copy(update={"profile_id": "p_" + "0" * 32})}
    )
    fake = FakeEvents()
    EventBridgePublisher(fake, "bus", sleep=lambda s: None).publish([largest])  # stamped with its profile: still fits
    (entry,) = fake.calls[0]
    assert len(entry["Detail"].encode()) < 256 * 1024 - 1024  # its queue message fits SQS with the envelope
    too_big = event("custom", id="huge", name="x", properties={"blob": "x" * 240_000})
    with pytest.raises(EventTooLarge, match="huge"):
        EventBridgePublisher(FakeEvents(), "bus").publish([too_big])


def test_an_entry_carries_at_most_25_events():
    fake = FakeEvents()
    EventBridgePublisher(fake, "bus", sleep=lambda s: None).publish(events(60))
    assert [len(ids) for call in fake.calls for ids in bundled(call)] == [25, 25, 10]
