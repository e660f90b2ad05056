"""Drains the triggers queue (every canonical event ingest publishes). A record that fails is
reported as a partial batch failure, retried by SQS and finally parked in the DLQ with its reason
logged; the rest of the batch proceeds. A re-delivered event never fires a trigger twice."""

from __future__ import annotations

import functools

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from emma.config import RulesSettings
from emma.edge.sqs import QueueConsumer, canonical_events
from emma.wiring.rules import Rules, build_rules

consumer = QueueConsumer()
logger, tracer, metrics = consumer.logger, consumer.tracer, consumer.metrics


@functools.cache
def components() -> Rules:
    return build_rules(RulesSettings())  # type: ignore[call-arg]  # read from the environment


def handle(record: SQSRecord) -> None:
    for event in canonical_events(record):
        consumer.note(event_id=event.id)
        report = components().service.on_event(event)
        metrics.add_metric("TriggersFired", MetricUnit.Count, len(report.fired))
        metrics.add_metric("SegmentChanges", MetricUnit.Count, len(report.entered) + len(report.left))


lambda_handler = consumer.handler(handle)
