"""Shopify webhooks delivered through Amazon EventBridge (Shopify's partner event source) -> canonical
events: the same topics and mapping as the HTTPS webhooks (emma.sources.shopify), minus the HMAC
(EventBridge authenticates the partner).

The EventBridge event's ``detail`` carries the webhook's headers as ``metadata`` (``X-Shopify-Topic``,
``X-Shopify-Webhook-Id``, ``X-Shopify-Shop-Domain``...) and its body as ``payload``. The shop is the
one whose ``shopify_domain`` the metadata names; the events are received when EventBridge received
the event (its ``time``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from emma.errors import InvalidPayload
from emma.events.model import CanonicalEvent
from emma.sources import shopify
from emma.sources.common import timestamp


@dataclass(frozen=True)
class PartnerEvent:
    """One Shopify webhook as the partner event source delivers it."""

    shop_domain: str  # X-Shopify-Shop-Domain: the store, to find the shop by
    metadata: dict[str, str]  # the webhook's headers, names lower-cased
    payload: dict[str, Any]  # the webhook's body
    time: Any  # the EventBridge event's time

    def events(self, shop: str, now: datetime) -> list[CanonicalEvent]:
        """The delivery's canonical events for ``shop``, received at the event's time (else ``now``)."""
        topic, delivery_id = shopify.delivery_of(self.metadata, b"")
        received = timestamp(self.time, "time") or now
        return shopify.map_delivery(shop, topic, delivery_id, self.payload, received)


def read_partner_event(envelope: Any) -> PartnerEvent:
    """The webhook in one EventBridge event from Shopify; InvalidPayload if it carries none."""
    if not isinstance(envelope, dict):
        raise InvalidPayload(f"Shopify EventBridge event: expected an event object, got {type(envelope).__name__}")
    detail = envelope.get("detail")
    if not isinstance(detail, dict) or not isinstance(detail.get("payload"), dict):
        raise InvalidPayload("Shopify EventBridge event without detail.payload")
    metadata = {str(k).lower(): str(v) for k, v in (detail.get("metadata") or {}).items()}
    domain = metadata.get(shopify.SHOP_DOMAIN_HEADER)
    if not domain:
        raise InvalidPayload("Shopify EventBridge event without X-Shopify-Shop-Domain metadata")
    return PartnerEvent(domain, metadata, detail["payload"], envelope.get("time"))
