"""What the recommendations' evaluations share: the baselines (popularity, raw co-occurrence counts
summed over the customer's history), hit-rate@k with its interval, and paired intervals of the
difference between two methods asked for the same customers.

A paired interval: for each test customer the difference of the two methods' hits (1, 0 or -1); its
mean +- 1.96 standard deviations / sqrt(n) (normal approximation; n is hundreds or more). It is much
narrower than two separate intervals because both methods are asked for the same customers.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from emma.recommend.model import MAX_BASKET, Basket, ShopModel


@dataclass
class MethodScore:
    hits: int
    customers: int
    hit_rate: float
    ci95: float  # half-width of the normal-approximation 95 % interval
    distinct_recommended: int
    coverage: float  # distinct products recommended / catalog size
    short_lists: int  # requests that returned fewer than k items
    cpu_ms_mean: float | None = None  # per request (the combined recommender only)


@dataclass(frozen=True)
class Paired:
    """hit-rate(a) - hit-rate(b) over the same customers, with its paired 95 % interval."""

    diff: float
    ci95: float
    low: float
    high: float
    customers: int

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "diff": self.diff,
            "ci95": self.ci95,
            "low": self.low,
            "high": self.high,
            "customers": self.customers,
            "above_zero": self.low > 0,
        }


def paired(a: Sequence[bool], b: Sequence[bool]) -> Paired:
    if len(a) != len(b):
        raise ValueError("paired hits need the same customers")
    n = len(a)
    if n == 0:
        return Paired(0.0, 0.0, 0.0, 0.0, 0)
    diffs = [int(x) - int(y) for x, y in zip(a, b, strict=True)]
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    half = 1.96 * math.sqrt(var / n)
    return Paired(round(mean, 4), round(half, 4), round(mean - half, 4), round(mean + half, 4), n)


class Tally:
    """One method's hits, one entry per test customer (in the order asked: pairs with other tallies)."""

    def __init__(self, catalog_size: int) -> None:
        self.hits: list[bool] = []
        self.seen: set[str] = set()
        self.short = 0
        self.cpu: list[float] = []
        self.catalog_size = catalog_size

    def add(self, recommended: list[str], held_out: set[str], k: int) -> bool:
        hit = bool(held_out & set(recommended[:k]))
        self.hits.append(hit)
        self.seen.update(recommended[:k])
        self.short += len(recommended) < k
        return hit

    def score(self) -> MethodScore:
        n, hits = len(self.hits), sum(self.hits)
        rate = hits / n if n else 0.0
        return MethodScore(
            hits=hits,
            customers=n,
            hit_rate=round(rate, 4),
            ci95=round(1.96 * math.sqrt(rate * (1 - rate) / n), 4) if n else 0.0,
            distinct_recommended=len(self.seen),
            coverage=round(len(self.seen) / self.catalog_size, 4) if self.catalog_size else 0.0,
            short_lists=self.short,
            cpu_ms_mean=round(sum(self.cpu) / len(self.cpu), 3) if self.cpu else None,
        )


@dataclass
class Groups:
    """Hits per method and group of test customers (e.g. the held-out product's kind), paired."""

    hits: dict[str, dict[str, list[bool]]] = field(default_factory=dict)  # group -> method -> hits

    def add(self, group: str, method: str, hit: bool) -> None:
        self.hits.setdefault(group, {}).setdefault(method, []).append(hit)

    def summary(self, main: str, baselines: Iterable[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for group, methods in sorted(self.hits.items()):
            n = len(methods[main])
            row: dict[str, Any] = {"customers": n}
            for method, hits in methods.items():
                row[method] = round(sum(hits) / n, 4) if n else 0.0
            row["paired"] = {b: paired(methods[main], methods[b]).as_dict() for b in baselines if b in methods}
            out[group] = row
        return out


def popular_baseline(model: ShopModel, owned: set[str], k: int, in_stock: dict[str, bool] | None = None) -> list[str]:
    """The model's POPULAR list minus what the customer owns (and, given ``in_stock``, minus what is out of
    stock): the first ``k``."""
    out = []
    for pid, _ in model.get("POPULAR"):
        if pid in owned or (in_stock is not None and not in_stock.get(pid, False)):
            continue
        out.append(pid)
        if len(out) >= k:
            break
    return out


class CoOccurrence:
    """The co-occurrence baseline: raw counts of customers who bought both products (over the same
    baskets as the model, the newest MAX_BASKET products of each), summed over everything the customer
    owns; what has no count is filled from popularity."""

    def __init__(self, baskets: Iterable[Basket], max_basket: int = MAX_BASKET) -> None:
        self.pairs: dict[str, Counter[str]] = defaultdict(Counter)
        for basket in baskets:
            ids = sorted(basket.products, key=lambda p: basket.products[p], reverse=True)[:max_basket]
            for a in ids:
                partners = self.pairs[a]
                for b in ids:
                    if a != b:
                        partners[b] += 1

    def recommend(self, owned: Iterable[str], k: int, model: ShopModel) -> list[str]:
        owned = set(owned)
        scores: Counter[str] = Counter()
        for seed in owned:
            partners = self.pairs.get(seed)
            if partners:
                scores.update(partners)
        ranked = [pid for pid, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])) if pid not in owned][:k]
        if len(ranked) < k:
            ranked += [p for p in popular_baseline(model, owned | set(ranked), k) if p not in ranked][: k - len(ranked)]
        return ranked
