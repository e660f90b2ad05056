"""The Shopify partner event source variant (context shopifyEventSourceName set)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack

from emma.resources import QUEUES
from emma_infra.constructs.shopify_partner import PARTNER_QUEUES, ShopifyPartnerSource
from tests.infra.conftest import PARTNER_SOURCE, Synth

pytestmark = pytest.mark.infra

FOURTEEN_DAYS = 14 * 24 * 3600


def test_partner_queue_defs_exist():
    assert PARTNER_QUEUES and all(q in QUEUES and q.bus == "shopify-partner" for q in PARTNER_QUEUES)


def test_partner_event_bus_is_bound_to_the_event_source(partner_synth):
    buses = partner_synth.resources("AWS::Events::EventBus")
    partner = [b for b in buses.values() if "EventSourceName" in b["Properties"]]
    assert len(buses) == 2 and len(partner) == 1
    assert partner[0]["Properties"] == {
        "EventSourceName": PARTNER_SOURCE,
        "Name": PARTNER_SOURCE,
        "Tags": [{"Key": "project", "Value": "emma"}],
    }
    assert "ShopifyPartnerBusName" in partner_synth.template_json["Outputs"]


def queues(synth: Synth) -> tuple[dict, dict]:
    """(queue, dead-letter queue) properties for the single partner QueueDef."""
    found = synth.resources("AWS::SQS::Queue")
    (queue,) = [q["Properties"] for q in found.values() if "RedrivePolicy" in q["Properties"]]
    dlq_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert len(found) == 2
    return queue, found[dlq_id]["Properties"]


@pytest.mark.parametrize("definition", PARTNER_QUEUES, ids=lambda d: d.logical_id)
def test_queue_and_dead_letter_queue_follow_the_def(partner_synth, definition):
    queue, dlq = queues(partner_synth)
    assert queue["VisibilityTimeout"] == definition.visibility_timeout_seconds
    assert queue["RedrivePolicy"]["maxReceiveCount"] == definition.max_receive_count
    for props in (queue, dlq):
        assert props["SqsManagedSseEnabled"] is True
        assert props["MessageRetentionPeriod"] == FOURTEEN_DAYS
    policies = partner_synth.resources("AWS::SQS::QueuePolicy").values()
    ssl_only = [
        p
        for p in policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(ssl_only) == 2  # queue and DLQ both refuse plain HTTP


@pytest.mark.parametrize("definition", PARTNER_QUEUES, ids=lambda d: d.logical_id)
def test_rule_uses_the_def_pattern_on_the_partner_bus_and_targets_the_queue(partner_synth, definition):
    (rule,) = partner_synth.resources("AWS::Events::Rule").values()
    props = rule["Properties"]
    assert props["EventPattern"] == definition.event_pattern
    (partner_bus_id,) = [
        k for k, b in partner_synth.resources("AWS::Events::EventBus").items() if "EventSourceName" in b["Properties"]
    ]
    assert props["EventBusName"] == {"Ref": partner_bus_id}
    (queue_id,) = [
        k for k, q in partner_synth.resources("AWS::SQS::Queue").items() if "RedrivePolicy" in q["Properties"]
    ]
    assert props["Targets"] == [{"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}, "Id": "Queue"}]
    # EventBridge may send to the queue, for this rule only.
    sends = [
        s
        for p in partner_synth.resources("AWS::SQS::QueuePolicy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]
    (send,) = sends
    assert send["Principal"] == {"Service": "events.amazonaws.com"}
    assert send["Condition"] == {
        "ArnEquals": {
            "aws:SourceArn": {"Fn::GetAtt": [next(iter(partner_synth.resources("AWS::Events::Rule"))), "Arn"]}
        }
    }


@pytest.mark.parametrize("definition", PARTNER_QUEUES, ids=lambda d: d.logical_id)
def test_consumer_drains_the_queue_reporting_batch_item_failures(partner_synth, definition):
    handler = f"{definition.consumer}.handler.lambda_handler"
    (fn_id,) = [
        k for k, f in partner_synth.resources("AWS::Lambda::Function").items() if f["Properties"]["Handler"] == handler
    ]
    fn = partner_synth.template_json["Resources"][fn_id]["Properties"]
    assert fn["Architectures"] == ["arm64"]
    assert fn["Timeout"] * 6 <= definition.visibility_timeout_seconds
    assert sorted(p.name for p in partner_synth.asset_dir(fn["Code"]["S3Key"]).iterdir()) == [definition.consumer]
    (mapping,) = partner_synth.resources("AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["FunctionName"] == {"Ref": fn_id}
    assert mapping["Properties"]["BatchSize"] == definition.batch_size
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    for key, value in definition.env.items():
        assert fn["Environment"]["Variables"][key] == value


def test_dead_letter_queue_and_consumer_are_alarmed(partner_synth):
    (topic_id,) = partner_synth.resources("AWS::SNS::Topic")
    alarms = [a["Properties"] for a in partner_synth.resources("AWS::CloudWatch::Alarm").values()]
    metrics = sorted(f"{a['Namespace']}:{a['MetricName']}" for a in alarms)
    assert metrics == [
        "AWS/ApiGateway:5xx",
        "AWS/Lambda:Errors",
        "AWS/Lambda:Errors",
        "AWS/Lambda:Throttles",
        "AWS/Lambda:Throttles",
        "AWS/SQS:ApproximateNumberOfMessagesVisible",
    ]
    (dlq_alarm,) = [a for a in alarms if a["Namespace"] == "AWS/SQS"]
    _, dlq = queues(partner_synth)
    dlq_id = next(k for k, q in partner_synth.resources("AWS::SQS::Queue").items() if q["Properties"] is dlq)
    assert dlq_alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
    assert dlq_alarm["Statistic"] == "Maximum" and dlq_alarm["Threshold"] == 0
    assert all(a["AlarmActions"] == [{"Ref": topic_id}] for a in alarms)


def test_a_name_that_is_no_shopify_partner_source_is_refused():
    stack = Stack(App(), "Probe")
    no_platform: Any = None  # the name is checked before anything is built
    with pytest.raises(ValueError, match="shopifyEventSourceName"):
        ShopifyPartnerSource(stack, "Shopify", event_source_name="emma-events", platform=no_platform)
