"""The dispatcher's DynamoDB stores against the emulator: claim semantics of the message log,
deferrals due by time, short links, and the frequency cap under concurrent workers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from emma.adapters.dispatch import DynamoCapStore, DynamoDeferrals, DynamoLinks, DynamoMessageLog
from emma.dispatch.ports import Claimed
from emma.dispatch.request import MessageRequest
from emma.resources import PROFILES_TABLE, SCHEDULE_TABLE
from emma.shops import FrequencyCap
from emma_local.emulator import start_emulator
from emma_local.provision import provision

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def request(key: str = "exec:step:1", **kw) -> MessageRequest:
    return MessageRequest(
        key=key,
        shop="elektro-emma",
        profile_id="p_1",
        template="cart-reminder",
        requested_at=NOW,
        journey="abandoned-cart",
        **kw,
    )


@pytest.fixture(scope="module")
def emulator():
    emu = start_emulator()
    with pytest.MonkeyPatch.context() as mp:
        for name, value in emu.env().items():
            mp.setenv(name, value)
        provision(emu.session())
        yield emu
    emu.stop()


@pytest.fixture
def ddb(emulator):
    return emulator.session().client("dynamodb")


def test_a_request_is_claimed_once_and_settles(ddb):
    log = DynamoMessageLog(ddb, PROFILES_TABLE.name)
    req = request("claim-1")
    record = log.claim(req, NOW, NOW + timedelta(minutes=3))
    assert record is not None and record.status == "processing" and record.attempts == 1
    with pytest.raises(Claimed):
        log.claim(req, NOW, NOW + timedelta(minutes=3))
    log.update(
        record,
        "sending",
        [{"stage": "render", "outcome": "pass", "reason": "x"}],
        NOW,
        lease_until=NOW + timedelta(minutes=3),
    )
    log.update(record, "sent", [{"stage": "send", "outcome": "send", "reason": "y"}], NOW, provider_id="ses-1")
    again = log.claim(req, NOW + timedelta(hours=1), NOW + timedelta(hours=1, minutes=3))
    assert again.status == "sent" and again.provider_id == "ses-1"  # returned for re-recording only
    assert [d["stage"] for d in again.decisions] == ["render", "send"]
    assert again.request["journey"] == "abandoned-cart"
    assert [r.key for r in log.recent("elektro-emma", "p_1", 10)] == ["claim-1"]


def test_a_lapsed_processing_claim_is_taken_over_and_a_lapsed_send_is_never_resent(ddb):
    log = DynamoMessageLog(ddb, PROFILES_TABLE.name)
    first = log.claim(request("lapse-1"), NOW, NOW + timedelta(minutes=3))
    taken = log.claim(request("lapse-1"), NOW + timedelta(minutes=4), NOW + timedelta(minutes=7))
    assert taken.attempts == 2 and first is not None
    log.update(taken, "sending", [], NOW, lease_until=NOW + timedelta(minutes=7))
    assert log.claim(request("lapse-1"), NOW + timedelta(minutes=8), NOW + timedelta(minutes=11)) is None
    assert log.get("elektro-emma", "p_1", "lapse-1").status == "unknown"


def test_a_deferred_request_is_claimable_only_when_due(ddb):
    log = DynamoMessageLog(ddb, PROFILES_TABLE.name)
    record = log.claim(request("defer-1"), NOW, NOW + timedelta(minutes=3))
    log.update(record, "deferred", [], NOW, not_before=NOW + timedelta(hours=9))
    assert log.claim(request("defer-1"), NOW + timedelta(hours=1), NOW + timedelta(hours=1)) is None
    assert log.claim(request("defer-1"), NOW + timedelta(hours=9), NOW + timedelta(hours=9, minutes=3)) is not None


def test_deferrals_come_due_in_order(emulator):
    deferrals = DynamoDeferrals(emulator.session().client("dynamodb"), SCHEDULE_TABLE.name)
    deferrals.defer(request("d-late"), NOW + timedelta(hours=2))
    deferrals.defer(request("d-early"), NOW + timedelta(hours=1))
    assert deferrals.due(NOW, 10) == []
    due = deferrals.due(NOW + timedelta(hours=3), 10)
    assert [r.key for _, r in due] == ["d-early", "d-late"]
    deferrals.remove([t for t, _ in due])
    assert deferrals.due(NOW + timedelta(days=1), 10) == []


def test_short_links_round_trip(ddb):
    links = DynamoLinks(ddb, PROFILES_TABLE.name)
    links.save("elektro-emma", "AbC", {"url": "https://shop.example/cart", "profile_id": "p_1"})
    assert links.get("elektro-emma", "AbC")["url"] == "https://shop.example/cart"
    assert links.get("elektro-emma", "nope") is None


def test_the_cap_holds_under_concurrent_workers(emulator):
    """Eight workers race to send twenty marketing messages to one customer: exactly three win."""
    caps = (FrequencyCap(messages=3, days=7),)
    won: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        store = DynamoCapStore(emulator.session().client("dynamodb"), PROFILES_TABLE.name)
        for i in range(n, 20, 8):
            if store.reserve("elektro-emma", "p_race", f"k{i}", NOW, caps):
                with lock:
                    won.append(f"k{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = DynamoCapStore(emulator.session().client("dynamodb"), PROFILES_TABLE.name)
    assert len(won) == 3 and set(store.recent_sends("elektro-emma", "p_race")) == set(won)
    assert store.reserve("elektro-emma", "p_race", won[0], NOW, caps)  # the same message again: its own slot
    store.release("elektro-emma", "p_race", won[0])
    assert store.reserve("elektro-emma", "p_race", "k-new", NOW, caps)  # a released slot is free again
    assert not store.reserve("elektro-emma", "p_race", "k-late", NOW, caps)
