"""What analytics needs from outside: a store for its counters and per-customer items (DynamoDB:
emma.adapters.analytics; in memory: emma_local.fakes.analytics)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from emma.analytics.model import (
    Assignment,
    CounterDelta,
    CustomerItems,
    JourneyProgress,
    MessageTouch,
    OrderCredit,
)
from emma.errors import EmmaError


class StaleAnalytics(EmmaError):
    """An item changed since it was read (another delivery of a related event): read again."""

    status = 409
    code = "stale_analytics"


Item = MessageTouch | Assignment | OrderCredit | JourneyProgress
Rows = list[tuple[str, str, dict[str, Decimal]]]  # (day, key, counters)


class AnalyticsStore(Protocol):
    # ---- the consumer -------------------------------------------------------------------------
    def customer(self, shop: str, profile_id: str) -> CustomerItems:
        """Every analytics item in the customer's partition (one Query)."""
        ...

    def touch(self, shop: str, profile_id: str, ref: str) -> MessageTouch | None: ...

    def progress(self, shop: str, profile_id: str, journey: str) -> JourneyProgress | None: ...

    def assignment(self, shop: str, profile_id: str, journey: str, step: str) -> Assignment | None: ...

    def commit(self, shop: str, profile_id: str, items: Sequence[Item], deltas: Sequence[CounterDelta]) -> None:
        """Write the items (each on condition of the version it was read at; version 0: it must not
        exist) and ADD the counter deltas, all in one transaction; StaleAnalytics if an item changed."""
        ...

    # ---- the reports --------------------------------------------------------------------------
    def counters(self, shop: str, kind: str, since: str, until: str) -> Rows:
        """Every counter item of ``kind`` (message, journey, shop) from day ``since`` to ``until``
        (inclusive, YYYY-MM-DD), shards summed: (day, key, counters)."""
        ...

    def arms(self, shop: str, journey: str | None = None) -> Rows:
        """The experiment arms' cumulative counters ("" for day, key journey|step|variant)."""
        ...

    def put_snapshot(self, shop: str, day: str, values: dict[str, Decimal]) -> None:
        """The shop's daily KPI snapshot (customers known, reachable, segment sizes...)."""
        ...

    def snapshots(self, shop: str, since: str, until: str) -> list[tuple[str, dict[str, Decimal]]]: ...
