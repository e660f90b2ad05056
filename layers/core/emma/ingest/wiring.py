"""The composition root of the ingest path: settings + boto3 clients -> service and shop directory.

Built lazily on the first request (never at import time), so importing a handler costs nothing
but imports, and tests or the local runtime point boto3 at the emulator with AWS_ENDPOINT_URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from emma.adapters.dispatch import DynamoLinks, DynamoMessageLog
from emma.adapters.dynamodb import DynamoCatalog, DynamoProfileRepository
from emma.adapters.eventbridge import EventBridgePublisher
from emma.adapters.journeys import DynamoJourneyStore
from emma.adapters.recommend import DynamoModelStore
from emma.adapters.rules_store import DynamoRulesStore
from emma.adapters.shops import SecretsShopDirectory
from emma.clock import clock_from_env
from emma.config import IngestSettings
from emma.dispatch.ports import Links, MessageLog
from emma.ingest.service import IngestService
from emma.journeys.state import JourneyStore
from emma.ports import ShopDirectory
from emma.recommend.service import RecommendationService
from emma.rules.state import RulesStore

# Webhook senders give up after a few seconds (Shopify: 5 s): fail fast, let them retry.
_CLIENT_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 3, "mode": "standard"})


@dataclass(frozen=True)
class Ingest:
    service: IngestService
    shops: ShopDirectory
    rules: RulesStore | None = None  # read-only: segment sizes and each profile's derived state
    journeys: JourneyStore | None = None  # read-only: where each profile stands in each journey
    messages: MessageLog | None = None  # read-only: each profile's message log
    links: Links | None = None  # tracked short links of SMS and push messages
    recommender: Any = None  # emma.recommend.service.RecommendationService


def build_ingest(settings: IngestSettings, session: Any | None = None) -> Ingest:
    session = session or boto3.session.Session()
    dynamodb = session.client("dynamodb", config=_CLIENT_CONFIG)
    profiles = DynamoProfileRepository(
        dynamodb,
        settings.profiles_table,
        log_cap=settings.event_log_cap,
        log_ttl_days=settings.event_log_ttl_days,
        idempotency_ttl_days=settings.idempotency_ttl_days,
    )
    catalog = DynamoCatalog(
        dynamodb, settings.catalog_table, settings.profiles_table, idempotency_ttl_days=settings.idempotency_ttl_days
    )
    publisher = EventBridgePublisher(session.client("events", config=_CLIENT_CONFIG), settings.event_bus)
    shops = SecretsShopDirectory(
        session.client("secretsmanager", config=_CLIENT_CONFIG),
        settings.shop_secret_prefix,
        ttl_seconds=settings.shop_cache_seconds,
    )
    rules = DynamoRulesStore(dynamodb, settings.profiles_table)
    journeys = DynamoJourneyStore(dynamodb, settings.profiles_table)
    messages = DynamoMessageLog(dynamodb, settings.profiles_table)
    links = DynamoLinks(dynamodb, settings.profiles_table)
    clock = clock_from_env()
    service = IngestService(profiles, catalog, publisher, clock)
    recommender = RecommendationService(DynamoModelStore(dynamodb, settings.catalog_table), catalog, clock)
    return Ingest(service, shops, rules, journeys, messages, links, recommender)
