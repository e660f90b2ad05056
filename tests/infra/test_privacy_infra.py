"""Export and erasure (issue 14) in the CDK app: the exports bucket, the privacy schedule's function,
and what the ingest API's function needs for the privacy routes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emma.config import PrivacySettings
from emma.resources import (
    ACTIVITY_INDEX,
    CAMPAIGN_MACHINE_NAME,
    CATALOG_TABLE,
    EVENT_BUS,
    EXPORTS_BUCKET,
    IMPORT_MACHINE_NAME,
    IMPORTS_BUCKET,
    PRIVACY_SCHEDULE,
    PROFILES_TABLE,
    SCHEDULE_TABLE,
    SCHEDULES,
    SHOP_SECRET_PREFIX,
    TABLES,
    state_machine_name,
)
from emma_infra.constructs.ingest_api import route_family
from emma_infra.sizing import FUNCTION_OPTIONS, INGEST_API_FUNCTION, PRIVACY_FUNCTION
from tests.infra.conftest import Synth
from tests.infra.test_journeys import PSEUDO, function, function_statements

pytestmark = pytest.mark.infra

INGEST = "IngestApi/Ingest"
PRIVACY = f"{PRIVACY_SCHEDULE.logical_id}/Function"
TABLE_IDS = {t.logical_id for t in TABLES}
EXPORT_OBJECTS = f"<{EXPORTS_BUCKET.logical_id}.Arn>/*"
EXPORTS_ARN = f"<{EXPORTS_BUCKET.logical_id}.Arn>"
# What export and erasure call on the tables (emma.adapters.privacy.DynamoPrivacyStore): reads of what a
# customer holds, queue and audit Queries, deletes, and the job's transaction (TransactWriteItems is
# authorized item by item as PutItem, UpdateItem, DeleteItem and ConditionCheckItem).
READS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")
WRITES = ("dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem")
TRANSACTION = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem")
PRIVACY_ROUTES = {
    "DELETE /v1/profiles/{ref}",
    "GET /v1/profiles/{ref}/export",
    "GET /v1/privacy/jobs/{job_id}",
    "GET /v1/privacy/jobs/{job_id}/export",
    "GET /v1/privacy/audit",
}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def arn(value: Any) -> str:
    """A template value as deployed to eu-central-1 in 123456789012; GetAtts as <LogicalId.Attribute>."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(arn(part) for part in parts)
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    if "Ref" in value:
        return PSEUDO.get(value["Ref"], f"physical-{value['Ref']}")
    raise AssertionError(f"cannot resolve {value!r}")


def allowed(statements: list[dict[str, Any]], action: str) -> set[str]:
    """Every resource the statements allow ``action`` on: the logical id for a Fn::GetAtt (a table, the
    bucket), else the ARN as `arn` resolves it."""
    return {
        resource["Fn::GetAtt"][0] if isinstance(resource, dict) and "Fn::GetAtt" in resource else arn(resource)
        for statement in statements
        if statement["Effect"] == "Allow" and action in _listed(statement["Action"])
        for resource in _listed(statement["Resource"])
    }


def executions(synth: Synth) -> set[str]:
    """arn:aws:states:...:execution:<state machine name>:* of every journey state machine in the template."""
    journey_prefix = state_machine_name("")
    return {
        f"arn:aws:states:eu-central-1:123456789012:execution:{m['Properties']['StateMachineName']}:*"
        for m in synth.resources("AWS::StepFunctions::StateMachine").values()
        if m["Properties"]["StateMachineName"].startswith(journey_prefix)  # not the import machine
    }


def settings_from(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> PrivacySettings:
    for name, value in env.items():
        monkeypatch.setenv(name, arn(value))
    return PrivacySettings()  # type: ignore[call-arg]


# --- The exports bucket ---------------------------------------------------------------------------


def test_the_exports_bucket_is_private_encrypted_unversioned_retained_and_expires_its_objects(default_synth):
    bucket = default_synth.template_json["Resources"][EXPORTS_BUCKET.logical_id]  # stable logical id
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
    assert "VersioningConfiguration" not in props
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == EXPORTS_BUCKET.expire_days == 30
    assert "Prefix" not in rule and "TagFilters" not in rule  # every object
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert "BucketName" not in props  # CloudFormation names it; functions learn it from the environment


def test_the_exports_bucket_refuses_requests_without_tls(default_synth):
    (policy,) = [
        p["Properties"]
        for p in default_synth.resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": EXPORTS_BUCKET.logical_id}
    ]
    (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Action"] == "s3:*"
    assert deny["Principal"] == {"AWS": "*"}
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {arn(r) for r in deny["Resource"]} == {EXPORTS_ARN, EXPORT_OBJECTS}


def test_the_exports_bucket_is_an_output_and_the_only_bucket_besides_the_imports(default_synth):
    assert sorted(default_synth.resources("AWS::S3::Bucket")) == sorted(
        [EXPORTS_BUCKET.logical_id, IMPORTS_BUCKET.logical_id]
    )
    output = default_synth.template_json["Outputs"][f"{EXPORTS_BUCKET.logical_id}Name"]
    assert output["Value"] == {"Ref": EXPORTS_BUCKET.logical_id}
    assert EXPORTS_BUCKET.env_var in output["Description"]


# --- The privacy schedule -------------------------------------------------------------------------


def test_the_privacy_schedule_runs_the_privacy_function_every_5_minutes(any_synth):
    assert PRIVACY_SCHEDULE in SCHEDULES
    assert FUNCTION_OPTIONS[PRIVACY_SCHEDULE.consumer] is PRIVACY_FUNCTION
    schedule = any_synth.properties(any_synth.construct(PRIVACY_SCHEDULE.logical_id).schedule)
    assert schedule["ScheduleExpression"] == "rate(5 minutes)"
    assert schedule["State"] == "ENABLED"
    fn_id, fn = function(any_synth, PRIVACY)
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    assert fn["Handler"] == "privacy.handler.lambda_handler"
    assert fn["Timeout"] == 5 * 60
    assert 512 <= fn["MemorySize"] <= 1024
    assert sorted(p.name for p in any_synth.asset_dir(fn["Code"]["S3Key"]).iterdir()) == ["privacy"]


def test_the_privacy_function_environment_is_what_its_settings_need(default_synth, monkeypatch):
    _, fn = function(default_synth, PRIVACY)
    env = fn["Environment"]["Variables"]
    for table in TABLES:
        assert env[table.env_var] == {"Ref": table.logical_id}
    assert env[EXPORTS_BUCKET.env_var] == {"Ref": EXPORTS_BUCKET.logical_id}
    assert env[EVENT_BUS.env_var] == {"Ref": EVENT_BUS.logical_id}  # IngestSettings requires it
    assert env["EMMA_SHOP_SECRET_PREFIX"] == SHOP_SECRET_PREFIX
    assert env["POWERTOOLS_SERVICE_NAME"] == "emma-privacy"
    settings = settings_from(env, monkeypatch)
    assert settings.schedule_table == f"physical-{SCHEDULE_TABLE.logical_id}"
    assert settings.exports_bucket == f"physical-{EXPORTS_BUCKET.logical_id}"


def test_the_privacy_function_scans_reads_and_writes_the_three_tables(default_synth):
    found = function_statements(default_synth, PRIVACY)
    for action in ("dynamodb:Scan", *READS, *WRITES, *TRANSACTION):  # a shop's erasure scans every table
        expected = TABLE_IDS | ({ACTIVITY} if action == "dynamodb:Query" else set())
        assert allowed(found, action) == expected, action


ACTIVITY = f"<{PROFILES_TABLE.logical_id}.Arn>/index/{ACTIVITY_INDEX.name}"


def test_only_the_privacy_function_queries_the_activity_index_and_no_function_gets_every_index(default_synth):
    """Retention reads the activity index by its name; no grant names ``<table>/index/*``."""
    template = json.dumps(default_synth.template_json)
    assert "/index/*" not in template
    assert allowed(function_statements(default_synth, PRIVACY), "dynamodb:Query") >= {ACTIVITY}
    assert ACTIVITY not in allowed(function_statements(default_synth, INGEST), "dynamodb:Query")


def test_the_privacy_function_reads_the_shop_secrets_and_puts_no_events(default_synth):
    found = function_statements(default_synth, PRIVACY)
    assert allowed(found, "secretsmanager:GetSecretValue") == {
        f"arn:aws:secretsmanager:eu-central-1:123456789012:secret:{SHOP_SECRET_PREFIX}*"
    }
    assert not allowed(found, "events:PutEvents")  # it publishes nothing; the bus's name only


@pytest.mark.parametrize("path", [INGEST, PRIVACY], ids=["ingest", "privacy"])
def test_reads_and_writes_exports_and_nothing_else_of_s3(default_synth, path):
    # The ingest API's presigned uploads to the imports bucket: tests/infra/test_imports_infra.py.
    imports = f"<{IMPORTS_BUCKET.logical_id}.Arn>"
    found = [
        s
        for s in function_statements(default_synth, path)
        if not any(
            arn(r).startswith(imports) or r == {"Fn::GetAtt": [IMPORTS_BUCKET.logical_id, "Arn"]}
            for r in _listed(s["Resource"])
        )
    ]
    assert allowed(found, "s3:GetObject") == allowed(found, "s3:PutObject") == {EXPORT_OBJECTS}
    assert allowed(found, "s3:DeleteObject") == {EXPORT_OBJECTS}  # an erasure deletes the customer's exports
    assert allowed(found, "s3:ListBucket") == {
        EXPORTS_BUCKET.logical_id
    }  # NoSuchKey (not AccessDenied) for an expired export
    actions = {a for s in found for a in _listed(s["Action"]) if a.startswith("s3:")}
    assert actions == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"}


@pytest.mark.parametrize("path", [INGEST, PRIVACY], ids=["ingest", "privacy"])
def test_stops_every_journeys_executions_and_nothing_more_of_step_functions(any_synth, path):
    found = function_statements(any_synth, path)
    assert executions(any_synth)
    # The ingest API starts and describes imports (tests/infra/test_imports_infra.py), starts and cancels campaign
    # runs (tests/infra/test_campaigns_infra.py), nothing else.
    others = (IMPORT_MACHINE_NAME, CAMPAIGN_MACHINE_NAME)
    journeys = [s for s in found if not any(name in arn(r) for name in others for r in _listed(s["Resource"]))]
    assert allowed(journeys, "states:StopExecution") == executions(any_synth)
    actions = {a for s in journeys for a in _listed(s["Action"]) if a.startswith("states:")}
    assert actions == {"states:StopExecution"}


# --- The ingest API -------------------------------------------------------------------------------


def test_the_ingest_function_environment_is_what_the_privacy_settings_need(default_synth, monkeypatch):
    _, fn = function(default_synth, INGEST)
    env = fn["Environment"]["Variables"]
    assert env[SCHEDULE_TABLE.env_var] == {"Ref": SCHEDULE_TABLE.logical_id}
    assert env[EXPORTS_BUCKET.env_var] == {"Ref": EXPORTS_BUCKET.logical_id}
    settings = settings_from(env, monkeypatch)
    assert settings.profiles_table == f"physical-{PROFILES_TABLE.logical_id}"
    assert settings.catalog_table == f"physical-{CATALOG_TABLE.logical_id}"
    assert settings.schedule_table == f"physical-{SCHEDULE_TABLE.logical_id}"
    assert settings.exports_bucket == f"physical-{EXPORTS_BUCKET.logical_id}"


def test_the_ingest_function_reads_and_writes_the_tables_but_never_scans(default_synth):
    assert INGEST_API_FUNCTION.scan is False
    found = function_statements(default_synth, INGEST)
    assert not allowed(found, "dynamodb:Scan")
    assert not [s for s in found if any(a in {"dynamodb:*", "dynamodb:Scan*"} for a in _listed(s["Action"]))]
    for action in (*READS, *WRITES):
        assert SCHEDULE_TABLE.logical_id in allowed(found, action), action
    for action in TRANSACTION:
        assert PROFILES_TABLE.logical_id in allowed(found, action), action
    assert allowed(found, "dynamodb:PutItem") == TABLE_IDS  # the catalog import and the event path, as before


def test_the_http_api_serves_the_privacy_routes_throttled_as_admin_routes(default_synth):
    routes = {r["Properties"]["RouteKey"] for r in default_synth.resources("AWS::ApiGatewayV2::Route").values()}
    assert routes >= PRIVACY_ROUTES
    (stage,) = default_synth.resources("AWS::ApiGatewayV2::Stage").values()
    for route in PRIVACY_ROUTES:
        assert route_family(route.split(" ", 1)[1]).name == "admin"
        assert stage["Properties"]["RouteSettings"][route] == {"ThrottlingBurstLimit": 40, "ThrottlingRateLimit": 20}
