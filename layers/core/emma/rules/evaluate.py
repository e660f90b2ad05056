"""Evaluating conditions against a profile (and an event), and when their answer can next change
with the passage of time alone. Pure: no I/O; ``now`` is always passed in."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel

from emma.events.model import CanonicalEvent
from emma.profiles.model import AFFINITY_HALF_LIFE_DAYS, Affinity, Profile, Trait
from emma.rules.definitions import (
    All,
    Any_,
    Compare,
    Condition,
    CountEvents,
    CountOrders,
    DaysSince,
    InSegment,
    Not,
    Revenue,
)

DAY = timedelta(days=1)
PREDICTION_REVIEW = timedelta(days=7)  # profiles in prediction-based segments are re-scored weekly
DERIVED_ROOTS = ("segments", "lifecycle_stage", "loyalty_tier", "rfm", "predictions")


@dataclass
class Facts:
    """What conditions can see: the profile, what Emma derived about it, maybe the current event."""

    profile: Profile
    now: datetime
    event: CanonicalEvent | None = None
    segments: set[str] = field(default_factory=set)
    derived: dict[str, Any] = field(default_factory=dict)  # lifecycle_stage, loyalty_tier, rfm, predictions


# ---- field access -----------------------------------------------------------------------------

_PROFILE_ALIASES = {"known": "is_known"}


def _step(obj: Any, part: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, BaseModel):
        return getattr(obj, _PROFILE_ALIASES.get(part, part), None)
    if isinstance(obj, dict):
        if part in obj:
            return obj[part]
        return next((v for k, v in obj.items() if isinstance(k, Enum) and k.value == part), None)
    if isinstance(obj, list | tuple) and part.isdigit():
        index = int(part)
        return obj[index] if index < len(obj) else None
    return None


def _plain(value: Any, now: datetime) -> Any:
    if isinstance(value, Trait):
        return value.value
    if isinstance(value, Affinity):
        return value.decayed(now)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {(k.value if isinstance(k, Enum) else k): v for k, v in value.items()}
    return value


def resolve(facts: Facts, path: str) -> Any:
    return _plain(_resolve_raw(facts, path), facts.now)


def _resolve_raw(facts: Facts, path: str) -> Any:
    root, *parts = path.split(".")
    if root == "event":
        obj: Any = facts.event
    elif parts and parts[0] == "segments":
        obj, parts = sorted(facts.segments), parts[1:]
    elif parts and parts[0] in facts.derived:
        obj = facts.derived
    else:
        obj = facts.profile
    i = 0
    while i < len(parts):
        if isinstance(obj, dict):  # keys may hold dots themselves (event types: order.placed)
            for j in range(len(parts), i, -1):
                key = ".".join(parts[i:j])
                if key in obj or any(isinstance(k, Enum) and k.value == key for k in obj):
                    obj, i = _step(obj, key), j
                    break
            else:
                return None
            continue
        if isinstance(obj, list | tuple) and not parts[i].isdigit():
            # A field of every element: event.properties.items.category -> ["smartphones", ...]
            obj, i = [_step(element, parts[i]) for element in obj], i + 1
            obj = [_plain(v, facts.now) for v in obj]
            continue
        obj, i = _step(obj, parts[i]), i + 1
    return obj


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, ValueError, OSError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def compare(op: str, value: Any, operand: Any) -> bool:
    if op == "exists":
        present = value is not None and value != [] and value != {} and value != ""
        return present == bool(operand)
    if op in ("eq", "ne"):
        left, right = _number(value), _number(operand)
        equal = left == right if left is not None and right is not None else value == operand
        return equal if op == "eq" else not equal
    if op in ("in", "not_in"):
        inside = value in operand or (_number(value) is not None and _number(value) in map(_number, operand))
        return inside if op == "in" else not inside
    if op == "contains":
        try:
            return isinstance(value, list | tuple | str | dict) and operand in value
        except TypeError:  # e.g. a number looked for in a text
            return False
    left, right = _number(value), _number(operand)
    if left is None or right is None:
        return False
    return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[op]


# ---- windowed facts ---------------------------------------------------------------------------


def _event_times(facts: Facts, node: CountEvents) -> list[datetime]:
    return [datetime.fromtimestamp(t, UTC) for t in facts.profile.event_times.get(str(node.count), [])]


def _counted_orders(facts: Facts) -> list[tuple[datetime, Decimal]]:
    """Counted orders with what each counts for in the revenue: its total less partial refunds."""
    return [(r.placed_at, r.net) for r in facts.profile.orders.recent if r.counted]


def _in_window(times: Iterable[datetime], within: timedelta | None, now: datetime) -> list[datetime]:
    return [t for t in times if within is None or now - within <= t <= now]


def _count_value(node: CountEvents, facts: Facts, now: datetime) -> float:
    if node.within is None:
        return float(facts.profile.event_counts.get(str(node.count), 0))
    return float(len(_in_window(_event_times(facts, node), node.within, now)))


def _orders_value(node: CountOrders, facts: Facts, now: datetime) -> float:
    if node.orders.within is None:
        return float(facts.profile.orders.count)
    return float(len(_in_window((t for t, _ in _counted_orders(facts)), node.orders.within, now)))


def _revenue_value(node: Revenue, facts: Facts, now: datetime) -> float:
    if node.revenue.within is None:
        return float(facts.profile.orders.revenue)
    start = now - node.revenue.within
    return float(sum((total for t, total in _counted_orders(facts) if start <= t <= now), Decimal("0")))


def _days_since(node: DaysSince, facts: Facts, now: datetime) -> float | None:
    at = _as_time(resolve(facts, node.days_since))
    try:
        return None if at is None else (now - at) / DAY
    except OverflowError:
        return None


# ---- evaluation -------------------------------------------------------------------------------


def holds(cond: Condition | None, facts: Facts, now: datetime | None = None) -> bool:
    """Whether ``cond`` holds at ``now`` (default: facts.now). No condition holds trivially."""
    now = now or facts.now
    match cond:
        case None:
            return True
        case All():
            return all(holds(c, facts, now) for c in cond.all)
        case Any_():
            return any(holds(c, facts, now) for c in cond.any)
        case Not():
            return not holds(cond.not_, facts, now)
        case InSegment():
            return cond.segment in facts.segments
        case Compare():
            return compare(cond.op, resolve(facts, cond.field), cond.operand)
        case DaysSince():
            days = _days_since(cond, facts, now)
            return compare(cond.op, days, cond.operand) if days is not None or cond.op == "exists" else False
        case CountEvents():
            return compare(cond.op, _count_value(cond, facts, now), cond.operand)
        case CountOrders():
            return compare(cond.op, _orders_value(cond, facts, now), cond.operand)
        case Revenue():
            return compare(cond.op, _revenue_value(cond, facts, now), cond.operand)
    raise TypeError(f"unknown condition {cond!r}")


def next_change(cond: Condition | None, facts: Facts) -> datetime | None:
    """The earliest moment after facts.now at which ``cond`` may change its answer with no new
    event (a window letting an occurrence go, a 'days since' threshold passing), or None."""
    now = facts.now
    match cond:
        case Compare() if isinstance(raw := _resolve_raw(facts, cond.field), Affinity):
            return _affinity_crossing(raw, cond, now)
        case Compare() if cond.field.startswith("profile.predictions."):
            # Scores drift as time passes without orders; a profile without orders has none. Weekly, counted from
            # the last order: two evaluations of the same profile that week ask for the same review (one timer).
            last = facts.profile.orders.last_order_at
            if facts.profile.orders.count <= 0 or last is None:
                return None
            return last + PREDICTION_REVIEW * ((now - last) // PREDICTION_REVIEW + 1)
        case All() | Any_():
            return _earliest(next_change(c, facts) for c in (cond.all if isinstance(cond, All) else cond.any))
        case Not():
            return next_change(cond.not_, facts)
        case DaysSince():
            at = _as_time(resolve(facts, cond.days_since))
            threshold = _number(cond.operand)
            if at is None or threshold is None:
                return None
            try:
                flip = at + timedelta(days=threshold)
            except OverflowError:
                return None
            if cond.op in ("gt", "lte"):
                flip += timedelta(seconds=1)
            return flip if flip > now else None
        case CountEvents() if cond.within is not None:
            return _window_exit(_event_times(facts, cond), cond.within, now)
        case CountOrders() if cond.orders.within is not None:
            return _window_exit((t for t, _ in _counted_orders(facts)), cond.orders.within, now)
        case Revenue() if cond.revenue.within is not None:
            return _window_exit((t for t, _ in _counted_orders(facts)), cond.revenue.within, now)
    return None


def _affinity_crossing(aff: Affinity, cond: Compare, now: datetime) -> datetime | None:
    """An interest score decays (half-life): when it falls through a threshold the answer flips."""
    threshold = _number(cond.operand)
    if cond.op not in ("gt", "gte", "lt", "lte") or threshold is None or threshold <= 0 or aff.score <= threshold:
        return None
    crossing = aff.at + timedelta(days=AFFINITY_HALF_LIFE_DAYS * math.log2(aff.score / threshold))
    return crossing + timedelta(seconds=1) if crossing > now else None


def _window_exit(times: Iterable[datetime], within: timedelta, now: datetime) -> datetime | None:
    """When the oldest occurrence still inside the window leaves it."""
    inside = _in_window(times, within, now)
    return min(inside) + within + timedelta(seconds=1) if inside else None


def _earliest(times: Iterable[datetime | None]) -> datetime | None:
    return min((t for t in times if t is not None), default=None)
