"""Faults on the ingest path: what is the sender's fault is a 4xx naming the problem, what is
transient a 503 the sender retries (nothing dropped), and a fault in Emma itself a logged 500 in the
usual error shape, never an unstructured crash."""

import base64
import json
import logging

import pytest

from emma.errors import StoreError
from emma.sources.signatures import sign_base64
from emma_local.lambdas import LambdaContext, api_event, response_body
from tests.unit.functions.conftest import EVENTS

OUT_OF_RANGE = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


def basic(key):
    return {"authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def stored(world):
    return len(world["repo"].seen), len(world["publisher"].published)


def post(api, path, body, headers=None):
    raw = json.dumps(body).encode()
    result = api.handler(
        api_event("POST", path, "", {"content-type": "text/plain", **(headers or {})}, raw), LambdaContext("ingest")
    )
    text = response_body(result)
    return result["statusCode"], (json.loads(text) if text else None), result.get("headers") or {}


# ---- timestamps outside the calendar ----------------------------------------------------------


@pytest.mark.parametrize("at", OUT_OF_RANGE)
def test_a_call_with_a_timestamp_outside_the_calendar_is_stored_at_the_time_received(api, world, at):
    """Well-formed RFC 3339 that cannot be placed in years 1-9999 UTC does not lose the call."""
    call = {"type": "track", "anonymousId": "a", "event": "X", "messageId": "m1", "timestamp": at, "writeKey": "wk_1"}
    status, body, _ = post(api, "/v1/t", call)
    assert (status, body["accepted"]) == (200, 1)
    (event,) = world["publisher"].published
    assert event.extra["_ignored"]["timestamp"]["value"] == at
    assert "out of range" in event.extra["_ignored"]["timestamp"]["reason"]


@pytest.mark.parametrize("at", OUT_OF_RANGE)
def test_a_batch_call_with_a_timestamp_outside_the_calendar_is_stored_too(api, world, at):
    batch = {
        "writeKey": "wk_1",
        "batch": [
            {"type": "track", "anonymousId": "a", "event": "X", "messageId": "m1", "originalTimestamp": at},
            {"type": "track", "anonymousId": "a", "event": "Y", "messageId": "m2"},
        ],
    }
    status, body, _ = post(api, "/v1/b", batch)
    assert status == 200 and body["accepted"] == 2 and body["rejected"] == []


@pytest.mark.parametrize("at", OUT_OF_RANGE)
def test_a_webhook_with_a_time_outside_the_calendar_is_400_naming_the_field(api, world, at):
    customer = json.loads((EVENTS / "shopify" / "customers_update.json").read_text())
    raw = json.dumps({**customer, "updated_at": at}).encode()
    headers = {
        "content-type": "application/json",
        "x-shopify-topic": "customers/update",
        "x-shopify-webhook-id": "d-1",
        "x-shopify-hmac-sha256": sign_base64("s-shopify", raw),
    }
    result = api.handler(api_event("POST", "/webhooks/shopify/elektro-emma", "", headers, raw), LambdaContext("ingest"))
    body = json.loads(response_body(result))
    assert result["statusCode"] == 400 and body["code"] == 400
    assert "updated_at" in body["message"] and "out of range" in body["message"]
    assert stored(world) == (0, 0)


# ---- a shop directory that fails for a while ---------------------------------------------------


def _flaky(monkeypatch, failing: set[str]) -> set[str]:
    """Lookups of the keys in ``failing`` fail as a Secrets Manager throttle would (empty it to heal)."""
    from ingest import deps

    shops = deps.intake().shops
    real = shops.by_write_key

    def by_write_key(key):
        if key in failing:
            raise StoreError("could not read shop secrets: ThrottlingException")
        return real(key)

    monkeypatch.setattr(shops, "by_write_key", by_write_key)
    return failing


def test_a_failing_write_key_lookup_in_a_batch_is_503_with_retry_after_and_stores_nothing(api, world, monkeypatch):
    _flaky(monkeypatch, {"wk_1"})
    batch = {"batch": [{"type": "track", "anonymousId": "a", "event": "X", "messageId": "m1", "writeKey": "wk_1"}]}
    status, body, headers = post(api, "/v1/b", batch)
    assert (status, body["code"], body["error"]) == (503, 503, "store_unavailable")
    assert headers.get("Retry-After") == "1"
    assert stored(world) == (0, 0)


def test_a_batch_where_one_calls_key_cannot_be_looked_up_is_retried_whole(api, world, monkeypatch):
    """The call keyed wk_1 is fine, the one keyed wk_2 cannot be looked up now: 503 for the request
    (nothing stored), so the retry carries both; never a 200 listing the second as rejected."""
    failing = _flaky(monkeypatch, {"wk_2"})
    batch = {
        "batch": [
            {"type": "track", "anonymousId": "a", "event": "X", "messageId": "m1"},
            {"type": "track", "anonymousId": "b", "event": "Y", "messageId": "m2", "writeKey": "wk_2"},
        ]
    }
    status, body, headers = post(api, "/v1/b", batch, basic("wk_1"))
    assert status == 503 and headers.get("Retry-After") == "1"
    assert stored(world) == (0, 0)
    failing.clear()
    status, body, _ = post(api, "/v1/b", batch, basic("wk_1"))
    assert status == 200 and body["accepted"] == 2 and body["rejected"] == []


def test_an_unknown_key_in_a_batch_is_still_a_rejection_of_that_call_alone(api, world):
    batch = {
        "batch": [
            {"type": "track", "anonymousId": "a", "event": "X", "messageId": "m1"},
            {"type": "track", "anonymousId": "b", "event": "Y", "messageId": "m2", "writeKey": "wk_nope"},
        ]
    }
    status, body, _ = post(api, "/v1/b", batch, basic("wk_1"))
    assert status == 200 and body["accepted"] == 1
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [(1, 401)]


def test_a_failing_write_key_lookup_for_a_single_call_is_503(api, world, monkeypatch):
    _flaky(monkeypatch, {"wk_1"})
    call = {"type": "track", "anonymousId": "a", "event": "X", "messageId": "m1", "writeKey": "wk_1"}
    status, body, headers = post(api, "/v1/t", call)
    assert status == 503 and body["code"] == 503 and headers.get("Retry-After") == "1"


# ---- the safety net ----------------------------------------------------------------------------


def test_an_unexpected_exception_is_a_logged_500_in_the_error_shape(api, world, monkeypatch):
    from ingest.handler import logger

    records: list[logging.LogRecord] = []
    capture = logging.Handler()
    capture.emit = records.append
    logger.addHandler(capture)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in Emma")

    monkeypatch.setattr(world["service"], "ingest", broken)
    call = {"type": "track", "anonymousId": "a", "event": "X", "messageId": "m1", "writeKey": "wk_1"}
    try:
        status, body, headers = post(api, "/v1/t", call)
    finally:
        logger.removeHandler(capture)
    assert status == 500 and headers.get("Content-Type") == "application/json"
    assert (body["error"], body["code"]) == ("internal_error", 500)
    assert "unexpected error" in body["message"] and "a bug in Emma" not in body["message"]
    (record,) = [r for r in records if r.getMessage() == "unexpected error"]
    assert record.levelno == logging.ERROR and record.exc_info and record.exc_info[0] is RuntimeError


# ---- limits: 413 naming the limit, never a 5xx --------------------------------------------------


def test_a_call_over_128_kb_is_413_naming_the_limit(api, world):
    call = {"type": "track", "anonymousId": "a", "event": "X", "writeKey": "wk_1", "properties": {"s": "x" * 131_072}}
    status, body, _ = post(api, "/v1/t", call)
    assert (status, body["code"], body["error"]) == (413, 413, "payload_too_large")
    assert "the limit is 128 KB (131072 bytes) a call" in body["message"]
    assert stored(world) == (0, 0)


def test_a_batch_call_over_128_kb_is_rejected_alone_with_413(api, world):
    big = {"type": "track", "anonymousId": "a", "event": "X", "messageId": "m1", "properties": {"s": "x" * 131_072}}
    small = {"type": "track", "anonymousId": "a", "event": "Y", "messageId": "m2"}
    status, body, _ = post(api, "/v1/b", {"writeKey": "wk_1", "batch": [big, small]})
    assert status == 200 and body["accepted"] == 1
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [(0, 413)] and "128 KB" in body["rejected"][0][
        "error"
    ]


def test_a_batch_of_more_than_2500_calls_is_413_naming_the_limit(api, world):
    calls = [{"type": "page", "anonymousId": "a", "messageId": f"m{i}"} for i in range(2501)]
    status, body, _ = post(api, "/v1/b", {"writeKey": "wk_1", "batch": calls})
    assert (status, body["code"]) == (413, 413) and "the limit is 2500 calls a batch" in body["message"]
    assert stored(world) == (0, 0)
