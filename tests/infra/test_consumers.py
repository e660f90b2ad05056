"""Every `emma.resources.QueueDef` as rule (+ target dead-letter queue) -> queue (+ dead-letter queue) ->
consumer function.

Read from the partner synth, the one that has them all: the consumers of Emma's own bus, of the
account's default bus (SES feedback) and of the Shopify partner bus.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack

from emma.resources import (
    EVENT_BUS,
    JOURNEY_STEPS_FUNCTION,
    MESSAGES_QUEUE,
    QUEUES,
    REQUEST_QUEUES,
    SCHEDULES,
    STREAM_CONSUMERS,
    QueueDef,
    dead_letter_queue_url_output,
    queue_url_output,
    rule_dead_letter_queue_url_output,
)
from emma_infra.constructs.consumers import QueueConsumer
from emma_infra.constructs.functions import FunctionOptions
from emma_infra.constructs.shopify_partner import PARTNER_BUS
from emma_infra.runtime import LAMBDA_RUNTIME
from emma_infra.sizing import FUNCTION_OPTIONS
from emma_infra.stack import DEFAULT_BUS, EMMA_BUS
from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra

FOURTEEN_DAYS = 14 * 24 * 3600


def consumer(synth: Synth, definition: QueueDef) -> QueueConsumer:
    parent = "ShopifyPartner/" if definition.bus == PARTNER_BUS else ""
    return synth.construct(f"{parent}{definition.logical_id}")


def test_every_emma_and_default_bus_queue_is_in_the_default_stack_too(default_synth):
    queues = {definition.logical_id: definition for definition in QUEUES if definition.bus != PARTNER_BUS}
    assert {q.bus for q in queues.values()} == {EMMA_BUS, DEFAULT_BUS}  # rules and journeys; SES feedback
    for definition in queues.values():
        assert isinstance(consumer(default_synth, definition), QueueConsumer)


def test_function_options_name_only_defined_functions():
    functions = (
        {q.consumer for q in (*QUEUES, *REQUEST_QUEUES)}
        | {s.consumer for s in SCHEDULES}
        | {s.consumer for s in STREAM_CONSUMERS}
        | {JOURNEY_STEPS_FUNCTION}
    )
    assert set(FUNCTION_OPTIONS) <= functions


@pytest.mark.parametrize("definition", QUEUES, ids=lambda d: d.logical_id)
def test_queue_and_dead_letter_queue_follow_the_def(partner_synth, definition):
    found = consumer(partner_synth, definition)
    queue, dlq = partner_synth.properties(found.queue), partner_synth.properties(found.dead_letter_queue)
    assert queue["VisibilityTimeout"] == definition.visibility_timeout_seconds
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [partner_synth.logical_id(found.dead_letter_queue), "Arn"]},
        "maxReceiveCount": definition.max_receive_count,
    }
    for props in (queue, dlq):
        assert props["SqsManagedSseEnabled"] is True
        assert props["MessageRetentionPeriod"] == FOURTEEN_DAYS
        assert "QueueName" not in props
    for queue_construct in (found.queue, found.dead_letter_queue):
        (policy,) = [
            p["Properties"]
            for p in partner_synth.resources("AWS::SQS::QueuePolicy").values()
            if p["Properties"]["Queues"] == [{"Ref": partner_synth.logical_id(queue_construct)}]
        ]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["PolicyDocument"]["Statement"]
        )  # both refuse plain HTTP


@pytest.mark.parametrize("definition", QUEUES, ids=lambda d: d.logical_id)
def test_rule_uses_the_def_pattern_on_its_bus_and_only_it_may_send_to_the_queue(partner_synth, definition):
    found = consumer(partner_synth, definition)
    rule_id, queue_id = partner_synth.logical_id(found.rule), partner_synth.logical_id(found.queue)
    rule = partner_synth.template_json["Resources"][rule_id]["Properties"]
    assert rule["EventPattern"] == definition.event_pattern
    assert rule["State"] == "ENABLED"
    if definition.bus == EMMA_BUS:
        assert rule["EventBusName"] == {"Ref": EVENT_BUS.logical_id}
    elif definition.bus == DEFAULT_BUS:
        assert rule["EventBusName"] == "default"  # the account's, referenced by name
    else:
        partner_bus = partner_synth.construct("ShopifyPartner/PartnerBus")
        assert rule["EventBusName"] == {"Ref": partner_synth.logical_id(partner_bus)}
    rule_dlq_id = partner_synth.logical_id(found.rule_dead_letter_queue)
    assert rule["Targets"] == [
        {
            "Arn": {"Fn::GetAtt": [queue_id, "Arn"]},
            "Id": "Queue",
            "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [rule_dlq_id, "Arn"]}},
            "RetryPolicy": {
                "MaximumRetryAttempts": definition.rule_retry_attempts,
                "MaximumEventAgeInSeconds": definition.rule_max_event_age_seconds,
            },
        }
    ]
    for queue_id_ in (queue_id, rule_dlq_id):  # only this rule may send to the queue and to its own DLQ
        (policy,) = [
            p["Properties"]
            for p in partner_synth.resources("AWS::SQS::QueuePolicy").values()
            if p["Properties"]["Queues"] == [{"Ref": queue_id_}]
        ]
        (send,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
        assert send["Principal"] == {"Service": "events.amazonaws.com"}
        assert "sqs:SendMessage" in send["Action"]
        assert send["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}
    rule_dlq = partner_synth.properties(found.rule_dead_letter_queue)
    assert rule_dlq["SqsManagedSseEnabled"] is True and rule_dlq["MessageRetentionPeriod"] == FOURTEEN_DAYS


def test_every_rule_target_has_a_dead_letter_queue_with_an_alarm_and_a_retry_policy(any_synth):
    """Whatever rule the stack has (every QueueDef's, and any added later): no event EventBridge cannot
    deliver is dropped, and someone hears of it."""
    resources = any_synth.template_json["Resources"]
    rules = any_synth.resources("AWS::Events::Rule")
    assert len(rules) >= len([q for q in QUEUES if q.bus != PARTNER_BUS])  # at least the QueueDefs'
    alarmed = {
        a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in any_synth.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    }
    policies = any_synth.resources("AWS::SQS::QueuePolicy").values()
    for rule_id, rule in rules.items():
        for target in rule["Properties"]["Targets"]:
            assert {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"} <= set(target["RetryPolicy"]), rule_id
            (dlq_id, attribute) = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"]
            assert (resources[dlq_id]["Type"], attribute) == ("AWS::SQS::Queue", "Arn")
            assert dlq_id in alarmed, f"{rule_id}: its dead-letter queue {dlq_id} has no alarm"
            statements = [
                {**s, "Action": sorted(s["Action"])}
                for p in policies
                if p["Properties"]["Queues"] == [{"Ref": dlq_id}]
                for s in p["Properties"]["PolicyDocument"]["Statement"]
                if s["Effect"] == "Allow"
            ]
            assert statements == [
                {
                    "Action": ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"],
                    "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}},
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Resource": {"Fn::GetAtt": [dlq_id, "Arn"]},
                }
            ], f"{rule_id}: EventBridge may not send to {dlq_id} for this rule only"


@pytest.mark.parametrize("definition", QUEUES, ids=lambda d: d.logical_id)
def test_consumer_drains_the_queue_reporting_batch_item_failures(partner_synth, definition):
    found = consumer(partner_synth, definition)
    fn_id = partner_synth.logical_id(found.consumer.function)
    fn = partner_synth.template_json["Resources"][fn_id]["Properties"]
    assert fn["Handler"] == f"{definition.consumer}.handler.lambda_handler"
    assert fn["Runtime"] == LAMBDA_RUNTIME.name
    assert fn["Architectures"] == ["arm64"]
    assert fn["Timeout"] <= definition.visibility_timeout_seconds  # else Lambda refuses the mapping
    options = FUNCTION_OPTIONS.get(definition.consumer)
    if options is None:  # Lambda's recommendation: visibility timeout >= 6 x function timeout
        assert fn["Timeout"] * 6 <= definition.visibility_timeout_seconds
        assert fn["MemorySize"] == 512
    else:
        assert fn["Timeout"] == options.timeout_seconds
        assert fn["MemorySize"] == options.memory_size
    assert sorted(p.name for p in partner_synth.asset_dir(fn["Code"]["S3Key"]).iterdir()) == [definition.consumer]
    (mapping,) = [
        m["Properties"]
        for m in partner_synth.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [partner_synth.logical_id(found.queue), "Arn"]}
    ]
    assert mapping["FunctionName"] == {"Ref": fn_id}
    assert mapping["BatchSize"] == definition.batch_size
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    for key, value in definition.env.items():
        assert fn["Environment"]["Variables"][key] == value


def test_a_function_timeout_over_the_visibility_timeout_is_refused_at_synth():
    definition = next(q for q in QUEUES if q.bus == EMMA_BUS)
    too_long = FunctionOptions(timeout_seconds=definition.visibility_timeout_seconds + 1)
    no_platform: Any = None  # checked before anything is built
    with pytest.raises(ValueError, match=rf"{definition.logical_id}: the queue's visibility timeout"):
        QueueConsumer(
            Stack(App(), "Probe"),
            "Probe",
            definition=definition,
            event_bus=no_platform,
            platform=no_platform,
            options=too_long,
        )


@pytest.mark.parametrize("definition", QUEUES, ids=lambda d: d.logical_id)
def test_outputs_name_each_queue_and_both_dead_letter_queues_for_emma_replay(partner_synth, definition):
    found = consumer(partner_synth, definition)
    outputs = partner_synth.template_json["Outputs"]
    for output, queue in (
        (queue_url_output(definition.logical_id), found.queue),
        (dead_letter_queue_url_output(definition.logical_id), found.dead_letter_queue),
        (rule_dead_letter_queue_url_output(definition.logical_id), found.rule_dead_letter_queue),
    ):
        assert outputs[output]["Value"] == {"Ref": partner_synth.logical_id(queue)}, output


def test_outputs_name_the_messages_queue_and_its_dead_letter_queue(default_synth):
    outputs = default_synth.template_json["Outputs"]
    journeys = default_synth.construct("Journeys")
    assert outputs[queue_url_output(MESSAGES_QUEUE.logical_id)]["Value"] == {
        "Ref": default_synth.logical_id(journeys.messages_queue)
    }
    assert outputs[dead_letter_queue_url_output(MESSAGES_QUEUE.logical_id)]["Value"] == {
        "Ref": default_synth.logical_id(journeys.dead_letter_queue)
    }
