"""DynamoDB adapters of ingest: profiles, their aliases, event log and idempotency records (profiles
table) and products (catalog table). The only code that touches these items; botocore errors become
domain errors. Every key comes from emma.adapters.keys; the items are described in docs/data-model.md
(generated from it by `emma schema`).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emma.adapters import keys
from emma.adapters.ddb import (
    RETRYABLE_CONFLICTS,
    Table,
    conditional_failed,
    epoch,
    key,
    number,
    plain_item,
    serialize,
    string,
    wrap_error,
)
from emma.adapters.limits import check_transaction
from emma.errors import InvalidPayload, StoreError
from emma.events.model import CanonicalEvent, CatalogEvent, parse_event
from emma.ingest.outbox import Outbox
from emma.ingest.ports import AliasKey, Commit, CommitConflict, IdempotencyRecord, Reservation, claims_first
from emma.ingest.seen import SeenIds
from emma.profiles.model import Profile
from emma.resources import OUTBOX_ATTRIBUTE


def _alias_pk(shop: str, alias: AliasKey) -> str:
    return keys.alias_pk(shop, alias.kind, alias.value)


def _alias_item(shop: str, alias: AliasKey, profile_id: str, now: str) -> dict[str, Any]:
    return {**key(_alias_pk(shop, alias), keys.ALIAS_SK), "profile_id": string(profile_id), "updated_at": string(now)}


class DynamoProfileRepository(Table):
    # The profile item carries the commit's events (``outbox``); the table's stream hands it to the publisher
    # function (emma.ingest.outbox.OutboxRelay), which writes their log entries and publishes them.
    publishes_outbox = True

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        log_cap: int = 500,
        log_ttl_days: int = 400,
        idempotency_ttl_days: int = 35,
        log_days: Callable[[str], int | None] | None = None,
        sleep=time.sleep,
    ) -> None:
        """``log_days``: a shop's own event log retention (ShopConfig.privacy.event_log_days), when it has one."""
        super().__init__(client, table, sleep)
        self.log_cap = log_cap
        self.log_ttl = timedelta(days=log_ttl_days)
        self._log_days = log_days
        self.idempotency_ttl = timedelta(days=idempotency_ttl_days)
        # a new customer's aliases claimed at once (_claim); threads start on first use
        self._claims_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="claim")

    # ---- reads ----------------------------------------------------------------------------

    def lookup(self, shop, aliases, event_ids, *, consistent=True):
        wanted = [key(_alias_pk(shop, a), keys.ALIAS_SK) for a in aliases]
        wanted += [key(keys.event_pk(shop, e), keys.EVENT_SK) for e in dict.fromkeys(event_ids)]
        if not wanted:
            return {}, {}
        by_pk = {item["pk"]["S"]: item for item in self._batch_get(wanted, consistent=consistent)}
        pointed = {a: by_pk[_alias_pk(shop, a)]["profile_id"]["S"] for a in aliases if _alias_pk(shop, a) in by_pk}
        seen = {}
        for event_id in event_ids:
            item = by_pk.get(keys.event_pk(shop, event_id))
            if item is not None:
                seen[event_id] = IdempotencyRecord(
                    event_id=event_id,
                    profile_id=item.get("profile_id", {}).get("S"),
                    stored_at=datetime.fromisoformat(item["stored_at"]["S"]),
                    published=item.get("published", {}).get("BOOL", False),
                    repeat=item.get("repeat", {}).get("BOOL", False),
                )
        return pointed, seen

    def reservations(self, shop, aliases):
        if not aliases:
            return {}
        items = self._batch_get([key(_alias_pk(shop, a), keys.ALIAS_SK) for a in aliases])
        by_pk = {item["pk"]["S"]: item for item in items}
        found = {}
        for alias in aliases:
            item = by_pk.get(_alias_pk(shop, alias))
            if item is not None:
                found[alias] = Reservation(item["profile_id"]["S"], datetime.fromisoformat(item["updated_at"]["S"]))
        return found

    def get_profiles(self, shop, profile_ids, *, consistent=True):
        if not profile_ids:
            return {}
        wanted = [key(keys.profile_pk(shop, pid), keys.PROFILE_SK) for pid in dict.fromkeys(profile_ids)]
        found = {}
        for item in self._batch_get(wanted, consistent=consistent):
            profile = profile_of(item)
            found[profile.profile_id] = profile
        return found

    def load_profiles(self, shop, profile_ids, *, consistent=True):
        if not profile_ids:
            return {}
        wanted = [key(keys.profile_pk(shop, pid), keys.PROFILE_SK) for pid in dict.fromkeys(profile_ids)]
        found = {}
        for item in self._batch_get(wanted, consistent=consistent):
            profile = profile_of(item)
            until = item.get("seen_until", {}).get("S")
            seen = SeenIds.from_bytes(
                _binary(item["seen"]["B"]) if "seen" in item else None,
                datetime.fromisoformat(until) if until else None,
            )
            found[profile.profile_id] = (profile, seen)
        return found

    def seen_in_archive(self, shop, profile_ids, digests, since):
        wanted = set(digests)
        found: set[bytes] = set()
        for pid in dict.fromkeys(profile_ids):
            items = self._query_all(
                TableName=self._table,
                ConsistentRead=True,  # an id moved there by the request just before must be found
                KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
                ExpressionAttributeValues={
                    ":pk": string(keys.profile_pk(shop, pid)),
                    ":from": string(keys.seen_sk(since.date())),
                    ":to": string(keys.SEEN_PREFIX + "~"),
                },
            )
            for item in items:
                found |= {_binary(v) for v in item.get("ids", {}).get("BS", [])} & wanted
        return found

    def erased_ids(self, shop, wanted):
        shards = sorted({shard for shard, _ in wanted})
        if not shards:
            return set()
        items = self._batch_get(
            [key(keys.erased_ids_pk(shop, shard), keys.ERASED_IDS_SK) for shard in shards], consistent=False
        )
        held = {item["pk"]["S"]: {_binary(v) for v in item.get("ids", {}).get("BS", [])} for item in items}
        return {d for shard, d in wanted if d in held.get(keys.erased_ids_pk(shop, shard), ())}

    def archive_seen(self, shop, profile_id, by_day):
        for day, digests in sorted(by_day.items()):
            expires = datetime.combine(day, datetime.min.time(), UTC) + self.idempotency_ttl + timedelta(days=1)
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=key(keys.profile_pk(shop, profile_id), keys.seen_sk(day)),
                    UpdateExpression="ADD ids :ids SET expires_at = :exp",
                    ExpressionAttributeValues={":ids": {"BS": list(digests)}, ":exp": number(epoch(expires))},
                )
            except (ClientError, BotoCoreError) as exc:
                raise wrap_error(exc, "UpdateItem") from exc

    def read_log(self, shop, profile_id, limit):
        events: list[tuple[str, int, dict[str, Any]]] = []
        for item in self._query_prefix(keys.profile_pk(shop, profile_id), keys.LOG_PREFIX):
            seq = int(item.get("seq", {}).get("N", "0"))
            if "events" in item:  # one commit's events
                for offset, event in enumerate(_unpack(item["events"])):
                    events.append((str(event.get("occurred_at", "")), seq + offset, event))
            else:
                events.append((item["occurred_at"]["S"], seq, _unpack(item["event"])))
        events.sort(key=lambda e: (e[0], e[1]), reverse=True)
        return [event for _, _, event in events[:limit]]

    # ---- writes ---------------------------------------------------------------------------

    def _profile_item(self, shop: str, profile: Profile, commit: Commit | None = None) -> dict[str, Any]:
        """The PROFILE item; with ``commit``, the ids the profile absorbed (every commit that carries them, a
        backfill's too: the item is replaced whole) and, for a live commit, its outbox."""
        item = {
            **key(keys.profile_pk(shop, profile.profile_id), keys.PROFILE_SK),
            "shop": string(shop),
            "profile_id": string(profile.profile_id),
            "version": number(profile.version),
            "updated_at": string(profile.updated_at.isoformat()),
            # zlib: a profile's JSON is 2-6 KB and compresses 3:1, and every write (1 KB units) and read pays it
            "doc": {"B": zlib.compress(profile.model_dump_json().encode(), 6)},
        }
        if profile.merged_into:
            item["merged_into"] = string(profile.merged_into)
        else:
            active = profile.last_active_at or profile.last_seen_at or profile.created_at
            item["activity_shop"] = string(keys.activity_shop(shop))
            item["active_day"] = string(keys.active_day(active))
        if commit is not None and commit.seen is not None:
            if commit.seen.recent:
                item["seen"] = {"B": commit.seen.to_bytes()}
            if commit.seen.spilled_until is not None:
                item["seen_until"] = string(commit.seen.spilled_until.isoformat())
        outbox = commit if commit is not None and commit.outbox else None
        if outbox is not None and outbox.events:
            # The events this write stored, for the publisher (outbox_from_image), packed as the log's.
            item[OUTBOX_ATTRIBUTE] = {"B": _pack_events(outbox.events)}
            item["outbox_v"] = number(profile.version)
            item["outbox_seq"] = number(outbox.first_seq)
            item["outbox_log_days"] = number(self._shop_log_ttl(shop).days)
        return item

    def _version_condition(self, expected: int | None) -> dict[str, Any]:
        if expected is None:
            return {"ConditionExpression": "attribute_not_exists(pk)"}
        return {"ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": number(expected)}}

    def commit(self, commit: Commit) -> None:
        items, kinds = self.transaction(commit)
        check_transaction(items)  # the service cuts commits to fit; a request that does not is a fault
        if claims_first(commit):
            # A new customer: each alias claimed with a conditional PutItem of its own, then the profile (whose
            # attribute_not_exists condition decides between requests creating it at once), instead of one
            # transaction, which bills every item twice. A failure in between leaves the aliases claimed so far
            # pointing at a profile not stored: reservations (the service adopts them or takes them over).
            claims = [item["Put"] for item, kind in zip(items, kinds, strict=True) if kind[0] == "alias"]
            rest = [(item, kind) for item, kind in zip(items, kinds, strict=True) if kind[0] != "alias"]
            self._claim(claims)
            items, kinds = [item for item, _ in rest], [kind for _, kind in rest]
        if len(items) == 1:
            # The profile's write is the whole commit (its events remembered on it, no alias claimed, no merge): one
            # conditional PutItem, billed once, where a transaction bills every item twice.
            self._put_or_conflict(items[0]["Put"], CommitConflict(stale=True))
            return
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "TransactionCanceledException":
                raise self._conflict(exc, kinds) from exc
            if error.get("Code") in RETRYABLE_CONFLICTS:
                raise CommitConflict(stale=True) from exc
            raise wrap_error(exc, "TransactWriteItems") from exc
        except BotoCoreError as exc:
            raise wrap_error(exc, "TransactWriteItems") from exc

    def _claim(self, claims: list[dict[str, Any]]) -> None:
        """The first alias alone (in the service's claim order: two requests creating one customer meet there, and
        the one that loses has claimed nothing else), then the others at once, one PutItem each."""
        first, *others = claims
        self._put_or_conflict(first, CommitConflict(alias_taken=True))
        if len(others) < 2:
            for request in others:
                self._put_or_conflict(request, CommitConflict(alias_taken=True))
            return
        futures = [self._claims_pool.submit(self._put_or_conflict, r, CommitConflict(alias_taken=True)) for r in others]
        failed = [e for e in (f.exception() for f in futures) if e is not None]
        if failed:  # a store error first: it says more than a taken alias
            raise next((e for e in failed if not isinstance(e, CommitConflict)), failed[0])

    def _put_or_conflict(self, request: dict[str, Any], conflict: CommitConflict) -> None:
        """A conditional PutItem of a commit; ``conflict`` when its condition fails (or it lost a race)."""
        try:
            self._client.put_item(**request)
        except ClientError as exc:
            if conditional_failed(exc) or exc.response.get("Error", {}).get("Code") in RETRYABLE_CONFLICTS:
                raise conflict from exc
            raise wrap_error(exc, "PutItem") from exc
        except BotoCoreError as exc:
            raise wrap_error(exc, "PutItem") from exc

    def transaction(self, commit: Commit) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        """The TransactWriteItems of a commit, and what each item is (to read cancellation reasons).
        Pure: the in-memory twin checks these very items against DynamoDB's limits."""
        shop, profile = commit.shop, commit.profile
        pid = profile.profile_id
        items: list[dict[str, Any]] = []
        kinds: list[tuple[str, str]] = []  # what each transaction item is, to read cancellation reasons
        items.append(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._profile_item(shop, profile, commit),
                    **self._version_condition(commit.expected_version),
                }
            }
        )
        kinds.append(("profile", pid))
        for tomb, version in commit.tombstones:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": self._profile_item(shop, tomb),
                        **self._version_condition(version),
                    }
                }
            )
            kinds.append(("profile", tomb.profile_id))
        now = profile.updated_at.isoformat()
        for alias in commit.claim_aliases:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": _alias_item(shop, alias, pid, now),
                        "ConditionExpression": "attribute_not_exists(pk) OR profile_id = :pid",
                        "ExpressionAttributeValues": {":pid": string(pid)},
                    }
                }
            )
            kinds.append(("alias", alias.value))
        for alias in commit.repoint_aliases:
            items.append({"Put": {"TableName": self._table, "Item": _alias_item(shop, alias, pid, now)}})
            kinds.append(("repoint", alias.value))
        for alias in commit.reserved:  # adopted: they must still point at the new profile's id
            items.append(
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": key(_alias_pk(shop, alias), keys.ALIAS_SK),
                        "ConditionExpression": "profile_id = :pid",
                        "ExpressionAttributeValues": {":pid": string(pid)},
                    }
                }
            )
            kinds.append(("alias", alias.value))
        for alias, reserved_for in commit.take_over:  # from a reservation (its id comes as a tombstone, above)
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": _alias_item(shop, alias, pid, now),
                        "ConditionExpression": "profile_id = :held",
                        "ExpressionAttributeValues": {":held": string(reserved_for)},
                    }
                }
            )
            kinds.append(("alias", alias.value))
        for offset, event in enumerate(commit.events):
            seq = commit.first_seq + offset
            if commit.outbox:
                continue  # the profile item remembers the event (seen); the publisher logs it
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **key(keys.event_pk(shop, event.id), keys.EVENT_SK),
                            "profile_id": string(pid),
                            "stored_at": string(now),
                            # published: a backfill's never are; an outbox's are, by the stream
                            "published": {"BOOL": commit.published or commit.outbox},
                            **({"repeat": {"BOOL": True}} if event.repeat else {}),
                            "expires_at": number(epoch(event.received_at + self.idempotency_ttl)),
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
            kinds.append(("event", event.id))
            if commit.outbox:
                continue  # the publisher logs the outbox's events (write_log)
            # A backfill's history is kept in the log as if it had been received when it happened: what is
            # older than the shop keeps its event log is not logged at all.
            since = event.occurred_at if commit.published else event.received_at
            if commit.published and since + self._shop_log_ttl(shop) <= profile.updated_at:
                continue
            items.append({"Put": {"TableName": self._table, "Item": self._log_item(shop, pid, seq, event, since)}})
            kinds.append(("log", event.id))
        return items, kinds

    @staticmethod
    def _conflict(exc: ClientError, kinds: list[tuple[str, str]]) -> CommitConflict:
        reasons = exc.response.get("CancellationReasons") or []
        if not reasons:  # no detail: treat as a stale read, the caller re-reads and retries
            return CommitConflict(stale=True)
        duplicates, stale, taken = [], False, False
        for (kind, ident), reason in zip(kinds, reasons, strict=False):
            code = reason.get("Code", "None")
            if code in ("None", None):
                continue
            if code == "ConditionalCheckFailed":
                if kind == "event":
                    duplicates.append(ident)
                elif kind == "alias":
                    taken = True
                else:
                    stale = True
            elif code in ("TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"):
                stale = True
            else:
                raise StoreError(f"DynamoDB transaction cancelled: {code} on {kind}")
        return CommitConflict(duplicates=duplicates, stale=stale, alias_taken=taken)

    def _log_item(
        self, shop: str, pid: str, seq: int, event: CanonicalEvent, since: datetime | None = None
    ) -> dict[str, Any]:
        return {
            **key(keys.profile_pk(shop, pid), keys.log_sk(seq % self.log_cap)),
            "seq": number(seq),
            "event_id": string(event.id),
            "type": string(str(event.type)),
            "occurred_at": string(event.occurred_at.isoformat()),
            # zlib: a typical event is 1-1.5 KB of JSON and ~0.5 KB compressed, which halves the
            # write units of the entry (1 KB units, doubled inside a transaction).
            "event": {"B": zlib.compress(event.model_dump_json().encode(), 6)},
            "expires_at": number(epoch((since or event.received_at) + self._shop_log_ttl(shop))),
        }

    def _shop_log_ttl(self, shop: str) -> timedelta:
        days = self._log_days(shop) if self._log_days is not None else None
        return timedelta(days=days) if days else self.log_ttl

    @staticmethod
    def outbox_from_image(image: dict[str, Any]) -> Outbox | None:
        """The outbox of a profile item's stream image (the module's outbox_from_image)."""
        return outbox_from_image(image)

    def profiles_present(self, outboxes: Sequence[Outbox]) -> set[tuple[str, str]]:
        wanted = list(dict.fromkeys((o.shop, o.profile_id) for o in outboxes))
        keys_wanted = [key(keys.profile_pk(shop, pid), keys.PROFILE_SK) for shop, pid in wanted]
        found = {i["pk"]["S"] for i in self._batch_get(keys_wanted)} if keys_wanted else set()  # consistent
        return {(shop, pid) for shop, pid in wanted if keys.profile_pk(shop, pid) in found}

    def write_log(self, outboxes: Sequence[Outbox]) -> None:
        """The log entries of stored outboxes (the publisher function): one item per commit holding its events
        (a request's 20 tracker calls are one write, not 20), in a ring slot by the version the commit wrote; the
        same outbox again writes the same item."""
        items: dict[tuple[str, str], dict[str, Any]] = {}
        for outbox in outboxes:
            if not outbox.events:
                continue
            ttl = timedelta(days=outbox.log_days) if outbox.log_days else self.log_ttl
            item = {
                **key(
                    keys.profile_pk(outbox.shop, outbox.profile_id), keys.log_commit_sk(outbox.version % self.log_cap)
                ),
                "seq": number(outbox.first_seq),
                "count": number(len(outbox.events)),
                "version": number(outbox.version),
                "occurred_at": string(max(e.occurred_at for e in outbox.events).isoformat()),
                "events": {"B": _pack_events(outbox.events)},
                "expires_at": number(epoch(max(e.received_at for e in outbox.events) + ttl)),
            }
            items[(item["pk"]["S"], item["sk"]["S"])] = item  # a later commit in the same ring slot wins
        self._batch_write([{"PutRequest": {"Item": item}} for item in items.values()])

    def release(self, shop, alias, profile_id):
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": key(_alias_pk(shop, alias), keys.ALIAS_SK),
                            "ConditionExpression": "profile_id = :pid",
                            "ExpressionAttributeValues": {":pid": string(profile_id)},
                        }
                    },
                    {
                        "ConditionCheck": {
                            "TableName": self._table,
                            "Key": key(keys.profile_pk(shop, profile_id), keys.PROFILE_SK),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("TransactionCanceledException", *RETRYABLE_CONFLICTS):
                return False
            raise wrap_error(exc, "TransactWriteItems") from exc
        except BotoCoreError as exc:
            raise wrap_error(exc, "TransactWriteItems") from exc
        return True

    def mark_published(self, shop, records):
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        **key(keys.event_pk(shop, r.event_id), keys.EVENT_SK),
                        "profile_id": string(r.profile_id or ""),
                        "stored_at": string(r.stored_at.isoformat()),
                        "published": {"BOOL": True},
                        **({"repeat": {"BOOL": True}} if r.repeat else {}),
                        "expires_at": number(epoch(r.stored_at + self.idempotency_ttl)),
                    }
                }
            }
            for r in records
        ]
        self._batch_write(requests)

    def claim_republish(self, shop, event_id, now, lease_seconds):
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key(keys.event_pk(shop, event_id), keys.EVENT_SK),
                UpdateExpression="SET lease_at = :now",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(lease_at) OR lease_at < :cut)",
                ExpressionAttributeValues={
                    ":now": string(now.isoformat()),
                    ":cut": string((now - timedelta(seconds=lease_seconds)).isoformat()),
                },
            )
        except ClientError as exc:
            if conditional_failed(exc):
                return False
            raise wrap_error(exc, "UpdateItem") from exc
        return True

    def repoint_aliases(self, shop, aliases, profile_id):
        now = datetime.now(UTC).isoformat()
        self._batch_write([{"PutRequest": {"Item": _alias_item(shop, a, profile_id, now)}} for a in aliases])

    def move_log(self, shop, from_profile, to_profile):
        source_pk = keys.profile_pk(shop, from_profile)
        items = self._query_prefix(source_pk, keys.LOG_PREFIX)
        puts = [
            {
                "PutRequest": {
                    "Item": {
                        **item,
                        **key(keys.profile_pk(shop, to_profile), keys.merged_log_sk(from_profile, item["sk"]["S"])),
                    }
                }
            }
            for item in items
        ]
        self._batch_write(puts)  # copy first: a crash in between leaves a copy, never a loss
        self._batch_write([{"DeleteRequest": {"Key": {"pk": item["pk"], "sk": item["sk"]}}} for item in items])
        return len(items)


def profile_of(item: dict[str, Any]) -> Profile:
    """The profile in a PROFILE item: ``doc`` compressed (binary: zlib of the JSON) or as written before (a JSON
    string). Every reader of PROFILE items reads it here."""
    doc = item["doc"]
    return Profile.model_validate_json(zlib.decompress(_binary(doc["B"])) if "B" in doc else doc["S"])


def profile_json(item: dict[str, Any]) -> dict[str, Any]:
    """A PROFILE item's document as plain JSON (no validation: scans that read one field)."""
    doc = item["doc"]
    return _unpack(doc) if "B" in doc else json.loads(doc["S"])


def _pack_events(events: Sequence[CanonicalEvent]) -> bytes:
    """Events as one zlib'd JSON array: a profile item's outbox, a commit's log entry."""
    return zlib.compress(("[" + ",".join(e.model_dump_json() for e in events) + "]").encode(), 6)


def _unpack(attribute: dict[str, Any]) -> Any:
    """The JSON in a zlib'd binary attribute (an outbox, a log entry's event or events, a profile document)."""
    return json.loads(zlib.decompress(_binary(attribute["B"])))


def _binary(value: Any) -> bytes:
    """A binary attribute's bytes: base64 text in a Lambda event, bytes from boto3."""
    return base64.b64decode(value) if isinstance(value, str) else bytes(value)


def outbox_from_image(image: dict[str, Any]) -> Outbox | None:
    """The outbox a profile item's stream image carries (DynamoDB JSON, as Lambda or boto3 hands it), or None
    when this write stored no events: another item of the partition, a tombstone, a write without events, or
    an image whose outbox is an earlier write's (``outbox_v`` not the item's version). An outbox that cannot
    be read raises InvalidPayload."""
    if image.get("sk", {}).get("S") != keys.PROFILE_SK or OUTBOX_ATTRIBUTE not in image:
        return None
    if image.get("outbox_v", {}).get("N") != image.get("version", {}).get("N"):
        return None
    try:
        raw = _unpack(image[OUTBOX_ATTRIBUTE])
        events = tuple(parse_event(e) for e in raw)
        days = image.get("outbox_log_days", {}).get("N")
        return Outbox(
            shop=image["shop"]["S"],
            profile_id=image["profile_id"]["S"],
            version=int(image["version"]["N"]),
            first_seq=int(image["outbox_seq"]["N"]),
            events=events,
            log_days=int(days) if days else None,
        )
    except (KeyError, TypeError, ValueError, zlib.error, binascii.Error) as exc:
        raise InvalidPayload(f"profile item {image.get('pk', {}).get('S')}: unreadable outbox ({exc})") from exc


class DynamoCatalog(Table):
    """Products in the catalog table; their idempotency records go to the profiles table, beside
    every other event's, in the same transaction (so one lookup, publish flag and lease serve all)."""

    def __init__(
        self, client: Any, table: str, idempotency_table: str, *, idempotency_ttl_days: int = 35, sleep=time.sleep
    ) -> None:
        super().__init__(client, table, sleep)
        self._idempotency_table = idempotency_table
        self.idempotency_ttl = timedelta(days=idempotency_ttl_days)

    def _idempotency_put(self, event: CatalogEvent) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._idempotency_table,
                "Item": {
                    **key(keys.event_pk(event.shop, event.id), keys.EVENT_SK),
                    "stored_at": string(event.received_at.isoformat()),
                    "published": {"BOOL": False},
                    "expires_at": number(epoch(event.received_at + self.idempotency_ttl)),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def upsert_product(self, event: CatalogEvent) -> bool:
        """Merge the fields this event carries into the product (a partial update, such as Shopware's
        product.written with only an id, never blanks what is known); a late, older update is
        recorded as seen but not applied."""
        product = event.properties.product
        at = event.occurred_at.isoformat()
        fields = {k: v for k, v in product.model_dump(mode="json").items() if v not in (None, [], ())}
        if event.properties.variants:
            fields["variants"] = list(event.properties.variants)
        fields.update(shop=event.shop, updated_at=at)
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":f{i}": serialize(v) for i, v in enumerate(fields.values())}
        update = {
            "Update": {
                "TableName": self._table,
                "Key": key(keys.product_pk(event.shop, product.product_id), keys.PRODUCT_SK),
                "UpdateExpression": "SET "
                + ", ".join(f"{n} = {v}" for n, v in zip(names, values, strict=True))
                + ", created_at = if_not_exists(created_at, :at)",
                "ConditionExpression": "attribute_not_exists(updated_at) OR updated_at <= :at",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {**values, ":at": string(at)},
            }
        }
        sku = []
        if product.sku:  # an export that names line items by SKU finds the product through it
            item = {**key(keys.sku_pk(event.shop, product.sku), keys.SKU_SK), "product_id": string(product.product_id)}
            sku = [{"Put": {"TableName": self._table, "Item": item}}]
        try:
            self._client.transact_write_items(TransactItems=[self._idempotency_put(event), update, *sku])
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise wrap_error(exc, "TransactWriteItems") from exc
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False  # seen this event before
            if len(reasons) < 2 or reasons[1] != "ConditionalCheckFailed":
                raise StoreError(f"DynamoDB transaction cancelled: {reasons}") from exc  # transient: retry
        # The stored product is newer than this (late) update: record the event, keep the product.
        try:
            self._client.transact_write_items(TransactItems=[self._idempotency_put(event)])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                return False
            raise wrap_error(exc, "TransactWriteItems") from exc
        return True

    def get_products(self, shop: str, product_ids) -> dict[str, dict[str, Any]]:
        """Many products in one BatchGetItem (eventually consistent: recommendations may lag a
        second behind a stock change); unknown ids are left out."""
        wanted = [key(keys.product_pk(shop, pid), keys.PRODUCT_SK) for pid in dict.fromkeys(product_ids)]
        items = self._batch_get(wanted, consistent=False) if wanted else []
        out = {}
        for item in items:
            product = plain_item(item)
            out[str(product["product_id"])] = product
        return out

    def product_ids_by_sku(self, shop: str, skus) -> dict[str, str]:
        """The catalog's product of each SKU it knows (one BatchGetItem per 100 SKUs)."""
        wanted = [key(keys.sku_pk(shop, sku), keys.SKU_SK) for sku in dict.fromkeys(skus)]
        items = self._batch_get(wanted, consistent=False) if wanted else []
        return {keys.sku_of(item["pk"]["S"]): item["product_id"]["S"] for item in items}

    def get_product(self, shop, product_id):
        try:
            resp = self._client.get_item(
                TableName=self._table,
                ConsistentRead=True,
                Key=key(keys.product_pk(shop, product_id), keys.PRODUCT_SK),
            )
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "GetItem") from exc
        item = resp.get("Item")
        if item is None:
            return None
        return plain_item(item)
