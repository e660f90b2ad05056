"""The default stack: tables, bus, layers, functions, HTTP API, alarms, outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import Token
from aws_cdk.assertions import Match

from emma.resources import (
    EVENT_BUS,
    QUEUES,
    REQUEST_QUEUES,
    SCHEDULES,
    SHOP_SECRET_PREFIX,
    STREAM_CONSUMERS,
    TABLES,
)
from emma_infra import STACK_NAME
from emma_infra.constructs.ingest_api import api_routes
from emma_infra.constructs.shopify_partner import PARTNER_BUS
from emma_infra.runtime import LAMBDA_RUNTIME
from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra

RUNTIME = LAMBDA_RUNTIME.name  # e.g. "python3.14"


def the_function(synth: Synth, handler: str) -> dict[str, Any]:
    (function,) = [
        f for f in synth.resources("AWS::Lambda::Function").values() if f["Properties"]["Handler"] == handler
    ]
    return function["Properties"]


def logical_id(synth: Synth, type_: str, **properties: Any) -> str:
    (found,) = synth.template.find_resources(type_, {"Properties": properties}).keys()
    return found


# --- DynamoDB -------------------------------------------------------------------------------------


@pytest.mark.parametrize("definition", TABLES, ids=lambda d: d.logical_id)
def test_each_table_def_becomes_an_on_demand_encrypted_recoverable_retained_table(default_synth, definition):
    table = default_synth.template_json["Resources"][definition.logical_id]  # stable logical id
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["DeletionProtectionEnabled"] is True
    keys = [{"AttributeName": definition.partition_key, "KeyType": "HASH"}]
    if definition.sort_key:
        keys.append({"AttributeName": definition.sort_key, "KeyType": "RANGE"})
    assert props["KeySchema"] == keys
    if definition.ttl_attribute:
        assert props["TimeToLiveSpecification"] == {"AttributeName": definition.ttl_attribute, "Enabled": True}
    else:
        assert "TimeToLiveSpecification" not in props
    assert sorted(g["IndexName"] for g in props.get("GlobalSecondaryIndexes", [])) == sorted(
        g.name for g in definition.gsis
    )
    assert "TableName" not in props  # CloudFormation names it; functions learn it from the environment


def test_there_are_exactly_the_defined_tables(default_synth):
    assert sorted(default_synth.resources("AWS::DynamoDB::Table")) == sorted(d.logical_id for d in TABLES)


# --- EventBridge ----------------------------------------------------------------------------------


def test_event_bus_from_its_def_with_an_archive_of_every_event(default_synth):
    bus = default_synth.template_json["Resources"][EVENT_BUS.logical_id]
    assert bus["Type"] == "AWS::Events::EventBus"
    assert bus["Properties"]["Name"] == EVENT_BUS.name
    (archive,) = default_synth.resources("AWS::Events::Archive").values()
    assert archive["Properties"]["SourceArn"] == {"Fn::GetAtt": [EVENT_BUS.logical_id, "Arn"]}
    assert archive["Properties"]["RetentionDays"] == 30
    assert "EventPattern" not in archive["Properties"]  # all events


# The QueueDefs of Emma's own bus and of the account's default bus: in every deployment.
ALWAYS_QUEUES = [q for q in QUEUES if q.bus != PARTNER_BUS]


def test_without_partner_context_there_is_no_partner_bus_queue_or_consumer(default_synth):
    assert len(default_synth.resources("AWS::Events::EventBus")) == 1  # the default bus is only referenced
    # a queue, its dead-letter queue and its rule target's dead-letter queue per QueueDef (but the
    # partner ones), a queue and a dead-letter queue per RequestQueueDef, a dead-letter queue per ScheduleDef and
    # per StreamConsumerDef
    queues = 3 * len(ALWAYS_QUEUES) + 2 * len(REQUEST_QUEUES) + len(SCHEDULES) + len(STREAM_CONSUMERS)
    assert len(default_synth.resources("AWS::SQS::Queue")) == queues
    # every QueueDef's and every RequestQueueDef's consumer drains its queue; every StreamConsumerDef's its stream
    mappings = len(ALWAYS_QUEUES) + len(REQUEST_QUEUES) + len(STREAM_CONSUMERS)
    assert len(default_synth.resources("AWS::Lambda::EventSourceMapping")) == mappings
    assert len(default_synth.resources("AWS::Events::Rule")) == len(ALWAYS_QUEUES)
    assert "ShopifyPartnerBusName" not in default_synth.template_json["Outputs"]


# --- Layers and functions -------------------------------------------------------------------------


def test_three_layers_for_the_runtime_and_arm64(default_synth):
    layers = default_synth.resources("AWS::Lambda::LayerVersion")
    assert len(layers) == 3  # core, dependencies, definitions (test_rules.py)
    for layer in layers.values():
        assert layer["Properties"]["CompatibleRuntimes"] == [RUNTIME]
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]


def test_layer_contents_are_the_core_package_and_arm64_wheels(default_synth):
    core, deps = (
        default_synth.asset_dir(default_synth.properties(layer)["Content"]["S3Key"])
        for layer in (default_synth.construct("Layers/Core"), default_synth.construct("Layers/Dependencies"))
    )
    assert (core / "python" / "emma").is_dir()
    assert (core / "python" / "emma" / "resources.py").is_file()
    assert not list(core.rglob("__pycache__"))
    abi = "cpython-" + RUNTIME.removeprefix("python").replace(".", "")  # e.g. cpython-314
    native = list((deps / "python" / "pydantic_core").glob("*.so"))
    assert native and all(f"{abi}-aarch64-linux-gnu" in so.name for so in native)
    assert (deps / "python" / "aws_lambda_powertools").is_dir()
    assert not list(deps.rglob("*.pyc"))


def test_ingest_function(default_synth):
    fn = the_function(default_synth, "ingest.handler.lambda_handler")
    assert fn["Runtime"] == RUNTIME
    assert fn["Architectures"] == ["arm64"]
    assert fn["MemorySize"] == 1024
    assert fn["Timeout"] == 10
    assert fn["TracingConfig"] == {"Mode": "Active"}
    # the core and dependencies layers, and the definitions (the analytics reports' journeys, the console's
    # template previews)
    layers = [default_synth.construct(f"Layers/{name}") for name in ("Core", "Dependencies")]
    layers.append(default_synth.construct("Definitions/Layer"))
    assert sorted(ref["Ref"] for ref in fn["Layers"]) == sorted(default_synth.logical_id(c) for c in layers)
    env = fn["Environment"]["Variables"]
    for table in TABLES:
        assert env[table.env_var] == {"Ref": table.logical_id}
    assert env[EVENT_BUS.env_var] == {"Ref": EVENT_BUS.logical_id}
    assert env["EMMA_SHOP_SECRET_PREFIX"] == SHOP_SECRET_PREFIX
    assert env["POWERTOOLS_SERVICE_NAME"] == "emma-ingest"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Emma"
    assert env["LOG_LEVEL"] == "INFO"
    assert env["EMMA_DEFINITIONS"].startswith("/opt/")
    log_group = default_synth.template_json["Resources"][fn["LoggingConfig"]["LogGroup"]["Ref"]]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == 30


def test_function_code_asset_holds_only_its_own_folder(default_synth):
    fn = the_function(default_synth, "ingest.handler.lambda_handler")
    asset = default_synth.asset_dir(fn["Code"]["S3Key"])
    assert sorted(p.name for p in asset.iterdir()) == ["ingest"]
    assert (asset / "ingest" / "handler.py").is_file()
    assert not list(asset.rglob("__pycache__"))


def test_function_role_has_no_managed_policy_and_only_its_log_group(default_synth):
    for role in default_synth.resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]  # no AWSLambdaBasicExecutionRole
    fn = the_function(default_synth, "ingest.handler.lambda_handler")
    role_id = fn["Role"]["Fn::GetAtt"][0]
    log_group_id = fn["LoggingConfig"]["LogGroup"]["Ref"]
    default_synth.template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": role_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                            "Effect": "Allow",
                            "Resource": {"Fn::GetAtt": [log_group_id, "Arn"]},
                        }
                    ]
                )
            },
        },
    )


def test_ingest_reads_and_writes_the_tables_and_puts_events_on_the_bus(default_synth):
    role_id = the_function(default_synth, "ingest.handler.lambda_handler")["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in default_synth.resources("AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    dynamo = next(s for s in statements if "dynamodb:PutItem" in s["Action"])
    assert {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= set(dynamo["Action"])
    assert sorted(r["Fn::GetAtt"][0] for r in dynamo["Resource"]) == sorted(t.logical_id for t in TABLES)
    assert {
        "Action": "events:PutEvents",
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [EVENT_BUS.logical_id, "Arn"]},
    } in statements


def test_ingest_reads_only_the_shop_secrets(default_synth):
    default_synth.template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Sid": "ReadShopSecrets",
                        "Action": "secretsmanager:GetSecretValue",
                        "Effect": "Allow",
                        "Resource": {"Fn::Join": ["", Match.array_with([f":secret:{SHOP_SECRET_PREFIX}*"])]},
                    },
                    {
                        "Sid": "FindShopSecrets",
                        "Action": ["secretsmanager:BatchGetSecretValue", "secretsmanager:ListSecrets"],
                        "Effect": "Allow",
                        "Resource": "*",
                    },
                ]
            },
        },
    )
    assert not default_synth.resources("AWS::SecretsManager::Secret")  # operators create them (docs/deploy.md)


# --- HTTP API -------------------------------------------------------------------------------------


def test_http_api_routes_all_go_to_the_ingest_function(default_synth):
    routes = default_synth.resources("AWS::ApiGatewayV2::Route")
    route_keys = {r["Properties"]["RouteKey"] for r in routes.values()}
    assert route_keys == {f"{method} {path}" for method, path in api_routes()}
    assert {
        "POST /v1/track",
        "POST /v1/identify",
        "POST /v1/page",
        "POST /v1/screen",
        "POST /v1/batch",
        *(f"POST /v1/{short}" for short in "tipsagb"),  # analytics.js's short paths
        "OPTIONS /v1/{proxy+}",  # its CORS preflights
        "POST /webhooks/{platform}/{shop}",
        "GET /v1/profiles/{ref}",
        "GET /v1/openapi.json",
    } <= route_keys
    (integration_id,) = default_synth.resources("AWS::ApiGatewayV2::Integration")
    for route in routes.values():
        assert route["Properties"]["Target"]["Fn::Join"][1][1] == {"Ref": integration_id}
        assert route["Properties"].get("AuthorizationType", "NONE") == "NONE"  # auth is in the function
    (integration,) = default_synth.resources("AWS::ApiGatewayV2::Integration").values()
    ingest_id = logical_id(default_synth, "AWS::Lambda::Function", Handler="ingest.handler.lambda_handler")
    assert integration["Properties"]["IntegrationUri"] == {"Fn::GetAtt": [ingest_id, "Arn"]}


def test_api_routes_are_the_resolvers_route_table_and_the_preflight_catch_all():
    """From the function's routes, not from its public document: a route left out of the document (like
    one-click unsubscribe once was) is deployed all the same."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    app = APIGatewayHttpResolver()
    app.post("/v1/x")(lambda: None)
    app.get("/v1/y/<id>")(lambda: None)
    app.delete("/v1/y/<id>")(lambda: None)
    app.get("/v1/hidden", include_in_schema=False)(lambda: None)
    assert api_routes(app) == (
        ("GET", "/v1/hidden"),
        ("POST", "/v1/x"),
        ("DELETE", "/v1/y/{id}"),
        ("GET", "/v1/y/{id}"),
        ("OPTIONS", "/v1/{proxy+}"),  # CORS preflights of the tracking API, answered by the function
    )
    served = {f"{method} {path}" for method, path in api_routes()}
    assert {"GET /v1/unsubscribe", "POST /v1/unsubscribe", "GET /v1/r/{shop}/{code}", "GET /v1/openapi.json"} <= served


def test_http_api_default_stage_is_throttled_and_access_logged(default_synth):
    (stage,) = default_synth.resources("AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "$default"
    assert props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 200, "ThrottlingRateLimit": 100}
    log_group_id = props["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert default_synth.template_json["Resources"][log_group_id]["Properties"]["RetentionInDays"] == 30
    assert "$context.requestId" in props["AccessLogSettings"]["Format"]


# --- Monitoring and outputs -----------------------------------------------------------------------


def test_alarm_topic_is_kms_encrypted_and_ssl_only(default_synth):
    ((topic_id, topic),) = default_synth.resources("AWS::SNS::Topic").items()
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = default_synth.template_json["Resources"][key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    key_statements = key["Properties"]["KeyPolicy"]["Statement"]
    assert any(s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in key_statements)
    default_synth.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": topic_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def alarms_by_metric(synth: Synth) -> dict[str, list[dict[str, Any]]]:
    """Alarms by namespace:metric; an alarm on metric math by its metrics' ids (math:<id>,<id>)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for alarm in synth.resources("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if "Metrics" in props:
            name = "math:" + ",".join(sorted(m["Id"] for m in props["Metrics"] if "MetricStat" in m))
        else:
            name = f"{props['Namespace']}:{props['MetricName']}"
        found.setdefault(name, []).append(props)
    return found


def test_alarms_on_function_errors_throttles_dead_letters_failed_journeys_and_api_5xx_notify_the_topic(
    default_synth,
):
    (topic_id,) = default_synth.resources("AWS::SNS::Topic")
    alarms = alarms_by_metric(default_synth)
    functions = len(default_synth.resources("AWS::Lambda::Function"))
    # each queue's own, the messages queue's, the schedules', each rule target's (test_consumers.py), the streams'
    dead_letter_queues = (
        len(ALWAYS_QUEUES) + len(REQUEST_QUEUES) + len(SCHEDULES) + len(ALWAYS_QUEUES) + len(STREAM_CONSUMERS)
    )
    assert {metric: len(found) for metric, found in alarms.items()} == {
        "AWS/ApiGateway:5xx": 1,
        "AWS/Lambda:Errors": functions,
        "AWS/Lambda:Throttles": functions,
        "AWS/SQS:ApproximateNumberOfMessagesVisible": dead_letter_queues,
        "AWS/States:ExecutionsFailed": len(default_synth.resources("AWS::StepFunctions::StateMachine")),
        "AWS/SES:Reputation.BounceRate": 1,  # thresholds of their own: test_dispatch.py
        "AWS/SES:Reputation.ComplaintRate": 1,
        "math:complained,delivered": 1,  # the analytics complaint rate, below
        "Emma:CouponProviderFailures": 1,  # dispatch's coupons: test_dispatch.py
        "Emma:CouponPoolLow": 1,
        "AWS/Lambda:IteratorAge": len(STREAM_CONSUMERS),  # five minutes behind: test_streams.py
    }
    for props in (a for group in alarms.values() for a in group):
        assert props["AlarmActions"] == [{"Ref": topic_id}]
        if "Metrics" in props:
            continue
        if props["Namespace"] != "AWS/SES" and props["MetricName"] != "IteratorAge":
            assert props["Threshold"] == 0
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["Period"] == 300
        assert props["TreatMissingData"] == "notBreaching"
    # complaints per delivered email over 24 hours, from the analytics consumer's metrics, at Google's 0.1 %
    (rate,) = alarms["math:complained,delivered"]
    (expression,) = [m for m in rate["Metrics"] if "Expression" in m]
    assert expression["Expression"] == "IF(delivered >= 200, complained / delivered, 0)"
    assert rate["Threshold"] == 0.001 and rate["TreatMissingData"] == "notBreaching"
    for metric in (m for m in rate["Metrics"] if "MetricStat" in m):
        stat = metric["MetricStat"]
        assert stat["Metric"]["Namespace"] == "Emma" and stat["Period"] == 86400 and stat["Stat"] == "Sum"
        assert stat["Metric"]["Dimensions"] == [{"Name": "service", "Value": "emma-analytics"}]


def test_outputs(default_synth):
    outputs = default_synth.template_json["Outputs"]
    assert {"ApiUrl", "EventBusName", "MessagesQueueUrl", "ConfigurationSetName", "AlarmTopicArn"} <= set(outputs)
    for table in TABLES:
        assert outputs[f"{table.logical_id}Name"]["Value"] == {"Ref": table.logical_id}


def test_stack_is_environment_agnostic(default_synth):
    assert Token.is_unresolved(default_synth.stack.account)
    assert Token.is_unresolved(default_synth.stack.region)
    manifest = json.loads((default_synth.outdir / "manifest.json").read_text())
    assert manifest["artifacts"][STACK_NAME]["environment"] == "aws://unknown-account/unknown-region"


def test_no_function_runs_longer_than_a_new_customers_reservation_is_waited_for(default_synth):
    """A new customer's aliases are claimed before its profile (emma.ingest.service): a reservation older than
    RESERVATION_GRACE is taken as left by a request that died, so no function may still be running then."""
    from emma.ingest.service import RESERVATION_GRACE

    functions = default_synth.resources("AWS::Lambda::Function")
    assert functions
    for name, function in functions.items():
        timeout = function["Properties"].get("Timeout", 3)
        assert timeout < RESERVATION_GRACE.total_seconds(), name
