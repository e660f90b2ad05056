"""`emma replay` against moto: both kinds of dead-letter queue, dry run, --max, a poison message that
stays, a replay that stops between sending and deleting and is run again (the consumer still counts
once), and a deployed stack found through its outputs."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from emma.resources import (
    JOURNEYS_QUEUE,
    MESSAGES_QUEUE,
    QUEUES,
    REQUEST_QUEUES,
    SES_FEEDBACK_QUEUE,
    TRIGGERS_QUEUE,
    dead_letter_queue_url_output,
    queue_url_output,
    rule_dead_letter_queue_url_output,
)
from emma_local.lambdas import LambdaContext, sqs_event
from emma_local.replay import DeadLetterQueue, locate_local, replay, run

SES_SAMPLES = Path(__file__).resolve().parents[2] / "events" / "ses"
REGION, ACCOUNT = "eu-central-1", "123456789012"


def arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def rule_arn(name: str) -> str:
    return f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"


def canonical(event_id: str = "tracker:m-1") -> dict[str, Any]:
    """An event as EventBridge delivers it (ingest's canonical events, source emma.ingest)."""
    return {
        "version": "0",
        "id": "0b1c2d3e-aaaa-bbbb-cccc-000000000001",
        "detail-type": "product.viewed",
        "source": "emma.ingest",
        "account": ACCOUNT,
        "time": "2024-11-18T19:42:07Z",
        "region": REGION,
        "resources": [],
        "detail": {"id": event_id, "shop": "elektro-emma", "type": "product.viewed"},
    }


def eventbridge_attributes(target: str, rule: str, code: str = "SDK_CLIENT_ERROR") -> dict[str, Any]:
    """The attributes EventBridge adds to a message it parks in a rule target's dead-letter queue."""
    values = {
        "RULE_ARN": rule_arn(rule),
        "TARGET_ARN": arn(target),
        "ERROR_CODE": code,
        "ERROR_MESSAGE": "Access to the resource is denied",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttemptsExhausted",
        "RETRY_ATTEMPTS": "185",
    }
    return {k: {"DataType": "String", "StringValue": v} for k, v in values.items()}


@pytest.fixture
def world(aws):
    session, provisioned = aws
    sqs = session.client("sqs")
    queues = {q.name: q for q in locate_local(sqs)}
    return sqs, queues, provisioned


def park(sqs: Any, url: str, body: str, attributes: dict[str, Any] | None = None) -> str:
    kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
    if attributes:
        kwargs["MessageAttributes"] = attributes
    return str(sqs.send_message(**kwargs)["MessageId"])


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message now visible in the queue (received and deleted)."""
    found: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            return found
        found += batch
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def visible(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


def run_replay(sqs: Any, queues: list[DeadLetterQueue], **kwargs: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = replay(sqs, queues, wait_seconds=0, out=out, err=err, **kwargs)
    return status, out.getvalue(), err.getvalue()


def test_local_names_cover_every_queue_def_with_both_dead_letter_queues(world):
    _, queues, provisioned = world
    expected = {q.dead_letter_queue_name for q in (*QUEUES, *REQUEST_QUEUES)} | {
        q.rule_dead_letter_queue_name for q in QUEUES
    }
    assert set(queues) == expected
    for q in QUEUES:
        rule_dlq = queues[q.rule_dead_letter_queue_name]
        assert (rule_dlq.kind, rule_dlq.url) == ("rule", provisioned.rule_dlq_urls[q.logical_id])
        assert rule_dlq.destination_url == provisioned.queue_urls[q.logical_id]
        own = queues[q.dead_letter_queue_name]
        assert (own.kind, own.url, own.destination) == ("queue", provisioned.dlq_urls[q.logical_id], q.name)
    assert queues[MESSAGES_QUEUE.dead_letter_queue_name].destination_url == provisioned.queue_urls["MessagesQueue"]


def test_the_local_rules_have_a_dead_letter_queue_and_retry_policy(aws):
    session, provisioned = aws
    events = session.client("events")
    (target,) = events.list_targets_by_rule(Rule=TRIGGERS_QUEUE.rule_name, EventBusName="emma-events")["Targets"]
    sqs = session.client("sqs")
    rule_dlq = sqs.get_queue_attributes(
        QueueUrl=provisioned.rule_dlq_urls[TRIGGERS_QUEUE.logical_id], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert target["DeadLetterConfig"] == {"Arn": rule_dlq}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}


def test_a_rule_dead_letter_event_goes_to_the_rules_queue_as_the_rule_would_have_delivered_it(world):
    sqs, queues, _ = world
    dlq = queues[TRIGGERS_QUEUE.rule_dead_letter_queue_name]
    body = json.dumps(canonical())
    park(sqs, dlq.url, body, eventbridge_attributes(TRIGGERS_QUEUE.name, TRIGGERS_QUEUE.rule_name))

    status, out, err = run_replay(sqs, [dlq])

    assert (status, err) == (0, "")
    assert "event 0b1c2d3e-aaaa-bbbb-cccc-000000000001 product.viewed from emma.ingest" in out
    assert "[SDK_CLIENT_ERROR: Access to the resource is denied]" in out
    assert "emma-triggers-rule-dlq: 1 moved to emma-triggers, 0 stayed" in out
    (delivered,) = drain(sqs, dlq.destination_url)
    assert delivered["Body"] == body  # byte for byte: the consumer sees the event as the rule delivers it
    assert "MessageAttributes" not in delivered  # EventBridge's error attributes are not passed on
    assert drain(sqs, dlq.url) == []


def test_a_queue_dead_letter_record_goes_back_to_its_queue_with_its_attributes(world):
    sqs, queues, _ = world
    journeys = queues[JOURNEYS_QUEUE.dead_letter_queue_name]
    messages = queues[MESSAGES_QUEUE.dead_letter_queue_name]
    event_body = json.dumps(canonical("shopify:order-1"))
    request_body = json.dumps({"key": "exec-1:step-2:2024-11-18T19:42:07Z", "shop": "elektro-emma"})
    park(sqs, journeys.url, event_body)
    park(sqs, messages.url, request_body, {"kind": {"DataType": "String", "StringValue": "email"}})

    status, out, _ = run_replay(sqs, [journeys, messages])

    assert status == 0
    assert "record exec-1:step-2:2024-11-18T19:42:07Z" in out
    assert [m["Body"] for m in drain(sqs, journeys.destination_url)] == [event_body]
    (request,) = drain(sqs, messages.destination_url)
    assert request["Body"] == request_body
    assert request["MessageAttributes"]["kind"]["StringValue"] == "email"
    assert visible(sqs, journeys.url) == visible(sqs, messages.url) == 0


def test_dry_run_lists_what_would_move_and_leaves_it_visible(world):
    sqs, queues, _ = world
    dlq = queues[SES_FEEDBACK_QUEUE.rule_dead_letter_queue_name]
    ids = [
        park(sqs, dlq.url, json.dumps(canonical(f"ses:{i}")), eventbridge_attributes(dlq.destination, "r"))
        for i in range(3)
    ]

    status, out, _ = run_replay(sqs, [dlq], dry_run=True)

    assert status == 0
    assert all(f"{i}  event" in out and "would move to emma-ses-feedback" in out for i in ids)
    assert "3 would move, 0 would stay (--dry-run)" in out
    assert visible(sqs, dlq.destination_url) == 0
    assert visible(sqs, dlq.url) == 3  # shown again at once, not after the visibility timeout


def test_max_limits_the_messages_handled_over_all_queues(world):
    sqs, queues, _ = world
    first, second = queues[TRIGGERS_QUEUE.dead_letter_queue_name], queues[JOURNEYS_QUEUE.dead_letter_queue_name]
    for i in range(3):
        park(sqs, first.url, json.dumps(canonical(f"tracker:{i}")))
        park(sqs, second.url, json.dumps(canonical(f"tracker:{i}")))

    status, _, _ = run_replay(sqs, [first, second], limit=4)

    assert status == 0
    assert (visible(sqs, first.destination_url), visible(sqs, second.destination_url)) == (3, 1)
    assert (visible(sqs, first.url), visible(sqs, second.url)) == (0, 2)


def test_a_poison_message_stays_named_with_its_queue_and_problem_and_the_others_move(world):
    sqs, queues, _ = world
    dlq = queues[TRIGGERS_QUEUE.rule_dead_letter_queue_name]
    attributes = eventbridge_attributes(TRIGGERS_QUEUE.name, TRIGGERS_QUEUE.rule_name)
    not_an_event = park(sqs, dlq.url, "not json {", attributes)
    elsewhere = park(sqs, dlq.url, json.dumps(canonical()), eventbridge_attributes("emma-other", "x"))
    good = park(sqs, dlq.url, json.dumps(canonical("tracker:good")), attributes)

    status, out, err = run_replay(sqs, [dlq])

    assert status == 1
    assert f"emma: emma-triggers-rule-dlq: message {not_an_event} stayed: the body is not an EventBridge event" in err
    assert (
        f"emma: emma-triggers-rule-dlq: message {elsewhere} stayed: EventBridge parked it for {arn('emma-other')}"
        in err
    )
    assert f"{good}  event" in out and "1 moved to emma-triggers, 2 stayed" in out
    assert [json.loads(m["Body"])["detail"]["id"] for m in drain(sqs, dlq.destination_url)] == ["tracker:good"]
    assert sorted(m["MessageId"] for m in drain(sqs, dlq.url)) == sorted([not_an_event, elsewhere])  # visible again

    # Run again: the poison stays poison, nothing is sent twice.
    park(sqs, dlq.url, "not json {", attributes)
    assert run_replay(sqs, [dlq])[0] == 1
    assert visible(sqs, dlq.destination_url) == 0


def test_a_message_the_destination_refuses_stays(world):
    sqs, queues, _ = world
    dlq = queues[TRIGGERS_QUEUE.dead_letter_queue_name]
    kept = park(sqs, dlq.url, json.dumps(canonical()))

    class Refusing:
        def __getattr__(self, name: str) -> Any:
            return getattr(sqs, name)

        def send_message_batch(self, **kwargs: Any) -> dict[str, Any]:
            return {"Failed": [{"Id": e["Id"], "Code": "KMS.AccessDenied", "Message": "no"} for e in kwargs["Entries"]]}

    status, _, err = run_replay(Refusing(), [dlq])

    assert status == 1
    assert f"message {kept} stayed: emma-triggers refused it: KMS.AccessDenied: no" in err
    assert visible(sqs, dlq.url) == 1


def test_an_aws_error_names_the_queue_and_leaves_the_messages(world):
    sqs, queues, _ = world
    dlq = queues[TRIGGERS_QUEUE.dead_letter_queue_name]
    park(sqs, dlq.url, json.dumps(canonical()))
    sqs.delete_queue(QueueUrl=dlq.destination_url)

    status, _, err = run_replay(sqs, [dlq])

    assert status == 1
    assert err.startswith("emma: emma-triggers-dlq: ")
    assert "NonExistentQueue" in err or "QueueDoesNotExist" in err
    assert visible(sqs, dlq.url) == 1


# --- replaying twice ------------------------------------------------------------------------------


@pytest.fixture
def ses_feedback(aws, monkeypatch):
    """The ses_feedback handler wired to moto (as in test_ses_feedback.py)."""
    _, provisioned = aws
    for name, value in provisioned.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Emma")
    from ses_feedback import handler

    handler.components.cache_clear()
    yield handler
    handler.components.cache_clear()


def test_a_replay_stopped_between_sending_and_deleting_can_run_again_and_the_consumer_counts_once(world, ses_feedback):
    sqs, queues, _ = world
    dlq = queues[SES_FEEDBACK_QUEUE.rule_dead_letter_queue_name]
    delivery = (SES_SAMPLES / "delivery.json").read_text(encoding="utf-8")  # SES's event on the default bus
    park(sqs, dlq.url, delivery, eventbridge_attributes(dlq.destination, SES_FEEDBACK_QUEUE.rule_name))

    class DeleteFails:  # the run dies after the send: the message was re-sent and is still in the DLQ
        def __getattr__(self, name: str) -> Any:
            return getattr(sqs, name)

        def delete_message_batch(self, **kwargs: Any) -> dict[str, Any]:
            return {
                "Failed": [{"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in kwargs["Entries"]]
            }

    first, _, err = run_replay(DeleteFails(), [dlq])
    assert first == 1 and "sent to emma-ses-feedback but not deleted (InternalError)" in err
    second, out, _ = run_replay(sqs, [dlq])
    assert second == 0 and "1 moved" in out
    third, out, _ = run_replay(sqs, [dlq])  # nothing left: a third run moves nothing
    assert third == 0 and "0 moved" in out

    delivered = drain(sqs, dlq.destination_url)
    assert [m["Body"] for m in delivered] == [delivery, delivery]  # at least once: the same event twice
    arn_ = sqs.get_queue_attributes(QueueUrl=dlq.destination_url, AttributeNames=["QueueArn"])["Attributes"]
    result = ses_feedback.lambda_handler(sqs_event(delivered, arn_["QueueArn"]), LambdaContext("ses_feedback"))
    assert result["batchItemFailures"] == []
    lena = ses_feedback.components().service.resolve("elektro-emma", "lena.schmidt@example.de")
    assert lena.channels["email"].delivered == 1  # idempotent by event id: counted once


# --- the command: a deployed stack, arguments --------------------------------------------------------

STACK_TEMPLATE_QUEUES = (TRIGGERS_QUEUE, SES_FEEDBACK_QUEUE)


def deploy_stack(session: Any, name: str = "Emma") -> None:
    """A stack whose outputs name the queues as EmmaStack's do (CloudFormation names the queues)."""
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for q in STACK_TEMPLATE_QUEUES:
        for logical_id, output in (
            (f"{q.logical_id}Queue", queue_url_output(q.logical_id)),
            (f"{q.logical_id}Dlq", dead_letter_queue_url_output(q.logical_id)),
            (f"{q.logical_id}RuleDlq", rule_dead_letter_queue_url_output(q.logical_id)),
        ):
            resources[logical_id] = {"Type": "AWS::SQS::Queue"}
            outputs[output] = {"Value": {"Ref": logical_id}}
    template = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources, "Outputs": outputs}
    session.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def run_command(session: Any, *names: str, **kwargs: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    factory = lambda **_: session  # noqa: E731 - the moto session whatever profile or region is asked for
    status = run(list(names), out=out, err=err, session_factory=factory, wait_seconds=0, **kwargs)
    return status, out.getvalue(), err.getvalue()


def stack_queue_url(session: Any, output: str, stack: str = "Emma") -> str:
    (found,) = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    return next(o["OutputValue"] for o in found["Outputs"] if o["OutputKey"] == output)


def test_a_deployed_stack_is_found_through_its_outputs(aws):
    session, _ = aws
    deploy_stack(session)
    sqs = session.client("sqs")
    rule_dlq = stack_queue_url(session, rule_dead_letter_queue_url_output(TRIGGERS_QUEUE.logical_id))
    destination = stack_queue_url(session, queue_url_output(TRIGGERS_QUEUE.logical_id))
    target_arn = sqs.get_queue_attributes(QueueUrl=destination, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = eventbridge_attributes("x", "y")
    attributes["TARGET_ARN"]["StringValue"] = target_arn
    park(sqs, rule_dlq, json.dumps(canonical()), attributes)

    status, out, err = run_command(session, "all")

    assert (status, err) == (0, "")
    # Only what the stack has: no partner queue, no messages queue in this stack.
    assert [line.split(" ")[0] for line in out.splitlines() if "dead-letter queue) ->" in line] == [
        "emma-triggers-dlq",
        "emma-triggers-rule-dlq",
        "emma-ses-feedback-dlq",
        "emma-ses-feedback-rule-dlq",
    ]
    assert visible(sqs, destination) == 1 and visible(sqs, rule_dlq) == 0


def test_errors_name_the_stack_or_queue_and_exit_2(aws):
    session, _ = aws
    status, _, err = run_command(session, "all", stack="Nope")
    assert status == 2 and err.startswith("emma: stack Nope: ValidationError")
    deploy_stack(session)
    status, _, err = run_command(session, "emma-triggers-dlq", "emma-nope-dlq", "emma-shopify-partner-dlq")
    assert status == 2
    assert "emma-nope-dlq: no such dead-letter queue" in err
    assert "emma-shopify-partner-dlq: not in this deployment" in err
    assert run_command(session, "all", limit=0)[0] == 2


def test_local_mode_needs_the_emulators_address(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    err = io.StringIO()
    assert run(["all"], local=True, err=err) == 2
    assert "--local needs the emulator's address" in err.getvalue()


def test_no_credentials_is_a_clear_error(aws):
    session, _ = aws

    class NoCredentials:
        def __getattr__(self, name: str) -> Any:
            return getattr(session, name)

        def get_credentials(self) -> None:
            return None

    out, err = io.StringIO(), io.StringIO()
    assert run(["all"], out=out, err=err, session_factory=lambda **_: NoCredentials()) == 2
    assert "no AWS credentials" in err.getvalue()


def test_the_cli_registers_replay():
    from emma_local.cli import build_parser

    args = build_parser().parse_args(["replay", "all", "--dry-run", "--max", "5", "--region", "eu-west-1"])
    assert (args.queues, args.dry_run, args.max, args.region, args.stack) == (["all"], True, 5, "eu-west-1", "Emma")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["replay"])  # name the queues, or all
