"""Composition root of the analytics consumer, and of the reports the ingest API serves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emma.adapters.analytics import DynamoAnalyticsStore
from emma.adapters.shops import SecretsShopDirectory
from emma.analytics.reports import Reports
from emma.analytics.service import AnalyticsService
from emma.clock import clock_from_env
from emma.config import AnalyticsSettings, ReportSettings
from emma.wiring.aws import CONSUMER, session_or_default
from emma.wiring.definitions import read_journeys


@dataclass(frozen=True)
class Analytics:
    service: AnalyticsService


def build_analytics(settings: AnalyticsSettings, session: Any | None = None) -> Analytics:
    session = session_or_default(session)
    store = DynamoAnalyticsStore(session.client("dynamodb", config=CONSUMER), settings.profiles_table, clock_from_env())
    shops = SecretsShopDirectory(session.client("secretsmanager", config=CONSUMER), settings.shop_secret_prefix)
    return Analytics(AnalyticsService(store, shops))


def build_reports(settings: ReportSettings, dynamodb: Any) -> Reports:
    """The reports over the ingest API's DynamoDB client."""
    store = DynamoAnalyticsStore(dynamodb, settings.profiles_table, clock_from_env())
    return Reports(store, read_journeys(settings.definitions))
