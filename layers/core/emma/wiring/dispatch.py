"""Composition root of the dispatch function, and of the scheduled job's release of deferred messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emma.adapters.campaigns import CachedGate, DynamoCampaignRuns
from emma.adapters.channels import SesEmail, SnsPush, SnsSms, Webhook
from emma.adapters.coupons.shopify import ShopifyCoupons
from emma.adapters.coupons.shopware import ShopwareCoupons
from emma.adapters.coupons.woocommerce import WooCommerceCoupons
from emma.adapters.dispatch import DynamoCapStore, DynamoDeferrals, DynamoLinks, DynamoMessageLog
from emma.adapters.eventbridge import EventBridgePublisher
from emma.adapters.journeys import SqsMessageRequests
from emma.adapters.offers import DynamoCodePool, DynamoCoupons, DynamoUpliftTables
from emma.adapters.rules_store import DynamoRulesStore
from emma.clock import Clock, clock_from_env
from emma.config import DispatchSettings, ReleaseSettings
from emma.dispatch.ports import Sender
from emma.dispatch.recorder import IngestRecorder
from emma.dispatch.service import DispatchConfigError, DispatchService
from emma.events.model import Channel
from emma.offers import config as offers
from emma.offers.pool import PoolProvider
from emma.offers.ports import CouponProvider, ProviderMisconfigured
from emma.offers.service import CouponIssuer
from emma.offers.uplift import UpliftTable
from emma.predict.prior import Prior, default_prior
from emma.resources import DISPATCH_SOURCE
from emma.shops import ShopConfig
from emma.wiring.aws import CONSUMER, session_or_default
from emma.wiring.definitions import read_templates
from emma.wiring.ingest import IngestWiring


@dataclass(frozen=True)
class Dispatch:
    service: DispatchService
    deferrals: DynamoDeferrals
    queue: SqsMessageRequests


def _senders(session: Any, settings: DispatchSettings) -> Callable[[ShopConfig, Channel], Sender]:
    """The provider adapter for a shop's channel (dispatch.providers)."""
    ses = session.client("ses", config=CONSUMER)
    sns = session.client("sns", config=CONSUMER)

    def sender_for(shop: ShopConfig, channel: Channel) -> Sender:
        provider = shop.dispatch.providers.get(channel, "ses" if channel == Channel.EMAIL else "sns")
        if provider == "webhook":
            if not shop.dispatch.webhook_url or not shop.signing_secret:
                raise DispatchConfigError(f"shop {shop.shop!r} sends {channel} by webhook but has no webhook_url")
            return Webhook(shop.dispatch.webhook_url, shop.signing_secret)
        if channel == Channel.EMAIL:
            return SesEmail(ses, settings.ses_configuration_set)
        if channel == Channel.SMS:
            return SnsSms(sns, shop.dispatch.sms_sender_id)
        if not shop.dispatch.push_application_arn:
            raise DispatchConfigError(f"shop {shop.shop!r} has no push_application_arn")
        return SnsPush(sns, shop.dispatch.push_application_arn)

    return sender_for


def _missing(shop: ShopConfig, provider: str, fields: dict[str, str | None]) -> None:
    absent = [name for name, value in fields.items() if not value]
    if absent:
        raise ProviderMisconfigured(
            f"shop {shop.shop!r}: the {provider} coupon provider needs {', '.join(absent)} in the shop's coupons entry"
        )


def coupon_providers(pool: DynamoCodePool, clock: Clock) -> Callable[[ShopConfig], CouponProvider]:
    """The coupon provider of a shop (its coupons entry): one adapter per platform, or its pool. Adapters are
    kept per shop and entry while the Lambda is warm (their rate-limit bookkeeping and tokens with them)."""
    made: dict[tuple[str, str], CouponProvider] = {}

    def provider_for(shop: ShopConfig) -> CouponProvider:
        entry = shop.coupons
        if entry is None:
            raise ProviderMisconfigured(f"shop {shop.shop!r} has no coupon provider")
        if isinstance(entry, offers.BrokenCoupons):
            raise ProviderMisconfigured(f"shop {shop.shop!r}: {entry.problem}")
        cache_key = (shop.shop, entry.model_dump_json())
        if cache_key in made:
            return made[cache_key]
        provider: CouponProvider
        if isinstance(entry, offers.ShopifyCoupons):
            domain = entry.domain or shop.shopify_domain
            _missing(shop, "shopify", {"access_token": entry.access_token, "domain (or shopify_domain)": domain})
            provider = ShopifyCoupons(domain or "", entry.access_token or "", entry.api_version, entry.api_url)
        elif isinstance(entry, offers.WooCommerceCoupons):
            _missing(
                shop,
                "woocommerce",
                {"url": entry.url, "consumer_key": entry.consumer_key, "consumer_secret": entry.consumer_secret},
            )
            provider = WooCommerceCoupons(entry.url or "", entry.consumer_key or "", entry.consumer_secret or "")
        elif isinstance(entry, offers.ShopwareCoupons):
            _missing(
                shop,
                "shopware",
                {"url": entry.url, "client_id": entry.client_id, "client_secret": entry.client_secret},
            )
            provider = ShopwareCoupons(
                entry.url or "",
                entry.client_id or "",
                entry.client_secret or "",
                dict(entry.promotions),
                wall_clock=clock.now,
            )
        else:
            provider = PoolProvider(pool, entry, clock.now)
        made[cache_key] = provider
        return provider

    return provider_for


def cached_priors(rules: DynamoRulesStore, clock: Clock, keep_seconds: float = 3600.0) -> Callable[[str], Prior]:
    """The shop's fitted prior (refitted daily by the rules), kept for an hour in a warm Lambda."""
    cache: dict[str, tuple[float, Prior]] = {}

    def prior_of(shop: str) -> Prior:
        now = clock.now().timestamp()
        held = cache.get(shop)
        if held is not None and now - held[0] < keep_seconds:
            return held[1]
        found = rules.prior(shop)
        prior = Prior.model_validate(found[0]) if found else default_prior()
        cache[shop] = (now, prior)
        return prior

    return prior_of


def cached_uplift(
    tables: DynamoUpliftTables, clock: Clock, keep_seconds: float = 3600.0
) -> Callable[[str], dict[str, UpliftTable]]:
    """The shop's uplift estimate per template (the hourly snapshot job writes it), kept for an hour."""
    cache: dict[str, tuple[float, dict[str, UpliftTable]]] = {}

    def uplift_of(shop: str) -> dict[str, UpliftTable]:
        now = clock.now().timestamp()
        held = cache.get(shop)
        if held is None or now - held[0] >= keep_seconds:
            held = (now, tables.get(shop))
            cache[shop] = held
        return held[1]

    return uplift_of


def build_dispatch(settings: DispatchSettings, session: Any | None = None) -> Dispatch:
    session = session_or_default(session)
    ingest = IngestWiring(settings, session)
    dynamodb = session.client("dynamodb", config=CONSUMER)
    deferrals = DynamoDeferrals(dynamodb, settings.schedule_table)
    clock = clock_from_env()
    queue = SqsMessageRequests(session.client("sqs", config=CONSUMER), settings.messages_queue_url)
    rules = DynamoRulesStore(dynamodb, settings.profiles_table)
    service = DispatchService(
        profiles=ingest.intake.service.resolve,
        shops=ingest.intake.shops,
        templates=read_templates(settings.definitions),
        log_store=DynamoMessageLog(dynamodb, settings.profiles_table),
        caps=DynamoCapStore(dynamodb, settings.profiles_table),
        deferrals=deferrals,
        links=DynamoLinks(dynamodb, settings.profiles_table),
        senders=_senders(session, settings),
        recorder=IngestRecorder(
            ingest.intake.service,
            EventBridgePublisher(session.client("events", config=CONSUMER), settings.event_bus, source=DISPATCH_SOURCE),
        ),
        catalog=ingest.intake.service.catalog,
        recommender=ingest.recommender,
        clock=clock,
        public_url=settings.public_api_url,
        campaigns=CachedGate(DynamoCampaignRuns(dynamodb, settings.profiles_table)),
        coupons=CouponIssuer(
            DynamoCoupons(dynamodb, settings.profiles_table),
            coupon_providers(DynamoCodePool(dynamodb, settings.profiles_table), clock),
        ),
        priors=cached_priors(rules, clock),
        uplift=cached_uplift(DynamoUpliftTables(dynamodb, settings.profiles_table), clock),
        derived=rules.derived,  # the customer's loyalty tier, lifecycle stage and segments for templates
    )
    return Dispatch(service, deferrals, queue)


def build_release(settings: ReleaseSettings, session: Any | None = None) -> tuple[DynamoDeferrals, SqsMessageRequests]:
    session = session_or_default(session)
    return (
        DynamoDeferrals(session.client("dynamodb", config=CONSUMER), settings.schedule_table),
        SqsMessageRequests(session.client("sqs", config=CONSUMER), settings.messages_queue_url),
    )
