"""DynamoDB's request limits, and the size DynamoDB counts for an item, for the adapters.

The ingest service cuts its writes so that no request exceeds these (``emma.ingest.service``); the
DynamoDB adapter checks every transaction and batch before sending it, and the in-memory twin checks
the very items the DynamoDB adapter would send, so a unit test fails where DynamoDB would refuse.

Item sizes follow DynamoDB's rules (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
CapacityUnitCalculations.html): the UTF-8 length of each attribute name plus its value (strings:
UTF-8 length; binary: bytes; numbers: about one byte per two significant digits plus one; booleans
and null: one byte; lists and maps: three bytes plus one per element plus the elements).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from emma.errors import EmmaError

MAX_TRANSACTION_ITEMS = 100  # TransactWriteItems
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024  # the aggregate size of the items of one transaction
MAX_ITEM_BYTES = 400 * 1024
MAX_BATCH_WRITE_ITEMS = 25  # BatchWriteItem
MAX_BATCH_WRITE_BYTES = 16 * 1024 * 1024
MAX_BATCH_GET_KEYS = 100  # BatchGetItem (its answer holds at most 16 MB; the rest comes back unprocessed)


class StoreRequestTooLarge(EmmaError):
    """A write over DynamoDB's limits: a fault in Emma (the service cuts its writes to fit), not a
    transient failure, so it is not answered 503 for the sender to retry forever."""

    status = 500
    code = "store_request_too_large"


def value_bytes(value: Mapping[str, Any]) -> int:
    """The size of one AttributeValue (``{"S": ...}``, ``{"N": ...}``, ``{"B": ...}``, ...)."""
    (kind, data), *_ = value.items()
    if kind == "S":
        return len(data.encode("utf-8", "surrogatepass"))
    if kind == "N":
        digits = len(data.lstrip("-").replace(".", "").lstrip("0").rstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8", "surrogatepass")) for s in data)
    if kind == "NS":
        return sum(value_bytes({"N": n}) for n in data)
    if kind == "BS":
        return sum(len(b) for b in data)
    if kind == "L":
        return 3 + sum(1 + value_bytes(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_bytes(v) for k, v in data.items())
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def item_bytes(item: Mapping[str, Mapping[str, Any]]) -> int:
    """The size DynamoDB counts for an item (attribute names and values)."""
    return sum(len(name.encode("utf-8")) + value_bytes(value) for name, value in item.items())


def _written(request: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The item a TransactWriteItems or BatchWriteItem entry writes (Put / PutRequest), if any."""
    for kind in ("Put", "PutRequest"):
        if kind in request:
            return request[kind]["Item"]
    return None


def check_transaction(transact_items: Sequence[Mapping[str, Any]]) -> None:
    """Refuse (before sending) a TransactWriteItems that DynamoDB would refuse for its size."""
    _check(transact_items, "TransactWriteItems", MAX_TRANSACTION_ITEMS, MAX_TRANSACTION_BYTES)


def check_batch_write(requests: Sequence[Mapping[str, Any]]) -> None:
    """Refuse (before sending) a BatchWriteItem (one table's requests) over DynamoDB's limits."""
    _check(requests, "BatchWriteItem", MAX_BATCH_WRITE_ITEMS, MAX_BATCH_WRITE_BYTES)


def _check(requests: Sequence[Mapping[str, Any]], what: str, max_items: int, max_bytes: int) -> None:
    if len(requests) > max_items:
        raise StoreRequestTooLarge(f"{what} of {len(requests)} items; DynamoDB allows {max_items}")
    total = 0
    for request in requests:
        item = _written(request)
        if item is None:
            continue
        size = item_bytes(item)
        if size > MAX_ITEM_BYTES:
            raise StoreRequestTooLarge(f"{what}: an item of {size} bytes; DynamoDB allows {MAX_ITEM_BYTES}")
        total += size
    if total > max_bytes:
        raise StoreRequestTooLarge(f"{what} of {total} bytes; DynamoDB allows {max_bytes}")
