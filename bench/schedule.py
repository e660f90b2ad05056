"""The scheduled job over 100,000 synthetic profiles: due timers, profiles read, CPU, DynamoDB units.

1. Steady state for ``templates`` distinct synthetic customers (bench.synthetic, two years of
   history up to NOW), simulated over the week before NOW: the rules evaluate each customer's newest
   event at its time (if in that week) and the scheduled job runs every hour, processing the review
   timers it set; customers with no event that week come due for their weekly review at a random
   moment in it (prediction-based segments re-score every profile at least weekly, so in steady
   operation every profile was looked at in the last 7 days). All through RulesService.
2. **Fast path**: the ``profiles`` profiles are clones of the templates (``profiles / templates``
   each): the same profile document with their own profile id, customer id, email and anonymous id
   (of the same length), the template's derived state and timers with their own profile id, the
   shop's segment counters and prediction counters multiplied accordingly. Evaluating 100,000
   profiles through RulesService would take several minutes here; a clone's derived state is what
   RulesService computes for it, since nothing in the rules depends on the ids.
3. The clock moves on one day and ``RulesService.on_schedule()`` runs once, over the 100,000
   profiles, with the in-memory store wrapped by a recorder: its CPU time (time.process_time), the
   timers due, the profiles loaded. Afterwards (untimed) each store call is turned into the DynamoDB
   requests DynamoRulesStore makes for it (layers/core/emma/adapters/rules_store.py), sized with the
   items DynamoRulesStore and DynamoProfileRepository write (bench.capacity):
   - cursor: 1 GetItem (strongly consistent) of the cursor item;
   - due_timers: 16 Queries (one per shard; eventually consistent; more pages past 1 MB);
   - load, per due timer: 1 BatchGetItem of 3 keys, strongly consistent: PROFILE, DERIVED and the
     timer's marker (missing: charged 1 unit all the same);
   - commit: 1 TransactWriteItems (derived state, marker with its outbox, segment counter shard,
     prediction counters if orders changed, the next review timer), mark_published: 1 UpdateItem;
   - delete_timers: BatchWriteItem, 25 deletes each; set_cursor: 1 PutItem; the shop's prior:
     GetItem, and when a day old its refit: GetItem of the counters, PutItem of the prior.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.capacity import (
    CapacityMeter,
    batch_get_units,
    item_size,
    paged_query_units,
    paged_query_units_for_bytes,
    query_read_units,
    read_units,
    scale,
)
from bench.definitions import bench_definitions
from bench.synthetic import NOW, SHOP, Population

WEEK = timedelta(days=7)
SIM_STEP = timedelta(hours=1)  # the simulated scheduled job runs hourly (deployed: every 5 minutes)
DEPLOYED_RATE_MINUTES = 5  # emma.resources.RULES_SCHEDULE
PROFILES_TABLE, SCHEDULE_TABLE = "emma-profiles", "emma-schedule"


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class RecordingStore:
    """Delegates to an InMemoryRulesStore and records what each call read and wrote (references only;
    sizes are worked out after the timed run)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.loads: list[tuple[str, str, Any]] = []  # (profile id, marker id, derived as loaded)
        self.commits: list[Any] = []
        self.due: list[Any] = []
        self.writes: list[tuple[str, Any]] = []  # (call, what it was given), in the order the service made them

    def load(self, shop, profile_id, marker_id):
        self.calls["load"] += 1
        loaded = self.inner.load(shop, profile_id, marker_id)
        self.loads.append((profile_id, marker_id, loaded.derived))
        return loaded

    def commit(self, commit):
        self.calls["commit"] += 1
        self.inner.commit(commit)
        self.commits.append(commit)
        self.writes.append(("commit", commit))

    def mark_published(self, shop, profile_id, marker_id):
        self.calls["mark_published"] += 1
        self.writes.append(("mark_published", (shop, profile_id, marker_id)))
        return self.inner.mark_published(shop, profile_id, marker_id)

    def published(self, shop, profile_id, version):
        self.calls["published"] += 1
        self.writes.append(("published", (shop, profile_id, version)))
        return self.inner.published(shop, profile_id, version)

    def put_timers(self, timers):
        timers = list(timers)
        if timers:  # the store makes no call for none
            self.calls["put_timers"] += 1
            self.writes.append(("put_timers", timers))
        return self.inner.put_timers(timers)

    def due_timers(self, now, since):
        self.calls["due_timers"] += 1
        timers = self.inner.due_timers(now, since)
        self.due += timers
        return timers

    def cursor(self):
        self.calls["cursor"] += 1
        return self.inner.cursor()

    def set_cursor(self, at):
        self.calls["set_cursor"] += 1
        return self.inner.set_cursor(at)

    def segment_sizes(self, shop):
        self.calls["segment_sizes"] += 1
        return self.inner.segment_sizes(shop)

    def derived(self, shop, profile_id):
        self.calls["derived"] += 1
        return self.inner.derived(shop, profile_id)

    def shop_stats(self, shop):
        self.calls["shop_stats"] += 1
        return self.inner.shop_stats(shop)

    def prior(self, shop):
        self.calls["prior"] += 1
        return self.inner.prior(shop)

    def put_prior(self, shop, prior, fitted_at):
        self.calls["put_prior"] += 1
        return self.inner.put_prior(shop, prior, fitted_at)


# ---- 1. steady state of the templates ------------------------------------------------------------


def _simulate(defs: Any, templates: int, seed: int) -> dict[str, Any]:
    """The templates' week before NOW, through RulesService; returns the world at NOW."""
    import random

    from emma.events.model import EVENT_ADAPTER
    from emma.rules.service import RulesService
    from emma.rules.state import Timer
    from emma_local.fakes import FixedClock, InMemoryProfileRepository, InMemoryPublisher, InMemoryRulesStore

    rng = random.Random(seed)
    population = Population(seed=seed)
    start = NOW - WEEK
    clock = FixedClock(start)
    repo = InMemoryProfileRepository()
    store = InMemoryRulesStore(repo, check_limits=False)
    rules = RulesService(store, InMemoryPublisher(), defs, clock, sleep=lambda s: None)
    store.set_cursor(start)
    customers, actions = [], []  # actions: (time, order, kind, customer index)
    for k in range(templates):
        c = population.customer(k)
        customers.append(c)
        repo.profiles[(SHOP, c.profile_id)] = c.doc
        last = c.last_event["occurred_at"]
        review = start + WEEK * rng.random()
        if last > start:
            actions.append((last + timedelta(seconds=2), 1, "event", k))
        if last <= start or review > last:  # the weekly review (after the event: the earlier chain's timer)
            store.timers[Timer(SHOP, c.profile_id, "review", review).key] = Timer(SHOP, c.profile_id, "review", review)
    at = start + SIM_STEP
    while at <= NOW:
        actions.append((at, 2, "run", -1))
        at += SIM_STEP
    actions.sort()
    evaluated = runs = 0
    for when, _, kind, k in actions:
        clock.at = when
        if kind == "event":
            rules.on_event(EVENT_ADAPTER.validate_python(customers[k].last_event))
            evaluated += 1
        else:
            report = rules.on_schedule([SHOP])
            evaluated += report.evaluated
            runs += 1
    return {
        "customers": customers,
        "repo": repo,
        "store": store,
        "evaluations": evaluated,
        "runs": runs,
        "events": sum(1 for a in actions if a[2] == "event"),
    }


# ---- 2. clones ---------------------------------------------------------------------------------


def _clone_derived(derived: Any, template: Any, pid: str, cid: str | None, email: str | None) -> Any:
    """The template's derived state as the clone's own: its profile id, and its segments' member list
    entries under the clone's key (the template's own key would make every clone's next evaluation move
    all its entries, a delete and a put per segment, which RulesService does for no real profile)."""
    from emma.rules.state import member_key

    doc = template.doc
    mine = member_key(
        doc["emails"][0] if doc.get("emails") else None,
        doc["customer_ids"][0] if doc.get("customer_ids") else None,
        template.profile_id,
    )
    clone_key = member_key(email, cid, pid)
    members = {(clone_key if sk == mine else sk): dict(segments) for sk, segments in derived.member_keys.items()}
    return derived.model_copy(update={"profile_id": pid, "member_keys": members})


def _clone_world(sim: dict[str, Any], profiles: int) -> tuple[Any, Any, dict[str, int]]:
    """``profiles`` profiles from the templates (the fast path): returns (repo, store, template of
    each profile id)."""
    from emma.rules.state import Timer
    from emma_local.fakes import InMemoryProfileRepository, InMemoryRulesStore

    templates: list[Any] = sim["customers"]
    per = profiles // len(templates)
    if per * len(templates) != profiles:
        raise ValueError("profiles must be a multiple of templates")
    source = sim["store"]
    timers_of: dict[str, list[Any]] = {}
    for key, timer in source.timers.items():
        timers_of.setdefault(timer.profile_id, []).append((timer, key))
    repo = InMemoryProfileRepository()
    store = InMemoryRulesStore(repo, check_limits=False)
    template_of: dict[str, int] = {}
    population = Population()
    for k, c in enumerate(templates):
        derived = source.derived_states.get((SHOP, c.profile_id))
        for j in range(per):
            index = k * per + j
            pid, cid, email, anon = population.ids(index, known=bool(c.customer_id))
            template_of[pid] = k
            doc = dict(c.doc)  # nested parts shared: the rules never change a stored profile
            doc.update(
                profile_id=pid,
                customer_ids=[cid] if cid else [],
                emails=[email] if email else [],
                anonymous_ids=[anon],
            )
            repo.profiles[(SHOP, pid)] = doc
            if derived is not None:
                store.derived_states[(SHOP, pid)] = _clone_derived(derived, c, pid, cid, email)
            for timer, key in timers_of.get(c.profile_id, []):
                store.timers[key.replace(f"#{c.profile_id}#", f"#{pid}#")] = Timer(
                    timer.shop, pid, timer.kind, timer.due_at, timer.trigger_id, timer.armed_at
                )
    store.counters = {shop: {k: v * per for k, v in sizes.items()} for shop, sizes in source.counters.items()}
    store.stats = {shop: {k: v * per for k, v in stats.items()} for shop, stats in source.stats.items()}
    store.priors = dict(source.priors)
    store.set_cursor(NOW)
    return repo, store, template_of


# ---- 4. DynamoDB units of the recorded calls --------------------------------------------------


def _units(rec: RecordingStore, repo: Any, inner: Any, template_of: dict[str, int], now: datetime) -> dict[str, Any]:
    from emma.adapters import keys
    from emma.adapters.ddb import key, string
    from emma.adapters.dynamodb import DynamoProfileRepository
    from emma.adapters.rules_store import DynamoRulesStore
    from emma.profiles.model import Profile
    from emma.rules.state import COUNTER_SHARDS, SHARDS

    profiles = DynamoProfileRepository(None, PROFILES_TABLE)
    rules = DynamoRulesStore(None, PROFILES_TABLE, SCHEDULE_TABLE)
    by_item: dict[str, dict[str, float]] = {}  # "<call>: <item kind> <Put|Update|Delete>" -> items, WRU
    call = [""]

    def on_item(op: str, table: str, item: Any, units: Any) -> None:
        if units.wru and call[0]:
            entry = by_item.setdefault(f"{call[0]}: {_item_kind(table, item)}", {"items": 0, "wru": 0.0})
            entry["items"] += 1
            entry["wru"] += units.wru

    meter = CapacityMeter({}, on_item=on_item)
    reads: dict[str, float] = Counter()
    requests: dict[str, int] = Counter()
    writes: dict[str, float] = Counter()

    # the cursor, the prior (read by the event path's cache and by the refit), the shop's counters
    requests["GetItem"] += rec.calls["cursor"] + rec.calls["prior"]
    requests["Query"] += rec.calls["shop_stats"]
    reads["cursor GetItem"] += rec.calls["cursor"] * read_units(60)
    prior_item = {
        **key(keys.prior_pk(SHOP), keys.PRIOR_SK),
        "doc": string(json.dumps(inner.prior(SHOP)[0])),
        "fitted_at": string(now.isoformat()),
    }
    reads["prior GetItem"] += rec.calls["prior"] * read_units(item_size(prior_item))
    # the counters item and the histogram cells' items: one Query (billed on the items' total size)
    stats_items: dict[str, dict[str, Any]] = {}
    for name, value in inner.stats.get(SHOP, {}).items():
        sk, attr = keys.stats_attribute(name)
        stats_items.setdefault(sk, key(keys.stats_pk(SHOP), sk))[attr] = {"N": str(value)}
    sizes = [item_size(item) for item in stats_items.values()]
    reads["shop counters Query"] += rec.calls["shop_stats"] * query_read_units(sizes, consistent=True)
    meter.units("Query", {"TableName": PROFILES_TABLE}, {"Items": list(stats_items.values())})

    # due_timers: one Query per shard, the due items of that shard
    by_shard: dict[int, list[int]] = {n: [] for n in range(SHARDS)}
    timer_bytes = []
    for timer in rec.due:
        item = rules._timer_item(timer)
        size = item_size(item)
        by_shard[timer.shard].append(size)
        timer_bytes.append(size)
        meter.units("GetItem", {"TableName": SCHEDULE_TABLE, "Key": {}}, {"Item": item})  # remember its size
    shard_bytes = []
    for sizes in by_shard.values():
        n, rru = paged_query_units(sizes)
        requests["Query"] += n
        reads["due timers Query (16 shards)"] += rru
        shard_bytes.append(sum(sizes))

    # load: PROFILE, DERIVED, marker in one BatchGetItem per due timer
    profile_bytes: dict[int, int] = {}
    profile_sizes, derived_sizes = [], []
    for pid, _marker, derived in rec.loads:
        k = template_of[pid]
        if k not in profile_bytes:  # clones of a template have the same size (ids of the same length)
            profile = Profile.model_validate(repo.profiles[(SHOP, pid)])
            profile_bytes[k] = item_size(profiles._profile_item(SHOP, profile))
        profile_sizes.append(profile_bytes[k])
        if derived.version:
            item = rules._derived_item(SHOP, pid, derived)
            derived_sizes.append(item_size(item))
            meter.units("GetItem", {"TableName": PROFILES_TABLE, "Key": {}}, {"Item": item})
        else:
            derived_sizes.append(0)
    requests["BatchGetItem"] += len(rec.loads)
    reads["load: PROFILE"] += batch_get_units(profile_sizes)
    reads["load: DERIVED"] += batch_get_units(derived_sizes)
    markers = sum(1 for _, marker, _ in rec.loads if marker)  # a timer's evaluation reads none
    if markers:
        reads["load: marker (missing)"] += batch_get_units([0] * markers)

    # commits, mark_published, delete_timers, set_cursor, put_prior
    for shard in range(COUNTER_SHARDS):  # each counter shard holds an attribute per segment
        counters = key(keys.counter_pk(SHOP, shard), keys.SIZES_SK)
        counters |= {f"seg_{k}": {"N": str(v // COUNTER_SHARDS)} for k, v in inner.counters.get(SHOP, {}).items()}
        meter.units("GetItem", {"TableName": PROFILES_TABLE, "Key": {}}, {"Item": counters})
    derived_written = []
    outbox_events = 0
    for op, given in rec.writes:  # in the order made: an overwrite is billed on the larger of old and new
        call[0] = op
        if op == "put_timers":
            puts = [{"PutRequest": {"Item": rules._timer_item(t)}} for t in {t.key: t for t in given}.values()]
            for start in range(0, len(puts), 25):
                chunk = {SCHEDULE_TABLE: puts[start : start + 25]}
                writes["put_timers BatchWriteItem"] += meter.units("BatchWriteItem", {"RequestItems": chunk}, {}).wru
                requests["BatchWriteItem"] += 1
        elif op == "commit":
            items = rules.transaction(given)
            if len(items) == 1:  # the derived state alone: a conditional PutItem
                units = meter.units("PutItem", items[0]["Put"], {})
                requests["PutItem"] += 1
                writes["commit PutItem (derived state alone)"] += units.wru
            else:
                units = meter.units("TransactWriteItems", {"TransactItems": items}, {})
                requests["TransactWriteItems"] += 1
                writes["commit TransactWriteItems"] += units.wru
            derived_written.append(item_size(items[0]["Put"]["Item"]))
            outbox_events += len(given.outbox)
        elif op == "published":  # UpdateItem REMOVE outbox of the derived state
            shop, pid, _version = given
            derived = key(keys.profile_pk(shop, pid), keys.DERIVED_SK)
            writes["published UpdateItem"] += meter.units(
                "UpdateItem", {"TableName": PROFILES_TABLE, "Key": derived}, {}
            ).wru
            requests["UpdateItem"] += 1
        elif op == "mark_published":
            shop, pid, marker_id = given
            marker = key(keys.profile_pk(shop, pid), keys.marker_sk(marker_id))
            writes["mark_published UpdateItem"] += meter.units(
                "UpdateItem", {"TableName": PROFILES_TABLE, "Key": marker}, {}
            ).wru
            requests["UpdateItem"] += 1
    call[0] = ""
    writes["set_cursor PutItem"] += rec.calls["set_cursor"]
    writes["put_prior PutItem"] += rec.calls["put_prior"] * max(1, -(-item_size(prior_item) // 1024))
    requests["PutItem"] += rec.calls["set_cursor"] + rec.calls["put_prior"]
    return {
        "requests": dict(sorted(requests.items())),
        "requests_total": sum(requests.values()),
        "rru": dict(reads),
        "rru_total": sum(reads.values()),
        "wru": dict(writes),
        "wru_total": sum(writes.values()),
        "wru_by_item": dict(sorted(by_item.items())),
        "bytes": {
            "profile_item_mean": statistics.mean(profile_sizes) if profile_sizes else 0,
            "derived_item_read_mean": statistics.mean(d for d in derived_sizes if d) if any(derived_sizes) else 0,
            "derived_item_written_mean": statistics.mean(derived_written) if derived_written else 0,
            "timer_item_mean": statistics.mean(timer_bytes) if timer_bytes else 0,
            "due_timers_per_shard": shard_bytes,
        },
        "outbox_events": outbox_events,
    }


def _item_kind(table: str, item: Any) -> str:
    """What a written item is, by its key (emma.adapters.keys)."""
    from emma.adapters import keys

    pk, sk = item.get("pk", {}).get("S", ""), item.get("sk", {}).get("S", "")
    written = "put" if set(item) - {"pk", "sk"} else "delete"  # a Put carries attributes, a Delete only the key
    if table == SCHEDULE_TABLE:
        return f"timer ({written})"
    if sk == keys.DERIVED_SK:
        return "DERIVED"
    if sk.startswith(keys.marker_sk("")):
        return "marker"
    if sk == keys.SIZES_SK:
        return "segment counter shard"
    if pk == keys.stats_pk(SHOP):
        return "prediction counters"
    if pk.startswith(keys.members_prefix(SHOP)):
        return f"member list entry ({written})"
    return "other"


def _mean_profile_rru(customers: list[Any]) -> float:
    """Strongly consistent read units of one profile item, averaged over all (distinct) customers."""
    from emma.adapters.dynamodb import DynamoProfileRepository
    from emma.profiles.model import Profile

    repo = DynamoProfileRepository(None, PROFILES_TABLE)
    sizes = [item_size(repo._profile_item(SHOP, Profile.model_validate(c.doc))) for c in customers]
    return batch_get_units(sizes) / len(sizes)


# ---- all of it -----------------------------------------------------------------------------------


def measure(root: Path, *, profiles: int, templates: int, seed: int = 2026) -> dict[str, Any]:
    from emma.predict.prior import ShopStats, fit_prior
    from emma.rules.service import RulesService
    from emma_local.fakes import FixedClock, InMemoryPublisher

    defs = bench_definitions(root)
    started = time.perf_counter()
    sim = _simulate(defs, templates, seed)
    simulated_s = time.perf_counter() - started
    started = time.perf_counter()
    repo, inner, template_of = _clone_world(sim, profiles)
    cloned_s = time.perf_counter() - started
    horizon: dict[str, dict[str, int]] = {}
    for d in range(1, 8):
        due = [t for t in inner.timers.values() if NOW + timedelta(days=d - 1) < t.due_at <= NOW + timedelta(days=d)]
        day = (NOW + timedelta(days=d)).strftime("%a")
        horizon[f"day {d} (to {day})"] = {"timers": len(due), "profiles": len({t.profile_id for t in due})}
    timers_before = sum(1 for t in inner.timers.values() if t.due_at > NOW)  # due ones stay until they expire

    rec = RecordingStore(inner)
    clock = FixedClock(NOW + timedelta(days=1))
    rules = RulesService(rec, InMemoryPublisher(), defs, clock, sleep=lambda s: None)
    gc.collect()
    start = time.process_time()
    report = rules.on_schedule([SHOP])
    cpu_s = time.process_time() - start

    refit_start = time.process_time()
    fit_prior(ShopStats.from_item(inner.shop_stats(SHOP)), clock.now())
    refit_s = time.process_time() - refit_start if rec.calls["put_prior"] else 0.0

    started = time.perf_counter()
    units = _units(rec, repo, inner, template_of, clock.now())
    metered_s = time.perf_counter() - started

    # Stale timers: superseded (the review moved, the trigger was re-armed) but read all the same. Each due timer
    # is loaded once, in the order of their due times (no conflicts in memory).
    processed = sorted(rec.due, key=lambda t: t.due_at)
    assert len(processed) == len(rec.loads)
    stale = Counter()
    for timer, (_pid, _marker, derived) in zip(processed, rec.loads, strict=True):
        if timer.kind == "review":
            current = derived.next_review_at == timer.due_at
        else:
            arm = derived.arms.get(timer.trigger_id)
            current = arm is not None and arm.armed_at == timer.armed_at
        if not current:
            stale[timer.kind] += 1
    loads = len(rec.loads)
    distinct = len({pid for pid, *_ in rec.loads})
    kinds = Counter(t.kind for t in rec.due)
    causes = Counter(t.trigger_id or "review" for t in rec.due)
    per_timer_us = (cpu_s - refit_s) / loads * 1e6 if loads else 0.0
    target = 1_000_000
    shard_bytes = units["bytes"]["due_timers_per_shard"]
    q1m = [paged_query_units_for_bytes(scale(b, profiles, target)) for b in shard_bytes]
    timers_1m = scale(len(rec.due), profiles, target)
    every_profile_rru = target * _mean_profile_rru(sim["customers"])
    week = sum(v["timers"] for v in horizon.values())
    load_rru = sum(v for k, v in units["rru"].items() if k.startswith("load"))
    return {
        "profiles": profiles,
        "templates": templates,
        "clones_per_template": profiles // templates,
        "definitions": {"triggers": len(defs.triggers), "segments": len(defs.segments)},
        "setup": {
            "simulated_week_evaluations": sim["evaluations"],
            "simulated_week_events": sim["events"],
            "simulated_week_runs": sim["runs"],
            "simulated_s": simulated_s,
            "cloned_s": cloned_s,
            "timers_scheduled": timers_before,
            "timers_due_by_day_ahead": horizon,
        },
        "run": {
            "now": clock.now().isoformat(),
            "since": NOW.isoformat(),
            "timers_due": len(rec.due),
            "timers_due_by_kind": dict(kinds),
            "timers_due_by_cause": dict(causes.most_common()),
            "timers_stale": dict(stale),
            "profiles_loaded": loads,
            "profiles_distinct": distinct,
            "fraction_of_profiles_touched": distinct / profiles,
            "evaluated": report.evaluated,
            "superseded": report.superseded,
            "events_published": report.published,
            "triggers_fired": len(report.fired),
            "segments_entered": len(report.entered),
            "segments_left": len(report.left),
            "prior_refit": bool(rec.calls["put_prior"]),
            "cpu_s": cpu_s,
            "cpu_s_prior_refit": refit_s,
            "cpu_us_per_timer": per_timer_us,
            "store_calls": dict(rec.calls),
        },
        "dynamodb": units,
        "per_timer": {
            "rru_load": load_rru / loads if loads else 0.0,
            "wru": units["wru_total"] / loads if loads else 0.0,
        },
        "extrapolated_1m": {
            "profiles": target,
            "timers_due": timers_1m,
            "cpu_s": scale(cpu_s - refit_s, profiles, target) + refit_s,
            "query_requests": sum(n for n, _ in q1m),
            "rru_queries": sum(r for _, r in q1m),
            "rru_loads": scale(load_rru, profiles, target),
            "rru_total": sum(r for _, r in q1m)
            + scale(load_rru, profiles, target)
            + units["rru_total"]
            - load_rru
            - units["rru"].get("due timers Query (16 shards)", 0.0),
            "wru_total": scale(units["wru_total"], profiles, target),
            "rru_if_every_profile_were_read": every_profile_rru,
        },
        "week_ahead": {
            "timers_scheduled_next_7_days": week,
            "timers_per_day_mean": week / 7,
            "note": "timers already scheduled at NOW, with no new events; the runs themselves add more",
        },
        "deployed_cadence": {
            "rate_minutes": DEPLOYED_RATE_MINUTES,
            "runs_per_day": 24 * 60 // DEPLOYED_RATE_MINUTES,
            "fixed_queries_per_day": 16 * 24 * 60 // DEPLOYED_RATE_MINUTES,
            "fixed_rru_per_day_min": 16 * 24 * 60 // DEPLOYED_RATE_MINUTES * 0.5,
        },
        "metered_s": metered_s,
    }
