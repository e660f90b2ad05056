"""The demo's measurement part: the onboarding customers read their mail (SES open and click events, as
their mail clients cause them: Ben's Apple Mail with Privacy Protection opens everything by machine),
Anna orders the accessory she clicked, and the analytics reports say what Emma's messages did, through
the admin API as a shop would read them; then a simulated shop with a known true lift shows the
experiment readout recovering it."""

from __future__ import annotations

from datetime import date, timedelta
from email.utils import parseaddr
from typing import Any

import requests

from emma.analytics.service import shop_day
from emma_local.config import LocalConfig
from emma_local.lab.experiments import describe, run_lab
from emma_local.report_cli import render_attribution, render_experiments, render_funnel, render_messages
from emma_local.runtime import ROOT, LocalRuntime

SHOP = "elektro-emma"
IPHONE_MAIL = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile"
APPLE_PROXY = ("Mozilla/5.0", "17.58.101.12")  # Mail Privacy Protection: Apple fetches every message's images
# How each customer treats Emma's emails: open them, click them, or let Apple's proxy open them.
READERS = {
    "anna@example.com": ("open", "click"),
    "david@example.com": ("open",),
    "clara@example.com": ("open",),
    "ben@example.com": ("machine",),
}
ACCESSORY = {"product_id": "pixel-stand-2", "price": 79.0, "category": "accessories", "brand": "Google"}


def run_measure_demo(rt: LocalRuntime, config: LocalConfig, http: Any = None) -> int:
    http = http or requests.Session()
    print("\n17. Measurement: what Emma's messages did (GET /v1/analytics/..., emma report)")
    problems: list[str] = []
    outbox = rt.outbox
    assert outbox is not None
    rt.drain()
    emails = [m for m in outbox.messages if m.channel == "email" and m.shop == SHOP]
    opened = clicked = machine = 0
    offer = None
    for message in emails:
        habits = READERS.get(parseaddr(message.to)[1], ())
        if "machine" in habits:
            outbox.ses_event(message, "Open", user_agent=APPLE_PROXY[0], ip=APPLE_PROXY[1])
            machine += 1
        if "open" in habits:
            outbox.ses_event(message, "Open", user_agent=IPHONE_MAIL, ip="198.51.100.7")
            opened += 1
        if "click" in habits and message.template == "accessory-offer":
            outbox.ses_event(message, "Click", link="https://elektro-emma.example/p/pixel-stand-2")
            clicked += 1
            offer = message
    print(
        f"  The customers read their mail: {opened} opens by people, {machine} by Apple's proxy (Ben), "
        f"{clicked} click (Anna, on the accessory offer)"
    )
    rt.drain()  # SES's events reach analytics (through the feedback queue and ingest) before the order
    shop = config.shop(SHOP)
    if offer is not None:  # Anna buys what the accessory offer showed her, an hour after clicking it
        resp = http.post(
            f"{rt.api_url}/v1/track",
            json={
                "userId": "demo-anna",
                "event": "Order Completed",
                "properties": {
                    "order_id": "demo-anna-accessory",
                    "total": 79.0,
                    "currency": "EUR",
                    "products": [ACCESSORY],
                },
            },
            auth=(shop.write_keys[0], ""),
            timeout=10,
        )
        print(f"  {resp.status_code}  Anna orders the Pixel Stand she clicked in the accessory offer (79.00 EUR)")
    else:
        problems.append("no accessory offer to Anna in the outbox to click")
    rt.drain()

    admin = {"authorization": f"Bearer {shop.admin_keys[0]}"}
    today = date.fromisoformat(shop_day(shop, rt.now()))  # the shop's day: its reports are by its timezone
    params = {"since": (today - timedelta(days=399)).isoformat(), "until": today.isoformat()}  # the longest range

    def get(path: str, **more: str) -> dict[str, Any] | None:
        resp = http.get(f"{rt.api_url}{path}", params={**params, **more}, headers=admin, timeout=30)
        if resp.status_code != 200:
            problems.append(f"GET {path}: {resp.status_code} {resp.text[:200]}")
            return None
        return resp.json()

    messages = get("/v1/analytics/messages", group_by="template,channel")
    if messages:
        print()
        for line in render_messages(messages):
            print(line)
    funnel = get("/v1/analytics/journeys/smartphone-onboarding")
    if funnel:
        print()
        for line in render_funnel(funnel):
            print(line)
    attribution = get("/v1/analytics/attribution", group_by="journey,template")
    if attribution:
        print()
        for line in render_attribution(attribution):
            print(line)
        if not attribution["attributed"]["last_touch"]:
            problems.append("no revenue attributed to a message (Anna's accessory order should be)")
    experiments = get("/v1/analytics/experiments")
    if experiments:
        print()
        for line in render_experiments(experiments):
            print(line)
    print()
    lab = run_lab(ROOT)
    for line in describe(lab):
        print(line)
    missed = [arm for arm, ok in lab.recovered().items() if not ok]
    if missed:
        problems.append(f"the simulated shop's true lift is outside the interval for {', '.join(missed)}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0
