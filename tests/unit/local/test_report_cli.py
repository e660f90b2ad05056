"""`emma report incentives`: the readout as a person reads it, from the report the API answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from emma.analytics.reports import Reports
from emma.analytics.service import AnalyticsService
from emma.events.model import parse_event
from emma.offers.config import IncentiveConfig
from emma.shops import ShopConfig
from emma_local.fakes.analytics import InMemoryAnalyticsStore
from emma_local.fakes.shops import StaticShopDirectory
from emma_local.report_cli import render_incentives

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def event(type_, at, props, customer, id_):
    return parse_event(
        {
            "id": id_,
            "type": type_,
            "shop": "s1",
            "occurred_at": at.isoformat(),
            "received_at": at.isoformat(),
            "source": {"kind": "emma", "name": "test"},
            "customer": customer,
            "properties": props,
        }
    )


def test_the_incentive_report_shows_each_bands_arms_and_where_the_coupon_pays():
    store = InMemoryAnalyticsStore()
    service = AnalyticsService(store, StaticShopDirectory([ShopConfig(shop="s1")]))
    for n in range(40):
        for arm, converts in (("coupon", n < 16), ("control", n < 4)):
            who = {"profile_id": f"p_{arm}_{n}"}
            code = f"EMMA-{n:04d}-CODE" if arm == "coupon" else None
            props = {
                "message": f"{n:012x}{0 if arm == 'coupon' else 1:012x}",
                "template": "winback-coupon",
                "incentive": {"policy": "predicted", "arm": arm, "p": 0.15, "band": 2},
                "coupon": code,
            }
            service.on_event(event("email.sent", T0, props, who, f"sent-{arm}-{n}"))
            if converts:
                order = {"order_id": f"o-{arm}-{n}", "total": "90.00", "currency": "EUR"}
                if code:
                    order |= {"discount_codes": [code], "discount_total": "10.00"}
                service.on_event(event("order.placed", T0 + timedelta(days=2), order, who, f"order-{arm}-{n}"))
    body = Reports(store, []).incentives("s1", IncentiveConfig(min_per_arm=30), T0).model_dump(mode="json")
    text = "\n".join(render_incentives(body))
    assert "winback-coupon" in text and "band-2" in text
    assert "P(buy) 0.10-0.20: the coupon adds +30.0 pts" in text and "it pays there" in text
    empty = render_incentives({"shop": "s1", "window_days": 14, "templates": []})
    assert empty[-1] == "  (no message with a coupon sent yet)"
