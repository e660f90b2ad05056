"""The definitions the rules benchmark evaluates: 50 triggers and 32 segments.

The shipped ones (triggers/*.yaml, segments/*.yaml: 7 triggers, 19 segments with the six lifecycle
stages) plus generated variants of the kinds a shop would add: event-field comparisons, profile
fields, windowed counts, absence triggers, cooldowns and once-per-customer, derived fields (RFM,
predictions, lifecycle stage) and segment references. Each is validated as the YAML files are
(emma.rules.definitions models; fields and segment references checked like the loader does).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emma.rules.definitions import Segment, Trigger
from emma.rules.loader import DefinitionError, Definitions, load_definitions, topological

TRIGGERS = 50
SEGMENTS = 32


def _t(id_: str, on: str | list[str], when: Any = None, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"id": id_, "on": on}
    if when is not None:
        data["when"] = when
    return data | extra


def _f(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": field, op: value}


# Generated triggers (43): with the shipped ones, the first 50 - len(shipped) are used.
GENERATED_TRIGGERS: list[dict[str, Any]] = [
    # orders
    _t("high-value-order", "order.placed", [_f("event.properties.total", "gt", 250)], cooldown="7d"),
    _t("vip-order", "order.placed", [_f("event.properties.total", "gt", 1000)], cooldown="30d"),
    _t("second-order", "order.placed", [_f("profile.orders.count", "eq", 2)], once=True),
    _t("tenth-order", "order.placed", [_f("profile.orders.count", "eq", 10)], once=True),
    _t("loyal-order", "order.placed", [{"segment": "loyal"}], cooldown="30d"),
    _t("champion-order", "order.placed", [{"segment": "champions"}], cooldown="14d"),
    _t("big-spender-year", "order.placed", [{"revenue": {"within": "365d"}, "gt": 2000}], cooldown="90d"),
    _t("order-despite-churn-risk", "order.placed", [_f("profile.predictions.churn_risk", "gte", 0.6)]),
    _t("review-request", "order.placed", absent={"event": "review.submitted", "within": "14d"}, cooldown="14d"),
    _t("replenishment", "order.placed", absent={"event": "order.placed", "within": "60d"}, cooldown="60d"),
    _t(
        "accessory-cross-sell",
        "order.placed",
        [_f("event.properties.items.0.category", "in", ["smartphones", "laptops", "tablets"])],
        cooldown="7d",
    ),
    _t("order-with-coupon", "order.placed", [_f("event.properties.discount_codes", "exists", True)]),
    _t(
        "big-first-order",
        "order.placed",
        [_f("profile.orders.count", "eq", 1), _f("event.properties.total", "gt", 300)],
        once=True,
    ),
    _t("repeat-within-30d", "order.placed", [{"orders": {"within": "30d"}, "gte": 2}], cooldown="30d"),
    _t("frequent-buyer", "order.placed", [{"orders": {"within": "180d"}, "gte": 4}], cooldown="30d"),
    # carts and checkouts
    _t(
        "checkout-abandoned",
        "checkout.started",
        absent={"event": "order.placed", "within": "1h"},
        cooldown="1d",
    ),
    _t(
        "cart-abandoned-day",
        "cart.updated",
        [_f("event.properties.items", "exists", True)],
        absent={"event": ["order.placed", "checkout.started"], "within": "24h"},
        cooldown="3d",
    ),
    _t(
        "big-cart-known",
        "cart.updated",
        [_f("event.properties.value", "gt", 200), _f("profile.known", "eq", True)],
        cooldown="1d",
    ),
    _t("cart-returning-customer", "cart.updated", [{"orders": {}, "gte": 2}], cooldown="7d"),
    _t("checkout-while-lapsed", "checkout.started", [{"segment": "lapsed"}], cooldown="7d"),
    _t("checkout-at-risk", "checkout.started", [{"segment": "at-risk"}], cooldown="7d"),
    # browsing
    _t(
        "browse-abandoned",
        "product.viewed",
        [{"count": "product.viewed", "within": "1d", "gte": 3}],
        absent={"event": "cart.updated", "within": "4h"},
        cooldown="2d",
    ),
    _t("product-interest", "product.viewed", [{"count": "product.viewed", "within": "7d", "gte": 5}], cooldown="7d"),
    _t(
        "smartphone-browser",
        "product.viewed",
        [_f("event.properties.product.category", "eq", "smartphones")],
        cooldown="3d",
    ),
    _t(
        "premium-brand-view",
        "product.viewed",
        [_f("event.properties.product.brand", "in", ["Apple", "Sony", "Bose"])],
        cooldown="7d",
    ),
    _t("high-price-view", "product.viewed", [_f("event.properties.product.price", "gt", 800)], cooldown="7d"),
    _t(
        "lapsed-browsing",
        "product.viewed",
        [{"days_since": "profile.orders.last_order_at", "gt": 180}],
        cooldown="14d",
    ),
    _t(
        "window-shopper",
        "page.viewed",
        [{"count": "page.viewed", "within": "30d", "gte": 15}, {"orders": {}, "eq": 0}],
        cooldown="30d",
    ),
    _t("busy-visitor", "page.viewed", [{"count": "page.viewed", "within": "1d", "gte": 5}], cooldown="1d"),
    _t("sale-page", "page.viewed", [_f("event.properties.path", "contains", "/sale")], cooldown="1d"),
    _t("repeated-search", "search.performed", [{"count": "search.performed", "within": "7d", "gte": 3}], cooldown="7d"),
    # email
    _t("engaged-opener", "email.opened", [{"count": "email.opened", "within": "30d", "gte": 3}], cooldown="30d"),
    _t("first-open", "email.opened", [{"count": "email.opened", "eq": 1}], once=True),
    _t(
        "opener-no-order",
        "email.opened",
        [{"orders": {}, "eq": 0}, {"count": "email.opened", "within": "90d", "gte": 2}],
        cooldown="30d",
    ),
    _t("open-likely-to-churn", "email.opened", [{"segment": "likely-to-churn"}], cooldown="14d"),
    _t("click-no-visit", "email.clicked", absent={"event": "page.viewed", "within": "1d"}, cooldown="7d"),
    _t("repeat-clicker", "email.clicked", [{"count": "email.clicked", "within": "30d", "gte": 2}], cooldown="7d"),
    _t(
        "delivered-not-opened-week",
        "email.delivered",
        absent={"event": ["email.opened", "email.clicked"], "within": "7d"},
        cooldown="7d",
    ),
    _t("re-engaged", "email.opened", [{"segment": "formerly-engaged"}], cooldown="30d"),
    _t("open-in-buy-stage", "email.opened", [_f("profile.lifecycle_stage", "eq", "stage-buy")], cooldown="7d"),
    _t("open-top-rfm", "email.opened", [_f("profile.rfm.r", "gte", 4), _f("profile.rfm.m", "gte", 4)], cooldown="7d"),
    _t(
        "customer-anniversary",
        "email.opened",
        [{"days_since": "profile.orders.first_order_at", "gt": 365}],
        cooldown="365d",
    ),
    _t(
        "vip-on-site",
        ["page.viewed", "product.viewed"],
        {
            "all": [
                {"any": [{"segment": "champions"}, {"segment": "vip"}]},
                {"not": {"segment": "lapsed"}},
            ]
        },
        cooldown="1d",
    ),
]

# Generated segment (1): fills up to SEGMENTS when fewer are shipped (32 are, with the three loyalty tiers).
# Segment references, a revenue window, logic.
GENERATED_SEGMENTS: list[dict[str, Any]] = [
    {
        "id": "vip",
        "kind": "tier",
        "description": "Champions or loyal customers with over 1,000 revenue in a year, not lapsed",
        "when": [
            {"any": [{"segment": "champions"}, {"segment": "loyal"}]},
            {"revenue": {"within": "365d"}, "gt": 1000},
            {"not": {"segment": "lapsed"}},
        ],
    },
]


def bench_definitions(root: Path) -> Definitions:
    """The shipped definitions plus the generated ones: exactly 50 triggers and 32 segments."""
    from emma.rules import loader

    shipped = load_definitions(root)
    # Generated triggers fill up to TRIGGERS whatever the number shipped in triggers/.
    generated = [Trigger.model_validate(t) for t in GENERATED_TRIGGERS]
    triggers = [*shipped.triggers, *generated[: max(0, TRIGGERS - len(shipped.triggers))]]
    generated_segments = [Segment.model_validate(s) for s in GENERATED_SEGMENTS]
    segments = [*shipped.segments, *generated_segments[: max(0, SEGMENTS - len(shipped.segments))]]
    segment_ids = {s.id for s in segments}
    ladder_ids = {s.id: s.kind for s in segments if s.kind in loader.LADDER_NAMES}  # lifecycle stages, loyalty tiers
    problems = [p for t in triggers for _, p in loader._references(t, True, segment_ids, ladder_ids)]
    problems += [p for s in segments for _, p in loader._references(s, False, segment_ids, ladder_ids)]
    problems += loader._segment_cycles(segments)
    for kind, items in (("trigger", triggers), ("segment", segments)):
        ids = [i.id for i in items]
        problems += [f"{kind} id {i!r} is used twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    if problems:
        raise DefinitionError(problems)
    if (len(triggers), len(segments)) != (TRIGGERS, SEGMENTS):
        raise DefinitionError(
            [f"expected {TRIGGERS} triggers and {SEGMENTS} segments, got {len(triggers)}, {len(segments)}"]
        )
    return Definitions(triggers, topological(segments))


def describe(defs: Definitions) -> dict[str, Any]:
    """What the definitions contain, for the report."""
    absence = sum(1 for t in defs.triggers if t.absent is not None)
    on: dict[str, int] = {}
    for t in defs.triggers:
        for e in t.on:
            on[str(e)] = on.get(str(e), 0) + 1
    return {
        "triggers": len(defs.triggers),
        "absence_triggers": absence,
        "with_cooldown": sum(1 for t in defs.triggers if t.cooldown is not None),
        "once": sum(1 for t in defs.triggers if t.once),
        "triggers_listening_per_event_type": dict(sorted(on.items())),
        "segments": len(defs.segments),
        "lifecycle_stages": sum(1 for s in defs.segments if s.kind == "lifecycle"),
    }
