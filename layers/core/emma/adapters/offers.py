"""DynamoDB stores of offers (profiles table): the record of each coupon code Emma had created, and the pools
of codes shops upload. Every key comes from emma.adapters.keys; the items are in docs/data-model.md."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emma.adapters import keys
from emma.adapters.ddb import Table, key, number, string, wrap_error
from emma.errors import ConcurrencyConflict
from emma.offers.ports import CouponRecord, PoolCode, PoolEmpty
from emma.offers.uplift import UpliftTable

CANDIDATES = 10  # codes read per claim attempt; a claim picks one at random, so concurrent claims rarely collide
CLAIM_ATTEMPTS = 8  # claims lost to another claim of the same code before giving up (a transient error)
MIN_LEFT = timedelta(days=1)  # a code ending sooner is passed over (and leaves the pool): too late to use


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class DynamoCoupons(Table):
    """CouponStore: one item per code (keys.COUPON), the code case-folded in its key."""

    def save(self, record: CouponRecord) -> None:
        doc = {
            "code": record.code,
            "profile_id": record.profile_id,
            "message_key": record.message_key,
            "template": record.template,
            "kind": record.kind,
            "provider": record.provider,
            "provider_id": record.provider_id,
            "issued_at": _iso(record.issued_at),
            "ends_at": _iso(record.ends_at),
        }
        item = {
            **key(keys.coupon_pk(record.shop, record.code), keys.COUPON_SK),
            "shop": string(record.shop),
            "profile_id": string(record.profile_id),
            "doc": string(json.dumps({k: v for k, v in doc.items() if v is not None}, sort_keys=True)),
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "PutItem") from exc

    def get(self, shop: str, code: str) -> CouponRecord | None:
        item = self._get(keys.coupon_pk(shop, code), keys.COUPON_SK)
        if item is None:
            return None
        doc = json.loads(item["doc"]["S"])
        return CouponRecord(
            shop=shop,
            code=doc["code"],
            profile_id=doc["profile_id"],
            message_key=doc["message_key"],
            template=doc["template"],
            kind=doc["kind"],
            provider=doc["provider"],
            provider_id=doc["provider_id"],
            issued_at=datetime.fromisoformat(doc["issued_at"]),
            ends_at=_when(doc.get("ends_at")),
        )


class DynamoCodePool(Table):
    """CodePool: a pool is one partition (keys.pool_pk): its codes (CODE#), its claims (CLAIM#<reference>) and a
    counter of the codes left (META). A claim moves one code to the reference in one transaction."""

    def __init__(self, client: Any, table: str, rng: random.Random | None = None, **kwargs: Any) -> None:
        super().__init__(client, table, **kwargs)
        self._rng = rng or random.Random()

    def _claimed(self, pk: str, reference: str) -> PoolCode | None:
        item = self._get(pk, keys.pool_claim_sk(reference))
        if item is None:
            return None
        return PoolCode(item["code"]["S"], _when(item.get("ends_at", {}).get("S")))

    def claim(self, shop: str, pool: str, reference: str, now: datetime) -> PoolCode:
        pk = keys.pool_pk(shop, pool)
        found = self._claimed(pk, reference)
        if found is not None:
            return found
        collisions = 0
        while collisions < CLAIM_ATTEMPTS:  # an ended code passed over is not a collision: it leaves the pool
            candidates = self._candidates(pk)
            if not candidates:
                raise PoolEmpty(f"the coupon pool {pool!r} of shop {shop!r} has no code left")
            item = self._rng.choice(candidates)
            code = PoolCode(item["code"]["S"], _when(item.get("ends_at", {}).get("S")))
            expired = code.ends_at is not None and code.ends_at <= now + MIN_LEFT
            writes: list[dict[str, Any]] = [
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": key(pk, item["sk"]["S"]),
                        "ConditionExpression": "attribute_exists(sk)",
                    }
                },
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": key(pk, keys.POOL_META_SK),
                        "UpdateExpression": "ADD remaining :minus",
                        "ExpressionAttributeValues": {":minus": number(-1)},
                    }
                },
            ]
            if not expired:
                claim = {
                    **key(pk, keys.pool_claim_sk(reference)),
                    "code": string(code.code),
                    "claimed_at": string(now.isoformat()),
                }
                if code.ends_at:
                    claim["ends_at"] = string(code.ends_at.isoformat())
                put = {"TableName": self._table, "Item": claim, "ConditionExpression": "attribute_not_exists(sk)"}
                writes.append({"Put": put})
                used = {**key(pk, keys.pool_used_sk(code.code)), "used_at": string(now.isoformat())}
                writes.append({"Put": {"TableName": self._table, "Item": used}})  # never uploaded again
            try:
                self._client.transact_write_items(TransactItems=writes)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise wrap_error(exc, "TransactWriteItems") from exc
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":  # claimed meanwhile: by a retry
                    found = self._claimed(pk, reference)
                    if found is not None:
                        return found
                collisions += 1
                continue  # another claim took this code first: pick again
            except BotoCoreError as exc:
                raise wrap_error(exc, "TransactWriteItems") from exc
            if not expired:
                return code
        raise ConcurrencyConflict(f"could not claim a code of pool {pool!r} in {CLAIM_ATTEMPTS} attempts")

    def _candidates(self, pk: str) -> list[dict[str, Any]]:
        """Up to CANDIDATES codes from a random place in the pool (concurrent claims rarely read the same ones),
        else from its start."""
        start = keys.pool_code_sk(self._rng.choice("0123456789abcdefghijklmnopqrstuvwxyz"))
        for condition, values in (
            (
                "pk = :pk AND sk BETWEEN :a AND :b",
                {":a": string(start), ":b": string(keys.POOL_CODE_PREFIX + "\uffff")},
            ),
            ("pk = :pk AND begins_with(sk, :a)", {":a": string(keys.POOL_CODE_PREFIX)}),
        ):
            try:
                resp = self._client.query(
                    TableName=self._table,
                    KeyConditionExpression=condition,
                    ExpressionAttributeValues={":pk": string(pk), **values},
                    Limit=CANDIDATES,
                    ConsistentRead=True,
                )
            except (ClientError, BotoCoreError) as exc:
                raise wrap_error(exc, "Query") from exc
            if resp.get("Items"):
                return list(resp["Items"])
        return []

    def add(self, shop: str, pool: str, codes: Sequence[PoolCode]) -> int:
        """Codes not in the pool and never issued (keys.COUPON) are written; the counter is then set to a count
        of the pool's codes (an upload is rare; claims keep the counter in step between uploads)."""
        pk = keys.pool_pk(shop, pool)
        unique = {c.code.casefold(): c for c in codes}
        issued = {
            i["pk"]["S"]
            for i in self._batch_get([key(keys.coupon_pk(shop, c), keys.COUPON_SK) for c in unique], consistent=False)
        }
        present = {
            i["sk"]["S"]
            for i in self._batch_get(
                [key(pk, sk) for c in unique for sk in (keys.pool_code_sk(c), keys.pool_used_sk(c))], consistent=True
            )
        }
        new = [
            c
            for folded, c in unique.items()
            if keys.coupon_pk(shop, folded) not in issued
            and keys.pool_code_sk(folded) not in present
            and keys.pool_used_sk(folded) not in present  # handed out before, its record erased since
        ]
        requests = []
        for code in new:
            item = {**key(pk, keys.pool_code_sk(code.code)), "code": string(code.code)}
            if code.ends_at:
                item["ends_at"] = string(code.ends_at.isoformat())
            requests.append({"PutRequest": {"Item": item}})
        self._batch_write(requests)
        count = self._count(pk)
        try:
            self._client.put_item(
                TableName=self._table, Item={**key(pk, keys.POOL_META_SK), "remaining": number(count)}
            )
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "PutItem") from exc
        return len(new)

    def _count(self, pk: str) -> int:
        total, params = (
            0,
            {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": {":pk": string(pk), ":prefix": string(keys.POOL_CODE_PREFIX)},
                "Select": "COUNT",
                "ConsistentRead": True,
            },
        )
        while True:
            try:
                resp = self._client.query(**params)
            except (ClientError, BotoCoreError) as exc:
                raise wrap_error(exc, "Query") from exc
            total += int(resp.get("Count", 0))
            if "LastEvaluatedKey" not in resp:
                return total
            params["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def remaining(self, shop: str, pool: str) -> int:
        item = self._get(keys.pool_pk(shop, pool), keys.POOL_META_SK)
        return max(0, int(item["remaining"]["N"])) if item and "remaining" in item else 0


class DynamoUpliftTables(Table):
    """UpliftTables: one item per shop (keys.UPLIFT)."""

    def save(self, shop: str, tables: Mapping[str, UpliftTable], at: datetime) -> None:
        doc = {template: table.model_dump(mode="json") for template, table in sorted(tables.items())}
        item = {
            **key(keys.uplift_pk(shop), keys.UPLIFT_SK),
            "doc": string(json.dumps(doc, sort_keys=True)),
            "computed_at": string(at.isoformat()),
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "PutItem") from exc

    def get(self, shop: str) -> dict[str, UpliftTable]:
        item = self._get(keys.uplift_pk(shop), keys.UPLIFT_SK, consistent=False)
        if item is None:
            return {}
        return {t: UpliftTable.model_validate(v) for t, v in json.loads(item["doc"]["S"]).items()}
