"""The local runtime's DynamoDB stream event source mapping (emma_local.pump.StreamPump) against the real
emulator over HTTP, with moto's stream bounded (emma_local.moto_fixes, fix 9): records in order, filtered
as Lambda filters them, a failed record retried with what follows it, nothing streamed for a cancelled
transaction, and the records the pump has passed dropped."""

from __future__ import annotations

import base64
import json
import zlib

import pytest
from botocore.exceptions import ClientError

from emma.resources import TableDef
from emma_local.emulator import start_emulator
from emma_local.provision import create_table
from emma_local.pump import StreamPump


@pytest.fixture(scope="module")
def emulator():
    emu = start_emulator()
    yield emu
    emu.stop()


@pytest.fixture
def table(emulator, request):
    definition = TableDef(
        logical_id="T", name=f"stream-{request.node.name[:40]}", env_var="X", ttl_attribute=None, stream="NEW_IMAGE"
    )
    create_table(emulator.client("dynamodb"), definition)
    return emulator.client("dynamodb"), definition.name


def clients(emulator):
    return emulator.client("dynamodb"), emulator.client("dynamodbstreams")


def put(ddb, name, pk, **extra):
    ddb.put_item(TableName=name, Item={"pk": {"S": pk}, "sk": {"S": "PROFILE"}, **extra})


class Handler:
    """Records what it got; fails the record with a given pk the given number of times."""

    def __init__(self, fail: dict[str, int] | None = None):
        self.fail = dict(fail or {})
        self.seen: list[str] = []

    def __call__(self, event, context):
        for record in event["Records"]:
            pk = record["dynamodb"]["Keys"]["pk"]["S"]
            if self.fail.get(pk, 0) > 0:
                self.fail[pk] -= 1
                return {"batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]}
            self.seen.append(pk)
        return {"batchItemFailures": []}


def shard(name):
    from moto.dynamodb.models import dynamodb_backends

    from emma_local.emulator import ACCOUNT_ID, REGION

    return dynamodb_backends[ACCOUNT_ID][REGION].get_table(name).stream_shard


def test_records_arrive_in_order_as_lambda_sees_them_and_are_dropped_once_passed(emulator, table):
    ddb, name = table
    blob = zlib.compress(b'[{"id": "e1"}]')
    put(ddb, name, "a", outbox={"B": blob})
    put(ddb, name, "b")
    got = []
    pump = StreamPump(*clients(emulator), name, lambda event, ctx: got.extend(event["Records"]), "test")
    assert pump.drain(timeout=10)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in got] == ["a", "b"]
    first = got[0]
    assert first["eventSource"] == "aws:dynamodb" and first["eventName"] == "INSERT"
    assert first["eventSourceARN"].startswith("arn:aws:dynamodb:") and "/stream/" in first["eventSourceARN"]
    assert base64.b64decode(first["dynamodb"]["NewImage"]["outbox"]["B"]) == blob  # binary as base64, as in Lambda
    sequences = [int(r["dynamodb"]["SequenceNumber"]) for r in got]
    put(ddb, name, "c")
    assert pump.drain(timeout=10)
    assert int(got[-1]["dynamodb"]["SequenceNumber"]) == sequences[-1] + 1  # numbers keep counting
    assert pump.poll_once() == 0
    assert len(shard(name).items) <= 1  # what the pump passed is gone (the last one goes on the next read)


def test_only_what_the_filter_matches_reaches_the_handler(emulator, table):
    ddb, name = table
    put(ddb, name, "plain")
    put(ddb, name, "with", outbox={"B": b"x"})
    ddb.delete_item(TableName=name, Key={"pk": {"S": "with"}, "sk": {"S": "PROFILE"}})
    handler = Handler()
    pattern = {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"outbox": {"B": [{"exists": True}]}}}}
    pump = StreamPump(*clients(emulator), name, handler, "test", filter_pattern=pattern)
    assert pump.drain(timeout=10)
    assert handler.seen == ["with"]


def test_a_failed_record_is_retried_with_everything_after_it_in_order(emulator, table, monkeypatch):
    from emma_local import pump as pump_module

    monkeypatch.setattr(pump_module, "RETRY_DELAY_SECONDS", 0.05)
    ddb, name = table
    for pk in ("r1", "r2", "r3"):
        put(ddb, name, pk)
    handler = Handler(fail={"r2": 2})
    pump = StreamPump(*clients(emulator), name, handler, "test")
    assert pump.drain(timeout=10)
    assert handler.seen == ["r1", "r2", "r3"] and pump.failed == 2


def test_a_crashing_handler_loses_nothing_and_a_paused_pump_reads_nothing(emulator, table, monkeypatch):
    from emma_local import pump as pump_module

    monkeypatch.setattr(pump_module, "RETRY_DELAY_SECONDS", 0.05)
    ddb, name = table
    calls = []

    def crashes_once(event, context):
        calls.append([r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]])
        if len(calls) == 1:
            raise RuntimeError("publisher down")

    pump = StreamPump(*clients(emulator), name, crashes_once, "test")
    pump.paused = True
    put(ddb, name, "x1")
    put(ddb, name, "x2")
    assert not pump.drain(timeout=0.3) and calls == []
    pump.paused = False
    assert pump.drain(timeout=10)
    assert calls == [["x1", "x2"], ["x1", "x2"]]


def test_a_cancelled_transaction_streams_nothing(emulator, table):
    ddb, name = table
    put(ddb, name, "exists")
    with pytest.raises(ClientError, match="TransactionCanceled"):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": {"pk": {"S": "new"}, "sk": {"S": "PROFILE"}}}},
                {
                    "Put": {
                        "TableName": name,
                        "Item": {"pk": {"S": "exists"}, "sk": {"S": "PROFILE"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    ddb.transact_write_items(
        TransactItems=[{"Put": {"TableName": name, "Item": {"pk": {"S": "committed"}, "sk": {"S": "PROFILE"}}}}]
    )
    handler = Handler()
    assert StreamPump(*clients(emulator), name, handler, "test").drain(timeout=10)
    assert handler.seen == ["exists", "committed"]
    assert json.dumps(handler.seen)  # plain strings
