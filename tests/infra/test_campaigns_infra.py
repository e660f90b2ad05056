"""Campaign sending in the CDK app: the campaigns function, the campaign state machine (the ASL of
emma.campaigns.machine with its function substituted), what the ingest API needs to start, cancel and follow runs
and queue test sends, and the dispatcher's look at a run's status."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from emma.campaigns.machine import FUNCTION, LAMBDA_INVOKE, MAX_SELECT_CONCURRENCY, campaign_machine
from emma.config import CampaignSettings, DispatchSettings
from emma.resources import (
    CAMPAIGN_MACHINE_ENV,
    CAMPAIGN_MACHINE_NAME,
    CAMPAIGNS_FUNCTION,
    CATALOG_TABLE,
    EVENT_BUS,
    MESSAGES_QUEUE,
    PROFILES_TABLE,
    SCHEDULE_TABLE,
)
from emma_infra.constructs.campaigns import FUNCTION_KEY
from emma_infra.constructs.definitions import DEFINITIONS_ENV_VAR, DEFINITIONS_PATH
from emma_infra.constructs.ingest_api import route_family, served_routes
from emma_infra.sizing import CAMPAIGNS_FUNCTION_OPTIONS
from tests.infra.conftest import Synth
from tests.infra.test_journeys import _listed, function, function_statements, role_statements
from tests.infra.test_privacy_infra import allowed, arn
from tests.infra.test_state_machines import state_machine

pytestmark = pytest.mark.infra

FUNCTION_PATH = "Campaigns/Function"
INGEST = "IngestApi/Ingest"
DISPATCH = "Dispatch/Function"
ARN_PREFIX = "arn:aws:states:eu-central-1:123456789012"
MACHINE_ARN = f"{ARN_PREFIX}:stateMachine:{CAMPAIGN_MACHINE_NAME}"
EXECUTIONS = f"{ARN_PREFIX}:execution:{CAMPAIGN_MACHINE_NAME}:*"
# What the tasks call on DynamoDB: the runs, chunks and selections (GetItem, Query, PutItem, BatchWriteItem), the
# audience (Query of the member lists, BatchGetItem of the candidates).
WRITES = ("dynamodb:PutItem", "dynamodb:BatchWriteItem")
READS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")
CAMPAIGN_ROUTES = {
    ("GET", "/v1/campaigns"),
    ("GET", "/v1/campaigns/{campaign}/estimate"),
    ("POST", "/v1/campaigns/{campaign}/start"),
    ("POST", "/v1/campaigns/{campaign}/pause"),
    ("POST", "/v1/campaigns/{campaign}/resume"),
    ("POST", "/v1/campaigns/{campaign}/cancel"),
    ("POST", "/v1/campaigns/{campaign}/test"),
    ("GET", "/v1/campaigns/{campaign}/runs"),
    ("GET", "/v1/campaigns/{campaign}/runs/{run}"),
}


def machine(synth: Synth) -> tuple[str, dict[str, Any]]:
    return state_machine(synth, CAMPAIGN_MACHINE_NAME)


def machine_statements(synth: Synth) -> list[dict[str, Any]]:
    _, resource = machine(synth)
    return role_statements(synth, resource["Properties"]["RoleArn"]["Fn::GetAtt"][0])


def messages_queue(synth: Synth) -> str:
    return synth.logical_id(synth.construct("Journeys").messages_queue)


def settings_from(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> CampaignSettings:
    for name, value in env.items():
        monkeypatch.setenv(name, arn(value))
    return CampaignSettings()  # type: ignore[call-arg]


# --- The campaign state machine -------------------------------------------------------------------


def test_the_machine_is_campaign_machine_with_the_function_substituted(any_synth):
    _, resource = machine(any_synth)
    props = resource["Properties"]
    assert props["StateMachineType"] == "STANDARD"  # a run waits days for its start
    assert isinstance(props["DefinitionString"], str)  # no tokens in it: CloudFormation substitutes
    assert json.loads(props["DefinitionString"]) == campaign_machine()
    fn_id, _ = function(any_synth, FUNCTION_PATH)
    assert props["DefinitionSubstitutions"] == {FUNCTION_KEY: {"Fn::GetAtt": [fn_id, "Arn"]}}
    placeholders = set(re.findall(r"\$\{(\w+)\}", props["DefinitionString"]))
    assert placeholders == set(props["DefinitionSubstitutions"]) == {"CampaignsFunctionArn"}
    assert FUNCTION == "${CampaignsFunctionArn}"


def test_every_state_of_the_machine_that_works_is_a_task_of_the_campaigns_function(default_synth):
    _, resource = machine(default_synth)
    states = json.loads(resource["Properties"]["DefinitionString"])["States"]
    (select,) = [s for s in states.values() if s["Type"] == "Map"]
    # an inline Map over the member-list shards: no child workflows, so no states:* for the machine's role
    assert select["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    assert select["MaxConcurrency"] == MAX_SELECT_CONCURRENCY
    tasks = [s for s in states.values() if s["Type"] == "Task"] + [
        s for s in select["ItemProcessor"]["States"].values() if s["Type"] == "Task"
    ]
    actions = {t["Parameters"]["Payload"]["action"] for t in tasks if "Payload" in t["Parameters"]}
    assert actions == {"begin", "open", "selected", "wave", "finish"}
    assert select["ItemSelector"]["action"] == "select"
    for task in tasks:
        assert task["Resource"] == LAMBDA_INVOKE
        assert task["Parameters"]["FunctionName"] == FUNCTION


def test_the_machine_invokes_exactly_the_campaigns_function_and_nothing_else(default_synth):
    fn_id, _ = function(default_synth, FUNCTION_PATH)
    found = machine_statements(default_synth)
    invoke = [s for s in found if "lambda:InvokeFunction" in _listed(s["Action"])]
    # no "<arn>:*" (versions and aliases): the tasks invoke the unqualified function
    assert invoke == [
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [fn_id, "Arn"]},
            "Sid": "InvokeCampaignsFunction",
        }
    ]
    actions = {a for s in found for a in _listed(s["Action"])}
    assert not {a for a in actions if a.split(":")[0] in {"lambda", "states", "s3", "dynamodb", "sqs"}} - {
        "lambda:InvokeFunction"
    }


def test_a_failed_campaign_run_alarms(default_synth):
    logical_id, _ = machine(default_synth)
    (topic_id,) = default_synth.resources("AWS::SNS::Topic")
    (alarm,) = [
        a["Properties"]
        for a in default_synth.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Dimensions") == [{"Name": "StateMachineArn", "Value": {"Ref": logical_id}}]
    ]
    assert alarm["MetricName"] == "ExecutionsFailed" and alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    assert "campaign run failed" in alarm["AlarmDescription"]
    assert "/v1/campaigns/{campaign}/runs/{run}" in alarm["AlarmDescription"]


# --- The campaigns function -----------------------------------------------------------------------


def test_the_function_is_sized_for_a_shard_of_the_audience_and_a_wave(default_synth):
    _, fn = function(default_synth, FUNCTION_PATH)
    assert fn["Handler"] == f"{CAMPAIGNS_FUNCTION}.handler.lambda_handler"
    assert (fn["MemorySize"], fn["Timeout"]) == (1024, 300)
    assert (CAMPAIGNS_FUNCTION_OPTIONS.memory_size, CAMPAIGNS_FUNCTION_OPTIONS.timeout_seconds) == (1024, 300)
    assert fn["TracingConfig"] == {"Mode": "Active"}
    assert fn["Architectures"] == ["arm64"]
    asset = default_synth.asset_dir(fn["Code"]["S3Key"])
    assert sorted(p.name for p in asset.iterdir()) == [CAMPAIGNS_FUNCTION]
    definitions = default_synth.construct("Definitions").layer
    assert {"Ref": default_synth.logical_id(definitions)} in fn["Layers"]  # the campaigns


def test_the_function_environment_is_what_the_campaign_settings_need(default_synth, monkeypatch):
    _, fn = function(default_synth, FUNCTION_PATH)
    env = fn["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "emma-campaigns"
    # built from the machine's name: the machine's definition names the function, so no reference back
    assert "Ref" not in json.dumps(env[CAMPAIGN_MACHINE_ENV]).replace('"Ref": "AWS::', "")
    settings = settings_from(env, monkeypatch)
    assert settings.profiles_table == f"physical-{PROFILES_TABLE.logical_id}"
    assert settings.catalog_table == f"physical-{CATALOG_TABLE.logical_id}"
    assert settings.event_bus == f"physical-{EVENT_BUS.logical_id}"
    assert settings.definitions == Path(DEFINITIONS_PATH) and env[DEFINITIONS_ENV_VAR] == DEFINITIONS_PATH
    assert settings.messages_queue_url == f"physical-{messages_queue(default_synth)}"
    assert settings.campaign_machine == MACHINE_ARN
    assert settings.spread is True  # each wave spread over its seconds by SQS delays
    assert "EMMA_SHOP_SECRET_PREFIX" in env
    assert SCHEDULE_TABLE.env_var not in env


def test_the_function_reads_and_writes_the_profiles_table_only_never_scans_or_publishes(default_synth):
    found = function_statements(default_synth, FUNCTION_PATH)
    for action in (*READS, *WRITES):
        assert allowed(found, action) == {PROFILES_TABLE.logical_id}, action
    tables = [
        r for s in found if any(a.startswith("dynamodb:") for a in _listed(s["Action"])) for r in _listed(s["Resource"])
    ]
    # the table itself, never the catalog (its name only) nor an index
    assert tables and all(r == {"Fn::GetAtt": [PROFILES_TABLE.logical_id, "Arn"]} for r in tables)
    assert not allowed(found, "dynamodb:Scan")
    assert not allowed(found, "events:PutEvents")  # the bus's name only
    actions = {a for s in found for a in _listed(s["Action"])}
    assert not {a for a in actions if a.endswith("*")}
    assert {"secretsmanager:GetSecretValue", "secretsmanager:ListSecrets"} <= actions
    assert not {a for a in actions if a.startswith("s3:")}


def test_the_function_queues_waves_and_starts_the_next_run_only(default_synth):
    found = function_statements(default_synth, FUNCTION_PATH)
    assert allowed(found, "sqs:SendMessage") == {messages_queue(default_synth)}  # SendMessageBatch
    assert {a for s in found for a in _listed(s["Action"]) if a.startswith("sqs:")} == {"sqs:SendMessage"}
    assert allowed(found, "states:StartExecution") == {MACHINE_ARN}  # finish: a recurring campaign's next run
    assert {a for s in found for a in _listed(s["Action"]) if a.startswith("states:")} == {"states:StartExecution"}


def test_the_function_is_alarmed(default_synth):
    fn_id, _ = function(default_synth, FUNCTION_PATH)
    dimensions = [{"Name": "FunctionName", "Value": {"Ref": fn_id}}]
    alarms = [a["Properties"] for a in default_synth.resources("AWS::CloudWatch::Alarm").values()]
    assert sorted(a["MetricName"] for a in alarms if a.get("Dimensions") == dimensions) == ["Errors", "Throttles"]


def test_the_function_waits_for_its_permissions(default_synth):
    fn_id, _ = function(default_synth, FUNCTION_PATH)
    depends = default_synth.template_json["Resources"][fn_id]["DependsOn"]
    found = [
        policy_id
        for policy_id, policy in default_synth.resources("AWS::IAM::Policy").items()
        if policy_id in depends
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if "states:StartExecution" in _listed(s["Action"])
    ]
    assert found


# --- The ingest API -------------------------------------------------------------------------------


def test_the_ingest_api_knows_the_machine_and_the_messages_queue(default_synth, monkeypatch):
    _, fn = function(default_synth, INGEST)
    env = fn["Environment"]["Variables"]
    assert env[MESSAGES_QUEUE.env_var] == {"Ref": messages_queue(default_synth)}
    assert "Ref" not in json.dumps(env[CAMPAIGN_MACHINE_ENV]).replace('"Ref": "AWS::', "")  # built from the name
    settings = settings_from(env, monkeypatch)
    assert settings.campaign_machine == MACHINE_ARN
    assert settings.messages_queue_url == f"physical-{messages_queue(default_synth)}"
    assert settings.definitions == Path(DEFINITIONS_PATH)


def test_the_ingest_api_starts_and_cancels_runs_and_queues_test_sends(default_synth):
    found = function_statements(default_synth, INGEST)
    assert MACHINE_ARN in allowed(found, "states:StartExecution")  # start, resume
    assert EXECUTIONS in allowed(found, "states:StopExecution")  # cancel
    campaigns = [s for s in found if any(CAMPAIGN_MACHINE_NAME in arn(r) for r in _listed(s["Resource"]))]
    assert {a for s in campaigns for a in _listed(s["Action"])} == {"states:StartExecution", "states:StopExecution"}
    assert allowed(found, "sqs:SendMessage") == {messages_queue(default_synth)}
    assert {a for s in found for a in _listed(s["Action"]) if a.startswith("sqs:")} == {"sqs:SendMessage"}


def test_the_ingest_api_waits_for_the_machine_and_its_permissions(default_synth):
    fn_id, _ = function(default_synth, INGEST)
    machine_id, _ = machine(default_synth)
    assert machine_id in default_synth.template_json["Resources"][fn_id]["DependsOn"]


def test_every_campaign_route_is_deployed_in_the_admin_family(default_synth):
    served = {(method, path.rstrip("/")) for method, path in served_routes() if path.startswith("/v1/campaigns")}
    assert served == CAMPAIGN_ROUTES
    deployed = {r["Properties"]["RouteKey"] for r in default_synth.resources("AWS::ApiGatewayV2::Route").values()}
    (stage,) = default_synth.resources("AWS::ApiGatewayV2::Stage").values()
    for method, path in CAMPAIGN_ROUTES:
        assert f"{method} {path}" in deployed
        assert route_family(path).name == "admin"  # exactly one family, else route_family raises
        assert stage["Properties"]["RouteSettings"][f"{method} {path}"] == {
            "ThrottlingBurstLimit": 40,
            "ThrottlingRateLimit": 20,
        }


# --- The dispatcher -------------------------------------------------------------------------------


def test_the_dispatcher_reads_a_runs_status_in_the_profiles_table(default_synth):
    """Before each campaign message (emma.adapters.campaigns.CachedGate: a GetItem of the run's item in the table
    DispatchSettings.profiles_table names)."""
    assert PROFILES_TABLE.logical_id in allowed(function_statements(default_synth, DISPATCH), "dynamodb:GetItem")
    _, fn = function(default_synth, DISPATCH)
    assert fn["Environment"]["Variables"][PROFILES_TABLE.env_var] == {"Ref": PROFILES_TABLE.logical_id}
    assert DispatchSettings.model_fields["profiles_table"].validation_alias == PROFILES_TABLE.env_var
