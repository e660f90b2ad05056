"""The rules functions: trigger and segment definitions bundled at synth, the `triggers` consumer of
the triggers queue and the `scheduler` function run by EventBridge Scheduler."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest

from emma.campaigns.loader import load_campaigns
from emma.config import RulesSettings
from emma.journeys.loader import definitions_json, load_journeys
from emma.resources import (
    CATALOG_TABLE,
    EVENT_BUS,
    EVENT_SOURCE,
    PROFILES_TABLE,
    RULES_SCHEDULE,
    SCHEDULE_TABLE,
    SCHEDULES,
    TRIGGERS_QUEUE,
)
from emma.rules.loader import DefinitionError, Definitions, load_definitions
from emma.templates.loader import load_templates
from emma.wiring.definitions import read_journeys, read_templates
from emma_infra.constructs.definitions import DEFINITIONS_ENV_VAR, DEFINITIONS_PATH, RULES_TABLES
from emma_infra.main import main
from emma_infra.paths import DEFINITIONS_ROOT
from emma_infra.runtime import LAMBDA_RUNTIME
from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra

# (construct path of the function, its folder, timeout in seconds)
RULES_FUNCTIONS = [
    (f"{TRIGGERS_QUEUE.logical_id}/Consumer", TRIGGERS_QUEUE.consumer, 30),
    (f"{RULES_SCHEDULE.logical_id}/Function", RULES_SCHEDULE.consumer, 300),
]


def function_id(synth: Synth, path: str) -> str:
    return synth.logical_id(synth.construct(path).function)


def role_statements(synth: Synth, fn_id: str) -> list[dict[str, Any]]:
    role_id = synth.template_json["Resources"][fn_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        s
        for p in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


# --- Definitions ----------------------------------------------------------------------------------


def test_the_settings_of_the_rules_functions_name_what_the_stack_provides():
    assert DEFINITIONS_ENV_VAR == "EMMA_DEFINITIONS"
    assert DEFINITIONS_PATH == "/opt/definitions/definitions.json"
    assert RULES_TABLES == (PROFILES_TABLE, SCHEDULE_TABLE)


def test_definitions_layer_holds_the_validated_definitions_as_json(default_synth):
    layer = default_synth.properties(default_synth.construct("Definitions/Layer"))
    assert layer["CompatibleRuntimes"] == [LAMBDA_RUNTIME.name]
    assert layer["CompatibleArchitectures"] == ["arm64"]
    asset = default_synth.asset_dir(layer["Content"]["S3Key"])
    assert [p.relative_to(asset).as_posix() for p in asset.rglob("*") if p.is_file()] == [
        DEFINITIONS_PATH.removeprefix("/opt/")
    ]
    text = (asset / "definitions" / "definitions.json").read_text()
    expected = load_definitions(DEFINITIONS_ROOT)
    templates = load_templates(DEFINITIONS_ROOT)
    journeys = load_journeys(DEFINITIONS_ROOT, expected, templates)
    campaigns = load_campaigns(DEFINITIONS_ROOT, expected, journeys, templates)
    assert campaigns and text == definitions_json(expected, journeys, templates, campaigns)
    loaded = Definitions.from_json(text)  # what the rules functions read (they ignore the journeys)
    assert [t.id for t in loaded.triggers] == [t.id for t in expected.triggers] != []
    assert [s.id for s in loaded.segments] == [s.id for s in expected.segments] != []
    # what the journeys functions read (emma.wiring.definitions.read_journeys)
    assert [j.id for j in read_journeys(asset / "definitions" / "definitions.json")] == [j.id for j in journeys] != []
    # what the dispatch function reads (emma.wiring.definitions.read_templates)
    assert sorted(read_templates(asset / "definitions" / "definitions.json").names()) == sorted(templates.names())
    assert templates.names()


DEFINITION_FOLDERS = ("triggers", "segments", "journeys", "templates", "content")


def copy_definitions(root: Path) -> None:
    for folder in DEFINITION_FOLDERS:
        shutil.copytree(DEFINITIONS_ROOT / folder, root / folder)


def broken_copy(tmp_path: Path) -> tuple[Path, Path, int]:
    """The definitions copied to tmp_path with one trigger's window made invalid:
    (root, the broken file, the broken line)."""
    copy_definitions(tmp_path)
    broken = tmp_path / "triggers" / "cart-abandoned.yaml"
    lines = broken.read_text().splitlines()
    (index,) = [i for i, line in enumerate(lines) if line.strip() == "within: 2h"]
    lines[index] = lines[index].replace("2h", "2 fortnights")
    broken.write_text("\n".join(lines) + "\n")
    return tmp_path, broken, index + 1


def test_an_invalid_definition_fails_the_synth_naming_file_and_line(tmp_path):
    root, broken, line = broken_copy(tmp_path)
    with pytest.raises(DefinitionError):
        load_definitions(root)
    stderr = io.StringIO()
    assert main(definitions_root=root, stderr=stderr) == 1  # infra/app.py exits with it: cdk synth fails
    report = stderr.getvalue()
    assert report.startswith("emma: 1 problem(s) in the trigger/segment/journey/template definitions:")
    assert f"{broken}:{line}: " in report and "2 fortnights" in report


def test_an_invalid_journey_fails_the_synth_naming_file_and_line(tmp_path):
    copy_definitions(tmp_path)
    broken = tmp_path / "journeys" / "smartphone-onboarding.yaml"
    lines = broken.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("next: "))
    lines[index] = lines[index].split("next: ")[0] + "next: nowhere"
    broken.write_text("\n".join(lines) + "\n")
    stderr = io.StringIO()
    assert main(definitions_root=tmp_path, stderr=stderr) == 1
    report = stderr.getvalue()
    assert report.startswith("emma: 1 problem(s) in the trigger/segment/journey/template definitions:")
    assert f"{broken}:{index + 1}: no step 'nowhere' in this journey" in report


def test_an_invalid_template_fails_the_synth_naming_file_and_line(tmp_path):
    copy_definitions(tmp_path)
    broken = tmp_path / "templates" / "cart-coupon.yaml"
    lines = broken.read_text().splitlines()
    (index,) = [i for i, line in enumerate(lines) if line == "purpose: marketing"]
    lines[index] = "purpose: marketting"
    broken.write_text("\n".join(lines) + "\n")
    stderr = io.StringIO()
    assert main(definitions_root=tmp_path, stderr=stderr) == 1
    report = stderr.getvalue()
    assert report.startswith("emma: 1 problem(s) in the trigger/segment/journey/template definitions:")
    assert f"{broken}:{index + 1}: purpose: " in report and "marketting" in report


# --- triggers: the triggers queue's consumer ------------------------------------------------------


def test_triggers_queue_takes_every_ingest_event_from_emmas_bus(default_synth):
    found = default_synth.construct(TRIGGERS_QUEUE.logical_id)
    rule = default_synth.properties(found.rule)
    assert rule["EventPattern"] == {"source": [EVENT_SOURCE]} == {"source": ["emma.ingest"]}
    assert rule["EventBusName"] == {"Ref": EVENT_BUS.logical_id}
    queue_id = default_synth.logical_id(found.queue)
    (mapping,) = [
        m["Properties"]
        for m in default_synth.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    ]
    assert mapping["FunctionName"] == {"Ref": function_id(default_synth, f"{TRIGGERS_QUEUE.logical_id}/Consumer")}
    assert mapping["BatchSize"] == TRIGGERS_QUEUE.batch_size
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = default_synth.properties(found.queue)
    # Lambda refuses an event source mapping whose queue hides a message for less than the function
    # may run; 60 s >= 30 s (below the recommended 6x, which only matters for throttled batches).
    assert queue["VisibilityTimeout"] == TRIGGERS_QUEUE.visibility_timeout_seconds >= 30


# --- both rules functions -------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "folder", "timeout"), RULES_FUNCTIONS, ids=[f for _, f, _ in RULES_FUNCTIONS])
def test_rules_function(default_synth, monkeypatch, path, folder, timeout):
    fn = default_synth.template_json["Resources"][function_id(default_synth, path)]["Properties"]
    assert fn["Handler"] == f"{folder}.handler.lambda_handler"
    assert fn["Runtime"] == LAMBDA_RUNTIME.name
    assert fn["Architectures"] == ["arm64"]
    assert fn["MemorySize"] == 1024
    assert fn["Timeout"] == timeout
    assert fn["TracingConfig"] == {"Mode": "Active"}
    layers = [default_synth.construct(p) for p in ("Layers/Core", "Layers/Dependencies", "Definitions/Layer")]
    assert sorted(ref["Ref"] for ref in fn["Layers"]) == sorted(default_synth.logical_id(layer) for layer in layers)
    env = fn["Environment"]["Variables"]
    assert env[DEFINITIONS_ENV_VAR] == DEFINITIONS_PATH
    assert env[PROFILES_TABLE.env_var] == {"Ref": PROFILES_TABLE.logical_id}
    assert env[SCHEDULE_TABLE.env_var] == {"Ref": SCHEDULE_TABLE.logical_id}
    assert env[EVENT_BUS.env_var] == {"Ref": EVENT_BUS.logical_id}
    assert env["POWERTOOLS_SERVICE_NAME"] == f"emma-{folder}"
    assert CATALOG_TABLE.env_var not in env and "EMMA_SHOP_SECRET_PREFIX" not in env
    # The environment is everything the function's settings model needs.
    for name, value in env.items():
        monkeypatch.setenv(name, value if isinstance(value, str) else f"physical-{value['Ref']}")
    settings = RulesSettings()  # type: ignore[call-arg]
    assert settings.definitions == Path(DEFINITIONS_PATH)
    assert settings.schedule_table == f"physical-{SCHEDULE_TABLE.logical_id}"


@pytest.mark.parametrize(("path", "folder", "timeout"), RULES_FUNCTIONS, ids=[f for _, f, _ in RULES_FUNCTIONS])
def test_rules_function_reads_and_writes_its_two_tables_puts_events_and_reads_no_secrets(
    default_synth, path, folder, timeout
):
    statements = role_statements(default_synth, function_id(default_synth, path))
    (dynamo,) = [s for s in statements if any(str(a).startswith("dynamodb:") for a in s["Action"])]
    assert {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"} <= set(dynamo["Action"])
    assert sorted(r["Fn::GetAtt"][0] for r in dynamo["Resource"]) == sorted(
        [PROFILES_TABLE.logical_id, SCHEDULE_TABLE.logical_id]
    )
    assert {
        "Action": "events:PutEvents",
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [EVENT_BUS.logical_id, "Arn"]},
    } in statements
    assert not [s for s in statements if "secretsmanager" in str(s["Action"])]


# --- scheduler: EventBridge Scheduler -------------------------------------------------------------


def test_one_schedule_per_schedule_def(default_synth):
    assert len(default_synth.resources("AWS::Scheduler::Schedule")) == len(SCHEDULES)


def test_rules_schedule_invokes_the_scheduler_function_every_5_minutes(default_synth):
    found = default_synth.construct(RULES_SCHEDULE.logical_id)
    schedule = default_synth.properties(found.schedule)
    assert schedule["ScheduleExpression"] == f"rate({RULES_SCHEDULE.rate_minutes} minutes)" == "rate(5 minutes)"
    assert schedule["State"] == "ENABLED"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    fn_id = function_id(default_synth, f"{RULES_SCHEDULE.logical_id}/Function")
    dlq_id = default_synth.logical_id(found.dead_letter_queue)
    assert target["Arn"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    assert target["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": RULES_SCHEDULE.rate_minutes * 60,
        "MaximumRetryAttempts": 3,
    }
    dlq = default_synth.properties(found.dead_letter_queue)
    assert dlq["SqsManagedSseEnabled"] is True and dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    # Scheduler's role: assumed by the service for this account's schedules; may invoke exactly the
    # function (no ":*" versions and aliases) and park failed invocations in the dead-letter queue.
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    trust = default_synth.template_json["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]
    (assume,) = trust["Statement"]
    assert assume["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert assume["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    statements = [
        s
        for p in default_synth.resources("AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements == [
        {"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": {"Fn::GetAtt": [fn_id, "Arn"]}},
        {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": {"Fn::GetAtt": [dlq_id, "Arn"]}},
    ]


# --- alarms ---------------------------------------------------------------------------------------


def test_rules_functions_and_dead_letter_queues_are_alarmed(default_synth):
    (topic_id,) = default_synth.resources("AWS::SNS::Topic")
    alarms = [a["Properties"] for a in default_synth.resources("AWS::CloudWatch::Alarm").values()]
    for path, _, _ in RULES_FUNCTIONS:
        dimensions = [{"Name": "FunctionName", "Value": {"Ref": function_id(default_synth, path)}}]
        found = sorted(a["MetricName"] for a in alarms if a.get("Dimensions") == dimensions)
        assert found == ["Errors", "Throttles"], path
    for queue in (
        default_synth.construct(TRIGGERS_QUEUE.logical_id).dead_letter_queue,
        default_synth.construct(RULES_SCHEDULE.logical_id).dead_letter_queue,
    ):
        dimensions = [{"Name": "QueueName", "Value": {"Fn::GetAtt": [default_synth.logical_id(queue), "QueueName"]}}]
        (alarm,) = [a for a in alarms if a.get("Dimensions") == dimensions]
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["Statistic"] == "Maximum" and alarm["Threshold"] == 0
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
