"""The ses_feedback function against moto: SES events, as SES publishes them to the default bus and the
queue hands them over, become profile changes; a malformed record fails alone (SQS retries it, then
parks it in the DLQ); a message Emma did not send is acknowledged, never retried."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from emma.resources import SES_FEEDBACK_QUEUE
from emma_local.lambdas import LambdaContext, sqs_event
from factories import event

SAMPLES = Path(__file__).resolve().parents[2] / "events" / "ses"
SHOP = "elektro-emma"
LENA, MAX, JONAS = "lena.schmidt@example.de", "max.mueller@example.de", "jonas.weber@example.de"
BEFORE = datetime(2024, 11, 1, 12, 0, tzinfo=UTC)  # consent given before the messages were sent
QUEUE_ARN = "arn:aws:sqs:eu-central-1:123456789012:emma-ses-feedback"


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def batch(*bodies: dict[str, Any] | str) -> dict[str, Any]:
    messages = [
        {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": f"rh-{i}",
            "Body": body if isinstance(body, str) else json.dumps(body),
        }
        for i, body in enumerate(bodies)
    ]
    return sqs_event(messages, QUEUE_ARN)


@pytest.fixture
def feedback(aws, monkeypatch):
    """The handler module, wired to moto's tables, bus and shop secrets through the environment."""
    _, res = aws
    for name, value in res.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Emma")
    from ses_feedback import handler

    handler.components.cache_clear()
    yield handler
    handler.components.cache_clear()


def invoke(handler: Any, sqs: dict[str, Any]) -> list[str]:
    """Run the Lambda handler; the message ids it reports as failed."""
    result = handler.lambda_handler(sqs, LambdaContext("ses_feedback"))
    return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]


def consent_granted(email: str) -> Any:
    return event(
        "consent.changed",
        id=f"seed-consent-{email}",
        at=BEFORE,
        source="shopify",
        customer={"email": email},
        channel="email",
        granted=True,
        proof={"source": "shopify:customers/update", "at": BEFORE, "double_opt_in": True},
    )


def profile(handler: Any, email: str) -> Any:
    return handler.components().service.resolve(SHOP, email)


def test_feedback_changes_profiles_and_a_malformed_record_fails_alone(feedback):
    # one at a time: in-process moto is not thread-safe, and ingest runs customers in parallel
    for email in (LENA, MAX, JONAS):
        feedback.components().service.ingest([consent_granted(email)])
    malformed = sample("open")
    del malformed["detail"]["mail"]["messageId"]
    not_emmas = sample("click")
    del not_emmas["detail"]["mail"]["tags"]["emma-shop"]
    sqs = batch(
        sample("send"),
        sample("delivery"),
        sample("open"),
        sample("click"),
        malformed,
        sample("bounce_permanent"),
        sample("complaint"),
        "not json {",
        not_emmas,
    )
    ids = [record["messageId"] for record in sqs["Records"]]

    assert invoke(feedback, sqs) == [ids[4], ids[7]]  # not_emmas is acknowledged: a retry cannot change it

    lena = profile(feedback, LENA)
    stats = lena.channels["email"]
    assert (stats.delivered, stats.opened, stats.clicked, stats.bounced) == (1, 1, 1, 0)
    assert stats.last_open_at == datetime(2024, 11, 18, 19, 42, 7, 618000, tzinfo=UTC)
    assert lena.consent["email"].granted is True and "email" not in lena.suppressions
    assert lena.event_counts["email.delivered"] == 1

    max_ = profile(feedback, MAX)
    assert max_.channels["email"].bounced == 1 and max_.suppressions["email"].reason == "hard_bounce"
    assert max_.consent["email"].granted is True  # a dead mailbox is not a withdrawal

    jonas = profile(feedback, JONAS)
    assert jonas.channels["email"].complained == 1 and jonas.suppressions["email"].reason == "complaint"
    assert jonas.consent["email"].granted is False
    assert jonas.consent["email"].proof.source == "ses:Email Complaint Received"


def test_a_redelivered_batch_counts_once(feedback):
    sqs = batch(sample("delivery"), sample("open"), sample("click"))
    assert invoke(feedback, sqs) == []
    assert invoke(feedback, batch(sample("delivery"), sample("open"), sample("click"))) == []
    stats = profile(feedback, LENA).channels["email"]
    assert (stats.delivered, stats.opened, stats.clicked) == (1, 1, 1)


def test_a_transient_bounce_is_counted_without_suppressing(feedback):
    transient = sample("bounce_permanent")
    transient["detail"]["bounce"].update(bounceType="Transient", bounceSubType="MailboxFull")
    assert invoke(feedback, batch(transient)) == []
    max_ = profile(feedback, MAX)
    assert max_.channels["email"].bounced == 1 and "email" not in max_.suppressions


def test_a_message_for_an_unknown_shop_fails(feedback):
    stranger = sample("delivery")
    stranger["detail"]["mail"]["tags"]["emma-shop"] = ["fahrrad-franz"]
    sqs = batch(stranger, sample("open"))
    assert invoke(feedback, sqs) == [sqs["Records"][0]["messageId"]]


def test_ses_events_on_the_default_bus_reach_the_function(aws, feedback):
    """The queue's rule on the default bus, as provisioned from emma.resources, takes SES's events."""
    session, res = aws
    events, sqs = session.client("events"), session.client("sqs")
    entries = []
    for name in ("delivery", "open"):
        envelope = sample(name)
        entries.append(
            {
                "Source": envelope["source"],
                "DetailType": envelope["detail-type"],
                "Detail": json.dumps(envelope["detail"]),
                "EventBusName": SES_FEEDBACK_QUEUE.bus,
            }
        )
    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
    url = res.queue_urls[SES_FEEDBACK_QUEUE.logical_id]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)["Messages"]
    assert len(messages) == 2

    assert invoke(feedback, sqs_event(messages, QUEUE_ARN)) == []
    stats = profile(feedback, LENA).channels["email"]
    assert (stats.delivered, stats.opened) == (1, 1)


def test_a_batch_of_failures_only_is_reported_record_by_record(feedback):
    """Not a function error: the records go back to the queue one by one, so the DLQ takes each after
    its fifth receive, and a message Emma did not send never goes there."""
    not_emmas = sample("delivery")
    del not_emmas["detail"]["mail"]["tags"]["emma-shop"]
    sqs = batch("not json {", not_emmas)
    ids = [record["messageId"] for record in sqs["Records"]]
    assert invoke(feedback, sqs) == [ids[0]]
    stranger = sample("delivery")
    stranger["detail"]["mail"]["tags"]["emma-shop"] = ["fahrrad-franz"]
    sqs = batch(stranger, "{")
    assert invoke(feedback, sqs) == [record["messageId"] for record in sqs["Records"]]
