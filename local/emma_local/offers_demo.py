"""The demo's offers part: an abandoned cart's coupon, as a shop on Shopify sees it. The cart-coupon mail's code
is created in the shop (the local stand-in of Shopify's Admin GraphQL API, over HTTP) by the dispatcher before the
mail names it; the customer's next order, placed at the stand-in's checkout, uses it; the shop's orders/create
webhook brings the redemption back to Emma, which links it to the message and counts it for the incentive arm."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

from emma.sources.signatures import sign_base64
from emma_local.config import LocalConfig
from emma_local.runtime import LocalRuntime

SHOP = "elektro-emma"
USER = "demo-lena"
CASE = {"product_id": "case-9", "price": 29.0, "currency": "EUR"}


def _wait(check: Any, timeout: float, rt: LocalRuntime) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rt.drain()
        found = check()
        if found:
            return found
        time.sleep(0.2)
    return None


def run_offers_demo(rt: LocalRuntime, config: LocalConfig, http: Any = None, timeout: float = 60.0) -> int:
    http = http or requests.Session()
    shop = config.shop(SHOP)
    admin = {"authorization": f"Bearer {shop.admin_keys[0]}"}
    auth = (shop.write_keys[0], "")
    problems: list[str] = []
    print("\n20. Offers: an abandoned cart's coupon, created in the shop before the mail names it, then redeemed")

    def call(path: str, body: dict[str, Any]) -> None:
        resp = http.post(
            f"{rt.api_url}/v1/{path}", json={"messageId": str(uuid.uuid4()), **body}, auth=auth, timeout=10
        )
        if resp.status_code != 200:
            problems.append(f"/v1/{path} answered {resp.status_code}: {resp.text[:200]}")
        rt.drain()

    def profile() -> dict[str, Any]:
        return http.get(f"{rt.api_url}/v1/profiles/cid:{USER}", headers=admin, timeout=10).json()

    consent = {"email": {"granted": True, "double_opt_in": True, "wording": "Angebote per E-Mail"}}
    traits = {"email": f"{USER}@example.com", "first_name": "Lena"}
    call("identify", {"userId": USER, "traits": traits, "context": {"consent": consent}})
    call("track", {"userId": USER, "event": "Product Added", "properties": CASE})
    print("  Lena (no order yet) leaves a phone case in her cart; two hours later the cart reminder, a day later")
    rt.settle(timeout=60)
    rt.advance(hours=3)
    rt.run_schedule(only={"scheduler"})  # the cart-abandoned trigger fires on the local clock
    if not _wait(lambda: any(j["journey"] == "abandoned-cart" for j in profile().get("journeys", [])), timeout, rt):
        problems.append("Lena never entered the abandoned-cart journey")
    rt.settle(timeout=60)
    local = rt.now().astimezone(ZoneInfo(shop.timezone))
    morning = local.replace(hour=10, minute=0, second=0, microsecond=0)
    rt.advance(seconds=((morning if morning > local else morning + timedelta(days=1)) - local).total_seconds())
    rt.settle(timeout=60)
    rt.advance(days=1)
    rt.run_schedule(only={"scheduler"})  # a mail deferred by the quiet hours goes out
    message = _wait(
        lambda: next(
            (m for m in profile().get("messages", []) if m["template"] == "cart-coupon" and m["status"] == "sent"),
            None,
        ),
        timeout,
        rt,
    )
    stand_in = rt.shop_apis.stand_ins.get(SHOP) if rt.shop_apis else None
    if not message or not message.get("coupon") or stand_in is None:
        problems.append(f"no cart-coupon with a code was sent to Lena: {json.dumps(message)[:300]}")
        return _report(problems)
    code, incentive = message["coupon"], message.get("incentive") or {}
    created = stand_in.codes.get(code)
    print(
        f"  cart-coupon, incentive policy {incentive.get('policy')}: arm {incentive.get('arm')} (no prediction yet: "
        "nothing says she would buy without one)"
    )
    if created is None:
        problems.append(f"{code} does not exist in the shop")
        return _report(problems)
    where = rt.shop_apis.url(SHOP) if rt.shop_apis else "?"
    print(f"  {code} created in Shopify (the stand-in at {where}) before the mail was rendered:")
    print(
        f"    {created.id}, {created.percent:g} %, {created.usage_limit} use, until {created.ends_at:%Y-%m-%d}, "
        f"title {created.title!r}"
    )
    rt.outbox.collect() if rt.outbox else None
    mails = [
        m for m in (rt.outbox.messages if rt.outbox else []) if m.template == "cart-coupon" and m.to.startswith(USER)
    ]
    if not mails or not mails[-1].html_path or code not in mails[-1].html_path.read_text(encoding="utf-8"):
        problems.append("the cart-coupon mail does not name the code")
    else:
        print(f"  the mail names it: {mails[-1].path.relative_to(mails[-1].path.parents[1])}")
    order = stand_in.redeem(code, 820982911946154508, f"{USER}@example.com", "29.00")
    body = json.dumps(order).encode()
    resp = http.post(
        f"{rt.api_url}/webhooks/shopify/{SHOP}",
        data=body,
        headers={
            "content-type": "application/json",
            "x-shopify-topic": "orders/create",
            "x-shopify-webhook-id": f"demo-offers-{uuid.uuid4()}",
            "x-shopify-hmac-sha256": sign_base64(shop.webhook_secrets["shopify"], body),
        },
        timeout=10,
    )
    print(
        f"  Lena orders with it at the shop's checkout: orders/create (total {order['total_price']} after "
        f"{order['total_discounts']} off) -> HTTP {resp.status_code}"
    )
    redeemed = _wait(lambda: code in (profile().get("coupons_redeemed") or []), timeout, rt)
    used = stand_in.codes[code].uses
    print(f"  the shop: the code used {used} of {created.usage_limit} time(s); a second checkout would refuse it")
    if not redeemed or used != 1:
        problems.append(f"the redemption of {code} did not reach Lena's profile (uses {used})")
    report = _wait(
        lambda: http.get(f"{rt.api_url}/v1/analytics/incentives", headers=admin, timeout=30).json(), timeout, rt
    )
    arms = [
        a
        for t in (report or {}).get("templates", [])
        if t["template"] == "cart-coupon"
        for c in t["comparisons"]
        for a in c["arms"]
        if a["name"] == "coupon"
    ]
    if arms:
        arm = arms[0]
        print(
            f"  $ GET /v1/analytics/incentives: cart-coupon, arm coupon: {arm['customers']} customer(s), "
            f"{arm['converted']} converted, {arm['discount']:.2f} EUR of discount (the control group's readout "
            "shows what the coupons add once there are enough customers)"
        )
    else:
        problems.append("the incentive readout has no cart-coupon arm")
    return _report(problems)


def _report(problems: list[str]) -> int:
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    return 1 if problems else 0
