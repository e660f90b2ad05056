"""What an event (or the passage of time) means for one profile: triggers fired or armed, segment
membership, lifecycle stage, RFM scores, and when to look at the profile again. Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from emma.events.model import EVENT_ADAPTER, CanonicalEvent, EventType, SourceKind
from emma.profiles.model import Profile
from emma.rules.definitions import Segment, Trigger
from emma.rules.evaluate import Facts, holds, next_change
from emma.rules.loader import Definitions

# RFM: fixed, documented bins (docs/segments.md); the scores are 1 (low) to 5 (high).
RECENCY_DAYS = (30, 90, 180, 365)  # last order within 30 days -> R=5 ... older than 365 -> R=1
FREQUENCY_ORDERS = (2, 3, 5, 10)  # 1 order -> F=1, 2 -> 2, 3-4 -> 3, 5-9 -> 4, 10+ -> 5
MONETARY = (100.0, 300.0, 700.0, 1500.0)  # revenue in the shop's currency
# Segment kinds that are ladders: a profile is in one rung at most, the first matching by priority; the
# Outcome (and Derived) field that names it.
LADDERS = {"lifecycle": "lifecycle_stage", "loyalty": "loyalty_tier"}
# The rules' own conclusions that triggers may listen to (decided in the same evaluation, see _conclusions).
CONCLUSION_TYPES = (EventType.SEGMENT_ENTERED, EventType.SEGMENT_LEFT)


@dataclass(frozen=True)
class Arm:
    """An absence trigger armed by an event: fire at ``due_at`` unless an awaited event came."""

    trigger_id: str
    armed_at: datetime
    due_at: datetime
    event_id: str


@dataclass
class Outcome:
    fired: list[str] = field(default_factory=list)  # trigger ids whose conditions hold now
    armed: list[Arm] = field(default_factory=list)
    segments: set[str] = field(default_factory=set)
    entered: set[str] = field(default_factory=set)
    left: set[str] = field(default_factory=set)
    lifecycle_stage: str | None = None
    loyalty_tier: str | None = None
    rfm: dict[str, int] | None = None
    next_review_at: datetime | None = None


def rfm_scores(profile: Profile, now: datetime) -> dict[str, int] | None:
    stats = profile.orders
    if stats.count <= 0 or stats.last_order_at is None:
        return None
    days = (now - stats.last_order_at) / timedelta(days=1)
    r = 5 - sum(days > limit for limit in RECENCY_DAYS)
    f = 1 + sum(stats.count >= limit for limit in FREQUENCY_ORDERS)
    m = 1 + sum(float(stats.revenue) >= limit for limit in MONETARY)
    return {"r": r, "f": f, "m": m, "score": r * 100 + f * 10 + m}


def _rfm_next_change(profile: Profile, now: datetime) -> datetime | None:
    last = profile.orders.last_order_at
    if last is None:
        return None
    flips = [last + timedelta(days=d, seconds=1) for d in RECENCY_DAYS]
    return min((t for t in flips if t > now), default=None)


def evaluate_segments(
    defs: Definitions, profile: Profile, now: datetime, previous: set[str], predictions: dict[str, Any] | None = None
) -> Outcome:
    """Membership of every segment (in dependency order), the lifecycle stage, the loyalty tier, RFM, next
    review. Stages and tiers are ladders (LADDERS): of the matching segments of such a kind a profile is in the
    first by ``priority`` (lowest first; ties by id), so in exactly one when any matches."""
    out = Outcome(rfm=rfm_scores(profile, now))
    derived: dict[str, Any] = {
        "rfm": out.rfm or {},
        "predictions": predictions or {},
        "lifecycle_stage": None,
        "loyalty_tier": None,
    }
    facts = Facts(profile, now, segments=set(), derived=derived)
    rungs: dict[str, list[Segment]] = {kind: [] for kind in LADDERS}
    reviews = [_rfm_next_change(profile, now)]
    for segment in defs.segments:
        if holds(segment.when, facts):
            if segment.kind in rungs:
                rungs[segment.kind].append(segment)
            else:
                facts.segments.add(segment.id)
        reviews.append(next_change(segment.when, facts))
    for kind, matching in rungs.items():
        if matching:
            chosen = min(matching, key=lambda s: (s.priority, s.id))
            setattr(out, LADDERS[kind], chosen.id)
            facts.segments.add(chosen.id)
    out.segments = facts.segments
    out.entered = out.segments - previous
    out.left = previous - out.segments
    out.next_review_at = min((t for t in reviews if t is not None), default=None)
    return out


def evaluate_event(
    defs: Definitions,
    profile: Profile,
    event: CanonicalEvent,
    now: datetime,
    previous: set[str],
    predictions: dict[str, Any] | None = None,
) -> Outcome:
    """Segments first (a trigger may ask for a segment), then the triggers listening to this event.
    An event that repeats a thing already counted (``event.repeat``: the same order under a new
    delivery id) fires and arms nothing: the first one did."""
    out = evaluate_segments(defs, profile, now, previous, predictions)
    if event.repeat:
        return out
    derived = {
        "rfm": out.rfm or {},
        "predictions": predictions or {},
        "lifecycle_stage": out.lifecycle_stage,
        "loyalty_tier": out.loyalty_tier,
    }
    candidates = [event, *_conclusions(defs, profile, event, out, now)]
    for trigger in defs.triggers:
        for candidate in candidates:
            if candidate.type not in trigger.on:
                continue
            if not holds(trigger.when, Facts(profile, now, event=candidate, segments=out.segments, derived=derived)):
                continue
            if trigger.absent is None:
                out.fired.append(trigger.id)
            else:
                at = candidate.occurred_at
                out.armed.append(Arm(trigger.id, at, at + trigger.absent.within, event.id))
            break  # a trigger fires (or is armed) at most once per input
    return out


def _conclusions(
    defs: Definitions, profile: Profile, event: CanonicalEvent, out: Outcome, now: datetime
) -> list[CanonicalEvent]:
    """The segment.entered / segment.left events this evaluation concludes, as the rules service publishes
    them (type, profile, ``properties.segment`` and ``kind``), for the triggers that listen to them: the
    triggers function never receives its own conclusions from the bus (no loops), so a trigger on
    ``segment.entered`` (e.g. a loyalty tier reached) is decided here, in the evaluation of the event that
    caused the change. Built only when a trigger listens to them."""
    if not any(t in CONCLUSION_TYPES for trigger in defs.triggers for t in trigger.on):
        return []
    kinds = {s.id: s.kind for s in defs.segments}
    made = []
    for type_, ids in ((EventType.SEGMENT_ENTERED, out.entered), (EventType.SEGMENT_LEFT, out.left)):
        for segment in sorted(ids):
            made.append(
                EVENT_ADAPTER.validate_python(
                    {
                        "id": f"{event.id}#{type_}#{segment}"[-256:],
                        "shop": event.shop,
                        "type": type_,
                        "occurred_at": now,
                        "received_at": now,
                        "source": {"kind": SourceKind.EMMA, "name": "rules"},
                        "customer": {"profile_id": profile.profile_id},
                        "properties": {"segment": segment, "kind": kinds.get(segment), "cause_event_id": event.id},
                    }
                )
            )
    return made


def absence_holds(trigger: Trigger, profile: Profile, armed_at: datetime, now: datetime) -> bool:
    """When the timer comes due: true unless an awaited event happened since arming (also one that
    came after the due time but before this check: a customer who ordered is not reminded).

    Profiles keep the newest occurrence times per event type, so any occurrence after arming is seen."""
    assert trigger.absent is not None
    # Event times are kept in whole seconds: an awaited event in the arming second counts as after it.
    start, end = math.floor(armed_at.timestamp()), now.timestamp()
    for type_ in trigger.absent.event:
        if any(start <= t <= end for t in profile.event_times.get(str(type_), [])):
            return False
    return True


def may_fire(trigger: Trigger, last_fired_at: datetime | None, fired_count: int, now: datetime) -> bool:
    """Cooldown and once-per-customer."""
    if trigger.once and fired_count > 0:
        return False
    return not (trigger.cooldown and last_fired_at is not None and now - last_fired_at < trigger.cooldown)
