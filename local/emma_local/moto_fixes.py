"""Fixes to moto 5.2.5 that let the embedded emulator hold a shop: flat memory, flat write latency.

What moto does, and what each fix changes (found with tracemalloc and a soak of 100,000 customers,
`python -m bench.soak`):

1. **Every model instance is kept forever.** ``moto.core.common_models.BaseModel.__new__`` appends
   each instance to its class's ``instances_tracked`` list (for ``/moto-api/data.json``). A DynamoDB
   ``Item`` is a model, and every put or update builds new ones, so every item ever written stays
   in memory, overwritten or deleted (SQS messages, EventBridge events: the same). Emma never reads
   ``/moto-api/data.json``; :func:`install` turns the tracking off.
2. **TransactWriteItems deep-copies whole tables.** To roll back, moto copies every table the
   transaction names, item by item, before it starts: O(table) time and memory per transaction,
   so writes slow down with the data (800 ms per transaction at a few thousand customers) and the
   copies (tracked, see 1) are never freed. The replacement keeps an undo record of only the items
   the transaction touches, and restores exactly those when it is cancelled; otherwise it is
   moto's code (same checks, same errors, same order).
3. **Sending to a queue counts the queue.** ``SQSBackend.send_message`` reads ``queue.attributes``
   three times to learn whether the queue deduplicates by content, and that property counts the
   queue's messages (visible, delayed, in flight) each time: every send is O(backlog), so a
   backlog (a consumer behind, a DLQ that fills) slows every PutEvents that feeds the queue, which
   holds the emulator's lock and slows the consumer further. During a send the counts are not
   computed (they are not used there); ``GetQueueAttributes`` still counts. And SQS asks the time
   through naive datetimes, twice per message per ReceiveMessage (about 6 µs each): it gets
   ``time.time()`` instead, the same number.
4. **EventBridge compiles its input paths for every event.** moto runs every rule target through its
   input transformer (with default input paths when the target has none) and parses each JSONPath
   with jsonpath-ng (a yacc parser built per call) for every event and target: about 1 ms a path,
   60-90 ms for a PutEvents of ten events. Parsed paths are cached (they are immutable; Step
   Functions' JSONPath gains too).
5. **Every request lists moto's package folder.** The server's dispatcher asks
   ``moto.backends.list_of_moto_modules()`` (``os.listdir`` plus a ``stat`` per entry, about 5 ms)
   for each request, to tell a service name from a host name. The list is read once.
6. **A Query reads the whole table.** ``Table.query`` without an index collects and *sorts* every
   item of the table (``all_items()``) to keep those of one partition. The fix hands it the
   partition's items only; the sort, paging and filters are moto's.
7. **Full garbage collections stop the world for longer as the shop grows.** The emulator holds every
   item as Python objects (about 25 million container objects per 10,000 soak customers). CPython
   runs a full collection whenever the objects that survived earlier ones have grown by a quarter,
   and each one walks them all: one pause per quarter of growth, 5.5 s at 10,000 customers, 19 s at
   100,000, during which every request to `emma dev` waits (the soak's "max" column). After each
   full collection everything still alive is frozen (``gc.freeze``): later collections walk only
   what was made since, and frozen objects are still freed by reference counting when dropped
   (only a reference cycle among them would stay, and the emulator's items and messages do not
   form cycles).
8. **Every DynamoDB answer walks botocore's service model.** moto serializes each response through a
   generic serializer that visits every attribute of every item against the operation's output shape:
   a third of the emulator's time for a batch of imported profiles. The data-plane answers (items,
   keys, counts, capacity) are already DynamoDB JSON, whose wire form is that JSON with binary values in
   base64: they are written with ``json.dumps`` (tests/unit/local/test_moto_fixes.py holds the two equal
   for every data-plane operation and every attribute type). Control-plane answers (tables, TTL, tags:
   timestamps and enums) keep moto's serializer.
9. **A DynamoDB stream keeps every record forever, and a cancelled transaction's too.** moto appends a
   record per write to the table's one shard and drops them only for its own Lambda event source mappings
   (which would run the function inside the write, under the emulator's lock). DynamoDB keeps records 24
   hours. Here a shard drops the records before the position a reader asks for (``GetRecords``: the
   local runtime's one reader per stream, emma_local.pump.StreamPump, asks only for what follows what it
   handled), sequence numbers stay as they were, and each shard iterator is forgotten once used (boto3
   follows ``NextShardIterator``). A cancelled TransactWriteItems removes the records its writes added:
   DynamoDB streams only what a transaction committed. And a record is built without moto's size estimate
   (a JSON dump of the whole image on every write to the table, under the emulator's lock).

:func:`install` is idempotent and applied by :func:`emma_local.emulator.start_emulator`, so
``emma dev``, ``emma demo``, the end-to-end tests and the benchmarks all run with it.
"""

from __future__ import annotations

import base64
import copy
import gc
import json
import threading
from typing import Any

_installed = False
_lock = threading.Lock()


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        _stop_instance_tracking()
        _key_level_transactions()
        _cheap_sends()
        _cached_json_paths()
        _cached_module_list()
        _partition_queries()
        _plain_dynamodb_responses()
        _bounded_streams()
        gc.callbacks.append(_freeze_after_full_collections)
        _installed = True


def _freeze_after_full_collections(phase: str, info: dict[str, Any]) -> None:
    """A gc callback: once a full collection has finished, what survived it is left out of the next."""
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


def _stop_instance_tracking() -> None:
    from moto.core import common_models
    from moto.core.model_instances import model_data

    base = common_models.BaseModel

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        return super(base, cls).__new__(cls)

    base.__new__ = staticmethod(__new__)  # type: ignore[method-assign]
    for models in model_data.values():  # what was tracked before (imports at start-up)
        for model in models.values():
            model.instances_tracked = []


def _key_level_transactions() -> None:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        undo: list[tuple[Any, Any, Any, Any]] = []  # (table, hash, range, the item before) in order
        streamed: dict[int, tuple[Any, int]] = {}  # id(shard) -> (shard, its records before the transaction)

        def remember(table_name: str, key: dict[str, Any]) -> None:
            table = self.get_table(table_name)
            hash_value, range_value = self.get_keys_value(table, key)
            before = table.get_item(hash_value, range_value)
            undo.append((table, hash_value, range_value, copy.deepcopy(before)))
            shard = table.stream_shard
            if shard is not None and id(shard) not in streamed:
                streamed[id(shard)] = (shard, len(shard.items))

        def rollback() -> None:
            for shard, length in streamed.values():  # DynamoDB streams only what a transaction committed
                del shard.items[length:]
            for table, hash_value, range_value, before in reversed(undo):
                if range_value is not None:
                    partition = table.items.get(hash_value)
                    if before is not None:
                        table.items[hash_value][range_value] = before
                    elif partition is not None:
                        partition.pop(range_value, None)
                        if not partition:
                            del table.items[hash_value]
                elif before is not None:
                    table.items[hash_value] = before
                else:
                    table.items.pop(hash_value, None)

        target_items: set[tuple[str, str]] = set()

        def check_unicity(table_name: str, key: dict[str, Any]) -> None:
            item = (str(table_name), str(dict(sorted(key.items()))))
            if item in target_items:
                raise MultipleTransactionsException()
            target_items.add(item)

        errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
        for item in transact_items:
            original_item: dict[str, Any] | None = None
            if len(list(item.keys())) > 1:
                raise TransactWriteSingleOpException
            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                condition_expression = op.get("ConditionExpression")
                names = op.get("ExpressionAttributeNames")
                values = op.get("ExpressionAttributeValues")
                if op_type == "Put":
                    attrs = op["Item"]
                    table = self.get_table(table_name)
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]
                check_unicity(table_name, key)
                current = self.get_item(table_name, key)
                if condition_expression is not None:
                    condition_op = get_filter_expression(condition_expression, names, values)
                    if not condition_op.expr(current):
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)
                if op_type != "ConditionCheck":
                    remember(table_name, key)
                if op_type == "Put":
                    self.put_item(
                        table_name,
                        op["Item"],
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Delete":
                    self.delete_item(
                        table_name,
                        key,
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Update":
                    self.update_item(
                        table_name,
                        key,
                        update_expression=op["UpdateExpression"],
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                rollback()
                raise
            except ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
            except Exception as e:
                errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]
        if any(code is not None for code, _, _ in errors):
            rollback()
            raise TransactionCanceledException(errors)

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _bounded_streams() -> None:
    """Fix 9: a shard drops what its reader has passed; sequence numbers keep counting from the start."""
    import time
    import uuid

    from moto.dynamodb.models.table import StreamShard
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator

    def offset(shard: StreamShard) -> int:
        return shard.starting_sequence_number + getattr(shard, "dropped", 0)

    class _Record:
        """moto's StreamRecord without its size estimate (a JSON dump of the whole image on every write, under the
        emulator's lock); the images are taken at write time, as moto takes them."""

        __slots__ = ("record",)

        def __init__(self, table: Any, view: str, event_name: str, old: Any, new: Any, seq: int) -> None:
            rec = old if old is not None else new
            keys = {table.hash_key_attr: rec.hash_key.to_json()}
            if table.range_key_attr is not None:
                keys[table.range_key_attr] = rec.range_key.to_json()
            data: dict[str, Any] = {
                "StreamViewType": view,
                "ApproximateCreationDateTime": time.time(),
                "SequenceNumber": str(seq),
                "SizeBytes": 1,
                "Keys": keys,
            }
            if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") and new is not None:
                data["NewImage"] = new.to_json()["Attributes"]
            if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") and old is not None:
                data["OldImage"] = old.to_json()["Attributes"]
            self.record = {
                "eventID": uuid.uuid4().hex,
                "eventName": event_name,
                "eventSource": "aws:dynamodb",
                "eventVersion": "1.0",
                "awsRegion": table.region_name,
                "dynamodb": data,
            }

        def to_json(self) -> dict[str, Any]:
            return self.record

    def add(self: StreamShard, old: Any, new: Any) -> None:
        view = self.table.stream_specification["StreamViewType"]  # type: ignore[index]
        event_name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        self.items.append(_Record(self.table, view, event_name, old, new, offset(self) + len(self.items)))

    def get(self: StreamShard, start: int, quantity: int) -> list[dict[str, Any]]:
        first = max(0, start - offset(self))
        if first:  # the reader has passed these: drop them
            del self.items[:first]
            self.dropped = getattr(self, "dropped", 0) + first
        return [i.to_json() for i in self.items[:quantity]]

    init = ShardIterator.__init__

    def iterator_init(self: ShardIterator, backend: Any, shard: StreamShard, kind: str, sequence: Any = None) -> None:
        init(self, backend, shard, kind, sequence)
        if kind == "TRIM_HORIZON":
            self.sequence_number = offset(shard)
        elif kind == "LATEST":
            self.sequence_number = offset(shard) + len(shard.items)

    def get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> dict[str, Any]:
        return self.shard_iterators.pop(iterator_arn).get(limit)

    StreamShard.add = add  # type: ignore[method-assign]
    StreamShard.get = get  # type: ignore[method-assign]
    ShardIterator.__init__ = iterator_init  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign]


def _cheap_sends() -> None:
    import time
    from functools import wraps

    from moto.sqs import models as sqs_models
    from moto.sqs.models import Queue, SQSBackend

    slow_unix_time = sqs_models.unix_time

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else slow_unix_time(dt)

    def unix_time_millis(dt: Any = None) -> float:
        return unix_time(dt) * 1000.0

    sqs_models.unix_time = unix_time
    sqs_models.unix_time_millis = unix_time_millis

    sending = threading.local()
    for name in (
        "approximate_number_of_messages",
        "approximate_number_of_messages_delayed",
        "approximate_number_of_messages_not_visible",
    ):
        counted = getattr(Queue, name)

        def count(self: Queue, _counted: Any = counted) -> int:
            return 0 if getattr(sending, "active", False) else _counted.fget(self)

        setattr(Queue, name, property(count))

    def cheap(send: Any) -> Any:
        @wraps(send)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            outer = getattr(sending, "active", False)
            sending.active = True
            try:
                return send(*args, **kwargs)
            finally:
                sending.active = outer

        return wrapper

    SQSBackend.send_message = cheap(SQSBackend.send_message)  # type: ignore[method-assign]
    SQSBackend.send_message_batch = cheap(SQSBackend.send_message_batch)  # type: ignore[method-assign]


def _cached_json_paths() -> None:
    from functools import lru_cache

    import jsonpath_ng.ext

    if not hasattr(jsonpath_ng.ext.parse, "cache_info"):
        jsonpath_ng.ext.parse = lru_cache(maxsize=4096)(jsonpath_ng.ext.parse)


def _cached_module_list() -> None:
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def _partition_queries() -> None:
    import inspect

    from moto.dynamodb.models.table import Table

    original_query = Table.query
    original_all_items = Table.all_items
    signature = inspect.signature(original_query)
    only = threading.local()  # the partition a query without an index reads

    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        hash_key = bound.arguments.get("hash_key")
        if bound.arguments.get("index_name") or hash_key is None:
            return original_query(self, *args, **kwargs)
        only.table, only.hash_key = self, hash_key
        try:
            return original_query(self, *args, **kwargs)
        finally:
            only.table = only.hash_key = None

    def all_items(self: Table) -> list[Any]:
        if getattr(only, "table", None) is not self:
            return original_all_items(self)
        partition = self.items.get(only.hash_key)
        if partition is None:
            return []
        return list(partition.values()) if self.range_key_attr else [partition]

    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]


# Operations whose answers (DynamoResult) hold only DynamoDB JSON items, keys, counts and capacity (no timestamps,
# no enums). BatchWriteItem and TransactWriteItems answer through moto's plain ActionResult: left as they are.
PLAIN_DYNAMODB_OPERATIONS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "TransactGetItems",
    }
)


def _wire(value: Any) -> Any:
    """json.dumps' fallback: binary attribute values travel in base64, as the JSON protocol has them."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} in a DynamoDB answer")


def _plain_dynamodb_responses() -> None:
    import uuid

    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name not in PLAIN_DYNAMODB_OPERATIONS:
            return original(self, context)
        members = context.operation_model.output_shape.members  # moto's legacy extras are not on the wire
        result = {k: v for k, v in self.result.items() if v is not None and k in members}
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-requestid": uuid.uuid4().hex}
        return 200, headers, json.dumps(result, default=_wire)

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]
