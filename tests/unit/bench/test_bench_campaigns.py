"""The campaigns benchmark (bench/campaigns.py) with a tiny audience on in-process moto: the fan-out handed every
recipient to the queue, the walked state machine counted its transitions as the ASL says (15 before the waves, 3
a wave), the two passes of the waves are told apart into per recipient and per wave, the dispatcher sent the sample,
the shadow the bill is computed from agrees with the tables, the cost per 100,000 recipients adds up at the prices
of prices.json, and the walker and the billing rules hold on hand-made input."""

import json
import math

import pytest

from bench import campaigns
from bench.aws_calls import Call
from bench.capacity import item_size
from emma.rules.state import MEMBER_SHARDS
from tests.unit.bench.conftest import moto_session

PRICES = json.loads(campaigns.PRICES.read_text())
TINY = campaigns.Plan(recipients=60, templates=120, dispatch_sample=6, rate=1000.0, replay_rate=1.0)


@pytest.fixture(scope="module")
def result():
    with moto_session() as session:
        return campaigns.measure(PRICES, TINY, session=session)


def test_the_fan_out_hands_every_recipient_over(result):
    a = result["audience"]
    assert a["members"] == TINY.recipients == a["candidates"]  # every member is a profile with its derived state
    assert a["included"] + sum(a["left_out"].values()) == a["candidates"]
    assert sum(a["shards"]) == a["included"] > 0 and len(a["shards"]) == MEMBER_SHARDS
    for waves in (result["waves_measured"], result["waves_replayed"]):
        # ten requests a SendMessageBatch, the last one of each wave not full
        assert waves["calls_by_operation"]["sqs:SendMessageBatch"] >= math.ceil(a["included"] / 10)
        assert waves["sqs_billed"] == waves["sqs_requests"] == waves["calls_by_operation"]["sqs:SendMessageBatch"]
    assert result["waves_measured"]["waves"] == 1  # 1,000/s: one wave holds them all
    assert result["waves_replayed"]["waves"] == a["included"] // 10 + 1  # 1/s: ten a wave
    fo = result["fan_out"]
    assert fo["recipients"] == a["included"] and fo["recipients_per_s"] > 0 and fo["wall_s"] > 0


def test_the_shadow_agrees_with_the_tables(result):
    check = result["check"]
    assert check["items"] > 0 and check["partitions"] > 0
    assert {k: v for k, v in check.items() if k not in ("items", "partitions")} == {
        "missing_in_shadow": 0,
        "missing_in_table": 0,
        "sizes_differing": 0,
        "reads_differing": 0,
        "projected_reads_differing": 0,
    }


def test_state_transitions_follow_the_asl(result):
    t = result["transitions"]
    # Entry, Begin, Until, Open, Early, Select (the Map), a Shard per member-list shard, Selected
    assert t["before_waves"] == 7 + MEMBER_SHARDS
    assert t["entered"]["Shard"] == MEMBER_SHARDS
    assert t["run"] == t["before_waves"] + 3 * result["waves_measured"]["waves"]
    # a resumed execution: Entry, then Wave, More, Pause a wave (Finish instead of the last Pause)
    waves = result["waves_replayed"]["waves"]
    assert t["second_pass"] == 1 + 3 * waves
    assert t["second_pass_entered"] == {"Entry": 1, "Wave": waves, "More": waves, "Pause": waves - 1, "Finish": 1}


def test_the_two_passes_are_told_apart(result):
    fit, n = result["waves_fit"], result["audience"]["included"]
    for pass_ in (result["waves_measured"], result["waves_replayed"]):
        for key in ("aws_calls", "rru", "wru", "sqs_billed", "invocations"):
            modelled = fit["per_recipient"][key] * n + fit["per_wave"][key] * pass_["waves"]
            assert modelled == pytest.approx(pass_[key]), key
    assert fit["per_wave"]["invocations"] == 1 and fit["per_recipient"]["invocations"] == 0
    assert fit["per_recipient"]["sqs_billed"] == pytest.approx(0.1, abs=0.05)
    assert fit["per_wave"]["wru"] == 1  # the run saved once a wave


def test_the_dispatcher_sends_the_sample(result):
    d = result["dispatch"]
    assert d["messages"] == TINY.dispatch_sample and d["outcomes"] == {"sent": TINY.dispatch_sample}
    pm = d["per_message"]
    assert pm["ses_emails"] == 1 and pm["eventbridge_billed"] >= 1
    assert pm["calls_by_operation"]["dynamodb:UpdateItem"] == 3  # the message log: claim, sending, sent
    # email.sent into the profile: its write is the whole commit (the profile remembers the id), one PutItem
    assert (
        pm["calls_by_operation"]["dynamodb:PutItem"] >= 1
        and "dynamodb:TransactWriteItems" not in pm["calls_by_operation"]
    )
    assert pm["wru_by_item"]["message log entry"] > 0 and pm["wru_by_item"]["profile"] > 0
    assert pm["wru_by_item"]["frequency cap"] > 0  # a marketing message reserves its cap slot
    assert not d["errors"]


def test_the_cost_adds_up(result):
    for key, rate in (("shipped_rate", result["campaign"]["rate_shipped"]), ("measured_rate", TINY.rate)):
        m = result["cost"][key]
        assert m["rate"] == rate and m["recipients"] == campaigns.SCALE
        parts = m["parts"]
        assert m["usd_total"] == pytest.approx(sum(p["usd_total"] for p in parts.values()))
        assert m["usd_total"] == pytest.approx(sum(m["usd_by_service"].values()))
        assert m["usd_ses"] == pytest.approx(campaigns.SCALE * PRICES["services"]["ses"]["usd_per_1000_emails"] / 1000)
        assert m["usd_without_ses"] == pytest.approx(m["usd_total"] - m["usd_ses"])
        waves, _ = campaigns.waves_for(campaigns.SCALE, rate)
        assert m["waves"] == waves == parts["waves"]["waves"]
        transitions = result["transitions"]["before_waves"] + 3 * waves
        assert parts["state_machine"]["transitions"] == transitions
        sfn = PRICES["services"]["stepfunctions_standard"]["usd_per_1000_transitions"]
        assert parts["state_machine"]["usd_total"] == pytest.approx(transitions * sfn / 1000)
        # a receive and a delete per message, a Lambda invocation per message (the total's batch of one)
        assert parts["dispatch"]["usage"]["sqs_billed"] == 2 * campaigns.SCALE
        assert m["usd_dispatch_full_batches"] < m["usd_dispatch"]
    # 100,000 recipients at 14/s: 715 waves of 10 s (140 a wave)
    assert campaigns.waves_for(100_000, 14) == (715, 10)
    assert campaigns.waves_for(100_000, 1000) == (11, 10)  # the tenth wave is full: an eleventh finds nothing
    assert campaigns.waves_for(100_000, 0.5)[1] == 200  # at most 1,000 waves: longer ones


def test_report_and_findings(result):
    text = campaigns.report(result)
    assert "15. Campaigns" in text and "DISAGREE" not in text
    found = campaigns.findings(result)
    assert found and all(f.startswith("campaigns:") for f in found)


# ---- without moto ---------------------------------------------------------------------------------------------


def test_the_walker_counts_every_state_entered():
    machine = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Task",
                "Parameters": {"Payload": {"action": "a", "n.$": "$.n"}},
                "ResultSelector": {"result.$": "$.Payload"},
                "ResultPath": "$.a",
                "Next": "Fan",
            },
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.a.result.items",
                "ItemSelector": {"action": "item", "value.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "StartAt": "One",
                    "States": {"One": {"Type": "Task", "Parameters": {"Payload.$": "$"}, "End": True}},
                },
                "ResultPath": None,
                "Next": "Loop",
            },
            "Loop": {
                "Type": "Task",
                "Parameters": {"Payload": {"action": "loop"}},
                "ResultSelector": {"result.$": "$.Payload"},
                "ResultPath": "$.loop",
                "Next": "More",
            },
            "More": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.loop.result.state", "StringEquals": "more", "Next": "Wait"}],
                "Default": "Done",
            },
            "Wait": {"Type": "Wait", "SecondsPath": "$.loop.result.wait", "Next": "Loop"},
            "Done": {"Type": "Succeed"},
        },
    }
    calls, waited, left = [], [], [3]

    def invoke(payload):
        calls.append(payload)
        if payload["action"] == "a":
            return {"items": [1, 2]}
        if payload["action"] == "loop":
            left[0] -= 1
            return {"state": "more" if left[0] else "done", "wait": 10}
        return {}

    walk = campaigns.Walker(machine, invoke, waited.append).run({"n": 7})
    loop = ["Loop", "More", "Wait"]
    assert walk.entered == ["A", "Fan", "One", "One", *loop, *loop, "Loop", "More", "Done"]  # the Map and each item
    assert walk.transitions == 13
    assert calls[0] == {"action": "a", "n": 7}
    assert calls[1:3] == [{"action": "item", "value": 1}, {"action": "item", "value": 2}]
    assert waited == [10, 10] and walk.invocations == 6


def test_billing_rules_on_hand_computed_calls():
    meter = campaigns.CampaignMeter("elektro-emma", {})
    table = "emma-profiles"
    run_key = {"pk": {"S": "S#elektro-emma#CAMPAIGN#news"}, "sk": {"S": "RUN#2026-03-02"}}
    run = {**run_key, "status": {"S": "sending"}, "doc": {"S": "x" * 5000}}  # 5 KB and a bit
    meter.items[(table, run_key["pk"]["S"], run_key["sk"]["S"])] = run
    members = "S#elektro-emma#M#reachable-email#0"
    for n in range(3):
        item = {"pk": {"S": members}, "sk": {"S": f"k{n}"}, "profile_id": {"S": f"p{n}"}, "x": {"S": "y" * 3000}}
        meter.items[(table, members, f"k{n}")] = item
    calls = [
        # the dispatcher's look at the run's status: projected, billed by the whole item (5 KB: 2 RRU consistent)
        Call(
            "dynamodb",
            "GetItem",
            {"TableName": table, "Key": run_key, "ProjectionExpression": "#s", "ConsistentRead": True},
            {"Item": {"status": {"S": "sending"}}},
            None,
            "t",
        ),
        # a member list shard, projected to profile_id: the three whole items (9 KB, eventually consistent: 1.5)
        Call(
            "dynamodb",
            "Query",
            {
                "TableName": table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": members}},
                "ProjectionExpression": "profile_id",
            },
            {"Items": [{"profile_id": {"S": f"p{n}"}} for n in range(3)]},
            None,
            "t",
        ),
        # an update, its item read back: billed at the larger of the item before (5 KB) and after (its keys)
        Call(
            "dynamodb",
            "UpdateItem",
            {"TableName": table, "Key": run_key, "UpdateExpression": "SET #s = :s", campaigns.AFTER: run_key},
            {},
            None,
            "t",
        ),
    ]
    bill = meter.bill(calls)
    assert bill.rru == pytest.approx(2 + 1.5)
    assert bill.wru == math.ceil(item_size(run) / 1024)
    assert meter.items[(table, run_key["pk"]["S"], run_key["sk"]["S"])] == run_key  # the shadow follows the update
    assert meter.projected_mismatches == 0
    assert (table, run_key["pk"]["S"]) in meter.touched
    assert bill.rru_by_item["campaign run (projected)"] == 2
