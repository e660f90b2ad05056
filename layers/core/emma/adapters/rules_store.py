"""DynamoDB store of the rules function: derived state, input markers, segment size counters and member
lists, the shop's prediction counters and prior (profiles table, beside ingest's items, never touching
them), and due timers and the scheduler's cursor (schedule table). Every key comes from
emma.adapters.keys; the items are described in docs/data-model.md.
"""

from __future__ import annotations

import heapq
import json
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emma.adapters import keys
from emma.adapters.ddb import RETRYABLE_CONFLICTS, Table, conditional_failed, key, number, string, wrap_error
from emma.adapters.dynamodb import profile_of
from emma.adapters.limits import check_transaction
from emma.ingest.ports import CommitConflict
from emma.rules.state import (
    COUNTER_SHARDS,
    MAX_MEMBERS_PAGE,
    MEMBER_SHARDS,
    SHARDS,
    Derived,
    Listing,
    Loaded,
    RulesCommit,
    Timer,
    counter_shard,
    member_search,
    members_after,
    members_cursor,
)

_LAST_CHARACTER = "\U0010ffff"  # sorts after every character: the upper bound of a prefix range
_OLD_CURSOR_LOOKBACK = timedelta(days=2)  # emma.rules.service.GIVE_UP_AFTER, the longest a failing timer was kept
# DERIVED items hold their JSON deflated with this preset dictionary (the field names and the shape of a derived
# state and of the rules' events; no data): about 1.4 KB of JSON becomes about 330 bytes, where zlib alone makes
# about 630. Stored items depend on it: never change it (a new one would be chosen by the dictionary id zlib
# writes in each stream).
_ZDICT = (
    b'{"schema_version":"1","id":"r-0123456789abcdef0123456789abcdef","shop":"","occurred_at":"2026-01'
    b'-01T00:00:00Z","received_at":"2026-01-01T00:00:00Z","source":{"kind":"emma","name":"rules","deli'
    b'very_id":null},"customer":{"customer_id":null,"email":null,"anonymous_id":null,"phone":null,"pro'
    b'file_id":"","invalid":null},"context":{},"extra":{},"repeat":false,"type":"segment.left","proper'
    b'ties":{"segment":"","kind":null,"cause_event_id":null}}{"schema_version":"1","id":"r-0123456789a'
    b'bcdef0123456789abcdef","shop":"","occurred_at":"2026-01-01T00:00:00Z","received_at":"2026-01-01T'
    b'00:00:00Z","source":{"kind":"emma","name":"rules","delivery_id":null},"customer":{"customer_id":'
    b'null,"email":null,"anonymous_id":null,"phone":null,"profile_id":"","invalid":null},"context":{},'
    b'"extra":{},"repeat":false,"type":"lifecycle.changed","properties":{"stage":"stage-","previous":"'
    b'stage-","cause_event_id":null}}{"schema_version":"1","id":"r-0123456789abcdef0123456789abcdef","'
    b'shop":"","occurred_at":"2026-01-01T00:00:00Z","received_at":"2026-01-01T00:00:00Z","source":{"ki'
    b'nd":"emma","name":"rules","delivery_id":null},"customer":{"customer_id":null,"email":null,"anony'
    b'mous_id":null,"phone":null,"profile_id":"","invalid":null},"context":{},"extra":{},"repeat":fals'
    b'e,"type":"trigger.fired","properties":{"trigger":"","cause_event_id":"","cause_event_type":null,'
    b'"kind":"absence","armed_at":null}}{"schema_version":"1","id":"r-0123456789abcdef0123456789abcdef'
    b'","shop":"","occurred_at":"2026-01-01T00:00:00Z","received_at":"2026-01-01T00:00:00Z","source":{'
    b'"kind":"emma","name":"rules","delivery_id":null},"customer":{"customer_id":null,"email":null,"an'
    b'onymous_id":null,"phone":null,"profile_id":"","invalid":null},"context":{},"extra":{},"repeat":f'
    b'alse,"type":"segment.entered","properties":{"segment":"","kind":"lifecycle","cause_event_id":nul'
    b'l}}{"profile_id":"","version":1,"retired":false,"absorbed":[],"segments":["stage-"],"lifecycle_s'
    b'tage":"stage-","loyalty_tier":"tier-","rfm":{"r":5,"f":1,"m":1,"score":511},"predictions":{"mode'
    b'l":"mbg-nbd-gamma-gamma/2","scored_at":"2026-01-01T00:00:00.000000Z","insufficient_data":false,"'
    b'churn_risk":0.1,"p_alive":0.9,"expected_next_order_at":"2026-01-01T00:00:00.000000Z","p_buy_with'
    b'in_horizon":0.1,"horizon_days":30.0,"p_buy_30d":0.1,"p_buy_90d":0.1,"expected_purchases_12m":1.0'
    b',"expected_order_value":100.0,"clv_12m":100.0,"would_buy_without_incentive":false,"incentive_met'
    b'hod":"propensity","intervals_used":0,"days_since_last_order":1.0},"triggers":{"":{"last_fired_at'
    b'":"2026-01-01T00:00:00.000000Z","count":1}},"arms":{"":{"armed_at":"2026-01-01T00:00:00.000000Z"'
    b',"due_at":"2026-01-01T00:00:00.000000Z","event_id":""}},"next_review_at":"2026-01-01T00:00:00Z",'
    b'"updated_at":"2026-01-01T00:00:00.000000Z","purchases":{"first":"2026-01-01T00:00:00Z","last":"2'
    b'026-01-01T00:00:00Z","repeats":1,"first_value":1.0,"repeat_value":1.0},"order_times":[],"member_'
    b'keys":{"@":{"":1700000000}},"stale_member_keys":[]}'
)


def deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zdict=_ZDICT)
    return packer.compress(data) + packer.flush()


def inflate(data: bytes) -> bytes:
    """What ``deflate`` packed; plain zlib data too."""
    unpacker = zlib.decompressobj(zdict=_ZDICT)
    return unpacker.decompress(data) + unpacker.flush()


def derived_of(item: dict[str, Any] | None, profile_id: str = "") -> Derived:
    """The derived state in a DERIVED item, compressed (``doc`` binary: zlib of the JSON) or as written before
    (``doc`` a JSON string); an empty one (version 0) for no item. Every reader of DERIVED items reads it here."""
    if item is None:
        return Derived(profile_id=profile_id)
    doc = item["doc"]
    return Derived.model_validate_json(inflate(doc["B"]) if "B" in doc else doc["S"])


def _time(value: dict[str, str] | None) -> datetime | None:
    return datetime.fromisoformat(value["S"]) if value else None


def _compress(value: Any) -> bytes:
    return deflate(json.dumps(value, separators=(",", ":")).encode())


def pending_of(item: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The outbox kept on a DERIVED item until published (events as JSON), if any."""
    if item is None or "outbox" not in item:
        return []
    return json.loads(inflate(item["outbox"]["B"]))


class DynamoRulesStore(Table):
    def __init__(self, client: Any, profiles_table: str, schedule_table: str = "", **kwargs: Any) -> None:
        """``schedule_table`` may be empty for read-only use (segment sizes in the ingest API)."""
        super().__init__(client, profiles_table, **kwargs)
        self._schedule = schedule_table

    # ---- reads -----------------------------------------------------------------------------

    def load(self, shop, profile_id, marker_id):
        wanted = [
            key(keys.profile_pk(shop, profile_id), keys.PROFILE_SK),
            key(keys.profile_pk(shop, profile_id), keys.DERIVED_SK),
        ]
        if marker_id:  # an event's; a timer's evaluation has none
            wanted.append(key(keys.profile_pk(shop, profile_id), keys.marker_sk(marker_id)))
        items = {(i["pk"]["S"], i["sk"]["S"]): i for i in self._batch_get(wanted)}
        mine = keys.profile_pk(shop, profile_id)
        marker = self._marker(items.get((mine, keys.marker_sk(marker_id)))) if marker_id else None
        pid = profile_id
        for _ in range(5):  # follow merges to the live profile
            item = items.get((keys.profile_pk(shop, pid), keys.PROFILE_SK))
            if item is None or "merged_into" not in item:
                break
            pid = item["merged_into"]["S"]
            items.update(
                {
                    (i["pk"]["S"], i["sk"]["S"]): i
                    for i in self._batch_get(
                        [
                            key(keys.profile_pk(shop, pid), keys.PROFILE_SK),
                            key(keys.profile_pk(shop, pid), keys.DERIVED_SK),
                        ]
                    )
                }
            )
        item = items.get((keys.profile_pk(shop, pid), keys.PROFILE_SK))
        profile = None if item is None else profile_of(item)
        derived_item = items.get((keys.profile_pk(shop, pid), keys.DERIVED_SK))
        derived = derived_of(derived_item, pid)
        retired: list[Derived] = []
        pending = pending_of(derived_item)
        unretired = [p for p in (profile.merged_from if profile else []) if p not in derived.absorbed]
        if unretired:
            for got in self._batch_get([key(keys.profile_pk(shop, p), keys.DERIVED_SK) for p in unretired]):
                loser = derived_of(got, keys.profile_id_of(got["pk"]["S"]))
                if not loser.retired:
                    retired.append(loser)
                    pending += pending_of(got)  # published before it is retired (which drops it)
        return Loaded(profile, derived, marker, retired, pending)

    def load_many(self, shop, inputs):
        """The profile, derived state and marker of every input in one BatchGetItem per 33 inputs; profiles
        merged away or with merged-away states not yet retired are left out (``load`` follows those)."""
        wanted = []
        for pid, marker_id in inputs:
            pk = keys.profile_pk(shop, pid)
            wanted += [key(pk, keys.PROFILE_SK), key(pk, keys.DERIVED_SK)]
            wanted += [key(pk, keys.marker_sk(marker_id))] if marker_id else []
        items = {(i["pk"]["S"], i["sk"]["S"]): i for i in self._batch_get(wanted)} if wanted else {}
        out = {}
        for pid, marker_id in inputs:
            pk = keys.profile_pk(shop, pid)
            item = items.get((pk, keys.PROFILE_SK))
            if item is None or "merged_into" in item:
                continue
            profile = profile_of(item)
            derived_item = items.get((pk, keys.DERIVED_SK))
            derived = derived_of(derived_item, pid)
            if [p for p in profile.merged_from if p not in derived.absorbed]:
                continue
            marker = self._marker(items.get((pk, keys.marker_sk(marker_id)))) if marker_id else None
            out[pid] = Loaded(profile, derived, marker, [], pending_of(derived_item))
        return out

    @staticmethod
    def _marker(item: dict[str, Any] | None) -> dict[str, Any] | None:
        """A rules marker as ``Loaded.marker`` holds it (None: the input was not evaluated yet)."""
        if item is None:
            return None
        return {
            "published": item.get("published", {}).get("BOOL", False),
            "outbox": json.loads(item.get("outbox", {}).get("S", "[]")),
        }

    def segment_sizes(self, shop):
        """One BatchGetItem over the counter shards of the shop."""
        wanted = [key(keys.counter_pk(shop, n), keys.SIZES_SK) for n in range(COUNTER_SHARDS)]
        sizes: dict[str, int] = {}
        for item in self._batch_get(wanted):
            for name, value in item.items():
                if name.startswith("seg_"):
                    sizes[name[4:]] = sizes.get(name[4:], 0) + int(value["N"])
        return {k: max(0, v) for k, v in sorted(sizes.items())}

    def segment_members(
        self, shop: str, segment: str, query: str | None, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of a segment's member list, sorted by the entries' sort key (email, else customer id, else
        profile id): one Query per shard, each for at most ``limit`` entries after the cursor (with ``query``:
        whose sort key starts with it, lower-cased), merged. Eventually consistent reads."""
        limit = max(1, min(limit, MAX_MEMBERS_PAGE))
        prefix = member_search(query)
        after = members_after(cursor) if cursor else None
        found: list[list[dict[str, Any]]] = []
        more = False
        for shard in range(MEMBER_SHARDS):
            items, truncated = self._members_shard(keys.member_pk(shop, segment, shard), prefix, after, limit)
            found.append(items)
            more = more or truncated
        merged = list(heapq.merge(*found, key=lambda i: i["sk"]["S"]))
        page = merged[:limit]
        more = more or len(merged) > limit
        members = [
            {
                "profile_id": i["profile_id"]["S"],
                "email": i["email"]["S"] if "email" in i else None,
                "customer_id": i["customer_id"]["S"] if "customer_id" in i else None,
                "since": i["since"]["S"] if "since" in i else None,
            }
            for i in page
        ]
        return members, (members_cursor(page[-1]["sk"]["S"]) if more and page else None)

    def _members_shard(self, pk: str, prefix: str, after: str | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` entries of one shard after ``after`` and starting with ``prefix``; True if the
        shard may hold more."""
        values: dict[str, Any] = {":pk": string(pk)}
        condition = "pk = :pk"
        inclusive = False
        if prefix and after is not None:
            if after >= prefix + _LAST_CHARACTER:
                return [], False
            condition += " AND sk BETWEEN :lo AND :hi"  # BETWEEN is inclusive: the cursor's own entry is dropped
            values[":lo"], values[":hi"] = string(max(prefix, after)), string(prefix + _LAST_CHARACTER)
            inclusive = after >= prefix
        elif prefix:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = string(prefix)
        elif after is not None:
            condition += " AND sk > :after"
            values[":after"] = string(after)
        try:
            resp = self._client.query(
                TableName=self._table,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
                Limit=limit + inclusive,
            )
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "Query") from exc
        items = resp.get("Items", [])
        if inclusive:
            items = [i for i in items if i["sk"]["S"] != after][:limit]
        return items, "LastEvaluatedKey" in resp

    def derived(self, shop: str, profile_id: str) -> Derived | None:
        item = self._get(keys.profile_pk(shop, profile_id), keys.DERIVED_SK)
        return None if item is None else derived_of(item, profile_id)

    def shop_stats(self, shop):
        """The counters item and the histogram cells' items (one Query), flattened back into the names of
        ``emma.predict.prior.contribution``."""
        out: dict[str, Decimal] = {}
        items = self._query_all(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": string(keys.stats_pk(shop))},
            ConsistentRead=True,
        )
        for item in items:
            sk = item["sk"]["S"]
            for attr, value in item.items():
                if "N" in value:
                    out[keys.stats_name(sk, attr)] = Decimal(value["N"])
        return out

    def prior(self, shop):
        item = self._get(keys.prior_pk(shop), keys.PRIOR_SK)
        if item is None:
            return None
        return json.loads(item["doc"]["S"]), datetime.fromisoformat(item["fitted_at"]["S"])

    def put_prior(self, shop, prior, fitted_at):
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **key(keys.prior_pk(shop), keys.PRIOR_SK),
                    "doc": string(json.dumps(prior)),
                    "fitted_at": string(fitted_at.isoformat()),
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "PutItem") from exc

    def due_timers(self, now, since):
        """One query per shard, whatever the time since the last run: the sort key starts with the due time, so
        the timers due in (since, now] are a range of it. Timers are not deleted once due (they expire): the
        range's lower end keeps those of earlier runs out."""
        timers: list[Timer] = []
        for shard in range(SHARDS):
            for item in self._query_schedule(keys.timer_pk(shard), since, now):
                timers.append(
                    Timer(
                        shop=item["shop"]["S"],
                        profile_id=item["profile_id"]["S"],
                        kind=item["kind"]["S"],
                        due_at=datetime.fromisoformat(item["due_at"]["S"]),
                        trigger_id=item["trigger_id"]["S"],
                        armed_at=_time(item.get("armed_at")),
                        first_due_at=_time(item.get("first_due_at")),
                        attempt=int(item["attempt"]["N"]) if "attempt" in item else 0,
                    )
                )
        return timers

    def _query_schedule(self, pk: str, since: datetime, now: datetime) -> list[dict[str, Any]]:
        return self._query_all(
            TableName=self._schedule,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :since AND :now",
            ExpressionAttributeValues={
                ":pk": string(pk),
                ":since": string(keys.due_after(since)),
                ":now": string(keys.due_until(now)),
            },
        )

    def cursor(self):
        try:
            item = self._client.get_item(
                TableName=self._schedule, ConsistentRead=True, Key=key(keys.CURSOR_PK, keys.CURSOR_SK)
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "GetItem") from exc
        if item is None:
            return None
        at = datetime.fromisoformat(item["at"]["S"])
        if "range" not in item:
            # Written by a version that deleted each timer once done and read every timer due, whatever the
            # cursor: those still there (their evaluation failed, kept for a later run, at most for
            # _OLD_CURSOR_LOOKBACK) are due before it. The first run of this version reads them too.
            return at - _OLD_CURSOR_LOOKBACK
        return at

    # ---- writes ----------------------------------------------------------------------------

    def commit(self, commit: RulesCommit) -> None:
        items = self.transaction(commit)
        check_transaction(items)  # the service cuts member list changes to fit; a commit that does not is a fault
        if len(items) == 1:  # the derived state alone: one conditional write, not a transaction (half the units)
            self._put_derived(items[0]["Put"])
            return
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
                if commit.marker_id and len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                    raise CommitConflict(duplicates=[commit.marker_id]) from exc
                raise CommitConflict(stale=True) from exc
            if exc.response.get("Error", {}).get("Code") in RETRYABLE_CONFLICTS:
                raise CommitConflict(stale=True) from exc
            raise wrap_error(exc, "TransactWriteItems") from exc
        except BotoCoreError as exc:
            raise wrap_error(exc, "TransactWriteItems") from exc

    def _put_derived(self, put: dict[str, Any]) -> None:
        try:
            self._client.put_item(**put)
        except ClientError as exc:
            if conditional_failed(exc):
                raise CommitConflict(stale=True) from exc
            raise wrap_error(exc, "PutItem") from exc
        except BotoCoreError as exc:
            raise wrap_error(exc, "PutItem") from exc

    def transaction(self, commit: RulesCommit) -> list[dict[str, Any]]:
        """The TransactWriteItems of a commit, ``commit.items()`` of them (the in-memory twin checks them too);
        a single one (the derived state alone) is written as a conditional PutItem."""
        shop = commit.shop
        derived = self._derived_item(shop, commit.profile_id, commit.derived)
        if commit.outbox and not commit.marker_id:  # kept on the derived state until published
            derived["outbox"] = {"B": _compress([e.model_dump(mode="json") for e in commit.outbox])}
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table, "Item": derived, **self._version_condition(commit.expected_version)}}
        ]
        if commit.marker_id:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "Item": {
                            **key(keys.profile_pk(shop, commit.marker_profile), keys.marker_sk(commit.marker_id)),
                            "published": {"BOOL": False},
                            "outbox": string(json.dumps([e.model_dump(mode="json") for e in commit.outbox])),
                            "expires_at": number(
                                int(
                                    (commit.derived.updated_at or datetime.now().astimezone()).timestamp()
                                    + keys.MARKER_TTL.total_seconds()
                                )
                            ),
                        },
                    }
                }
            )
        for loser in commit.retire:
            retired = loser.model_copy(update={"retired": True, "version": loser.version + 1})
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": self._derived_item(shop, loser.profile_id, retired),
                        **self._version_condition(loser.version),
                    }
                }
            )
        deltas = {k: v for k, v in commit.counter_deltas.items() if v}
        if deltas:
            names = {f"#s{i}": f"seg_{seg}" for i, seg in enumerate(deltas)}
            values = {f":d{i}": number(delta) for i, delta in enumerate(deltas.values())}
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": key(keys.counter_pk(shop, counter_shard(commit.profile_id)), keys.SIZES_SK),
                        "UpdateExpression": "ADD " + ", ".join(f"{n} {v}" for n, v in zip(names, values, strict=True)),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        by_item: dict[str, dict[str, int | float]] = {}
        for name, value in commit.stats_delta.items():
            if value:
                sk, attr = keys.stats_attribute(name)
                by_item.setdefault(sk, {})[attr] = value
        for sk, stats in sorted(by_item.items()):  # the counters item, and each histogram cell's own small item
            names = {f"#p{i}": stat for i, stat in enumerate(stats)}
            values = {f":p{i}": number(value) for i, value in enumerate(stats.values())}
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": key(keys.stats_pk(shop), sk),
                        "UpdateExpression": "ADD " + ", ".join(f"{n} {v}" for n, v in zip(names, values, strict=True)),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        new_keys = {t.key for t in commit.timers}
        for timer in commit.superseded:
            if timer.key not in new_keys:
                items.append(
                    {
                        "Delete": {
                            "TableName": self._schedule,
                            "Key": key(keys.timer_pk(timer.shard), keys.timer_sk(timer)),
                        }
                    }
                )
        for entry in commit.unlisted:  # never an entry written by the same commit (emma.rules.service)
            items.append({"Delete": {"TableName": self._table, "Key": self._member_key(entry)}})
        for entry in commit.listed:
            items.append({"Put": {"TableName": self._table, "Item": self._member_item(entry)}})
        return items

    @staticmethod
    def _member_key(entry: Listing) -> dict[str, Any]:
        return key(keys.member_pk(entry.shop, entry.segment, entry.shard), keys.member_sk(entry))

    @classmethod
    def _member_item(cls, entry: Listing) -> dict[str, Any]:
        item = {**cls._member_key(entry), "segment": string(entry.segment), "profile_id": string(entry.profile_id)}
        if entry.email:
            item["email"] = string(entry.email)
        if entry.customer_id:
            item["customer_id"] = string(entry.customer_id)
        if entry.since is not None:
            item["since"] = string(entry.since.isoformat())
        return item

    def _derived_item(self, shop: str, profile_id: str, derived: Derived) -> dict[str, Any]:
        """``doc`` is the JSON deflated (``deflate``: 1.4 KB to about a quarter, one write unit where it took two);
        ``derived_of`` reads both forms."""
        return {
            **key(keys.profile_pk(shop, profile_id), keys.DERIVED_SK),
            "version": number(derived.version),
            "doc": {"B": deflate(derived.model_dump_json().encode())},
        }

    @staticmethod
    def _version_condition(expected: int) -> dict[str, Any]:
        if expected == 0:
            return {"ConditionExpression": "attribute_not_exists(pk)"}
        return {"ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": number(expected)}}

    @staticmethod
    def _timer_item(timer: Timer) -> dict[str, Any]:
        item = {
            **key(keys.timer_pk(timer.shard), keys.timer_sk(timer)),
            "shop": string(timer.shop),
            "profile_id": string(timer.profile_id),
            "kind": string(timer.kind),
            "due_at": string(timer.due_at.isoformat()),
            "trigger_id": string(timer.trigger_id),
            "expires_at": number(int((timer.due_at + keys.TIMER_TTL).timestamp())),
        }
        if timer.armed_at is not None:
            item["armed_at"] = string(timer.armed_at.isoformat())
        if timer.first_due_at is not None:
            item["first_due_at"] = string(timer.first_due_at.isoformat())
            item["attempt"] = number(timer.attempt)
        return item

    def mark_published(self, shop, profile_id, marker_id):
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key(keys.profile_pk(shop, profile_id), keys.marker_sk(marker_id)),
                UpdateExpression="SET published = :t, outbox = :e",
                ExpressionAttributeValues={":t": {"BOOL": True}, ":e": string("[]")},
            )
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "UpdateItem") from exc

    def published(self, shop, profile_id, version):
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key(keys.profile_pk(shop, profile_id), keys.DERIVED_SK),
                UpdateExpression="REMOVE outbox",
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":v": number(version)},
            )
        except ClientError as exc:
            if conditional_failed(exc):
                return  # written again since: whoever wrote it published this outbox first
            raise wrap_error(exc, "UpdateItem") from exc
        except BotoCoreError as exc:
            raise wrap_error(exc, "UpdateItem") from exc

    def put_timers(self, timers: Sequence[Timer]) -> None:
        unique = {t.key: t for t in timers}  # a batch may not name an item twice
        self._batch_write([{"PutRequest": {"Item": self._timer_item(t)}} for t in unique.values()], self._schedule)

    def set_cursor(self, at):
        try:
            self._client.put_item(
                TableName=self._schedule,
                Item={**key(keys.CURSOR_PK, keys.CURSOR_SK), "at": string(at.isoformat()), "range": {"BOOL": True}},
            )
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "PutItem") from exc
