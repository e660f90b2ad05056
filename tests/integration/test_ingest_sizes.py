"""No size that breaks a write (issue 12): one customer's 1,000 calls in one batch, through the ingest
handler onto DynamoDB (moto), with every store request checked against DynamoDB's limits."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from emma.adapters.limits import MAX_BATCH_GET_KEYS, check_batch_write, check_transaction, item_bytes
from emma.config import IngestSettings
from emma.wiring.ingest import build_intake
from emma_local.lambdas import LambdaContext, api_event, response_body

SHOP = "elektro-emma"
SESSIONS = 40  # the customer's visits before logging in, each an anonymous profile of its own


class LimitedDynamoDB:
    """A DynamoDB client that refuses, as DynamoDB does, every request over its limits (moto checks
    only the number of items of a transaction and of a BatchGetItem), and keeps what it saw."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.transactions: list[tuple[int, int]] = []  # (items, bytes) of each TransactWriteItems or PutItem

    def transact_write_items(self, TransactItems, **kwargs):
        check_transaction(TransactItems)
        size = sum(item_bytes(i["Put"]["Item"]) for i in TransactItems if "Put" in i)
        self.transactions.append((len(TransactItems), size))
        return self._client.transact_write_items(TransactItems=TransactItems, **kwargs)

    def put_item(self, Item, **kwargs):  # a commit that is the profile's write alone
        check_transaction([{"Put": {"Item": Item}}])
        self.transactions.append((1, item_bytes(Item)))
        return self._client.put_item(Item=Item, **kwargs)

    def batch_write_item(self, RequestItems, **kwargs):
        for requests in RequestItems.values():
            check_batch_write(requests)
        return self._client.batch_write_item(RequestItems=RequestItems, **kwargs)

    def batch_get_item(self, RequestItems, **kwargs):
        assert sum(len(t["Keys"]) for t in RequestItems.values()) <= MAX_BATCH_GET_KEYS
        return self._client.batch_get_item(RequestItems=RequestItems, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class Session:
    def __init__(self, session: Any) -> None:
        self._session = session
        self.dynamodb: LimitedDynamoDB | None = None

    def client(self, service: str, **kwargs: Any) -> Any:
        client = self._session.client(service, **kwargs)
        if service == "dynamodb":
            self.dynamodb = LimitedDynamoDB(client)
            return self.dynamodb
        return client


@pytest.fixture
def ingest(aws, monkeypatch):
    from emma_local import moto_fixes
    from ingest import deps
    from ingest.handler import lambda_handler

    moto_fixes.install()  # moto copies every table per transaction otherwise: minutes instead of seconds
    session, res = aws
    for name, value in res.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Emma")
    limited = Session(session)
    components = build_intake(IngestSettings(), session=limited)  # type: ignore[call-arg]
    components.service._parallel = 1  # mock_aws in-process is not thread-safe
    monkeypatch.setattr(deps, "intake", lambda: components)

    def post(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        headers = {
            "content-type": "application/json",
            "authorization": "Basic " + base64.b64encode(b"wk_test:").decode(),
        }
        result = lambda_handler(
            api_event("POST", path, "", headers, json.dumps(body).encode()), LambdaContext("ingest")
        )
        return result["statusCode"], json.loads(response_body(result))

    return post, components, limited, session.client("dynamodb"), res.tables["ProfilesTable"]


def _stored_event_records(ddb, table: str) -> list[dict[str, Any]]:
    items, kwargs = [], {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        items += [
            i for i in page["Items"] if i["pk"]["S"].startswith(f"S#{SHOP}#E#tracker:") and i["sk"]["S"] == "EVENT"
        ]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_one_customer_with_1000_calls_in_one_batch_is_stored_once(ingest):
    post, components, limited, ddb, table = ingest
    visits = [{"type": "page", "messageId": f"visit-{s}", "anonymousId": f"anon-{s}"} for s in range(SESSIONS)]
    assert post("/v1/batch", {"batch": visits})[0] == 200
    # Now the customer, logged in, in one batch: each call names the session it came from. The
    # first commit merges the session profiles into one (tombstones, repointed aliases): before,
    # a run of 29 calls made a transaction of 116 items, which DynamoDB refuses (a 503 for ever).
    calls = [
        {
            "type": "track",
            "messageId": f"call-{i}",
            "userId": "u-1000",
            "anonymousId": f"anon-{i % SESSIONS}",
            "event": "Product Viewed",
            "properties": {"product_id": f"p-{i % 97}", "price": 9.99, "name": "Ladekabel USB-C"},
            "timestamp": f"2026-11-22T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
        }
        for i in range(1000)
    ]
    limited.dynamodb.transactions.clear()
    status, body = post("/v1/batch", {"batch": calls})
    assert status == 200 and (body["accepted"], body["duplicates"], body["rejected"]) == (1000, 0, []), body
    assert body["published"] == 1000

    assert len(limited.dynamodb.transactions) > 1 and max(n for n, _ in limited.dynamodb.transactions) <= 100
    assert max(size for _, size in limited.dynamodb.transactions) <= 400 * 1024  # the outbox rides on the profile
    # no idempotency record per call: the profile remembers the ids it absorbed (emma.ingest.seen)
    assert _stored_event_records(ddb, table) == []

    profile = components.service.resolve(SHOP, "cid:u-1000")
    assert profile.event_counts["product.viewed"] == 1000 and profile.event_counts["page.viewed"] == SESSIONS
    assert len(profile.anonymous_ids) == SESSIONS and len(profile.merged_from) == SESSIONS - 1
    assert {components.service.resolve(SHOP, f"anon:anon-{s}").profile_id for s in range(SESSIONS)} == {
        profile.profile_id
    }
    assert profile.log_seq == 1000 + 1  # the winner's own visit, then the 1,000 calls

    # The same batch again: every call a duplicate, nothing written to the profile.
    limited.dynamodb.transactions.clear()
    status, again = post("/v1/batch", {"batch": calls})
    assert status == 200 and (again["accepted"], again["duplicates"]) == (0, 1000)
    assert limited.dynamodb.transactions == []
    assert components.service.resolve(SHOP, "cid:u-1000").version == profile.version
