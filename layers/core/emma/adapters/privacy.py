"""The privacy store: finds every item about a customer in every table (by the keys in
emma.adapters.keys, never by a scan), deletes them, and keeps suppressions, privacy jobs and the audit
trail. A whole shop's items are found by a paginated scan (shop erasure only)."""

from __future__ import annotations

import contextlib
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from emma.adapters import keys
from emma.adapters.ddb import Table, conditional_failed, epoch, key, number, string, wrap_error
from emma.adapters.rules_store import inflate
from emma.adapters.signing import signed_headers
from emma.clock import Clock
from emma.errors import TransientError
from emma.ingest.seen import SeenIds, erased_shard
from emma.privacy.model import AuditEntry, HeldItem, Identity, PrivacyJob, address_hashes, privacy_salt
from emma.privacy.ports import StaleJob
from emma.resources import ACTIVITY_INDEX
from emma.rules.state import Listing, counter_shard, timer_shard
from emma.shops import ShopConfig, ShopDirectory

_DESERIALIZER = TypeDeserializer()
IDEMPOTENCY_EXPIRY_SLACK_DAYS = 7  # DynamoDB deletes expired items within days, not at once
# An erasure keeps at most this many of a profile's event ids (the newest) in each of its identities' shards: 24 KB,
# against the 400 KB a shard's item holds (emma.ingest.seen.erased_shard); a customer's own events are far fewer.
MAX_ERASED_IDS = 4096
log = logging.getLogger(__name__)
_JSON_ATTRIBUTES = ("doc", "state", "request", "link", "outbox", "recommended", "links")

# Sort keys of a customer's partition -> item type (the longest prefix first: merged log before log).
_PARTITION_KINDS: tuple[tuple[str, str, bool], ...] = (
    (keys.PROFILE_SK, keys.PROFILE.name, True),
    (keys.DERIVED_SK, keys.DERIVED.name, True),
    (keys.CAPS_SK, keys.CAPS.name, True),
    (keys.merged_log_sk("", "")[:-1], keys.MERGED_LOG.name, False),  # LOG#M#
    (keys.LOG_PREFIX, keys.EVENT_LOG.name, False),
    (keys.SEEN_PREFIX, keys.SEEN_ARCHIVE.name, False),
    (keys.marker_sk(""), keys.MARKER.name, False),
    (keys.JOURNEY_PREFIX, keys.JOURNEY_STATE.name, False),
    (keys.MESSAGE_PREFIX, keys.MESSAGE.name, False),
    (keys.touch_sk(""), keys.ANALYTICS_TOUCH.name, False),
    (keys.assignment_sk("", "")[:-1], keys.ANALYTICS_ASSIGNMENT.name, False),
    (keys.order_credit_sk(""), keys.ANALYTICS_ORDER.name, False),
    (keys.progress_sk(""), keys.ANALYTICS_PROGRESS.name, False),
)


def _partition_kind(sk: str) -> str:
    for prefix, kind, exact in _PARTITION_KINDS:
        if (sk == prefix) if exact else sk.startswith(prefix):
            return kind
    return "unknown item in a customer's partition"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Binary):
        return bytes(value.value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def decode(item: dict[str, Any]) -> dict[str, Any]:
    """A stored item as an export shows it: plain values, JSON documents parsed, the compressed event
    of a log entry inflated; without its keys."""
    out: dict[str, Any] = {}
    for name, value in item.items():
        if name in ("pk", "sk"):
            continue
        plain = _plain(_DESERIALIZER.deserialize(value))
        if name in _JSON_ATTRIBUTES and isinstance(plain, str):
            with contextlib.suppress(ValueError):
                plain = json.loads(plain)
        elif name == "decisions" and isinstance(plain, list):
            plain = [json.loads(d) if isinstance(d, str) and d.startswith("{") else d for d in plain]
        elif name in ("event", "events", "doc", "outbox") and isinstance(plain, bytes):  # compressed JSON
            plain = json.loads(inflate(plain))
        elif isinstance(plain, bytes):  # hashes (a profile's seen ids, its archive's): hex, as JSON can hold
            plain = plain.hex()
        elif isinstance(plain, list) and plain and all(isinstance(v, bytes) for v in plain):
            plain = [v.hex() for v in plain]
        out[name] = plain
    return out


def _held(kind: str, table: str, item: dict[str, Any]) -> HeldItem:
    return HeldItem(kind, table, item["pk"]["S"], item["sk"]["S"], decode(item), item)


def _iso(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


class DynamoPrivacyStore(Table):
    def __init__(
        self,
        client: Any,
        profiles_table: str,
        catalog_table: str,
        schedule_table: str,
        *,
        idempotency_ttl_days: int = 35,
        clock: Clock | None = None,
        sleep=time.sleep,
    ):
        super().__init__(client, profiles_table, sleep)
        self._idempotency_window = timedelta(days=idempotency_ttl_days + IDEMPOTENCY_EXPIRY_SLACK_DAYS)
        self._now = clock.now if clock is not None else lambda: datetime.now(UTC)
        self._catalog = catalog_table
        self._schedule = schedule_table

    # ---- what is held about a customer ---------------------------------------------------------

    def _get_many(self, table: str, wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not wanted:
            return []
        unique = list({(k["pk"]["S"], k["sk"]["S"]): k for k in wanted}.values())
        return self._batch_get(unique, table=table)

    def holdings(self, shop: str, profile_ids: Sequence[str], identities: Sequence[Identity]) -> list[HeldItem]:
        ids = set(profile_ids)
        held: list[HeldItem] = []
        for pid in profile_ids:
            partition = self._query_all(
                TableName=self._table,
                ConsistentRead=True,  # the last look of an erasure must see what was written just before
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": string(keys.profile_pk(shop, pid))},
            )
            for item in partition:
                held.append(_held(_partition_kind(item["sk"]["S"]), self._table, item))
        wanted = [key(keys.alias_pk(shop, i.kind, i.value), keys.ALIAS_SK) for i in identities]
        for item in self._get_many(self._table, wanted):
            if item.get("profile_id", {}).get("S") in ids:
                held.append(_held(keys.ALIAS.name, self._table, item))
        # Idempotency records live EMMA_IDEMPOTENCY_TTL_DAYS after their event was received (and DynamoDB
        # may take days to delete one that expired): older events are not looked up, they have none left.
        oldest = self._now() - self._idempotency_window
        event_ids = {
            h.data["event_id"]
            for h in held
            if h.kind in (keys.EVENT_LOG.name, keys.MERGED_LOG.name)
            and h.data.get("event_id")
            and (_iso((h.data.get("event") or {}).get("received_at")) or oldest) >= oldest
        }
        wanted = [key(keys.event_pk(shop, e), keys.EVENT_SK) for e in sorted(event_ids)]
        for item in self._get_many(self._table, wanted):
            if item.get("profile_id", {}).get("S") in ids:
                held.append(_held(keys.IDEMPOTENCY.name, self._table, item))
        links: list[dict[str, Any]] = []
        coupons: list[dict[str, Any]] = []
        deferrals: list[dict[str, Any]] = []
        members: list[dict[str, Any]] = []
        for h in held:
            if h.kind == keys.MESSAGE.name:
                for code in h.data.get("links") or []:
                    links.append(key(keys.link_pk(shop, str(code)), keys.LINK_SK))
                if h.data.get("coupon"):  # the record of the code made for this message (emma.offers)
                    coupons.append(key(keys.coupon_pk(shop, str(h.data["coupon"])), keys.COUPON_SK))
                due = _iso(h.data.get("not_before"))
                message_key = h.data.get("key")
                if due is not None and message_key:
                    shard = keys.deferral_shard(message_key)
                    deferrals.append(key(keys.deferral_pk(shard), keys.deferral_sk(due, message_key)))
            elif h.kind == keys.PROFILE.name and isinstance(h.data.get("doc"), dict):
                referral = ((h.data["doc"].get("traits") or {}).get("referral_code") or {}).get("value")
                if referral:  # the customer's referral code's record (emma.offers), if Emma had it made
                    coupons.append(key(keys.coupon_pk(shop, str(referral)), keys.COUPON_SK))
            elif h.kind == keys.DERIVED.name and isinstance(h.data.get("doc"), dict):
                members += [
                    key(keys.member_pk(shop, m.segment, m.shard), keys.member_sk(m)) for m in _listings(shop, h)
                ]
        held += [_held(keys.LINK.name, self._table, i) for i in self._get_many(self._table, links)]
        held += [
            _held(keys.COUPON.name, self._table, i)
            for i in self._get_many(self._table, coupons)
            if i.get("profile_id", {}).get("S") in ids  # a code is only ever the one customer's
        ]
        held += [_held(keys.SEGMENT_MEMBER.name, self._table, i) for i in self._get_many(self._table, members)]
        held += [_held(keys.DEFERRAL.name, self._schedule, i) for i in self._get_many(self._schedule, deferrals)]
        held += [_held(keys.TIMER.name, self._schedule, i) for i in self._timers(shop, profile_ids)]
        return held

    def _timers(self, shop: str, profile_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every timer of the profiles: live ones and those already due, which are not deleted but expire (their
        derived state names only the live ones). A profile's timers share one shard, sorted by due time: one
        Query from the oldest that can still be there, filtered by the profile."""
        since = self._now() - keys.TIMER_TTL - timedelta(days=IDEMPOTENCY_EXPIRY_SLACK_DAYS)
        found: list[dict[str, Any]] = []
        for pid in sorted(set(profile_ids)):
            found += self._query_all(
                TableName=self._schedule,
                ConsistentRead=True,  # as the partitions: the last look of an erasure sees a timer just written
                KeyConditionExpression="pk = :pk AND sk > :since",
                FilterExpression="profile_id = :pid AND shop = :shop",
                ExpressionAttributeValues={
                    ":pk": string(keys.timer_pk(timer_shard(pid))),
                    ":since": string(keys.due_after(since)),
                    ":pid": string(pid),
                    ":shop": string(shop),
                },
            )
        return found

    # ---- deleting ----------------------------------------------------------------------------------

    # What other items lead to (the message log: links, deferrals; the derived state: timers, member list
    # entries; the event log: idempotency records) goes first, so that a crash half-way never leaves an item
    # nothing leads to any more.
    _LED_TO = (
        keys.LINK.name,
        keys.COUPON.name,
        keys.DEFERRAL.name,
        keys.TIMER.name,
        keys.SEGMENT_MEMBER.name,
        keys.IDEMPOTENCY.name,
    )

    def erase(
        self, items: Sequence[HeldItem], profile_ids: Sequence[str] | None, identifiers: Sequence[str] = ()
    ) -> dict[str, int]:
        counts: dict[str, int] = {}
        ids = None if profile_ids is None else set(profile_ids)
        named = [i for i in {*identifiers, *(ids or ())} if i]

        def phase(selected: list[HeldItem]) -> None:
            deletes: dict[str, list[dict[str, Any]]] = {}
            scrubbed: list[dict[str, Any]] = []
            for item in selected:
                if item.kind == keys.IDEMPOTENCY.name and ids is not None and not any(n in item.pk for n in named):
                    # The bare event id stays (a retried delivery remains a duplicate); an id that names the
                    # customer (a journey's execution, an address) goes with the rest.
                    raw = {k: v for k, v in (item.raw or {}).items() if k != "profile_id"}
                    if raw:
                        scrubbed.append({"PutRequest": {"Item": raw}})
                elif item.kind == keys.ALIAS.name and ids is not None:
                    if not self._delete_alias(item, ids):
                        continue
                else:
                    deletes.setdefault(item.table, []).append({"DeleteRequest": {"Key": key(item.pk, item.sk)}})
                counts[item.kind] = counts.get(item.kind, 0) + 1
            if scrubbed:
                self._batch_write(scrubbed)
            for table, requests in deletes.items():
                self._batch_write(requests, table)

        if ids is not None:
            self._keep_erased_ids(items)
        phase([i for i in items if i.kind in self._LED_TO])
        phase([i for i in items if i.kind not in (*self._LED_TO, keys.ALIAS.name, keys.PROFILE.name)])
        phase([i for i in items if i.kind == keys.ALIAS.name])
        phase([i for i in items if i.kind == keys.PROFILE.name])  # last: until then every reference finds them
        return counts

    def _keep_erased_ids(self, items: Sequence[HeldItem]) -> None:
        """The event ids the erased profiles absorbed within the idempotency window (their seen ids and archives,
        emma.ingest.seen), kept by shop as bare hashes before the profiles go, in the shard of each identity of
        the profile (erased_shard): a delivery retried after the erasure stays a duplicate, as the idempotency
        records' bare ids did. Older ids are not kept (no sender retries them), so the shards grow with recent
        erasures only, and at most MAX_ERASED_IDS of a profile, the newest (a bot's flood of ids would otherwise
        pass the 400 KB a shard's item holds, and the erasure would never finish). Idempotent (a set); first, so a
        crash keeps them."""
        ids: dict[tuple[str, str], list[tuple[str, list[bytes]]]] = {}  # (shop, partition) -> (when, ids) absorbed
        identities: dict[tuple[str, str], set[tuple[str, str]]] = {}  # ... -> (kind, value) of its identities
        now = self._now()
        since = now - self._idempotency_window  # older ids can no longer come back as a sender's retry
        for item in items:
            raw = item.raw or {}
            parts = item.pk.split("#", 4)  # S#<shop>#P#<profile>, S#<shop>#A#<kind>#<value>
            shop = parts[1]
            if item.kind == keys.ALIAS.name and len(parts) == 5:
                pid = str(item.data.get("profile_id", ""))
                identities.setdefault((shop, keys.profile_pk(shop, pid)), set()).add((parts[3], parts[4]))
                continue
            digests: list[bytes] = []
            if item.kind == keys.PROFILE.name:
                doc = item.data.get("doc") if isinstance(item.data.get("doc"), dict) else {}
                identities.setdefault((shop, item.pk), set()).update(
                    (kind, str(value))
                    for kind, field in (("cid", "customer_ids"), ("email", "emails"), ("anon", "anonymous_ids"))
                    for value in doc.get(field) or ()
                )
                if "seen" in raw:
                    digests = SeenIds.from_bytes(bytes(raw["seen"]["B"])).received_since(since, now)
                when = "~"  # the newest: they are still on the profile
            elif item.kind == keys.SEEN_ARCHIVE.name and "ids" in raw and item.sk >= keys.seen_sk(since.date()):
                digests, when = [bytes(v) for v in raw["ids"]["BS"]], item.sk
            if digests:
                ids.setdefault((shop, item.pk), []).append((when, digests))
        by_shard: dict[tuple[str, int], set[bytes]] = {}
        for (shop, partition), parts in ids.items():
            newest = list(dict.fromkeys(d for _, digests in sorted(parts, reverse=True) for d in digests))
            if len(newest) > MAX_ERASED_IDS:
                log.warning("erasure keeps the newest %d of a profile's %d event ids", MAX_ERASED_IDS, len(newest))
            for kind, value in identities.get((shop, partition), ()):
                by_shard.setdefault((shop, erased_shard(shop, kind, value)), set()).update(newest[:MAX_ERASED_IDS])
        expires = number(epoch(now + self._idempotency_window))
        for (shop, shard), digests in sorted(by_shard.items()):
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=key(keys.erased_ids_pk(shop, shard), keys.ERASED_IDS_SK),
                    UpdateExpression="ADD ids :ids SET expires_at = :exp",
                    ExpressionAttributeValues={":ids": {"BS": sorted(digests)}, ":exp": expires},
                )
            except (ClientError, BotoCoreError) as exc:
                raise wrap_error(exc, "UpdateItem") from exc

    def _delete_alias(self, item: HeldItem, ids: set[str]) -> bool:
        """Only while it still points at one of the erased profiles (not one claimed meanwhile)."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=key(item.pk, item.sk),
                ConditionExpression="profile_id = :pid",
                ExpressionAttributeValues={":pid": string(str(item.data.get("profile_id", "")))},
            )
        except ClientError as exc:
            if conditional_failed(exc):
                return False
            raise wrap_error(exc, "DeleteItem") from exc
        except BotoCoreError as exc:
            raise wrap_error(exc, "DeleteItem") from exc
        return str(item.data.get("profile_id", "")) in ids

    def shop_items(self, shop: str, cursor: dict[str, Any] | None, limit: int) -> tuple[list[HeldItem], Any]:
        phases = [self._table, self._catalog, self._schedule]
        cursor = cursor or {"table": 0}
        phase = int(cursor.get("table", 0))
        if phase >= len(phases):
            return [], None
        table = phases[phase]
        prefix = keys.shop_prefix(shop)
        if phase == 0:
            scan = {
                "FilterExpression": "begins_with(pk, :p) AND NOT begins_with(pk, :audit) AND NOT begins_with(pk, :job)",
                "ExpressionAttributeValues": {
                    ":p": string(prefix),
                    ":audit": string(keys.audit_pk(shop, "")),
                    ":job": string(keys.privacy_job_pk(shop, "")),
                },
            }
        elif phase == 1:
            scan = {"FilterExpression": "begins_with(pk, :p)", "ExpressionAttributeValues": {":p": string(prefix)}}
        else:
            scan = {
                "FilterExpression": "(begins_with(pk, :due) AND contains(sk, :shop)) OR "
                "(begins_with(pk, :msg) AND contains(#r, :req))",
                "ExpressionAttributeNames": {"#r": "request"},
                "ExpressionAttributeValues": {
                    ":due": string(keys.timer_pk(0)[:-1]),
                    ":msg": string(keys.deferral_pk("")),
                    ":shop": string(f"#{shop}#"),
                    ":req": string(f'"shop":"{shop}"'),
                },
            }
        kwargs: dict[str, Any] = {"TableName": table, "Limit": limit, **scan}
        if cursor.get("start"):
            kwargs["ExclusiveStartKey"] = cursor["start"]
        try:
            resp = self._client.scan(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "Scan") from exc
        items = [_held(_classify(shop, i), table, i) for i in resp.get("Items", [])]
        start = resp.get("LastEvaluatedKey")
        following: dict[str, Any] = {"table": phase, "start": start} if start else {"table": phase + 1}
        return items, (None if not start and phase + 1 >= len(phases) else following)

    def inactive(self, shop: str, before: datetime, limit: int) -> list[str]:
        """Profile ids whose customer's newest activity is on a UTC day before ``before`` (the activity index)."""
        try:
            resp = self._client.query(
                TableName=self._table,
                IndexName=ACTIVITY_INDEX.name,
                KeyConditionExpression="#s = :s AND #d < :d",
                ExpressionAttributeNames={"#s": ACTIVITY_INDEX.partition_key, "#d": str(ACTIVITY_INDEX.sort_key)},
                ExpressionAttributeValues={
                    ":s": string(keys.activity_shop(shop)),
                    ":d": string(keys.active_day(before)),
                },
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "Query") from exc
        return [keys.profile_id_of(i["pk"]["S"]) for i in resp.get("Items", [])]

    # ---- suppressions --------------------------------------------------------------------------------

    def suppress(self, shop: str, hashes: Mapping[str, str], at: datetime) -> None:
        self._batch_write(
            [
                {
                    "PutRequest": {
                        "Item": {
                            **key(keys.suppression_pk(shop, h), keys.SUPPRESSION_SK),
                            "kind": string(kind),
                            "at": string(at.isoformat()),
                        }
                    }
                }
                for h, kind in sorted(hashes.items())
            ]
        )

    def suppressed(self, shop: str, hashes: Sequence[str]) -> set[str]:
        by_pk = {keys.suppression_pk(shop, h): h for h in hashes}
        found = self._get_many(self._table, [key(pk, keys.SUPPRESSION_SK) for pk in by_pk])
        return {by_pk[i["pk"]["S"]] for i in found}

    # ---- jobs ----------------------------------------------------------------------------------------

    def get_job(self, shop: str, job_id: str) -> PrivacyJob | None:
        item = self._get(keys.privacy_job_pk(shop, job_id), keys.PRIVACY_JOB_SK)
        if item is None:
            return None
        return PrivacyJob.model_validate({**json.loads(item["doc"]["S"]), "version": int(item["version"]["N"])})

    def put_job(self, job: PrivacyJob, counter_deltas: Mapping[str, Mapping[str, int]] | None = None) -> None:
        expected = job.version
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                **key(keys.privacy_job_pk(job.shop, job.job_id), keys.PRIVACY_JOB_SK),
                "kind": string(job.kind),
                "status": string(job.status),
                "version": number(expected + 1),
                "updated_at": string(job.updated_at.isoformat()),
                "doc": string(job.model_dump_json(exclude={"version"})),
            },
        }
        if expected == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :v"
            put["ExpressionAttributeValues"] = {":v": number(expected)}
        deltas = {pid: dict(segments) for pid, segments in (counter_deltas or {}).items() if segments}
        for _ in range(len(deltas) + 1):
            claims = [
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": key(keys.profile_pk(job.shop, pid), keys.DERIVED_SK),
                        "UpdateExpression": "SET erased_by = :job",
                        "ConditionExpression": "attribute_exists(pk) AND "
                        "(attribute_not_exists(erased_by) OR erased_by = :job)",
                        "ExpressionAttributeValues": {":job": string(job.job_id)},
                    }
                }
                for pid in deltas
            ]
            updates = [{"Update": u} for u in _counter_updates(self._table, job.shop, deltas)]
            try:
                if not deltas:
                    self._client.put_item(**put)
                else:
                    self._client.transact_write_items(TransactItems=[{"Put": put}, *claims, *updates])
                return
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if conditional_failed(exc):
                    raise StaleJob(f"privacy job {job.job_id} changed meanwhile") from exc
                if code != "TransactionCanceledException":
                    raise wrap_error(exc, "TransactWriteItems" if deltas else "PutItem") from exc
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
                if not reasons or reasons[0] == "ConditionalCheckFailed":
                    raise StaleJob(f"privacy job {job.job_id} changed meanwhile") from exc
                # Another job took these customers out of the counts already (or their derived state is
                # gone): leave them out, once, and try again with the others.
                taken = [
                    pid for pid, r in zip(deltas, reasons[1 : 1 + len(deltas)], strict=False) if r not in (None, "None")
                ]
                if not taken:
                    raise StaleJob(f"privacy job {job.job_id}: the transaction was cancelled ({reasons})") from exc
                for pid in taken:
                    deltas.pop(pid)
            except BotoCoreError as exc:
                raise wrap_error(exc, "PutItem") from exc
        raise StaleJob(f"privacy job {job.job_id}: could not take its customers out of the counts")

    def enqueue(self, job: PrivacyJob) -> None:
        try:
            self._client.put_item(
                TableName=self._schedule,
                Item={
                    **key(keys.PRIVACY_QUEUE_PK, keys.privacy_queue_sk(job.created_at, job.shop, job.job_id)),
                    "shop": string(job.shop),
                    "job_id": string(job.job_id),
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "PutItem") from exc

    def dequeue(self, job: PrivacyJob) -> None:
        try:
            self._client.delete_item(
                TableName=self._schedule,
                Key=key(keys.PRIVACY_QUEUE_PK, keys.privacy_queue_sk(job.created_at, job.shop, job.job_id)),
            )
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "DeleteItem") from exc

    def queued(self, limit: int) -> list[tuple[str, str, str]]:
        try:
            resp = self._client.query(
                TableName=self._schedule,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": string(keys.PRIVACY_QUEUE_PK)},
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "Query") from exc
        return [(i["shop"]["S"], i["job_id"]["S"], i["sk"]["S"]) for i in resp.get("Items", [])]

    def drop(self, entry: str) -> None:
        try:
            self._client.delete_item(TableName=self._schedule, Key=key(keys.PRIVACY_QUEUE_PK, entry))
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "DeleteItem") from exc

    # ---- audit ---------------------------------------------------------------------------------------

    def audit(self, entry: AuditEntry) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **key(
                        keys.audit_pk(entry.shop, entry.at.strftime("%Y-%m")), keys.audit_sk(entry.at, entry.entry_id)
                    ),
                    "action": string(entry.action),
                    "actor": string(entry.actor),
                    "subject": string(entry.subject),
                    "detail": string(json.dumps(entry.detail, sort_keys=True)),
                    "at": string(entry.at.isoformat()),
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "PutItem") from exc

    def audit_log(self, shop: str, month: str, limit: int) -> list[AuditEntry]:
        try:
            resp = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": string(keys.audit_pk(shop, month))},
                ScanIndexForward=False,
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "Query") from exc
        return [
            AuditEntry(
                entry_id=i["sk"]["S"].rsplit("#", 1)[1],
                shop=shop,
                at=datetime.fromisoformat(i["at"]["S"]),
                action=i["action"]["S"],
                actor=i["actor"]["S"],
                subject=i["subject"]["S"],
                detail=json.loads(i["detail"]["S"]),
            )
            for i in resp.get("Items", [])
        ]


def _listings(shop: str, derived: HeldItem) -> Iterable[Listing]:
    """The member list entries of a profile (they hold its email in their key), from its derived state: the
    sort key written per segment, and entries of merged-away profiles the survivor has still to delete."""
    doc = derived.data["doc"]
    pid = str(doc.get("profile_id") or keys.profile_id_of(derived.pk))
    for sk, segments in (doc.get("member_keys") or {}).items():
        if sk and isinstance(segments, dict):  # under '': entries not written yet
            for segment in segments:
                yield Listing(shop, str(segment), pid, str(sk))
    for stale in doc.get("stale_member_keys") or []:
        if isinstance(stale, dict) and stale.get("sk") and stale.get("segment") and stale.get("profile_id"):
            yield Listing(shop, str(stale["segment"]), str(stale["profile_id"]), str(stale["sk"]))


def _counter_updates(table: str, shop: str, deltas: Mapping[str, Mapping[str, int]]) -> list[dict[str, Any]]:
    by_shard: dict[int, dict[str, int]] = {}
    for profile_id, segments in deltas.items():
        shard = by_shard.setdefault(counter_shard(profile_id), {})
        for segment, delta in segments.items():
            shard[segment] = shard.get(segment, 0) + delta
    updates = []
    for shard, segments in sorted(by_shard.items()):
        names = {f"#s{i}": f"seg_{seg}" for i, seg in enumerate(segments)}
        values = {f":d{i}": number(d) for i, d in enumerate(segments.values())}
        updates.append(
            {
                "TableName": table,
                "Key": key(keys.counter_pk(shop, shard), keys.SIZES_SK),
                "UpdateExpression": "ADD " + ", ".join(f"{n} {v}" for n, v in zip(names, values, strict=True)),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        )
    return updates


def _classify(shop: str, item: dict[str, Any]) -> str:
    """The item type of an item a shop scan found."""
    pk, sk = item["pk"]["S"], item["sk"]["S"]
    if pk.startswith(keys.profile_pk(shop, "")):
        return _partition_kind(sk)
    if pk.startswith(keys.deferral_pk("")):
        return keys.DEFERRAL.name
    if pk.startswith(keys.timer_pk(0)[:-1]):
        return keys.TIMER.name
    if pk.startswith(keys.pool_pk(shop, "")):  # a pool's codes, its claims and its counter
        if sk.startswith(keys.POOL_CODE_PREFIX):
            return keys.POOL_CODE.name
        if sk.startswith(keys.POOL_USED_PREFIX):
            return keys.POOL_USED.name
        return (keys.POOL_CLAIM if sk.startswith(keys.POOL_CLAIM_PREFIX) else keys.POOL_META).name
    if pk == keys.stats_pk(shop):  # the counters item and, under the same key, the histogram's cells
        return (keys.SHOP_STATS if sk == keys.STATS_SK else keys.SHOP_STATS_CELL).name
    for builder, item_type in (
        (keys.alias_pk(shop, "", "")[:-1], keys.ALIAS),
        (keys.event_pk(shop, ""), keys.IDEMPOTENCY),
        (keys.link_pk(shop, ""), keys.LINK),
        (keys.coupon_pk(shop, ""), keys.COUPON),
        (keys.counter_pk(shop, 0)[:-1], keys.SEGMENT_SIZES),
        (keys.members_prefix(shop), keys.SEGMENT_MEMBER),
        (keys.suppression_pk(shop, ""), keys.SUPPRESSION),
        (keys.erased_ids_pk(shop, 0)[:-2], keys.ERASED_IDS),
        (keys.product_pk(shop, ""), keys.PRODUCT),
        (keys.model_pk(shop), keys.MODEL_LIST),
        (keys.prior_pk(shop), keys.PRIOR),
        (keys.snapshot_pk(shop), keys.ANALYTICS_SNAPSHOT),
        (keys.analytics_pk(shop, "", "")[:-2], keys.ANALYTICS_COUNTERS),
    ):
        if pk.startswith(builder):
            return item_type.name
    return "other"


class S3Exports:
    """Data requests' exports in the exports bucket, as ``<shop>/<owner>/<job id>.json``: the owner is a
    hash standing for the customer (``_`` for a request that found nobody), so that an erasure deletes a
    customer's exports by prefix and no name names them; objects expire after EXPORTS_BUCKET.expire_days."""

    NOBODY = "_"

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, shop: str, job_id: str, document: dict[str, Any], owner: str | None) -> str:
        key_ = f"{shop}/{owner or self.NOBODY}/{job_id}.json"
        try:
            self._client.put_object(
                Bucket=self._bucket,
                Key=key_,
                Body=json.dumps(document, sort_keys=True, default=str).encode(),
                ContentType="application/json",
            )
        except (ClientError, BotoCoreError) as exc:
            raise TransientError(f"S3 PutObject failed: {type(exc).__name__}") from exc
        return f"s3://{self._bucket}/{key_}"

    def get(self, location: str) -> dict[str, Any] | None:
        bucket, _, key_ = location.removeprefix("s3://").partition("/")
        if bucket != self._bucket or not key_:
            return None
        try:
            body = self._client.get_object(Bucket=bucket, Key=key_)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise TransientError(f"S3 GetObject failed: {type(exc).__name__}") from exc
        except BotoCoreError as exc:
            raise TransientError(f"S3 GetObject failed: {type(exc).__name__}") from exc
        return json.loads(body)

    def delete(self, shop: str, owners: Sequence[str] | None) -> int:
        prefixes = [f"{shop}/"] if owners is None else [f"{shop}/{owner}/" for owner in owners]
        deleted = 0
        try:
            for prefix in prefixes:
                for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
                    objects = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                    if objects:
                        self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": objects, "Quiet": True})
                        deleted += len(objects)
        except (ClientError, BotoCoreError) as exc:
            raise TransientError(f"S3 delete of exports failed: {type(exc).__name__}") from exc
        return deleted


class WebhookNotifier:
    """POSTs a notification to the shop's privacy.notify_url, signed like Emma's webhook deliveries
    (X-Emma-Signature: sha256=HMAC(signing secret, "<timestamp>.<body>"), X-Emma-Timestamp)."""

    def __init__(self, timeout: float = 5.0, opener: Any = None) -> None:
        self._timeout = timeout
        self._open = opener or urllib.request.urlopen

    def notify(self, shop: ShopConfig, payload: dict[str, Any]) -> None:
        url = shop.privacy.notify_url
        if not url:
            return
        body = json.dumps(payload, sort_keys=True).encode()
        headers = {"Content-Type": "application/json"}
        if shop.signing_secret:
            headers.update(signed_headers(shop.signing_secret, body))
        else:
            headers["X-Emma-Timestamp"] = str(int(time.time()))
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 - https only
        try:
            with self._open(request, timeout=self._timeout):
                return
        except urllib.error.HTTPError as exc:
            raise TransientError(f"the shop's privacy notify_url answered {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise TransientError(f"the shop's privacy notify_url is unreachable: {type(exc).__name__}") from exc


class SuppressionCheck:
    """Ingest's question: does an address belong to an erased customer? (emma.ingest.ports.Suppressions)"""

    def __init__(self, store: DynamoPrivacyStore, shops: ShopDirectory) -> None:
        self._store = store
        self._shops = shops

    def suppressed(self, shop: str, emails: Sequence[str], phones: Sequence[str]) -> bool:
        salt = privacy_salt(self._shops.get(shop))
        if salt is None:
            return False
        hashes = address_hashes(salt, emails, phones)
        return bool(hashes) and bool(self._store.suppressed(shop, sorted(hashes)))

    def erased_addresses(self, shop: str, emails: Sequence[str], phones: Sequence[str]) -> set[str]:
        salt = privacy_salt(self._shops.get(shop))
        if salt is None:
            return set()
        by_hash = {next(iter(address_hashes(salt, [e], []))): e for e in emails if e}
        by_hash |= {next(iter(address_hashes(salt, [], [p]))): p for p in phones if p}
        return {by_hash[h] for h in self._store.suppressed(shop, sorted(by_hash))} if by_hash else set()
