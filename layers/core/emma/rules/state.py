"""What the rules function keeps per profile (the DERIVED item beside the profile), the timers it
sets, and the port to the store. The profile itself stays ingest's: two writers, two items."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from emma.events.model import CanonicalEvent
from emma.profiles.model import Profile

SHARDS = 16  # timers are spread over 16 partitions sorted by due time: no hot key, 16 queries per run
COUNTER_SHARDS = 8  # segment size counters per shop


class TriggerState(BaseModel):
    last_fired_at: datetime | None = None
    count: int = 0


class ArmState(BaseModel):
    armed_at: datetime
    due_at: datetime
    event_id: str


class Derived(BaseModel):
    """Emma's conclusions about one profile."""

    model_config = ConfigDict(extra="ignore")
    profile_id: str = ""
    version: int = 0
    retired: bool = False  # the profile was merged into another; its memberships no longer count
    absorbed: list[str] = Field(default_factory=list)  # merged-away profiles whose derived state was retired
    segments: list[str] = Field(default_factory=list)
    lifecycle_stage: str | None = None
    rfm: dict[str, int] | None = None
    predictions: dict[str, Any] | None = None
    triggers: dict[str, TriggerState] = Field(default_factory=dict)
    arms: dict[str, ArmState] = Field(default_factory=dict)
    next_review_at: datetime | None = None
    updated_at: datetime | None = None
    order_times: list[datetime] = Field(
        default_factory=list, description="counted order times as last added to the shop's prediction counters"
    )


@dataclass(frozen=True)
class Timer:
    shop: str
    profile_id: str
    kind: Literal["absence", "review"]
    due_at: datetime
    trigger_id: str = ""
    armed_at: datetime | None = None

    @property
    def key(self) -> str:
        """Unique per timer, sorting by due time: re-arming writes a new timer; the stale one finds
        nothing to do when it comes due."""
        armed = stamp(self.armed_at) if self.armed_at else ""
        return f"{stamp(self.due_at)}#{self.shop}#{self.profile_id}#{self.kind}#{self.trigger_id}#{armed}"

    @property
    def shard(self) -> int:
        return int(hashlib.sha256(self.profile_id.encode()).hexdigest(), 16) % SHARDS


def stamp(at: datetime) -> str:
    """A fixed-width UTC time that sorts as text."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def counter_shard(profile_id: str) -> int:
    return int(hashlib.sha256(profile_id.encode()).hexdigest(), 16) % COUNTER_SHARDS


@dataclass
class Loaded:
    profile: Profile | None  # the live profile (merges followed), None if unknown
    derived: Derived  # version 0 when there is none yet
    marker: dict[str, Any] | None  # set when this event/timer was evaluated before
    retired: list[Derived] = field(default_factory=list)  # derived states of profiles merged into this one


@dataclass
class RulesCommit:
    shop: str
    profile_id: str
    derived: Derived
    expected_version: int
    marker_id: str
    outbox: list[CanonicalEvent]
    counter_deltas: dict[str, int]
    timers: list[Timer]
    retire: list[Derived] = field(default_factory=list)  # written back with retired=True (version-checked)
    stats_delta: dict[str, int | float] = field(default_factory=dict)  # ADD to the shop's prediction counters
    superseded: list[Timer] = field(default_factory=list)  # timers this commit replaces: deleted with it
    marker_profile_id: str = ""  # the profile the input named (its partition holds the marker); default: profile_id

    @property
    def marker_profile(self) -> str:
        return self.marker_profile_id or self.profile_id
