"""Imports of files on managed services in the CDK app: the imports bucket, the imports function, the import state
machine (the ASL of emma.imports.machine with its placeholders substituted, Distributed Maps reading the bucket
and running child workflows of the machine itself), and what the ingest API needs to upload, start and report
imports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from emma.config import ImportSettings
from emma.imports.files import prefix
from emma.imports.machine import BUCKET, FUNCTION, LAMBDA_INVOKE, import_machine
from emma.resources import (
    CAMPAIGN_MACHINE_NAME,
    CATALOG_TABLE,
    EVENT_BUS,
    IMPORT_MACHINE_ENV,
    IMPORT_MACHINE_NAME,
    IMPORTS_BUCKET,
    IMPORTS_FUNCTION,
    PROFILES_TABLE,
    SCHEDULE_TABLE,
)
from emma_infra.constructs.definitions import DEFINITIONS_ENV_VAR, DEFINITIONS_PATH
from emma_infra.constructs.imports import BUCKET_KEY, FUNCTION_KEY, JOBS_PREFIX
from emma_infra.constructs.ingest_api import route_family, served_routes
from emma_infra.sizing import IMPORTS_FUNCTION_OPTIONS
from tests.infra.conftest import Synth
from tests.infra.test_journeys import _listed, function, function_statements, role_statements
from tests.infra.test_privacy_infra import allowed, arn
from tests.infra.test_state_machines import state_machine

pytestmark = pytest.mark.infra

FUNCTION_PATH = "Imports/Function"
INGEST = "IngestApi/Ingest"
ARN_PREFIX = "arn:aws:states:eu-central-1:123456789012"
MACHINE_ARN = f"{ARN_PREFIX}:stateMachine:{IMPORT_MACHINE_NAME}"
BUCKET_ARN = f"<{IMPORTS_BUCKET.logical_id}.Arn>"
OBJECTS = f"{BUCKET_ARN}/*"
JOB_OBJECTS = f"{BUCKET_ARN}/{JOBS_PREFIX}*"
UPLOADS = f"{BUCKET_ARN}/*/uploads/*"
# What the tasks call on DynamoDB (reads and transactions on the profiles table, timers in the schedule table,
# BatchGetItem on the catalog): TransactWriteItems is authorized item by item.
WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
READS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem")
IMPORT_ROUTES = {
    ("POST", "/v1/imports"),
    ("POST", "/v1/imports/uploads"),
    ("GET", "/v1/imports/{job}"),
    ("POST", "/v1/imports/customers/batches"),
    ("POST", "/v1/imports/orders/batches"),
    ("POST", "/v1/imports/conclusions"),
}


def machine(synth: Synth) -> tuple[str, dict[str, Any]]:
    return state_machine(synth, IMPORT_MACHINE_NAME)


def machine_statements(synth: Synth) -> list[dict[str, Any]]:
    _, resource = machine(synth)
    return role_statements(synth, resource["Properties"]["RoleArn"]["Fn::GetAtt"][0])


# --- The import state machine ---------------------------------------------------------------------


def test_the_machine_is_import_machine_with_the_function_and_bucket_substituted(any_synth):
    _, resource = machine(any_synth)
    props = resource["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert isinstance(props["DefinitionString"], str)  # no tokens in it: CloudFormation substitutes
    definition = json.loads(props["DefinitionString"])
    assert definition == import_machine()
    fn_id, _ = function(any_synth, FUNCTION_PATH)
    assert props["DefinitionSubstitutions"] == {
        FUNCTION_KEY: {"Fn::GetAtt": [fn_id, "Arn"]},
        BUCKET_KEY: {"Ref": IMPORTS_BUCKET.logical_id},
    }
    # every placeholder of the ASL is substituted
    placeholders = set(re.findall(r"\$\{(\w+)\}", props["DefinitionString"]))
    assert placeholders == set(props["DefinitionSubstitutions"]) == {"ImportsFunctionArn", "ImportsBucket"}
    assert (FUNCTION, BUCKET) == ("${ImportsFunctionArn}", "${ImportsBucket}")


def test_the_machine_is_tasks_of_the_imports_function_and_distributed_maps_over_the_bucket(default_synth):
    _, resource = machine(default_synth)
    states = json.loads(resource["Properties"]["DefinitionString"])["States"]
    tasks = [s for s in states.values() if s["Type"] == "Task"]
    maps = [s for s in states.values() if s["Type"] == "Map"]
    assert tasks and maps  # Check, Plan, ... Finish; Store, Conclude, Rescore
    for task in [*tasks, *(m["ItemProcessor"]["States"]["Work"] for m in maps)]:
        assert task["Resource"] == LAMBDA_INVOKE
        assert task["Parameters"]["FunctionName"] == FUNCTION
    readers = {m["ItemReader"]["Resource"] for m in maps}
    assert readers == {"arn:aws:states:::s3:listObjectsV2", "arn:aws:states:::s3:getObject"}
    for found in maps:
        assert found["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        assert found["ItemReader"]["Parameters"]["Bucket"] == BUCKET


def test_the_machine_invokes_exactly_the_imports_function(default_synth):
    fn_id, _ = function(default_synth, FUNCTION_PATH)
    invoke = [s for s in machine_statements(default_synth) if "lambda:InvokeFunction" in _listed(s["Action"])]
    # no "<arn>:*" (versions and aliases): the tasks invoke the unqualified function
    assert invoke == [
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [fn_id, "Arn"]},
            "Sid": "InvokeImportsFunction",
        }
    ]
    actions = {a for s in machine_statements(default_synth) for a in _listed(s["Action"])}
    assert not {a for a in actions if a.startswith("lambda:") and a != "lambda:InvokeFunction"}


def test_the_machine_reads_the_jobs_objects_of_the_bucket_for_its_item_readers(default_synth):
    found = machine_statements(default_synth)
    assert prefix("shop", "job").startswith(JOBS_PREFIX)  # where the tasks write what the maps read
    assert allowed(found, "s3:GetObject") == {JOB_OBJECTS}  # getObject: jobs/<shop>/<job>/chunks.json
    (listing,) = [s for s in found if "s3:ListBucket" in _listed(s["Action"])]  # listObjectsV2 over the parts
    assert listing["Resource"] == {"Fn::GetAtt": [IMPORTS_BUCKET.logical_id, "Arn"]}
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"{JOBS_PREFIX}*"]}}
    s3_actions = {a for s in found for a in _listed(s["Action"]) if a.startswith("s3:")}
    assert s3_actions == {"s3:GetObject", "s3:ListBucket"}  # it never writes or deletes


def test_the_machine_runs_its_distributed_maps_as_child_workflows_of_itself(default_synth):
    found = machine_statements(default_synth)
    children = f"{ARN_PREFIX}:execution:{IMPORT_MACHINE_NAME}/*"
    assert allowed(found, "states:StartExecution") == {MACHINE_ARN}
    for action in ("states:DescribeExecution", "states:StopExecution"):
        assert allowed(found, action) == {f"{ARN_PREFIX}:execution:{IMPORT_MACHINE_NAME}:*", children}, action
    assert allowed(found, "states:RedriveExecution") == {children}
    actions = {a for s in found for a in _listed(s["Action"]) if a.startswith("states:")}
    assert actions == {
        "states:StartExecution",
        "states:DescribeExecution",
        "states:StopExecution",
        "states:RedriveExecution",
    }


def test_a_failed_import_alarms(default_synth):
    logical_id, _ = machine(default_synth)
    (alarm,) = [
        a["Properties"]
        for a in default_synth.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Dimensions") == [{"Name": "StateMachineArn", "Value": {"Ref": logical_id}}]
    ]
    assert alarm["MetricName"] == "ExecutionsFailed" and alarm["Threshold"] == 0
    assert "import" in alarm["AlarmDescription"]


# --- The imports function -------------------------------------------------------------------------


def test_the_function_is_sized_for_the_check_of_a_whole_file(default_synth):
    _, fn = function(default_synth, FUNCTION_PATH)
    assert fn["Handler"] == f"{IMPORTS_FUNCTION}.handler.lambda_handler"
    assert (fn["MemorySize"], fn["Timeout"]) == (1769, 900)
    assert (IMPORTS_FUNCTION_OPTIONS.memory_size, IMPORTS_FUNCTION_OPTIONS.timeout_seconds) == (1769, 900)
    assert fn["TracingConfig"] == {"Mode": "Active"}
    asset = default_synth.asset_dir(fn["Code"]["S3Key"])
    assert sorted(p.name for p in asset.iterdir()) == [IMPORTS_FUNCTION]
    definitions = default_synth.construct("Definitions").layer
    assert {"Ref": default_synth.logical_id(definitions)} in fn["Layers"]


def test_the_function_environment_is_what_the_import_settings_need(default_synth, monkeypatch):
    _, fn = function(default_synth, FUNCTION_PATH)
    env = fn["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "emma-imports"
    for name, value in env.items():
        monkeypatch.setenv(name, arn(value))
    settings = ImportSettings()  # type: ignore[call-arg]
    assert settings.profiles_table == f"physical-{PROFILES_TABLE.logical_id}"
    assert settings.catalog_table == f"physical-{CATALOG_TABLE.logical_id}"
    assert settings.schedule_table == f"physical-{SCHEDULE_TABLE.logical_id}"
    assert settings.event_bus == f"physical-{EVENT_BUS.logical_id}"
    assert settings.definitions == Path(DEFINITIONS_PATH) and env[DEFINITIONS_ENV_VAR] == DEFINITIONS_PATH
    assert settings.imports_bucket == f"physical-{IMPORTS_BUCKET.logical_id}"
    assert settings.import_machine == MACHINE_ARN
    assert "EMMA_SHOP_SECRET_PREFIX" in env


def test_the_function_reads_and_writes_profiles_and_timers_reads_the_catalog_never_scans_or_publishes(
    default_synth,
):
    found = function_statements(default_synth, FUNCTION_PATH)
    for action in READS:
        assert allowed(found, action) == {
            PROFILES_TABLE.logical_id,
            SCHEDULE_TABLE.logical_id,
            CATALOG_TABLE.logical_id,
        }
    for action in WRITES:
        assert allowed(found, action) == {PROFILES_TABLE.logical_id, SCHEDULE_TABLE.logical_id}, action
    assert not allowed(found, "dynamodb:Scan")
    assert not allowed(found, "events:PutEvents")
    actions = {a for s in found for a in _listed(s["Action"])}
    assert not {a for a in actions if a.endswith("*")}
    assert {"secretsmanager:GetSecretValue", "secretsmanager:ListSecrets"} <= actions
    assert not {a for a in actions if a.startswith("states:")}


def test_the_function_reads_writes_deletes_and_lists_the_imports_bucket_only(default_synth):
    found = function_statements(default_synth, FUNCTION_PATH)
    assert allowed(found, "s3:GetObject") == allowed(found, "s3:DeleteObject") == {OBJECTS}  # uploads and jobs
    assert allowed(found, "s3:PutObject") == {JOB_OBJECTS}  # parts, results, chunks
    assert allowed(found, "s3:ListBucket") == {IMPORTS_BUCKET.logical_id}
    assert {a for s in found for a in _listed(s["Action"]) if a.startswith("s3:")} == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
    }


def test_the_function_is_alarmed(default_synth):
    fn_id, _ = function(default_synth, FUNCTION_PATH)
    dimensions = [{"Name": "FunctionName", "Value": {"Ref": fn_id}}]
    alarms = [a["Properties"] for a in default_synth.resources("AWS::CloudWatch::Alarm").values()]
    assert sorted(a["MetricName"] for a in alarms if a.get("Dimensions") == dimensions) == ["Errors", "Throttles"]


# --- The ingest API -------------------------------------------------------------------------------


def test_the_ingest_api_knows_the_bucket_and_the_machine(default_synth, monkeypatch):
    _, fn = function(default_synth, INGEST)
    env = fn["Environment"]["Variables"]
    assert env[IMPORTS_BUCKET.env_var] == {"Ref": IMPORTS_BUCKET.logical_id}
    assert "Ref" not in json.dumps(env[IMPORT_MACHINE_ENV]).replace('"Ref": "AWS::', "")  # built from the name
    for name, value in env.items():
        monkeypatch.setenv(name, arn(value))
    settings = ImportSettings()  # type: ignore[call-arg]
    assert settings.imports_bucket == f"physical-{IMPORTS_BUCKET.logical_id}"
    assert settings.import_machine == MACHINE_ARN
    assert settings.schedule_table == f"physical-{SCHEDULE_TABLE.logical_id}"
    assert settings.definitions == Path(DEFINITIONS_PATH)


def test_the_ingest_api_uploads_starts_and_describes_imports(default_synth):
    found = function_statements(default_synth, INGEST)
    campaigns = f"{ARN_PREFIX}:stateMachine:{CAMPAIGN_MACHINE_NAME}"  # its runs: tests/infra/test_campaigns_infra.py
    assert allowed(found, "states:StartExecution") == {MACHINE_ARN, campaigns}
    assert allowed(found, "states:DescribeExecution") == {f"{ARN_PREFIX}:execution:{IMPORT_MACHINE_NAME}:import-*"}
    imports = [s for s in found if any(arn(r).startswith(BUCKET_ARN) for r in _listed(s["Resource"]))]
    imports += [s for s in found if {"Fn::GetAtt": [IMPORTS_BUCKET.logical_id, "Arn"]} in _listed(s["Resource"])]
    assert allowed(imports, "s3:PutObject") == allowed(imports, "s3:GetObject") == {UPLOADS}  # presign, HeadObject
    assert allowed(imports, "s3:ListBucket") == {IMPORTS_BUCKET.logical_id}  # 404, not 403, for a missing upload
    assert not allowed(imports, "s3:DeleteObject")


def test_the_ingest_api_waits_for_the_machine_and_its_permissions(default_synth):
    fn_id, _ = function(default_synth, INGEST)
    machine_id, _ = machine(default_synth)
    assert machine_id in default_synth.template_json["Resources"][fn_id]["DependsOn"]


def test_every_import_route_is_deployed_in_the_imports_family(default_synth):
    served = {(method, path.rstrip("/")) for method, path in served_routes() if path.startswith("/v1/imports")}
    assert served == IMPORT_ROUTES
    deployed = {r["Properties"]["RouteKey"] for r in default_synth.resources("AWS::ApiGatewayV2::Route").values()}
    for method, path in IMPORT_ROUTES:
        assert f"{method} {path}" in deployed
        assert route_family(path).name == "imports"  # exactly one family, else route_family raises


# --- The imports bucket ---------------------------------------------------------------------------


def test_the_imports_bucket_is_private_encrypted_unversioned_retained_and_expires_its_objects(default_synth):
    bucket = default_synth.template_json["Resources"][IMPORTS_BUCKET.logical_id]  # stable logical id
    assert bucket["Type"] == "AWS::S3::Bucket"
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert "VersioningConfiguration" not in props  # a deleted upload is gone, not kept as an old version
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["Id"] == "ExpireImports" and rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == IMPORTS_BUCKET.expire_days == 7
    assert "Prefix" not in rule and "TagFilters" not in rule  # every object
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert "BucketName" not in props


def test_the_imports_bucket_refuses_requests_without_tls(default_synth):
    (policy,) = [
        p["Properties"]
        for p in default_synth.resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": IMPORTS_BUCKET.logical_id}
    ]
    (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Action"] == "s3:*" and deny["Principal"] == {"AWS": "*"}
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {arn(r) for r in deny["Resource"]} == {BUCKET_ARN, OBJECTS}
    assert not [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]


def test_the_imports_bucket_is_an_output(default_synth):
    output = default_synth.template_json["Outputs"][f"{IMPORTS_BUCKET.logical_id}Name"]
    assert output["Value"] == {"Ref": IMPORTS_BUCKET.logical_id}
    assert IMPORTS_BUCKET.env_var in output["Description"]
