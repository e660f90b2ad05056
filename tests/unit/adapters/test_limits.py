"""DynamoDB's request limits as the adapters count them, and the in-memory twin refusing what DynamoDB
would refuse."""

from __future__ import annotations

import pytest

from emma.adapters.dynamodb import DynamoProfileRepository
from emma.adapters.limits import (
    MAX_ITEM_BYTES,
    StoreRequestTooLarge,
    check_batch_write,
    check_transaction,
    item_bytes,
)
from emma.ingest.ports import AliasKey, Commit
from emma.profiles.model import new_profile
from emma_local.fakes import InMemoryProfileRepository
from factories import T0, event


def test_item_sizes_are_counted_as_dynamodb_counts_them():
    item = {
        "pk": {"S": "S#shop#P#ä"},  # 2 + 11 (ä is two bytes)
        "n": {"N": "-123.450"},  # 1 + (5 significant digits + 1) // 2 + 1 = 1 + 4
        "b": {"B": b"\x00" * 10},  # 1 + 10
        "f": {"BOOL": True},  # 1 + 1
        "l": {"L": [{"S": "xy"}, {"NULL": True}]},  # 1 + 3 + (1 + 2) + (1 + 1)
        "m": {"M": {"k": {"S": "v"}}},  # 1 + 3 + (1 + 1 + 1)
    }
    assert item_bytes(item) == 13 + 5 + 11 + 2 + 9 + 7


def _put(size: int) -> dict:
    return {"Put": {"TableName": "t", "Item": {"pk": {"S": "k"}, "doc": {"S": "x" * (size - 6)}}}}


def test_transactions_over_dynamodbs_limits_are_refused_naming_the_limit():
    check_transaction([_put(1000)] * 100)
    with pytest.raises(StoreRequestTooLarge, match="101 items; DynamoDB allows 100"):
        check_transaction([_put(1000)] * 101)
    with pytest.raises(StoreRequestTooLarge, match=f"an item of {MAX_ITEM_BYTES + 1} bytes"):
        check_transaction([_put(MAX_ITEM_BYTES + 1)])
    check_transaction([_put(MAX_ITEM_BYTES)] * 10)  # 4,096,000 bytes
    with pytest.raises(StoreRequestTooLarge, match="DynamoDB allows 4194304"):
        check_transaction([_put(MAX_ITEM_BYTES)] * 11)
    with pytest.raises(StoreRequestTooLarge, match="26 items; DynamoDB allows 25"):
        check_batch_write([{"PutRequest": {"Item": {"pk": {"S": "k"}}}}] * 26)


def test_the_in_memory_twin_refuses_a_commit_dynamodb_would_refuse():
    import base64
    import random

    repo = InMemoryProfileRepository()
    profile = new_profile("elektro-emma", "p_1", T0)
    profile.version = 1
    blob = base64.b64encode(random.Random(1).randbytes(150_000)).decode()  # 200 KB, barely compressible
    events = [event("custom", id=f"e-{i}", name="Scan", properties={"blob": blob + str(i)}) for i in range(30)]
    with pytest.raises(StoreRequestTooLarge, match=r"TransactWriteItems of \d+ bytes; DynamoDB allows 4194304"):
        repo.commit(Commit("elektro-emma", profile, None, events, 1, claim_aliases=[AliasKey("anon", "anon-1")]))
    assert repo.commits == 0 and repo.seen == {}
    repo.commit(Commit("elektro-emma", profile, None, events[:10], 1, claim_aliases=[AliasKey("anon", "anon-1")]))
    assert repo.commits == 1 and len(repo.seen) == 10


class _PagedClient:
    """BatchGetItem answering two keys at a time (as DynamoDB does past 16 MB), the rest unprocessed."""

    def __init__(self) -> None:
        self.calls = 0

    def batch_get_item(self, RequestItems):
        self.calls += 1
        (table, request), *_ = RequestItems.items()
        keys = request["Keys"]
        answered = [{**key, "doc": {"S": "{}"}} for key in keys[:2]]
        rest = {table: {**request, "Keys": keys[2:]}} if keys[2:] else {}
        return {"Responses": {table: answered}, "UnprocessedKeys": rest}


def test_a_batch_get_goes_on_while_dynamodb_makes_progress():
    client = _PagedClient()
    repo = DynamoProfileRepository(client, "profiles", sleep=lambda s: None)
    keys = [{"pk": {"S": f"k-{i}"}, "sk": {"S": "PROFILE"}} for i in range(150)]
    assert len(repo._batch_get(keys)) == 150
    assert client.calls == 50 + 25  # 100 keys, then 50: two keys an answer
