"""DynamoDB store of analytics (emma.analytics): per-customer items in the customer's partition, counter
items per shop, kind and shard, written together in one transaction per event."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emma.adapters import keys
from emma.adapters.ddb import RETRYABLE_CONFLICTS, Table, epoch, key, number, string, wrap_error
from emma.analytics.model import (
    Assignment,
    CounterDelta,
    CustomerItems,
    Dims,
    JourneyProgress,
    MessageTouch,
    OrderCredit,
    merge_deltas,
)
from emma.analytics.ports import Item, Rows, StaleAnalytics
from emma.clock import Clock, SystemClock

_KINDS = ("message", "journey", "shop", "arm")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Dims):
        return value.encode()
    raise TypeError(f"cannot store {type(value).__name__}")


def _dump(item: Item) -> str:
    data = asdict(item)
    data.pop("version", None)
    if isinstance(item, MessageTouch):
        data["dims"] = item.dims.encode()
    if isinstance(item, OrderCredit):
        for name in ("applied", "taken"):
            data[name] = [
                {"kind": d.kind, "day": d.day, "key": d.key, "amounts": d.amounts} for d in getattr(item, name)
            ]
    return json.dumps(data, default=_json_default, separators=(",", ":"))


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _load(sk: str, doc: str, version: int) -> Item | None:
    data = json.loads(doc)
    data["version"] = version
    data["seen"] = tuple(data.get("seen") or ())
    if sk.startswith(keys.touch_sk("")):
        data["dims"] = Dims.decode(data["dims"])
        for name in (
            "sent_at",
            "delivered_at",
            "opened_at",
            "machine_opened_at",
            "clicked_at",
            "last_open_at",
            "last_click_at",
        ):
            data[name] = _time(data.get(name))
        return MessageTouch(**_known(MessageTouch, data))
    if sk.startswith(keys.assignment_sk("", "")[:-1]):
        data["assigned_at"] = _time(data["assigned_at"])
        for name in ("revenue", "discount"):
            data[name] = Decimal(data.get(name) or 0)
        return Assignment(**_known(Assignment, data))
    if sk.startswith(keys.order_credit_sk("")):
        data["placed_at"] = _time(data["placed_at"])
        data["reversed_at"] = _time(data.get("reversed_at"))
        for name in ("revenue", "discount", "refunded"):
            data[name] = Decimal(data.get(name) or 0)
        for name in ("applied", "taken"):
            data[name] = [
                CounterDelta(d["kind"], d["day"], d["key"], {k: Decimal(v) for k, v in d["amounts"].items()})
                for d in data.get(name) or []
            ]
        return OrderCredit(**_known(OrderCredit, data))
    if sk.startswith(keys.progress_sk("")):
        return JourneyProgress(**_known(JourneyProgress, data))
    return None


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def _sk(item: Item) -> str:
    if isinstance(item, MessageTouch):
        return keys.touch_sk(item.ref)
    if isinstance(item, Assignment):
        return keys.assignment_sk(item.journey, item.step)
    if isinstance(item, OrderCredit):
        return keys.order_credit_sk(item.order_id)
    return keys.progress_sk(item.journey)


def _counts(item: dict[str, Any]) -> dict[str, Decimal]:
    return {name[2:]: Decimal(value["N"]) for name, value in item.items() if name.startswith("c_")}


class DynamoAnalyticsStore(Table):
    def __init__(self, client: Any, table: str, clock: Clock | None = None) -> None:
        super().__init__(client, table)
        self._clock = clock or SystemClock()

    # ---- the consumer -------------------------------------------------------------------------

    def customer(self, shop: str, profile_id: str) -> CustomerItems:
        out = CustomerItems()
        found = self._query_all(  # strongly consistent: a touch written a moment before an order is a touch
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": string(keys.profile_pk(shop, profile_id)),
                ":prefix": string(keys.ANALYTICS_PREFIX),
            },
            ConsistentRead=True,
        )
        for raw in found:
            item = _load(raw["sk"]["S"], raw["doc"]["S"], int(raw["v"]["N"]))
            if isinstance(item, MessageTouch):
                out.touches[item.ref] = item
            elif isinstance(item, Assignment):
                out.assignments[f"{item.journey}|{item.step}"] = item
            elif isinstance(item, OrderCredit):
                out.orders[item.order_id] = item
            elif isinstance(item, JourneyProgress):
                out.journeys[item.journey] = item
        return out

    def _one(self, shop: str, profile_id: str, sk: str) -> Item | None:
        raw = self._get(keys.profile_pk(shop, profile_id), sk)
        return None if raw is None else _load(sk, raw["doc"]["S"], int(raw["v"]["N"]))

    def touch(self, shop: str, profile_id: str, ref: str) -> MessageTouch | None:
        return self._one(shop, profile_id, keys.touch_sk(ref))  # type: ignore[return-value]

    def progress(self, shop: str, profile_id: str, journey: str) -> JourneyProgress | None:
        return self._one(shop, profile_id, keys.progress_sk(journey))  # type: ignore[return-value]

    def assignment(self, shop: str, profile_id: str, journey: str, step: str) -> Assignment | None:
        return self._one(shop, profile_id, keys.assignment_sk(journey, step))  # type: ignore[return-value]

    def commit(self, shop: str, profile_id: str, items: Sequence[Item], deltas: Sequence[CounterDelta]) -> None:
        now = self._clock.now()
        writes: list[dict[str, Any]] = []
        for item in items:
            stored = {
                **key(keys.profile_pk(shop, profile_id), _sk(item)),
                "doc": string(_dump(item)),
                "v": number(item.version + 1),
                "expires_at": number(epoch(now + keys.MESSAGE_TTL)),
            }
            put: dict[str, Any] = {"TableName": self._table, "Item": stored}
            if item.version == 0:
                put["ConditionExpression"] = "attribute_not_exists(pk)"
            else:
                put["ConditionExpression"] = "v = :v"
                put["ExpressionAttributeValues"] = {":v": number(item.version)}
            writes.append({"Put": put})
        shard = keys.analytics_shard(profile_id)
        for delta in merge_deltas(list(deltas)):
            amounts = {n: v for n, v in delta.amounts.items() if v}
            if not amounts:
                continue
            names = {f"#c{i}": f"c_{n}" for i, n in enumerate(amounts)}
            values = {f":c{i}": number(v) for i, v in enumerate(amounts.values())}  # type: ignore[arg-type]
            expression = "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(amounts)))
            if delta.day:
                expires = datetime.fromisoformat(delta.day + "T00:00:00+00:00") + keys.ANALYTICS_COUNTER_TTL
                names["#e"], values[":e"] = "expires_at", number(epoch(expires))
                expression += " SET #e = if_not_exists(#e, :e)"
            writes.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": key(
                            keys.analytics_pk(shop, delta.kind, shard), keys.analytics_counter_sk(delta.day, delta.key)
                        ),
                        "UpdateExpression": expression,
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        if not writes:
            return
        try:
            if len(writes) == 1 and "Put" in writes[0]:
                self._client.put_item(**writes[0]["Put"])
            else:
                self._client.transact_write_items(TransactItems=writes)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("TransactionCanceledException", "ConditionalCheckFailedException", *RETRYABLE_CONFLICTS):
                raise StaleAnalytics(f"analytics items of {profile_id} changed meanwhile") from exc
            raise wrap_error(exc, "TransactWriteItems") from exc
        except BotoCoreError as exc:
            raise wrap_error(exc, "TransactWriteItems") from exc

    # ---- the reports --------------------------------------------------------------------------

    def counters(self, shop: str, kind: str, since: str, until: str) -> Rows:
        if kind not in _KINDS:
            raise ValueError(f"unknown counter kind {kind!r}")
        summed: dict[tuple[str, str], dict[str, Decimal]] = {}
        for shard in range(keys.ANALYTICS_SHARDS):
            for raw in self._query_all(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
                ExpressionAttributeValues={
                    ":pk": string(keys.analytics_pk(shop, kind, shard)),
                    ":a": string(f"{since}#"),
                    ":b": string(f"{until}#~"),
                },
            ):
                day, _, counter_key = raw["sk"]["S"].partition("#")
                row = summed.setdefault((day, counter_key), {})
                for name, value in _counts(raw).items():
                    row[name] = row.get(name, Decimal(0)) + value
        return [(day, k, c) for (day, k), c in sorted(summed.items())]

    def arms(self, shop: str, journey: str | None = None) -> Rows:
        summed: dict[str, dict[str, Decimal]] = {}
        for shard in range(keys.ANALYTICS_SHARDS):
            pk = keys.analytics_pk(shop, "arm", shard)
            found = (
                self._query_prefix(pk, keys.arms_prefix(journey))
                if journey
                else self._query_all(
                    TableName=self._table,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": string(pk)},
                )
            )
            for raw in found:
                row = summed.setdefault(raw["sk"]["S"], {})
                for name, value in _counts(raw).items():
                    row[name] = row.get(name, Decimal(0)) + value
        return [("", k, c) for k, c in sorted(summed.items())]

    def put_snapshot(self, shop: str, day: str, values: dict[str, Decimal]) -> None:
        item = {
            **key(keys.snapshot_pk(shop), keys.snapshot_sk(day)),
            "taken_at": string(self._clock.now().isoformat()),
            "expires_at": number(epoch(datetime.fromisoformat(day + "T00:00:00+00:00") + keys.ANALYTICS_COUNTER_TTL)),
            **{f"c_{name}": number(value) for name, value in values.items()},  # type: ignore[arg-type]
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "PutItem") from exc

    def snapshots(self, shop: str, since: str, until: str) -> list[tuple[str, dict[str, Decimal]]]:
        found = self._query_all(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={
                ":pk": string(keys.snapshot_pk(shop)),
                ":a": string(keys.snapshot_sk(since)),
                ":b": string(keys.snapshot_sk(until)),
            },
        )
        return [(raw["sk"]["S"], _counts(raw)) for raw in found]
