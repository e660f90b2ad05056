"""The profiles table's stream and its publisher (emma_infra.constructs.streams.StreamConsumer): the
stream's view type, the filtered event source mapping that retries from the failed record, its dead-letter
queue and the alarms, and what the publisher may do."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emma.resources import OUTBOX_STREAM, PROFILES_TABLE, STREAM_CONSUMERS
from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra


def the_mapping(synth: Synth) -> dict[str, Any]:
    (mapping,) = [
        m["Properties"]
        for m in synth.resources("AWS::Lambda::EventSourceMapping").values()
        if "StartingPosition" in m["Properties"]
    ]
    return mapping


def test_the_profiles_table_streams_new_images(default_synth):
    table = default_synth.template_json["Resources"][PROFILES_TABLE.logical_id]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}


def test_the_publisher_reads_the_stream_filtered_in_order_and_retries_from_the_failed_record(default_synth):
    mapping = the_mapping(default_synth)
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [PROFILES_TABLE.logical_id, "StreamArn"]}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == OUTBOX_STREAM.batch_size
    assert mapping["MaximumBatchingWindowInSeconds"] == OUTBOX_STREAM.batching_window_seconds
    assert mapping["MaximumRetryAttempts"] == OUTBOX_STREAM.retry_attempts
    (criteria,) = mapping["FilterCriteria"]["Filters"]
    assert json.loads(criteria["Pattern"]) == OUTBOX_STREAM.filter_pattern  # the pattern the local runtime applies
    (dlq_id, _) = mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"]
    assert default_synth.template_json["Resources"][dlq_id]["Type"] == "AWS::SQS::Queue"
    alarmed = [
        a["Properties"]
        for a in default_synth.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Dimensions") == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
    ]
    assert alarmed, "the stream's dead-letter queue has no alarm"


def test_falling_behind_raises_an_alarm(default_synth):
    (alarm,) = [
        a["Properties"]
        for a in default_synth.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "IteratorAge"
    ]
    assert alarm["Threshold"] == 5 * 60 * 1000 and alarm["Statistic"] == "Maximum"
    assert len(STREAM_CONSUMERS) == 1


def test_the_publisher_may_publish_and_write_the_profiles_table_but_never_scan_it(default_synth):
    mapping = the_mapping(default_synth)
    function_id = mapping["FunctionName"]["Ref"]
    role_id = default_synth.template_json["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    actions = {
        action
        for policy in default_synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert {"events:PutEvents", "dynamodb:BatchWriteItem", "dynamodb:GetRecords"} <= actions
    assert "dynamodb:Scan" not in actions and "secretsmanager:GetSecretValue" not in actions
