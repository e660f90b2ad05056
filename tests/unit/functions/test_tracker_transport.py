"""Bodies and credentials as real clients send them: gzip/deflate, text/plain, the write key in the body
or per batch item, analytics.js's short paths, CORS preflights, error bodies with a numeric code."""

import base64
import gzip
import json
import zlib

import pytest

from emma.sources.signatures import sign_base64
from emma_local.lambdas import LambdaContext, api_event, response_body
from tests.unit.functions.conftest import EVENTS

ORDER = (EVENTS / "shopify" / "orders_create.json").read_bytes()


def basic(key):
    return {"authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def stored(world):
    return len(world["repo"].seen), len(world["publisher"].published)


def send(api, method, path, body: bytes, headers):
    """Like api.call, but with the headers exactly as given (no default Content-Type)."""
    result = api.handler(api_event(method, path, "", headers, body), LambdaContext("ingest"))
    raw = response_body(result)
    return result["statusCode"], (json.loads(raw) if raw else None), result.get("headers") or {}


CALL = {"messageId": "m-1", "anonymousId": "anon-1", "event": "Product Viewed", "properties": {"product_id": "1042"}}
BATCH = {
    "batch": [
        {**CALL, "type": "track"},
        {
            "type": "identify",
            "messageId": "m-2",
            "anonymousId": "anon-1",
            "userId": "u-1",
            "traits": {"email": "a@example.de"},
        },
    ]
}


# ---- compressed bodies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoding, compress",
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: (lambda c: c.compress(b) + c.flush())(zlib.compressobj(wbits=-15))),  # raw deflate
        ("gzip, identity", gzip.compress),
    ],
)
def test_compressed_batches_land(api, world, encoding, compress):
    body = compress(json.dumps(BATCH).encode())
    headers = {"content-type": "application/json", "content-encoding": encoding, **basic("wk_1")}
    status, resp, _ = send(api, "POST", "/v1/batch", body, headers)
    assert status == 200 and resp["accepted"] == 2 and resp["rejected"] == []


def test_a_gzip_bomb_is_413_without_being_inflated(api, world):
    bomb = gzip.compress(b" " * (64 * 1024 * 1024))  # 64 MB of spaces in about 64 KB
    headers = {"content-type": "application/json", "content-encoding": "gzip", **basic("wk_1")}
    status, resp, _ = send(api, "POST", "/v1/batch", bomb, headers)
    assert status == 413 and "decompressed" in resp["message"] and resp["code"] == 413
    assert stored(world) == (0, 0)


@pytest.mark.parametrize(
    "encoding, body, status, message",
    [
        ("gzip", b"not gzip at all", 400, "not valid gzip"),
        ("gzip", gzip.compress(json.dumps(CALL).encode(), mtime=0)[:-12], 400, "truncated"),
        ("br", b"\x00\x01", 415, "'br' is not supported"),
    ],
)
def test_bad_encodings_are_refused_clearly(api, world, encoding, body, status, message):
    headers = {"content-type": "application/json", "content-encoding": encoding, **basic("wk_1")}
    got, resp, _ = send(api, "POST", "/v1/track", body, headers)
    assert (got, resp["code"]) == (status, status) and message in resp["message"]
    assert stored(world) == (0, 0)


def test_a_gzipped_webhook_is_verified_over_the_decompressed_body(api, world):
    headers = {
        "content-type": "application/json",
        "content-encoding": "gzip",
        "x-shopify-topic": "orders/create",
        "x-shopify-webhook-id": "gz-1",
        "x-shopify-hmac-sha256": sign_base64("s-shopify", ORDER),
    }
    status, resp, _ = send(api, "POST", "/webhooks/shopify/elektro-emma", gzip.compress(ORDER), headers)
    assert status == 200 and resp["accepted"] >= 1


# ---- analytics.js -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/t", "/v1/track"])
def test_text_plain_with_the_write_key_in_the_body(api, world, path):
    body = json.dumps({**CALL, "type": "track", "writeKey": "wk_1"}).encode()
    status, resp, _ = send(api, "POST", path, body, {"content-type": "text/plain", "origin": "https://shop.example"})
    assert status == 200 and resp["accepted"] == 1


@pytest.mark.parametrize(
    "path, message, expected",
    [
        ("/v1/i", {"userId": "u-1", "traits": {"plan": "vip"}}, "customer.identified"),
        ("/v1/p", {"properties": {"url": "https://shop.example/"}}, "page.viewed"),
        ("/v1/s", {"name": "Home"}, "page.viewed"),
        ("/v1/a", {"userId": "u-1", "previousId": "anon-1"}, "customer.identified"),
        ("/v1/g", {"groupId": "acme"}, "custom"),
    ],
)
def test_every_short_path_maps_to_its_call(api, world, path, message, expected):
    body = json.dumps({"messageId": f"m{path}", "anonymousId": "anon-1", **message, "writeKey": "wk_1"}).encode()
    status, _, _ = send(api, "POST", path, body, {"content-type": "text/plain"})
    assert status == 200
    assert [e.type for e in world["publisher"].published] == [expected]


def test_a_batch_whose_calls_each_carry_the_write_key(api, world):
    batch = {"batch": [{**item, "writeKey": "wk_1"} for item in BATCH["batch"]], "sentAt": "2026-11-22T10:00:00Z"}
    status, resp, _ = send(api, "POST", "/v1/b", json.dumps(batch).encode(), {"content-type": "text/plain"})
    assert status == 200 and resp["accepted"] == 2


def test_a_batch_call_with_a_wrong_key_is_rejected_alone(api, world):
    batch = {"batch": [{**BATCH["batch"][0], "writeKey": "wk_1"}, {**BATCH["batch"][1], "writeKey": "nope"}]}
    status, resp, _ = send(api, "POST", "/v1/b", json.dumps(batch).encode(), {"content-type": "text/plain"})
    assert status == 200 and resp["accepted"] == 1
    assert resp["rejected"] == [{"index": 1, "messageId": "m-2", "error": "unknown write key", "code": 401}]
    assert [e.id for e in world["publisher"].published] == ["tracker:m-1"]


def test_a_batch_call_keyed_for_another_shop_lands_in_that_shop(api, world):
    batch = {"batch": [{**BATCH["batch"][0], "writeKey": "wk_1"}, {**BATCH["batch"][1], "writeKey": "wk_2"}]}
    status, resp, _ = send(api, "POST", "/v1/b", json.dumps(batch).encode(), {"content-type": "text/plain"})
    assert status == 200 and resp["accepted"] == 2
    assert sorted(e.shop for e in world["publisher"].published) == ["elektro-emma", "fahrrad-franz"]


def test_two_shops_calls_with_the_same_message_id_in_one_batch_are_both_stored(api, world):
    call = {**CALL, "type": "track", "messageId": "m2"}
    batch = {"batch": [{**call, "writeKey": "wk_1"}, {**call, "writeKey": "wk_2"}]}
    status, resp, _ = send(api, "POST", "/v1/b", json.dumps(batch).encode(), {"content-type": "text/plain"})
    assert status == 200 and (resp["accepted"], resp["duplicates"]) == (2, 0)
    assert sorted((e.shop, e.id) for e in world["publisher"].published) == [
        ("elektro-emma", "tracker:m2"),
        ("fahrrad-franz", "tracker:m2"),
    ]


def test_identical_calls_without_message_id_for_two_shops_are_both_stored(api, world):
    call = {k: v for k, v in CALL.items() if k != "messageId"} | {"type": "track"}
    batch = {"batch": [{**call, "writeKey": "wk_1"}, {**call, "writeKey": "wk_2"}]}
    status, resp, _ = send(api, "POST", "/v1/b", json.dumps(batch).encode(), {"content-type": "text/plain"})
    assert status == 200 and (resp["accepted"], resp["duplicates"]) == (2, 0)
    assert sorted(e.shop for e in world["publisher"].published) == ["elektro-emma", "fahrrad-franz"]


def test_a_batch_for_two_shops_records_each_shops_metrics_under_its_own_name(api, world, capsys):
    batch = {
        "batch": [
            {**CALL, "type": "track", "messageId": "a1"},
            {**CALL, "type": "track", "messageId": "a2"},
            {**CALL, "type": "track", "messageId": "b1", "writeKey": "wk_2"},
            {"type": "track", "messageId": "b2", "writeKey": "wk_2"},  # no ids: rejected, fahrrad-franz's
            {**CALL, "type": "track", "messageId": "x1", "writeKey": "nope"},  # unknown key: the request's shop
        ]
    }
    headers = {"content-type": "text/plain", **basic("wk_1")}
    status, resp, _ = send(api, "POST", "/v1/b", json.dumps(batch).encode(), headers)
    assert status == 200 and resp["accepted"] == 3 and len(resp["rejected"]) == 2
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"CloudWatchMetrics"' in line]
    counts = {r["shop"]: (r["EventsAccepted"], r["EventsRejected"]) for r in records}
    assert counts == {"elektro-emma": ([2.0], [1.0]), "fahrrad-franz": ([1.0], [1.0])}


@pytest.mark.parametrize(
    "body",
    [
        {**CALL, "writeKey": "wrong"},
        {"batch": [{**CALL, "type": "track", "writeKey": "wrong"}]},
        {"batch": [{**CALL, "type": "track"}]},
        {"batch": [], "writeKey": "wrong"},
    ],
)
def test_no_valid_write_key_anywhere_is_401(api, world, body):
    path = "/v1/b" if "batch" in body else "/v1/t"
    status, resp, _ = send(api, "POST", path, json.dumps(body).encode(), {"content-type": "text/plain"})
    assert status == 401 and resp["code"] == 401 and resp["error"] == "unauthorized" and resp["message"]
    assert stored(world) == (0, 0)


def test_any_preflight_is_answered_with_emmas_cors_configuration(api):
    """Powertools answers every OPTIONS request itself, whatever the path (so there is nothing
    per route to test here): what Emma decides is the configuration the answer carries."""
    preflight = {
        "origin": "http://localhost:5173",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,x-retry-count",
    }
    status, _, headers = send(api, "OPTIONS", "/v1/t", b"", preflight)
    headers = {k.lower(): v for k, v in headers.items()}
    assert status == 204 and headers["access-control-allow-origin"] == "*"
    assert "POST" in headers["access-control-allow-methods"]
    allowed = {h.lower() for h in headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "content-encoding", "x-retry-count", "anonymousid"} <= allowed
    assert headers["access-control-expose-headers"] == "Retry-After" and headers["access-control-max-age"] == "600"


SHORT_PATH_CALLS = [
    ("/v1/t", {**CALL, "writeKey": "wk_1"}, 200, "tracker:m-1"),
    ("/v1/i", {"messageId": "i-1", "userId": "u-1", "traits": {"plan": "vip"}, "writeKey": "wk_1"}, 200, "tracker:i-1"),
    ("/v1/b", {"batch": [{**CALL, "type": "track", "messageId": "b-1"}], "writeKey": "wk_1"}, 200, "tracker:b-1"),
    ("/v1/t", {**CALL, "writeKey": "nope"}, 401, None),
    ("/v1/i", {"messageId": "i-2", "traits": {}, "writeKey": "wk_1"}, 400, None),
]


@pytest.mark.parametrize(("path", "body", "status", "stored_id"), SHORT_PATH_CALLS)
def test_a_browser_on_a_shop_page_reads_every_short_paths_answer(api, world, path, body, status, stored_id):
    """What the routing decides: the short path reaches its call's handler (stored under the call's id,
    or refused by it with Emma's error), and the answer, errors included, carries the CORS headers a
    browser needs to let analytics.js read it (code, message, Retry-After)."""
    headers = {"content-type": "text/plain", "origin": "https://shop.example"}
    got, resp, answer = send(api, "POST", path, json.dumps(body).encode(), headers)
    assert got == status
    assert answer["Access-Control-Allow-Origin"] == "*" and answer["Access-Control-Expose-Headers"] == "Retry-After"
    if stored_id:
        assert [e.id for e in world["publisher"].published] == [stored_id]
    else:
        assert resp["code"] == status and resp["message"] and stored(world) == (0, 0)


# ---- errors clients can read --------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path, body, headers, status",
    [
        ("POST", "/v1/track", b"{nope", basic("wk_1"), 400),
        ("POST", "/v1/track", json.dumps(CALL).encode(), {}, 401),
        ("POST", "/v1/nothing", b"{}", {}, 404),
        ("GET", "/v1/profiles/x", b"", {}, 401),
        ("POST", "/webhooks/shopify/elektro-emma", ORDER, {"x-shopify-topic": "orders/create"}, 401),
        ("POST", "/webhooks/magento/elektro-emma", ORDER, {}, 404),
    ],
)
def test_every_error_has_error_code_and_message(api, world, method, path, body, headers, status):
    got, resp, _ = send(api, method, path, body, {"content-type": "application/json", **headers})
    assert got == status
    assert resp["code"] == status and isinstance(resp["error"], str) and resp["message"]


# ---- ids namespaced by source -------------------------------------------------------------------


def test_a_tracker_message_id_equal_to_a_webhook_delivery_id_is_not_a_duplicate(api, world):
    headers = {
        "content-type": "application/json",
        "x-shopify-topic": "orders/create",
        "x-shopify-webhook-id": "123",
        "x-shopify-hmac-sha256": sign_base64("s-shopify", ORDER),
    }
    status, resp, _ = send(api, "POST", "/webhooks/shopify/elektro-emma", ORDER, headers)
    assert status == 200 and resp["duplicates"] == 0
    call = json.dumps({**CALL, "messageId": "123", "writeKey": "wk_1"}).encode()
    status, resp, _ = send(api, "POST", "/v1/t", call, {"content-type": "text/plain"})
    assert (status, resp["accepted"], resp["duplicates"]) == (200, 1, 0)
    ids = [e.id for e in world["publisher"].published]
    assert "shopify:123" in ids and "tracker:123" in ids


def test_analytics_js_library_metrics_are_acknowledged_and_not_stored(api, world):
    series = {"series": [{"type": "Counter", "metric": "analytics_js.invoke", "value": 1, "tags": {}}]}
    status, resp, _ = send(api, "POST", "/v1/m", json.dumps(series).encode(), {"content-type": "text/plain"})
    assert status == 200 and resp["success"] is True and stored(world) == (0, 0)
