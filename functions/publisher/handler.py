"""Fed by the profiles table's stream (only the profile writes that stored events: the event source
mapping's filter): logs and publishes each write's outbox (emma.ingest.outbox), in the stream's order.

A batch that fails (EventBridge or DynamoDB unavailable) is reported from its first record, so Lambda
retries it with everything after it; logging and publishing the same outbox again changes nothing
(consumers are idempotent per event). An outbox that cannot be read (a bug, never a sender's doing) is
logged whole, counted (OutboxUnreadable) and passed over, so it cannot hold up the shard.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from emma.adapters.dynamodb import outbox_from_image
from emma.config import PublisherSettings
from emma.edge import tracing
from emma.errors import EmmaError, EventTooLarge, InvalidPayload
from emma.ingest.outbox import Outbox
from emma.wiring.publisher import Publisher, build_publisher

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics(namespace="Emma")


@functools.cache
def components() -> Publisher:
    return build_publisher(PublisherSettings())  # type: ignore[call-arg]  # read from the environment


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    outboxes: list[Outbox] = []
    for record in records:
        image = (record.get("dynamodb") or {}).get("NewImage") or {}
        try:
            outbox = outbox_from_image(image)
        except InvalidPayload as exc:
            logger.error("unreadable outbox passed over", extra={"reason": str(exc), "record": record})
            metrics.add_metric("OutboxUnreadable", MetricUnit.Count, 1)
            continue
        if outbox is not None:
            outboxes.append(outbox)
    if not outboxes:
        return {"batchItemFailures": []}
    try:
        published = _relay(outboxes)
    except EmmaError as exc:  # the bus or the table failed: the whole batch again, in order
        logger.warning("outboxes not relayed; retrying", extra={"error": type(exc).__name__, "reason": str(exc)})
        metrics.add_metric("OutboxRetries", MetricUnit.Count, 1)
        return {"batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]}
    metrics.add_metric("EventsPublished", MetricUnit.Count, published)
    return {"batchItemFailures": []}


def _relay(outboxes: list[Outbox]) -> int:
    """Relay the outboxes; an event no entry can carry (which ingest never stores: this would be a bug) is logged
    whole, counted and left out, so it cannot hold up the stream."""
    while True:
        try:
            return components().relay.relay(outboxes)
        except EventTooLarge as exc:
            logger.error("event too large to publish, passed over", extra={"event_id": exc.event_id})
            metrics.add_metric("OutboxUnpublishable", MetricUnit.Count, 1)
            outboxes = [replace(o, events=tuple(e for e in o.events if e.id != exc.event_id)) for o in outboxes]
