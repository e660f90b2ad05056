"""The KPI snapshot job as wired for Lambda (emma.wiring.analytics.build_snapshot) against moto: the segment
size counters read (shards summed), the shop from its secret, one snapshot item per shop and day whose
names (stage:<stage>, segment:<id>) DynamoDB keeps as written."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from emma.adapters import keys
from emma.adapters.analytics import DynamoAnalyticsStore
from emma.config import SnapshotSettings
from emma.resources import DEFINITIONS_ENV, PROFILES_TABLE
from emma.wiring.analytics import build_snapshot
from tests.integration.conftest import SHOP

ROOT = Path(__file__).resolve().parents[2]


def test_the_wired_job_writes_the_shops_snapshot_from_the_counters(aws, monkeypatch):
    session, provisioned = aws
    table = provisioned.tables[PROFILES_TABLE.logical_id]
    ddb = session.client("dynamodb")
    for shard, (known, buy) in enumerate([(3, 1), (4, 0), (0, 2)]):  # three of the eight shards
        ddb.put_item(
            TableName=table,
            Item={
                "pk": {"S": keys.counter_pk(SHOP.shop, shard)},
                "sk": {"S": keys.SIZES_SK},
                "seg_known-customers": {"N": str(known)},
                "seg_stage-buy": {"N": str(buy)},
                "seg_reachable-email-confirmed": {"N": "2"},
                "seg_never-opens": {"N": "1" if shard == 0 else "0"},
            },
        )
    monkeypatch.setenv(PROFILES_TABLE.env_var, table)
    monkeypatch.setenv(DEFINITIONS_ENV, str(ROOT))
    report = build_snapshot(SnapshotSettings(), session).run()  # type: ignore[call-arg]
    assert list(report.written) == [SHOP.shop] and not report.failed
    day = report.written[SHOP.shop]
    ((stored_day, values),) = DynamoAnalyticsStore(ddb, table).snapshots(SHOP.shop, day, day)
    assert stored_day == day
    assert values["customers"] == 7 and values["reachable_email"] == 6 and values["never_opens"] == 1
    assert values["never_opens_share"] == Decimal("0.1667")
    assert values["stage:buy"] == 3 and values["segment:stage-buy"] == 3 and values["segment:lapsed"] == 0


def test_the_wired_job_writes_the_uplift_estimate_from_the_incentive_arms(aws, monkeypatch):
    from emma.adapters.offers import DynamoUpliftTables

    session, provisioned = aws
    table = provisioned.tables[PROFILES_TABLE.logical_id]
    ddb = session.client("dynamodb")
    arms = {"coupon": (300, 90), "control": (300, 30)}  # band 1: 30 % with the coupon, 10 % without
    for shard in range(keys.ANALYTICS_SHARDS):  # each shard holds a quarter, as the consumer's hash spreads them
        for arm, (customers, converted) in arms.items():
            ddb.put_item(
                TableName=table,
                Item={
                    "pk": {"S": keys.analytics_pk(SHOP.shop, "arm", shard)},
                    "sk": {"S": keys.analytics_counter_sk("", f"incentive:winback-coupon|band-1|{arm}")},
                    "c_customers": {"N": str(customers // 4)},
                    "c_converted": {"N": str(converted // 4)},
                    "c_orders": {"N": str(converted // 4)},
                    "c_revenue": {"N": str(converted // 4 * 80)},
                    "c_discount": {"N": str(converted // 4 * 12) if arm == "coupon" else "0"},
                },
            )
    monkeypatch.setenv(PROFILES_TABLE.env_var, table)
    monkeypatch.setenv(DEFINITIONS_ENV, str(ROOT))
    assert not build_snapshot(SnapshotSettings(), session).run().failed  # type: ignore[call-arg]
    tables = DynamoUpliftTables(ddb, table).get(SHOP.shop)
    band = next(b for b in tables["winback-coupon"].bands if b.band == 1)
    assert band.treated == 300 and band.untreated == 300, band
    assert band.status == "measured", band
    assert band.lift == pytest.approx(0.2, abs=0.01) and band.needed is True
