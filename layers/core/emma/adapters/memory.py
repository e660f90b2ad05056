"""In-memory implementations of the ports, with the same conditions as the AWS adapters.

Used by unit tests (network blocked) and by the CPU benchmark. Thread-safe: a commit is atomic
under one lock, exactly like a DynamoDB transaction.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from emma.adapters.limits import check_transaction
from emma.adapters.shops import match_domain, match_key
from emma.errors import PublishError, ShopNotFound, Unauthorized
from emma.events.model import CanonicalEvent, CatalogEvent, now_utc
from emma.ports import AliasKey, Commit, CommitConflict, IdempotencyRecord, ShopConfig


class InMemoryProfileRepository:
    """Profiles, aliases, idempotency records and event logs in dicts. A commit is refused exactly
    where DynamoDB would refuse it: its conditions (``CommitConflict``), and its size: the very
    TransactWriteItems the DynamoDB adapter would send is built and checked against DynamoDB's
    limits (100 items, 4 MB, 400 KB an item; ``emma.adapters.limits``). Building those items costs
    what the DynamoDB adapter's building costs (about 40 us an event); ``check_limits=False`` leaves
    the check out where only the domain's CPU is measured."""

    def __init__(self, log_cap: int = 500, *, check_limits: bool = True) -> None:
        self.log_cap = log_cap
        self.check_limits = check_limits
        self.profiles: dict[tuple[str, str], dict[str, Any]] = {}  # stored as JSON-ish dumps
        self.aliases: dict[tuple[str, AliasKey], str] = {}
        self.seen: dict[tuple[str, str], IdempotencyRecord] = {}
        self.logs: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.leases: dict[tuple[str, str], datetime] = {}
        self.commits = 0
        self._lock = threading.Lock()
        self._dynamodb: Any = None

    def lookup(self, shop, aliases, event_ids):
        with self._lock:
            pointed = {a: self.aliases[(shop, a)] for a in aliases if (shop, a) in self.aliases}
            seen = {e: self.seen[(shop, e)] for e in event_ids if (shop, e) in self.seen}
        return pointed, seen

    def get_profiles(self, shop, profile_ids):
        from emma.profiles.model import Profile

        with self._lock:
            return {
                pid: Profile.model_validate(self.profiles[(shop, pid)])
                for pid in profile_ids
                if (shop, pid) in self.profiles
            }

    def commit(self, commit: Commit) -> None:
        shop = commit.shop
        pid = commit.profile.profile_id
        if self.check_limits:
            check_transaction(self._as_dynamodb().transaction(commit)[0])
        with self._lock:
            dups = [e.id for e in commit.events if (shop, e.id) in self.seen]
            stale = self._version(shop, pid) != commit.expected_version or any(
                self._version(shop, t.profile_id) != v for t, v in commit.tombstones
            )
            taken = any(self.aliases.get((shop, a), pid) != pid for a in commit.claim_aliases)
            if dups or stale or taken:
                raise CommitConflict(duplicates=dups, stale=stale, alias_taken=taken)
            self.profiles[(shop, pid)] = commit.profile.model_dump(mode="json")
            for tomb, _ in commit.tombstones:
                self.profiles[(shop, tomb.profile_id)] = tomb.model_dump(mode="json")
            for alias in [*commit.claim_aliases, *commit.repoint_aliases]:
                self.aliases[(shop, alias)] = pid
            log = self.logs.setdefault((shop, pid), {})
            for offset, event in enumerate(commit.events):
                seq = commit.first_seq + offset
                self.seen[(shop, event.id)] = IdempotencyRecord(
                    event.id, pid, commit.profile.updated_at, False, event.repeat
                )
                log[f"LOG#{seq % self.log_cap:06d}"] = {"seq": seq, "event": event.model_dump(mode="json")}
            self.commits += 1

    def _as_dynamodb(self) -> Any:
        """The DynamoDB adapter's item builder (no client: it only builds the requests)."""
        if self._dynamodb is None:
            from emma.adapters.dynamodb import DynamoProfileRepository

            self._dynamodb = DynamoProfileRepository(None, "profiles", log_cap=self.log_cap)
        return self._dynamodb

    def _version(self, shop: str, pid: str) -> int | None:
        stored = self.profiles.get((shop, pid))
        return None if stored is None else stored["version"]

    def mark_published(self, shop, records):
        with self._lock:
            for r in records:
                old = self.seen.get((shop, r.event_id))
                if old is not None:
                    self.seen[(shop, r.event_id)] = IdempotencyRecord(
                        r.event_id, old.profile_id, old.stored_at, True, old.repeat
                    )

    def claim_republish(self, shop, event_id, now, lease_seconds):
        with self._lock:
            held = self.leases.get((shop, event_id))
            if held is not None and held > now - timedelta(seconds=lease_seconds):
                return False
            self.leases[(shop, event_id)] = now
            return True

    def repoint_aliases(self, shop, aliases, profile_id):
        with self._lock:
            for alias in aliases:
                self.aliases[(shop, alias)] = profile_id

    def move_log(self, shop, from_profile, to_profile):
        with self._lock:
            moved = self.logs.pop((shop, from_profile), {})
            target = self.logs.setdefault((shop, to_profile), {})
            for key, entry in moved.items():
                target[f"LOG#M#{from_profile}#{key}"] = entry
            return len(moved)

    def read_log(self, shop, profile_id, limit):
        with self._lock:
            entries = list(self.logs.get((shop, profile_id), {}).values())
        entries.sort(key=lambda e: e["event"]["occurred_at"], reverse=True)
        return [e["event"] for e in entries[:limit]]


class InMemoryCatalog:
    """Products; the idempotency records live with the profiles' ones, as in DynamoDB."""

    def __init__(self, profiles: InMemoryProfileRepository) -> None:
        self.products: dict[tuple[str, str], dict[str, Any]] = {}
        self._profiles = profiles
        self.batch_reads = 0  # get_products calls (tests count reads per request)

    def upsert_product(self, event: CatalogEvent) -> bool:
        key = (event.shop, event.properties.product.product_id)
        with self._profiles._lock:
            if (event.shop, event.id) in self._profiles.seen:
                return False
            self._profiles.seen[(event.shop, event.id)] = IdempotencyRecord(event.id, None, event.received_at, False)
            current = self.products.get(key)
            at = event.occurred_at.isoformat()
            if current is None or current["updated_at"] <= at:
                fields = {
                    k: v for k, v in event.properties.product.model_dump(mode="json").items() if v not in (None, [], ())
                }
                if event.properties.variants:
                    fields["variants"] = list(event.properties.variants)
                created = (current or {}).get("created_at", at)
                self.products[key] = {
                    **(current or {}),
                    **fields,
                    "shop": event.shop,
                    "updated_at": at,
                    "created_at": created,
                }
            return True

    def get_product(self, shop, product_id):
        return self.products.get((shop, product_id))

    def get_products(self, shop, product_ids):
        self.batch_reads += 1
        return {pid: self.products[(shop, pid)] for pid in product_ids if (shop, pid) in self.products}

    def put(self, shop: str, item: dict[str, Any]) -> None:
        """Tests: a catalog item as the upsert would store it."""
        self.products[(shop, item["product_id"])] = {"shop": shop, **item}


class InMemoryShopHistory:
    """The model build's scans over the in-memory profiles and catalog (emma.recommend.ports.ShopHistory)."""

    def __init__(self, profiles: InMemoryProfileRepository, catalog: InMemoryCatalog) -> None:
        self._profiles = profiles
        self._catalog = catalog

    def shops(self):
        return sorted({shop for shop, _ in self._catalog.products})

    def products(self, shop):
        return (dict(item) for (s, _), item in list(self._catalog.products.items()) if s == shop)

    def profiles(self, shop):
        from emma.profiles.model import Profile

        for (s, _), doc in list(self._profiles.profiles.items()):
            profile = Profile.model_validate(doc)
            if s == shop and not profile.merged_into:
                yield profile.model_dump(mode="json")


class InMemoryModelStore:
    """The recommendation model's lists by shop and key (emma.recommend.ports.ModelStore)."""

    def __init__(self) -> None:
        self.lists: dict[str, dict[str, list[tuple[str, float]]]] = {}
        self.loads = 0

    def load(self, shop, keys):
        self.loads += 1
        stored = self.lists.get(shop, {})
        return {k: list(stored[k]) for k in keys if k in stored}

    def save(self, model) -> int:
        self.lists[model.shop] = {k: list(v) for k, v in model.lists.items()}
        return len(model.lists)


class InMemoryPublisher:
    def __init__(self, fail_ids: Sequence[str] = ()) -> None:
        self.published: list[CanonicalEvent] = []
        self.fail_ids = set(fail_ids)
        self.calls = 0

    def publish(self, events):
        for start in range(0, len(events), 10):
            self.calls += 1
            chunk = events[start : start + 10]
            failed = [e.id for e in chunk if e.id in self.fail_ids]
            if failed:
                raise PublishError(f"could not publish {failed}")
            self.published.extend(chunk)


class StaticShopDirectory:
    def __init__(self, shops: Sequence[ShopConfig]) -> None:
        self._shops = {s.shop: s for s in shops}

    def get(self, shop: str) -> ShopConfig:
        try:
            return self._shops[shop]
        except KeyError:
            raise ShopNotFound(f"unknown shop {shop!r}") from None

    def by_write_key(self, key: str) -> ShopConfig:
        found = match_key(self._shops.values(), key, "write_keys")
        if found is None:
            raise Unauthorized("unknown write key")
        return found

    def by_admin_key(self, key: str) -> ShopConfig:
        found = match_key(self._shops.values(), key, "admin_keys")
        if found is None:
            raise Unauthorized("unknown admin key")
        return found

    def by_shopify_domain(self, domain: str) -> ShopConfig:
        found = match_domain(self._shops.values(), domain)
        if found is None:
            raise ShopNotFound(f"no shop is connected to the Shopify domain {domain!r}")
        return found


class FixedClock:
    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or now_utc()

    def now(self) -> datetime:
        return self.at

    def advance(self, **kwargs: float) -> None:
        self.at += timedelta(**kwargs)


class InMemoryRulesStore:
    """The rules function's store, reading profiles from an InMemoryProfileRepository."""

    def __init__(self, profiles: InMemoryProfileRepository) -> None:
        from emma.rules.state import Derived

        self._profiles = profiles
        self.derived_states: dict[tuple[str, str], Derived] = {}
        self.markers: dict[tuple[str, str], dict[str, Any]] = {}
        self.counters: dict[str, dict[str, int]] = {}
        self.timers: dict[str, Any] = {}
        self.stats: dict[str, dict[str, float]] = {}
        self.priors: dict[str, tuple[dict[str, Any], datetime]] = {}
        self._cursor: datetime | None = None
        self._lock = threading.Lock()

    def load(self, shop, profile_id, marker_id):
        from emma.rules.state import Derived, Loaded

        with self._lock:
            marker = self.markers.get((shop, marker_id))
            pid = profile_id
            for _ in range(5):  # follow merges to the live profile
                stored = self._profiles.profiles.get((shop, pid))
                if stored is None or not stored.get("merged_into"):
                    break
                pid = stored["merged_into"]
        profile = self._profiles.get_profiles(shop, [pid]).get(pid)
        with self._lock:
            derived = self.derived_states.get((shop, pid), Derived(profile_id=pid)).model_copy(deep=True)
            retired = []
            for loser_id in profile.merged_from if profile else []:
                loser = self.derived_states.get((shop, loser_id))
                if loser_id not in derived.absorbed and loser is not None and not loser.retired:
                    retired.append(loser.model_copy(deep=True))
        return Loaded(profile, derived, None if marker is None else dict(marker), retired)

    def commit(self, commit):
        with self._lock:
            if (commit.shop, commit.marker_id) in self.markers:
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
            for r in commit.retire:
                self.derived_states[(commit.shop, r.profile_id)] = r.model_copy(
                    update={"retired": True, "version": r.version + 1}
                )
            self.markers[(commit.shop, commit.marker_id)] = {
                "published": False,
                "outbox": [e.model_dump(mode="json") for e in commit.outbox],
            }
            sizes = self.counters.setdefault(commit.shop, {})
            for segment, delta in commit.counter_deltas.items():
                sizes[segment] = sizes.get(segment, 0) + delta
            for timer in commit.superseded:
                self.timers.pop(timer.key, None)
            for timer in commit.timers:
                self.timers[timer.key] = timer
            stats = self.stats.setdefault(commit.shop, {})
            for key, value in commit.stats_delta.items():
                stats[key] = stats.get(key, 0) + value

    def mark_published(self, shop, marker_id):
        with self._lock:
            if (shop, marker_id) in self.markers:
                self.markers[(shop, marker_id)]["published"] = True

    def due_timers(self, now, since):
        with self._lock:
            return [t for t in self.timers.values() if t.due_at <= now]

    def delete_timers(self, timers):
        with self._lock:
            for t in timers:
                self.timers.pop(t.key, None)

    def cursor(self):
        return self._cursor

    def set_cursor(self, at):
        self._cursor = at

    def segment_sizes(self, shop):
        return dict(self.counters.get(shop, {}))

    def shop_stats(self, shop):
        return dict(self.stats.get(shop, {}))

    def derived(self, shop, profile_id):
        return self.derived_states.get((shop, profile_id))

    def prior(self, shop):
        return self.priors.get(shop)

    def put_prior(self, shop, prior, fitted_at):
        self.priors[shop] = (prior, fitted_at)


class InMemoryJourneyStore:
    """Journey states with the same versioned-write contract as DynamoJourneyStore."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], str] = {}

    def get(self, shop, profile_id, journey):
        from emma.journeys.state import JourneyState

        text = self.items.get((shop, profile_id, journey))
        return JourneyState.model_validate_json(text) if text else None

    def list(self, shop, profile_id):
        return [self.get(s, p, j) for (s, p, j) in sorted(self.items) if (s, p) == (shop, profile_id)]

    def put(self, shop, profile_id, state):
        from emma.journeys.state import StaleJourneyState

        current = self.get(shop, profile_id, state.journey)
        if (current.version if current else 0) != state.version:
            raise StaleJourneyState("changed meanwhile")
        state.version += 1
        self.items[(shop, profile_id, state.journey)] = state.model_dump_json()


# ---- dispatch -------------------------------------------------------------------------------------


class InMemoryMessageLog:
    """The message log with DynamoDB's claim semantics (see emma.adapters.dispatch), thread-safe."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def claim(self, request, now, lease_until):
        from emma.dispatch.ports import Claimed, MessageRecord

        with self._lock:
            key = (request.shop, request.profile_id, request.key)
            record = self.records.get(key)
            claimable = (
                record is None
                or record.status == "failed"
                or (record.status == "processing" and record.lease_until < now)
                or (record.status == "deferred" and record.not_before <= now)
            )
            if claimable:
                if record is None:
                    record = MessageRecord(
                        shop=request.shop,
                        profile_id=request.profile_id,
                        key=request.key,
                        status="processing",
                        template=request.template,
                        requested_at=request.requested_at,
                        updated_at=now,
                        journey=request.journey,
                        request=request.model_dump(mode="json"),
                    )
                    self.records[key] = record
                record.status, record.lease_until, record.attempts = "processing", lease_until, record.attempts + 1
                return copy.deepcopy(record)
            if record.status == "sent":
                return copy.deepcopy(record)
            if record.status in ("processing", "sending") and record.lease_until >= now:
                raise Claimed(f"message {request.key} is held by another worker")
            if record.status == "sending":
                record.status = "unknown"
            return None

    def update(self, record, status, decisions, now, **fields):
        from emma.errors import ConcurrencyConflict

        with self._lock:
            stored = self.records[(record.shop, record.profile_id, record.key)]
            if stored.status != record.status:
                raise ConcurrencyConflict(f"message {record.key} is no longer {record.status}")
            stored.status, stored.updated_at = status, now
            stored.decisions = [*stored.decisions, *decisions]
            for name, value in fields.items():
                setattr(stored, name, value)
            record.status, record.updated_at = status, now
            record.decisions = [*record.decisions, *decisions]

    def get(self, shop, profile_id, key):
        return self.records.get((shop, profile_id, key))

    def recent(self, shop, profile_id, limit):
        mine = [r for (s, p, _), r in self.records.items() if s == shop and p == profile_id]
        return sorted(mine, key=lambda r: r.requested_at, reverse=True)[:limit]


class InMemoryCapStore:
    def __init__(self) -> None:
        self.sends: dict[tuple[str, str], dict[str, datetime]] = {}
        self._lock = threading.Lock()

    def recent_sends(self, shop, profile_id):
        return dict(self.sends.get((shop, profile_id), {}))

    def reserve(self, shop, profile_id, key, now, caps):
        with self._lock:
            sends = self.sends.setdefault((shop, profile_id), {})
            if key in sends:
                return True
            for cap in caps:
                if sum(1 for t in sends.values() if now - t < timedelta(days=cap.days)) >= cap.messages:
                    return False
            sends[key] = now
            return True

    def release(self, shop, profile_id, key):
        with self._lock:
            self.sends.get((shop, profile_id), {}).pop(key, None)


class InMemoryDeferrals:
    def __init__(self) -> None:
        self.timers: dict[str, tuple[datetime, Any]] = {}

    def defer(self, request, due_at):
        self.timers[f"{due_at.isoformat()}#{request.key}"] = (due_at, request)

    def due(self, now, limit):
        due = sorted((at, tid, r) for tid, (at, r) in self.timers.items() if at <= now)
        return [(tid, r) for _, tid, r in due[:limit]]

    def remove(self, timer_ids):
        for tid in timer_ids:
            self.timers.pop(tid, None)


class InMemoryLinks:
    def __init__(self) -> None:
        self.links: dict[tuple[str, str], dict[str, Any]] = {}

    def save(self, shop, code, link):
        self.links[(shop, code)] = link

    def get(self, shop, code):
        return self.links.get((shop, code))


class RecordingSender:
    """A provider that accepts everything (or raises ``fail``) and remembers what it got."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.sent: list[Any] = []
        self.fail = fail
        self._lock = threading.Lock()

    def send(self, message):
        if self.fail is not None:
            raise self.fail
        with self._lock:
            self.sent.append(message)
            return f"provider-{len(self.sent)}"


class ListQueue:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def request(self, message):
        self.messages.append(message)
