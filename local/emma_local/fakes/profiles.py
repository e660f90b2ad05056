"""In-memory profiles, aliases, idempotency records and event logs, and the catalog whose idempotency
records live with them (emma.ingest.ports: ProfileRepository, CatalogRepository), with the same conditions as the
DynamoDB adapter. Thread-safe: a commit is atomic under one lock, exactly like a DynamoDB transaction; a new
customer's commit claims its aliases first, each under the lock on its own, as the adapter's PutItems do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from emma.adapters.limits import check_transaction
from emma.events.model import CatalogEvent
from emma.ingest.outbox import Outbox
from emma.ingest.ports import AliasKey, Commit, CommitConflict, IdempotencyRecord, Reservation, claims_first
from emma.ingest.seen import SeenIds


class InMemoryProfileRepository:
    """Profiles, aliases, idempotency records and event logs in dicts. A commit is refused exactly
    where DynamoDB would refuse it: its conditions (``CommitConflict``), and its size: the very
    TransactWriteItems the DynamoDB adapter would send is built and checked against DynamoDB's
    limits (100 items, 4 MB, 400 KB an item; ``emma.adapters.limits``). Building those items costs
    what the DynamoDB adapter's building costs (about 40 us an event); ``check_limits=False`` leaves
    the check out where only the domain's CPU is measured."""

    def __init__(
        self, log_cap: int = 500, *, check_limits: bool = True, log_ttl_days: int = 400, outbox: bool = False
    ) -> None:
        """``outbox``: behave as the DynamoDB adapter does, whose table's stream publishes each commit's events
        (``publishes_outbox``): a commit keeps its events in ``stream`` (the stream), and an OutboxRelay over
        this repository (``write_log``) logs and publishes them; otherwise the service publishes them itself."""
        self.publishes_outbox = outbox
        self.stream: list[Outbox] = []
        self.log_cap = log_cap
        self.log_ttl_days = log_ttl_days
        self.check_limits = check_limits
        self.profiles: dict[tuple[str, str], dict[str, Any]] = {}  # stored as JSON-ish dumps
        self.aliases: dict[tuple[str, AliasKey], str] = {}
        self.alias_since: dict[tuple[str, AliasKey], datetime] = {}  # when each was claimed (the item's updated_at)
        self.seen: dict[tuple[str, str], IdempotencyRecord] = {}
        self.logs: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.leases: dict[tuple[str, str], datetime] = {}
        # outbox mode: each profile's absorbed event ids (emma.ingest.seen) and its archive, by day of receipt
        self.seen_ids: dict[tuple[str, str], SeenIds] = {}
        self.archive: dict[tuple[str, str, date], set[bytes]] = {}
        # (shop, shard) -> ids of erased profiles (the privacy store keeps them, emma.ingest.seen.erased_shard)
        self.erased: dict[tuple[str, int], set[bytes]] = {}
        self.commits = 0
        self._lagging: tuple[dict, dict, dict, dict] | None = None  # what eventually consistent reads see (lag)
        self.eventual_reads = 0
        # called before each alias a new customer's commit claims on its own (tests interleave requests there)
        self.before_claim: Callable[[AliasKey], None] | None = None
        self._lock = threading.Lock()
        self._dynamodb: Any = None

    def lag(self) -> None:
        """From now on, reads that need not be consistent see the store as it is now (DynamoDB's eventually
        consistent reads, before the writes since have reached every replica), until ``catch_up``."""
        with self._lock:
            self._lagging = (
                dict(self.aliases),
                dict(self.profiles),
                {k: v.copy() for k, v in self.seen_ids.items()},
                dict(self.seen),
            )

    def catch_up(self) -> None:
        self._lagging = None

    def _view(self, consistent: bool) -> tuple[dict, dict, dict, dict]:
        if not consistent:
            self.eventual_reads += 1
        if consistent or self._lagging is None:
            return self.aliases, self.profiles, self.seen_ids, self.seen
        return self._lagging

    def lookup(self, shop, aliases, event_ids, *, consistent=True):
        with self._lock:
            pointing, _, _, records = self._view(consistent)
            pointed = {a: pointing[(shop, a)] for a in aliases if (shop, a) in pointing}
            seen = {e: records[(shop, e)] for e in event_ids if (shop, e) in records}
        return pointed, seen

    def reservations(self, shop, aliases):
        with self._lock:
            return {
                a: Reservation(self.aliases[(shop, a)], self.alias_since[(shop, a)])
                for a in aliases
                if (shop, a) in self.aliases
            }

    def get_profiles(self, shop, profile_ids, *, consistent=True):
        from emma.profiles.model import Profile

        with self._lock:
            _, profiles, _, _ = self._view(consistent)
            return {
                pid: Profile.model_validate(profiles[(shop, pid)]) for pid in profile_ids if (shop, pid) in profiles
            }

    def load_profiles(self, shop, profile_ids, *, consistent=True):
        from emma.profiles.model import Profile

        with self._lock:
            _, profiles, seen_ids, _ = self._view(consistent)
            return {
                pid: (
                    Profile.model_validate(profiles[(shop, pid)]),
                    seen_ids.get((shop, pid), SeenIds()).copy(),
                )
                for pid in profile_ids
                if (shop, pid) in profiles
            }

    def seen_in_archive(self, shop, profile_ids, digests, since):
        wanted = set(digests)
        with self._lock:
            return {
                d
                for (s, pid, day), ids in self.archive.items()
                if s == shop and pid in profile_ids and day >= since.date()
                for d in ids & wanted
            }

    def erased_ids(self, shop, wanted):
        with self._lock:
            return {d for shard, d in wanted if d in self.erased.get((shop, shard), set())}

    def archive_seen(self, shop, profile_id, by_day):
        with self._lock:
            for day, digests in by_day.items():
                self.archive.setdefault((shop, profile_id, day), set()).update(digests)

    def commit(self, commit: Commit) -> None:
        shop = commit.shop
        pid = commit.profile.profile_id
        if self.check_limits:
            check_transaction(self._as_dynamodb().transaction(commit)[0])
        now = commit.profile.updated_at
        claims = commit.claim_aliases
        if claims_first(commit):  # as the adapter: one conditional write per alias, then the rest
            for alias in claims:
                if self.before_claim is not None:
                    self.before_claim(alias)
                with self._lock:
                    if self.aliases.get((shop, alias), pid) != pid:
                        raise CommitConflict(alias_taken=True)
                    self.aliases[(shop, alias)] = pid
                    self.alias_since[(shop, alias)] = now
            claims = []
        with self._lock:
            # with seen ids the profile's version guards against duplicates, as in DynamoDB
            dups = [] if commit.outbox else [e.id for e in commit.events if (shop, e.id) in self.seen]
            stale = self._version(shop, pid) != commit.expected_version or any(
                self._version(shop, t.profile_id) != v for t, v in commit.tombstones
            )
            taken = (
                any(self.aliases.get((shop, a), pid) != pid for a in claims)
                or any(self.aliases.get((shop, a)) != pid for a in commit.reserved)
                or any(self.aliases.get((shop, a)) != held for a, held in commit.take_over)
            )
            if dups or stale or taken:
                raise CommitConflict(duplicates=dups, stale=stale, alias_taken=taken)
            self.profiles[(shop, pid)] = commit.profile.model_dump(mode="json")
            for tomb, _ in commit.tombstones:
                self.profiles[(shop, tomb.profile_id)] = tomb.model_dump(mode="json")
            for alias in [*claims, *commit.repoint_aliases, *(a for a, _ in commit.take_over)]:
                self.aliases[(shop, alias)] = pid
                self.alias_since[(shop, alias)] = now
            log = self.logs.setdefault((shop, pid), {})
            if commit.outbox and commit.events:
                self.stream.append(
                    Outbox(shop, pid, commit.profile.version, commit.first_seq, tuple(commit.events), self.log_ttl_days)
                )
            if commit.seen is not None:
                self.seen_ids[(shop, pid)] = commit.seen.copy()
            for offset, event in enumerate(commit.events):
                seq = commit.first_seq + offset
                if not commit.outbox:
                    self.seen[(shop, event.id)] = IdempotencyRecord(
                        event.id, pid, commit.profile.updated_at, commit.published or commit.outbox, event.repeat
                    )
                if commit.outbox:
                    continue  # logged by the relay (write_log)
                since = event.occurred_at if commit.published else event.received_at
                if commit.published and since + timedelta(days=self.log_ttl_days) <= commit.profile.updated_at:
                    continue  # as the DynamoDB adapter: a backfill's history older than the log keeps is not logged
                log[f"LOG#{seq % self.log_cap:06d}"] = {"seq": seq, "event": event.model_dump(mode="json")}
            self.commits += 1

    def take_stream(self) -> list[Outbox]:
        """The outboxes committed since the last call (what the table's stream would hand the publisher)."""
        with self._lock:
            taken, self.stream = self.stream, []
        return taken

    def profiles_present(self, outboxes) -> set[tuple[str, str]]:
        with self._lock:
            return {(o.shop, o.profile_id) for o in outboxes if (o.shop, o.profile_id) in self.profiles}

    def write_log(self, outboxes) -> None:
        """As the DynamoDB adapter: one entry per commit, in a ring slot by the version it wrote."""
        with self._lock:
            for outbox in outboxes:
                log = self.logs.setdefault((outbox.shop, outbox.profile_id), {})
                log[f"LOG#C{outbox.version % self.log_cap:06d}"] = {
                    "seq": outbox.first_seq,
                    "events": [event.model_dump(mode="json") for event in outbox.events],
                }

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

    def release(self, shop, alias, profile_id):
        with self._lock:
            if self.aliases.get((shop, alias)) != profile_id or (shop, profile_id) in self.profiles:
                return False
            del self.aliases[(shop, alias)]
            self.alias_since.pop((shop, alias), None)
            return True

    def repoint_aliases(self, shop, aliases, profile_id):
        with self._lock:
            for alias in aliases:
                self.aliases[(shop, alias)] = profile_id
                self.alias_since.setdefault((shop, alias), datetime.now().astimezone())

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
        events = [
            (event["occurred_at"], entry["seq"] + offset, event)
            for entry in entries
            for offset, event in enumerate(entry["events"] if "events" in entry else [entry["event"]])
        ]
        events.sort(key=lambda e: (e[0], e[1]), reverse=True)
        return [event for _, _, event in events[:limit]]


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

    def product_ids_by_sku(self, shop, skus):
        wanted = set(skus)
        return {str(p["sku"]): pid for (s, pid), p in self.products.items() if s == shop and p.get("sku") in wanted}

    def get_products(self, shop, product_ids):
        self.batch_reads += 1
        return {pid: self.products[(shop, pid)] for pid in product_ids if (shop, pid) in self.products}

    def put(self, shop: str, item: dict[str, Any]) -> None:
        """Tests: a catalog item as the upsert would store it."""
        self.products[(shop, item["product_id"])] = {"shop": shop, **item}
