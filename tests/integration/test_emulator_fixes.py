"""The emulator glue that lets `emma dev` hold a shop (emma_local.moto_fixes), against the real
emulator over HTTP: the same answers as moto's own code, without its per-write copies and scans."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from emma_local.emulator import start_emulator


@pytest.fixture(scope="module")
def emulator():
    emu = start_emulator()
    yield emu
    emu.stop()


@pytest.fixture
def table(emulator, request):
    ddb = emulator.client("dynamodb")
    name = f"fixes-{request.node.name[:40]}"
    ddb.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return ddb, name


def _item(ddb, name, pk, sk):
    return ddb.get_item(TableName=name, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True).get("Item")


def test_a_cancelled_transaction_restores_exactly_the_items_it_touched(table):
    ddb, name = table
    ddb.put_item(TableName=name, Item={"pk": {"S": "p1"}, "sk": {"S": "PROFILE"}, "v": {"N": "1"}, "x": {"S": "old"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "p1"}, "sk": {"S": "GONE"}, "keep": {"S": "me"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "p2"}, "sk": {"S": "OTHER"}, "n": {"N": "7"}})
    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": {"pk": {"S": "p1"}, "sk": {"S": "NEW"}, "a": {"S": "b"}}}},
                {
                    "Update": {
                        "TableName": name,
                        "Key": {"pk": {"S": "p1"}, "sk": {"S": "PROFILE"}},
                        "UpdateExpression": "SET v = v + :one, x = :new",
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":new": {"S": "new"}},
                    }
                },
                {"Delete": {"TableName": name, "Key": {"pk": {"S": "p1"}, "sk": {"S": "GONE"}}}},
                {
                    "ConditionCheck": {
                        "TableName": name,
                        "Key": {"pk": {"S": "p2"}, "sk": {"S": "OTHER"}},
                        "ConditionExpression": "n = :eight",
                        "ExpressionAttributeValues": {":eight": {"N": "8"}},
                    }
                },
            ]
        )
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in caught.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    assert _item(ddb, name, "p1", "NEW") is None  # the put undone
    assert _item(ddb, name, "p1", "PROFILE") == {
        "pk": {"S": "p1"},
        "sk": {"S": "PROFILE"},
        "v": {"N": "1"},
        "x": {"S": "old"},
    }
    assert _item(ddb, name, "p1", "GONE") == {"pk": {"S": "p1"}, "sk": {"S": "GONE"}, "keep": {"S": "me"}}
    assert _item(ddb, name, "p2", "OTHER") == {"pk": {"S": "p2"}, "sk": {"S": "OTHER"}, "n": {"N": "7"}}
    items = ddb.scan(TableName=name)["Items"]
    assert len(items) == 3


def test_a_committed_transaction_writes_everything_and_the_same_key_twice_is_refused(table):
    ddb, name = table
    ddb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": name,
                    "Item": {"pk": {"S": "p1"}, "sk": {"S": "A"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"Put": {"TableName": name, "Item": {"pk": {"S": "p1"}, "sk": {"S": "B"}}}},
        ]
    )
    assert _item(ddb, name, "p1", "A") and _item(ddb, name, "p1", "B")
    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": {"pk": {"S": "p1"}, "sk": {"S": "C"}}}},
                {"Delete": {"TableName": name, "Key": {"pk": {"S": "p1"}, "sk": {"S": "C"}}}},
            ]
        )
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert _item(ddb, name, "p1", "C") is None


def test_a_transaction_never_copies_a_table(table, monkeypatch):
    """moto's own code deep-copies every table a transaction names (O(table) per write)."""
    from moto.dynamodb.models.table import Table

    ddb, name = table
    for i in range(30):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"p{i}"}, "sk": {"S": "PROFILE"}})

    def refuse(self, memo):
        raise AssertionError("a whole table was copied")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    ddb.transact_write_items(
        TransactItems=[{"Put": {"TableName": name, "Item": {"pk": {"S": "p1"}, "sk": {"S": "X"}}}}]
    )
    with pytest.raises(ClientError):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": {"pk": {"S": "p2"}, "sk": {"S": "X"}}}},
                {
                    "ConditionCheck": {
                        "TableName": name,
                        "Key": {"pk": {"S": "p3"}, "sk": {"S": "PROFILE"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert _item(ddb, name, "p2", "X") is None


def test_written_items_are_not_kept_by_moto_after_they_are_replaced(table):
    """moto tracks every model instance it ever made (for /moto-api/data.json): every write leaked."""
    from moto.dynamodb.models.dynamo_type import Item

    ddb, name = table
    for i in range(50):
        ddb.put_item(TableName=name, Item={"pk": {"S": "p1"}, "sk": {"S": "PROFILE"}, "v": {"N": str(i)}})
    assert Item.instances_tracked == []


def test_a_query_reads_its_partition_in_order_with_paging(table):
    ddb, name = table
    for pk in ("a", "b", "c"):
        for i in range(7):
            ddb.put_item(TableName=name, Item={"pk": {"S": pk}, "sk": {"S": f"LOG#{i:03d}"}, "i": {"N": str(i)}})
    pages, start = [], None
    while True:
        kwargs = {"ExclusiveStartKey": start} if start else {}
        resp = ddb.query(
            TableName=name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :log)",
            ExpressionAttributeValues={":pk": {"S": "b"}, ":log": {"S": "LOG#"}},
            ScanIndexForward=False,
            Limit=3,
            **kwargs,
        )
        pages.append([int(item["i"]["N"]) for item in resp["Items"]])
        start = resp.get("LastEvaluatedKey")
        if not start:
            break
    assert pages == [[6, 5, 4], [3, 2, 1], [0]]
    empty = ddb.query(TableName=name, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "zz"}})
    assert empty["Items"] == []
    assert len(ddb.scan(TableName=name)["Items"]) == 21  # scans still see every partition


def test_queues_count_their_messages_and_rules_still_transform_their_input(emulator):
    sqs, events = emulator.client("sqs"), emulator.client("events")
    url = sqs.create_queue(QueueName="fixes-target")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.create_event_bus(Name="fixes-bus")
    events.put_rule(Name="fixes-rule", EventBusName="fixes-bus", EventPattern=json.dumps({"source": ["fixes"]}))
    events.put_targets(
        Rule="fixes-rule",
        EventBusName="fixes-bus",
        Targets=[
            {
                "Id": "q",
                "Arn": arn,
                "InputTransformer": {"InputPathsMap": {"id": "$.detail.id"}, "InputTemplate": '{"event_id": "<id>"}'},
            }
        ],
    )
    for chunk in range(3):
        entries = [
            {
                "Source": "fixes",
                "DetailType": "t",
                "Detail": json.dumps({"id": f"e{chunk}-{i}"}),
                "EventBusName": "fixes-bus",
            }
            for i in range(10)
        ]
        assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "30"
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert {json.loads(m["Body"])["event_id"] for m in got} <= {f"e{c}-{i}" for c in range(3) for i in range(10)}
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attrs == {"ApproximateNumberOfMessages": "20", "ApproximateNumberOfMessagesNotVisible": "10"}


def test_a_full_collection_freezes_what_survived_and_replaced_items_are_still_freed(table):
    """Full collections walked every item the emulator holds (a 19 s pause at 100,000 soak customers);
    after one, the survivors are frozen. Items replaced later are still freed: they hold no cycles, so
    reference counting frees them, frozen or not."""
    import gc
    import weakref

    from moto.dynamodb.models import dynamodb_backends

    ddb, name = table
    ddb.put_item(TableName=name, Item={"pk": {"S": "p1"}, "sk": {"S": "PROFILE"}, "v": {"N": "1"}})
    backend = next(b for account in dynamodb_backends.values() for b in account.values() if name in b.tables)
    from moto.dynamodb.models.dynamo_type import DynamoType

    item = backend.tables[name].get_item(DynamoType({"S": "p1"}), DynamoType({"S": "PROFILE"}))
    stored = weakref.ref(item)
    del item
    gc.unfreeze()
    gc.collect()  # a full collection: the callback freezes the survivors, the item among them
    assert gc.get_freeze_count() > 0 and stored() is not None
    gc.disable()  # from here only reference counting frees anything
    try:
        ddb.put_item(TableName=name, Item={"pk": {"S": "p1"}, "sk": {"S": "PROFILE"}, "v": {"N": "2"}})
        assert stored() is None
    finally:
        gc.enable()


def test_data_plane_answers_are_what_moto_s_serializer_writes(table, monkeypatch):
    """Fix 8: each data-plane operation's answer, written plainly, decodes to the same JSON as moto's own
    serializer writes it, for every attribute type (binary in base64, sets, nested maps and lists, NULL,
    BOOL, numbers) and the keys and counts around the items; boto3 reads the same values."""
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoResult

    from emma_local.moto_fixes import PLAIN_DYNAMODB_OPERATIONS

    ddb, name = table
    bodies: list[tuple[str, str, str]] = []
    plain = DynamoResult.execute_result

    def both(self, context):
        status, headers, body = plain(self, context)
        _, _, reference = ActionResult.execute_result(self, context)  # moto's serializer
        bodies.append((context.operation_model.name, body, reference))
        return status, headers, body

    monkeypatch.setattr(DynamoResult, "execute_result", both)
    item = {
        "pk": {"S": "p"},
        "sk": {"S": "s1"},
        "bin": {"B": b"\x00\xff binary"},
        "bins": {"BS": [b"a", b"\x01"]},
        "n": {"N": "12.50"},
        "ns": {"NS": ["1", "2.5"]},
        "ss": {"SS": ["x", "y"]},
        "m": {"M": {"l": {"L": [{"S": "q"}, {"NULL": True}, {"BOOL": False}, {"N": "-3"}]}, "e": {"M": {}}}},
    }
    key = {"pk": {"S": "p"}, "sk": {"S": "s1"}}
    ddb.put_item(TableName=name, Item=item, ReturnValues="NONE")
    ddb.put_item(TableName=name, Item={**item, "sk": {"S": "s2"}}, ReturnConsumedCapacity="TOTAL")
    got = ddb.get_item(TableName=name, Key=key, ConsistentRead=True)["Item"]
    assert got["bin"] == {"B": b"\x00\xff binary"} and set(got["bins"]["BS"]) == {b"a", b"\x01"}
    ddb.batch_get_item(RequestItems={name: {"Keys": [key, {"pk": {"S": "p"}, "sk": {"S": "none"}}]}})
    ddb.query(TableName=name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}}, Limit=1)
    ddb.scan(TableName=name, Select="COUNT")
    ddb.update_item(
        TableName=name,
        Key=key,
        UpdateExpression="SET n = n + :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
        ReturnValues="ALL_NEW",
    )
    ddb.delete_item(TableName=name, Key={"pk": {"S": "p"}, "sk": {"S": "s2"}}, ReturnValues="ALL_OLD")
    ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"S": "1"}}}}]})
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": name, "Item": {"pk": {"S": "t"}, "sk": {"S": "1"}}}}])
    ddb.transact_get_items(TransactItems=[{"Get": {"TableName": name, "Key": key}}])
    seen = {op for op, _, _ in bodies}
    assert seen == PLAIN_DYNAMODB_OPERATIONS, PLAIN_DYNAMODB_OPERATIONS - seen

    def same(a, b):  # the serializer writes doubles as floats (CapacityUnits 1.0); JSON numbers are equal
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        return a == b

    for op, body, reference in bodies:
        assert same(json.loads(body), json.loads(reference)), (op, body, reference)
