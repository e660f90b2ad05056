"""Ingest: resolve each event's customer to one profile, fold it in atomically, publish it once.

The write path per run of consecutive events with the same customer references:
1. one read of the aliases and idempotency records (duplicates drop out here; with a store that
   publishes outboxes, at step 2 instead, by the event ids the profile absorbed: emma.ingest.seen),
2. one read of the profiles the aliases point at (two or more: they are merged); both reads eventually
   consistent the first time, strongly consistent after a conflict or a write of the run,
3. one write: the new profile state (version-checked), an idempotency record per event (not with an
   outbox store: the profile item carries the ids), the aliases claimed, tombstones of merged-away
   profiles (a transaction, or one conditional PutItem when the profile is all there is; a new
   customer's aliases may be claimed first, one write each: reservations, ``_reservations``), and
4. with a store that publishes outboxes (DynamoDB: the table's stream, emma.ingest.outbox), the events
   themselves on the profile item: the publisher function logs and publishes them once the write is
   stored, whatever becomes of the request. With a store that does not (the in-memory one), a log entry
   per event in the transaction, then the events are published and marked published.
A conflict (a concurrent writer, a duplicate racing in, an alias claimed meanwhile) writes nothing
(but the aliases a new customer's write claimed before it: reservations, which the retry adopts or takes
over) and the run is retried from step 1, so concurrent updates of one profile never lose an increment.

No commit exceeds the store's limits on one transaction (DynamoDB: 100 items, 4 MB, 400 KB an
item), however many events of one customer a request carries: runs are cut so that their items
always fit (``_groups``), and a commit whose bytes would not fit is cut to the events that do
(``_Oversized``); the rest follow in the next commit, each commit atomic for its own events.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from emma.addresses import check_email
from emma.clock import Clock
from emma.errors import ConcurrencyConflict, EmmaError, ProfileNotFound, StoreError, TransientError
from emma.events.model import CUSTOMERLESS_TYPES, CanonicalEvent, CatalogEvent, Channel, ConsentProps, EventType
from emma.ingest.ports import (
    AliasKey,
    CatalogRepository,
    Commit,
    CommitConflict,
    EventPublisher,
    IdempotencyRecord,
    ProfileRepository,
    Reservation,
    Suppressions,
    alias_keys,
    claim_order,
)
from emma.ingest.seen import SeenIds, erased_shard, id_hash
from emma.profiles.apply import apply_event, merge_profiles, merge_rank
from emma.profiles.fit import fit_profile
from emma.profiles.model import Profile, new_profile

log = logging.getLogger(__name__)
# The store's limits on one commit (DynamoDB TransactWriteItems; emma.adapters.limits checks them).
STORE_MAX_ITEMS = 100
STORE_MAX_BYTES = 4 * 1024 * 1024
STORE_MAX_ITEM_BYTES = 400 * 1024
_ITEM_OVERHEAD = 512  # keys and the other attributes of a stored item, beyond its document (bytes, at most)
MAX_MERGE_CHAIN = 20
PARALLEL_CUSTOMERS = 8
MAX_ATTEMPTS = 10
REPUBLISH_LEASE_SECONDS = 15  # longer than the function's time to publish; shorter than a sender's retry
DUPLICATE_WAIT_SECONDS = (0.2, 0.4, 0.8)  # a duplicate racing the first delivery waits for its publish
# A new customer's aliases are claimed before its profile is written (ProfileRepository.commit). Another request's
# reservation (an alias claimed for a profile not stored) younger than this may still become a profile: a new
# customer adopts it (writes that profile), and an erasure does not delete it (it asks to be retried); an older
# one was left by a request that died. Longer than any function that ingests may run (Lambda's 15 minutes;
# infra/tests check every function's timeout against it).
RESERVATION_GRACE = timedelta(minutes=20)


@dataclass
class IngestReport:
    accepted: list[str] = field(default_factory=list)  # event ids stored now
    duplicates: list[str] = field(default_factory=list)  # event ids seen before
    skipped: list[str] = field(default_factory=list)  # person events carrying no customer reference
    published: int = 0
    merges: list[tuple[str, str]] = field(default_factory=list)  # (loser, winner)
    profiles: set[str] = field(default_factory=set)  # the profiles the events were stored on (now or before)
    erased: int = 0  # backfill: customers left out because an address of theirs belongs to an erased customer

    def add(self, other: IngestReport) -> None:
        """Fold another request part's report into this one (a batch ingested shop by shop)."""
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.skipped += other.skipped
        self.published += other.published
        self.merges += other.merges
        self.profiles |= other.profiles
        self.erased += other.erased

    def as_dict(self) -> dict[str, Any]:
        """What a sender is told: counts only. Profile ids stay internal (tracker callers are browsers)."""
        return {
            "accepted": len(self.accepted),
            "duplicates": len(self.duplicates),
            "skipped": len(self.skipped),
            "published": self.published,
        }


def _new_profile_id() -> str:
    return "p_" + uuid.uuid4().hex


Run = tuple[list[CanonicalEvent], list[AliasKey]]


def _groups(events: Sequence[CanonicalEvent]) -> list[list[Run]]:
    """Consecutive events of one shop whose references connect (share an identity, transitively),
    with the union of their aliases: one group per customer, cut into runs whose items always fit
    one transaction. A commit holds the profile, one item per alias (claimed or repointed), a
    tombstone per merged profile (each alias points at one profile at most, the winner is not
    tombstoned: fewer tombstones than aliases) and two items per event (idempotency record, log
    entry): at most 2 x aliases + 2 x events.

    A tracker session (anonymous page views, then an identify naming the user, then the user's
    clicks) is one run: one lookup and one transaction, with the same end state as handling the
    events one by one (the identify would merge the anonymous profile into the customer anyway)."""
    groups: list[list[Run]] = []
    run: list[CanonicalEvent] = []
    keys: list[AliasKey] = []
    for event in events:
        mine = alias_keys(event.customer)
        connected = bool(run) and run[0].shop == event.shop and any(k in keys for k in mine)
        items = 2 * (len(keys) + len([k for k in mine if k not in keys])) + 2 * (len(run) + 1)
        if run and (not connected or items > STORE_MAX_ITEMS):
            groups[-1].append((run, keys))
            if not connected:
                groups.append([])
            run, keys = [], []
        if not groups:
            groups.append([])
        run.append(event)
        keys += [k for k in mine if k not in keys]
    if run:
        groups[-1].append((run, keys))
    return [g for g in groups if g]


class IngestService:
    def __init__(
        self,
        profiles: ProfileRepository,
        catalog: CatalogRepository,
        publisher: EventPublisher,
        clock: Clock,
        new_id: Callable[[], str] = _new_profile_id,
        sleep: Callable[[float], None] = time.sleep,
        parallel_customers: int = PARALLEL_CUSTOMERS,
        suppressions: Suppressions | None = None,
    ) -> None:
        self._suppressions = suppressions
        self._profiles = profiles
        self._catalog = catalog
        self._publisher = publisher
        self._clock = clock
        self._new_id = new_id
        self._sleep = sleep
        self._parallel = parallel_customers
        # A store that publishes its commits' outboxes (the DynamoDB adapter, through the table's stream): the
        # service hands person events to it and publishes only catalog events itself (emma.ingest.outbox).
        self._outbox = bool(getattr(profiles, "publishes_outbox", False))

    # ---- write path ---------------------------------------------------------------------------

    @property
    def catalog(self) -> CatalogRepository:
        return self._catalog

    @property
    def clock(self) -> Clock:
        return self._clock

    def ingest(self, events: Sequence[CanonicalEvent], *, backfill: bool = False) -> IngestReport:
        """Store the events on their customers' profiles and publish them. With ``backfill`` (an import of
        the shop's history, emma.imports) the events build the profiles exactly as live events do but are
        never published: no trigger fires, no journey starts, nothing is sent; their idempotency records
        are written as published, so importing them again finds duplicates and publishes nothing."""
        report = IngestReport()
        to_publish: list[CanonicalEvent] = []
        person_events = []
        catalog_events = []
        ids: set[tuple[str, str]] = set()
        for event in events:
            # The same event twice in one request (a batch resent inside itself). Ids are unique per
            # shop: two shops' calls in one batch (per-call write keys) may share a messageId.
            if (event.shop, event.id) in ids:
                report.duplicates.append(event.id)
                continue
            ids.add((event.shop, event.id))
            if event.type in CUSTOMERLESS_TYPES:
                catalog_events.append(event)
            elif event.customer.is_empty():
                # e.g. a POS order with no customer: nothing to attach it to. Refusing the delivery
                # would make the shop retry it forever, so it is acknowledged and reported as skipped.
                report.skipped.append(event.id)
            else:
                person_events.append(event)
        try:
            if backfill and catalog_events:
                raise EmmaError("a backfill carries customers' events only; products come in through the catalog")
            to_publish += self._ingest_catalog(catalog_events, report)
            to_publish += self._ingest_groups(_groups(person_events), report, backfill)
        finally:
            # Whatever was stored is published before an error travels up: a retry then finds
            # duplicates that are already published instead of stored-but-unpublished ones.
            if not backfill:
                self._publish(to_publish, report)
        return report

    def _ingest_groups(
        self, groups: list[list[Run]], report: IngestReport, backfill: bool = False
    ) -> list[CanonicalEvent]:
        """Customers in parallel (a batch from a server-side tracker names hundreds), each customer's
        runs in order. Every stored event is returned for publishing, even when another group fails."""

        known = self._prefetch(groups, backfill)
        erased = self._erased_addresses(groups) if backfill else set()

        def one(group: list[Run]) -> tuple[IngestReport, list[CanonicalEvent], Exception | None]:
            own, out = IngestReport(), []
            try:
                if erased and _addresses(group) & erased:
                    # History of a customer erased in Emma (an old export): not brought back.
                    own.skipped += [e.id for run, _ in group for e in run]
                    own.erased += 1
                    return own, out, None
                for n, (run, aliases) in enumerate(group):
                    # Only a group's first run can use what was read before any of them was written.
                    self._ingest_run(run, aliases, own, out, backfill, known if n == 0 else None)
            except Exception as exc:
                return own, out, exc
            return own, out, None

        if len(groups) <= 1 or self._parallel <= 1:
            results = [one(g) for g in groups]
        else:
            with ThreadPoolExecutor(max_workers=min(self._parallel, len(groups))) as pool:
                results = list(pool.map(one, groups))
        stored: list[CanonicalEvent] = []
        errors = []
        for own, out, error in results:
            report.accepted += own.accepted
            report.duplicates += own.duplicates
            report.merges += own.merges
            report.profiles |= own.profiles
            report.skipped += own.skipped
            report.erased += own.erased
            report.published += own.published  # handed to the store's outbox
            stored += out
            if error is not None:
                errors.append(error)
        if errors:
            if not backfill:
                self._publish(stored, report)
            raise errors[0]
        return stored

    def _erased_addresses(self, groups: list[list[Run]]) -> set[str]:
        """The addresses of the request's customers that belonged to a customer erased in Emma (emma.privacy keeps
        them as salted hashes), in one read. Live, such an address may come back (the customer returned; their
        consent then needs a new double opt-in); a backfill of old history would only bring back what the erasure
        removed, so its customers are left out."""
        if self._suppressions is None or not groups:
            return set()
        found: set[str] = set()
        by_shop: dict[str, set[str]] = {}
        for group in groups:
            by_shop.setdefault(group[0][0][0].shop, set()).update(_addresses(group))
        for shop, addresses in by_shop.items():
            emails = sorted(a for a in addresses if "@" in a)
            phones = sorted(a for a in addresses if "@" not in a)
            if emails or phones:
                found |= self._suppressions.erased_addresses(shop, emails, phones)
        return found

    def _prefetch(self, groups: list[list[Run]], backfill: bool = False) -> _Known | None:
        """One read of the aliases, idempotency records and profiles of every customer of the request
        (DynamoDB reads up to 100 keys per request), instead of two per customer: a backfill batch or a
        server-side tracker batch names hundreds. A customer's first attempt uses it; a conflict (someone
        wrote in between) re-reads just that customer, as always."""
        if len(groups) <= 1:
            return None
        shops = {run[0].shop for group in groups for run, _ in group}
        if len(shops) != 1:
            return None
        (shop,) = shops
        firsts = [group[0] for group in groups]
        aliases = list(dict.fromkeys(a for _, keys in firsts for a in keys))
        event_ids = [] if self._outbox and not backfill else [e.id for run, _ in firsts for e in run]
        # eventually consistent, as each customer's first read (_ingest_run): its writes are conditional on it
        pointed, seen = self._profiles.lookup(shop, aliases, event_ids, consistent=False)
        ids = sorted(set(pointed.values()))
        if self._outbox:  # with the event ids each profile absorbed (emma.ingest.seen)
            loaded = self._profiles.load_profiles(shop, ids, consistent=False) if pointed else {}
            profiles = {pid: profile for pid, (profile, _) in loaded.items()}
            return _Known(pointed, seen, profiles, {pid: ids for pid, (_, ids) in loaded.items()})
        profiles = self._profiles.get_profiles(shop, ids, consistent=False) if pointed else {}
        return _Known(pointed, seen, profiles)

    def _publish(self, events: list[CanonicalEvent], report: IngestReport) -> None:
        if not events:
            return
        self._publisher.publish(events)
        report.published += len(events)
        now = self._clock.now()
        by_shop: dict[str, list[IdempotencyRecord]] = {}
        for event in events:
            record = IdempotencyRecord(event.id, event.customer.profile_id, now, True, event.repeat)
            by_shop.setdefault(event.shop, []).append(record)
        for shop, records in by_shop.items():
            self._profiles.mark_published(shop, records)

    def _ingest_catalog(self, events: list[CanonicalEvent], report: IngestReport) -> list[CanonicalEvent]:
        out: list[CanonicalEvent] = []
        for event in events:
            assert isinstance(event, CatalogEvent)
            _, seen = self._profiles.lookup(event.shop, [], [event.id])
            if event.id in seen or not self._catalog.upsert_product(event):
                report.duplicates.append(event.id)
                record = seen.get(event.id) or self._profiles.lookup(event.shop, [], [event.id])[1].get(event.id)
                if record is not None:
                    out += self._maybe_republish(event, record)
            else:
                report.accepted.append(event.id)
                out.append(event)
        return out

    def _ingest_run(
        self,
        run: list[CanonicalEvent],
        aliases: list[AliasKey],
        report: IngestReport,
        out: list[CanonicalEvent],
        backfill: bool = False,
        known: _Known | None = None,
    ) -> None:
        """The run's new events, committed in order in as few commits as the store's limits allow. What
        is stored (or found stored but unpublished) goes to ``out`` at once, so that a later commit of
        the same run that fails does not keep the earlier ones from being published."""
        shop = run[0].shop
        pending = run
        limit = len(run)  # events per commit; lowered when a commit would exceed the store's limits
        new_id = _NewId(self._new_id)  # one for all attempts: what an attempt claimed for it is the run's own
        # The first read may be stale (eventually consistent, half the price): every write is conditional on what
        # was read, so a stale read makes it fail, and from then on (as after any write of the run) reads are
        # strongly consistent.
        consistent = False
        attempt = 0
        while attempt < MAX_ATTEMPTS:
            if known is not None:
                pointed = {a: known.pointed[a] for a in aliases if a in known.pointed}
                seen = {e.id: known.seen[e.id] for e in pending if e.id in known.seen}
            else:
                # outbox stores remember live event ids on the profile (read in _commit), not in records of their
                # own; a backfill's events keep their records (an import run again finds them)
                ids = [] if self._outbox and not backfill else [e.id for e in pending]
                pointed, seen = self._profiles.lookup(shop, aliases, ids, consistent=consistent)
            fresh = [e for e in pending if e.id not in seen]
            for event in pending:
                if event.id in seen and event.id not in report.duplicates:
                    report.duplicates.append(event.id)
                    if seen[event.id].profile_id:
                        report.profiles.add(seen[event.id].profile_id)  # type: ignore[arg-type]
                    out.extend(self._maybe_republish(event, seen[event.id]))
            if not fresh:
                return
            batch = fresh[:limit]
            try:
                profile, merges, stamped, absorbed = self._commit(
                    shop, aliases, pointed, batch, new_id, backfill, known, consistent
                )
            except _Oversized as oversized:
                limit = oversized.fit  # fewer events, nothing written: not a failed attempt
                continue
            except CommitConflict as conflict:
                known, consistent = None, True  # someone wrote in between (or the read was stale): read again
                if not conflict.duplicates or conflict.stale or conflict.alias_taken:
                    self._sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))
                # else a duplicate raced in: the next lookup drops it, no need to wait
                attempt += 1
                continue
            for loser in merges:
                report.merges.append((loser.profile_id, profile.profile_id))
                try:  # tidy-up outside the transaction; the merge itself is already atomic
                    self._profiles.move_log(shop, loser.profile_id, profile.profile_id)
                    self._profiles.repoint_aliases(shop, _all_aliases(loser), profile.profile_id)
                except EmmaError:
                    # history() also reads merged-away partitions, and lookups follow tombstones:
                    # a failure here loses nothing and must not fail the (already stored) request.
                    log.warning("merge tidy-up failed for %s -> %s", loser.profile_id, profile.profile_id)
            known, consistent = None, True  # written: what was read before is stale now
            for event in absorbed:  # the profile had absorbed them before (its seen ids): duplicates
                if event.id not in report.duplicates:
                    report.duplicates.append(event.id)
            report.accepted += [e.id for e in stamped]
            if profile is not None:  # None: all duplicates of an erased customer's events
                report.profiles.add(profile.profile_id)
            if self._outbox and not backfill:
                report.published += len(stamped)  # stored with the profile: the store publishes them
            else:
                out.extend(stamped)
            pending = fresh[len(batch) :]
            if not pending:
                return
            attempt = 0  # progress: the attempts count again for the next commit
        raise ConcurrencyConflict(f"profile for {aliases} kept changing; gave up after {MAX_ATTEMPTS} attempts")

    def _commit(
        self,
        shop: str,
        aliases: list[AliasKey],
        pointed: dict[AliasKey, str],
        fresh: list[CanonicalEvent],
        new_id: _NewId,
        backfill: bool = False,
        known: _Known | None = None,
        consistent: bool = True,
    ) -> tuple[Profile | None, list[Profile], list[CanonicalEvent], list[CanonicalEvent]]:
        """Fold ``fresh`` into the customer's profile and commit it; returns the profile, the profiles merged
        into it, the events stored (stamped) and, with an outbox store, those the profile had absorbed before
        (duplicates: nothing is written for them, and nothing at all if they are all)."""
        seen_ids: dict[str, SeenIds] = {}
        missing: set[str] = set()  # profiles aliases point at that are not stored: reservations
        live = self._live_profiles(
            shop, set(pointed.values()), known, seen_ids if self._outbox else None, missing, consistent
        )
        now = self._clock.now()
        absorbed: list[CanonicalEvent] = []
        seen = SeenIds()
        if self._outbox:
            for ids in seen_ids.values():  # the winner's and the merged-away profiles' alike
                seen.merge(ids)
            absorbed = [] if backfill else self._absorbed(shop, live, seen, fresh)
            if absorbed:
                fresh = [e for e in fresh if e not in absorbed]
            if not fresh:  # nothing to write
                return (sorted(live.values(), key=merge_rank)[0] if live else None), [], [], absorbed
        tombstones: list[tuple[Profile, int | None]] = []
        losers: list[Profile] = []
        reserved, take_over, adopted = self._reservations(shop, pointed, missing, bool(live), new_id, now)
        if not live:
            # A profile built from history was "created" when the history began, as it would have been live.
            created = min([now, *(e.occurred_at for e in fresh)]) if backfill else now
            profile = new_profile(shop, adopted or new_id(), created)
            profile.updated_at = now
            expected: int | None = None
        else:
            winner, *others = sorted(live.values(), key=merge_rank)  # one winner, by the documented rank
            profile = winner
            for other in others:
                profile = merge_profiles(profile, other)
            losers = [p for p in live.values() if p.profile_id != profile.profile_id]
            expected = live[profile.profile_id].version
            profile = profile.model_copy(deep=True)
            for loser in losers:
                tomb = loser.model_copy(
                    update={
                        "merged_into": profile.profile_id,
                        "version": loser.version + 1,
                        "updated_at": now,
                    }
                )
                tombstones.append((tomb, loser.version))
        for held in dict.fromkeys(pid for _, pid in take_over):  # reservations taken over: tombstones, never stored
            tomb = new_profile(shop, held, now)
            tomb.merged_into, tomb.version, tomb.updated_at = profile.profile_id, 1, now
            tombstones.append((tomb, None))
            if held not in profile.merged_from:
                profile.merged_from.append(held)
        guarded = self._suppressed_grants(shop, profile, fresh)
        repeats = {event.id for event in fresh if not apply_event(profile, event)}
        for channel in guarded:
            state = profile.consent.get(channel)
            if state is not None and state.granted and not state.proof.double_opt_in:
                profile.consent[channel] = state.model_copy(update={"confirm_required": True})
        trimmed = fit_profile(profile)  # within one store item, whatever the events held
        if trimmed:
            log.warning("profile %s trimmed to fit one store item: %s", profile.profile_id, trimmed)
        stamped = [_with_profile(e, profile.profile_id, e.id in repeats) for e in fresh]
        first_seq = profile.log_seq + 1
        profile.log_seq += len(fresh)
        profile.version += 1
        profile.updated_at = max(profile.updated_at, now)
        # Aliases already pointing here are not rewritten: the version condition on the profile
        # already fails the commit if a concurrent merge moved this profile away.
        # In one order for every request (a store may claim them one by one: two requests creating one customer
        # meet on the first alias they share).
        claim = sorted((a for a in aliases if a not in pointed), key=claim_order)
        repoint = [a for a in aliases if pointed.get(a, profile.profile_id) not in (profile.profile_id, *missing)]
        if self._outbox and not backfill:  # a backfill's events keep their records; the profile keeps its ids
            seen.add([id_hash(shop, event.id) for event in fresh], now)
        aged = seen.take_aged(now) if self._outbox and not backfill else {}
        commit = Commit(
            shop=shop,
            profile=profile,
            expected_version=expected,
            events=stamped,
            first_seq=first_seq,
            claim_aliases=claim,
            repoint_aliases=repoint,
            tombstones=tombstones,
            reserved=reserved,
            take_over=take_over,
            published=backfill,
            outbox=self._outbox and not backfill,
            seen=seen if self._outbox else None,
        )
        _check_fits(commit)
        if aged:  # first the archive, then the profile without them: a crash in between loses no id
            self._profiles.archive_seen(shop, profile.profile_id, aged)
        self._profiles.commit(commit)
        return profile, losers, stamped, absorbed

    def _reservations(
        self, shop: str, pointed: dict[AliasKey, str], missing: set[str], live: bool, new_id: _NewId, now: datetime
    ) -> tuple[list[AliasKey], list[tuple[AliasKey, str]], str | None]:
        """What the commit does with aliases pointing at a profile not stored (reservations, ``missing``): for a new
        customer, the id to create the profile with (the lowest id of the fresh reservations, the run's own
        included, so requests creating one customer write the same profile) and the aliases already pointing at
        it (they must still do); the reservations it takes over, all the others (the run's own from an attempt
        before, another request's fresh or left one): their ids are stored as tombstones merged into the profile
        (``_commit``), so a request still creating one can no longer store it: its write fails, it reads again
        and finds this profile. Nobody waits for a reservation, and none is taken from under a request that may
        still store its profile."""
        if not missing:
            return [], [], None
        wanted = [a for a, pid in pointed.items() if pid in missing]
        held: dict[AliasKey, Reservation] = self._profiles.reservations(shop, wanted)
        if any(a not in held or held[a].profile_id != pointed[a] for a in wanted):
            raise CommitConflict(stale=True)  # changed since the read: read again
        # Candidates: fresh reservations, the run's own among them: every request of the customer picks the lowest,
        # so two whose claims crossed write the same profile and do not tombstone each other's.
        fresh = {
            r.profile_id for r in held.values() if now - r.since < RESERVATION_GRACE or r.profile_id == new_id.value
        }
        adopted = None if live else (min(fresh) if fresh else new_id())
        reserved = sorted(a for a, r in held.items() if r.profile_id == adopted)
        take_over = sorted((a, r.profile_id) for a, r in held.items() if r.profile_id != adopted)
        return reserved, take_over, adopted

    def _absorbed(
        self, shop: str, live: dict[str, Profile], seen: SeenIds, fresh: list[CanonicalEvent]
    ) -> list[CanonicalEvent]:
        """The events of ``fresh`` the customer's profiles absorbed before: by the ids they carry, and for an
        event older than their watermark, by their archives (and those of the profiles merged into them)."""
        if not live:  # a new customer, or one erased: a delivery retried after an erasure stays a duplicate
            wanted = {
                e.id: (erased_shard(shop, *min(alias_keys(e.customer), key=claim_order)), id_hash(shop, e.id))
                for e in fresh
            }
            erased = self._profiles.erased_ids(shop, list(wanted.values()))
            return [e for e in fresh if wanted[e.id][1] in erased]
        absorbed = [e for e in fresh if id_hash(shop, e.id) in seen]
        older = [e for e in fresh if e not in absorbed and seen.needs_archive(e.occurred_at)]
        if older:
            partitions = [pid for p in live.values() for pid in (p.profile_id, *p.merged_from[-MAX_MERGE_CHAIN:])]
            found = self._profiles.seen_in_archive(
                shop, partitions, [id_hash(shop, e.id) for e in older], min(e.occurred_at for e in older)
            )
            absorbed += [e for e in older if id_hash(shop, e.id) in found]
        return absorbed

    def _suppressed_grants(self, shop: str, profile: Profile, fresh: list[CanonicalEvent]) -> set[Channel]:
        """The channels of consent grants without double opt-in for an address of an erased customer:
        applied, but marked to count only once confirmed by double opt-in (emma.privacy), so an erasure
        is not undone by the shop re-sending an old opt-in, while the customer can still come back.
        Only a run carrying such a grant pays for the look-up."""
        grants = {e.properties.channel for e in fresh if _plain_grant(e)}  # type: ignore[union-attr]
        if not grants or self._suppressions is None:
            return set()
        probe = profile.model_copy(deep=True)
        for event in fresh:
            apply_event(probe, event)
        if not self._suppressions.suppressed(shop, probe.emails, probe.phones):
            return set()
        log.warning("consent grants of %s need double opt-in: an address of an erased customer", profile.profile_id)
        return {g for g in grants if g is not None}

    def _live_profiles(
        self,
        shop: str,
        ids: set[str],
        known: _Known | None = None,
        seen: dict[str, SeenIds] | None = None,
        missing: set[str] | None = None,
        consistent: bool = True,
    ) -> dict[str, Profile]:
        """Fetch profiles, following merged-away tombstones to their winners (the first step from ``known``,
        profiles read before, where it has them); with ``seen``, also the event ids each live one absorbed; with
        ``missing``, adds those of ``ids`` that are not stored."""
        live: dict[str, Profile] = {}
        pending = set(ids)
        for step in range(MAX_MERGE_CHAIN):
            if not pending:
                return live
            if step == 0 and known is not None and pending <= known.profiles.keys():
                found = {pid: known.profiles[pid] for pid in pending}
                if seen is not None:
                    seen.update({pid: known.seen_ids[pid] for pid in pending if pid in known.seen_ids})
            elif seen is not None:
                loaded = self._profiles.load_profiles(shop, sorted(pending), consistent=consistent)
                found = {pid: profile for pid, (profile, _) in loaded.items()}
                seen.update({pid: ids for pid, (_, ids) in loaded.items()})
            else:
                found = self._profiles.get_profiles(shop, sorted(pending), consistent=consistent)
            if step == 0 and missing is not None:
                missing |= pending - found.keys()
            pending = set()
            for pid, profile in found.items():
                if profile.merged_into:
                    if profile.merged_into not in live:
                        pending.add(profile.merged_into)
                else:
                    live[pid] = profile
        # Never start a fresh profile over a history we failed to reach.
        raise StoreError(f"merge chain longer than {MAX_MERGE_CHAIN} behind {sorted(ids)} in shop {shop!r}")

    def _maybe_republish(self, event: CanonicalEvent, record: IdempotencyRecord) -> list[CanonicalEvent]:
        """A duplicate of an event stored but not yet published: either the first delivery is still
        publishing it (wait a moment; if it is still unpublished, ask the sender to retry), or that
        delivery died between storing and publishing (whoever claims the lease publishes it)."""
        if not record.published:  # read again, strongly consistent: the first read of a request may be stale
            record = self._profiles.lookup(event.shop, [], [event.id])[1].get(event.id, record)
        for pause in DUPLICATE_WAIT_SECONDS:
            if record.published:
                return []
            if (self._clock.now() - record.stored_at).total_seconds() >= REPUBLISH_LEASE_SECONDS:
                break
            self._sleep(pause)
            record = self._profiles.lookup(event.shop, [], [event.id])[1].get(event.id, record)
        if record.published:
            return []
        now = self._clock.now()
        if (now - record.stored_at).total_seconds() < REPUBLISH_LEASE_SECONDS or not self._profiles.claim_republish(
            event.shop, event.id, now, REPUBLISH_LEASE_SECONDS
        ):
            raise TransientError(f"event {event.id} is stored and still being published; retry shortly")
        # As it was stored: a repeat of a counted thing stays one (it fires no trigger when republished).
        return [_with_profile(event, record.profile_id, record.repeat)] if record.profile_id else [event]

    # ---- read path ----------------------------------------------------------------------------

    def resolve(self, shop: str, ref: str) -> Profile:
        """Find a profile by Emma id (p_...), email (contains @), ``cid:<shop customer id>``,
        ``anon:<anonymous id>`` or ``email:<address>``."""
        key = _ref_alias(ref)
        if key is None:
            ids = {ref}
        else:
            pointed, _ = self._profiles.lookup(shop, [key], [])
            if key not in pointed:
                raise ProfileNotFound(f"no profile in shop {shop!r} for this reference")  # the ref stays out of logs
            ids = {pointed[key]}
        live = self._live_profiles(shop, ids)
        if not live:
            raise ProfileNotFound(f"no profile in shop {shop!r} for this reference")  # the ref stays out of logs
        return next(iter(live.values()))

    def release(self, shop: str, ref: str) -> bool:
        """Delete the identity ``ref`` names where it is only a reservation (an alias a new customer's request
        claimed before it died, its profile never stored; ProfileRepository.commit): an erasure of a reference that
        finds no profile still leaves nothing of it behind. False if there is none."""
        key = _ref_alias(ref)
        if key is None:
            return False
        held = self._profiles.reservations(shop, [key]).get(key)
        if held is None or self._profiles.get_profiles(shop, [held.profile_id]):
            return False
        if self._clock.now() - held.since < RESERVATION_GRACE:  # its request may still store the profile
            raise TransientError("a request is creating this customer's profile right now; ask again shortly")
        return self._profiles.release(shop, key, held.profile_id)

    def history(self, profile: Profile, limit: int = 50) -> list[dict[str, Any]]:
        """The newest events of a profile, including those still in the partitions of profiles merged
        into it (their log is moved after the merge; if that tidy-up failed, nothing is lost)."""
        entries = self._profiles.read_log(profile.shop, profile.profile_id, limit)
        for merged in profile.merged_from[-10:]:
            entries += self._profiles.read_log(profile.shop, merged, limit)
        entries.sort(key=lambda e: e["occurred_at"], reverse=True)
        return entries[:limit]


def _ref_alias(ref: str) -> AliasKey | None:
    """The identity a reference names (None: an Emma profile id, p_...)."""
    kind, _, value = ref.partition(":")
    if ref.startswith("p_") and "@" not in ref:
        return None
    if kind in ("cid", "anon", "email") and value:
        return AliasKey(kind, _email_key(value) if kind == "email" else value)  # type: ignore[arg-type]
    if "@" in ref:
        return AliasKey("email", _email_key(ref))
    return AliasKey("cid", ref)


def _email_key(address: str) -> str:
    """The alias of an email address as ingest stores it (any spelling of the domain finds it)."""
    checked = check_email(address)
    return checked.address if checked.address else address.strip().lower()


@dataclass(frozen=True)
class _Known:
    """What one read found for every customer of a request (IngestService._prefetch)."""

    pointed: dict[AliasKey, str]
    seen: dict[str, IdempotencyRecord]
    profiles: dict[str, Profile]
    seen_ids: dict[str, SeenIds] = field(default_factory=dict)  # outbox stores: the ids each profile absorbed


class _NewId:
    """The id a run gives the profile it creates: made once, on first use, for all the run's attempts."""

    def __init__(self, make: Callable[[], str]) -> None:
        self._make = make
        self.value: str | None = None

    def __call__(self) -> str:
        if self.value is None:
            self.value = self._make()
        return self.value


class _Oversized(Exception):
    """A commit would exceed the store's limits; its first ``fit`` events fit (nothing was written)."""

    def __init__(self, fit: int) -> None:
        super().__init__(f"only {fit} events fit one commit")
        self.fit = fit


def _check_fits(commit: Commit) -> None:
    """Raise _Oversized unless the commit fits the store's limits on one transaction, counted as the
    store will count it or more: a document's JSON plus its keys; an event's log entry (its JSON,
    which the store compresses) plus its idempotency record; with an outbox, the profile's item holds the
    events' JSON too (compressed), within the item limit. A profile or tombstone over the item
    limit, or one too large to leave room for a single event, is a fault (500), not a retry."""
    docs = [commit.profile, *(tomb for tomb, _ in commit.tombstones)]
    doc_sizes = [len(doc.model_dump_json().encode()) + _ITEM_OVERHEAD for doc in docs]
    for doc, size in zip(docs, doc_sizes, strict=True):
        if size > STORE_MAX_ITEM_BYTES:
            raise EmmaError(f"profile {doc.profile_id} is {size} bytes; the store holds {STORE_MAX_ITEM_BYTES} an item")
    aliases = [*commit.claim_aliases, *commit.repoint_aliases, *commit.reserved, *(a for a, _ in commit.take_over)]
    # and a check that each profile a reservation taken over was held for is still not stored
    items = len(docs) + len(aliases) + len({held for _, held in commit.take_over})
    total = sum(doc_sizes) + sum(len(a.value.encode()) + _ITEM_OVERHEAD for a in aliases)
    fit = 0
    # with an outbox, the events travel in the profile's item too, and the ids it absorbed
    profile_item = doc_sizes[0] + (len(commit.seen) * 8 if commit.seen is not None else 0)
    for event in commit.events:
        if items + 2 > STORE_MAX_ITEMS:
            break
        size = _event_bytes(event)
        if total + size > STORE_MAX_BYTES:
            break
        if commit.outbox:
            profile_item += size
            if profile_item > STORE_MAX_ITEM_BYTES:
                break
        items, total, fit = items + 2, total + size, fit + 1
    if fit == len(commit.events):
        return
    if fit == 0:
        raise EmmaError(
            f"profile {commit.profile.profile_id}: its commit cannot hold a single event within the store's "
            f"limits ({STORE_MAX_ITEMS} items, {STORE_MAX_BYTES} bytes)"
        )
    raise _Oversized(fit)


def _event_bytes(event: CanonicalEvent) -> int:
    """An event's two items at most: the log entry (the event's JSON; compressed, it is never more than
    a thousandth larger) and the idempotency record, each with its keys."""
    data = len(event.model_dump_json().encode())
    return data + data // 1000 + 2 * len(event.id.encode()) + 2 * _ITEM_OVERHEAD


def _with_profile(event: CanonicalEvent, profile_id: str | None, repeat: bool = False) -> CanonicalEvent:
    """The event as stored and published: its profile, and whether it repeats a counted thing."""
    if event.customer.profile_id == profile_id and event.repeat == repeat:
        return event
    customer = event.customer.model_copy(update={"profile_id": profile_id})
    return event.model_copy(update={"customer": customer, "repeat": repeat})


def _plain_grant(event: CanonicalEvent) -> bool:
    """A channel consent grant without proof of double opt-in."""
    props = event.properties
    return (
        event.type == EventType.CONSENT_CHANGED
        and isinstance(props, ConsentProps)
        and props.channel is not None
        and props.granted
        and not props.proof.double_opt_in
    )


def _addresses(group: list[Run]) -> set[str]:
    """The email addresses and phone numbers the group's events carry."""
    refs = [e.customer for run, _ in group for e in run]
    return {r.email for r in refs if r.email} | {r.phone for r in refs if r.phone}


def _all_aliases(profile: Profile) -> list[AliasKey]:
    return (
        [AliasKey("cid", v) for v in profile.customer_ids]
        + [AliasKey("email", v) for v in profile.emails]
        + [AliasKey("anon", v) for v in profile.anonymous_ids]
    )
