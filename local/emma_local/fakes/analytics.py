"""Analytics in memory (emma.analytics.ports.AnalyticsStore), with DynamoAnalyticsStore's contract:
versioned per-customer items written together with counter ADDs, all or nothing."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from decimal import Decimal

from emma.analytics.model import Assignment, CounterDelta, CustomerItems, MessageTouch, OrderCredit
from emma.analytics.ports import Item, Rows, StaleAnalytics


def _slot(item: Item) -> tuple[str, str]:
    if isinstance(item, MessageTouch):
        return "touches", item.ref
    if isinstance(item, Assignment):
        return "assignments", f"{item.journey}|{item.step}"
    if isinstance(item, OrderCredit):
        return "orders", item.order_id
    return "journeys", item.journey


class InMemoryAnalyticsStore:
    def __init__(self) -> None:
        self.customers: dict[tuple[str, str], CustomerItems] = {}
        self.counts: dict[tuple[str, str, str, str], dict[str, Decimal]] = {}  # (shop, kind, day, key)
        self.snapshot_rows: dict[tuple[str, str], dict[str, Decimal]] = {}
        self.commits = 0
        self.fail_next_commit: Exception | None = None  # a crash before the write, for tests

    def _items(self, shop: str, profile_id: str) -> CustomerItems:
        return self.customers.setdefault((shop, profile_id), CustomerItems())

    def customer(self, shop, profile_id):
        return copy.deepcopy(self._items(shop, profile_id))

    def touch(self, shop, profile_id, ref):
        return copy.deepcopy(self._items(shop, profile_id).touches.get(ref))

    def progress(self, shop, profile_id, journey):
        return copy.deepcopy(self._items(shop, profile_id).journeys.get(journey))

    def assignment(self, shop, profile_id, journey, step):
        return copy.deepcopy(self._items(shop, profile_id).assignments.get(f"{journey}|{step}"))

    def commit(self, shop: str, profile_id: str, items: Sequence[Item], deltas: Sequence[CounterDelta]) -> None:
        if self.fail_next_commit is not None:
            exc, self.fail_next_commit = self.fail_next_commit, None
            raise exc
        held = self._items(shop, profile_id)
        for item in items:
            group, name = _slot(item)
            current = getattr(held, group).get(name)
            if (current.version if current else 0) != item.version:
                raise StaleAnalytics("changed meanwhile")
        for item in items:
            group, name = _slot(item)
            stored = copy.deepcopy(item)
            stored.version += 1
            getattr(held, group)[name] = stored
        for d in deltas:
            row = self.counts.setdefault((shop, d.kind, d.day, d.key), {})
            for counter, value in d.amounts.items():
                row[counter] = row.get(counter, Decimal(0)) + value
        self.commits += 1

    def counters(self, shop: str, kind: str, since: str, until: str) -> Rows:
        return [
            (day, key, dict(c))
            for (s, k, day, key), c in sorted(self.counts.items())
            if s == shop and k == kind and since <= day <= until
        ]

    def arms(self, shop: str, journey: str | None = None) -> Rows:
        return [
            ("", key, dict(c))
            for (s, k, _day, key), c in sorted(self.counts.items())
            if s == shop and k == "arm" and (journey is None or key.startswith(f"{journey}|"))
        ]

    def put_snapshot(self, shop, day, values):
        self.snapshot_rows[(shop, day)] = dict(values)

    def snapshots(self, shop, since, until):
        return [
            (day, dict(v)) for (s, day), v in sorted(self.snapshot_rows.items()) if s == shop and since <= day <= until
        ]
