"""The analytics benchmark (bench/analytics.py) with a tiny mixed stream, on in-process moto: the accounting is
consistent (a duplicate writes nothing, a message's total is the sum of its events, every item written costs
at least its units, the shadow the bill is computed from agrees with the table), and the billing rules hold
on hand-computed calls."""

import json

import pytest

from bench import analytics
from bench.aws_calls import Call
from tests.unit.bench.conftest import moto_session

PRICES = json.loads(analytics.PRICES.read_text())
TINY = analytics.Plan(customers=10, history_weeks=2)
TABLE = "emma-profiles"


@pytest.fixture(scope="module")
def result():
    with moto_session() as session:
        return analytics.measure(PRICES, TINY, session=session, patch_moto=False)


def _sum(rows, name):
    return sum(r[name] for r in rows)


def test_the_shadow_the_bill_comes_from_agrees_with_the_table(result):
    for name, check in result["checks"].items():
        assert check["items"] > 0, name
        assert {k: v for k, v in check.items() if k != "items"} == {
            "missing_in_shadow": 0,
            "missing_in_table": 0,
            "sizes_differing": 0,
            "reads_differing": 0,
        }, name


def test_a_message_costs_the_sum_of_its_events(result):
    life = result["message_life"]
    rows, total = life["events"], life["per_message"]
    assert [r["event"] for r in rows] == [
        "email.sent",
        "email.delivered",
        "email.opened (person)",
        "email.opened (machine)",
        "email.clicked",
        "email.clicked",
    ]
    assert total["events"] == len(rows)
    for name in ("requests", "rru", "wru"):
        assert total[name] == pytest.approx(_sum(rows, name)), name
    assert total["usd"] == pytest.approx(_sum(rows, "usd"))
    for r in rows:  # each counted event: one read of its touch, one transaction (the touch + its counter)
        assert r["requests_by_api"] == {"GetItem": 1, "TransactWriteItems": 1} and not r["errors"]
        assert r["items_written"] == {"touch": 1, "counter: message": 1}
        assert r["wru"] == 4 and r["rru"] == 1  # 2 items under 1 KB, in a transaction; a consistent read
    assert result["skipped"]["per_message"]["wru"] == 4


def test_a_duplicate_writes_nothing(result):
    again = result["redelivered"]["events"]
    assert len(again) == 4
    for r in again:
        assert r["outcome"] == "duplicate", r["event"]
        assert r["wru"] == 0 and not r["items_written"] and r["requests"] == 1
        assert 0 < r["rru"] <= 2  # one read (a strongly consistent GetItem, or the customer's Query)


def test_orders_journeys_and_their_reversal_write_what_they_touch(result):
    placed, cancelled = result["order"]["events"]
    assert placed["outcome"].startswith("order ") and "1 experiment" in placed["outcome"]
    assert cancelled["outcome"].endswith("reversed")
    # the order credit, the assignment, a counter per credited message (3), the journey and its step, shop, arm
    assert placed["items_written"] == {
        "assignment": 1,
        "counter: arm": 1,
        "counter: journey": 2,
        "counter: message": 3,
        "counter: shop": 1,
        "order credit": 1,
    }
    assert cancelled["items_written"] == placed["items_written"]  # takes back exactly what was credited
    heavy = result["order_heavy_customer"]
    assert heavy["customer"]["messages"] == 3 + 2 * TINY.history_weeks
    assert heavy["events"][0]["items_read"] > placed["items_read"]
    assert heavy["events"][0]["rru"] >= placed["rru"]
    run = result["journey"]
    assert [r["event"].split(" ")[0] for r in run["events"]].count("journey.step") == 4
    assert run["per_run"]["wru"] == pytest.approx(_sum(run["events"], "wru"))
    split = next(r for r in run["events"] if r["event"].startswith("journey.split"))
    assert split["items_written"] == {"progress": 1, "assignment": 1, "counter: arm": 1}


def test_the_mixed_stream_adds_up(result):
    m = result["mixed"]
    assert m["events"] == sum(m["events_by_type"].values()) == sum(b["events"] for b in m["by_type"].values())
    assert m["outcomes"].get("duplicate", 0) == 0 and m["outcomes"].get("ignored", 0) == 0
    by_type = m["events_by_type"]
    assert m["messages_sent"] == by_type["email.sent"] and m["orders"] == by_type.get("order.placed", 0)
    assert m["messages"] == m["messages_sent"] + by_type.get("message.skipped", 0) >= 3 * TINY.customers
    total = m["total"]
    assert not total["errors"] and total["requests"] == sum(total["requests_by_api"].values())
    assert total["wru"] == pytest.approx(sum(total["wru_by_item"].values()))
    assert total["rru"] == pytest.approx(sum(total["rru_by_item"].values()))
    assert total["wru"] >= 2 * sum(total["items_written"].values())  # every write in a transaction but PutItems
    wru_by_type = sum(b["wru_per_event"] * b["events"] for b in m["by_type"].values())
    assert wru_by_type == pytest.approx(total["wru"])
    assert m["per_event"]["wru"] == pytest.approx(total["wru"] / m["events"])
    assert m["per_message"]["wru_all"] == pytest.approx(total["wru"] / m["messages"])
    ddb = PRICES["services"]["dynamodb_on_demand"]
    usd = (total["rru"] * ddb["usd_per_million_rru"] + total["wru"] * ddb["usd_per_million_wru"]) / 1e6
    assert total["usd"] == pytest.approx(usd)
    assert m["per_message"]["usd_per_1000_all"] == pytest.approx(usd / m["messages"] * 1000)
    stored = m["stored"]
    assert {"touch", "counter: message", "counter: journey", "progress"} <= set(stored["item_sizes"])
    assert stored["counter_items_per_day"]["days_with_counters"] > 0


def test_reports_query_and_never_scan(result):
    reports = result["mixed"]["reports"]["by_report"]
    assert set(reports) == {"messages", "attribution", "journey abandoned-cart", "experiments", "kpis"}
    for name, r in reports.items():
        assert r["scans"] == 0 and set(r["requests_by_api"]) == {"Query"} and not r["errors"], name
        assert r["rru"] > 0
    assert reports["messages"]["requests"] == 4  # one Query per counter shard
    assert reports["attribution"]["requests"] == 8  # messages and the shop's days
    assert reports["kpis"]["requests"] == 9  # the snapshots, the shop's days, the messages
    json.dumps(result)  # bench.run would write it into results.json as it is
    text = analytics.report(result)
    assert "Analytics" in text and "every item and size agree" in text
    assert analytics.findings(result)


def _put(pk, sk, **attrs):
    return {"pk": {"S": pk}, "sk": {"S": sk}, **attrs}


def test_billing_rules_on_hand_computed_calls():
    meter = analytics.Meter()
    touch = _put("S#s#P#p_1", "AN#M#abc", doc={"S": "x" * 1500})  # 1,500 + 19 bytes: 2 KB
    counter_key = {"pk": {"S": "S#s#AN#message#0"}, "sk": {"S": "2026-11-02#-|-|newsletter|-|email"}}
    update = {
        "TableName": TABLE,
        "Key": counter_key,
        "UpdateExpression": "ADD #c0 :c0, #c1 :c1 SET #e = if_not_exists(#e, :e)",
        "ExpressionAttributeNames": {"#c0": "c_sent", "#c1": "c_requested", "#e": "expires_at"},
        "ExpressionAttributeValues": {":c0": {"N": "1"}, ":c1": {"N": "1"}, ":e": {"N": "1800000000"}},
    }
    tx = {"TransactItems": [{"Put": {"TableName": TABLE, "Item": touch}}, {"Update": update}]}
    calls = [
        Call("dynamodb", "GetItem", {"TableName": TABLE, "Key": touch, "ConsistentRead": True}, {}, None, "t"),
        Call("dynamodb", "TransactWriteItems", tx, {}, None, "t"),
        Call("dynamodb", "TransactWriteItems", tx, {}, None, "t"),
        Call("dynamodb", "Query", {"TableName": TABLE}, {"Items": [touch]}, None, "t"),
    ]
    bill = meter.bill(calls)
    assert bill.rru == 1 + 0.5  # a missing key still 1 (consistent); the Query eventually consistent, < 4 KB
    assert bill.wru == 2 * (2 * 2 + 2 * 1)  # twice: the 2 KB touch and the small counter, both doubled
    assert bill.items_written == {"touch": 2, "counter: message": 2}
    counter = meter.items[("S#s#AN#message#0", "2026-11-02#-|-|newsletter|-|email")]
    assert counter["c_sent"] == {"N": "2"} and counter["expires_at"] == {"N": "1800000000"}
    with pytest.raises(ValueError, match="cannot follow"):
        analytics.apply_update(None, counter_key, {**update, "UpdateExpression": "SET #c0 = :c0"})
    with pytest.raises(ValueError, match="does not bill"):
        meter.bill([Call("dynamodb", "BatchGetItem", {}, {}, None, "t")])


def test_the_stream_is_seeded_and_in_time_order():
    a, b = analytics.Month(8), analytics.Month(8)
    assert [d.event for d in a.deliveries] == [d.event for d in b.deliveries]
    times = [d.at for d in a.deliveries]
    assert times == sorted(times) and times[-1] < a.end
    assert len({d.event["id"] for d in a.deliveries}) == len(a.deliveries)
