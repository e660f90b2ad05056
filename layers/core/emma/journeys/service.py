"""Journey control and journey steps.

``on_event`` (the journeys function, fed by the bus) starts executions on entry events, stops them
on exit events and hands parked task tokens back when an awaited event arrives. An entry is first
weighed against the other journeys the customer is in and the journey's exclusions
(emma.journeys.conflicts); a refusal is recorded on the customer's journey state (status ``never`` if
they were never in it) and announced as ``journey.refused``. ``step`` (the journey-steps function,
invoked by the state machines) does what a step says and records it on the customer's journey state;
before a marketing send it weighs the other journeys and the exclusions again (held, or exit).
A task may run several steps in order (a sequence: emma.journeys.compile folds consecutive steps), each
as its own task would; a branch that checks again later (poll) and the branch right after an event wait
are decided by whoever hands the task token back, with the route in the callback's output.
Every external effect is keyed, so retries and re-deliveries act once.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any, NamedTuple, assert_never
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from emma.clock import Clock
from emma.dispatch.request import MessageRequest
from emma.errors import EmmaError, ProfileNotFound
from emma.events.model import (
    CanonicalEvent,
    EventType,
    Source,
    SourceKind,
    parse_event,
)
from emma.ingest.ports import EventPublisher
from emma.ingest.service import IngestService
from emma.journeys.compile import decided_on_arrival
from emma.journeys.conflicts import conflict
from emma.journeys.definitions import BranchArm, Journey, JourneyGroup, Variant
from emma.journeys.ports import Executions, JourneyStore, MessageRequests
from emma.journeys.state import JourneyState, LogEntry, StaleJourneyState
from emma.journeys.steps import (
    AwaitPayload,
    BranchPayload,
    EmitPayload,
    FailedPayload,
    FinishPayload,
    InvalidStepPayload,
    PollPayload,
    SendPayload,
    SequencePayload,
    SplitPayload,
    StepPayload,
    StepPayloadBase,
    UntilPayload,
    UpdatePayload,
    parse_step,
)
from emma.journeys.steps import UnknownAction as UnknownAction  # where callers have always found it
from emma.profiles.model import Profile
from emma.rules.evaluate import Facts, holds
from emma.rules.ports import RulesStore

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
JUST_BOUGHT = timedelta(days=30)  # products bought this recently are never offered (dispatch honours the list)
DEFAULT_TIMEZONE = "Europe/Berlin"


def execution_name(profile_id: str, cause_id: str) -> str:
    """Deterministic: the same entry event (re-delivered, or fired twice) names the same execution."""
    digest = hashlib.sha256(cause_id.encode("utf-8")).hexdigest()[:16]
    return f"{profile_id[:60]}-{digest}"


def split_variant(variants: Sequence[Variant], profile_id: str, salt: str) -> Variant:
    """A stable, uniform pick: the same customer lands in the same variant on every retry."""
    total = sum(v.weight for v in variants)
    point = int(hashlib.sha256(f"{salt}:{profile_id}".encode()).hexdigest()[:12], 16) / 16**12 * total
    for variant in variants:
        if point < variant.weight:
            return variant
        point -= variant.weight
    return variants[-1]


def next_time_of_day(now: datetime, hhmm: str, timezone: str | None) -> datetime:
    """The next HH:MM (strictly after now) in ``timezone`` (the default one if unknown), in UTC."""
    try:
        zone = ZoneInfo(timezone or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(DEFAULT_TIMEZONE)
    local = now.astimezone(zone)
    hour, minute = (int(p) for p in hhmm.split(":"))
    candidate = datetime.combine(local.date(), time(hour, minute), tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), time(hour, minute), tzinfo=zone)
    return candidate.astimezone(UTC)


class _Decision(NamedTuple):
    """A branch decided when the event its wait awaited arrived: the branch step, where it leads, why, and
    the key of its log entry (the step is reached once per arrival)."""

    step: str
    target: str
    why: str
    key: str


def _decide(arms: Sequence[BranchArm], facts: Facts) -> tuple[str, str]:
    """The first arm whose conditions hold (the last is ``otherwise``): its target, and why."""
    for n, arm in enumerate(arms):
        if arm.when is None or holds(arm.when, facts, facts.now):
            return arm.target, "otherwise" if arm.when is None else f"condition {n + 1} holds"
    raise AssertionError("a branch ends with an otherwise arm")  # the model guarantees it


class JourneyService:
    def __init__(
        self,
        journeys: Sequence[Journey],
        store: JourneyStore,
        executions: Executions,
        messages: MessageRequests,
        ingest: IngestService,
        rules: RulesStore,
        clock: Clock,
        sleep: Callable[[float], None] | None = None,
        publisher: EventPublisher | None = None,
        groups: Mapping[str, JourneyGroup] | None = None,
    ) -> None:
        """``publisher`` (source emma.journeys) announces journey progress for analytics: entries, refusals,
        steps reached, waits, split assignments and ends; nothing of it is stored on the profile. ``groups``:
        the journey groups (default: those of ``journeys`` when it is a JourneySet, as load_journeys and
        definitions.json give them); a group not among them counts as exclusive."""
        self._journeys = {j.id: j for j in journeys}
        self._groups: dict[str, JourneyGroup] = dict(groups if groups is not None else getattr(journeys, "groups", {}))
        unknown = sorted({j.group for j in journeys if j.group is not None and j.group not in self._groups})
        if unknown:  # the loader refuses such journeys; given them anyway, the stricter reading: exclusive
            log.warning("journey groups not declared, taken as exclusive", extra={"groups": unknown})
        self._publisher = publisher
        self._store, self._executions, self._messages = store, executions, messages
        self._ingest, self._rules, self._clock = ingest, rules, clock
        self._sleep = sleep or (lambda s: None)
        self._watched = {e.value for j in journeys for e in j.exit_on} | {
            s.wait.until_event.value
            for j in journeys
            for s in j.steps
            if getattr(getattr(s, "wait", None), "until_event", None)
        }

    # ---- control: the journeys function -------------------------------------------------------

    def on_event(self, event: CanonicalEvent) -> list[str]:
        """React to one event from the bus; returns what it did (for logs and tests)."""
        profile_id = event.customer.profile_id
        if not profile_id:
            return []
        done: list[str] = []
        if event.type.value in self._watched and not event.repeat:  # a repeated order exits nothing
            done += self._exits_and_arrivals(event, profile_id)
        for journey in self._entered_by(event):
            done.append(self.enter(journey, event.shop, profile_id, event.id, event.type.value))
        return done

    def _entered_by(self, event: CanonicalEvent) -> list[Journey]:
        props = event.properties
        out = []
        for journey in self._journeys.values():
            if "*" not in journey.shops and event.shop not in journey.shops:
                continue
            trigger, segment = getattr(props, "trigger", None), getattr(props, "segment", None)
            if (event.type == EventType.TRIGGER_FIRED and journey.entry.starts_on(trigger)) or (
                event.type == EventType.SEGMENT_ENTERED and journey.entry.segment == segment
            ):
                out.append(journey)
        return out

    def enter(self, journey: Journey, shop: str, profile_id: str, cause_id: str, cause_type: str) -> str:
        now = self._clock.now()
        name = execution_name(profile_id, f"{journey.id}:{cause_id}")
        arn = self._executions.arn(journey.id, name)
        for attempt in range(MAX_ATTEMPTS):
            states = self._store.list(shop, profile_id)  # every journey of the customer: one query
            state = next((s for s in states if s.journey == journey.id), None)
            if state is not None and state.execution == name and state.status == "active":
                break  # this very entry, already recorded: (re)start below, idempotently
            # The other journeys and the exclusions first, then this journey's own re-entry rules.
            try:
                refusal = self._conflict(journey, shop, profile_id, states) or self._refusal(journey, state, name, now)
            except ProfileNotFound:  # erased meanwhile: nobody to weigh the exclusions for, nobody to message
                return f"{journey.id}: not entered (no such profile)"
            if refusal == "":  # this very entry (found above already; kept for the contract of _refusal)
                break
            if refusal:
                try:
                    self._refused(journey, shop, profile_id, state, name, refusal, now)
                except StaleJourneyState:
                    self._sleep(0.01 * 2**attempt)
                    continue
                return f"{journey.id}: not entered ({refusal})"
            fresh = JourneyState(
                journey=journey.id,
                execution=name,
                execution_arn=arn,
                entered_at=now,
                entries=(state.entries + 1) if state else 1,
                step=journey.steps[0].id,
                step_since=now,
                log=state.log if state else [],
                version=state.version if state else 0,
            )
            fresh.record(LogEntry(at=now, execution=name, step=journey.steps[0].id, what="entered", detail=cause_type))
            try:
                self._store.put(shop, profile_id, fresh)
                break
            except StaleJourneyState:
                self._sleep(0.01 * 2**attempt)
        else:
            raise StaleJourneyState(f"journey state of {profile_id} in {journey.id} kept changing")
        payload = {
            "shop": shop,
            "profile_id": profile_id,
            "journey": journey.id,
            "execution": name,
            "cause": {"event_id": cause_id, "event_type": cause_type},
        }
        self._executions.start(journey.id, name, payload)
        self._announce(
            EventType.JOURNEY_ENTERED,
            shop,
            profile_id,
            journey.id,
            name,
            f"{name}:entered",
            step=journey.steps[0].id,
            reason=cause_type,
        )
        return f"{journey.id}: started {name}"

    def _refused(
        self,
        journey: Journey,
        shop: str,
        profile_id: str,
        state: JourneyState | None,
        name: str,
        refusal: str,
        now: datetime,
    ) -> None:
        """Record a refusal on the customer's journey state (a state with status ``never`` when they were never
        in the journey) and announce it; StaleJourneyState when the state changed meanwhile."""
        key = f"refused:{name}"
        if state is None:
            state = JourneyState(
                journey=journey.id, status="never", execution="", entered_at=now, entries=0, step_since=now
            )
        if state.done(key):  # this entry event was refused before (a redelivery)
            return
        if not any(e.what == "refused" and e.detail == refusal for e in state.log[-3:]):
            state.record(LogEntry(at=now, execution=name, step="-", what="refused", detail=refusal, key=key))
            self._store.put(shop, profile_id, state)
        self._announce(
            EventType.JOURNEY_REFUSED,
            shop,
            profile_id,
            journey.id,
            name,
            f"{name}:refused",
            step=None,
            reason=refusal[:1000],
        )

    def _conflict(
        self,
        journey: Journey,
        shop: str,
        profile_id: str,
        states: Sequence[JourneyState],
        running_since: datetime | None = None,
        profile: Profile | None = None,
    ) -> str | None:
        """Why the other journeys or the journey's exclusions keep it from the customer now, or None."""
        return conflict(
            journey,
            states,
            self._journeys,
            self._groups,
            lambda: self._facts(shop, profile or self._ingest.resolve(shop, profile_id)),
            running_since,
        )

    @staticmethod
    def _refusal(journey: Journey, state: JourneyState | None, name: str, now: datetime) -> str | None:
        """None: may enter; "": this entry is already recorded; else why not. A journey the customer was
        only ever refused (status never) counts as never entered."""
        if state is None or state.status == "never":
            return None
        if state.execution == name:
            return "" if state.status == "active" else "this entry has already run"
        if state.status == "active":
            return f"already in this journey since {state.entered_at.isoformat()}"
        if journey.reentry == "never":
            return "re-entry: never"
        if now < state.entered_at + journey.reentry.after:
            return f"re-entry only {journey.reentry.after.days} days after the last entry"
        return None

    def _exits_and_arrivals(self, event: CanonicalEvent, profile_id: str) -> list[str]:
        done = []
        for state in self._store.list(event.shop, profile_id):
            journey = self._journeys.get(state.journey)
            if state.status != "active" or journey is None:
                continue
            if event.type in journey.exit_on:
                reason = f"exit event {event.type.value}"
                if state.execution_arn:
                    self._executions.stop(state.execution_arn, reason)
                self._end(event.shop, profile_id, journey.id, state.execution, "exited", reason, event.id)
                done.append(f"{journey.id}: exited ({reason})")
            elif state.waiting_for == event.type.value and state.token:
                output: dict[str, Any] = {"event_id": event.id, "type": event.type.value}
                decided = self._decided_on_arrival(journey, state, event.shop, profile_id, f"arrived:{event.id}")
                if decided is not None:
                    output |= {"route": decided.target, "until": None}
                arrived = self._executions.resume(state.token, output)
                self._mutate(
                    event.shop,
                    profile_id,
                    journey.id,
                    state.execution,
                    lambda s, _e=event, _d=decided if arrived else None: self._arrived(s, _e.type.value, _e.id, _d),
                )
                if arrived and decided is not None:
                    self._announce_step(event.shop, profile_id, journey.id, state.execution, decided.key, decided.step)
                done.append(f"{journey.id}: {event.type.value} arrived" + ("" if arrived else " (too late)"))
        return done

    def _decided_on_arrival(
        self, journey: Journey, state: JourneyState, shop: str, profile_id: str, cause: str
    ) -> _Decision | None:
        """The branch right after the event wait the customer is in, decided now that the event has arrived
        (emma.journeys.compile.decided_on_arrival: the callback's output carries the route, the Choice reads
        it). None when no branch follows the wait, or the profile is gone."""
        branch = decided_on_arrival(journey, state.step or "")
        if branch is None:
            return None
        try:
            facts = self._facts(shop, self._ingest.resolve(shop, profile_id))
        except ProfileNotFound:
            return None
        target, why = _decide(branch.branch, facts)
        return _Decision(branch.id, target, why, f"{state.execution}:{branch.id}:{cause}")

    def _arrived(self, state: JourneyState, event_type: str, event_id: str, decided: _Decision | None = None) -> None:
        if state.waiting_for != event_type:
            return
        state.record(
            LogEntry(
                at=self._clock.now(),
                execution=state.execution,
                step=state.step or "-",
                what="arrived",
                detail=event_type,
                key=f"arrived:{event_id}",
            )
        )
        state.waiting_for, state.token = None, None
        if decided is not None:  # the branch after the wait, decided by whoever handed the token back
            now = self._clock.now()
            state.record(
                LogEntry(
                    at=now,
                    execution=state.execution,
                    step=decided.step,
                    what="branched",
                    detail=f"-> {decided.target} ({decided.why})",
                    key=decided.key,
                )
            )
            state.step, state.step_since = decided.target, now

    def _end(
        self, shop: str, profile_id: str, journey: str, execution: str, status: str, reason: str, key: str
    ) -> None:
        def end(state: JourneyState) -> None:
            if state.status != "active":
                return
            if status != "exited":
                self._moved_on(state, state.step or "-")
            now = self._clock.now()
            state.status, state.ended_at, state.end_reason = status, now, reason  # type: ignore[assignment]
            state.waiting_for, state.token = None, None
            state.record(
                LogEntry(
                    at=now,
                    execution=execution,
                    step=state.step or "-",
                    what=status,
                    detail=reason,
                    key=f"{status}:{key}",
                )
            )

        ended = self._mutate(shop, profile_id, journey, execution, end)
        if ended is not None and ended.status == status:
            self._announce(
                EventType.JOURNEY_ENDED,
                shop,
                profile_id,
                journey,
                execution,
                f"{execution}:ended",
                ended.step,
                status=status,
                reason=reason[:1000],
            )

    # ---- steps: the journey-steps function ----------------------------------------------------

    def step(self, payload: dict[str, Any]) -> dict[str, Any]:
        p = parse_step(payload)  # UnknownAction, InvalidStepPayload
        route = until = None
        # A sequence runs its actions in order, each as its own task would (keyed on its own step: a retry
        # repeats nothing done), and stops where the journey ended (an exit on a conflict before a send).
        for action in p.actions() if isinstance(p, SequencePayload) else [p]:
            route, until, live = self._act(action)
            if not live:
                break
        return {"route": route, "until": until}

    def _act(self, p: StepPayload) -> tuple[str | None, str | None, bool]:
        """Do one action; returns its route, its until, and whether the journey goes on."""
        live = True
        match p:
            case SendPayload():
                route, until, live = self._send(p)
            case UpdatePayload():
                route, until = self._update(p)
            case EmitPayload():
                route, until = self._emit(p)
            case BranchPayload():
                route, until = self._branch(p)
            case SplitPayload():
                route, until = self._split(p)
            case UntilPayload():
                route, until = self._until(p)
            case AwaitPayload():
                route, until = self._await(p)
            case FinishPayload():
                route, until = self._finish(p)
            case FailedPayload():
                route, until = self._failed(p)
            case PollPayload():
                route, until = self._poll(p)
            case SequencePayload():
                raise InvalidStepPayload("journey step 'sequence': a sequence inside a sequence")
            case _:
                assert_never(p)
        if not isinstance(p, FinishPayload | FailedPayload):  # the step's effect is recorded: it was reached
            self._announce_step(p.shop, p.profile_id, p.journey, p.execution, p.key, p.step)
        return route, until, live

    def _announce_step(self, shop: str, profile_id: str, journey: str, execution: str, key: str, step: str) -> None:
        self._announce(EventType.JOURNEY_STEP, shop, profile_id, journey, execution, f"{key}:step", step)

    def _send(self, p: SendPayload) -> tuple[str | None, str | None, bool]:
        """Returns route, until, and False when the journey is over (not active, or exited on a conflict)."""
        spec, key, now = p.spec, p.key, self._clock.now()
        state = self._current(p)
        if state is None:
            return None, None, False
        if state.done(key):
            return None, None, True
        cap = spec.max_messages
        if not spec.transactional and cap is not None and state.messages >= cap:
            self._log(p, "capped", f"{spec.template}: this journey may send {cap} messages", then=p.then)
            return None, None, True
        profile = self._profile(p)
        journey = self._journeys.get(p.journey)
        if not spec.transactional and journey is not None and self._may_conflict(journey):
            # Transactional messages are never held; marketing ones wait for no journey that came since.
            states = self._store.list(p.shop, p.profile_id)
            reason = self._conflict(journey, p.shop, p.profile_id, states, state.entered_at, profile)
            if reason and journey.on_conflict == "exit":
                if state.execution_arn:
                    self._executions.stop(state.execution_arn, f"conflict: {reason}")
                self._end(p.shop, p.profile_id, p.journey, p.execution, "exited", f"conflict: {reason}", p.key)
                return None, None, False
            if reason:
                self._log(p, "held", f"{spec.template}: {reason}", then=p.then)
                return None, None, True
        recent = sorted(
            pid for pid, owned in profile.products_owned.items() if now - owned.last_bought_at <= JUST_BOUGHT
        )
        self._messages.request(
            MessageRequest(
                key=key,
                shop=p.shop,
                profile_id=profile.profile_id,
                journey=p.journey,
                execution=p.execution,
                step=p.step,
                template=spec.template,
                channel=spec.channel,
                transactional=spec.transactional,
                requested_at=now,
                exclude_products=tuple(recent),
                variant=state.variant,
            )
        )

        def sent(s: JourneyState) -> None:
            self._moved_on(s, p.step, now)
            s.messages += 0 if spec.transactional else 1
            s.record(
                LogEntry(
                    at=now,
                    execution=s.execution,
                    step=p.step,
                    what="sent",
                    detail=f"{spec.template} via {spec.channel}",
                    key=key,
                )
            )
            s.step, s.step_since = p.then, now

        self._change(p, sent)
        return None, None, True

    def _update(self, p: UpdatePayload) -> tuple[str | None, str | None]:
        traits = p.spec.set
        self._record_event(p, EventType.CUSTOMER_UPDATED, {"traits": traits})
        self._log(p, "updated", ", ".join(f"{k} = {v}" for k, v in traits.items()), then=p.then)
        return None, None

    def _emit(self, p: EmitPayload) -> tuple[str | None, str | None]:
        name = f"journey.{p.spec.event}"
        props = {"name": name, "properties": {"journey": p.journey, "execution": p.execution, "step": p.step}}
        self._record_event(p, EventType.CUSTOM, props)
        self._log(p, "emitted", name, then=p.then)
        return None, None

    def _branch(self, p: BranchPayload | PollPayload) -> tuple[str | None, str | None]:
        arms = p.spec.branch if isinstance(p, PollPayload) else p.spec
        target, why = _decide(arms, self._facts(p.shop, self._profile(p)))
        self._log(p, "branched", f"-> {target} ({why})", then=target)
        return target, None

    def _poll(self, p: PollPayload) -> tuple[str | None, str | None]:
        """A branch that checks again later, run as a callback task: the arm that waits leaves the token
        parked (the task's timeout is the wait, and leads back to this step); any other hands it back at
        once with the route."""
        route, _ = self._branch(p)
        if route != p.spec.wait:
            self._executions.resume(p.token, {"route": route, "until": None})
        return route, None

    def _split(self, p: SplitPayload) -> tuple[str | None, str | None]:
        chosen = split_variant(p.spec, p.profile_id, f"{p.journey}:{p.step}")

        def split(s: JourneyState) -> None:
            self._moved_on(s, p.step)
            s.variant = chosen.name
            s.record(
                LogEntry(
                    at=self._clock.now(),
                    execution=s.execution,
                    step=p.step,
                    what="split",
                    detail=f"variant {chosen.name}" + (" (holdout: no messages)" if chosen.holdout else ""),
                    key=p.key,
                )
            )
            s.step, s.step_since = chosen.goto, self._clock.now()

        if self._change(p, split) is not None:
            self._announce(
                EventType.JOURNEY_SPLIT,
                p.shop,
                p.profile_id,
                p.journey,
                p.execution,
                f"{p.key}:split",
                p.step,
                variant=chosen.name,
                holdout=chosen.holdout,
            )
        return chosen.goto, None

    def _until(self, p: UntilPayload) -> tuple[str | None, str | None]:
        profile = self._profile(p)
        zone = profile.traits.get("timezone")
        at = next_time_of_day(self._clock.now(), p.spec.until_time, str(zone.value) if zone else None)
        until = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        self._log(p, "waiting", f"until {p.spec.until_time} ({until})", then=p.step)
        self._announce(
            EventType.JOURNEY_WAITING,
            p.shop,
            p.profile_id,
            p.journey,
            p.execution,
            f"{p.key}:waiting",
            p.step,
            reason=f"until {p.spec.until_time}",
        )
        return None, until

    def _await(self, p: AwaitPayload) -> tuple[str | None, str | None]:
        wanted, token, key = p.spec.event, p.token, p.key
        entered = datetime.fromisoformat(p.entered.replace("Z", "+00:00"))
        now = self._clock.now()

        def park(s: JourneyState) -> None:
            s.waiting_for, s.token, s.step, s.step_since = wanted, token, p.step, now
            if not s.done(key):
                s.record(LogEntry(at=now, execution=s.execution, step=p.step, what="waiting", detail=wanted, key=key))

        if self._change(p, park) is None:
            return None, None
        self._announce(
            EventType.JOURNEY_WAITING,
            p.shop,
            p.profile_id,
            p.journey,
            p.execution,
            f"{key}:waiting",
            p.step,
            reason=f"for {wanted}",
        )
        # The event may have arrived between entering this step and parking the token.
        profile = self._profile(p)
        arrived = any(t >= int(entered.timestamp()) for t in profile.event_times.get(wanted, []))
        if not arrived:
            return None, None
        output: dict[str, Any] = {"event_id": None, "type": wanted, "seen_on_profile": True}
        journey = self._journeys.get(p.journey)
        decided = None
        if journey is not None and (branch := decided_on_arrival(journey, p.step)) is not None:
            target, why = _decide(branch.branch, self._facts(p.shop, profile))
            decided = _Decision(branch.id, target, why, f"{p.execution}:{branch.id}:{key}:profile")
            output |= {"route": target, "until": None}
        if self._executions.resume(token, output):
            self._change(p, lambda s: self._arrived(s, wanted, f"{key}:profile", decided))
            if decided is not None:
                self._announce_step(p.shop, p.profile_id, p.journey, p.execution, decided.key, decided.step)
        return None, None

    def _finish(self, p: FinishPayload) -> tuple[str | None, str | None]:
        self._end(p.shop, p.profile_id, p.journey, p.execution, "completed", p.spec.reason, p.key)
        return None, None

    def _failed(self, p: FailedPayload) -> tuple[str | None, str | None]:
        error = p.error or {}
        reason = f"{error.get('Error', 'error')}: {str(error.get('Cause', ''))[:300]}"
        log.error("journey step failed", extra={"journey": p.journey, "execution": p.execution, "reason": reason})
        self._end(p.shop, p.profile_id, p.journey, p.execution, "failed", reason, p.key)
        return None, None

    # ---- helpers ------------------------------------------------------------------------------

    def _facts(self, shop: str, profile: Profile) -> Facts:
        """What conditions see (branches, exclusions): the profile and what the rules derived about it."""
        derived = self._rules.derived(shop, profile.profile_id)
        return Facts(
            profile=profile,
            now=self._clock.now(),
            segments=set(derived.segments) if derived else set(),
            derived={
                "lifecycle_stage": derived.lifecycle_stage if derived else None,
                "loyalty_tier": derived.loyalty_tier if derived else None,
                "rfm": derived.rfm if derived else None,
                "predictions": derived.predictions if derived else None,
            },
        )

    def _may_conflict(self, journey: Journey) -> bool:
        """Whether anything can hold this journey's sends (else the check before a send reads nothing)."""
        if journey.excludes.journeys or journey.excludes.when:
            return True
        group = self._groups.get(journey.group) if journey.group is not None else None
        return journey.group is not None and (group is None or group.exclusive)  # undeclared: exclusive

    def _moved_on(self, s: JourneyState, step: str, at: datetime | None = None) -> None:
        """A later step runs: a wait still on record ended by its timeout (arrivals clear it)."""
        if s.waiting_for:
            s.record(
                LogEntry(
                    at=at or self._clock.now(),
                    execution=s.execution,
                    step=s.step or step,
                    what="timed_out",
                    detail=s.waiting_for,
                    key=f"timeout:{s.execution}:{s.step}:{s.step_since.isoformat()}",
                )
            )
            s.waiting_for, s.token = None, None

    def _current(self, p: StepPayloadBase) -> JourneyState | None:
        state = self._store.get(p.shop, p.profile_id, p.journey)
        if state is None or state.execution != p.execution or state.status != "active":
            log.warning("no active journey state for this execution", extra={"execution": p.execution})
            return None
        return state

    def _log(self, p: StepPayloadBase, what: str, detail: str, then: str | None = None) -> None:
        def add(s: JourneyState) -> None:
            if s.done(p.key):
                return
            self._moved_on(s, p.step)
            s.record(
                LogEntry(at=self._clock.now(), execution=s.execution, step=p.step, what=what, detail=detail, key=p.key)
            )
            if then:
                s.step, s.step_since = then, self._clock.now()

        self._change(p, add)

    def _change(self, p: StepPayloadBase, change: Callable[[JourneyState], None]) -> JourneyState | None:
        """``_mutate`` the journey state of the step's execution."""
        return self._mutate(p.shop, p.profile_id, p.journey, p.execution, change)

    def _mutate(
        self, shop: str, profile_id: str, journey: str, execution: str, change: Callable[[JourneyState], None]
    ) -> JourneyState | None:
        """Apply ``change`` to the state of this execution (optimistically; re-read on conflict). None
        when the state belongs to another execution (this one was stopped and replaced)."""
        for attempt in range(MAX_ATTEMPTS):
            state = self._store.get(shop, profile_id, journey)
            if state is None or state.execution != execution:
                log.warning("journey state belongs to another execution", extra={"execution": execution})
                return None
            before = state.model_dump()
            change(state)
            if state.model_dump() == before:
                return state
            try:
                self._store.put(shop, profile_id, state)
                return state
            except StaleJourneyState:
                self._sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))
        raise StaleJourneyState(f"journey state of {profile_id} in {journey} kept changing")

    def _profile(self, p: StepPayloadBase) -> Profile:
        return self._ingest.resolve(p.shop, p.profile_id)  # ProfileNotFound: the task fails, is caught

    def _announce(
        self,
        type_: EventType,
        shop: str,
        profile_id: str,
        journey: str,
        execution: str,
        key: str,
        step: str | None,
        **properties: Any,
    ) -> None:
        """Publish journey progress for analytics (under an id made from ``key``: a retried step publishes
        the same event again, which analytics counts once). Best effort: the customer's journey never fails
        for its measurement; a lost announcement is logged (and undercounts the funnel by one)."""
        if self._publisher is None:
            return
        now = self._clock.now().isoformat()
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        event = parse_event(
            {
                "id": f"journey:{digest}:{type_.value.split('.')[1]}",
                "type": type_.value,
                "shop": shop,
                "occurred_at": now,
                "received_at": now,
                "source": Source(kind=SourceKind.EMMA, name=f"journey:{journey}").model_dump(),
                "customer": {"profile_id": profile_id},
                "properties": {"journey": journey, "execution": execution, "step": step, **properties},
            }
        )
        try:
            self._publisher.publish([event])
        except EmmaError as exc:
            log.warning(
                "journey progress not announced", extra={"event_id": event.id, "type": type_.value, "error": str(exc)}
            )

    def _record_event(self, p: StepPayloadBase, type_: EventType, properties: dict[str, Any]) -> None:
        """Profile changes go through ingest like any other event: versioned, logged, published."""
        profile = self._profile(p)
        refs = profile.references()
        event = parse_event(
            {
                "id": f"journey:{p.key}"[:256],
                "type": type_.value,
                "shop": p.shop,
                "occurred_at": self._clock.now().isoformat(),
                "received_at": self._clock.now().isoformat(),
                "source": Source(kind=SourceKind.EMMA, name=f"journey:{p.journey}").model_dump(),
                "customer": refs.model_dump(exclude_none=True),
                "properties": properties,
            }
        )
        self._ingest.ingest([event])
