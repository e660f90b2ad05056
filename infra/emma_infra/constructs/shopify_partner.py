"""Shopify's EventBridge partner event source, as an alternative to HTTPS webhooks.

Shopify (Partner Dashboard > app > Amazon EventBridge) creates a partner event source in the
operator's account, e.g. ``aws.partner/shopify.com/123/emma``; its name is given to the app as the
context value ``shopifyEventSourceName``. This construct then creates the partner event bus for that
source and one `QueueConsumer` per QueueDef whose bus is "shopify-partner". Without the context
value none of this exists (the event source must exist before the bus can be created).
"""

from __future__ import annotations

from aws_cdk import aws_events as events
from constructs import Construct

from emma.resources import QUEUES
from emma_infra.constructs.consumers import QueueConsumer
from emma_infra.constructs.functions import Platform

CONTEXT_KEY = "shopifyEventSourceName"
PARTNER_BUS = "shopify-partner"
PARTNER_QUEUES = tuple(q for q in QUEUES if q.bus == PARTNER_BUS)


class ShopifyPartnerSource(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, event_source_name: str, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        if not event_source_name.startswith("aws.partner/shopify.com/"):
            raise ValueError(
                f"{CONTEXT_KEY} must name a Shopify partner event source "
                f"(aws.partner/shopify.com/<app id>/<name>), got {event_source_name!r}"
            )
        # The bus of a partner event source is named after the source: creating it associates the two.
        self.event_bus = events.EventBus(self, "PartnerBus", event_source_name=event_source_name)
        self.consumers = [
            QueueConsumer(
                self, definition.logical_id, definition=definition, event_bus=self.event_bus, platform=platform
            )
            for definition in PARTNER_QUEUES
        ]
