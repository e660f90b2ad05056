"""Drains the analytics queue (message events, orders, consent withdrawals, the dispatcher's skips, the
journeys' progress) into the counters and the customers' analytics items, each event exactly once. A
record that fails is reported as a partial batch failure, retried by SQS and finally parked in the DLQ."""

from __future__ import annotations

import functools
import json

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from emma.config import AnalyticsSettings
from emma.edge.sqs import QueueConsumer, canonical_events
from emma.events.model import CanonicalEvent
from emma.resources import ANALYTICS_EVENT_TYPES
from emma.wiring.analytics import Analytics, build_analytics

consumer = QueueConsumer()
logger, tracer, metrics = consumer.logger, consumer.tracer, consumer.metrics


@functools.cache
def components() -> Analytics:
    return build_analytics(AnalyticsSettings())  # type: ignore[call-arg]  # read from the environment


def handle(record: SQSRecord) -> None:
    source = json.loads(record.body).get("source")
    for event in canonical_events(record):
        if str(event.type) not in ANALYTICS_EVENT_TYPES:
            continue  # a bundle's other events: its rule matched on one of the counted types
        consumer.note(event_id=event.id, event_type=str(event.type))
        count(event, source)


def count(event: CanonicalEvent, source: str | None) -> None:
    outcome = components().service.on_event(event, source=source)
    if outcome == "duplicate":
        metrics.add_metric("AnalyticsDuplicates", MetricUnit.Count, 1)
    elif not outcome.startswith("ignored"):
        metrics.add_metric("AnalyticsCounted", MetricUnit.Count, 1)
    # Deliverability, for the complaint-rate alarm (metric math over these two; per shop: the reports).
    counted = getattr(outcome, "counted", {})
    if counted.get("delivered"):
        metrics.add_metric(
            "EmailDelivered" if event.type.value.startswith("email.") else "Delivered", MetricUnit.Count, 1
        )
    if counted.get("complained"):
        metrics.add_metric("EmailComplained", MetricUnit.Count, 1)


lambda_handler = consumer.handler(handle)
