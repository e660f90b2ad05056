"""The rules function's work: for each canonical event (and each due timer), evaluate the shop's
triggers and segments against the updated profile, record the conclusions atomically, and
publish them (trigger.fired, segment.entered/left, lifecycle.changed) exactly once.

Exactly-once per input:
- an event: a marker keyed by the event id is written in the same transaction as the new derived state; a
  re-delivered event finds the marker and does nothing but finish publishing what the first delivery recorded in
  the marker's outbox;
- a due timer leaves no marker: what its evaluation concludes is in the derived state it writes (the arm spent,
  the segments, stage and counters as they now stand), so evaluating it again concludes nothing new. Its outbox
  is kept on the derived state until published; whoever loads a derived state with an outbox still on it
  publishes that first. An evaluation that changes nothing writes only the next review timer, when one is due.
Timers are written before the commit, outside it (a surplus timer, from a commit that did not happen, finds
nothing to do), and never deleted: the scheduled job reads those due since its cursor, and they expire (TTL).
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from emma.clock import Clock
from emma.errors import ConcurrencyConflict
from emma.events.model import (
    CUSTOMERLESS_TYPES,
    EVENT_ADAPTER,
    CanonicalEvent,
    EventType,
    SourceKind,
)
from emma.ingest.ports import CommitConflict, EventPublisher
from emma.predict.model import score
from emma.predict.prior import (
    Prior,
    ShopStats,
    contribution,
    default_prior,
    diff,
    fit_prior,
    legacy_contribution,
)
from emma.profiles.model import Profile
from emma.rules.engine import Outcome, absence_holds, evaluate_event, evaluate_segments, may_fire
from emma.rules.loader import Definitions
from emma.rules.ports import RulesStore
from emma.rules.state import (
    COMMIT_ITEMS,
    ArmState,
    Derived,
    Listing,
    Loaded,
    RulesCommit,
    StaleMemberKey,
    Timer,
    TriggerState,
    member_key,
)

MAX_ATTEMPTS = 8
FIRST_RUN_SINCE = datetime(2000, 1, 1, tzinfo=UTC)  # the very first scheduled run reads every timer due by then
MAX_TIMERS_PER_RUN = 20_000  # a backlog larger than one run is worked off over the next runs
GIVE_UP_AFTER = timedelta(days=2)  # a timer failing this long after its due time is dropped (and logged)
RETRY_FIRST = timedelta(minutes=5)  # a timer whose evaluation failed is put again this much later, doubling
RETRY_MAX = timedelta(hours=6)
# The cursor stays this far behind the run's clock: a timer written (by another function) just after the run read
# its shard, due before the run's time, is read by the next run; those the next run reads again find nothing to do.
CURSOR_LAG = timedelta(seconds=10)
_TICK = timedelta(microseconds=1)  # timer keys hold microseconds: the cursor just before a timer reads it again
MAX_RETIRE_PER_COMMIT = 20  # merged-away profiles retired per transaction; the rest by the next inputs
log = logging.getLogger(__name__)
PRIOR_MAX_AGE = timedelta(hours=24)  # the scheduled job refits a shop's prior once a day
PRIOR_CACHE_SECONDS = 3600.0  # the event path re-reads a shop's prior at most hourly


@dataclass
class RulesReport:
    evaluated: int = 0
    duplicates: int = 0
    fired: list[str] = field(default_factory=list)  # "trigger:profile"
    entered: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    published: int = 0
    timers: int = 0
    failed: int = 0
    superseded: int = 0  # review timers found replaced by a later review (nothing to do: that one comes)


def _id(*parts: str) -> str:
    return "r-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _absorb(derived: Derived, retired: Sequence[Derived]) -> None:
    """A merged-away profile's armed timers and trigger history carry over to the survivor: its
    abandoned cart still fires, its cooldowns still hold. Its member list entries become the survivor's
    to delete (they are written back retired without them)."""
    for loser in retired:
        derived.stale_member_keys += loser.stale_member_keys
        derived.stale_member_keys += [
            StaleMemberKey(segment=segment, profile_id=loser.profile_id, sk=sk)
            for segment, (sk, _) in sorted(loser.memberships().items())
            if sk
        ]
        loser.member_keys, loser.stale_member_keys = {}, []
        for tid, arm in loser.arms.items():
            mine = derived.arms.get(tid)
            if mine is None or arm.armed_at > mine.armed_at:
                derived.arms[tid] = arm.model_copy()
        for tid, state in loser.triggers.items():
            mine = derived.triggers.setdefault(tid, TriggerState())
            mine.count += state.count
            if state.last_fired_at and (mine.last_fired_at is None or state.last_fired_at > mine.last_fired_at):
                mine.last_fired_at = state.last_fired_at


def _list_members(commit: RulesCommit, profile: Profile, entered: Collection[str], now: datetime) -> None:
    """Bring the segments' member lists in line with the commit's derived state, in the same transaction,
    as far as it has room (COMMIT_ITEMS): entries of merged-away profiles and of segments left are deleted
    first, then entries not written yet are (segments entered now first, then those entered before member
    lists were kept), then entries whose key changed (a new email) are moved. What finds no room stays in
    ``member_keys`` / ``stale_member_keys`` as it is (an entry not written yet under the key '', with the
    time it entered) and is done by the profile's next evaluation."""
    derived, shop, pid = commit.derived, commit.shop, profile.profile_id
    room = COMMIT_ITEMS - commit.items()

    def fits(n: int) -> bool:
        return len(commit.listed) + len(commit.unlisted) + n <= room

    kept: list[StaleMemberKey] = []
    for stale in derived.stale_member_keys:
        if fits(1):
            commit.unlisted.append(Listing(shop, stale.segment, stale.profile_id, stale.sk))
        else:
            kept.append(stale)
    derived.stale_member_keys = kept
    members = derived.memberships()
    wanted = set(derived.segments)
    for segment in sorted(set(members) - wanted):
        written = members[segment][0]
        if not written:
            del members[segment]
        elif fits(1):
            commit.unlisted.append(Listing(shop, segment, pid, written))
            del members[segment]
    entered_at = int(now.timestamp())
    for segment in wanted - set(members):  # entered now, or before member lists were kept
        members[segment] = ("", entered_at if segment in entered else None)
    key = member_key(profile.email, profile.customer_id, pid)

    def urgency(segment: str) -> tuple[bool, bool, str]:
        sk, since = members[segment]
        return bool(sk), since is None, segment

    for segment in sorted((s for s in wanted if members[s][0] != key), key=urgency):
        old, since = members[segment]
        if not fits(2 if old else 1):
            continue
        if old:
            commit.unlisted.append(Listing(shop, segment, pid, old))
        at = None if since is None else datetime.fromtimestamp(since, UTC)
        commit.listed.append(Listing(shop, segment, pid, key, profile.email, profile.customer_id, at))
        members[segment] = (key, since)
    derived.set_memberships(members)


_BOOKKEEPING = {"version", "updated_at"}


def _superseded_review(timer: Timer, derived: Derived, now: datetime) -> bool:
    """A review timer the derived state no longer names, while it names one still to come: replaced (the review
    moved, or a commit that did not happen wrote it); the review named comes and concludes then."""
    named = derived.next_review_at
    return timer.kind == "review" and named is not None and named > now and named != timer.due_at


def _changes_nothing(commit: RulesCommit, before: Derived) -> bool:
    """The commit would only restamp the derived state: no membership, counter, list or outbox moves, and no
    timer but the review moved later (the review already set still comes, and concludes then)."""
    later_review = (
        before.next_review_at is not None
        and commit.derived.next_review_at is not None
        and commit.derived.next_review_at >= before.next_review_at
        and all(t.kind == "review" for t in [*commit.timers, *commit.superseded])
    )
    return (
        not commit.outbox
        and not any(commit.counter_deltas.values())
        and not any(commit.stats_delta.values())
        and (not (commit.timers or commit.superseded) or later_review)
        and not commit.retire
        and not commit.listed
        and not commit.unlisted
        and _close(_stable(commit.derived), _stable(before))
    )


def _close(a: Any, b: Any) -> bool:
    """Equal, but for probabilities that drifted by less than a thousandth and expected counts and values
    (above 1) by less than a hundredth of themselves."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        size = max(abs(a), abs(b))
        return abs(a - b) < (1e-2 * size if size > 1 else 1e-3)
    return bool(a == b)


def _stable(derived: Derived) -> dict[str, Any]:
    """The derived state without what only says when it was worked out (its version and time, the predictions'
    scoring time, the next review, which only moves later: the timer already set still comes) and predicted
    times to the day (they drift with every second since the last order; probabilities too: ``_close``): two
    evaluations of an unchanged profile on the same day are the same."""
    data = derived.model_dump(mode="json", exclude={*_BOOKKEEPING, "next_review_at"})
    if data.get("predictions"):
        data["predictions"] = {
            k: v[:10] if isinstance(v, str) and k.endswith("_at") else v
            for k, v in data["predictions"].items()
            if k not in ("scored_at", "days_since_last_order")  # the clock, not the customer
        }
    return data


def _counted(derived: Derived) -> dict[str, float]:
    """What the profile's purchases last added to the shop's prediction counters: the contribution of the
    summary stored with its derived state, or, stored by a version before the histogram, of its order times
    (the counters it added then: no histogram entries)."""
    if derived.purchases is not None:
        return contribution(derived.purchases)
    return legacy_contribution(derived.order_times)


def _add(delta: dict[str, int | float], into: dict[str, int | float]) -> dict[str, int | float]:
    for key, value in delta.items():
        into[key] = into.get(key, 0) + value
    return into


class RulesService:
    def __init__(
        self,
        store: RulesStore,
        publisher: EventPublisher,
        definitions: Definitions,
        clock: Clock,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._defs = definitions
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic
        self._priors: dict[str, tuple[Prior, float]] = {}

    # ---- predictions -------------------------------------------------------------------------

    def _prior(self, shop: str) -> Prior:
        cached = self._priors.get(shop)
        if cached is not None and self._monotonic() - cached[1] < PRIOR_CACHE_SECONDS:
            return cached[0]
        stored = self._store.prior(shop)
        prior = Prior.model_validate(stored[0]) if stored else default_prior()
        self._priors[shop] = (prior, self._monotonic())
        return prior

    def _score(self, loaded: Loaded, now: datetime) -> dict[str, Any]:
        assert loaded.profile is not None
        return score(loaded.purchases, now, self._prior(loaded.profile.shop)).model_dump(mode="json")

    def prior_of(self, shop: str) -> dict[str, Any] | None:
        """The shop's stored prior, if it has one (not the default)."""
        stored = self._store.prior(shop)
        return stored[0] if stored else None

    def refit_priors(self, shops: Sequence[str], force: bool = False) -> dict[str, dict[str, Any]]:
        """Refit each shop's prior from its counters when older than PRIOR_MAX_AGE (scheduled job), or now
        (``force``: an import brought in the shop's history)."""
        now = self._clock.now()
        fitted = {}
        for shop in shops:
            stored = self._store.prior(shop)
            if not force and stored is not None and now - stored[1] < PRIOR_MAX_AGE:
                continue
            prior = fit_prior(ShopStats.from_item(self._store.shop_stats(shop)), now)
            self._store.put_prior(shop, prior.model_dump(mode="json"), now)
            self._priors.pop(shop, None)
            fitted[shop] = prior.model_dump(mode="json")
        return fitted

    # ---- inputs ------------------------------------------------------------------------------

    def on_event(self, event: CanonicalEvent) -> RulesReport:
        report = RulesReport()
        if event.type in CUSTOMERLESS_TYPES or not event.customer.profile_id:
            return report
        self._run(
            event.shop,
            event.customer.profile_id,
            f"EV#{event.id}",
            report,
            lambda loaded, now: self._decide_event(event, loaded, now),
        )
        return report

    def on_backfill(self, shop: str, profile_ids: Sequence[str], batch: str) -> RulesReport:
        """Conclude what an import of the shop's history (emma.imports) means for these profiles, silently:
        segments, member lists and sizes, lifecycle stage, RFM, predictions, the prior's counters and the
        next review timer are brought up to date as if the history had been seen live, but nothing is
        published: no trigger fires, no segment entry starts a journey, nothing is sent. Time-based
        changes after the import (a customer lapsing next month) come from the review timer, live.

        ``batch`` names the import's unit of work; the marker (``BF#<batch>#<profile>``) makes a repeated
        batch a no-op. Re-evaluating a profile that did not change concludes nothing new, so a resumed
        import may simply run its batches again."""
        report = RulesReport()
        self._priors.pop(shop, None)  # the prior as stored now: an import's refit may have come from elsewhere
        markers = {pid: f"BF#{batch}#{pid}" for pid in profile_ids}
        preloaded = self._store.load_many(shop, list(markers.items()))  # one read for the batch, not one each
        for profile_id, marker_id in markers.items():
            self._run(
                shop,
                profile_id,
                marker_id,
                report,
                lambda loaded, now: self._decide_backfill(loaded, now),
                unchanged_is_done=True,
                preloaded=preloaded.get(profile_id),
            )
        return report

    def on_schedule(self, shops: Sequence[str] = ()) -> RulesReport:
        """Everything due since the last run (the cursor), each timer's conclusions exactly once; then the shops'
        prediction priors, when a day old. A timer whose evaluation fails is put again a little later (its
        evaluation is retried until GIVE_UP_AFTER past its first due time); one that cannot even be put again
        holds the cursor before it, so the next run reads it again: no timer is lost."""
        report = RulesReport()
        now = self._clock.now()
        since = self._store.cursor() or FIRST_RUN_SINCE
        due = sorted(self._store.due_timers(now, since), key=lambda t: t.due_at)
        cut = min(len(due), MAX_TIMERS_PER_RUN)
        while 0 < cut < len(due) and due[cut].due_at == due[cut - 1].due_at:
            cut += 1  # timers due at the same moment go together: the cursor is a time
        timers = due[:cut]
        until = now - CURSOR_LAG
        if cut < len(due):  # the rest, from the first left over, by the next runs
            until = min(until, due[cut].due_at - _TICK)
        for timer in timers:  # each on its own: one profile that fails must not hold up the others
            try:
                self._run(
                    timer.shop,
                    timer.profile_id,
                    "",
                    report,
                    lambda loaded, now, timer=timer: self._decide_timer(timer, loaded, now),
                    timer=timer,
                )
            except Exception:
                report.failed += 1
                if now - (timer.first_due_at or timer.due_at) >= GIVE_UP_AFTER:
                    log.exception("timer %s kept failing for %s; dropped", timer.key, GIVE_UP_AFTER)
                    continue
                retry = timer.retry(now + min(RETRY_MAX, RETRY_FIRST * 2**timer.attempt))
                log.exception("timer %s failed; put again for %s", timer.key, retry.due_at.isoformat())
                try:
                    self._store.put_timers([retry])
                except Exception:
                    log.exception("timer %s could not be put again: the next run reads it again", timer.key)
                    until = min(until, timer.due_at - _TICK)
        self._store.set_cursor(max(since, until))
        report.timers = len(timers)
        self.refit_priors(sorted(set(shops) | {t.shop for t in timers}))
        return report

    def segment_sizes(self, shop: str) -> dict[str, int]:
        sizes = self._store.segment_sizes(shop)
        return {s.id: max(0, sizes.get(s.id, 0)) for s in self._defs.for_shop(shop).segments}

    # ---- the loop ----------------------------------------------------------------------------

    def _run(
        self,
        shop: str,
        profile_id: str,
        marker_id: str,
        report: RulesReport,
        decide: Callable[[Loaded, datetime], tuple[Derived, Outcome, list[CanonicalEvent], list[Timer], list[Timer]]],
        unchanged_is_done: bool = False,
        preloaded: Loaded | None = None,
        timer: Timer | None = None,
    ) -> None:
        """Load, decide, commit (retrying a conflict), publish. With ``unchanged_is_done`` (a backfill's
        conclusion, which publishes nothing and so needs no marker to publish once) a decision that changes
        nothing writes nothing. A ``timer`` (``marker_id`` empty) leaves no marker: a decision that changes
        nothing writes only the next review timer, when the derived state's own review has come; a review timer
        the derived state no longer names, while it names a later one, is superseded: nothing to do."""
        for attempt in range(MAX_ATTEMPTS):
            if attempt == 0 and preloaded is not None:
                loaded = preloaded
            else:
                loaded = self._store.load(shop, profile_id, marker_id)
            if loaded.marker is not None:
                report.duplicates += 1
                if not loaded.marker.get("published"):
                    outbox = [EVENT_ADAPTER.validate_python(e) for e in loaded.marker.get("outbox", [])]
                    self._publish(shop, profile_id, marker_id, outbox, report)
                return
            if loaded.profile is None:
                return  # nothing known about this customer (yet): nothing to conclude
            if loaded.pending:  # an earlier evaluation's outbox, not published yet (it stopped after its commit)
                self._finish(shop, loaded, report)
            loaded.retired = loaded.retired[:MAX_RETIRE_PER_COMMIT]
            _absorb(loaded.derived, loaded.retired)
            now = self._clock.now()
            if timer is not None and _superseded_review(timer, loaded.derived, now):
                report.superseded += 1
                return
            derived, outcome, outbox, timers, superseded = decide(loaded, now)
            if timer is not None:
                superseded = []  # a review replaced stays: when due, it finds a later one named (_superseded_review)
            deltas = {s: 1 for s in outcome.entered} | {s: -1 for s in outcome.left}
            # The shop's prediction counters follow each customer's counted orders (new, cancelled,
            # merged); the derived state's version (and an event's marker) makes every addition happen once.
            current = loaded.purchases
            stats = _add(diff(_counted(loaded.derived), contribution(current)), {})
            derived.purchases, derived.order_times = current, []
            for retired in loaded.retired:  # a merged-away profile's memberships and orders stop counting
                for s in retired.segments:
                    deltas[s] = deltas.get(s, 0) - 1
                stats = _add(diff(_counted(retired), {}), stats)
                derived.absorbed.append(retired.profile_id)
            commit = RulesCommit(
                shop,
                loaded.profile.profile_id,
                derived,
                loaded.derived.version,
                marker_id,
                outbox,
                deltas,
                timers,
                loaded.retired,
                stats,
                superseded,
                marker_profile_id=profile_id,
            )
            _list_members(commit, loaded.profile, outcome.entered, now)
            if (unchanged_is_done or timer is not None) and _changes_nothing(commit, loaded.derived):
                before = loaded.derived.next_review_at
                if timer is not None and (before is None or before <= now):
                    self._store.put_timers(commit.timers)  # the derived state's review has come: the next one
                report.evaluated += 1
                return
            self._store.put_timers(commit.timers)  # before the commit: it never names a timer not written
            try:
                self._store.commit(commit)
            except CommitConflict as conflict:
                if conflict.duplicates:
                    continue  # another delivery got there first; the next load sees its marker
                self._sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))
                continue
            report.evaluated += 1
            report.fired += [f"{t}:{loaded.profile.profile_id}" for t in outcome.fired]
            report.entered += sorted(outcome.entered)
            report.left += sorted(outcome.left)
            if marker_id:
                self._publish(shop, profile_id, marker_id, outbox, report)
            elif outbox:
                self._publisher.publish(outbox)
                report.published += len(outbox)
                self._store.published(shop, commit.profile_id, derived.version)
            return
        raise ConcurrencyConflict(f"derived state of {profile_id} kept changing; gave up after {MAX_ATTEMPTS}")

    def _finish(self, shop: str, loaded: Loaded, report: RulesReport) -> None:
        """Publish the outbox an earlier evaluation left on the derived state (and on those of profiles merged into
        this one), then drop it from the live one (the merged-away ones' go when they are retired)."""
        assert loaded.profile is not None
        self._publisher.publish([EVENT_ADAPTER.validate_python(e) for e in loaded.pending])
        report.published += len(loaded.pending)
        self._store.published(shop, loaded.profile.profile_id, loaded.derived.version)
        loaded.pending = []

    def _publish(
        self, shop: str, profile_id: str, marker_id: str, outbox: list[CanonicalEvent], report: RulesReport
    ) -> None:
        if not outbox:
            return  # nothing to publish: marking the marker would be a write for nothing
        self._publisher.publish(outbox)
        report.published += len(outbox)
        self._store.mark_published(shop, profile_id, marker_id)

    # ---- decisions ---------------------------------------------------------------------------

    def _decide_event(self, event: CanonicalEvent, loaded: Loaded, now: datetime):
        profile = loaded.profile
        assert profile is not None
        defs = self._defs.for_shop(event.shop)
        derived = loaded.derived.model_copy(deep=True, update={"profile_id": profile.profile_id})
        predictions = self._score(loaded, now)
        outcome = evaluate_event(defs, profile, event, now, set(derived.segments), predictions)
        fired = self._gate(defs, derived, outcome.fired, now)
        outcome.fired = fired
        outbox = [self._fired(event.shop, profile, t, event.id, str(event.type), "event", None, now) for t in fired]
        timers: list[Timer] = []
        superseded: list[Timer] = []
        for arm in outcome.armed:
            old = derived.arms.get(arm.trigger_id)
            if old is not None and old.armed_at >= arm.armed_at:
                continue  # a late, older event does not move the deadline earlier
            if old is not None:  # re-armed: the earlier timer would only find nothing to do
                superseded.append(
                    Timer(event.shop, profile.profile_id, "absence", old.due_at, arm.trigger_id, old.armed_at)
                )
            derived.arms[arm.trigger_id] = ArmState(armed_at=arm.armed_at, due_at=arm.due_at, event_id=arm.event_id)
            timers.append(Timer(event.shop, profile.profile_id, "absence", arm.due_at, arm.trigger_id, arm.armed_at))
        concluded = self._conclude(
            event.shop, profile, derived, outcome, predictions, event.id, now, timers, superseded
        )
        if loaded.derived.version == 0 and profile.imported_at is not None:
            # History imported and not concluded yet (emma import --conclude-later, or a live event during the
            # import): the segments and stage it earned are recorded (sizes, member lists) but not announced,
            # as the import's conclusion would have; the event's own triggers still fire.
            concluded = []
        outbox += concluded
        return derived, outcome, outbox, timers, superseded

    def _decide_timer(self, timer: Timer, loaded: Loaded, now: datetime):
        profile = loaded.profile
        assert profile is not None
        defs = self._defs.for_shop(timer.shop)
        derived = loaded.derived.model_copy(deep=True, update={"profile_id": profile.profile_id})
        predictions = self._score(loaded, now)
        outcome = evaluate_segments(defs, profile, now, set(derived.segments), predictions)
        outbox: list[CanonicalEvent] = []
        arm = derived.arms.get(timer.trigger_id) if timer.kind == "absence" else None
        trigger = next((t for t in defs.triggers if t.id == timer.trigger_id), None)
        if arm is not None and trigger is not None and trigger.absent is not None and arm.armed_at == timer.armed_at:
            del derived.arms[timer.trigger_id]  # this arm is spent, fired or not
            if absence_holds(trigger, profile, arm.armed_at, now):
                outcome.fired = self._gate(defs, derived, [trigger.id], now)
                outbox += [
                    self._fired(timer.shop, profile, t, arm.event_id, None, "absence", arm.armed_at, now)
                    for t in outcome.fired
                ]
        timers: list[Timer] = []
        superseded: list[Timer] = []
        outbox += self._conclude(timer.shop, profile, derived, outcome, predictions, None, now, timers, superseded)
        return derived, outcome, outbox, timers, superseded

    def _decide_backfill(self, loaded: Loaded, now: datetime):
        """A review's evaluation (segments and lifecycle as they stand now, armed absence triggers left as they
        are), every conclusion recorded and none published."""
        profile = loaded.profile
        assert profile is not None
        review = Timer(profile.shop, profile.profile_id, "review", now)
        derived, outcome, _, timers, superseded = self._decide_timer(review, loaded, now)
        return derived, outcome, [], timers, superseded

    def _gate(self, defs: Definitions, derived: Derived, trigger_ids: Sequence[str], now: datetime) -> list[str]:
        """Cooldown and once-per-customer, recorded in the derived state."""
        allowed = []
        for tid in trigger_ids:
            trigger = next(t for t in defs.triggers if t.id == tid)
            state = derived.triggers.setdefault(tid, TriggerState())
            if may_fire(trigger, state.last_fired_at, state.count, now):
                state.last_fired_at, state.count = now, state.count + 1
                allowed.append(tid)
        return allowed

    def _conclude(
        self,
        shop: str,
        profile: Profile,
        derived: Derived,
        outcome: Outcome,
        predictions: dict[str, Any] | None,
        cause: str | None,
        now: datetime,
        timers: list[Timer],
        superseded: list[Timer],
    ) -> list[CanonicalEvent]:
        """Segment and lifecycle changes into events; the next review into a timer (replacing the
        previous one); state updated."""
        segments = {s.id: s for s in self._defs.segments}
        out = [
            self._segment_event(shop, profile, EventType.SEGMENT_ENTERED, s, segments[s].kind, cause, now)
            for s in sorted(outcome.entered)
        ]
        out += [
            self._segment_event(
                shop, profile, EventType.SEGMENT_LEFT, s, segments[s].kind if s in segments else None, cause, now
            )
            for s in sorted(outcome.left)
        ]
        if outcome.lifecycle_stage != derived.lifecycle_stage:
            out.append(
                self._event(
                    shop,
                    profile,
                    EventType.LIFECYCLE_CHANGED,
                    {"stage": outcome.lifecycle_stage, "previous": derived.lifecycle_stage, "cause_event_id": cause},
                    f"lc|{profile.profile_id}|{cause or now.isoformat()}",
                    now,
                )
            )
        if outcome.next_review_at != derived.next_review_at:
            if outcome.next_review_at is not None:
                timers.append(Timer(shop, profile.profile_id, "review", outcome.next_review_at))
            if derived.next_review_at is not None and derived.next_review_at > now:
                superseded.append(Timer(shop, profile.profile_id, "review", derived.next_review_at))
        derived.segments = sorted(outcome.segments)
        derived.lifecycle_stage = outcome.lifecycle_stage
        derived.loyalty_tier = outcome.loyalty_tier
        derived.rfm = outcome.rfm
        derived.predictions = predictions
        derived.next_review_at = outcome.next_review_at
        derived.updated_at = now
        derived.version += 1
        return out

    # ---- events ------------------------------------------------------------------------------

    def _event(
        self, shop: str, profile: Profile, type_: EventType, props: dict[str, Any], key: str, now: datetime
    ) -> CanonicalEvent:
        return EVENT_ADAPTER.validate_python(
            {
                "id": _id(key),
                "shop": shop,
                "type": type_,
                "occurred_at": now,
                "received_at": now,
                "source": {"kind": SourceKind.EMMA, "name": "rules"},
                "customer": {
                    "profile_id": profile.profile_id,
                    "customer_id": profile.customer_id,
                    "email": profile.email,
                },
                "properties": props,
            }
        )

    def _fired(
        self,
        shop: str,
        profile: Profile,
        trigger: str,
        cause: str,
        cause_type: str | None,
        kind: str,
        armed_at: datetime | None,
        now: datetime,
    ) -> CanonicalEvent:
        return self._event(
            shop,
            profile,
            EventType.TRIGGER_FIRED,
            {
                "trigger": trigger,
                "cause_event_id": cause,
                "cause_event_type": cause_type,
                "kind": kind,
                "armed_at": armed_at,
            },
            f"tf|{trigger}|{profile.profile_id}|{cause}|{kind}",
            now,
        )

    def _segment_event(
        self,
        shop: str,
        profile: Profile,
        type_: EventType,
        segment: str,
        kind: str | None,
        cause: str | None,
        now: datetime,
    ) -> CanonicalEvent:
        return self._event(
            shop,
            profile,
            type_,
            {"segment": segment, "kind": kind, "cause_event_id": cause},
            f"sg|{type_}|{segment}|{profile.profile_id}|{cause or now.isoformat()}",
            now,
        )
