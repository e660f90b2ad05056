"""What the rules function keeps per profile (the DERIVED item beside the profile), the timers it
sets, and the port to the store. The profile itself stays ingest's: two writers, two items."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from emma.errors import BadRequest
from emma.events.model import CanonicalEvent
from emma.predict.history import Purchases
from emma.predict.model import profile_purchases
from emma.predict.prior import counter_items
from emma.profiles.model import Profile

SHARDS = 16  # timers are spread over 16 partitions sorted by due time: no hot key, 16 queries per run
COUNTER_SHARDS = 8  # segment size counters per shop
MEMBER_SHARDS = 8  # partitions of a segment's member list: ~4,000 entries or leaves a second before one runs hot
MEMBER_TEXT_BYTES = 256  # the searchable text of a member list entry's sort key, at most (UTF-8)
MAX_MEMBERS_PAGE = 200  # members a read of a segment's member list returns at most
COMMIT_ITEMS = 100  # DynamoDB's TransactWriteItems limit (emma.adapters.limits.MAX_TRANSACTION_ITEMS)


class TriggerState(BaseModel):
    last_fired_at: datetime | None = None
    count: int = 0


class ArmState(BaseModel):
    armed_at: datetime
    due_at: datetime
    event_id: str


class StaleMemberKey(BaseModel):
    """An entry of a merged-away profile still to delete (the survivor's next commits delete it)."""

    segment: str
    profile_id: str
    sk: str


class Derived(BaseModel):
    """Emma's conclusions about one profile."""

    model_config = ConfigDict(extra="ignore")
    profile_id: str = ""
    version: int = 0
    retired: bool = False  # the profile was merged into another; its memberships no longer count
    absorbed: list[str] = Field(default_factory=list)  # merged-away profiles whose derived state was retired
    segments: list[str] = Field(default_factory=list)
    lifecycle_stage: str | None = None
    loyalty_tier: str | None = Field(None, description="the loyalty tier (a segment of kind loyalty), if any")
    rfm: dict[str, int] | None = None
    predictions: dict[str, Any] | None = None
    triggers: dict[str, TriggerState] = Field(default_factory=dict)
    arms: dict[str, ArmState] = Field(default_factory=dict)
    next_review_at: datetime | None = None
    updated_at: datetime | None = None
    purchases: Purchases | None = Field(
        None, description="the purchase summary as last added to the shop's prediction counters"
    )
    order_times: list[datetime] = Field(
        default_factory=list,
        description="counted order times as last added to the shop's prediction counters, by versions before the "
        "purchase summary (read once, then replaced by ``purchases``)",
    )
    member_keys: dict[str, dict[str, int | None]] = Field(
        default_factory=dict,
        description="the profile's entries in segments' member lists: the sort key written -> {segment: when the "
        "profile entered, epoch seconds (None: before member lists were kept)}; usually one key for all (the "
        "email is in it once). Under '' the segments whose entry is not written yet (no room in the commit)",
    )
    stale_member_keys: list[StaleMemberKey] = Field(
        default_factory=list, description="member list entries of merged-away profiles not deleted yet"
    )

    def memberships(self) -> dict[str, tuple[str, int | None]]:
        """segment -> (the sort key of its entry, '' if not written yet; when the profile entered)."""
        return {
            segment: (sk, since) for sk, segments in self.member_keys.items() for segment, since in segments.items()
        }

    def set_memberships(self, memberships: dict[str, tuple[str, int | None]]) -> None:
        self.member_keys = {}
        for segment, (sk, since) in sorted(memberships.items()):
            self.member_keys.setdefault(sk, {})[segment] = since


@dataclass(frozen=True)
class Timer:
    shop: str
    profile_id: str
    kind: Literal["absence", "review"]
    due_at: datetime
    trigger_id: str = ""
    armed_at: datetime | None = None
    first_due_at: datetime | None = None  # a timer put again after its evaluation failed: when it first came due
    attempt: int = 0  # evaluations of it that failed before

    def retry(self, at: datetime) -> Timer:
        """The timer put again at ``at`` after its evaluation failed: the same arm, review or trigger, one more
        attempt, its first due time kept (the scheduled job gives a timer up some time after that)."""
        return Timer(
            self.shop,
            self.profile_id,
            self.kind,
            at,
            self.trigger_id,
            self.armed_at,
            self.first_due_at or self.due_at,
            self.attempt + 1,
        )

    @property
    def key(self) -> str:
        """Unique per timer, sorting by due time: re-arming writes a new timer; the stale one finds
        nothing to do when it comes due."""
        armed = stamp(self.armed_at) if self.armed_at else ""
        return f"{stamp(self.due_at)}#{self.shop}#{self.profile_id}#{self.kind}#{self.trigger_id}#{armed}"

    @property
    def shard(self) -> int:
        return timer_shard(self.profile_id)


def timer_shard(profile_id: str) -> int:
    """The partition of a profile's timers: every timer of one profile is in the same one."""
    return int(hashlib.sha256(profile_id.encode()).hexdigest(), 16) % SHARDS


def stamp(at: datetime) -> str:
    """A fixed-width UTC time that sorts as text."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def counter_shard(profile_id: str) -> int:
    return int(hashlib.sha256(profile_id.encode()).hexdigest(), 16) % COUNTER_SHARDS


def member_shard(profile_id: str) -> int:
    return int(hashlib.sha256(profile_id.encode()).hexdigest(), 16) % MEMBER_SHARDS


def member_key(email: str | None, customer_id: str | None, profile_id: str) -> str:
    """The sort key of a profile's entry in a segment's member list: what an admin searches for, lower-cased
    (the primary email, else the shop's customer id, else the profile id, at most MEMBER_TEXT_BYTES), then
    the profile id, which makes it unique (profile ids hold no ``#``). A prefix of it is a search."""
    text = (email or customer_id or profile_id).lower().encode()[:MEMBER_TEXT_BYTES].decode("utf-8", "ignore")
    return f"{text}#{profile_id}"


def member_search(query: str | None) -> str:
    """A search as the sort keys' prefix: trimmed and lower-cased like their text."""
    return (query or "").strip().lower()


@dataclass(frozen=True)
class Listing:
    """One entry of a segment's member list, as a rules commit writes (or deletes) it."""

    shop: str
    segment: str
    profile_id: str
    key: str  # member_key(...) when written; the sort key in Derived.member_keys when deleted
    email: str | None = None
    customer_id: str | None = None
    since: datetime | None = None

    @property
    def shard(self) -> int:
        return member_shard(self.profile_id)


def members_cursor(after: str) -> str:
    """The opaque cursor of a member list page: the last sort key returned, base64url without padding."""
    return base64.urlsafe_b64encode(after.encode()).rstrip(b"=").decode()


def members_after(cursor: str) -> str:
    """The sort key a cursor made by ``members_cursor`` continues after. Any base64url text is a position
    (undecodable bytes become U+FFFD): a cursor that was tampered with only starts the page elsewhere."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadRequest("invalid cursor: pass next_cursor of the previous page") from exc
    return raw.decode("utf-8", "replace")


@dataclass
class Loaded:
    profile: Profile | None  # the live profile (merges followed), None if unknown
    derived: Derived  # version 0 when there is none yet
    marker: dict[str, Any] | None  # set when this event was evaluated before (timers leave no marker)
    retired: list[Derived] = field(default_factory=list)  # derived states of profiles merged into this one
    pending: list[dict[str, Any]] = field(default_factory=list)  # the derived state's outbox, not published yet

    @cached_property
    def purchases(self) -> Purchases | None:
        """The profile's purchase summary, worked out once: the predictions and the shop counters read it."""
        return None if self.profile is None else profile_purchases(self.profile)


@dataclass
class RulesCommit:
    """What one evaluation writes. With a ``marker_id`` (an event: "EV#<event id>") the marker, holding the outbox,
    makes a re-delivered input a duplicate; without one (a timer) the outbox is kept on the derived state until
    published (``RulesStore.published``): a timer evaluated again finds nothing left to do (its conclusions are
    in the derived state it reads), so only the outbox needs keeping. ``timers`` are written before the commit,
    outside it (``RulesStore.put_timers``): a commit that does not happen leaves at most a surplus timer, whose
    evaluation finds nothing to do."""

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
    listed: list[Listing] = field(default_factory=list)  # member list entries written
    unlisted: list[Listing] = field(default_factory=list)  # member list entries deleted

    @property
    def marker_profile(self) -> str:
        return self.marker_profile_id or self.profile_id

    def items(self) -> int:
        """The writes of the store's transaction (at most COMMIT_ITEMS): the derived state, the marker (an event's),
        each retired derived state, the counters if they move, the prediction counters' items that move (the
        counters item and each histogram cell's), each timer deleted, each member list entry written or deleted.
        One item (the derived state alone) is a single conditional write, not a transaction."""
        new = {t.key for t in self.timers}
        return (
            1
            + bool(self.marker_id)
            + len(self.retire)
            + any(self.counter_deltas.values())
            + counter_items(self.stats_delta)
            + sum(t.key not in new for t in self.superseded)
            + len(self.listed)
            + len(self.unlisted)
        )
