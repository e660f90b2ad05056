"""A thing delivered again under a new delivery id (the same Shopify order from a second webhook
subscription) is stored and published marked ``repeat``: it fires no trigger a second time, so the
customer does not get the post-purchase mail twice (issue 12)."""

import json
from datetime import UTC, datetime
from pathlib import Path

from emma.rules.engine import evaluate_event
from emma.sources import shopify
from factories import T0, event, order

from .test_service import DEFS, LENA, World

SHOPIFY = Path(__file__).parents[3] / "events" / "shopify"


def _orders_create(delivery_id: str) -> list:
    payload = json.loads((SHOPIFY / "orders_create.json").read_text(encoding="utf-8"))
    return shopify.map_delivery(
        "elektro-emma", "orders/create", delivery_id, payload, datetime(2025, 1, 15, tzinfo=UTC)
    )


def test_the_same_order_under_new_delivery_ids_fires_its_triggers_once():
    world = World()
    for n in range(5):
        world.send(*_orders_create(f"webhook-{n}"))
    placed = [e for e in world.bus.published if e.type == "order.placed"]
    assert [e.repeat for e in placed] == [False, True, True, True, True]  # all stored and published
    for trigger in ("order-placed", "first-order", "coupon-redeemed"):
        assert len(world.fired(trigger)) == 1, trigger
    stored = world.repo.logs[("elektro-emma", placed[1].customer.profile_id)]
    assert sorted(
        entry["event"]["repeat"] for entry in stored.values() if entry["event"]["type"] == "order.placed"
    ) == [
        False,
        True,
        True,
        True,
        True,
    ]


def test_a_second_order_still_fires():
    world = World()
    world.send(order("o1", "100.00", customer=LENA, id="shopify:a"))
    world.send(order("o1", "100.00", customer=LENA, id="shopify:b"))
    world.send(order("o2", "100.00", customer=LENA, id="shopify:c", minutes=60))
    assert len(world.fired("order-placed")) == 2


def test_a_repeat_arms_no_absence_timer_and_fires_nothing_but_segments_are_evaluated():
    world = World()
    world.send(order("o1", "650.00", customer=LENA, id="shopify:a"))
    profile = world.ingest.resolve("elektro-emma", "cid:7008001")
    first = event("order.placed", customer=LENA, source="shopify", order_id="o1", total="650.00", currency="EUR")
    repeat = first.model_copy(update={"repeat": True})
    assert evaluate_event(DEFS, profile, first, T0, set()).fired
    out = evaluate_event(DEFS, profile, repeat, T0, set())
    assert not out.fired and not out.armed and out.segments  # still a member of what the profile says
