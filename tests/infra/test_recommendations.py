"""The recommendations function: the daily model build run by EventBridge Scheduler, which scans the
catalog and the profiles and writes the model's lists into the catalog table."""

from __future__ import annotations

from typing import Any

import pytest

from emma.config import RecommendSettings
from emma.resources import (
    CATALOG_TABLE,
    EVENT_BUS,
    PROFILES_TABLE,
    RECOMMENDATIONS_SCHEDULE,
    SCHEDULE_TABLE,
    SCHEDULES,
)
from emma_infra.constructs.definitions import DEFINITIONS_ENV_VAR
from emma_infra.constructs.functions import FunctionOptions
from emma_infra.runtime import LAMBDA_RUNTIME
from emma_infra.sizing import FUNCTION_OPTIONS, RECOMMENDATIONS_FUNCTION
from tests.infra.conftest import Synth
from tests.infra.test_journeys import allowed, function, function_statements, resolve

pytestmark = pytest.mark.infra

FUNCTION = f"{RECOMMENDATIONS_SCHEDULE.logical_id}/Function"
# Everything the build calls: Scans of both tables, and the model's lists replaced in the catalog table.
READS = ("dynamodb:Scan", "dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem")
WRITES = ("dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem")


def statements(synth: Synth) -> list[dict[str, Any]]:
    return function_statements(synth, FUNCTION)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_recommendations_are_a_daily_schedule_def():
    assert RECOMMENDATIONS_SCHEDULE in SCHEDULES
    assert RECOMMENDATIONS_SCHEDULE.consumer == "recommendations"
    assert RECOMMENDATIONS_SCHEDULE.rate_minutes == 24 * 60
    assert FUNCTION_OPTIONS[RECOMMENDATIONS_SCHEDULE.consumer] is RECOMMENDATIONS_FUNCTION


def test_the_schedule_invokes_the_recommendations_function_once_a_day(any_synth):
    found = any_synth.construct(RECOMMENDATIONS_SCHEDULE.logical_id)
    schedule = any_synth.properties(found.schedule)
    assert schedule["ScheduleExpression"] in {"rate(1 day)", "rate(1440 minutes)"}
    assert schedule["State"] == "ENABLED"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    fn_id, _ = function(any_synth, FUNCTION)
    dlq_id = any_synth.logical_id(found.dead_letter_queue)
    target = schedule["Target"]
    assert target["Arn"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    # One period, which is also Scheduler's longest event age (24 hours).
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 24 * 3600, "MaximumRetryAttempts": 3}
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    scheduler_statements = [
        s
        for p in any_synth.resources("AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert {
        "Action": "lambda:InvokeFunction",
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [fn_id, "Arn"]},
    } in scheduler_statements


def test_recommendations_function(default_synth):
    _, fn = function(default_synth, FUNCTION)
    assert fn["Handler"] == f"{RECOMMENDATIONS_SCHEDULE.consumer}.handler.lambda_handler"
    assert fn["Runtime"] == LAMBDA_RUNTIME.name
    assert fn["Architectures"] == ["arm64"]
    assert fn["TracingConfig"] == {"Mode": "Active"}
    assert fn["MemorySize"] == 1769  # one full vCPU
    assert fn["Timeout"] == 15 * 60  # Lambda's longest: the scan of every profile dominates
    # The core and dependency layers; no definitions layer.
    layers = [default_synth.construct(p) for p in ("Layers/Core", "Layers/Dependencies")]
    assert sorted(ref["Ref"] for ref in fn["Layers"]) == sorted(default_synth.logical_id(layer) for layer in layers)
    asset = default_synth.asset_dir(fn["Code"]["S3Key"])
    assert sorted(p.name for p in asset.iterdir()) == [RECOMMENDATIONS_SCHEDULE.consumer]


def test_recommendations_environment_is_the_two_table_names(default_synth, monkeypatch):
    _, fn = function(default_synth, FUNCTION)
    env = fn["Environment"]["Variables"]
    assert env[PROFILES_TABLE.env_var] == {"Ref": PROFILES_TABLE.logical_id}
    assert env[CATALOG_TABLE.env_var] == {"Ref": CATALOG_TABLE.logical_id}
    assert env["POWERTOOLS_SERVICE_NAME"] == "emma-recommendations"
    for absent in (SCHEDULE_TABLE.env_var, EVENT_BUS.env_var, "EMMA_SHOP_SECRET_PREFIX", DEFINITIONS_ENV_VAR):
        assert absent not in env
    # The environment is everything the function's settings model needs.
    for name, value in env.items():
        monkeypatch.setenv(name, resolve(value))
    settings = RecommendSettings()  # type: ignore[call-arg]
    assert settings.profiles_table == f"physical-{PROFILES_TABLE.logical_id}"
    assert settings.catalog_table == f"physical-{CATALOG_TABLE.logical_id}"


def test_recommendations_read_the_profiles_and_read_and_write_the_catalog(default_synth):
    found = statements(default_synth)
    assert allowed(found, "dynamodb:Scan") == {PROFILES_TABLE.logical_id, CATALOG_TABLE.logical_id}
    for action in READS:
        assert allowed(found, action) == {PROFILES_TABLE.logical_id, CATALOG_TABLE.logical_id}, action
    for action in WRITES:  # profiles read-only
        assert allowed(found, action) == {CATALOG_TABLE.logical_id}, action
    dynamo = [s for s in found if any(a.startswith("dynamodb:") for a in _listed(s["Action"]))]
    assert {r["Fn::GetAtt"][0] for s in dynamo for r in _listed(s["Resource"])} == {
        PROFILES_TABLE.logical_id,
        CATALOG_TABLE.logical_id,
    }  # not the schedule table


def test_recommendations_put_no_events_and_read_no_secrets(default_synth):
    found = statements(default_synth)
    assert not allowed(found, "events:PutEvents")
    actions = {a for s in found for a in _listed(s["Action"])}
    assert not [a for a in actions if a.startswith(("secretsmanager:", "events:"))]
    for statement in found:  # "*" only for X-Ray, which has no resource-level permissions
        if "*" in _listed(statement["Resource"]):
            assert set(_listed(statement["Action"])) <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_recommendations_function_and_dead_letter_queue_are_alarmed(default_synth):
    (topic_id,) = default_synth.resources("AWS::SNS::Topic")
    alarms = [a["Properties"] for a in default_synth.resources("AWS::CloudWatch::Alarm").values()]
    fn_id, _ = function(default_synth, FUNCTION)
    dimensions = [{"Name": "FunctionName", "Value": {"Ref": fn_id}}]
    assert sorted(a["MetricName"] for a in alarms if a.get("Dimensions") == dimensions) == ["Errors", "Throttles"]
    dlq = default_synth.construct(RECOMMENDATIONS_SCHEDULE.logical_id).dead_letter_queue
    dimensions = [{"Name": "QueueName", "Value": {"Fn::GetAtt": [default_synth.logical_id(dlq), "QueueName"]}}]
    (alarm,) = [a for a in alarms if a.get("Dimensions") == dimensions]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]


def test_a_table_both_read_only_and_read_write_is_refused():
    with pytest.raises(ValueError, match="ProfilesTable"):
        FunctionOptions(tables=(PROFILES_TABLE, CATALOG_TABLE), read_tables=(PROFILES_TABLE,))
