"""The queue consumers' handler (emma.edge.sqs): partial batch failures, one way of logging and
counting a failed record, and the record's noted keys kept to that record."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from emma.edge.sqs import QueueConsumer, json_body
from emma.errors import InvalidPayload
from emma_local.lambdas import LambdaContext, sqs_event

QUEUE = "arn:aws:sqs:eu-central-1:123456789012:emma-test"


@pytest.fixture(autouse=True)
def env(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    # A service of its own: a new Powertools logger, writing to the stdout capsys captures.
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", f"emma-test-{uuid.uuid4().hex[:8]}")


def batch(*bodies: str) -> dict[str, Any]:
    messages = [{"MessageId": f"m-{i}", "ReceiptHandle": f"rh-{i}", "Body": body} for i, body in enumerate(bodies)]
    return sqs_event(messages, QUEUE)


def failed(result: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


def output(capsys) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(log lines, metric records) written so far."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    metrics = [line for line in lines if "_aws" in line]
    return [line for line in lines if "_aws" not in line], metrics


def consumer_of(handle, **options) -> Any:
    consumer = QueueConsumer(**options)
    return consumer, consumer.handler(lambda record: handle(consumer, record))


def handle(consumer: QueueConsumer, record) -> None:
    consumer.note(event_id=f"e-{record.body}")
    if record.body == "bad":
        raise InvalidPayload("not an event")
    if record.body == "boom":
        raise RuntimeError("store outage")
    consumer.logger.info("handled")


def test_only_the_records_that_raise_are_reported_and_the_rest_of_the_batch_proceeds(capsys):
    _, handler = consumer_of(handle)
    result = handler(batch("a", "bad", "b", "boom"), LambdaContext("test"))
    assert failed(result) == ["m-1", "m-3"]
    logs, metrics = output(capsys)
    assert [(line["message"], line["message_id"], line["event_id"]) for line in logs] == [
        ("handled", "m-0", "e-a"),
        ("record refused", "m-1", "e-bad"),
        ("handled", "m-2", "e-b"),
        ("record failed", "m-3", "e-boom"),
    ]
    refused, broken = logs[1], logs[3]
    assert refused["level"] == broken["level"] == "ERROR"
    assert (refused["error"], refused["reason"]) == ("InvalidPayload", "not an event")
    assert (broken["error"], broken["reason"]) == ("RuntimeError", "store outage")
    assert "exception" not in refused and "store outage" in broken["exception"]  # a traceback only when unexpected
    assert [m["RecordsFailed"] for m in metrics] == [[1.0, 1.0]]


def test_logs_and_metrics_carry_the_service_name_of_the_environment(capsys):
    service = os.environ["POWERTOOLS_SERVICE_NAME"]
    _, handler = consumer_of(handle)
    handler(batch("a", "boom"), LambdaContext("test"))
    logs, metrics = output(capsys)
    assert {line["service"] for line in logs} == {service}
    assert [(m["service"], m["_aws"]["CloudWatchMetrics"][0]["Namespace"]) for m in metrics] == [(service, "Emma")]


def test_noted_keys_stay_with_their_record(capsys):
    consumer, handler = consumer_of(handle)
    handler(batch("a"), LambdaContext("test"))
    consumer.logger.info("after the batch")
    logs, _ = output(capsys)
    assert "event_id" not in logs[-1] and "message_id" not in logs[-1]


def test_a_batch_whose_records_all_fail_is_a_function_error_unless_told_otherwise():
    _, handler = consumer_of(handle)
    with pytest.raises(BatchProcessingError):
        handler(batch("bad", "boom"), LambdaContext("test"))
    _, handler = consumer_of(handle, raise_on_entire_batch_failure=False)
    assert failed(handler(batch("bad", "boom"), LambdaContext("test"))) == ["m-0", "m-1"]


def test_a_body_that_is_not_json_is_an_invalid_payload_naming_the_message():
    _, handler = consumer_of(lambda consumer, record: json_body(record), raise_on_entire_batch_failure=False)
    assert failed(handler(batch('{"a": 1}', "{nope", "[" * 100_000), LambdaContext("test"))) == ["m-1", "m-2"]
    record = type("Record", (), {"body": "{nope", "message_id": "m-9"})()
    with pytest.raises(InvalidPayload, match="SQS message m-9 is not JSON"):
        json_body(record)


def test_canonical_events_reads_a_bundle_in_order_and_a_single_event_as_published_before():
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from emma.adapters.eventbridge import to_entries
    from emma.edge.sqs import canonical_events
    from factories import event

    sent = [event("page.viewed", id="a"), event("customer.updated", id="b", traits={"plan": "x"})]
    ((_, entry),) = to_entries(sent, "bus")
    body = json.dumps(
        {"source": entry["Source"], "detail-type": entry["DetailType"], "detail": json.loads(entry["Detail"])}
    )
    (record,) = (SQSRecord(r) for r in batch(body)["Records"])
    assert [(e.id, str(e.type)) for e in canonical_events(record)] == [("a", "page.viewed"), ("b", "customer.updated")]
    legacy = json.dumps({"source": "emma.ingest", "detail": json.loads(sent[0].model_dump_json())})
    (record,) = (SQSRecord(r) for r in batch(legacy)["Records"])
    assert [e.id for e in canonical_events(record)] == ["a"]
    (record,) = (SQSRecord(r) for r in batch(json.dumps({"detail": {"events": [{"id": "x"}]}}))["Records"])
    with pytest.raises(InvalidPayload, match="m-0 is not a canonical event"):
        canonical_events(record)
