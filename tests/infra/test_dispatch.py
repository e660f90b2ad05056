"""Dispatch: the SES configuration set and its EventBridge destination, the sender domains, the
`dispatch` consumer of the messages queue and what it may do, SES feedback from the default bus, the
scheduler releasing deferred messages, and the alarms."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_ses as ses

from emma.config import DispatchSettings, ReleaseSettings
from emma.resources import (
    CATALOG_TABLE,
    EVENT_BUS,
    MESSAGES_QUEUE,
    PROFILES_TABLE,
    PUBLIC_API_URL_ENV,
    RULES_SCHEDULE,
    SCHEDULE_TABLE,
    SES_CONFIGURATION_SET_ENV,
    SES_EVENT_SOURCE,
    SES_FEEDBACK_QUEUE,
    SHOP_SECRET_PREFIX,
    TABLES,
)
from emma_infra.constructs import dispatch as dispatch_module
from emma_infra.constructs.definitions import DEFINITIONS_ENV_VAR, DEFINITIONS_PATH
from emma_infra.constructs.dispatch import (
    BOUNCE_RATE_THRESHOLD,
    COMPLAINT_RATE_THRESHOLD,
    SENDER_DOMAIN_PATTERN,
    SENDER_DOMAINS_PARAMETER,
    SENDING_EVENTS,
    Dispatch,
)
from emma_infra.constructs.functions import FunctionOptions
from emma_infra.runtime import LAMBDA_RUNTIME
from tests.infra.conftest import Synth
from tests.infra.test_journeys import allowed, function, resolve, role_statements

pytestmark = pytest.mark.infra

DISPATCH = "Dispatch/Function"
SCHEDULER = f"{RULES_SCHEDULE.logical_id}/Function"
# What cdk-nag and the shared policy tests allow on "*": X-Ray (every function), finding the shop
# secrets (ListSecrets/BatchGetSecretValue have no resource-level permissions) and, for dispatch
# alone, sns:Publish (SMS to phone numbers have no ARN).
STAR_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "secretsmanager:ListSecrets",
    "secretsmanager:BatchGetSecretValue",
}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def evaluate(value: Any, parameters: dict[str, list[str]]) -> Any:
    """A template value with Fn::Split/Fn::Join/Ref of list parameters worked out (as CloudFormation would)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [evaluate(v, parameters) for v in value]
    if "Fn::Split" in value:
        separator, source = value["Fn::Split"]
        return evaluate(source, parameters).split(separator)
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        joined = evaluate(parts, parameters)
        return separator.join(x for part in joined for x in _listed(part))
    if "Ref" in value and value["Ref"] in parameters:
        return parameters[value["Ref"]]
    return resolve(value)


def dispatch_function(synth: Synth) -> tuple[str, dict[str, Any]]:
    return function(synth, DISPATCH)


def dispatch_statements(synth: Synth) -> list[dict[str, Any]]:
    return role_statements(synth, dispatch_function(synth)[1]["Role"]["Fn::GetAtt"][0])


def configuration_set_id(synth: Synth) -> str:
    (found,) = synth.resources("AWS::SES::ConfigurationSet")
    return found


# --- SES ------------------------------------------------------------------------------------------


def test_configuration_set_requires_tls_and_publishes_reputation_metrics(default_synth):
    props = default_synth.template_json["Resources"][configuration_set_id(default_synth)]["Properties"]
    assert props["DeliveryOptions"] == {"TlsPolicy": "REQUIRE"}
    assert props["ReputationOptions"] == {"ReputationMetricsEnabled": True}
    assert props["SendingOptions"] == {"SendingEnabled": True}
    assert "Name" not in props  # CloudFormation names it; dispatch learns it from the environment
    assert default_synth.template_json["Outputs"]["ConfigurationSetName"]["Value"] == {
        "Ref": configuration_set_id(default_synth)
    }


def test_every_sending_event_goes_to_the_default_bus(default_synth):
    (destination,) = default_synth.resources("AWS::SES::ConfigurationSetEventDestination").values()
    props = destination["Properties"]
    assert props["ConfigurationSetName"] == {"Ref": configuration_set_id(default_synth)}
    event_destination = props["EventDestination"]
    assert event_destination["Enabled"] is True
    assert resolve(event_destination["EventBridgeDestination"]["EventBusArn"]) == (
        "arn:aws:events:eu-central-1:123456789012:event-bus/default"
    )
    assert set(SENDING_EVENTS) == set(ses.EmailSendingEvent)  # every event SES (and CDK) knows
    assert sorted(event_destination["MatchingEventTypes"]) == sorted(
        [
            "send",
            "delivery",
            "open",
            "click",
            "bounce",
            "complaint",
            "deliveryDelay",
            "reject",
            "renderingFailure",
            "subscription",
        ]
    )


def test_sender_domains_parameter(default_synth):
    parameter = default_synth.template_json["Parameters"][SENDER_DOMAINS_PARAMETER]
    assert parameter["Type"] == "CommaDelimitedList"
    assert parameter["Default"] == ""  # deployable without it; then no email may be sent
    pattern = re.compile(parameter["AllowedPattern"])
    assert parameter["AllowedPattern"] == SENDER_DOMAIN_PATTERN
    for good in ("elektro-emma.de", "fahrrad-franz.at", "mail.example.co.uk", "xn--bcher-kva.example", ""):
        assert pattern.fullmatch(good), good
    for bad in ("*", "*.de", "emma@elektro-emma.de", "elektro-emma", "a.de,b.de"):  # each item is checked alone
        assert not pattern.fullmatch(bad), bad


@pytest.mark.parametrize(
    ("domains", "from_addresses"),
    [
        (["elektro-emma.de", "fahrrad-franz.at"], ["*@elektro-emma.de", "*@fahrrad-franz.at"]),
        (["elektro-emma.de"], ["*@elektro-emma.de"]),
        ([""], ["*@"]),  # the default: an address ending in "@" does not exist, so nothing may be sent
    ],
)
def test_email_may_be_sent_only_from_the_sender_domains(default_synth, domains, from_addresses):
    (send,) = [s for s in dispatch_statements(default_synth) if "ses:SendEmail" in _listed(s["Action"])]
    assert sorted(send["Action"]) == ["ses:SendEmail", "ses:SendRawEmail"]
    assert sorted(resolve(r) for r in send["Resource"]) == sorted(
        [
            f"arn:aws:ses:eu-central-1:123456789012:configuration-set/physical-{configuration_set_id(default_synth)}",
            "arn:aws:ses:eu-central-1:123456789012:identity/*",
        ]
    )
    (condition,) = send["Condition"].items()
    operator, keys = condition
    assert operator == "StringLike" and list(keys) == ["ses:FromAddress"]
    assert evaluate(keys["ses:FromAddress"], {SENDER_DOMAINS_PARAMETER: domains}) == from_addresses


def test_sms_and_push_through_sns(default_synth):
    statements = dispatch_statements(default_synth)
    assert allowed(statements, "sns:Publish") == {"*"}  # phone numbers have no ARN
    assert allowed(statements, "sns:CreatePlatformEndpoint") == {"arn:aws:sns:eu-central-1:123456789012:app/*"}


def test_no_wildcard_resource_but_the_acknowledged_ones(default_synth):
    for statement in dispatch_statements(default_synth):
        if "*" in _listed(statement["Resource"]):
            assert set(_listed(statement["Action"])) <= STAR_ACTIONS | {"sns:Publish"}, statement
    for path in (f"{SES_FEEDBACK_QUEUE.logical_id}/Consumer", SCHEDULER):
        for statement in role_statements(default_synth, function(default_synth, path)[1]["Role"]["Fn::GetAtt"][0]):
            if "*" in _listed(statement["Resource"]):
                assert set(_listed(statement["Action"])) <= STAR_ACTIONS, (path, statement)


# --- The dispatch function ------------------------------------------------------------------------


def test_dispatch_function(default_synth):
    _, fn = dispatch_function(default_synth)
    assert fn["Handler"] == f"{MESSAGES_QUEUE.consumer}.handler.lambda_handler" == "dispatch.handler.lambda_handler"
    assert fn["Runtime"] == LAMBDA_RUNTIME.name
    assert fn["Architectures"] == ["arm64"]
    assert fn["TracingConfig"] == {"Mode": "Active"}
    assert fn["Timeout"] == 30
    assert fn["Timeout"] * 6 <= MESSAGES_QUEUE.visibility_timeout_seconds  # Lambda's recommendation
    layers = [default_synth.construct(p) for p in ("Layers/Core", "Layers/Dependencies", "Definitions/Layer")]
    assert sorted(ref["Ref"] for ref in fn["Layers"]) == sorted(default_synth.logical_id(layer) for layer in layers)
    assert sorted(p.name for p in default_synth.asset_dir(fn["Code"]["S3Key"]).iterdir()) == [MESSAGES_QUEUE.consumer]


def deployed(value: Any) -> str:
    """An environment value as deployed (see `resolve`; the API's endpoint as an https URL)."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        assert attribute == "ApiEndpoint", value
        return f"https://physical-{logical_id}.execute-api.eu-central-1.amazonaws.com"
    return resolve(value)


def test_dispatch_environment(default_synth, monkeypatch):
    env = dispatch_function(default_synth)[1]["Environment"]["Variables"]
    for table in (PROFILES_TABLE, CATALOG_TABLE, SCHEDULE_TABLE):
        assert env[table.env_var] == {"Ref": table.logical_id}
    assert env[EVENT_BUS.env_var] == {"Ref": EVENT_BUS.logical_id}
    assert env["EMMA_SHOP_SECRET_PREFIX"] == SHOP_SECRET_PREFIX
    assert env[DEFINITIONS_ENV_VAR] == DEFINITIONS_PATH  # templates ship inside definitions.json
    messages_queue = default_synth.construct("Journeys").messages_queue
    assert env[MESSAGES_QUEUE.env_var] == {"Ref": default_synth.logical_id(messages_queue)}
    assert env[SES_CONFIGURATION_SET_ENV] == {"Ref": configuration_set_id(default_synth)}
    http_api = default_synth.construct("IngestApi").http_api
    # The API's endpoint: the $default stage's URL without the trailing slash.
    assert env[PUBLIC_API_URL_ENV] == {"Fn::GetAtt": [default_synth.logical_id(http_api), "ApiEndpoint"]}
    assert env["POWERTOOLS_SERVICE_NAME"] == "emma-dispatch"
    # The environment is everything the function's settings model needs.
    for name, value in env.items():
        monkeypatch.setenv(name, deployed(value))
    settings = DispatchSettings()  # type: ignore[call-arg]
    assert settings.ses_configuration_set == f"physical-{configuration_set_id(default_synth)}"
    assert settings.public_api_url == deployed(env[PUBLIC_API_URL_ENV])
    assert not settings.public_api_url.endswith("/")
    assert settings.definitions == Path(DEFINITIONS_PATH)


def test_dispatch_drains_the_messages_queue_reporting_batch_item_failures(default_synth):
    fn_id, _ = dispatch_function(default_synth)
    messages_queue = default_synth.logical_id(default_synth.construct("Journeys").messages_queue)
    (mapping,) = [
        m["Properties"]
        for m in default_synth.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [messages_queue, "Arn"]}
    ]
    assert mapping["FunctionName"] == {"Ref": fn_id}
    assert mapping["BatchSize"] == MESSAGES_QUEUE.batch_size
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    statements = dispatch_statements(default_synth)
    assert allowed(statements, "sqs:ReceiveMessage") == allowed(statements, "sqs:DeleteMessage") == {messages_queue}
    assert not allowed(statements, "sqs:SendMessage")  # re-queueing deferred messages is the scheduler's job


def test_dispatch_tables_bus_and_secrets(default_synth):
    statements = dispatch_statements(default_synth)
    assert allowed(statements, "dynamodb:Query") == {PROFILES_TABLE.logical_id, CATALOG_TABLE.logical_id}
    assert allowed(statements, "dynamodb:PutItem") == {PROFILES_TABLE.logical_id, SCHEDULE_TABLE.logical_id}
    assert allowed(statements, "dynamodb:UpdateItem") == {PROFILES_TABLE.logical_id, SCHEDULE_TABLE.logical_id}
    assert allowed(statements, "events:PutEvents") == {EVENT_BUS.logical_id}
    assert allowed(statements, "secretsmanager:GetSecretValue") == {
        f"arn:aws:secretsmanager:eu-central-1:123456789012:secret:{SHOP_SECRET_PREFIX}*"
    }


def test_a_visibility_timeout_under_six_times_the_dispatch_timeout_is_refused_at_synth(monkeypatch):
    too_long = FunctionOptions(timeout_seconds=MESSAGES_QUEUE.visibility_timeout_seconds // 6 + 1)
    monkeypatch.setitem(dispatch_module.FUNCTION_OPTIONS, MESSAGES_QUEUE.consumer, too_long)
    nothing: Any = None  # checked before anything is built
    with pytest.raises(ValueError, match=rf"{MESSAGES_QUEUE.logical_id}: the queue's visibility timeout"):
        Dispatch(
            Stack(App(), "Probe"),
            "Probe",
            platform=nothing,
            messages_queue=nothing,
            default_bus=nothing,
            public_api_url="https://example.com",
        )


# --- SES feedback and the scheduler ---------------------------------------------------------------


def test_ses_events_on_the_default_bus_reach_the_ses_feedback_queue(default_synth):
    # Queue, dead-letter queue, rule and consumer in detail: test_consumers.py (every QueueDef).
    assert SES_FEEDBACK_QUEUE.bus == "default"
    found = default_synth.construct(SES_FEEDBACK_QUEUE.logical_id)
    rule = default_synth.properties(found.rule)
    assert rule["EventBusName"] == "default"
    assert rule["EventPattern"] == SES_FEEDBACK_QUEUE.event_pattern
    assert rule["EventPattern"]["source"] == [SES_EVENT_SOURCE] == ["aws.ses"]
    # only Emma's messages: other configuration sets in the account publish to the same bus
    assert rule["EventPattern"]["detail"] == {"mail": {"tags": {"emma-shop": [{"exists": True}]}}}
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [default_synth.logical_id(found.queue), "Arn"]}
    # what EventBridge cannot deliver is parked, not dropped (issue 12): the rule target's own DLQ
    assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0].startswith("SesFeedbackQueueRuleDeadLetterQueue")
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
    queue = default_synth.properties(found.queue)
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": [default_synth.logical_id(found.dead_letter_queue), "Arn"]
    }
    fn = default_synth.properties(found.consumer.function)
    assert fn["Handler"] == f"{SES_FEEDBACK_QUEUE.consumer}.handler.lambda_handler"
    # Like the other sources mapped into ingest (shopify_events): every table, the bus, the shop secrets.
    env = fn["Environment"]["Variables"]
    for table in TABLES:
        assert env[table.env_var] == {"Ref": table.logical_id}
    assert env[EVENT_BUS.env_var] == {"Ref": EVENT_BUS.logical_id}
    assert env["EMMA_SHOP_SECRET_PREFIX"] == SHOP_SECRET_PREFIX


def test_scheduler_releases_deferred_messages_to_the_messages_queue(default_synth, monkeypatch):
    _, fn = function(default_synth, SCHEDULER)
    messages_queue = default_synth.logical_id(default_synth.construct("Journeys").messages_queue)
    assert fn["Environment"]["Variables"][MESSAGES_QUEUE.env_var] == {"Ref": messages_queue}
    statements = role_statements(default_synth, fn["Role"]["Fn::GetAtt"][0])
    assert allowed(statements, "sqs:SendMessage") == {messages_queue}
    assert not allowed(statements, "sqs:ReceiveMessage")
    for name, value in fn["Environment"]["Variables"].items():
        monkeypatch.setenv(name, resolve(value))
    settings = ReleaseSettings()  # type: ignore[call-arg]
    assert settings.messages_queue_url == f"physical-{messages_queue}"
    assert settings.schedule_table == f"physical-{SCHEDULE_TABLE.logical_id}"


# --- Alarms ---------------------------------------------------------------------------------------


def test_dispatch_and_ses_feedback_are_alarmed(default_synth):
    (topic_id,) = default_synth.resources("AWS::SNS::Topic")
    alarms = [a["Properties"] for a in default_synth.resources("AWS::CloudWatch::Alarm").values()]
    for fn_id in (
        dispatch_function(default_synth)[0],
        default_synth.logical_id(default_synth.construct(f"{SES_FEEDBACK_QUEUE.logical_id}/Consumer").function),
    ):
        dimensions = [{"Name": "FunctionName", "Value": {"Ref": fn_id}}]
        assert sorted(a["MetricName"] for a in alarms if a.get("Dimensions") == dimensions) == ["Errors", "Throttles"]
    dlq = default_synth.construct(SES_FEEDBACK_QUEUE.logical_id).dead_letter_queue
    dimensions = [{"Name": "QueueName", "Value": {"Fn::GetAtt": [default_synth.logical_id(dlq), "QueueName"]}}]
    (dlq_alarm,) = [a for a in alarms if a.get("Dimensions") == dimensions]
    assert dlq_alarm["MetricName"] == "ApproximateNumberOfMessagesVisible" and dlq_alarm["Threshold"] == 0
    reputation = {a["MetricName"]: a for a in alarms if a.get("Namespace") == "AWS/SES"}
    assert (
        {name: a["Threshold"] for name, a in reputation.items()}
        == {
            "Reputation.BounceRate": BOUNCE_RATE_THRESHOLD,
            "Reputation.ComplaintRate": COMPLAINT_RATE_THRESHOLD,
        }
        == {"Reputation.BounceRate": 0.05, "Reputation.ComplaintRate": 0.001}
    )
    for alarm in reputation.values():
        assert "Dimensions" not in alarm  # account-wide: what SES reviews and pauses sending on
        assert alarm["Statistic"] == "Maximum"
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]


def test_coupon_providers_that_fail_and_pools_that_run_low_are_alarmed(default_synth):
    alarms = [a["Properties"] for a in default_synth.resources("AWS::CloudWatch::Alarm").values()]
    coupons = {a["MetricName"]: a for a in alarms if a.get("MetricName", "").startswith("Coupon")}
    assert sorted(coupons) == ["CouponPoolLow", "CouponProviderFailures"]
    for alarm in coupons.values():
        assert alarm["Namespace"] == "Emma" and alarm["Threshold"] == 0
        assert alarm["Dimensions"] == [{"Name": "service", "Value": "emma-dispatch"}]
        assert alarm["AlarmActions"]  # to the operators' topic
