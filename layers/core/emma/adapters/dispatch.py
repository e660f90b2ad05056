"""DynamoDB stores of the dispatcher: the message log, frequency caps and tracked links (profiles table,
beside ingest's items, never touching them) and deferred message requests (schedule table). Every key
comes from emma.adapters.keys; the items are described in docs/data-model.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emma.adapters import keys
from emma.adapters.ddb import Table, conditional_failed, key, number, string, wrap_error
from emma.dispatch.ports import Claimed, MessageRecord, Status
from emma.dispatch.request import MessageRequest
from emma.errors import ConcurrencyConflict
from emma.shops import FrequencyCap

CAP_ATTEMPTS = 10
CAP_KEEP = timedelta(days=90)  # longest cap window a shop can configure


def _dt(item: dict[str, Any], name: str) -> datetime | None:
    return datetime.fromisoformat(item[name]["S"]) if name in item else None


def _record(item: dict[str, Any]) -> MessageRecord:
    opt = {
        k: item[k]["S"]
        for k in ("journey", "channel", "locale", "subject", "preview", "provider_id", "coupon")
        if k in item
    }
    return MessageRecord(
        shop=item["shop"]["S"],
        profile_id=item["profile_id"]["S"],
        key=item["key"]["S"],
        status=item["status"]["S"],  # type: ignore[arg-type]
        template=item["template"]["S"],
        requested_at=datetime.fromisoformat(item["requested_at"]["S"]),
        updated_at=datetime.fromisoformat(item["updated_at"]["S"]),
        attempts=int(item.get("attempts", {}).get("N", "0")),
        not_before=_dt(item, "not_before"),
        lease_until=_dt(item, "lease_until"),
        decisions=[json.loads(d["S"]) for d in item.get("decisions", {}).get("L", [])],
        request=json.loads(item["request"]["S"]) if "request" in item else {},
        recommended=json.loads(item["recommended"]["S"]) if "recommended" in item else [],
        content=json.loads(item["content"]["S"]) if "content" in item else [],
        incentive=json.loads(item["incentive"]["S"]) if "incentive" in item else None,
        **opt,
    )


class DynamoMessageLog(Table):
    def _key(self, shop: str, profile_id: str, message_key: str) -> dict[str, Any]:
        return key(keys.profile_pk(shop, profile_id), keys.message_sk(message_key))

    def get(self, shop, profile_id, key):
        item = self._get(keys.profile_pk(shop, profile_id), keys.message_sk(key))
        return None if item is None else _record(item)

    def claim(self, request: MessageRequest, now: datetime, lease_until: datetime) -> MessageRecord | None:
        values = {
            ":processing": string("processing"),
            ":failed": string("failed"),
            ":deferred": string("deferred"),
            ":now": string(now.isoformat()),
            ":lease": string(lease_until.isoformat()),
            ":one": number(1),
            ":zero": number(0),
            ":shop": string(request.shop),
            ":pid": string(request.profile_id),
            ":key": string(request.key),
            ":template": string(request.template),
            ":requested": string(request.requested_at.isoformat()),
            ":ttl": number(int((now + keys.MESSAGE_TTL).timestamp())),
            ":request": string(request.model_dump_json(exclude={"released"})),
        }
        sets = (
            "#s = :processing, lease_until = :lease, updated_at = :now, attempts = if_not_exists(attempts, :zero) "
            "+ :one, shop = :shop, profile_id = :pid, #k = :key, template = :template, requested_at = :requested, "
            "expires_at = :ttl, #rq = if_not_exists(#rq, :request)"
        )
        if request.journey:
            sets += ", journey = :journey"
            values[":journey"] = string(request.journey)
        try:
            resp = self._client.update_item(
                TableName=self._table,
                Key=self._key(request.shop, request.profile_id, request.key),
                UpdateExpression="SET " + sets,
                ConditionExpression=(
                    "attribute_not_exists(sk) OR #s = :failed OR (#s = :processing AND lease_until < :now) "
                    "OR (#s = :deferred AND not_before <= :now)"
                ),
                ExpressionAttributeNames={"#s": "status", "#k": "key", "#rq": "request"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
            return _record(resp["Attributes"])
        except ClientError as exc:
            if not conditional_failed(exc):
                raise wrap_error(exc, "UpdateItem") from exc
        except BotoCoreError as exc:
            raise wrap_error(exc, "UpdateItem") from exc
        existing = self.get(request.shop, request.profile_id, request.key)
        if existing is None:  # removed meanwhile (TTL): treat as new next time
            raise ConcurrencyConflict(f"message {request.key} changed while claiming it")
        if existing.status == "sent":
            return existing
        if existing.status == "processing":
            raise Claimed(f"message {request.key} is being processed by another worker")
        if existing.status == "sending":
            if existing.lease_until and existing.lease_until >= now:
                raise Claimed(f"message {request.key} is being sent by another worker")
            # The worker died during the provider call: it may have gone out. Never send twice.
            self._set(
                existing,
                "unknown",
                [
                    {
                        "stage": "send",
                        "outcome": "fail",
                        "reason": "the worker stopped during the provider call; not resent",
                    }
                ],
                expect="sending",
                now=now,
            )
        return None

    def _set(
        self,
        record: MessageRecord,
        status: Status,
        decisions: Sequence[dict[str, Any]],
        *,
        expect: str,
        now: datetime,
        **fields: Any,
    ) -> None:
        names = {"#s": "status"}
        values: dict[str, Any] = {
            ":status": string(status),
            ":expect": string(expect),
            ":now": string(now.isoformat()),
            ":decisions": {"L": [string(json.dumps(d, sort_keys=True)) for d in decisions]},
            ":empty": {"L": []},
        }
        sets = [
            "#s = :status",
            "updated_at = :now",
            "decisions = list_append(if_not_exists(decisions, :empty), :decisions)",
        ]
        removes = []
        for name, value in fields.items():
            if value is None:
                removes.append(name)
                continue
            if isinstance(value, list | dict):
                value = json.dumps(value, sort_keys=True)
            values[f":{name}"] = string(value.isoformat() if isinstance(value, datetime) else str(value))
            sets.append(f"{name} = :{name}")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(record.shop, record.profile_id, record.key),
                UpdateExpression=expression,
                ConditionExpression="#s = :expect",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if conditional_failed(exc):
                raise ConcurrencyConflict(f"message {record.key} is no longer {expect}") from exc
            raise wrap_error(exc, "UpdateItem") from exc
        except BotoCoreError as exc:
            raise wrap_error(exc, "UpdateItem") from exc

    def update(self, record, status, decisions, now, **fields):
        self._set(record, status, decisions, expect=record.status, now=now, **fields)
        record.status, record.updated_at = status, now
        record.decisions = [*record.decisions, *decisions]

    def recent(self, shop, profile_id, limit):
        items = self._query_prefix(keys.profile_pk(shop, profile_id), keys.MESSAGE_PREFIX)
        records = sorted((_record(i) for i in items), key=lambda r: r.requested_at, reverse=True)
        return records[:limit]


class DynamoCapStore(Table):
    """Marketing sends per customer in one item; reserving a slot is a version-checked write, so two
    workers racing for the last slot cannot both win (the loser re-reads and finds the cap full)."""

    def _key(self, shop: str, profile_id: str) -> dict[str, Any]:
        return key(keys.profile_pk(shop, profile_id), keys.CAPS_SK)

    def _read(self, shop: str, profile_id: str) -> tuple[dict[str, datetime], int | None]:
        item = self._get(keys.profile_pk(shop, profile_id), keys.CAPS_SK)
        if item is None:
            return {}, None
        sends = {k: datetime.fromisoformat(v["S"]) for k, v in item.get("sends", {}).get("M", {}).items()}
        return sends, int(item["v"]["N"])

    def recent_sends(self, shop, profile_id):
        return self._read(shop, profile_id)[0]

    def _write(self, shop: str, profile_id: str, sends: dict[str, datetime], version: int | None) -> bool:
        condition = "attribute_not_exists(pk)" if version is None else "v = :v"
        values: dict[str, Any] = {} if version is None else {":v": number(version)}
        item = {
            **self._key(shop, profile_id),
            "sends": {"M": {k: string(v.isoformat()) for k, v in sends.items()}},
            "v": number((version or 0) + 1),
        }
        return self._put(item, condition, values)

    def reserve(self, shop, profile_id, key, now, caps: Sequence[FrequencyCap]):
        for _ in range(CAP_ATTEMPTS):
            sends, version = self._read(shop, profile_id)
            if key in sends:
                return True
            sends = {k: t for k, t in sends.items() if now - t <= CAP_KEEP}
            for cap in caps:
                if sum(1 for t in sends.values() if now - t < timedelta(days=cap.days)) >= cap.messages:
                    return False
            sends[key] = now
            if self._write(shop, profile_id, sends, version):
                return True
        raise ConcurrencyConflict(f"frequency cap of {profile_id} kept changing; try again")

    def release(self, shop, profile_id, key):
        for _ in range(CAP_ATTEMPTS):
            sends, version = self._read(shop, profile_id)
            if key not in sends:
                return
            del sends[key]
            if self._write(shop, profile_id, sends, version):
                return
        raise ConcurrencyConflict(f"frequency cap of {profile_id} kept changing; try again")


class DynamoDeferrals(Table):
    def defer(self, request, due_at):
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **key(keys.deferral_pk(keys.deferral_shard(request.key)), keys.deferral_sk(due_at, request.key)),
                    "request": string(request.model_dump_json()),
                    "expires_at": number(int((due_at + keys.DEFERRAL_TTL).timestamp())),
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "PutItem") from exc

    def due(self, now, limit):
        found: list[tuple[str, str, MessageRequest]] = []
        for shard in range(keys.DEFERRAL_SHARDS):
            items = self._query_all(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND sk <= :now",
                ExpressionAttributeValues={":pk": string(keys.deferral_pk(shard)), ":now": string(keys.due_until(now))},
            )
            for item in items:
                found.append(
                    (
                        item["sk"]["S"],
                        f"{shard}|{item['sk']['S']}",
                        MessageRequest.model_validate_json(item["request"]["S"]),
                    )
                )
        found.sort(key=lambda f: f[0])
        return [(timer_id, request) for _, timer_id, request in found[:limit]]

    def remove(self, timer_ids):
        requests = []
        for timer_id in timer_ids:
            shard, _, sk = timer_id.partition("|")
            requests.append({"DeleteRequest": {"Key": key(keys.deferral_pk(shard), sk)}})
        if requests:
            self._batch_write(requests)


class DynamoLinks(Table):
    def save(self, shop, code, link):
        item = {
            **key(keys.link_pk(shop, code), keys.LINK_SK),
            "link": string(json.dumps(link, sort_keys=True)),
            "expires_at": number(int((datetime.now().astimezone() + keys.LINK_TTL).timestamp())),
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "PutItem") from exc

    def get(self, shop, code):
        item = self._get(keys.link_pk(shop, code), keys.LINK_SK, consistent=False)
        return None if item is None else json.loads(item["link"]["S"])
