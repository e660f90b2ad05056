"""Composition root of the publisher function: the profiles table's stream to the bus (emma.ingest.outbox)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emma.adapters.dynamodb import DynamoProfileRepository
from emma.adapters.eventbridge import EventBridgePublisher
from emma.config import PublisherSettings
from emma.ingest.outbox import OutboxRelay
from emma.wiring.aws import CONSUMER, session_or_default


@dataclass(frozen=True)
class Publisher:
    relay: OutboxRelay


def build_publisher(settings: PublisherSettings, session: Any | None = None) -> Publisher:
    session = session_or_default(session)
    log = DynamoProfileRepository(
        session.client("dynamodb", config=CONSUMER),
        settings.profiles_table,
        log_cap=settings.event_log_cap,
        log_ttl_days=settings.event_log_ttl_days,
    )
    bus = EventBridgePublisher(session.client("events", config=CONSUMER), settings.event_bus)
    return Publisher(OutboxRelay(bus, log))
