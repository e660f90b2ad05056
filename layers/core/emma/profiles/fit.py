"""Keep a profile within what one store item holds, whatever its customer (or a flood) sends.

Every collection on a profile is bounded by count, but the entries themselves can be large (product
ids, categories and brands of 512 characters, orders of 50 lines, traits of 1 KB), so a customer who
buys or browses enough oddly named things could grow the profile past DynamoDB's 400 KB item limit,
after which every write for that customer would fail. :func:`fit_profile` trims the profile, oldest
and least useful first, until its JSON is within the budget. What it trims is history that the
aggregates already summarise (counts, revenue, first and last order stay exact): the oldest recent
orders, products bought longest ago, the weakest interests, old recommendations and counted ids,
older event times, the oldest anonymous ids, the largest traits. It returns what it trimmed, so that
the caller can log it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emma.profiles.model import Profile

# DynamoDB holds 400 KB an item; the profile item adds its keys and a few attributes to the document,
# and a transaction must still have room for events besides it.
PROFILE_BUDGET_BYTES = 300 * 1024


def profile_bytes(profile: Profile) -> int:
    return len(profile.model_dump_json().encode("utf-8", "surrogatepass"))


def _halve_list(values: list[Any], floor: int = 0) -> int:
    """Drop half of a list (the oldest: the front), never below ``floor``; how many were dropped."""
    drop = max(0, min(len(values) - floor, (len(values) + 1) // 2))
    del values[:drop]
    return drop


def _halve_dict(values: dict[str, Any], key: Callable[[tuple[str, Any]], Any], floor: int = 0) -> int:
    """Drop the half of a mapping that sorts first by ``key`` (the oldest or weakest)."""
    drop = max(0, min(len(values) - floor, (len(values) + 1) // 2))
    for name, _ in sorted(values.items(), key=key)[:drop]:
        del values[name]
    return drop


def _steps(profile: Profile) -> list[tuple[str, Callable[[], int]]]:
    """The trims, in the order they are tried: each removes half of one collection (oldest first)."""
    orders = profile.orders.recent
    aff = profile.affinities
    steps: list[tuple[str, Callable[[], int]]] = [
        ("event_times", lambda: sum(_halve_list(v, floor=2) for v in profile.event_times.values())),
        ("recommended", lambda: _halve_dict(profile.recommended, key=lambda kv: kv[1].at)),
        ("content_sent", lambda: _halve_dict(profile.content_sent, key=lambda kv: kv[1].at)),
        ("counted", lambda: sum(_halve_dict(v, key=lambda kv: 0, floor=10) for v in profile.counted.values())),
        ("affinities.products", lambda: _halve_dict(aff.products, key=lambda kv: kv[1].score)),
        ("affinities.topics", lambda: _halve_dict(aff.topics, key=lambda kv: kv[1].score)),
        ("affinities.categories", lambda: _halve_dict(aff.categories, key=lambda kv: kv[1].score, floor=5)),
        ("affinities.brands", lambda: _halve_dict(aff.brands, key=lambda kv: kv[1].score, floor=5)),
        ("tutorials_watched", lambda: _halve_dict(profile.tutorials_watched, key=lambda kv: kv[1])),
        ("anonymous_ids", lambda: _halve_list(profile.anonymous_ids, floor=5)),
        ("orders.recent", lambda: _halve_list(orders, floor=5)),  # newest last: the front is the oldest
        ("products_owned", lambda: _halve_dict(profile.products_owned, key=lambda kv: kv[1].last_bought_at, floor=5)),
        ("traits", lambda: _halve_dict(profile.traits, key=lambda kv: -len(repr(kv[1].value)))),
        ("orders.recent items", lambda: sum(_drop_items(o) for o in orders[:-1])),
        ("products_owned", lambda: _halve_dict(profile.products_owned, key=lambda kv: kv[1].last_bought_at)),
        ("orders.recent", lambda: _halve_list(orders)),
    ]
    return steps


def _drop_items(order: Any) -> int:
    dropped = len(order.items)
    order.items = {}
    return dropped


def fit_profile(profile: Profile, budget: int = PROFILE_BUDGET_BYTES) -> dict[str, int]:
    """Trim ``profile`` in place until its JSON is at most ``budget`` bytes; {collection: entries dropped}.
    An empty result means it fitted as it was (the usual case: one size check)."""
    trimmed: dict[str, int] = {}
    if profile_bytes(profile) <= budget:
        return trimmed
    for _ in range(3):  # each round halves every collection once more
        for name, step in _steps(profile):
            dropped = step()
            if dropped:
                trimmed[name] = trimmed.get(name, 0) + dropped
                if profile_bytes(profile) <= budget:
                    return trimmed
    return trimmed
