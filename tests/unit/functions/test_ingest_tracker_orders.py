"""Tracker calls through the ingest handler into the profile: invalid emails and refunds."""

import base64


def basic(key="wk_1"):
    return {"authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def bearer(key="ak_1"):
    return {"authorization": f"Bearer {key}"}


# ---- invalid emails -----------------------------------------------------------------------------


def test_an_invalid_tracker_email_is_recorded_on_the_profile_as_invalid_and_never_as_its_email(api, world):
    body = {"messageId": "i-1", "userId": "7008001", "traits": {"email": "lena at example", "plan": "vip"}}
    status, resp = api.call("POST", "/v1/identify", body, basic())
    assert status == 200 and resp["accepted"] == 1

    status, profile = api.call("GET", "/v1/profiles/cid:7008001", headers=bearer())
    assert status == 200
    assert profile["emails"] == [] and profile["email"] is None
    [invalid] = profile["invalid_addresses"]
    assert (invalid["kind"], invalid["value"], invalid["reason"]) == ("email", "lena at example", "contains a space")
    assert invalid["source"] == "tracker:identify"
    stored = world["publisher"].published[0]
    assert stored.customer.invalid[0].value == "lena at example"


# ---- refunds --------------------------------------------------------------------------------------


def track(message_id, event, properties):
    return {"messageId": message_id, "userId": "7008001", "type": "track", "event": event, "properties": properties}


def test_tracker_refunds_through_the_handler_partial_then_repeated_then_the_rest(api, world):
    products = [
        {"product_id": "pixel-9", "price": 900, "quantity": 1},
        {"product_id": "case", "price": 50, "quantity": 2},
    ]
    order = track(
        "m-order", "Order Completed", {"order_id": "EE-1", "total": 1000, "currency": "EUR", "products": products}
    )
    partial = {"order_id": "EE-1", "currency": "EUR", "products": [{"product_id": "case", "price": 50, "quantity": 2}]}
    batch = {
        "batch": [
            order,
            track("m-refund-1", "Order Refunded", partial),
            track("m-refund-1-again", "Order Refunded", partial),  # the same refund, sent twice by the shop
        ]
    }
    status, resp = api.call("POST", "/v1/batch", batch, basic())
    assert status == 200 and resp["accepted"] == 3

    _, profile = api.call("GET", "/v1/profiles/cid:7008001", headers=bearer())
    orders = profile["orders"]
    assert (orders["count"], orders["revenue"], orders["cancelled"]) == (1, "900.0000", 0)
    assert set(profile["products_owned"]) == {"pixel-9"}
    assert orders["recent"][0]["refunded"] == "100.0000" and profile["event_counts"]["order.refunded"] == 1
    published = {e.id: e for e in world["publisher"].published}
    assert published["tracker:m-refund-1"].type == "order.refunded" and not published["tracker:m-refund-1"].repeat
    assert published["tracker:m-refund-1-again"].repeat  # stored and published, fires nothing

    status, _ = api.call(
        "POST",
        "/v1/track",
        track("m-refund-2", "Refund", {"order_id": "EE-1", "value": 900, "refund_id": "R-2"}),
        basic(),
    )
    assert status == 200
    _, profile = api.call("GET", "/v1/profiles/cid:7008001", headers=bearer())
    orders = profile["orders"]
    assert (orders["count"], orders["revenue"], orders["cancelled"]) == (0, "0.0000", 1)
    assert orders["recent"][0]["status"] == "cancelled" and profile["products_owned"] == {}
