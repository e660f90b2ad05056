"""Drains the Shopify partner-event queue: the same mapping as the HTTPS webhooks, minus the HMAC
(EventBridge authenticates the partner). A record that fails is reported as a partial batch
failure, retried by SQS and finally parked in the DLQ; the rest of the batch proceeds."""

from __future__ import annotations

import functools
import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from emma.config import IngestSettings
from emma.errors import InvalidPayload
from emma.events.model import now_utc
from emma.sources import shopify
from emma.sources.common import timestamp
from emma.wiring.ingest import Intake, build_intake

logger = Logger(service="emma-shopify-events")
tracer = Tracer(service="emma-shopify-events")
metrics = Metrics(namespace="Emma", service="emma-shopify-events")
processor = BatchProcessor(event_type=EventType.SQS)


@functools.cache
def components() -> Intake:
    return build_intake(IngestSettings())  # type: ignore[call-arg]  # read from the environment


def handle_partner_event(envelope: dict[str, Any], ingest: Intake) -> int:
    """Map one EventBridge event from Shopify and ingest it; returns the number of new events."""
    detail = envelope.get("detail")
    if not isinstance(detail, dict) or not isinstance(detail.get("payload"), dict):
        raise InvalidPayload("Shopify EventBridge event without detail.payload")
    metadata = {str(k).lower(): str(v) for k, v in (detail.get("metadata") or {}).items()}
    domain = metadata.get("x-shopify-shop-domain")
    if not domain:
        raise InvalidPayload("Shopify EventBridge event without X-Shopify-Shop-Domain metadata")
    shop = ingest.shops.by_shopify_domain(domain)
    topic, delivery_id = shopify.delivery_of(metadata, b"")
    received = timestamp(envelope.get("time"), "time") or now_utc()
    events = shopify.map_delivery(shop.shop, topic, delivery_id, detail["payload"], received)
    return len(ingest.service.ingest(events).accepted)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    try:
        envelope = json.loads(record.body)
    except json.JSONDecodeError as exc:
        raise InvalidPayload(f"SQS message {record.message_id} is not JSON") from exc
    accepted = handle_partner_event(envelope, components())
    metrics.add_metric("EventsAccepted", MetricUnit.Count, accepted)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
