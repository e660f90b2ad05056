"""The imports benchmark (bench/imports.py) with a tiny history, on in-process moto, both ways `emma import` can
take it (customers --conclude-later then orders, each profile concluded once; each file concluded on its own):
the CLI's runner drove the steps it should, nothing is published, the shadow the bill is computed from agrees
with the tables, the figures add up (per unit, per step, scaled to 100,000 customers at list prices), and the
billing rules hold on hand-computed calls (the activity index included)."""

import json
import math

import pytest

from bench import imports
from bench.aws_calls import Call
from tests.unit.bench.conftest import moto_session

PRICES = json.loads(imports.PRICES.read_text())
TINY = imports.Plan(customers=30)
PROFILES = "emma-profiles"


@pytest.fixture(scope="module")
def result():
    with moto_session() as session:
        # patched moto (emma_local.moto_fixes, as `emma dev`): ingest stores a batch's customers on threads,
        # and moto's own TransactWriteItems deep-copies whole tables while other threads write to them
        return imports.measure(PRICES, TINY, session=session, patch_moto=True)


def _flows(result):
    return {imports.TOGETHER: result, imports.SEPARATELY: result[imports.SEPARATELY]}


def test_a_backfill_publishes_nothing_and_the_shadow_agrees_with_the_tables(result):
    for flow, r in _flows(result).items():
        assert r["eventbridge_calls"] == 0, flow
        assert not any(k.startswith("events:") for k in r["other_aws_requests"]), flow
        assert r["scaled"]["usd_by_service"]["eventbridge"] == 0, flow
        check = r["check"]
        assert check["items"] > 0, flow
        assert {k: v for k, v in check.items() if k != "items"} == {
            "missing_in_shadow": 0,
            "missing_in_table": 0,
            "sizes_differing": 0,
            "reads_differing": 0,
        }, flow
        assert set(r["cold_start_requests"]) <= {"secretsmanager:ListSecrets", "secretsmanager:BatchGetSecretValue"}


def test_every_step_is_measured(result):
    history = result["history"]
    assert history["orders"] >= 2 * TINY.customers  # about three orders a customer (DROPOUT)
    for flow, r in _flows(result).items():
        steps, profiles = r["steps"], r["profiles"]
        assert list(steps) == [imports.step_name(file, phase) for file, phase in imports.FLOWS[flow]], flow
        assert steps["customers store"]["units"] == history["customers"] == TINY.customers
        assert steps["orders store"]["units"] == history["orders"]
        assert profiles["customers"] == TINY.customers  # every customer has an email: one profile each
        for name, f in steps.items():
            assert f["units"] > 0 and f["api_requests"] >= 1, (flow, name)
            assert f["rru"] > 0 and not f["errors"], (flow, name)
            assert f["lambda"]["billed_ms"] > 0 and f["lambda"]["cpu_ms"] >= 0, (flow, name)
            if f["stopped_after_refit"]:  # a rescore whose refit changed nothing ends after its first request
                assert f["phase"] == "rescore" and f["api_requests"] == 1 and f["units"] == f["evaluated"], name
            elif f["phase"] != "store":  # every profile of the job (and of the jobs stored for it), once a pass
                assert f["units"] == profiles[f["file"]] == f["evaluated"], (flow, name)
        store = steps["customers store"]
        # every event stored has its idempotency record; the log keeps what is within the shop's log retention
        assert store["accepted_events"] == store["items_written"]["idempotency record"] > 0
        assert 0 < sum(store["events_logged"].values()) <= store["accepted_events"]
        assert store["index_writes"] == TINY.customers  # each new profile enters the activity index once
        assert store["items_written"]["profile"] == store["transactions"] == TINY.customers
        # backfill leaves out customers erased in Emma: a suppression lookup for each customer, billed (none erased)
        assert store["keys_read"]["erasure suppression"] >= TINY.customers and store["erased"] == 0
        for name, f in steps.items():
            if f["phase"] != "store":  # a batch's profiles in one BatchGetItem (RulesStore.load_many), not one each
                # a few GetItems a request (the prior; the refit's counters), not one a profile
                assert f["requests_by_api"].get("GetItem", 0) <= 5 * f["api_requests"] < f["units"], (flow, name)
                assert f["requests_by_api"]["BatchGetItem"] <= math.ceil(f["units"] / 33) * f["api_requests"]


def test_the_recommended_flow_concludes_each_profile_once(result):
    together, separately = result["steps"], result[imports.SEPARATELY]["steps"]
    # the customers file, stored with --conclude-later, is concluded with the orders file: one pass each
    assert result["profiles"]["both"] == together["conclude"]["units"] == together["rescore"]["units"]
    assert result["profiles"]["both"] >= result["profiles"]["customers"]
    assert not together["rescore"]["stopped_after_refit"]  # the orders are in: the refitted prior moved
    # each file on its own: the customers file's rescore finds the prior unchanged (no orders) and stops there
    assert separately["customers rescore"]["stopped_after_refit"]
    # storing the customers file is the same either way, call for call
    for key in ("requests_by_api", "wru", "rru", "index_wru", "wru_by_item", "rru_by_item"):
        assert together["customers store"][key] == separately["customers store"][key], key
    cmp = result["comparison"]
    assert cmp["usd_separately"] == result[imports.SEPARATELY]["scaled"]["usd_total"]
    assert cmp["usd_together"] == result["scaled"]["usd_total"]
    assert cmp["conclusions_together"] < cmp["conclusions_separately"]
    assert cmp["usd_saved"] == pytest.approx(cmp["usd_separately"] - cmp["usd_together"]) and cmp["usd_saved"] > 0
    assert cmp["wru_saved"] > 0


def test_the_figures_add_up(result):
    ddb = PRICES["services"]["dynamodb_on_demand"]
    lam = PRICES["services"]["lambda_arm64"]
    for r in _flows(result).values():
        for name, f in r["steps"].items():
            n, p = f["units"], f["per_unit"]
            assert f["wru"] == pytest.approx(sum(f["wru_by_item"].values())), name
            assert f["rru"] == pytest.approx(sum(f["rru_by_item"].values())), name
            assert p["wru"] * n == pytest.approx(f["wru"]) and p["rru"] * n == pytest.approx(f["rru"]), name
            assert sum(p["wru_by_item"].values()) == pytest.approx(p["wru"]), name
            assert f["usd_measured"]["dynamodb_writes"] == pytest.approx(
                (f["wru"] + f["index_wru"]) * ddb["usd_per_million_wru"] / 1e6
            ), name
            assert f["usd_measured"]["dynamodb_reads"] == pytest.approx(f["rru"] * ddb["usd_per_million_rru"] / 1e6), (
                name
            )
            assert f["lambda"]["billed_ms"] >= f["requests"] * imports.AWS_CALL_MS / f["lambda"]["parallel_calls"]
            assert f["usd_measured"]["lambda_duration"] == pytest.approx(
                f["lambda"]["gb_seconds"] * lam["usd_per_gb_second"]
            ), name
            s = f["scaled"]
            factor = s["units"] / n
            assert s["wru"] == pytest.approx(f["wru"] * factor), name
            assert s["rru"] == pytest.approx(f["rru"] * factor), name
            assert s["usd"]["dynamodb_writes"] == pytest.approx(f["usd_measured"]["dynamodb_writes"] * factor), name
            batch = 250 if f["phase"] == "store" else 100
            assert s["api_requests"] == math.ceil(s["units"] / batch), name
            assert s["usd"]["lambda_requests"] == pytest.approx(
                s["api_requests"] * lam["usd_per_million_requests"] / 1e6
            )
            assert s["usd_total"] == pytest.approx(sum(s["usd"].values())), name
            if f["phase"] != "store" and not f["stopped_after_refit"]:  # per profile concluded
                assert s["units"] == round(imports.SCALE_CUSTOMERS * n / TINY.customers), name
        steps = r["steps"]
        assert steps["customers store"]["scaled"]["units"] == imports.SCALE_CUSTOMERS
        assert steps["orders store"]["scaled"]["units"] == imports.SCALE_ORDERS
        total = r["scaled"]
        assert total["usd_total"] == pytest.approx(sum(f["scaled"]["usd_total"] for f in steps.values()))
        assert total["usd_total"] == pytest.approx(sum(total["usd_by_service"].values()))
        assert total["wru"] == pytest.approx(sum(f["scaled"]["wru"] for f in steps.values()))
        assert total["usd_conclusions"] == pytest.approx(
            sum(f["scaled"]["usd_total"] for f in steps.values() if f["phase"] != "store")
        )
        assert steps["customers store"]["scaled"]["api_requests"] == 400  # 250 records a request
        assert steps["orders store"]["scaled"]["api_requests"] == 1200
        assert total["api_requests"] == sum(f["scaled"]["api_requests"] for f in steps.values())


def test_report_and_findings(result):
    json.dumps(result)  # bench.run writes it into results.json as it is
    text = imports.report(result)
    assert "14. Imports" in text and "every item and size agree" in text and "in-process moto" in text
    assert "each file concluded on its own" in text and "together saves" in text
    found = imports.findings(result)
    assert found and all(f.startswith("imports: ") for f in found)


def test_the_assumptions_are_the_benchmarks():
    from bench import run

    assert run.ASSUMPTIONS["lambda_memory_mb"] == imports.LAMBDA_MEMORY_MB
    assert run.ASSUMPTIONS["aws_call_latency_ms"] == imports.AWS_CALL_MS
    assert run.FULL["imports_customers"] > run.QUICK["imports_customers"] > 0


def _put(table, pk, sk, **attrs):
    return {"Put": {"TableName": table, "Item": {"pk": {"S": pk}, "sk": {"S": sk}, **attrs}}}


def test_billing_rules_on_hand_computed_calls():
    index = imports.Index("activity", "activity_shop", "active_day", "KEYS_ONLY")
    meter = imports.Meter("s", {PROFILES: [index]})
    day = {"activity_shop": {"S": "S#s"}, "active_day": {"S": "2026-01-01"}}
    profile = _put(PROFILES, "S#s#P#p_1", "PROFILE", doc={"S": "x" * 1500}, **day)  # 2 KB
    record = _put(PROFILES, "S#s#E#e1", "EVENT", profile_id={"S": "p_1"})
    calls = [
        Call("dynamodb", "TransactWriteItems", {"TransactItems": [profile, record]}, {}, None, "t"),
        Call("dynamodb", "TransactWriteItems", {"TransactItems": [profile]}, {}, None, "t"),  # same day: no index
    ]
    bill = meter.bill(calls)
    assert bill.wru == 2 * 2 + 2 * 1 + 2 * 2  # in a transaction: doubled
    assert bill.index_writes == 1 and bill.index_wru == 1  # the entry appears once, as a standard write
    moved = _put(PROFILES, "S#s#P#p_1", "PROFILE", doc={"S": "x"}, **{**day, "active_day": {"S": "2026-02-01"}})
    bill = meter.bill([Call("dynamodb", "TransactWriteItems", {"TransactItems": [moved]}, {}, None, "t")])
    assert bill.wru == 2 * 2  # the larger of the item before (2 KB) and after
    assert bill.index_writes == 2  # the index key moved: delete and put
    failed = Call(
        "dynamodb", "TransactWriteItems", {"TransactItems": [profile]}, {}, "TransactionCanceledException", "t"
    )
    bill = meter.bill([failed])
    assert bill.wru == 2 * 2 and bill.index_writes == 0 and bill.errors  # charged, nothing stored, no index write
    keys = [{"pk": {"S": "S#s#P#p_1"}, "sk": {"S": "PROFILE"}}, {"pk": {"S": "S#s#A#email#a"}, "sk": {"S": "ALIAS"}}]
    found = meter.items[(PROFILES, "S#s#P#p_1", "PROFILE")]
    get = Call(
        "dynamodb",
        "BatchGetItem",
        {"RequestItems": {PROFILES: {"Keys": keys, "ConsistentRead": True}}},
        {"Responses": {PROFILES: [found]}},
        None,
        "t",
    )
    bill = meter.bill([get])
    assert bill.rru == 1 + 1  # the profile (< 4 KB) and the missing alias, both strongly consistent
    assert bill.keys_missing == {"alias": 1, "profile": 0} and meter.read_mismatches == 0
    counter = {"pk": {"S": "S#s#PSTATS"}, "sk": {"S": "STATS"}}
    add = {
        "TableName": PROFILES,
        "Key": counter,
        "UpdateExpression": "ADD #p0 :p0",
        "ExpressionAttributeNames": {"#p0": "orders"},
        "ExpressionAttributeValues": {":p0": {"N": "2"}},
    }
    meter.bill([Call("dynamodb", "TransactWriteItems", {"TransactItems": [{"Update": add}]}, {}, None, "t")] * 2)
    assert meter.items[(PROFILES, "S#s#PSTATS", "STATS")]["orders"] == {"N": "4"}
    with pytest.raises(ValueError, match="does not bill"):
        meter.bill([Call("dynamodb", "ExecuteStatement", {}, {}, None, "t")])
