"""The privacy benchmark (bench/privacy.py) at a tiny size, on in-process moto (no sockets): the customer
it builds holds every item type, and the export's and erasure's figures agree with each other (`make bench`
runs it on the emulator with the real sizes)."""

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from bench import privacy
from bench.aws_calls import Call
from bench.capacity import CapacityMeter
from emma_local.config import load_config
from emma_local.provision import provision
from tests.unit.bench.conftest import moto_session

TINY = privacy.Size("tiny", events=14, messages=2, journeys=2, history_days=20)
PRICES = json.loads(privacy.PRICES.read_text())


@pytest.fixture(scope="module")
def result():
    with moto_session() as session:
        resources = provision(session, load_config().shops)
        return privacy.measure(PRICES, sizes=(TINY,), session=session, resources=resources)


def test_history_has_the_events_asked_for_in_time_order():
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    person = privacy.Person("t", "cust-t", "t@example.de", "+4915100000001", "anon-t")
    for size in (TINY, privacy.SIZES[0]):
        requests = privacy.history(size, person, now)
        events = [e for r in requests for e in r]
        assert len(events) == size.events
        assert len({e["id"] for e in events}) == len(events)
        times = [e["occurred_at"] for e in events]
        assert now - timedelta(days=size.history_days) <= min(times) and max(times) < now
        spans = [(min(e["occurred_at"] for e in r), max(e["occurred_at"] for e in r)) for r in requests]
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
        types = {e["type"] for e in events}
        assert {"page.viewed", "customer.identified", "consent.changed"} <= types
    assert privacy.history(TINY, person, now) == privacy.history(TINY, person, now)  # seeded


def test_the_customer_holds_every_item_type_and_the_erasure_takes_them_all(result):
    c = result["customers"]["tiny"]
    cust, erase = c["customer"], c["erase"]
    assert cust["events_ingested"] == TINY.events and cust["rules_evaluations"] > 0
    assert cust["profile_ids"] == 2  # the second device's anonymous profile was merged in
    assert {
        "profile",
        "alias",
        "event log entry",
        "merged event log entry",
        "derived state",
        "rules marker",
        "due timer",
        "message log entry",
        "tracked link",
        "deferred message",
        "frequency cap",
        "journey state",
    } <= set(cust["holds"])
    assert cust["holds"]["journey state"] == TINY.journeys and cust["holds"]["message log entry"] == TINY.messages + 1
    assert erase["job_status"] == "done" and erase["left_after"] == 0 and not erase["still_resolvable"]
    assert erase["counts"] == cust["holds"]  # everything the export showed is erased
    assert erase["stopped_executions"] == c["fakes"]["stepfunctions_stop_execution"] == 1
    assert erase["suppressed"] == 2 and c["fakes"]["s3_put_object"] == 0


def test_the_erasure_writes_at_least_once_per_item_it_reports(result):
    erase = result["customers"]["tiny"]["erase"]
    writes = erase["item_writes"]
    for kind, n in erase["counts"].items():
        done = writes["delete"].get(kind, 0) + (writes["put"].get(kind, 0) if kind == "idempotency record" else 0)
        assert done >= n, kind
    # live events leave no idempotency record: the erased profile's event ids are kept, bare, by shop
    assert "idempotency record" not in erase["counts"] and writes["update"].get("erased event ids", 0) >= 1
    # every item written costs at least 1 WRU (2 in a transaction)
    assert erase["wru"] >= sum(sum(v.values()) for v in writes.values())
    assert erase["units"]["items_written"] == sum(sum(v.values()) for v in writes.values())


def test_units_requests_and_prices_agree(result):
    ddb = PRICES["services"]["dynamodb_on_demand"]
    for name in ("export", "erase"):
        m = result["customers"]["tiny"][name]
        assert m["rru"] > 0 and m["wru"] > 0 and not m["errors"]
        assert m["dynamodb_requests"] == sum(m["dynamodb_requests_by_api"].values())
        assert m["rru"] == pytest.approx(sum(u["rru"] for u in m["units_by_api"].values()))
        assert m["wru"] == pytest.approx(sum(u["wru"] for u in m["units_by_item"].values()))
        usd = (m["rru"] * ddb["usd_per_million_rru"] + m["wru"] * ddb["usd_per_million_wru"]) / 1e6
        assert m["usd_dynamodb"] == pytest.approx(usd) and m["usd_dynamodb_per_1000"] == pytest.approx(usd * 1000)
        assert m["wall_s_local_emulator"] > 0
    export, erase = (result["customers"]["tiny"][k] for k in ("export", "erase"))
    assert export["item_writes"]["put"] == {"audit entry": 1} and not export["item_writes"]["delete"]
    assert erase["rru"] >= export["rru"]  # the erasure reads what the export reads, and looks again after
    json.dumps(result)  # bench.run writes it into results.json as it is
    text = privacy.report(result)
    assert "12. Privacy" in text and "tiny" in text
    assert privacy.findings(result)


def test_a_delete_costs_the_size_of_the_item_it_deletes():
    table = "emma-profiles"
    big = {"pk": {"S": "S#elektro-emma#P#p_1"}, "sk": {"S": "LOG#0001"}, "event": {"B": b"x" * 2500}}
    meter = CapacityMeter({table: ("pk", "sk")})
    meter.units("Scan", {"TableName": table}, {"Items": [big]})  # primed, as before a measurement
    request = {"DeleteRequest": {"Key": {"pk": big["pk"], "sk": big["sk"]}}}
    missing = {"DeleteRequest": {"Key": {"pk": big["pk"], "sk": {"S": "LOG#0002"}}}}
    calls = [
        Call("dynamodb", "BatchWriteItem", {"RequestItems": {table: [request, missing]}}, {}, None, "t"),
        Call("dynamodb", "Query", {"TableName": table}, {"Items": [big]}, None, "t"),
    ]
    m = privacy.meter_calls(meter, calls, PRICES)
    assert m["wru"] == 3 + 1  # 2.5 KB -> 3 WRU; a key with no item still 1
    assert m["rru"] == 0.5  # eventually consistent Query of one 2.5 KB item
    assert m["item_writes"]["delete"] == {"event log entry": 2}
    assert m["dynamodb_requests_by_api"] == {"BatchWriteItem": 1, "Query": 1}
