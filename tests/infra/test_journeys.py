"""Journeys: one Standard state machine per journeys/*.yaml, the journey-steps function its tasks
invoke, the messages queue, and what the `journeys` consumer of the journeys queue may do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from emma.config import JourneySettings
from emma.journeys.compile import LAMBDA_CALLBACK, LAMBDA_INVOKE, STEPS_FUNCTION, compile_journey
from emma.journeys.loader import load_journeys
from emma.resources import (
    CAMPAIGN_MACHINE_NAME,
    CATALOG_TABLE,
    EVENT_BUS,
    IMPORT_MACHINE_NAME,
    JOURNEY_MACHINES_ENV,
    JOURNEY_STEPS_FUNCTION,
    JOURNEYS_QUEUE,
    MESSAGES_QUEUE,
    PROFILES_TABLE,
    state_machine_name,
)
from emma.rules.loader import load_definitions
from emma_infra.constructs.definitions import DEFINITIONS_ENV_VAR, DEFINITIONS_PATH
from emma_infra.constructs.journeys import MAX_MACHINES_ENV_BYTES, check_machines_env_size
from emma_infra.paths import DEFINITIONS_ROOT
from emma_infra.runtime import LAMBDA_RUNTIME
from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra

JOURNEYS = {j.id: j for j in load_journeys(DEFINITIONS_ROOT, load_definitions(DEFINITIONS_ROOT))}
JOURNEY_FILES = sorted(p.stem for p in (DEFINITIONS_ROOT / "journeys").glob("*.yaml") if not p.name.startswith("_"))
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "eu-central-1", "AWS::AccountId": "123456789012"}
ARN_PREFIX = "arn:aws:states:eu-central-1:123456789012"
STEPS = "Journeys/Steps"
CONSUMER = f"{JOURNEYS_QUEUE.logical_id}/Consumer"


def resolve(value: Any) -> str:
    """A template value as deployed to eu-central-1 in account 123456789012 (other Refs: physical-<id>)."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve(part) for part in parts)
    if "Ref" in value:
        return PSEUDO.get(value["Ref"], f"physical-{value['Ref']}")
    raise AssertionError(f"cannot resolve {value!r}")


def machines(synth: Synth) -> dict[str, tuple[str, dict[str, Any]]]:
    """journey id -> (logical id, properties) of its state machine."""
    found = {}
    for logical_id, resource in synth.resources("AWS::StepFunctions::StateMachine").items():
        name = resource["Properties"]["StateMachineName"]
        if name in (IMPORT_MACHINE_NAME, CAMPAIGN_MACHINE_NAME):
            continue  # the import and campaign machines: tests/infra/test_imports_infra.py, test_campaigns_infra.py
        (journey_id,) = [j for j in JOURNEYS if state_machine_name(j) == name]
        found[journey_id] = (logical_id, resource["Properties"])
    return found


def function(synth: Synth, path: str) -> tuple[str, dict[str, Any]]:
    logical_id = synth.logical_id(synth.construct(path).function)
    return logical_id, synth.template_json["Resources"][logical_id]["Properties"]


def role_statements(synth: Synth, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def function_statements(synth: Synth, path: str) -> list[dict[str, Any]]:
    return role_statements(synth, function(synth, path)[1]["Role"]["Fn::GetAtt"][0])


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowed(statements: list[dict[str, Any]], action: str) -> set[str]:
    """Every resource the statements allow ``action`` on: a logical id for a Fn::GetAtt, else the ARN."""
    return {
        resource["Fn::GetAtt"][0] if isinstance(resource, dict) and "Fn::GetAtt" in resource else resolve(resource)
        for statement in statements
        if statement["Effect"] == "Allow" and action in _listed(statement["Action"])
        for resource in _listed(statement["Resource"])
    }


# --- State machines -------------------------------------------------------------------------------


def test_one_standard_state_machine_per_journey_file(any_synth):
    assert JOURNEY_FILES, "journeys/*.yaml ships at least one journey"
    assert sorted(JOURNEYS) == JOURNEY_FILES
    found = machines(any_synth)
    assert sorted(found) == JOURNEY_FILES
    for journey_id, (_, props) in found.items():
        assert props["StateMachineName"] == state_machine_name(journey_id)
        assert props["StateMachineType"] == "STANDARD"


@pytest.mark.parametrize("journey_id", JOURNEY_FILES)
def test_definition_is_the_compiled_journey_with_the_steps_function_substituted(default_synth, journey_id):
    _, props = machines(default_synth)[journey_id]
    steps_id, _ = function(default_synth, STEPS)
    assert isinstance(props["DefinitionString"], str)  # no tokens in it: CloudFormation substitutes
    definition = json.loads(props["DefinitionString"])
    assert definition == compile_journey(JOURNEYS[journey_id])
    assert props["DefinitionSubstitutions"] == {"StepsFunctionArn": {"Fn::GetAtt": [steps_id, "Arn"]}}
    assert STEPS_FUNCTION == "${StepsFunctionArn}"
    tasks = [s for s in definition["States"].values() if s["Type"] == "Task"]
    assert tasks
    for task in tasks:
        assert task["Resource"] in {LAMBDA_INVOKE, LAMBDA_CALLBACK}
        assert task["Parameters"]["FunctionName"] == STEPS_FUNCTION


@pytest.mark.parametrize("journey_id", JOURNEY_FILES)
def test_state_machine_may_invoke_exactly_the_steps_function(default_synth, journey_id):
    _, props = machines(default_synth)[journey_id]
    steps_id, _ = function(default_synth, STEPS)
    statements = role_statements(default_synth, props["RoleArn"]["Fn::GetAtt"][0])
    invoke = [s for s in statements if "lambda:InvokeFunction" in str(s["Action"])]
    assert invoke == [
        {"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": {"Fn::GetAtt": [steps_id, "Arn"]}}
    ]  # no "<arn>:*" (versions and aliases): the tasks invoke the unqualified function


def test_no_dependency_cycle_between_machines_and_steps_function(default_synth):
    """The machines need the steps function's ARN; the steps function names the machines by their
    fixed names, never by reference (cfn-lint's E3004 checks the whole template as well)."""
    resources = default_synth.template_json["Resources"]
    machine_ids = {logical_id for logical_id, _ in machines(default_synth).values()}
    steps_id, steps = function(default_synth, STEPS)
    steps_policies = [
        p
        for p in default_synth.resources("AWS::IAM::Policy").values()
        if {"Ref": steps["Role"]["Fn::GetAtt"][0]} in p["Properties"]["Roles"]
    ]
    text = json.dumps([steps, resources[steps_id].get("DependsOn", []), steps_policies])
    assert not [m for m in machine_ids if m in text]


# --- The journey-steps function and the journeys consumer -----------------------------------------


@pytest.mark.parametrize("path", [STEPS, CONSUMER], ids=["journey_steps", "journeys"])
def test_journeys_functions_have_what_their_settings_need(default_synth, monkeypatch, path):
    _, fn = function(default_synth, path)
    folder = JOURNEY_STEPS_FUNCTION if path == STEPS else JOURNEYS_QUEUE.consumer
    assert fn["Handler"] == f"{folder}.handler.lambda_handler"
    assert fn["Runtime"] == LAMBDA_RUNTIME.name
    assert fn["Architectures"] == ["arm64"]
    assert fn["MemorySize"] == 1024
    assert fn["Timeout"] == 30
    assert fn["TracingConfig"] == {"Mode": "Active"}
    layers = [default_synth.construct(p) for p in ("Layers/Core", "Layers/Dependencies", "Definitions/Layer")]
    assert sorted(ref["Ref"] for ref in fn["Layers"]) == sorted(default_synth.logical_id(layer) for layer in layers)
    env = fn["Environment"]["Variables"]
    messages_queue = default_synth.construct("Journeys").messages_queue
    assert env[MESSAGES_QUEUE.env_var] == {"Ref": default_synth.logical_id(messages_queue)}
    assert json.loads(resolve(env[JOURNEY_MACHINES_ENV])) == {
        journey_id: f"{ARN_PREFIX}:stateMachine:{state_machine_name(journey_id)}" for journey_id in JOURNEY_FILES
    }
    assert env[DEFINITIONS_ENV_VAR] == DEFINITIONS_PATH
    assert env[PROFILES_TABLE.env_var] == {"Ref": PROFILES_TABLE.logical_id}
    assert env[CATALOG_TABLE.env_var] == {"Ref": CATALOG_TABLE.logical_id}  # required by the settings, unused
    assert env[EVENT_BUS.env_var] == {"Ref": EVENT_BUS.logical_id}
    assert env["POWERTOOLS_SERVICE_NAME"] == f"emma-{folder.replace('_', '-')}"
    # The environment is everything the functions' settings model needs.
    for name, value in env.items():
        monkeypatch.setenv(name, resolve(value))
    settings = JourneySettings()  # type: ignore[call-arg]
    assert settings.definitions == Path(DEFINITIONS_PATH)
    assert sorted(settings.state_machines) == JOURNEY_FILES
    assert settings.messages_queue_url == f"physical-{default_synth.logical_id(messages_queue)}"


@pytest.mark.parametrize("path", [STEPS, CONSUMER], ids=["journey_steps", "journeys"])
def test_journeys_functions_use_the_profiles_table_the_bus_and_read_the_shop_secrets(default_synth, path):
    statements = function_statements(default_synth, path)
    assert (
        allowed(statements, "dynamodb:PutItem") == allowed(statements, "dynamodb:Query") == {PROFILES_TABLE.logical_id}
    )  # journey state and profile changes; the catalog table's name only satisfies the settings
    assert allowed(statements, "events:PutEvents") == {EVENT_BUS.logical_id}
    # the events they record keep the shop's own event log retention (ShopConfig.privacy.event_log_days)
    secrets = [s for s in statements if "secretsmanager" in str(s["Action"])]
    assert secrets and all("Put" not in str(s["Action"]) and "Delete" not in str(s["Action"]) for s in secrets)


def test_steps_function_sends_message_requests_and_hands_back_task_tokens(default_synth):
    statements = function_statements(default_synth, STEPS)
    messages_queue = default_synth.construct("Journeys").messages_queue
    assert allowed(statements, "sqs:SendMessage") == {default_synth.logical_id(messages_queue)}
    machine_arns = {f"{ARN_PREFIX}:stateMachine:{state_machine_name(j)}" for j in JOURNEY_FILES}
    assert (
        allowed(statements, "states:SendTaskSuccess") == allowed(statements, "states:SendTaskFailure") == machine_arns
    )
    assert not allowed(statements, "states:StartExecution")
    assert not allowed(statements, "states:StopExecution")


def test_journeys_consumer_starts_stops_and_resumes_the_journeys_executions(default_synth):
    statements = function_statements(default_synth, CONSUMER)
    machine_arns = {f"{ARN_PREFIX}:stateMachine:{state_machine_name(j)}" for j in JOURNEY_FILES}
    execution_arns = {f"{ARN_PREFIX}:execution:{state_machine_name(j)}:*" for j in JOURNEY_FILES}
    assert allowed(statements, "states:StartExecution") == machine_arns
    assert allowed(statements, "states:SendTaskSuccess") == machine_arns
    assert allowed(statements, "states:StopExecution") == execution_arns
    assert allowed(statements, "states:DescribeExecution") == execution_arns
    assert not allowed(statements, "sqs:SendMessage")  # message requests are the steps function's job
    # Deployed after the machines (and its permissions), so the first event after a deploy can start one.
    consumer_id, _ = function(default_synth, CONSUMER)
    depends_on = default_synth.template_json["Resources"][consumer_id]["DependsOn"]
    assert {logical_id for logical_id, _ in machines(default_synth).values()} <= set(depends_on)


def test_machines_environment_is_refused_at_synth_when_it_would_not_fit():
    check_machines_env_size({j: state_machine_name(j) for j in JOURNEY_FILES})  # the shipped ones fit
    too_many = {f"journey-{n:02d}-{'x' * 40}": state_machine_name(f"journey-{n:02d}-{'x' * 40}") for n in range(30)}
    with pytest.raises(ValueError, match=rf"would take up to \d+ bytes .* \(at most {MAX_MACHINES_ENV_BYTES}\)"):
        check_machines_env_size(too_many)


# --- The messages queue ---------------------------------------------------------------------------


def test_messages_queue_is_encrypted_tls_only_with_a_dead_letter_queue(default_synth):
    journeys = default_synth.construct("Journeys")
    queue, dlq = default_synth.properties(journeys.messages_queue), default_synth.properties(journeys.dead_letter_queue)
    assert queue["VisibilityTimeout"] == MESSAGES_QUEUE.visibility_timeout_seconds
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [default_synth.logical_id(journeys.dead_letter_queue), "Arn"]},
        "maxReceiveCount": MESSAGES_QUEUE.max_receive_count,
    }
    for props in (queue, dlq):
        assert props["SqsManagedSseEnabled"] is True
        assert props["MessageRetentionPeriod"] == 14 * 24 * 3600
    for queue_construct in (journeys.messages_queue, journeys.dead_letter_queue):
        (policy,) = [
            p["Properties"]
            for p in default_synth.resources("AWS::SQS::QueuePolicy").values()
            if p["Properties"]["Queues"] == [{"Ref": default_synth.logical_id(queue_construct)}]
        ]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["PolicyDocument"]["Statement"]
        )
    assert default_synth.template_json["Outputs"]["MessagesQueueUrl"]["Value"] == {
        "Ref": default_synth.logical_id(journeys.messages_queue)
    }


# --- Alarms ---------------------------------------------------------------------------------------


def test_each_journey_alarms_on_failed_executions(default_synth):
    (topic_id,) = default_synth.resources("AWS::SNS::Topic")
    failed = [
        a["Properties"]
        for a in default_synth.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/States"
        and "journey" in a["Properties"]["AlarmDescription"]  # the import machine's: test_imports_infra.py
    ]
    assert {a["MetricName"] for a in failed} == {"ExecutionsFailed"}
    assert sorted(a["Dimensions"][0]["Value"]["Ref"] for a in failed) == sorted(
        logical_id for logical_id, _ in machines(default_synth).values()
    )
    for alarm in failed:
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
