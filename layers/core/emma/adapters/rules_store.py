"""DynamoDB store of the rules function: derived state, input markers, segment size counters and member
lists, the shop's prediction counters and prior (profiles table, beside ingest's items, never touching
them), and due timers and the scheduler's cursor (schedule table). Every key comes from
emma.adapters.keys; the items are described in docs/data-model.md.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emma.adapters import keys
from emma.adapters.ddb import RETRYABLE_CONFLICTS, Table, key, number, string, wrap_error
from emma.adapters.limits import check_transaction
from emma.ingest.ports import CommitConflict
from emma.profiles.model import Profile
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
            key(keys.profile_pk(shop, profile_id), keys.marker_sk(marker_id)),
        ]
        items = {(i["pk"]["S"], i["sk"]["S"]): i for i in self._batch_get(wanted)}
        marker = self._marker(items.get((keys.profile_pk(shop, profile_id), keys.marker_sk(marker_id))))
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
        profile = None if item is None else Profile.model_validate_json(item["doc"]["S"])
        derived = self._derived(items.get((keys.profile_pk(shop, pid), keys.DERIVED_SK)), pid)
        retired: list[Derived] = []
        pending = [p for p in (profile.merged_from if profile else []) if p not in derived.absorbed]
        if pending:
            for got in self._batch_get([key(keys.profile_pk(shop, p), keys.DERIVED_SK) for p in pending]):
                loser = self._derived(got, keys.profile_id_of(got["pk"]["S"]))
                if not loser.retired:
                    retired.append(loser)
        return Loaded(profile, derived, marker, retired)

    def load_many(self, shop, inputs):
        """The profile, derived state and marker of every input in one BatchGetItem per 33 inputs; profiles
        merged away or with merged-away states not yet retired are left out (``load`` follows those)."""
        wanted = []
        for pid, marker_id in inputs:
            pk = keys.profile_pk(shop, pid)
            wanted += [key(pk, keys.PROFILE_SK), key(pk, keys.DERIVED_SK), key(pk, keys.marker_sk(marker_id))]
        items = {(i["pk"]["S"], i["sk"]["S"]): i for i in self._batch_get(wanted)} if wanted else {}
        out = {}
        for pid, marker_id in inputs:
            pk = keys.profile_pk(shop, pid)
            item = items.get((pk, keys.PROFILE_SK))
            if item is None or "merged_into" in item:
                continue
            profile = Profile.model_validate_json(item["doc"]["S"])
            derived = self._derived(items.get((pk, keys.DERIVED_SK)), pid)
            if [p for p in profile.merged_from if p not in derived.absorbed]:
                continue
            out[pid] = Loaded(profile, derived, self._marker(items.get((pk, keys.marker_sk(marker_id)))), [])
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

    @staticmethod
    def _derived(item: dict[str, Any] | None, profile_id: str) -> Derived:
        if item is None:
            return Derived(profile_id=profile_id)
        return Derived.model_validate_json(item["doc"]["S"])

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
        return None if item is None else Derived.model_validate_json(item["doc"]["S"])

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
        """One query per shard, whatever the time since the last run: the sort key starts with the
        due time. Timers due before ``since`` that are still there (a failed run) are included."""
        timers: list[Timer] = []
        for shard in range(SHARDS):
            for item in self._query_schedule(keys.timer_pk(shard), now):
                timers.append(
                    Timer(
                        shop=item["shop"]["S"],
                        profile_id=item["profile_id"]["S"],
                        kind=item["kind"]["S"],
                        due_at=datetime.fromisoformat(item["due_at"]["S"]),
                        trigger_id=item["trigger_id"]["S"],
                        armed_at=datetime.fromisoformat(item["armed_at"]["S"]) if item.get("armed_at") else None,
                    )
                )
        return timers

    def _query_schedule(self, pk: str, now: datetime) -> list[dict[str, Any]]:
        return self._query_all(
            TableName=self._schedule,
            KeyConditionExpression="pk = :pk AND sk <= :now",
            ExpressionAttributeValues={":pk": string(pk), ":now": string(keys.due_until(now))},
        )

    def cursor(self):
        try:
            item = self._client.get_item(
                TableName=self._schedule, ConsistentRead=True, Key=key(keys.CURSOR_PK, keys.CURSOR_SK)
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "GetItem") from exc
        return None if item is None else datetime.fromisoformat(item["at"]["S"])

    # ---- writes ----------------------------------------------------------------------------

    def commit(self, commit: RulesCommit) -> None:
        items = self.transaction(commit)
        check_transaction(items)  # the service cuts member list changes to fit; a commit that does not is a fault
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
                if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                    raise CommitConflict(duplicates=[commit.marker_id]) from exc
                raise CommitConflict(stale=True) from exc
            if exc.response.get("Error", {}).get("Code") in RETRYABLE_CONFLICTS:
                raise CommitConflict(stale=True) from exc
            raise wrap_error(exc, "TransactWriteItems") from exc
        except BotoCoreError as exc:
            raise wrap_error(exc, "TransactWriteItems") from exc

    def transaction(self, commit: RulesCommit) -> list[dict[str, Any]]:
        """The TransactWriteItems of a commit, ``commit.items()`` of them (the in-memory twin checks them too)."""
        shop = commit.shop
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._derived_item(shop, commit.profile_id, commit.derived),
                    **self._version_condition(commit.expected_version),
                }
            },
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
            },
        ]
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
        for timer in commit.timers:
            items.append({"Put": {"TableName": self._schedule, "Item": self._timer_item(timer)}})
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
        return {
            **key(keys.profile_pk(shop, profile_id), keys.DERIVED_SK),
            "version": number(derived.version),
            "doc": string(derived.model_dump_json()),
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

    def delete_timers(self, timers: Sequence[Timer]) -> None:
        self._batch_write(
            [{"DeleteRequest": {"Key": key(keys.timer_pk(t.shard), keys.timer_sk(t))}} for t in timers], self._schedule
        )

    def set_cursor(self, at):
        try:
            self._client.put_item(
                TableName=self._schedule, Item={**key(keys.CURSOR_PK, keys.CURSOR_SK), "at": string(at.isoformat())}
            )
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "PutItem") from exc
