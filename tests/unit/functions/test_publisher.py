"""The publisher function (functions/publisher): the profiles table's stream records to the relay, a failed
batch reported from its first record (Lambda retries it with everything after it), an unreadable outbox
logged and passed over."""

from __future__ import annotations

import base64

import pytest

from emma.adapters.dynamodb import DynamoProfileRepository
from emma.ingest.outbox import OutboxRelay
from emma.ingest.ports import AliasKey, Commit
from emma.profiles.model import new_profile
from emma.wiring.publisher import Publisher
from emma_local.fakes import InMemoryProfileRepository, InMemoryPublisher
from emma_local.lambdas import LambdaContext, load_handler
from factories import T0, event, order

LENA = {"customer_id": "7008001", "email": "lena@example.de"}


def record(seq: int, events, version: int = 1, pid: str = "p_1") -> dict:
    profile = new_profile("elektro-emma", pid, T0)
    profile.version = version
    commit = Commit("elektro-emma", profile, None, events, 1, claim_aliases=[AliasKey("cid", "1")], outbox=True)
    item = DynamoProfileRepository(None, "profiles").transaction(commit)[0][0]["Put"]["Item"]
    image = {k: ({"B": base64.b64encode(v["B"]).decode()} if "B" in v else v) for k, v in item.items()}
    return {
        "eventName": "MODIFY",
        "eventSource": "aws:dynamodb",
        "dynamodb": {"Keys": {"pk": item["pk"], "sk": item["sk"]}, "NewImage": image, "SequenceNumber": str(seq)},
    }


@pytest.fixture
def wired(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    module = __import__("publisher.handler", fromlist=["handler"])
    bus, log = InMemoryPublisher(), InMemoryProfileRepository()
    log.profiles_present = lambda outboxes: {(o.shop, o.profile_id) for o in outboxes}  # the profiles exist
    monkeypatch.setattr(module, "components", lambda: Publisher(OutboxRelay(bus, log)))
    return load_handler("publisher"), bus, log


def test_every_outbox_of_a_batch_is_logged_and_published_in_order(wired):
    handler, bus, log = wired
    records = [
        record(1, [order("o1", "10.00", customer=LENA, id="a")]),
        record(
            2, [event("page.viewed", customer=LENA, id="b"), event("page.viewed", customer=LENA, id="c")], pid="p_2"
        ),
    ]
    assert handler({"Records": records}, LambdaContext("publisher")) == {"batchItemFailures": []}
    assert [e.id for e in bus.published] == ["a", "b", "c"]
    assert [e["id"] for e in log.read_log("elektro-emma", "p_1", 10)] == ["a"]
    assert sorted(e["id"] for e in log.read_log("elektro-emma", "p_2", 10)) == ["b", "c"]


def test_a_failed_publish_asks_for_the_whole_batch_again(wired, monkeypatch):
    handler, bus, _ = wired
    bus.fail_ids = {"b"}
    records = [record(7, [order("o1", "10.00", customer=LENA, id="a")]), record(8, [event("page.viewed", id="b")], 2)]
    assert handler({"Records": records}, LambdaContext("publisher")) == {"batchItemFailures": [{"itemIdentifier": "7"}]}


def test_an_unreadable_outbox_is_passed_over_and_the_rest_go_out(wired, capsys):
    handler, bus, _ = wired
    broken = record(1, [order("o1", "10.00", customer=LENA, id="a")])
    broken["dynamodb"]["NewImage"]["outbox"] = {"B": base64.b64encode(b"not zlib").decode()}
    good = record(2, [event("page.viewed", customer=LENA, id="b")], 2)
    assert handler({"Records": [broken, good]}, LambdaContext("publisher")) == {"batchItemFailures": []}
    assert [e.id for e in bus.published] == ["b"]
    assert '"OutboxUnreadable":[1.0]' in capsys.readouterr().out  # counted (and logged with the record)


def test_an_event_no_entry_can_carry_is_passed_over_and_the_rest_go_out(wired, capsys, monkeypatch):
    from emma.errors import EventTooLarge

    handler, bus, _ = wired
    real = bus.publish

    def publish(events):
        if any(e.id == "huge" for e in events):
            raise EventTooLarge("huge", 300_000)
        real(events)

    monkeypatch.setattr(bus, "publish", publish)
    records = [record(1, [order("o1", "10.00", customer=LENA, id="a"), event("page.viewed", customer=LENA, id="huge")])]
    assert handler({"Records": records}, LambdaContext("publisher")) == {"batchItemFailures": []}
    assert [e.id for e in bus.published] == ["a"]
    assert '"OutboxUnpublishable":[1.0]' in capsys.readouterr().out
