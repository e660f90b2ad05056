"""DynamoDB store of the rules function.

Profiles table (beside ingest's items, never touching them):
    pk = S#<shop>#P#<profile id>    sk = DERIVED   segments, lifecycle, RFM, predictions, trigger state, arms
    pk = S#<shop>#RM#<marker>       sk = MARK      an input (event or timer) evaluated; its outbox; TTL 14 days
    pk = S#<shop>#SEGSIZE#<0..7>    sk = SIZES     segment size counters, one attribute per segment, sharded
Schedule table:
    pk = DUE#<0..15>                    sk = <timer key>    a due timer (the key starts with the due time);
                                                            TTL 30 days after due
    pk = CURSOR                         sk = CURSOR         up to when the scheduled job has looked
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emma.adapters.dynamodb import PROFILE_SK, _n, _s, _Table, _wrap, profile_pk
from emma.ports import CommitConflict
from emma.profiles.model import Profile
from emma.rules.state import (
    COUNTER_SHARDS,
    SHARDS,
    Derived,
    Loaded,
    RulesCommit,
    Timer,
    counter_shard,
    stamp,
)

MARKER_TTL = timedelta(days=14)  # SQS keeps a message at most 14 days: no re-delivery after that
TIMER_TTL = timedelta(days=30)


def _marker_pk(shop: str, marker_id: str) -> str:
    return f"S#{shop}#RM#{marker_id}"


def _counter_pk(shop: str, shard: int) -> str:
    return f"S#{shop}#SEGSIZE#{shard}"


class DynamoRulesStore(_Table):
    def __init__(self, client: Any, profiles_table: str, schedule_table: str = "", **kwargs: Any) -> None:
        """``schedule_table`` may be empty for read-only use (segment sizes in the ingest API)."""
        super().__init__(client, profiles_table, **kwargs)
        self._schedule = schedule_table

    # ---- reads -----------------------------------------------------------------------------

    def load(self, shop, profile_id, marker_id):
        keys = [
            {"pk": _s(profile_pk(shop, profile_id)), "sk": _s(PROFILE_SK)},
            {"pk": _s(profile_pk(shop, profile_id)), "sk": _s("DERIVED")},
            {"pk": _s(_marker_pk(shop, marker_id)), "sk": _s("MARK")},
        ]
        items = {(i["pk"]["S"], i["sk"]["S"]): i for i in self._batch_get(keys)}
        mark = items.get((_marker_pk(shop, marker_id), "MARK"))
        marker = (
            None
            if mark is None
            else {
                "published": mark.get("published", {}).get("BOOL", False),
                "outbox": json.loads(mark.get("outbox", {}).get("S", "[]")),
            }
        )
        pid = profile_id
        for _ in range(5):  # follow merges to the live profile
            item = items.get((profile_pk(shop, pid), PROFILE_SK))
            if item is None or "merged_into" not in item:
                break
            pid = item["merged_into"]["S"]
            items.update(
                {
                    (i["pk"]["S"], i["sk"]["S"]): i
                    for i in self._batch_get(
                        [
                            {"pk": _s(profile_pk(shop, pid)), "sk": _s(PROFILE_SK)},
                            {"pk": _s(profile_pk(shop, pid)), "sk": _s("DERIVED")},
                        ]
                    )
                }
            )
        item = items.get((profile_pk(shop, pid), PROFILE_SK))
        profile = None if item is None else Profile.model_validate_json(item["doc"]["S"])
        derived = self._derived(items.get((profile_pk(shop, pid), "DERIVED")), pid)
        retired: list[Derived] = []
        pending = [p for p in (profile.merged_from if profile else []) if p not in derived.absorbed]
        if pending:
            for got in self._batch_get([{"pk": _s(profile_pk(shop, p)), "sk": _s("DERIVED")} for p in pending]):
                loser = self._derived(got, got["pk"]["S"].rsplit("#P#", 1)[1])
                if not loser.retired:
                    retired.append(loser)
        return Loaded(profile, derived, marker, retired)

    @staticmethod
    def _derived(item: dict[str, Any] | None, profile_id: str) -> Derived:
        if item is None:
            return Derived(profile_id=profile_id)
        return Derived.model_validate_json(item["doc"]["S"])

    def segment_sizes(self, shop):
        """One BatchGetItem over the counter shards of the shop."""
        keys = [{"pk": _s(_counter_pk(shop, n)), "sk": _s("SIZES")} for n in range(COUNTER_SHARDS)]
        sizes: dict[str, int] = {}
        for item in self._batch_get(keys):
            for name, value in item.items():
                if name.startswith("seg_"):
                    sizes[name[4:]] = sizes.get(name[4:], 0) + int(value["N"])
        return {k: max(0, v) for k, v in sorted(sizes.items())}

    def derived(self, shop: str, profile_id: str) -> Derived | None:
        item = self._get(profile_pk(shop, profile_id), "DERIVED")
        return None if item is None else Derived.model_validate_json(item["doc"]["S"])

    def shop_stats(self, shop):
        item = self._get(f"S#{shop}#PSTATS", "STATS") or {}
        return {k: Decimal(v["N"]) for k, v in item.items() if "N" in v}

    def prior(self, shop):
        item = self._get(f"S#{shop}#PRIOR", "PRIOR")
        if item is None:
            return None
        return json.loads(item["doc"]["S"]), datetime.fromisoformat(item["fitted_at"]["S"])

    def put_prior(self, shop, prior, fitted_at):
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": _s(f"S#{shop}#PRIOR"),
                    "sk": _s("PRIOR"),
                    "doc": _s(json.dumps(prior)),
                    "fitted_at": _s(fitted_at.isoformat()),
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise _wrap(exc, "PutItem") from exc

    def due_timers(self, now, since):
        """One query per shard, whatever the time since the last run: the sort key starts with the
        due time. Timers due before ``since`` that are still there (a failed run) are included."""
        timers: list[Timer] = []
        for shard in range(SHARDS):
            for item in self._query_schedule(f"DUE#{shard}", now):
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
            ExpressionAttributeValues={":pk": _s(pk), ":now": _s(stamp(now) + "~")},
        )

    def cursor(self):
        try:
            item = self._client.get_item(
                TableName=self._schedule, ConsistentRead=True, Key={"pk": _s("CURSOR"), "sk": _s("CURSOR")}
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise _wrap(exc, "GetItem") from exc
        return None if item is None else datetime.fromisoformat(item["at"]["S"])

    # ---- writes ----------------------------------------------------------------------------

    def commit(self, commit: RulesCommit) -> None:
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
                        "pk": _s(_marker_pk(shop, commit.marker_id)),
                        "sk": _s("MARK"),
                        "published": {"BOOL": False},
                        "outbox": _s(json.dumps([e.model_dump(mode="json") for e in commit.outbox])),
                        "expires_at": _n(
                            int(
                                (commit.derived.updated_at or datetime.now().astimezone()).timestamp()
                                + MARKER_TTL.total_seconds()
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
            values = {f":d{i}": _n(delta) for i, delta in enumerate(deltas.values())}
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": {"pk": _s(_counter_pk(shop, counter_shard(commit.profile_id))), "sk": _s("SIZES")},
                        "UpdateExpression": "ADD " + ", ".join(f"{n} {v}" for n, v in zip(names, values, strict=True)),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        stats = {k: v for k, v in commit.stats_delta.items() if v}
        if stats:
            names = {f"#p{i}": key for i, key in enumerate(stats)}
            values = {f":p{i}": _n(value) for i, value in enumerate(stats.values())}
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": {"pk": _s(f"S#{shop}#PSTATS"), "sk": _s("STATS")},
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
                            "Key": {"pk": _s(f"DUE#{timer.shard}"), "sk": _s(timer.key)},
                        }
                    }
                )
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
                if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                    raise CommitConflict(duplicates=[commit.marker_id]) from exc
                raise CommitConflict(stale=True) from exc
            if exc.response.get("Error", {}).get("Code") in ("TransactionConflict", "TransactionInProgressException"):
                raise CommitConflict(stale=True) from exc
            raise _wrap(exc, "TransactWriteItems") from exc
        except BotoCoreError as exc:
            raise _wrap(exc, "TransactWriteItems") from exc

    def _derived_item(self, shop: str, profile_id: str, derived: Derived) -> dict[str, Any]:
        return {
            "pk": _s(profile_pk(shop, profile_id)),
            "sk": _s("DERIVED"),
            "version": _n(derived.version),
            "doc": _s(derived.model_dump_json()),
        }

    @staticmethod
    def _version_condition(expected: int) -> dict[str, Any]:
        if expected == 0:
            return {"ConditionExpression": "attribute_not_exists(pk)"}
        return {"ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": _n(expected)}}

    @staticmethod
    def _timer_item(timer: Timer) -> dict[str, Any]:
        item = {
            "pk": _s(f"DUE#{timer.shard}"),
            "sk": _s(timer.key),
            "shop": _s(timer.shop),
            "profile_id": _s(timer.profile_id),
            "kind": _s(timer.kind),
            "due_at": _s(timer.due_at.isoformat()),
            "trigger_id": _s(timer.trigger_id),
            "expires_at": _n(int((timer.due_at + TIMER_TTL).timestamp())),
        }
        if timer.armed_at is not None:
            item["armed_at"] = _s(timer.armed_at.isoformat())
        return item

    def mark_published(self, shop, marker_id):
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": _s(_marker_pk(shop, marker_id)), "sk": _s("MARK")},
                UpdateExpression="SET published = :t, outbox = :e",
                ExpressionAttributeValues={":t": {"BOOL": True}, ":e": _s("[]")},
            )
        except (ClientError, BotoCoreError) as exc:
            raise _wrap(exc, "UpdateItem") from exc

    def delete_timers(self, timers: Sequence[Timer]) -> None:
        self._batch_write(
            [{"DeleteRequest": {"Key": {"pk": _s(f"DUE#{t.shard}"), "sk": _s(t.key)}}} for t in timers], self._schedule
        )

    def set_cursor(self, at):
        try:
            self._client.put_item(
                TableName=self._schedule, Item={"pk": _s("CURSOR"), "sk": _s("CURSOR"), "at": _s(at.isoformat())}
            )
        except (ClientError, BotoCoreError) as exc:
            raise _wrap(exc, "PutItem") from exc
