"""What the rules service needs from storage: derived state, markers, counters, timers and the shop's
prediction counters, committed atomically. Adapter in emma.adapters.rules_store; in-memory twin in
emma_local.fakes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from emma.rules.state import Derived, Loaded, RulesCommit, Timer


class RulesStore(Protocol):
    def load(self, shop: str, profile_id: str, marker_id: str) -> Loaded:
        """The profile (merges followed), its derived state with the outbox pending on it, and the input's
        marker (``marker_id`` empty: none looked for, a timer's evaluation)."""
        ...

    def load_many(self, shop: str, inputs: Sequence[tuple[str, str]]) -> dict[str, Loaded]:
        """``load`` for many (profile id, marker id) pairs in as few reads as the store allows, by profile id.
        A profile whose load needs more (merges to follow, retired states) may be left out: load it alone."""
        ...

    def commit(self, commit: RulesCommit) -> None:
        """Atomically, or raise emma.ingest.ports.CommitConflict (stale derived state, or marker exists). Without
        a marker the outbox is kept on the derived state until ``published``. Not the timers: ``put_timers``."""
        ...

    def mark_published(self, shop: str, profile_id: str, marker_id: str) -> None:
        """``profile_id``: the profile the input named, as given to ``load``."""
        ...

    def published(self, shop: str, profile_id: str, version: int) -> None:
        """The outbox kept on the derived state of this version is on the bus: drop it (nothing if the derived
        state moved on: whoever wrote it published the outbox first)."""
        ...

    def put_timers(self, timers: Sequence[Timer]) -> None:
        """Written as they are (the same timer twice is one item); never deleted once due: they expire (TTL)."""
        ...

    def due_timers(self, now: datetime, since: datetime) -> list[Timer]:
        """Timers due in (since, now], read shard by shard (a range of each shard's sort keys)."""
        ...

    def cursor(self) -> datetime | None: ...

    def set_cursor(self, at: datetime) -> None: ...

    def segment_sizes(self, shop: str) -> dict[str, int]: ...

    def segment_members(
        self, shop: str, segment: str, query: str | None, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the segment's member list (at most ``limit``, up to MAX_MEMBERS_PAGE), sorted by email
        (else customer id, else profile id), each ``{profile_id, email, customer_id, since}``; with ``query``,
        only those whose email (or id) starts with it, case-insensitively. The second value is the cursor of
        the next page, None after the last (raises emma.errors.BadRequest for a cursor it did not make)."""
        ...

    def derived(self, shop: str, profile_id: str) -> Derived | None: ...

    def shop_stats(self, shop: str) -> dict[str, Any]:
        """The shop's prediction counters (flat attributes, see emma.predict.prior.ShopStats)."""
        ...

    def prior(self, shop: str) -> tuple[dict[str, Any], datetime] | None:
        """The shop's fitted prior and when it was fitted."""
        ...

    def put_prior(self, shop: str, prior: dict[str, Any], fitted_at: datetime) -> None: ...
