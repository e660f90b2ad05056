"""Pure arithmetic of the benchmark: DynamoDB item sizes and request units, EventBridge billing
chunks, Lambda billed duration and the cost of one request at list prices. No I/O, no AWS.

DynamoDB sizing (Developer Guide, "Item sizes and formats" and "DynamoDB read and write
operations"):
- item size = sum over attributes of (UTF-8 length of the name + size of the value);
  S: UTF-8 bytes; N: 1 byte per 2 significant digits + 1; B: bytes; BOOL / NULL: 1;
  M / L: 3 bytes + per element 1 byte + its size (+ the key's length in a map); SS / NS / BS: the
  sum of the elements' sizes.
- writes: 1 WRU per started KB (1,024 bytes) of each item, at least 1; an overwrite counts the
  larger of the item before and after; a delete the item deleted; transactional writes count 2x,
  a ConditionCheck counts as a transactional write of the checked item.
- reads: 1 RRU per started 4 KB of each item for a strongly consistent read, half that eventually
  consistent, 2x transactional; reading a key that does not exist still costs the minimum (the
  read is charged whether or not an item comes back); BatchGetItem counts each key as one
  GetItem; Query / Scan add up the sizes of all items read, then round up to 4 KB once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4 * 1024
EVENTBRIDGE_CHUNK_BYTES = 64 * 1024
EVENTBRIDGE_TIME_BYTES = 14  # a Time field counts 14 bytes in PutEvents entry sizing
API_GATEWAY_METERING_BYTES = 512 * 1024  # HTTP APIs meter requests in 512 KB increments
LAMBDA_MB_PER_VCPU = 1769  # Lambda allocates one full vCPU at 1,769 MB, proportionally below


# ---- DynamoDB item sizes ---------------------------------------------------------------------


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def number_size(number: str | int | float | Decimal) -> int:
    """Bytes DynamoDB counts for a number: 1 per two significant digits (rounded up), plus 1."""
    try:
        value = Decimal(str(number))
    except InvalidOperation:
        raise ValueError(f"not a number: {number!r}") from None
    digits = value.normalize().as_tuple().digits if value else (0,)  # normalize trims the zeroes
    return math.ceil(len(digits) / 2) + 1


def _binary_size(value: Any) -> int:
    if isinstance(value, bytes | bytearray | memoryview):
        return len(value)
    if isinstance(value, str):  # the wire form is base64; botocore hands us bytes, tests may not
        return len(value.encode())
    raise TypeError(f"not binary: {type(value).__name__}")


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB's wire format, e.g. ``{"S": "abc"}`` -> 3."""
    if len(value) != 1:
        raise ValueError(f"an attribute value has exactly one type, got {sorted(value)}")
    (kind, data) = next(iter(value.items()))
    if kind == "S":
        return _utf8(data)
    if kind == "N":
        return number_size(data)
    if kind == "B":
        return _binary_size(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(_utf8(s) for s in data)
    if kind == "NS":
        return sum(number_size(n) for n in data)
    if kind == "BS":
        return sum(_binary_size(b) for b in data)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + _utf8(k) + value_size(v) for k, v in data.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """Bytes of an item: attribute names plus values."""
    return sum(_utf8(name) + value_size(value) for name, value in item.items())


def write_units(size: int, *, transactional: bool = False) -> int:
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return units * 2 if transactional else units


def read_units(size: int, *, consistent: bool = True, transactional: bool = False) -> float:
    """Units for reading one item of ``size`` bytes (0 = the key does not exist: still charged)."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return float(units * 2)
    return float(units) if consistent else units / 2


def query_read_units(sizes: Iterable[int], *, consistent: bool = True) -> float:
    """Query / Scan: all items read are added up, then rounded up to 4 KB once (at least 1 unit)."""
    units = max(1, math.ceil(sum(sizes) / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


@dataclass
class Units:
    rru: float = 0.0
    wru: float = 0.0
    items_read: int = 0  # items that came back
    keys_missing: int = 0  # keys read that had no item (charged all the same)
    items_written: int = 0
    bytes_read: int = 0
    bytes_written: int = 0

    def __add__(self, other: Units) -> Units:
        return Units(
            self.rru + other.rru,
            self.wru + other.wru,
            self.items_read + other.items_read,
            self.keys_missing + other.keys_missing,
            self.items_written + other.items_written,
            self.bytes_read + other.bytes_read,
            self.bytes_written + other.bytes_written,
        )

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class CapacityMeter:
    """Request units of DynamoDB calls, from their parameters and responses.

    Remembers the size of every item it has seen written or read, so that an overwrite counts the
    larger of the old and the new item, as DynamoDB does. An item it never saw counts as absent.
    ``on_item(operation, table, item or key, units)``, if given, is told the units of each item.
    """

    def __init__(
        self,
        key_schema: Mapping[str, Sequence[str]],
        default_key: Sequence[str] = ("pk", "sk"),
        on_item: Callable[[str, str, Mapping[str, Any], Units], None] | None = None,
    ) -> None:
        self._schema = {table: tuple(keys) for table, keys in key_schema.items()}
        self._default = tuple(default_key)
        self._sizes: dict[tuple[str, str], int] = {}
        self.on_item = on_item

    # -- item bookkeeping ----------------------------------------------------------------------

    def _key(self, table: str, item: Mapping[str, Any]) -> tuple[str, str]:
        names = self._schema.get(table, self._default)
        return table, json.dumps([item.get(n) for n in names], sort_keys=True, default=str)

    def known_size(self, table: str, key_or_item: Mapping[str, Any]) -> int:
        """Size of the stored item with this key as last seen; 0 if never seen (or deleted)."""
        return self._sizes.get(self._key(table, key_or_item), 0)

    def _write(self, table: str, key: Mapping[str, Any], new: dict | None, transactional: bool, store: bool) -> Units:
        """One item written (``new``), deleted (``new`` is None) or condition-checked."""
        old = self.known_size(table, key)
        size = item_size(new) if new is not None else 0
        if store and new is not None:
            self._sizes[self._key(table, new)] = size
        elif store:
            self._sizes.pop(self._key(table, key), None)
        return Units(wru=write_units(max(old, size), transactional=transactional), items_written=1, bytes_written=size)

    def _read(self, table: str, key: Mapping[str, Any], item: Mapping[str, Any] | None, **kind: bool) -> Units:
        size = item_size(item) if item else 0
        if item:
            self._sizes[self._key(table, item)] = size
        return Units(
            rru=read_units(size, **kind),
            items_read=1 if item else 0,
            keys_missing=0 if item else 1,
            bytes_read=size,
        )

    # -- operations ------------------------------------------------------------------------------

    def units(
        self, operation: str, params: Mapping[str, Any], response: Mapping[str, Any] | None, *, failed: bool = False
    ) -> Units:
        """Units one call consumed. ``failed``: the call raised (a cancelled transaction, a failed
        condition): the units count all the same, as DynamoDB charges them, but nothing is stored.
        Calls that read or write no items (CreateTable, DescribeTable, ...) count nothing."""
        response = response or {}
        store = not failed
        total = Units()
        for table, key, units in self._items(operation, params, response, store):
            if self.on_item is not None:
                self.on_item(operation, table, key, units)
            total += units
        return total

    def _items(
        self, op: str, params: Mapping[str, Any], response: Mapping[str, Any], store: bool
    ) -> Iterator[tuple[str, Mapping[str, Any], Units]]:
        if op == "PutItem":
            table = params["TableName"]
            yield table, params["Item"], self._write(table, params["Item"], params["Item"], False, store)
        elif op == "DeleteItem":
            table = params["TableName"]
            yield table, params["Key"], self._write(table, params["Key"], None, False, store)
        elif op == "UpdateItem":
            # The size after an update is not in the request: the item as last seen stands for both.
            table, key = params["TableName"], params["Key"]
            yield table, key, Units(wru=write_units(self.known_size(table, key)), items_written=1)
        elif op == "GetItem":
            table = params["TableName"]
            consistent = bool(params.get("ConsistentRead"))
            yield table, params["Key"], self._read(table, params["Key"], response.get("Item"), consistent=consistent)
        elif op == "BatchGetItem":
            unprocessed = response.get("UnprocessedKeys") or {}
            for table, request in params["RequestItems"].items():
                consistent = bool(request.get("ConsistentRead"))
                returned = {self._key(table, i): i for i in (response.get("Responses") or {}).get(table, [])}
                skipped = {self._key(table, k) for k in (unprocessed.get(table) or {}).get("Keys", [])}
                for key in request["Keys"]:
                    k = self._key(table, key)
                    if k not in skipped:
                        yield table, key, self._read(table, key, returned.get(k), consistent=consistent)
        elif op in ("Query", "Scan"):
            table = params["TableName"]
            items = response.get("Items") or []
            for item in items:
                self._sizes[self._key(table, item)] = item_size(item)
            sizes = [item_size(i) for i in items]
            rru = query_read_units(sizes, consistent=bool(params.get("ConsistentRead")))
            yield table, {}, Units(rru=rru, items_read=len(items), bytes_read=sum(sizes))
        elif op == "BatchWriteItem":
            unprocessed = response.get("UnprocessedItems") or {}
            for table, requests in params["RequestItems"].items():
                left = {json.dumps(r, sort_keys=True, default=str) for r in unprocessed.get(table, [])}
                for request in requests:
                    if json.dumps(request, sort_keys=True, default=str) in left:
                        continue
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        yield table, item, self._write(table, item, item, False, store)
                    else:
                        key = request["DeleteRequest"]["Key"]
                        yield table, key, self._write(table, key, None, False, store)
        elif op == "TransactWriteItems":
            for entry in params["TransactItems"]:
                ((kind, body),) = entry.items()
                table = body["TableName"]
                if kind == "Put":
                    yield table, body["Item"], self._write(table, body["Item"], body["Item"], True, store)
                elif kind == "Delete":
                    yield table, body["Key"], self._write(table, body["Key"], None, True, store)
                else:  # Update (size after unknown: as last seen), ConditionCheck (billed as a write)
                    units = write_units(self.known_size(table, body["Key"]), transactional=True)
                    yield table, body["Key"], Units(wru=units, items_written=1 if kind == "Update" else 0)
        elif op == "TransactGetItems":
            responses = response.get("Responses") or []
            for i, entry in enumerate(params["TransactItems"]):
                table, key = entry["Get"]["TableName"], entry["Get"]["Key"]
                item = responses[i].get("Item") if i < len(responses) else None
                yield table, key, self._read(table, key, item, transactional=True)


# ---- EventBridge -------------------------------------------------------------------------------


def eventbridge_entry_size(entry: Mapping[str, Any]) -> int:
    """PutEvents entry size as EventBridge computes it: Time (14 bytes if set), Source,
    DetailType, Detail and each Resources ARN in UTF-8; the bus name does not count."""
    size = EVENTBRIDGE_TIME_BYTES if entry.get("Time") is not None else 0
    for field in ("Source", "DetailType", "Detail"):
        if entry.get(field) is not None:
            size += _utf8(str(entry[field]))
    size += sum(_utf8(r) for r in entry.get("Resources") or [])
    return size


def eventbridge_billed_events(entry_size: int) -> int:
    """Each started 64 KB of an entry is billed as one event."""
    return max(1, math.ceil(entry_size / EVENTBRIDGE_CHUNK_BYTES))


# ---- Lambda and the cost of one request --------------------------------------------------------


def lambda_cpu_share(memory_mb: int) -> float:
    """Fraction of one vCPU a function gets at ``memory_mb`` (1 at 1,769 MB, linear below)."""
    return min(1.0, memory_mb / LAMBDA_MB_PER_VCPU)


def lambda_billed_ms(cpu_us: float, aws_calls: float, *, per_call_ms: float, memory_mb: int) -> int:
    """Billed duration of one invocation: the CPU work stretched by the function's CPU share, plus a
    fixed wait per AWS call; Lambda bills whole milliseconds, rounded up."""
    cpu_ms = cpu_us / 1000 / lambda_cpu_share(memory_mb)
    return max(1, math.ceil(cpu_ms + aws_calls * per_call_ms))


def api_gateway_billed_requests(request_bytes: int) -> int:
    return max(1, math.ceil(request_bytes / API_GATEWAY_METERING_BYTES))


@dataclass(frozen=True)
class RequestUsage:
    """What one ingest request consumes, service by service."""

    request_bytes: int
    lambda_billed_ms: int
    memory_mb: int
    wru: float
    rru: float
    eventbridge_events: int  # billed 64 KB chunks
    secrets_calls: int
    # The publisher function (the profiles table's stream): invocations for this request's outbox, billed ms each.
    publisher_invocations: float = 0
    publisher_billed_ms: int = 0
    publisher_memory_mb: int = 512


def request_cost(usage: RequestUsage, prices: Mapping[str, Any]) -> dict[str, float]:
    """USD per request by service, at the list prices of bench/prices.json (its "services")."""
    p = prices["services"]
    gb_seconds = usage.memory_mb / 1024 * usage.lambda_billed_ms / 1000
    publisher_gb_s = usage.publisher_memory_mb / 1024 * usage.publisher_billed_ms / 1000
    return {
        "api_gateway": api_gateway_billed_requests(usage.request_bytes)
        * p["apigateway_http"]["usd_per_million_requests"]
        / 1e6,
        "lambda_requests": p["lambda_arm64"]["usd_per_million_requests"] / 1e6,
        "lambda_duration": gb_seconds * p["lambda_arm64"]["usd_per_gb_second"],
        "dynamodb_writes": usage.wru * p["dynamodb_on_demand"]["usd_per_million_wru"] / 1e6,
        "dynamodb_reads": usage.rru * p["dynamodb_on_demand"]["usd_per_million_rru"] / 1e6,
        "eventbridge": usage.eventbridge_events * p["eventbridge"]["usd_per_million_custom_events"] / 1e6,
        "secrets_manager": usage.secrets_calls * p["secrets_manager"]["usd_per_10k_api_calls"] / 1e4,
        "publisher_lambda": usage.publisher_invocations
        * (
            p["lambda_arm64"]["usd_per_million_requests"] / 1e6
            + publisher_gb_s * p["lambda_arm64"]["usd_per_gb_second"]
        ),
    }


def per_million_events(cost_per_request: Mapping[str, float], events_per_request: float) -> dict[str, float]:
    """Scale a per-request cost breakdown to one million canonical events."""
    if events_per_request <= 0:
        raise ValueError("a request that yields no events has no cost per event")
    return {k: v / events_per_request * 1e6 for k, v in cost_per_request.items()}


# ---- the scheduled job -------------------------------------------------------------------------

QUERY_PAGE_BYTES = 1024 * 1024  # a Query reads at most 1 MB per request; the rest comes in more pages


def query_pages(sizes: Iterable[int], page_bytes: int = QUERY_PAGE_BYTES) -> list[int]:
    """Bytes read by each page of a Query returning items of ``sizes`` (in order): a page ends with
    the item that reaches ``page_bytes``. An empty result is one page of 0 bytes."""
    pages, current = [], 0
    for size in sizes:
        current += size
        if current >= page_bytes:
            pages.append(current)
            current = 0
    if current or not pages:
        pages.append(current)
    return pages


def paged_query_units(sizes: Iterable[int], *, consistent: bool = False) -> tuple[int, float]:
    """(requests, read units) of one paged Query: each page is a request, rounded up to 4 KB on
    its own (at least 1 unit, halved when eventually consistent)."""
    pages = query_pages(sizes)
    return len(pages), sum(query_read_units([p], consistent=consistent) for p in pages)


def paged_query_units_for_bytes(total_bytes: float, *, consistent: bool = False) -> tuple[int, float]:
    """The same for a result known only by its total size (full 1 MB pages, then the rest)."""
    full, rest = divmod(max(0, math.ceil(total_bytes)), QUERY_PAGE_BYTES)
    pages = [QUERY_PAGE_BYTES] * full + ([rest] if rest or not full else [])
    return len(pages), sum(query_read_units([p], consistent=consistent) for p in pages)


def batch_get_units(sizes: Iterable[int], *, consistent: bool = True) -> float:
    """BatchGetItem: each key is charged as one GetItem (a missing item, size 0, still 1 unit)."""
    return sum(read_units(size, consistent=consistent) for size in sizes)


def scale(value: float, measured_on: float, target: float) -> float:
    """Linear extrapolation from ``measured_on`` to ``target`` (e.g. profiles or due timers)."""
    if measured_on <= 0:
        raise ValueError("cannot extrapolate from nothing")
    return value * target / measured_on
