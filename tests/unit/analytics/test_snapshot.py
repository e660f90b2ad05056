"""The shop's daily KPI snapshot (emma.analytics.snapshot): the KPIs from the segment sizes, the shop's day
in its timezone, an idempotent overwrite per day, a failing shop that does not stop the others, and the
snapshot as the KPI report shows it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from emma.analytics.reports import Reports, date_range
from emma.analytics.snapshot import KpiSnapshots, snapshot_values, stage_name
from emma.rules.loader import Definitions, load_definitions
from emma.shops import ShopConfig
from emma_local.fakes import FixedClock, StaticShopDirectory
from emma_local.fakes.analytics import InMemoryAnalyticsStore

DEFS = load_definitions(Path(__file__).resolve().parents[3])
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
BERLIN = ShopConfig(shop="elektro-emma")  # Europe/Berlin, double opt-in required (the defaults)
VIENNA = ShopConfig(shop="wien-wolle", timezone="Europe/Vienna", dispatch={"double_opt_in": False})
SIZES = {
    "known-customers": 1000,
    "reachable-email": 700,
    "reachable-email-confirmed": 500,
    "reachable-sms": 40,
    "reachable-push": 30,
    "active-30d": 300,
    "active-90d": 550,
    "new-30d": 80,
    "lapsed": 120,
    "never-opens": 50,
    "stage-buy": 60,
    "stage-discover": 400,
    "big-baskets": 7,
    "retired-segment": 9,  # counters of a segment no longer defined
}


class FakeSizes:
    """The rules store's segment size counters (emma.rules.ports.RulesStore.segment_sizes), per shop."""

    def __init__(self, sizes: dict[str, dict[str, int]]) -> None:
        self.sizes = sizes
        self.reads: list[str] = []

    def segment_sizes(self, shop: str) -> dict[str, int]:
        self.reads.append(shop)
        if shop not in self.sizes:
            raise RuntimeError(f"throttled reading {shop}")
        return dict(self.sizes[shop])


def job(sizes, shops=(BERLIN,), at=T0, defs=DEFS):
    store = InMemoryAnalyticsStore()
    clock = FixedClock(at)
    return KpiSnapshots(store, FakeSizes(sizes), StaticShopDirectory(list(shops)), defs, clock), store, clock


def test_the_kpis_are_the_sizes_of_the_shipped_segments():
    values = snapshot_values(BERLIN, DEFS.segments, SIZES)
    assert {k: v for k, v in values.items() if ":" not in k} == {
        "customers": 1000,
        "reachable_email": 500,  # confirmed by double opt-in: the shop requires it
        "reachable_sms": 40,
        "reachable_push": 0,  # the shop has no push application: nobody is reachable by push
        "active_30d": 300,
        "active_90d": 550,
        "new_30d": 80,
        "lapsed": 120,
        "never_opens": 50,
        "never_opens_share": Decimal("0.1"),
    }
    assert all(isinstance(v, Decimal) for v in values.values())


def test_a_single_opt_in_shop_with_push_counts_every_grant():
    shop = VIENNA.model_copy(update={"dispatch": VIENNA.dispatch.model_copy(update={"push_application_arn": "arn:x"})})
    values = snapshot_values(shop, DEFS.segments, SIZES)
    assert values["reachable_email"] == 700 and values["reachable_push"] == 30
    assert values["never_opens_share"] == Decimal("0.0714")  # 50 / 700, four places


def test_every_segment_and_each_lifecycle_stage_is_in_the_snapshot():
    values = snapshot_values(BERLIN, DEFS.segments, SIZES)
    segments = {k.removeprefix("segment:"): v for k, v in values.items() if k.startswith("segment:")}
    assert set(segments) == {s.id for s in DEFS.segments}  # a retired segment's counters are not
    assert segments["big-baskets"] == 7 and segments["loyal"] == 0  # never a member: 0
    stages = {k.removeprefix("stage:"): v for k, v in values.items() if k.startswith("stage:")}
    assert stages == {"ask": 0, "buy": 60, "engage": 0, "use": 0, "explore": 0, "discover": 400}
    assert stage_name("stage-buy") == "buy" and stage_name("onboarding") == "onboarding"


def test_never_opens_share_is_left_out_when_nobody_is_reachable_and_negative_counters_are_zero():
    values = snapshot_values(BERLIN, DEFS.segments, {"never-opens": 3, "reachable-email-confirmed": 0, "lapsed": -2})
    assert values["reachable_email"] == 0 and values["never_opens"] == 3
    assert "never_opens_share" not in values
    assert values["lapsed"] == 0 and values["segment:lapsed"] == 0


def test_a_kpi_whose_segment_the_shop_lacks_is_left_out_not_zero():
    only = Definitions([], [s for s in DEFS.segments if s.id in ("known-customers", "stage-buy")])
    values = snapshot_values(BERLIN, only.segments, SIZES)
    assert values == {"customers": 1000, "stage:buy": 60, "segment:known-customers": 1000, "segment:stage-buy": 60}
    scoped = [s.model_copy(update={"shops": ["other-shop"]}) if s.id == "lapsed" else s for s in DEFS.segments]
    values = snapshot_values(BERLIN, scoped, SIZES)
    assert "lapsed" not in values and "segment:lapsed" not in values


def test_each_shop_is_written_for_its_own_day_and_a_rerun_overwrites_it():
    late = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)  # 00:30 on the 3rd in Berlin and Vienna
    snapshots, store, clock = job({"elektro-emma": SIZES, "wien-wolle": {"known-customers": 5}}, (BERLIN, VIENNA), late)
    report = snapshots.run()
    assert report.written == {"elektro-emma": "2026-11-03", "wien-wolle": "2026-11-03"} and not report.failed
    assert store.snapshot_rows[("wien-wolle", "2026-11-03")]["customers"] == 5
    snapshots._sizes.sizes["wien-wolle"] = {"known-customers": 6}  # an hour later: more customers
    clock.advance(hours=1)
    snapshots.run()
    assert store.snapshot_rows[("wien-wolle", "2026-11-03")]["customers"] == 6  # overwritten, not added
    assert sorted(store.snapshot_rows) == [("elektro-emma", "2026-11-03"), ("wien-wolle", "2026-11-03")]


def test_the_day_is_the_shops_timezone():
    new_york = ShopConfig(shop="ny-nails", timezone="America/New_York")
    snapshots, _, _ = job({"ny-nails": {}}, (new_york,), datetime(2026, 11, 3, 2, 0, tzinfo=UTC))
    assert snapshots.run().written == {"ny-nails": "2026-11-02"}  # 21:00 on the 2nd in New York


def test_a_shop_that_fails_is_reported_and_the_others_are_written(caplog):
    snapshots, store, _ = job({"wien-wolle": {"known-customers": 5}}, (BERLIN, VIENNA))
    report = snapshots.run()
    assert report.failed == ["elektro-emma"] and report.written == {"wien-wolle": "2026-11-02"}
    assert report.view() == {"shops": 2, "written": {"wien-wolle": "2026-11-02"}, "failed": ["elektro-emma"]}
    assert "elektro-emma" in caplog.text and [k for k in store.snapshot_rows] == [("wien-wolle", "2026-11-02")]


def test_one_read_of_the_sizes_per_shop_per_run():
    snapshots, _, _ = job({"elektro-emma": SIZES, "wien-wolle": {}}, (BERLIN, VIENNA))
    snapshots.run()
    assert snapshots._sizes.reads == ["elektro-emma", "wien-wolle"]


def test_the_kpi_report_shows_the_snapshots_per_day():
    snapshots, store, clock = job({"elektro-emma": SIZES})
    snapshots.run()
    clock.advance(days=1)
    snapshots._sizes.sizes["elektro-emma"] = {**SIZES, "known-customers": 1010}
    snapshots.run()
    report = Reports(store, []).kpis("elektro-emma", date_range(None, None, date(2026, 11, 3)), "EUR")
    assert [d.day.isoformat() for d in report.days] == ["2026-11-02", "2026-11-03"]
    assert [d.snapshot["customers"] for d in report.days] == [1000, 1010]
    assert report.latest_day == date(2026, 11, 3) and report.latest["customers"] == 1010
    assert report.latest["never_opens_share"] == pytest.approx(0.1)
    assert report.latest["stage:buy"] == 60 and report.latest["segment:big-baskets"] == 7
    assert report.days[1].day - report.days[0].day == timedelta(days=1)
