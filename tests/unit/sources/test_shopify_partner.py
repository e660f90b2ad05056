"""Shopify webhooks through EventBridge (the partner event source): the same mapping as the HTTPS
webhooks, the shop found by its store's domain, received at the EventBridge event's time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from emma.errors import InvalidPayload, UnknownTopic
from emma.sources import shopify
from emma.sources.shopify_partner import read_partner_event

SAMPLES = Path(__file__).parents[3] / "events" / "shopify"
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
DOMAIN = "elektro-emma.myshopify.com"


def envelope(topic: str = "orders/paid", **changes: Any) -> dict[str, Any]:
    payload = json.loads((SAMPLES / f"{topic.replace('/', '_')}.json").read_text(encoding="utf-8"))
    detail = {
        "payload": payload,
        "metadata": {"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": "eb-1", "X-Shopify-Shop-Domain": DOMAIN},
    }
    detail.update(changes.pop("detail", {}))
    return {
        "source": "aws.partner/shopify.com/1/emma",
        "detail-type": "shopifyWebhook",
        "time": "2025-01-15T11:59:58Z",
        "detail": detail,
        **changes,
    }


def test_a_partner_event_maps_as_the_same_webhook_over_https():
    delivery = read_partner_event(envelope())
    assert delivery.shop_domain == DOMAIN
    events = delivery.events("elektro-emma", NOW)
    received = datetime(2025, 1, 15, 11, 59, 58, tzinfo=UTC)
    payload = envelope()["detail"]["payload"]
    assert events == shopify.map_delivery("elektro-emma", "orders/paid", "eb-1", payload, received)
    assert events and all(e.received_at == received for e in events)


def test_without_a_time_the_events_are_received_now():
    events = read_partner_event(envelope(time=None)).events("elektro-emma", NOW)
    assert events and all(e.received_at == NOW for e in events)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "expected an event object, got list"),
        ({"detail": "x"}, "without detail.payload"),
        ({"detail": {"payload": [], "metadata": {}}}, "without detail.payload"),
        ({"detail": {"payload": {}, "metadata": {"X-Shopify-Topic": "orders/paid"}}}, "without X-Shopify-Shop-Domain"),
    ],
)
def test_an_event_without_a_webhook_is_an_invalid_payload(event, message):
    with pytest.raises(InvalidPayload, match=message):
        read_partner_event(event)


def test_the_topic_and_delivery_id_come_from_the_metadata_as_from_the_headers():
    metadata = {"x-shopify-shop-domain": DOMAIN, "X-SHOPIFY-TOPIC": "orders/paid"}
    delivery = read_partner_event(envelope(detail={"metadata": metadata}))
    with pytest.raises(InvalidPayload, match="missing x-shopify-webhook-id or x-shopify-event-id header"):
        delivery.events("elektro-emma", NOW)
    metadata = {"X-Shopify-Shop-Domain": DOMAIN, "X-Shopify-Topic": "themes/publish", "X-Shopify-Event-Id": "e1"}
    with pytest.raises(UnknownTopic):
        read_partner_event(envelope(detail={"metadata": metadata})).events("elektro-emma", NOW)
