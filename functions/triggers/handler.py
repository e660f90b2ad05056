"""Drains the triggers queue (every canonical event ingest publishes). A record that fails is
reported as a partial batch failure, retried by SQS and finally parked in the DLQ with its reason
logged; the rest of the batch proceeds. A re-delivered event never fires a trigger twice."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from emma.adapters.eventbridge import from_queue_message
from emma.config import RulesSettings
from emma.errors import InvalidPayload
from emma.wiring.rules import Rules, build_rules

logger = Logger(service="emma-triggers")
tracer = Tracer(service="emma-triggers")
metrics = Metrics(namespace="Emma", service="emma-triggers")
processor = BatchProcessor(event_type=EventType.SQS)


@functools.cache
def components() -> Rules:
    return build_rules(RulesSettings())  # type: ignore[call-arg]  # read from the environment


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    try:
        event = from_queue_message(record.body, record.message_id)
    except InvalidPayload as exc:
        logger.error("not a canonical event", extra={"message_id": record.message_id, "reason": str(exc)[:500]})
        raise
    try:
        report = components().service.on_event(event)
    except Exception as exc:
        logger.exception("evaluation failed", extra={"event_id": event.id, "reason": str(exc)[:500]})
        raise
    metrics.add_metric("TriggersFired", MetricUnit.Count, len(report.fired))
    metrics.add_metric("SegmentChanges", MetricUnit.Count, len(report.entered) + len(report.left))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
