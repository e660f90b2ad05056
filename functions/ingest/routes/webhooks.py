"""Shop webhooks: Shopify, WooCommerce and Shopware 6, each verified with the shop's own secret.

Order of checks: known platform and shop (404) -> signature over the raw body, and the delivery meant
for this shop (401) -> ping (200) -> topic and payload (4xx) -> store and publish -> 200. Shopify's
compliance topics (customers/data_request, customers/redact, shop/redact) queue a privacy job instead. Nothing is
parsed before the signature is verified. Everything platform-specific is the platform's
``WebhookSource`` (emma.sources.webhooks).
"""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from emma.errors import InvalidSignature, NotFound
from ingest import deps
from ingest.http import json_response, lower_headers, raw_body, received_at
from ingest.tracking import WEBHOOK_RESPONSES

router = APIGatewayHttpRouter()
metrics = Metrics()


@router.post(
    "/webhooks/<platform>/<shop>",
    cors=False,
    summary="Receive a signed shop webhook",
    tags=["webhooks"],
    description="platform is shopify (X-Shopify-Hmac-Sha256), woocommerce (X-WC-Webhook-Signature) "
    "or shopware (shopware-shop-signature); the body is verified with the shop's secret "
    "for that platform before anything is read.",
    responses=WEBHOOK_RESPONSES,
    enable_validation=False,  # two path segments, any text: nothing for the resolver to check
)
def webhook(platform: str, shop: str):
    # Registered when the handler is imported (a cold start); the platforms' mappings and the canonical
    # event models are imported by the first delivery.
    from emma.sources import shopify
    from emma.sources.common import load_json_object
    from emma.sources.webhooks import WEBHOOK_SOURCES

    source = WEBHOOK_SOURCES.get(platform)
    if source is None:
        raise NotFound(f"unknown platform {platform!r}; use one of {sorted(WEBHOOK_SOURCES)}")
    components = deps.intake()
    config = components.shops.get(shop)
    secret = config.webhook_secrets.get(source.name)
    if not secret:
        raise InvalidSignature(f"shop {shop!r} has no {source.name} webhook secret configured")
    event = router.current_event
    body = raw_body(event)
    headers = lower_headers(event)
    source.verify(secret, body, headers)
    source.check_shop(config, headers)
    if source.is_ping(body):
        return json_response(200, {"success": True, "ping": True})
    topic, delivery_id = source.delivery_of(headers, body)
    payload = load_json_object(body, f"{source.name} {topic}")
    if source.name == "shopify" and topic in shopify.PRIVACY_TOPICS:
        # Shopify's mandatory compliance webhooks: queued (answered well within Shopify's 5 s), done by
        # the privacy schedule within minutes; a re-delivery finds the same job.
        request = shopify.compliance_request(topic, delivery_id, payload)
        job = deps.privacy().request(
            config,
            request.kind,
            list(request.refs),
            f"shopify:{topic}",
            request_id=request.request_id,
            orders=list(request.orders),
            notify=request.kind == "export",
        )
        metrics.add_dimension("shop", shop)
        metrics.add_metric("ComplianceRequests", MetricUnit.Count, 1)
        return json_response(200, {"success": True, "topic": topic, "delivery_id": delivery_id, "job_id": job.job_id})
    events = source.map_delivery(shop, topic, delivery_id, payload, received_at(event))
    report = components.service.ingest(events)
    metrics.add_dimension("shop", shop)
    metrics.add_metric("WebhooksAccepted", MetricUnit.Count, 1)
    metrics.add_metric("EventsAccepted", MetricUnit.Count, len(report.accepted))
    metrics.add_metric("EventsDuplicate", MetricUnit.Count, len(report.duplicates))
    return json_response(200, {"success": True, "topic": topic, "delivery_id": delivery_id, **report.as_dict()})
