"""Coupons end to end on the local runtime: the abandoned cart's coupon is created in the shop (the local
stand-in of Shopify's Admin GraphQL API, over real HTTP) before the mail names it, the shop's next order
redeems it, and Emma links the redemption back to the message."""

import json
import time
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from emma.sources.signatures import sign_base64
from emma_local.config import load_config
from emma_local.runtime import LocalRuntime

pytestmark = pytest.mark.e2e
ADMIN = {"authorization": "Bearer ak_local_elektro_emma"}
KEY = ("wk_local_elektro_emma", "")


@pytest.fixture(scope="module")
def rt():
    runtime = LocalRuntime(load_config(), port=0, log_level="ERROR", environments=0, schedule=False).start()
    yield runtime
    runtime.stop()


def call(rt, path, body):
    resp = requests.post(f"{rt.api_url}/v1/{path}", json={"messageId": str(uuid.uuid4()), **body}, auth=KEY, timeout=10)
    assert resp.status_code == 200, resp.text
    rt.drain()


def profile(rt, user):
    return requests.get(f"{rt.api_url}/v1/profiles/cid:{user}", headers=ADMIN, timeout=10).json()


def until(rt, check, what, timeout=90.0):
    deadline = time.monotonic() + timeout
    while True:
        rt.drain()
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"never got there: {what}")
        time.sleep(0.1)


def next_morning(rt):
    """The local clock to the next 10:00 in Berlin, a day or less ahead (outside the quiet hours)."""
    rt.settle(timeout=60)
    local = rt.now().astimezone(ZoneInfo("Europe/Berlin"))
    target = local.replace(hour=10, minute=0, second=0, microsecond=0)
    if target <= local:
        target += timedelta(days=1)
    rt.advance(seconds=(target - local).total_seconds())


def test_the_abandoned_carts_coupon_exists_in_the_shop_before_the_mail_and_the_next_order_redeems_it(rt):
    user = "cp-1"  # the arm hashes the customer id: cp-1 is not in the 10 % control group of cart-coupon
    call(
        rt,
        "identify",
        {
            "userId": user,
            "traits": {"email": f"{user}@example.com", "first_name": "Lena"},
            "context": {"consent": {"email": {"granted": True, "double_opt_in": True, "wording": "Angebote"}}},
        },
    )
    call(rt, "track", {"userId": user, "event": "Product Added", "properties": {"product_id": "case-9", "price": 29}})
    rt.settle(timeout=60)
    rt.advance(hours=3)
    rt.run_schedule()  # the cart-abandoned trigger fires on the local clock
    until(rt, lambda: any(j["journey"] == "abandoned-cart" for j in profile(rt, user).get("journeys", [])), "entry")
    next_morning(rt)
    rt.settle(timeout=60)
    rt.advance(days=1)
    rt.run_schedule()  # a message deferred by the quiet hours is released
    message = until(
        rt,
        lambda: next(
            (m for m in profile(rt, user)["messages"] if m["template"] == "cart-coupon" and m["status"] == "sent"),
            None,
        ),
        "the cart coupon sent",
    )
    code = message["coupon"]
    assert message["incentive"]["arm"] == "coupon" and message["incentive"]["policy"] == "predicted"
    shopify = rt.shop_apis.stand_ins["elektro-emma"]
    created = shopify.codes[code]  # created in the shop, over HTTP, by the dispatch function
    assert (created.usage_limit, created.percentage, created.uses) == (1, 0.1, 0)
    rt.outbox.collect()
    mails = [m for m in rt.outbox.messages if m.template == "cart-coupon" and m.to == f"{user}@example.com"]
    assert len(mails) == 1 and code in mails[0].html_path.read_text()  # and the mail names that code
    order = shopify.redeem(code, 820982911946154500 + int(uuid.uuid4().int % 1000), f"{user}@example.com", "29.00")
    body = json.dumps(order).encode()
    resp = requests.post(
        f"{rt.api_url}/webhooks/shopify/elektro-emma",
        data=body,
        headers={
            "content-type": "application/json",
            "x-shopify-topic": "orders/create",
            "x-shopify-webhook-id": str(uuid.uuid4()),
            "x-shopify-hmac-sha256": sign_base64("shpss_local_elektro_emma", body),
        },
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    redeemed = until(rt, lambda: code in (profile(rt, user).get("coupons_redeemed") or []), "the redemption")
    assert redeemed and shopify.codes[code].uses == 1
