"""DynamoAnalyticsStore against moto: the consumer's exactly-once writes (the customer's item and the counter
ADDs in one transaction), versions, sharded counters summed by the reports' range queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from emma.adapters import keys
from emma.adapters.analytics import DynamoAnalyticsStore
from emma.analytics.model import Assignment, CounterDelta, Dims, MessageTouch, OrderCredit
from emma.analytics.ports import StaleAnalytics
from emma.analytics.reports import Reports, date_range
from emma.analytics.service import AnalyticsService
from emma.events.model import parse_event
from emma_local.fakes.shops import StaticShopDirectory
from tests.integration.conftest import SHOP

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(aws):
    session, provisioned = aws
    return DynamoAnalyticsStore(session.client("dynamodb"), provisioned.tables["ProfilesTable"])


def test_items_round_trip_with_their_versions(store):
    touch = MessageTouch(ref="a" * 24, dims=Dims("winback", "ab", "winback-coupon", "a", "email"), day="2026-11-02")
    touch.sent_at, touch.coupon, touch.seen = T0, "EMMA-1", ("0123456789ab",)
    assignment = Assignment(journey="winback", step="ab", variant="a", holdout=False, assigned_at=T0)
    credit = OrderCredit(
        order_id="1001",
        placed_at=T0,
        revenue=Decimal("99.90"),
        applied=[CounterDelta("shop", "2026-11-02", "", {"orders": Decimal(1), "revenue": Decimal("99.90")})],
        arms=["winback|ab"],
    )
    store.commit(SHOP.shop, "p1", [touch, assignment, credit], [])
    items = store.customer(SHOP.shop, "p1")
    assert items.touches[touch.ref].dims == touch.dims and items.touches[touch.ref].sent_at == T0
    assert items.touches[touch.ref].version == 1 and items.touches[touch.ref].seen == ("0123456789ab",)
    assert items.assignments["winback|ab"].assigned_at == T0
    assert items.orders["1001"].applied[0].amounts == {"orders": 1, "revenue": Decimal("99.90")}
    assert store.touch(SHOP.shop, "p1", touch.ref).coupon == "EMMA-1"
    assert store.assignment(SHOP.shop, "p1", "winback", "ab").variant == "a"
    assert store.progress(SHOP.shop, "p1", "winback") is None


def test_a_stale_version_writes_nothing_not_even_the_counters(store):
    touch = MessageTouch(ref="b" * 24, dims=Dims(), day="2026-11-02")
    delta = CounterDelta("message", "2026-11-02", Dims().encode(), {"sent": Decimal(1)})
    store.commit(SHOP.shop, "p1", [touch], [delta])
    with pytest.raises(StaleAnalytics):  # the same fresh item again: it exists now
        store.commit(SHOP.shop, "p1", [MessageTouch(ref="b" * 24, dims=Dims(), day="2026-11-02")], [delta])
    read = store.touch(SHOP.shop, "p1", "b" * 24)
    store.commit(SHOP.shop, "p1", [read], [delta])
    with pytest.raises(StaleAnalytics):  # version 1 was read, version 2 is stored
        store.commit(SHOP.shop, "p1", [read], [delta])
    assert store.counters(SHOP.shop, "message", "2026-11-01", "2026-11-30") == [
        ("2026-11-02", Dims().encode(), {"sent": Decimal(2)})
    ]


def test_counters_are_sharded_by_customer_and_summed_by_day_range(store):
    profiles = [f"p{n}" for n in range(40)]
    assert len({keys.analytics_shard(p) for p in profiles}) == keys.ANALYTICS_SHARDS
    for n, profile in enumerate(profiles):
        day = (T0 + timedelta(days=n % 3)).date().isoformat()
        store.commit(SHOP.shop, profile, [], [CounterDelta("shop", day, "", {"orders": Decimal(1)})])
    rows = store.counters(SHOP.shop, "shop", "2026-11-02", "2026-11-03")
    assert [(day, c["orders"]) for day, _k, c in rows] == [("2026-11-02", 14), ("2026-11-03", 13)]
    assert store.counters(SHOP.shop, "shop", "2026-11-05", "2026-11-30") == []


def test_the_consumer_counts_once_through_dynamodb_and_the_reports_read_it_back(store):
    service = AnalyticsService(store, StaticShopDirectory([SHOP]))

    def ev(type_, at, props, id_, customer=None):
        return parse_event(
            {
                "id": id_,
                "type": type_,
                "shop": SHOP.shop,
                "occurred_at": at.isoformat(),
                "received_at": at.isoformat(),
                "source": {"kind": "emma", "name": "test"},
                "customer": customer or {"profile_id": "p1", "email": "anna@example.com"},
                "properties": props,
                "context": {"user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Gecko/20100101 Firefox/133.0"},
            }
        )

    msg = {"message": "c" * 24, "journey": "abandoned-cart", "step": "remind", "template": "cart-reminder"}
    events = [
        ev("email.sent", T0, msg, "dispatch:" + "c" * 24 + ":sent"),
        ev("email.delivered", T0 + timedelta(seconds=3), msg, "ses:1:Delivery"),
        ev("email.opened", T0 + timedelta(hours=1), msg, "ses:1:Open"),
        ev("order.placed", T0 + timedelta(hours=2), {"order_id": "7", "total": "59.00", "currency": "EUR"}, "o7"),
    ]
    for event in events + events:
        service.on_event(event)
    reports = Reports(store, [])
    days = date_range(T0.date(), T0.date(), T0.date())
    total = reports.messages(SHOP.shop, days, ["template"]).total.counts
    assert (total["sent"], total["delivered"], total["opened"], total["conversions_last_touch"]) == (1, 1, 1, 1)
    assert total["revenue_last_touch"] == 59.0
    attribution = reports.attribution(SHOP.shop, days, "EUR", {}, ["journey"])
    assert attribution.orders == 1 and attribution.attributed["linear"] == 59.0
    assert attribution.rows[0].group == {"journey": "abandoned-cart"}
