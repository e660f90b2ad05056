"""The KPI snapshot's scheduled function (functions/analytics_snapshot): loaded as Lambda loads it, with its
service name, run by the schedule, failing the run (after writing the other shops) when a shop fails."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from emma.analytics.snapshot import KpiSnapshots
from emma.resources import ANALYTICS_SNAPSHOT_SCHEDULE, SCHEDULES
from emma.rules.loader import load_definitions
from emma.shops import ShopConfig
from emma_local.fakes import FixedClock, StaticShopDirectory
from emma_local.fakes.analytics import InMemoryAnalyticsStore
from emma_local.lambdas import LambdaContext, load_handler, service_name

FUNCTION = ANALYTICS_SNAPSHOT_SCHEDULE.consumer
DEFS = load_definitions(Path(__file__).resolve().parents[3])


class Sizes:
    def __init__(self, sizes):
        self.sizes = sizes

    def segment_sizes(self, shop):
        if shop not in self.sizes:
            raise RuntimeError("throttled")
        return self.sizes[shop]


def test_the_snapshot_is_an_hourly_schedule():
    assert ANALYTICS_SNAPSHOT_SCHEDULE in SCHEDULES
    assert (FUNCTION, ANALYTICS_SNAPSHOT_SCHEDULE.rate_minutes) == ("analytics_snapshot", 60)


def test_the_handler_is_loaded_with_its_own_service_name_and_keeps_what_the_runtime_resets(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "emma-local")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    load_handler(FUNCTION)
    monkeypatch.setattr(sys.modules[FUNCTION], "handler", sys.modules[f"{FUNCTION}.handler"])
    monkeypatch.delitem(sys.modules, f"{FUNCTION}.handler")
    handler = load_handler(FUNCTION)
    module = sys.modules[f"{FUNCTION}.handler"]
    assert handler is module.lambda_handler and callable(module.components.cache_clear)
    assert (
        module.logger.service == module.metrics.provider.service == service_name(FUNCTION) == "emma-analytics-snapshot"
    )


@pytest.fixture
def handler(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    load_handler(FUNCTION)
    return sys.modules[f"{FUNCTION}.handler"]


def wire(monkeypatch, handler, sizes):
    store = InMemoryAnalyticsStore()
    shops = StaticShopDirectory([ShopConfig(shop="elektro-emma"), ShopConfig(shop="wien-wolle")])
    job = KpiSnapshots(store, Sizes(sizes), shops, DEFS, FixedClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC)))
    monkeypatch.setattr(handler, "components", lambda: job)
    return store


def test_a_run_writes_every_shops_snapshot(handler, monkeypatch):
    store = wire(monkeypatch, handler, {"elektro-emma": {"known-customers": 3}, "wien-wolle": {}})
    result = handler.lambda_handler({}, LambdaContext(FUNCTION))
    assert result == {
        "shops": 2,
        "written": {"elektro-emma": "2026-11-02", "wien-wolle": "2026-11-02"},
        "failed": [],
    }
    assert store.snapshot_rows[("elektro-emma", "2026-11-02")]["customers"] == 3


def test_a_shop_that_fails_fails_the_run_after_the_others_are_written(handler, monkeypatch):
    store = wire(monkeypatch, handler, {"wien-wolle": {"known-customers": 1}})
    with pytest.raises(handler.SnapshotsFailed, match="elektro-emma"):
        handler.lambda_handler({}, LambdaContext(FUNCTION))
    assert list(store.snapshot_rows) == [("wien-wolle", "2026-11-02")]
