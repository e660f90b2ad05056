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
            event_id = json.loads(entry["Detail"])["id"]
            if self.fail.get(event_id, 0) > 0:
                self.fail[event_id] -= 1
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            else:
                results.append({"EventId": "x"})
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


def events(n):
    return [event("page.viewed", id=f"e{i}") for i in range(n)]


def test_at_most_ten_entries_per_call_with_type_and_source():
    fake = FakeEvents()
    EventBridgePublisher(fake, "bus", sleep=lambda s: None).publish(events(23))
    assert [len(c) for c in fake.calls] == [10, 10, 3]
    entry = fake.calls[0][0]
    assert entry["Source"] == "emma.ingest" and entry["DetailType"] == "page.viewed" and entry["EventBusName"] == "bus"


def test_only_failed_entries_are_retried():
    fake = FakeEvents(fail={"e3": 2})
    EventBridgePublisher(fake, "bus", sleep=lambda s: None).publish(events(5))
    assert [len(c) for c in fake.calls] == [5, 1, 1]
    assert json.loads(fake.calls[1][0]["Detail"])["id"] == "e3"


def test_entries_failing_every_attempt_are_reported_not_dropped():
    fake = FakeEvents(fail={"e1": 99, "e4": 99})
    with pytest.raises(PublishError, match=r"rejected 2 event\(s\) after 4 attempts: e1 \(InternalFailure"):
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
    big = [event("custom", id=f"b{i}", name="x", properties={"blob": "x" * 60_000}) for i in range(7)]
    EventBridgePublisher(fake, "bus", sleep=lambda s: None).publish(big)
    assert all(sum(len(e["Detail"]) for e in call) < 256 * 1024 for call in fake.calls)
    assert sum(len(c) for c in fake.calls) == 7
