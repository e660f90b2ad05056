"""Composition root of the dispatch function (and of the scheduled job's release of deferred messages)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from emma.adapters.channels import SesEmail, SnsPush, SnsSms, Webhook
from emma.adapters.dispatch import DynamoCapStore, DynamoDeferrals, DynamoLinks, DynamoMessageLog
from emma.adapters.journeys import SqsMessageRequests
from emma.clock import clock_from_env
from emma.config import IngestSettings
from emma.dispatch.ports import Sender
from emma.dispatch.recorder import IngestRecorder
from emma.dispatch.service import DispatchConfigError, DispatchService
from emma.events.model import Channel
from emma.ingest.wiring import build_ingest
from emma.ports import ShopConfig
from emma.resources import MESSAGES_QUEUE, PUBLIC_API_URL_ENV, SCHEDULE_TABLE, SES_CONFIGURATION_SET_ENV
from emma.templates.library import TemplateSet

_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 4, "mode": "standard"})


class DispatchSettings(IngestSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    schedule_table: str = Field(validation_alias=SCHEDULE_TABLE.env_var, min_length=3)
    messages_queue_url: str = Field(validation_alias=MESSAGES_QUEUE.env_var, min_length=1)
    ses_configuration_set: str = Field("", validation_alias=SES_CONFIGURATION_SET_ENV)
    public_api_url: str = Field(validation_alias=PUBLIC_API_URL_ENV, pattern=r"^https?://")
    definitions: Path = Field(
        validation_alias="EMMA_DEFINITIONS",
        description="definitions.json built by `cdk synth` (or the repository folder with templates/ locally)",
    )


def read_templates(path: Path) -> TemplateSet:
    if path.is_dir():  # the local runtime reads templates/ itself
        from emma.templates.loader import load_templates  # build-time code (YAML): only off Lambda

        return load_templates(path)
    return TemplateSet.from_json(json.loads(path.read_text(encoding="utf-8")).get("templates", {}))


@dataclass(frozen=True)
class Dispatch:
    service: DispatchService
    deferrals: DynamoDeferrals
    queue: SqsMessageRequests


def _senders(session: Any, settings: DispatchSettings) -> Callable[[ShopConfig, Channel], Sender]:
    """The provider adapter for a shop's channel (dispatch.providers)."""
    ses = session.client("ses", config=_CLIENT_CONFIG)
    sns = session.client("sns", config=_CLIENT_CONFIG)

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
    session = session or boto3.session.Session()
    ingest = build_ingest(settings, session)
    dynamodb = session.client("dynamodb", config=_CLIENT_CONFIG)
    catalog = ingest.service.catalog
    deferrals = DynamoDeferrals(dynamodb, settings.schedule_table)
    queue = SqsMessageRequests(session.client("sqs", config=_CLIENT_CONFIG), settings.messages_queue_url)
    service = DispatchService(
        profiles=ingest.service.resolve,
        shops=ingest.shops,
        templates=read_templates(settings.definitions),
        log_store=DynamoMessageLog(dynamodb, settings.profiles_table),
        caps=DynamoCapStore(dynamodb, settings.profiles_table),
        deferrals=deferrals,
        links=DynamoLinks(dynamodb, settings.profiles_table),
        senders=_senders(session, settings),
        recorder=IngestRecorder(ingest.service),
        catalog=catalog,
        recommender=ingest.recommender,
        clock=clock_from_env(),
        public_url=settings.public_api_url,
    )
    return Dispatch(service, deferrals, queue)


class ReleaseSettings(BaseSettings):
    """What the scheduled job needs to put deferred messages back on the messages queue."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    schedule_table: str = Field(validation_alias=SCHEDULE_TABLE.env_var, min_length=3)
    messages_queue_url: str = Field(validation_alias=MESSAGES_QUEUE.env_var, min_length=1)


def build_release(settings: ReleaseSettings, session: Any | None = None) -> tuple[DynamoDeferrals, SqsMessageRequests]:
    session = session or boto3.session.Session()
    return (
        DynamoDeferrals(session.client("dynamodb", config=_CLIENT_CONFIG), settings.schedule_table),
        SqsMessageRequests(session.client("sqs", config=_CLIENT_CONFIG), settings.messages_queue_url),
    )
