"""Composition root of the dispatch function, and of the scheduled job's release of deferred messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emma.adapters.campaigns import CachedGate, DynamoCampaignRuns
from emma.adapters.channels import SesEmail, SnsPush, SnsSms, Webhook
from emma.adapters.dispatch import DynamoCapStore, DynamoDeferrals, DynamoLinks, DynamoMessageLog
from emma.adapters.eventbridge import EventBridgePublisher
from emma.adapters.journeys import SqsMessageRequests
from emma.clock import clock_from_env
from emma.config import DispatchSettings, ReleaseSettings
from emma.dispatch.ports import Sender
from emma.dispatch.recorder import IngestRecorder
from emma.dispatch.service import DispatchConfigError, DispatchService
from emma.events.model import Channel
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


def build_dispatch(settings: DispatchSettings, session: Any | None = None) -> Dispatch:
    session = session_or_default(session)
    ingest = IngestWiring(settings, session)
    dynamodb = session.client("dynamodb", config=CONSUMER)
    deferrals = DynamoDeferrals(dynamodb, settings.schedule_table)
    queue = SqsMessageRequests(session.client("sqs", config=CONSUMER), settings.messages_queue_url)
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
        clock=clock_from_env(),
        public_url=settings.public_api_url,
        campaigns=CachedGate(DynamoCampaignRuns(dynamodb, settings.profiles_table)),
    )
    return Dispatch(service, deferrals, queue)


def build_release(settings: ReleaseSettings, session: Any | None = None) -> tuple[DynamoDeferrals, SqsMessageRequests]:
    session = session_or_default(session)
    return (
        DynamoDeferrals(session.client("dynamodb", config=CONSUMER), settings.schedule_table),
        SqsMessageRequests(session.client("sqs", config=CONSUMER), settings.messages_queue_url),
    )
