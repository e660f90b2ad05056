"""Composition root of the analytics consumer, of the reports the ingest API serves, and of the hourly
KPI snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emma.adapters.analytics import DynamoAnalyticsStore
from emma.adapters.offers import DynamoUpliftTables
from emma.adapters.rules_store import DynamoRulesStore
from emma.adapters.shops import SecretsShopDirectory
from emma.analytics.reports import Reports
from emma.analytics.service import AnalyticsService
from emma.analytics.snapshot import KpiSnapshots
from emma.clock import clock_from_env
from emma.config import AnalyticsSettings, ReportSettings, SnapshotSettings
from emma.wiring.aws import BATCH_JOB, CONSUMER, session_or_default
from emma.wiring.definitions import read_definitions, read_journeys


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


def build_snapshot(settings: SnapshotSettings, session: Any | None = None) -> KpiSnapshots:
    """The KPI snapshot job: segment sizes from the rules function's counters (read only: no schedule
    table), snapshots written with the analytics store, the shops from their secrets."""
    session = session_or_default(session)
    dynamodb = session.client("dynamodb", config=BATCH_JOB)
    clock = clock_from_env()
    return KpiSnapshots(
        DynamoAnalyticsStore(dynamodb, settings.profiles_table, clock),
        DynamoRulesStore(dynamodb, settings.profiles_table),
        SecretsShopDirectory(session.client("secretsmanager", config=BATCH_JOB), settings.shop_secret_prefix),
        read_definitions(settings.definitions),
        clock,
        DynamoUpliftTables(dynamodb, settings.profiles_table),
    )
