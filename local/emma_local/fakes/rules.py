"""The rules function's store in memory (emma.rules.ports.RulesStore), over an InMemoryProfileRepository."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from emma.adapters.limits import check_transaction
from emma.ingest.ports import CommitConflict
from emma_local.fakes.profiles import InMemoryProfileRepository


class InMemoryRulesStore:
    """The rules function's store, reading profiles from an InMemoryProfileRepository. A commit is refused
    where DynamoDB would refuse it for its size: the TransactWriteItems the DynamoDB adapter would send is
    built and checked (``check_limits=False`` leaves that out where only the domain's CPU is measured)."""

    def __init__(self, profiles: InMemoryProfileRepository, *, check_limits: bool = True) -> None:
        from emma.rules.state import Derived

        self._profiles = profiles
        self.check_limits = check_limits
        # (shop, segment) -> sort key -> the entry (profile_id, email, customer_id, since), all shards in one
        self.members: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.derived_states: dict[tuple[str, str], Derived] = {}
        self.markers: dict[tuple[str, str], dict[str, Any]] = {}
        self.pending: dict[tuple[str, str], list[dict[str, Any]]] = {}  # outboxes kept on derived states
        self.counters: dict[str, dict[str, int]] = {}
        self.timers: dict[str, Any] = {}
        self.stats: dict[str, dict[str, float]] = {}
        self.priors: dict[str, tuple[dict[str, Any], datetime]] = {}
        self._cursor: datetime | None = None
        self._lock = threading.Lock()

    def load(self, shop, profile_id, marker_id):
        from emma.rules.state import Derived, Loaded

        with self._lock:
            marker = self.markers.get((shop, marker_id)) if marker_id else None
            pid = profile_id
            for _ in range(5):  # follow merges to the live profile
                stored = self._profiles.profiles.get((shop, pid))
                if stored is None or not stored.get("merged_into"):
                    break
                pid = stored["merged_into"]
        profile = self._profiles.get_profiles(shop, [pid]).get(pid)
        with self._lock:
            derived = self.derived_states.get((shop, pid), Derived(profile_id=pid)).model_copy(deep=True)
            pending = list(self.pending.get((shop, pid), []))
            retired = []
            for loser_id in profile.merged_from if profile else []:
                loser = self.derived_states.get((shop, loser_id))
                if loser_id not in derived.absorbed and loser is not None and not loser.retired:
                    retired.append(loser.model_copy(deep=True))
                    pending += self.pending.get((shop, loser_id), [])
        return Loaded(profile, derived, None if marker is None else dict(marker), retired, pending)

    def load_many(self, shop, inputs):
        self.loads_many = getattr(self, "loads_many", 0) + 1
        return {pid: self.load(shop, pid, marker_id) for pid, marker_id in inputs}

    def commit(self, commit):
        if self.check_limits:
            from emma.adapters.rules_store import DynamoRulesStore

            items = DynamoRulesStore(None, "profiles", "schedule").transaction(commit)
            assert len(items) == commit.items(), "RulesCommit.items() counts what the store writes"
            check_transaction(items)
        with self._lock:
            if commit.marker_id and (commit.shop, commit.marker_id) in self.markers:
                raise CommitConflict(duplicates=[commit.marker_id])
            current = self.derived_states.get((commit.shop, commit.profile_id))
            stale = (current.version if current else 0) != commit.expected_version or any(
                self.derived_states.get((commit.shop, r.profile_id)) is None
                or self.derived_states[(commit.shop, r.profile_id)].version != r.version
                for r in commit.retire
            )
            if stale:
                raise CommitConflict(stale=True)
            self.derived_states[(commit.shop, commit.profile_id)] = commit.derived.model_copy(deep=True)
            self.pending.pop((commit.shop, commit.profile_id), None)
            for r in commit.retire:
                self.derived_states[(commit.shop, r.profile_id)] = r.model_copy(
                    update={"retired": True, "version": r.version + 1}
                )
                self.pending.pop((commit.shop, r.profile_id), None)
            outbox = [e.model_dump(mode="json") for e in commit.outbox]
            if commit.marker_id:
                self.markers[(commit.shop, commit.marker_id)] = {"published": False, "outbox": outbox}
            elif outbox:  # kept on the derived state until published
                self.pending[(commit.shop, commit.profile_id)] = outbox
            sizes = self.counters.setdefault(commit.shop, {})
            for segment, delta in commit.counter_deltas.items():
                sizes[segment] = sizes.get(segment, 0) + delta
            new = {t.key for t in commit.timers}  # written before the commit (put_timers)
            for timer in commit.superseded:
                if timer.key not in new:
                    self.timers.pop(timer.key, None)
            stats = self.stats.setdefault(commit.shop, {})
            for key, value in commit.stats_delta.items():
                stats[key] = stats.get(key, 0) + value
            for entry in commit.unlisted:
                self.members.get((entry.shop, entry.segment), {}).pop(entry.key, None)
            for entry in commit.listed:
                self.members.setdefault((entry.shop, entry.segment), {})[entry.key] = {
                    "profile_id": entry.profile_id,
                    "email": entry.email or None,
                    "customer_id": entry.customer_id or None,
                    "since": entry.since.isoformat() if entry.since is not None else None,
                }

    def mark_published(self, shop, profile_id, marker_id):
        with self._lock:
            if (shop, marker_id) in self.markers:
                self.markers[(shop, marker_id)]["published"] = True

    def published(self, shop, profile_id, version):
        with self._lock:
            current = self.derived_states.get((shop, profile_id))
            if current is not None and current.version == version:
                self.pending.pop((shop, profile_id), None)

    def put_timers(self, timers):
        with self._lock:
            for timer in timers:
                self.timers[timer.key] = timer

    def due_timers(self, now, since):
        """Those due in (since, now]; timers are never deleted once due (in DynamoDB they expire)."""
        with self._lock:
            return [t for t in self.timers.values() if since < t.due_at <= now]

    def cursor(self):
        return self._cursor

    def set_cursor(self, at):
        self._cursor = at

    def segment_sizes(self, shop):
        return dict(self.counters.get(shop, {}))

    def segment_members(self, shop, segment, query, limit, cursor):
        from emma.rules.state import MAX_MEMBERS_PAGE, member_search, members_after, members_cursor

        limit = max(1, min(limit, MAX_MEMBERS_PAGE))
        prefix = member_search(query)
        after = members_after(cursor) if cursor else None
        with self._lock:
            entries = sorted(
                (sk, dict(entry))
                for sk, entry in self.members.get((shop, segment), {}).items()
                if sk.startswith(prefix) and (after is None or sk > after)
            )
        page = entries[:limit]
        return [entry for _, entry in page], (members_cursor(page[-1][0]) if len(entries) > limit else None)

    def shop_stats(self, shop):
        return dict(self.stats.get(shop, {}))

    def derived(self, shop, profile_id):
        return self.derived_states.get((shop, profile_id))

    def prior(self, shop):
        return self.priors.get(shop)

    def put_prior(self, shop, prior, fitted_at):
        self.priors[shop] = (prior, fitted_at)
