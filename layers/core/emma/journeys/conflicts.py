"""Journeys that know each other: whether a journey may take (or keep messaging) a customer, given the
other journeys the customer is in and what Emma knows about them. Pure: the caller reads the journey
states (one query) and, only when a journey has exclusion conditions, the profile and its derived facts.

Who yields to whom (docs/journeys.md#journeys-that-know-each-other):

- ``A excludes B``: A yields. A is not entered while B is active, and A holds its sends (or exits) while
  B is active. B is never refused or held because of A: the journey that declares the exclusion is the
  one that stays away (winback excludes the onboarding; a smartphone bought during a winback starts the
  onboarding all the same, and the winback, which exits on the order anyway, holds meanwhile).
- ``A excludes customers when ...``: A is not entered, and holds its sends, while a condition holds.
- Same exclusive group, neither allowing the other: a newcomer is refused by an active journey of equal or
  higher priority; a running journey holds its sends while one of higher priority is active (or one of
  equal priority that entered before it).
- ``A allows B`` (either side): no group rule between them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from emma.journeys.definitions import Journey, JourneyGroup
from emma.journeys.state import JourneyState
from emma.rules.definitions import All, Any_, Compare, Condition, CountEvents, CountOrders, DaysSince, InSegment, Not
from emma.rules.definitions import Revenue as RevenueCondition
from emma.rules.evaluate import Facts, holds, resolve

LABELS = {
    "profile.orders.last_order_at": "last order",
    "profile.orders.first_order_at": "first order",
    "profile.last_seen_at": "last seen",
    "profile.last_active_at": "last active",
    "profile.first_seen_at": "first seen",
    "profile.created_at": "profile created",
}


def rivals(a: Journey, b: Journey, groups: Mapping[str, JourneyGroup]) -> str | None:
    """The exclusive group ``a`` and ``b`` share without allowing each other, else None. A group the
    caller does not know counts as exclusive."""
    if a.group is None or a.group != b.group or a.coexists_with(b):
        return None
    group = groups.get(a.group)
    return a.group if group is None or group.exclusive else None


def conflict(
    journey: Journey,
    states: Iterable[JourneyState],
    journeys: Mapping[str, Journey],
    groups: Mapping[str, JourneyGroup],
    facts: Callable[[], Facts],
    running_since: datetime | None = None,
) -> str | None:
    """Why ``journey`` may not take the customer now (``running_since`` None: at entry) or may not send
    to them now (``running_since``: when its execution entered); None when nothing stands in its way.
    ``facts`` is called only when the journey has exclusion conditions."""
    active = sorted((s for s in states if s.status == "active" and s.journey != journey.id), key=_entered)
    for state in active:
        other = journeys.get(state.journey)
        if other is None:  # a journey no longer defined: nothing to weigh it by
            continue
        if other.id in journey.excludes.journeys:
            return f"{other.id} active since {state.entered_at.date().isoformat()}"
        group = rivals(journey, other, groups)
        if group is None:
            continue
        if running_since is None:
            wins = other.rank >= journey.rank  # equal priority: the one already active keeps the customer
        else:
            wins = other.rank > journey.rank or (other.rank == journey.rank and state.entered_at < running_since)
        if wins:
            return f"{other.id} (group {group}, priority {other.rank}) active"
    if journey.excludes.when:
        known = facts()
        for n, condition in enumerate(journey.excludes.when, 1):
            if holds(condition, known, known.now):
                return f"excluded: {describe(condition, known)} (condition {n})"
    return None


def _entered(state: JourneyState) -> datetime:
    at = state.entered_at
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def describe(condition: Condition, facts: Facts) -> str:
    """What made a condition hold, in words: "last order 12 days ago", "in segment vip"."""
    match condition:
        case All():
            return " and ".join(describe(c, facts) for c in condition.all)
        case Any_():
            held = next((c for c in condition.any if holds(c, facts, facts.now)), condition.any[0])
            return describe(held, facts)
        case Not():
            return f"not ({describe(condition.not_, facts)})"
        case InSegment():
            return f"in segment {condition.segment}"
        case DaysSince():
            label = _label(condition.days_since)
            at = _time(resolve(facts, condition.days_since))
            if at is None:
                return f"{label}: none"
            days = max(0, (facts.now - at) // timedelta(days=1))
            return f"{label} " + ("today" if days == 0 else "1 day ago" if days == 1 else f"{days} days ago")
        case Compare():
            return f"{_label(condition.field)} = {_short(resolve(facts, condition.field))}"
        case CountOrders():
            return f"{_orders(condition, facts)} orders" + _within(condition.orders.within)
        case CountEvents():
            return f"{condition.count.value} {condition.op} {_short(condition.operand)}" + _within(condition.within)
        case RevenueCondition():
            return f"revenue {condition.op} {_short(condition.operand)}" + _within(condition.revenue.within)
    return "a condition holds"


def _orders(condition: CountOrders, facts: Facts) -> int:
    if condition.orders.within is None:
        return facts.profile.orders.count
    start = facts.now - condition.orders.within
    return sum(1 for r in facts.profile.orders.recent if r.counted and start <= r.placed_at <= facts.now)


def _within(within: timedelta | None) -> str:
    return "" if within is None else f" within {within.days} days"


def _label(path: str) -> str:
    return LABELS.get(path, path.removeprefix("profile."))


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, ValueError, OSError):
            return None
    return None
