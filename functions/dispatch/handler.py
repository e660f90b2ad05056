"""Drains the messages queue: one message request per record, decided, rendered and sent at most
once (emma.dispatch.service). A record that fails (a render error, a provider refusal, a store
hiccup) is a partial batch failure: SQS retries it and parks it in the DLQ after five attempts; the
decision that failed is on the profile's message log."""

from __future__ import annotations

import functools
import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from emma.config import DispatchSettings
from emma.dispatch.request import MessageRequest
from emma.errors import InvalidPayload
from emma.wiring.dispatch import Dispatch, build_dispatch

logger = Logger(service="emma-dispatch")
tracer = Tracer(service="emma-dispatch")
metrics = Metrics(namespace="Emma", service="emma-dispatch")
processor = BatchProcessor(event_type=EventType.SQS)


@functools.cache
def components() -> Dispatch:
    return build_dispatch(DispatchSettings())  # type: ignore[call-arg]  # read from the environment


def parse_request(body: str, message_id: str) -> MessageRequest:
    try:
        return MessageRequest.model_validate(json.loads(body))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise InvalidPayload(f"SQS message {message_id} is not a message request: {str(exc)[:300]}") from exc


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    try:
        request = parse_request(record.body, record.message_id)
    except InvalidPayload as exc:
        logger.error("bad message request", extra={"message_id": record.message_id, "reason": str(exc)})
        raise
    try:
        report = components().service.dispatch(request)
    except Exception as exc:
        logger.exception("dispatch failed", extra={"key": request.key, "reason": str(exc)[:500]})
        raise
    logger.info(
        "dispatched",
        extra={"key": request.key, "outcome": report.outcome, "channel": report.channel, "reason": report.reason},
    )
    metrics.add_metric(f"Messages{report.outcome.capitalize()}", MetricUnit.Count, 1)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
