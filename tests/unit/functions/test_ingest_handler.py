"""The ingest handler end to end with in-memory ports: every route, every refusal."""

import base64
import json

import pytest

from emma.sources.signatures import sign_base64, sign_hex
from emma_local.lambdas import LambdaContext, api_event
from tests.unit.functions.conftest import EVENTS

ORDER = (EVENTS / "shopify" / "orders_create.json").read_bytes()


def shopify_headers(body, topic="orders/create", delivery="d-1", secret="s-shopify"):
    return {
        "x-shopify-topic": topic,
        "x-shopify-webhook-id": delivery,
        "x-shopify-hmac-sha256": sign_base64(secret, body),
    }


def basic(key):
    return {"authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def bearer(key="ak_1"):
    return {"authorization": f"Bearer {key}"}


def stored(world):
    return len(world["repo"].seen), len(world["publisher"].published)


# ---- webhooks ---------------------------------------------------------------------------------


def test_signed_shopify_order_lands_in_the_profile(api, world):
    status, body = api.call("POST", "/webhooks/shopify/elektro-emma", ORDER, shopify_headers(ORDER))
    assert status == 200 and body["accepted"] >= 1 and body["topic"] == "orders/create"
    status, profile = api.call("GET", "/v1/profiles/lena.schmidt@example.de", headers=bearer())
    assert status == 200 and profile["orders"]["count"] == 1
    assert profile["history"][0]["source"]["kind"] == "shopify"


def test_ten_deliveries_store_and_publish_once(api, world):
    for _ in range(10):
        status, _ = api.call("POST", "/webhooks/shopify/elektro-emma", ORDER, shopify_headers(ORDER))
        assert status == 200
    n_events = len(world["publisher"].published)
    assert n_events == len(world["repo"].seen) and n_events >= 1
    _, profile = api.call("GET", "/v1/profiles/cid:7008001", headers=bearer())
    assert profile["orders"]["count"] == 1 and profile["version"] == 1


@pytest.mark.parametrize(
    "headers, message",
    [
        ({"x-shopify-hmac-sha256": "AAAA"}, "does not match"),
        ({"x-shopify-hmac-sha256": ""}, "missing"),
        ({}, "missing"),
    ],
)
def test_bad_or_missing_signature_is_401_and_stores_nothing(api, world, headers, message):
    h = {"x-shopify-topic": "orders/create", "x-shopify-webhook-id": "d-1", **headers}
    status, body = api.call("POST", "/webhooks/shopify/elektro-emma", ORDER, h)
    assert status == 401 and message in body["message"] and stored(world) == (0, 0)


def test_signature_with_another_shops_secret_is_refused(api, world):
    status, _ = api.call("POST", "/webhooks/shopify/elektro-emma", ORDER, shopify_headers(ORDER, secret="s-woo"))
    assert status == 401 and stored(world) == (0, 0)


def test_unknown_shop_is_404_and_unknown_platform_is_404(api, world):
    assert api.call("POST", "/webhooks/shopify/nope", ORDER, shopify_headers(ORDER))[0] == 404
    assert api.call("POST", "/webhooks/magento/elektro-emma", ORDER, shopify_headers(ORDER))[0] == 404
    assert stored(world) == (0, 0)


def test_shop_without_a_secret_for_the_platform_is_refused(api, world):
    status, body = api.call("POST", "/webhooks/shopify/fahrrad-franz", ORDER, shopify_headers(ORDER))
    assert status == 401 and "no shopify webhook secret" in body["message"]


def test_unknown_topic_is_422(api, world):
    status, body = api.call("POST", "/webhooks/shopify/elektro-emma", ORDER, shopify_headers(ORDER, "refunds/create"))
    assert status == 422 and "refunds/create" in body["message"] and stored(world) == (0, 0)


def test_malformed_json_is_400(api, world):
    bad = b'{"id": 1, "total_price": '
    status, body = api.call("POST", "/webhooks/shopify/elektro-emma", bad, shopify_headers(bad))
    assert status == 400 and "not valid JSON" in body["message"] and stored(world) == (0, 0)


def test_wrong_types_are_400_naming_the_field(api, world):
    order = json.loads(ORDER)
    order["total_price"] = "viel"
    bad = json.dumps(order).encode()
    status, body = api.call("POST", "/webhooks/shopify/elektro-emma", bad, shopify_headers(bad))
    assert status == 400 and "total_price" in body["message"] and stored(world) == (0, 0)


def test_body_over_4_mb_is_413(api, world):
    big = json.dumps({**json.loads(ORDER), "note": "x" * 4_200_000}).encode()
    status, body = api.call("POST", "/webhooks/shopify/elektro-emma", big, shopify_headers(big))
    assert status == 413 and "4096 KB" in body["message"] and stored(world) == (0, 0)
    assert body["code"] == 413 and body["error"] == "payload_too_large"


def test_woocommerce_ping_is_acknowledged_without_storing(api, world):
    ping = b"webhook_id=42"
    h = {"x-wc-webhook-signature": sign_base64("s-woo", ping), "content-type": "application/x-www-form-urlencoded"}
    status, body = api.call("POST", "/webhooks/woocommerce/elektro-emma", ping, h)
    assert status == 200 and body["ping"] is True and stored(world) == (0, 0)


def test_woocommerce_and_shopware_webhooks(api, world):
    woo = (EVENTS / "woocommerce" / "order_created.json").read_bytes()
    status, _ = api.call(
        "POST",
        "/webhooks/woocommerce/elektro-emma",
        woo,
        {
            "x-wc-webhook-topic": "order.created",
            "x-wc-webhook-delivery-id": "w-1",
            "x-wc-webhook-signature": sign_base64("s-woo", woo),
        },
    )
    assert status == 200
    sw = (EVENTS / "shopware" / "checkout_order_placed.json").read_bytes()
    status, _ = api.call(
        "POST", "/webhooks/shopware/elektro-emma", sw, {"shopware-shop-signature": sign_hex("s-sw", sw)}
    )
    assert status == 200
    status, _ = api.call("POST", "/webhooks/shopware/elektro-emma", sw, {"shopware-shop-signature": "00" * 32})
    assert status == 401


# ---- tracker ----------------------------------------------------------------------------------


def test_track_with_write_key_as_basic_username(api, world):
    body = json.loads((EVENTS / "tracker" / "track_product_viewed.json").read_text())
    status, resp = api.call("POST", "/v1/track", body, basic("wk_1"))
    assert status == 200 and resp["success"] is True and resp["accepted"] == 1


def test_write_key_in_body_also_works(api, world):
    status, _ = api.call("POST", "/v1/page", {"anonymousId": "a-1", "name": "Home", "writeKey": "wk_1"})
    assert status == 200


@pytest.mark.parametrize("headers", [{}, basic("wrong"), {"authorization": "Basic !!!"}])
def test_tracker_without_valid_key_is_401(api, world, headers):
    status, body = api.call("POST", "/v1/track", {"anonymousId": "a", "event": "X"}, headers)
    assert status == 401 and body["error"] == "unauthorized" and stored(world) == (0, 0)


def test_batch_accepts_valid_calls_and_lists_the_rejected(api, world):
    body = json.loads((EVENTS / "tracker" / "batch_session.json").read_text())
    status, resp = api.call("POST", "/v1/batch", body, basic("wk_1"))
    assert status == 200 and resp["accepted"] >= len(body["batch"]) - 1  # identify adds consent events
    assert [r["index"] for r in resp["rejected"]] == [12] and "anonymousId or userId" in resp["rejected"][0]["error"]


def test_a_well_formed_batch_with_only_invalid_calls_is_200_listing_them(api, world):
    status, resp = api.call("POST", "/v1/batch", {"batch": [{"type": "track", "event": "X"}]}, basic("wk_1"))
    assert status == 200 and resp["accepted"] == 0 and stored(world) == (0, 0)
    assert resp["rejected"] == [
        {"index": 0, "messageId": None, "error": "anonymousId or userId is required", "code": 400}
    ]


def test_tracker_malformed_json_is_400(api, world):
    status, body = api.call("POST", "/v1/track", b"{nope", basic("wk_1"))
    assert status == 400 and body["error"] == "invalid_payload"


# ---- profiles ---------------------------------------------------------------------------------


def test_profile_lookup_by_every_reference_form(api, world):
    api.call("POST", "/webhooks/shopify/elektro-emma", ORDER, shopify_headers(ORDER))
    _, by_email = api.call("GET", "/v1/profiles/lena.schmidt@example.de", headers=bearer())
    pid = by_email["profile_id"]
    for ref in (pid, "email:Lena.Schmidt@example.de", "cid:7008001", "7008001", "lena.schmidt%40example.de"):
        status, body = api.call("GET", f"/v1/profiles/{ref}", headers=bearer())
        assert status == 200 and body["profile_id"] == pid, ref
    status, body = api.call("GET", f"/v1/profiles/{pid}", headers=bearer(), query="history=0")
    assert status == 200 and "history" not in body


def test_profiles_need_the_shops_admin_key_and_are_isolated_per_shop(api, world):
    api.call("POST", "/webhooks/shopify/elektro-emma", ORDER, shopify_headers(ORDER))
    assert api.call("GET", "/v1/profiles/cid:7008001")[0] == 401
    assert api.call("GET", "/v1/profiles/cid:7008001", headers=bearer("wk_1"))[0] == 401
    assert api.call("GET", "/v1/profiles/cid:7008001", headers=bearer("ak_2"))[0] == 404  # other shop
    assert api.call("GET", "/v1/profiles/nobody@example.de", headers=bearer())[0] == 404
    status, body = api.call("GET", "/v1/profiles/cid:7008001", headers=bearer(), query="history=9999")
    assert status == 400 and "history" in body["message"]


def test_store_outage_is_503_with_retry_after(api, world, monkeypatch):
    from emma.errors import StoreError

    def down(*a, **k):
        raise StoreError("DynamoDB BatchGetItem failed: ServiceUnavailable")

    monkeypatch.setattr(world["repo"], "lookup", down)
    status, body = api.call("POST", "/webhooks/shopify/elektro-emma", ORDER, shopify_headers(ORDER))
    assert status == 503 and body["error"] == "store_unavailable"


def test_openapi_document_is_served_and_unknown_routes_are_404(api):
    status, doc = api.call("GET", "/v1/openapi.json")
    assert status == 200 and "/v1/batch" in doc["paths"] and "writeKey" in doc["components"]["securitySchemes"]
    assert api.call("GET", "/v1/nothing")[0] == 404


def test_tracker_routes_answer_cors_preflights_and_webhooks_do_not_allow_browsers(api):
    preflight = {
        "origin": "https://elektro-emma.de",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
    }
    result = api.handler(api_event("OPTIONS", "/v1/track", "", preflight, b""), LambdaContext("ingest"))
    headers = {k.lower(): v for k, v in result["headers"].items()}
    assert result["statusCode"] == 204 and headers["access-control-allow-origin"] == "*"
    assert "Authorization" in headers["access-control-allow-headers"]
    body = json.dumps({"anonymousId": "a-1", "writeKey": "wk_1"}).encode()
    result = api.handler(
        api_event(
            "POST", "/v1/page", "", {"origin": "https://elektro-emma.de", "content-type": "application/json"}, body
        ),
        LambdaContext("ingest"),
    )
    assert result["statusCode"] == 200 and result["headers"]["Access-Control-Allow-Origin"] == "*"
    webhook = api.handler(
        api_event("POST", "/webhooks/shopify/elektro-emma", "", {"origin": "https://x.example"}, ORDER),
        LambdaContext("ingest"),
    )
    assert "Access-Control-Allow-Origin" not in (webhook.get("headers") or {})


@pytest.mark.parametrize(
    "body, message",
    [
        (b"[" * 100_000 + b"]" * 100_000, "not acceptable JSON"),
        (b'{"anonymousId": "a", "event": "X", "properties": {"n": ' + b"9" * 5000 + b"}}", "not acceptable JSON"),
        (b'{"anonymousId": "a", "event": "X", "properties": {"s": "\\ud800"}}', "Unicode"),
        (b'{"userId": true, "event": "X"}', "userId: expected a string or an integer"),
        ('{"userId": "' + "\U0001f600" * 257 + '", "event": "X"}', "at most 256 characters"),
    ],
)
def test_hostile_tracker_input_is_a_400_not_a_500(api, world, body, message):
    status, resp = api.call("POST", "/v1/track", body if isinstance(body, bytes) else body.encode(), basic("wk_1"))
    assert status == 400 and message in resp["message"], resp
    assert stored(world) == (0, 0)


def test_times_too_far_apart_to_correct_the_clock_skew_keep_the_call_at_the_time_received(api, world):
    body = b'{"anonymousId": "a", "event": "X", "timestamp": "9999-12-31T23:59:59Z", "sentAt": "0001-01-01T00:00:00Z"}'
    status, resp = api.call("POST", "/v1/track", body, basic("wk_1"))
    assert status == 200 and resp["accepted"] == 1
    (event,) = world["publisher"].published
    assert "too far apart" in event.extra["_ignored"]["timestamp"]["reason"]


def test_a_user_id_of_256_characters_of_four_bytes_each_is_an_id(api, world):
    body = ('{"userId": "' + "\U0001f600" * 256 + '", "event": "X"}').encode()
    status, resp = api.call("POST", "/v1/track", body, basic("wk_1"))
    assert status == 200 and resp["accepted"] == 1


def test_an_integer_beyond_64_bits_is_kept_out_of_the_call_with_the_reason_not_refused(api, world):
    body = b'{"anonymousId": "a", "event": "X", "properties": {"n": 99999999999999999999999, "m": 1}}'
    status, resp = api.call("POST", "/v1/track", body, basic("wk_1"))
    assert status == 200 and resp["accepted"] == 1
    (event,) = world["publisher"].published
    assert event.properties.properties == {"m": 1}
    assert event.extra["_ignored"]["properties.n"]["value"] == "99999999999999999999999"


def test_a_tracked_property_email_does_not_merge_someone_else_into_the_caller(api, world):
    api.call("POST", "/v1/identify", {"userId": "7008001", "traits": {"email": "lena@example.de"}}, basic("wk_1"))
    api.call(
        "POST",
        "/v1/track",
        {"userId": "other-42", "event": "Product Shared", "properties": {"email": "lena@example.de"}},
        basic("wk_1"),
    )
    _, profile = api.call("GET", "/v1/profiles/lena@example.de", headers=bearer())
    assert profile["customer_ids"] == ["7008001"]


def test_a_shopify_delivery_from_another_store_is_refused(api, world):
    headers = {**shopify_headers(ORDER), "x-shopify-shop-domain": "someone-else.myshopify.com"}
    status, body = api.call("POST", "/webhooks/shopify/elektro-emma", ORDER, headers)
    assert status == 401 and "not this shop's store" in body["message"] and stored(world) == (0, 0)
    headers["x-shopify-shop-domain"] = "Elektro-Emma.myshopify.com"
    assert api.call("POST", "/webhooks/shopify/elektro-emma", ORDER, headers)[0] == 200


def test_segment_sizes_are_per_shop_behind_the_admin_key(api):
    status, body = api.call("GET", "/v1/segments", headers=bearer())
    assert status == 200 and body == {"shop": "elektro-emma", "segments": {"first-time-buyers": 3, "lapsed": 1}}
    assert api.call("GET", "/v1/segments", headers=bearer("ak_2"))[1]["segments"] == {}
    assert api.call("GET", "/v1/segments")[0] == 401


def test_the_profile_route_returns_as_many_messages_as_asked(api, world, monkeypatch):
    """`messages` (0-200, default 50) was documented and ignored: the route always read 50."""
    import dataclasses

    from ingest import deps

    class Entry:
        def __init__(self, n):
            self.n = n

        def view(self):
            return {"n": self.n}

    asked = []

    class Log:
        def recent(self, shop, profile_id, limit):
            asked.append(limit)
            return [Entry(n) for n in range(min(limit, 3))]

    reads = dataclasses.replace(deps.reads(), messages=Log())
    monkeypatch.setattr(deps, "reads", lambda: reads)
    api.call("POST", "/v1/identify", {"userId": "u-messages", "traits": {"email": "m@example.de"}}, basic("wk_1"))
    admin = {"authorization": "Bearer ak_1"}
    _, default = api.call("GET", "/v1/profiles/cid:u-messages", headers=admin)
    _, one = api.call("GET", "/v1/profiles/cid:u-messages", headers=admin, query="messages=1")
    _, none = api.call("GET", "/v1/profiles/cid:u-messages", headers=admin, query="messages=0")
    assert [len(default["messages"]), len(one["messages"]), len(none["messages"])] == [3, 1, 0]
    assert asked == [50, 1]


@pytest.mark.parametrize("price", [1e30, "1e999999", 10**20])
@pytest.mark.parametrize("event", ["Order Completed", "Order Refunded"])
def test_an_absurd_product_price_is_no_amount_not_a_500(api, world, event, price):
    """quantize() raised decimal.InvalidOperation for a total of 1e24 or more: a 500 from a public key."""
    body = {
        "userId": "u-price",
        "event": event,
        "properties": {"order_id": "o-price", "products": [{"product_id": "p", "price": price}]},
    }
    status, resp = api.call("POST", "/v1/track", body, basic("wk_1"))
    assert status == 200 and resp["accepted"] == 1, resp
