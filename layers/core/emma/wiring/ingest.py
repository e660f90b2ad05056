"""Composition root of the ingest path: the ingest API, SES feedback and Shopify partner events, and the
ingest service every other function records events through.

Each part is built on first use and shares one session and one DynamoDB client, so a tracker request
builds the intake only, never the recommender or the read side.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from botocore.config import Config

from emma.adapters.dynamodb import DynamoCatalog, DynamoProfileRepository
from emma.adapters.eventbridge import EventBridgePublisher
from emma.adapters.privacy import DynamoPrivacyStore, SuppressionCheck
from emma.adapters.shops import SecretsShopDirectory
from emma.clock import Clock, clock_from_env
from emma.ingest.service import IngestService
from emma.shops import ShopDirectory
from emma.wiring.aws import REQUEST_PATH, LazyClient, session_or_default

if TYPE_CHECKING:  # the other parts import theirs when built: a webhook's cold start imports the intake's only
    from emma.config import IngestSettings  # or its subclasses; the ingest API reads emma.wiring.settings' twin
    from emma.dispatch.ports import Links
    from emma.ingest.reads import ProfileReads
    from emma.offers.ports import CodePool
    from emma.recommend.service import RecommendationService
    from emma.wiring.settings import IngestEnvSettings


@dataclass(frozen=True)
class Intake:
    """Accepting events: webhooks, tracker calls, catalog imports, SES feedback, partner events."""

    service: IngestService
    shops: ShopDirectory


class IngestWiring:
    """The ingest path's parts, each built on first use."""

    def __init__(
        self, settings: IngestSettings | IngestEnvSettings, session: Any | None = None, config: Config = REQUEST_PATH
    ) -> None:
        self.settings = settings
        self.session = session_or_default(session)
        self.config = config

    def client(self, service: str) -> Any:
        return self.session.client(service, config=self.config)

    @cached_property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @cached_property
    def clock(self) -> Clock:
        return clock_from_env()

    @cached_property
    def intake(self) -> Intake:
        s = self.settings
        shops = SecretsShopDirectory(
            self.client("secretsmanager"), s.shop_secret_prefix, ttl_seconds=s.shop_cache_seconds
        )
        profiles = DynamoProfileRepository(
            self.dynamodb,
            s.profiles_table,
            log_cap=s.event_log_cap,
            log_ttl_days=s.event_log_ttl_days,
            idempotency_ttl_days=s.idempotency_ttl_days,
            # a shop's own retention of its event log (read from the cached shop directory)
            log_days=lambda shop: shops.get(shop).privacy.event_log_days,
        )
        catalog = DynamoCatalog(
            self.dynamodb, s.catalog_table, s.profiles_table, idempotency_ttl_days=s.idempotency_ttl_days
        )
        publisher = EventBridgePublisher(LazyClient(lambda: self.client("events")), s.event_bus)
        suppressions = SuppressionCheck(DynamoPrivacyStore(self.dynamodb, s.profiles_table, s.catalog_table, ""), shops)
        return Intake(IngestService(profiles, catalog, publisher, self.clock, suppressions=suppressions), shops)

    @cached_property
    def reads(self) -> ProfileReads:
        from emma.adapters.dispatch import DynamoMessageLog
        from emma.adapters.journeys import DynamoJourneyStore
        from emma.adapters.rules_store import DynamoRulesStore
        from emma.ingest.reads import ProfileReads

        table = self.settings.profiles_table
        return ProfileReads(
            self.intake.service,
            DynamoRulesStore(self.dynamodb, table),
            DynamoJourneyStore(self.dynamodb, table),
            DynamoMessageLog(self.dynamodb, table),
        )

    @cached_property
    def links(self) -> Links:
        """Tracked short links of SMS and push messages."""
        from emma.adapters.dispatch import DynamoLinks

        return DynamoLinks(self.dynamodb, self.settings.profiles_table)

    @cached_property
    def pools(self) -> CodePool:
        """The pools of coupon codes shops upload (POST /v1/coupons/pools/{pool})."""
        from emma.adapters.offers import DynamoCodePool

        return DynamoCodePool(self.dynamodb, self.settings.profiles_table)

    @cached_property
    def recommender(self) -> RecommendationService:
        from emma.adapters.recommend import DynamoModelStore
        from emma.recommend.service import RecommendationService

        models = DynamoModelStore(self.dynamodb, self.settings.catalog_table)
        return RecommendationService(models, self.intake.service.catalog, self.clock)


def build_intake(settings: IngestSettings | IngestEnvSettings, session: Any | None = None) -> Intake:
    return IngestWiring(settings, session).intake
