"""Trigger and segment evaluation: own CPU time per event with 50 triggers and 20 segments.

A shop of synthetic customers (bench.synthetic: two years of history each) is put in an
InMemoryProfileRepository (with its aliases), and each customer is evaluated once by RulesService
(their newest event), so derived states exist as in steady operation. Then a stream of new events
(page and product views, carts, checkouts, orders, newsletter opens and clicks, searches) is sent
through the real IngestService (untimed: it folds the event into the profile and publishes it with
the profile id) and the published event through ``RulesService.on_event`` (timed).

Measured per event with ``time.process_time()``, in consecutive chunks of the stream (one chunk = one
repetition; min and median over them):
- ``on_event``: the whole RulesService.on_event with the in-memory store (load = profile validated
  from its stored document, derived state copied; decide; commit with copies; publish);
- ``evaluation``: the pure part, emma.predict.model.score_profile (+ its JSON dump, as the service
  uses it) and emma.rules.engine.evaluate_event, on the same profile, event, time and previous
  segments as on_event saw them (captured untimed just before each on_event call);
  evaluate_segments alone (the 20 segments, lifecycle, RFM, next review) is timed as well: the
  triggers' share is the difference;
- ``profile_load``: Profile.model_validate of the stored profile document, the in-memory stand-in
  for deserialising the profile item that every on_event does;
- ``derived_deep_copy``: one deep copy of the derived state as on_event found it (on_event makes three
  with the in-memory store: on load, in the service, on commit; with DynamoDB only the service's).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.definitions import bench_definitions, describe
from bench.synthetic import NOW, SHOP, Population, Stream


@dataclass
class RulesRun:
    customers: int
    events_per_rep: int
    reps: int
    warmup: int
    definitions: dict[str, Any]
    stream_mix: dict[str, int] = field(default_factory=dict)
    on_event_s: list[float] = field(default_factory=list)
    score_s: list[float] = field(default_factory=list)
    evaluate_s: list[float] = field(default_factory=list)
    segments_s: list[float] = field(default_factory=list)
    load_s: list[float] = field(default_factory=list)
    copy_s: list[float] = field(default_factory=list)
    fired: int = 0
    armed: int = 0
    entered: int = 0
    left: int = 0
    published: int = 0
    profile_json_bytes: list[int] = field(default_factory=list)
    setup_s: float = 0.0

    def _per_event(self, values: list[float]) -> dict[str, float]:
        per = [v / self.events_per_rep * 1e6 for v in values]
        return {"min": min(per), "median": statistics.median(per)}

    def summary(self) -> dict[str, Any]:
        evaluation = [s + e for s, e in zip(self.score_s, self.evaluate_s, strict=True)]
        events = self.events_per_rep * self.reps
        on_event = self._per_event(self.on_event_s)
        pure = self._per_event(evaluation)
        load = self._per_event(self.load_s)
        return {
            "definitions": self.definitions,
            "customers": self.customers,
            "events_per_repetition": self.events_per_rep,
            "repetitions": self.reps,
            "warmup_events": self.warmup,
            "stream_mix": self.stream_mix,
            "profile_json_bytes": {
                "mean": statistics.mean(self.profile_json_bytes),
                "median": statistics.median(self.profile_json_bytes),
                "max": max(self.profile_json_bytes),
            },
            "cpu_us_per_event": {
                "on_event": on_event,
                "evaluation": pure,
                "evaluation_scoring": self._per_event(self.score_s),
                "evaluation_triggers_and_segments": self._per_event(self.evaluate_s),
                "evaluation_segments_only": self._per_event(self.segments_s),
                "profile_load": load,
                "derived_deep_copy": self._per_event(self.copy_s),
                "on_event_minus_evaluation_and_load": {
                    "median": on_event["median"] - pure["median"] - load["median"],
                },
            },
            "per_event": {
                "triggers_fired": self.fired / events,
                "absence_triggers_armed": self.armed / events,
                "segments_entered": self.entered / events,
                "segments_left": self.left / events,
                "events_published": self.published / events,
            },
            "setup_s": self.setup_s,
        }


class _World:
    def __init__(self, defs: Any, customers: int) -> None:
        from emma.events.model import EVENT_ADAPTER
        from emma.ingest.ports import AliasKey
        from emma.ingest.service import IngestService
        from emma.rules.service import RulesService
        from emma_local.fakes import (
            FixedClock,
            InMemoryCatalog,
            InMemoryProfileRepository,
            InMemoryPublisher,
            InMemoryRulesStore,
        )

        self.clock = FixedClock(NOW)
        self.repo = InMemoryProfileRepository()
        self.bus = InMemoryPublisher()
        self.ingest = IngestService(self.repo, InMemoryCatalog(self.repo), self.bus, self.clock, sleep=lambda s: None)
        self.store = InMemoryRulesStore(self.repo, check_limits=False)  # CPU: no limit checks DynamoDB makes itself
        self.out = InMemoryPublisher()
        self.rules = RulesService(self.store, self.out, defs, self.clock, sleep=lambda s: None)
        self.customers = list(Population().customers(customers))
        for c in self.customers:
            self.repo.profiles[(SHOP, c.profile_id)] = c.doc
            for kind, value in (("cid", c.customer_id), ("email", c.email), ("anon", c.anonymous_id)):
                if value:
                    self.repo.aliases[(SHOP, AliasKey(kind, value))] = c.profile_id
        # Steady state: every customer was evaluated after their newest event.
        for c in self.customers:
            self.rules.on_event(EVENT_ADAPTER.validate_python(c.last_event))


def measure(root: Path, *, customers: int, events: int, reps: int, warmup: int) -> RulesRun:
    """``reps`` timed chunks of ``events`` stream events each, after ``warmup`` untimed ones."""
    from emma.events.model import EVENT_ADAPTER
    from emma.predict.model import score_profile
    from emma.profiles.model import Profile
    from emma.rules.engine import evaluate_event, evaluate_segments

    started = time.perf_counter()
    defs = bench_definitions(root)
    world = _World(defs, customers)
    run = RulesRun(customers, events, reps, warmup, describe(defs))
    stream = Stream(world.customers)
    shop_defs = defs.for_shop(SHOP)
    run.setup_s = time.perf_counter() - started
    mix: Counter[str] = Counter()

    def send(data: dict[str, Any]) -> Any:
        """Ingest one event (untimed); the event as ingest published it, with its profile id."""
        event = EVENT_ADAPTER.validate_python(data)
        world.clock.at = event.occurred_at + timedelta(seconds=2)
        before = len(world.bus.published)
        world.ingest.ingest([event])
        (published,) = world.bus.published[before:]
        return published

    for data in stream.events(warmup):
        world.rules.on_event(send(data))
    for _ in range(reps):
        chunk = stream.events(events)
        mix.update(e["type"] for e in chunk)
        captured = []  # (profile document, event, now, previous segments) as on_event sees them
        derived_states = []
        on_event_s = 0.0
        for data in chunk:
            event = send(data)
            pid = event.customer.profile_id
            derived = world.store.derived(SHOP, pid)
            derived_states.append(derived)
            captured.append(
                (
                    world.repo.profiles[(SHOP, pid)],
                    event,
                    world.clock.now(),
                    set(derived.segments) if derived else set(),
                )
            )
            start = time.process_time()
            report = world.rules.on_event(event)
            on_event_s += time.process_time() - start
            run.fired += len(report.fired)
            run.entered += len(report.entered)
            run.left += len(report.left)
            run.published += report.published
        run.on_event_s.append(on_event_s)
        # the profile load, then the pure evaluation on the same inputs
        start = time.process_time()
        for doc, *_ in captured:
            Profile.model_validate(doc)  # as on_event does: validated, used, dropped
        run.load_s.append(time.process_time() - start)
        profiles = [Profile.model_validate(doc) for doc, *_ in captured]
        start = time.process_time()
        for derived in derived_states:
            if derived is not None:
                derived.model_copy(deep=True)
        run.copy_s.append(time.process_time() - start)
        prior = world.rules._prior(SHOP)
        start = time.process_time()
        predictions = [
            score_profile(p, now, prior).model_dump(mode="json")
            for p, (_, _, now, _) in zip(profiles, captured, strict=True)
        ]
        run.score_s.append(time.process_time() - start)
        start = time.process_time()
        outcomes = [
            evaluate_event(shop_defs, p, event, now, previous, pred)
            for p, (_, event, now, previous), pred in zip(profiles, captured, predictions, strict=True)
        ]
        run.evaluate_s.append(time.process_time() - start)
        start = time.process_time()
        for p, (_, _, now, previous), pred in zip(profiles, captured, predictions, strict=True):
            evaluate_segments(shop_defs, p, now, previous, pred)
        run.segments_s.append(time.process_time() - start)
        run.armed += sum(len(o.armed) for o in outcomes)
        run.profile_json_bytes += [len(p.model_dump_json()) for p in profiles[:200]]
    run.stream_mix = dict(sorted(mix.items(), key=lambda kv: -kv[1]))
    return run
