"""Journey control, fed by the bus through its queue: entry events (trigger.fired, segment.entered)
start one execution per customer and entry (named deterministically, so a re-delivery cannot start a
customer twice), exit events stop running executions, awaited events hand parked task tokens back.
Failed records are partial batch failures, retried by SQS and parked in the DLQ."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from emma.adapters.eventbridge import from_queue_message
from emma.config import JourneySettings
from emma.errors import InvalidPayload
from emma.wiring.journeys import Journeys, build_journeys

logger = Logger(service="emma-journeys")
tracer = Tracer(service="emma-journeys")
metrics = Metrics(namespace="Emma", service="emma-journeys")
processor = BatchProcessor(event_type=EventType.SQS)


@functools.cache
def components() -> Journeys:
    return build_journeys(JourneySettings())  # type: ignore[call-arg]  # read from the environment


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    try:
        event = from_queue_message(record.body, record.message_id)
    except InvalidPayload as exc:
        logger.error("not a canonical event", extra={"message_id": record.message_id, "reason": str(exc)[:500]})
        raise
    try:
        done = components().service.on_event(event)
    except Exception as exc:
        logger.exception("journey control failed", extra={"event_id": event.id, "reason": str(exc)[:500]})
        raise
    if done:
        logger.info("journeys", extra={"event_id": event.id, "done": done})
    metrics.add_metric("JourneyActions", MetricUnit.Count, len(done))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
