"""Drains the messages queue: one message request per record, decided, rendered and sent at most
once (emma.dispatch.service). A record that fails (a render error, a provider refusal, a store
hiccup) is a partial batch failure: SQS retries it and parks it in the DLQ after five attempts; the
decision that failed is on the profile's message log."""

from __future__ import annotations

import functools
import json

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from emma.config import DispatchSettings
from emma.dispatch.request import MessageRequest
from emma.edge.sqs import QueueConsumer
from emma.errors import InvalidPayload
from emma.wiring.dispatch import Dispatch, build_dispatch

consumer = QueueConsumer()
logger, tracer, metrics = consumer.logger, consumer.tracer, consumer.metrics


@functools.cache
def components() -> Dispatch:
    return build_dispatch(DispatchSettings())  # type: ignore[call-arg]  # read from the environment


def parse_request(body: str, message_id: str) -> MessageRequest:
    try:
        return MessageRequest.model_validate(json.loads(body))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise InvalidPayload(f"SQS message {message_id} is not a message request: {str(exc)[:300]}") from exc


def handle(record: SQSRecord) -> None:
    request = parse_request(record.body, record.message_id)
    consumer.note(key=request.key)
    report = components().service.dispatch(request)
    logger.info("dispatched", extra={"outcome": report.outcome, "channel": report.channel, "reason": report.reason})
    metrics.add_metric(f"Messages{report.outcome.capitalize()}", MetricUnit.Count, 1)
    for name, value in report.metrics.items():  # CouponProviderFailures, CouponPoolLow: alarms (infra dispatch)
        metrics.add_metric(name, MetricUnit.Count, value)


lambda_handler = consumer.handler(handle)
