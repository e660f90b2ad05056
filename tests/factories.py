"""Builders of canonical events for tests: short to call, valid by construction."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from emma.events.model import EVENT_ADAPTER, CanonicalEvent

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def event(
    type_: str,
    *,
    shop: str = "elektro-emma",
    id: str | None = None,
    at: datetime | None = None,
    minutes: float = 0,
    customer: dict[str, Any] | None = None,
    source: str = "tracker",
    **properties: Any,
) -> CanonicalEvent:
    occurred = (at or T0) + timedelta(minutes=minutes)
    data: dict[str, Any] = {
        "id": id or f"evt-{next(_ids)}",
        "shop": shop,
        "type": type_,
        "occurred_at": occurred,
        "received_at": occurred,
        "source": {"kind": source, "name": type_},
        "customer": customer if customer is not None else {"anonymous_id": "anon-1"},
    }
    if properties:
        data["properties"] = properties
    return EVENT_ADAPTER.validate_python(data)


def order(
    order_id: str, total: str, *, type_: str = "order.placed", items: list[dict] | None = None, **kw: Any
) -> CanonicalEvent:
    return event(
        type_,
        source="shopify",
        order_id=order_id,
        total=total,
        currency="EUR",
        items=items
        or [
            {
                "product_id": "pixel-9",
                "quantity": 1,
                "price": total,
                "category": "smartphones",
                "brand": "Google",
            }
        ],
        **kw,
    )
