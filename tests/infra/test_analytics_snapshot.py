"""The KPI snapshot (issue 15): the hourly schedule's function reads the segment size counters and writes
each shop's snapshot in the profiles table (no Scan, no other table), reads the shop secrets and the
definitions layer, publishes nothing; it is alarmed like every scheduled function."""

from __future__ import annotations

from typing import Any

import pytest

from emma.config import SnapshotSettings
from emma.resources import ANALYTICS_SNAPSHOT_SCHEDULE, CATALOG_TABLE, EVENT_BUS, PROFILES_TABLE, SCHEDULE_TABLE
from emma_infra.constructs.definitions import DEFINITIONS_ENV_VAR
from emma_infra.sizing import ANALYTICS_SNAPSHOT_FUNCTION, FUNCTION_OPTIONS
from tests.infra.conftest import Synth
from tests.infra.test_journeys import allowed, function, function_statements, resolve

pytestmark = pytest.mark.infra

FUNCTION = f"{ANALYTICS_SNAPSHOT_SCHEDULE.logical_id}/Function"
CALLS = ("dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:Query")  # segment_sizes, put_snapshot, arms


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(synth: Synth) -> list[dict[str, Any]]:
    return function_statements(synth, FUNCTION)


def test_the_snapshot_is_an_hourly_schedule_def_with_its_sizing():
    assert FUNCTION_OPTIONS[ANALYTICS_SNAPSHOT_SCHEDULE.consumer] is ANALYTICS_SNAPSHOT_FUNCTION
    assert ANALYTICS_SNAPSHOT_SCHEDULE.rate_minutes == 60


def test_the_schedule_invokes_the_function_every_hour(default_synth):
    found = default_synth.construct(ANALYTICS_SNAPSHOT_SCHEDULE.logical_id)
    schedule = default_synth.properties(found.schedule)
    assert schedule["ScheduleExpression"] in {"rate(1 hour)", "rate(60 minutes)"}
    assert schedule["State"] == "ENABLED" and schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    fn_id, fn = function(default_synth, FUNCTION)
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    assert schedule["Target"]["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 3}
    assert fn["Handler"] == "analytics_snapshot.handler.lambda_handler"
    assert (fn["MemorySize"], fn["Timeout"]) == (512, 60)
    asset = default_synth.asset_dir(fn["Code"]["S3Key"])
    assert sorted(p.name for p in asset.iterdir()) == [ANALYTICS_SNAPSHOT_SCHEDULE.consumer]
    definitions = default_synth.construct("Definitions").layer
    assert {"Ref": default_synth.logical_id(definitions)} in fn["Layers"]


def test_the_environment_is_what_the_settings_need(default_synth, monkeypatch):
    _, fn = function(default_synth, FUNCTION)
    env = fn["Environment"]["Variables"]
    assert env[PROFILES_TABLE.env_var] == {"Ref": PROFILES_TABLE.logical_id}
    assert env["POWERTOOLS_SERVICE_NAME"] == "emma-analytics-snapshot"
    assert DEFINITIONS_ENV_VAR in env and "EMMA_SHOP_SECRET_PREFIX" in env
    for absent in (SCHEDULE_TABLE.env_var, CATALOG_TABLE.env_var, EVENT_BUS.env_var):
        assert absent not in env
    for name, value in env.items():
        monkeypatch.setenv(name, resolve(value))
    settings = SnapshotSettings()  # type: ignore[call-arg]
    assert settings.profiles_table == f"physical-{PROFILES_TABLE.logical_id}"


def test_the_function_reads_and_writes_the_profiles_table_only_without_scan(default_synth):
    found = statements(default_synth)
    for action in CALLS:
        assert allowed(found, action) == {PROFILES_TABLE.logical_id}, action
    assert not allowed(found, "dynamodb:Scan")
    assert not allowed(found, "events:PutEvents")
    dynamo = [s for s in found if any(a.startswith("dynamodb:") for a in _listed(s["Action"]))]
    assert {r["Fn::GetAtt"][0] for s in dynamo for r in _listed(s["Resource"])} == {PROFILES_TABLE.logical_id}
    actions = {a for s in found for a in _listed(s["Action"])}
    assert {"secretsmanager:GetSecretValue", "secretsmanager:ListSecrets"} <= actions


def test_the_function_and_its_dead_letter_queue_are_alarmed(default_synth):
    alarms = [a["Properties"] for a in default_synth.resources("AWS::CloudWatch::Alarm").values()]
    fn_id, _ = function(default_synth, FUNCTION)
    dimensions = [{"Name": "FunctionName", "Value": {"Ref": fn_id}}]
    assert sorted(a["MetricName"] for a in alarms if a.get("Dimensions") == dimensions) == ["Errors", "Throttles"]
    dlq = default_synth.construct(ANALYTICS_SNAPSHOT_SCHEDULE.logical_id).dead_letter_queue
    dimensions = [{"Name": "QueueName", "Value": {"Fn::GetAtt": [default_synth.logical_id(dlq), "QueueName"]}}]
    assert [a["MetricName"] for a in alarms if a.get("Dimensions") == dimensions] == [
        "ApproximateNumberOfMessagesVisible"
    ]
