"""The DynamoDB base every table adapter builds on: attribute values, the table wrapper (paged queries,
batched reads and writes with their retries), and botocore errors as domain errors.

Keys are not built here: every partition and sort key comes from ``emma.adapters.keys``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from emma.adapters.limits import MAX_BATCH_GET_KEYS, MAX_BATCH_WRITE_ITEMS, check_batch_write
from emma.errors import StoreError

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
# A transaction that lost a race with another one: re-read and retry.
RETRYABLE_CONFLICTS = frozenset({"TransactionConflict", "TransactionInProgressException"})


# ---- attribute values ---------------------------------------------------------------------------


def string(value: str) -> dict[str, str]:
    """A string attribute value (``{"S": ...}``)."""
    return {"S": value}


def number(value: int | float) -> dict[str, str]:
    """A number attribute value (``{"N": ...}``)."""
    return {"N": str(value)}


def key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    """The primary key of an item (both parts from ``emma.adapters.keys``)."""
    return {"pk": string(pk), "sk": string(sk)}


def epoch(at: datetime) -> int:
    """Epoch seconds, as the TTL attribute holds them."""
    return int(at.timestamp())


def dynamo_value(value: Any) -> Any:
    """JSON values as DynamoDB accepts them (numbers as Decimal)."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        return Decimal(str(value))
    if isinstance(value, list):
        return [dynamo_value(v) for v in value]
    return value


def serialize(value: Any) -> dict[str, Any]:
    """A JSON value as an attribute value (numbers as N, lists as L, ...)."""
    return _SERIALIZER.serialize(dynamo_value(value))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def plain_item(item: dict[str, Any]) -> dict[str, Any]:
    """A stored item as plain Python values, without its keys (catalog products)."""
    return {k: _plain(_DESERIALIZER.deserialize(v)) for k, v in item.items() if k not in ("pk", "sk")}


# ---- errors -------------------------------------------------------------------------------------


def wrap_error(exc: Exception, what: str) -> StoreError:
    """A botocore error of the call ``what`` (GetItem, Query, ...) as a StoreError (503, retried)."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "?")
        return StoreError(f"DynamoDB {what} failed: {code}")
    return StoreError(f"DynamoDB {what} failed: {type(exc).__name__}")


def conditional_failed(exc: ClientError) -> bool:
    """A condition expression did not hold (as opposed to any other DynamoDB error)."""
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


# ---- the table wrapper --------------------------------------------------------------------------


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Table:
    """One table of a DynamoDB client; the adapters subclass it and use its reads and writes."""

    def __init__(self, client: Any, table: str, sleep=time.sleep) -> None:
        self._client = client
        self._table = table
        self._sleep = sleep

    def _get(self, pk: str, sk: str, *, consistent: bool = True) -> dict[str, Any] | None:
        try:
            return self._client.get_item(TableName=self._table, ConsistentRead=consistent, Key=key(pk, sk)).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "GetItem") from exc

    def _batch_get(
        self, keys: list[dict[str, Any]], *, consistent: bool = True, table: str | None = None
    ) -> list[dict[str, Any]]:
        """At most 100 keys a request; the keys DynamoDB leaves unprocessed (throttled, or beyond the
        16 MB an answer holds) are asked again, for as long as each answer makes progress. ``table``:
        another table than this adapter's own (as for ``_batch_write``)."""
        table = table or self._table
        items: list[dict[str, Any]] = []
        for chunk in _chunks(keys, MAX_BATCH_GET_KEYS):
            request = {table: {"Keys": list(chunk), "ConsistentRead": consistent}}
            stalled = 0
            while request:
                try:
                    resp = self._client.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    raise wrap_error(exc, "BatchGetItem") from exc
                found = resp.get("Responses", {}).get(table, [])
                items.extend(found)
                request = resp.get("UnprocessedKeys") or {}
                if not request:
                    break
                stalled = 0 if found else stalled + 1
                if stalled >= 6:
                    raise StoreError("DynamoDB BatchGetItem left keys unprocessed after retries")
                self._sleep(0.02 * 2**stalled)
        return items

    def _put(self, item: dict[str, Any], condition: str | None = None, values: dict[str, Any] | None = None) -> bool:
        """PutItem, on ``condition`` if given: False when the condition does not hold (nothing written)."""
        params: dict[str, Any] = {"TableName": self._table, "Item": item}
        if condition:
            params["ConditionExpression"] = condition
        if values:
            params["ExpressionAttributeValues"] = values
        try:
            self._client.put_item(**params)
        except ClientError as exc:
            if conditional_failed(exc):
                return False
            raise wrap_error(exc, "PutItem") from exc
        except BotoCoreError as exc:
            raise wrap_error(exc, "PutItem") from exc
        return True

    def _query_prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        return self._query_all(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": string(pk), ":prefix": string(prefix)},
        )

    def _query_all(self, **kwargs: Any) -> list[dict[str, Any]]:
        """Every page of a Query."""
        items: list[dict[str, Any]] = []
        while True:
            try:
                resp = self._client.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise wrap_error(exc, "Query") from exc
            items.extend(resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return items
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def _batch_write(self, requests: list[dict[str, Any]], table: str | None = None) -> None:
        """25 requests a BatchWriteItem (each item at most 400 KB, so a request stays under 16 MB)."""
        table = table or self._table
        for chunk in _chunks(requests, MAX_BATCH_WRITE_ITEMS):
            check_batch_write(chunk)
            pending = {table: list(chunk)}
            for attempt in range(6):
                try:
                    resp = self._client.batch_write_item(RequestItems=pending)
                except (ClientError, BotoCoreError) as exc:
                    raise wrap_error(exc, "BatchWriteItem") from exc
                pending = resp.get("UnprocessedItems") or {}
                if not pending:
                    break
                self._sleep(0.02 * 2**attempt)
            else:
                raise StoreError("DynamoDB BatchWriteItem left items unprocessed after retries")
