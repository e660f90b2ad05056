"""Drains the Shopify partner-event queue: the same mapping as the HTTPS webhooks, minus the HMAC
(EventBridge authenticates the partner; emma.sources.shopify_partner). A record that fails is
reported as a partial batch failure, retried by SQS and finally parked in the DLQ; the rest of the
batch proceeds."""

from __future__ import annotations

import functools

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from emma.config import IngestSettings
from emma.edge.sqs import QueueConsumer, json_body
from emma.events.model import now_utc
from emma.sources.shopify_partner import read_partner_event
from emma.wiring.ingest import Intake, build_intake

consumer = QueueConsumer()
logger, tracer, metrics = consumer.logger, consumer.tracer, consumer.metrics


@functools.cache
def components() -> Intake:
    return build_intake(IngestSettings())  # type: ignore[call-arg]  # read from the environment


def handle(record: SQSRecord) -> None:
    """Map one EventBridge event from Shopify and ingest it."""
    envelope = json_body(record)
    intake = components()
    delivery = read_partner_event(envelope)
    shop = intake.shops.by_shopify_domain(delivery.shop_domain)
    report = intake.service.ingest(delivery.events(shop.shop, now_utc()))
    metrics.add_metric("EventsAccepted", MetricUnit.Count, len(report.accepted))


lambda_handler = consumer.handler(handle)
