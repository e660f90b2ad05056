"""Journey control, fed by the bus through its queue: entry events (trigger.fired, segment.entered)
start one execution per customer and entry (named deterministically, so a re-delivery cannot start a
customer twice), exit events stop running executions, awaited events hand parked task tokens back.
A friend's first order with another customer's referral code is recorded as a referral on both profiles
(emma.offers.referrals). Failed records are partial batch failures, retried by SQS and parked in the DLQ."""

from __future__ import annotations

import functools

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from emma.config import JourneySettings
from emma.edge.sqs import QueueConsumer, canonical_events
from emma.wiring.journeys import Journeys, build_journeys

consumer = QueueConsumer()
logger, tracer, metrics = consumer.logger, consumer.tracer, consumer.metrics


@functools.cache
def components() -> Journeys:
    return build_journeys(JourneySettings())  # type: ignore[call-arg]  # read from the environment


def handle(record: SQSRecord) -> None:
    parts = components()
    for event in canonical_events(record):
        consumer.note(event_id=event.id)
        done = parts.service.on_event(event)
        done += parts.referrals.on_event(event)  # idempotent by order: a redelivery records nothing twice
        if done:
            logger.info("journeys", extra={"done": done})
        metrics.add_metric("JourneyActions", MetricUnit.Count, len(done))


lambda_handler = consumer.handler(handle)
