"""`emma demo`: start the local runtime, replay events/ through the real handlers over HTTP (signed
webhooks, tracker calls with write keys, a Shopify event through EventBridge), show idempotency and
bad input being refused, and finish with the profiles built and the events published."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from emma.resources import PROFILES_TABLE
from emma.sources.signatures import sign_base64, sign_hex
from emma_local import pump
from emma_local.campaign_demo import run_campaign_demo
from emma_local.config import ROOT, LocalConfig
from emma_local.import_demo import run_import_demo
from emma_local.journey_demo import JourneyDemo
from emma_local.measure_demo import run_measure_demo
from emma_local.offers_demo import run_offers_demo
from emma_local.privacy_demo import run_privacy_demo
from emma_local.runtime import LocalRuntime

# The story: Lena browses anonymously, logs in, buys on Shopify; Max browses and identifies in one
# tracker batch; a WooCommerce shop (another tenant) and a Shopware shop send their own topics.
SHOPIFY_ORDER = [
    "customers_create",
    "carts_create",
    "carts_update",
    "checkouts_create",
    "checkouts_update",
    "orders_create",
    "orders_fulfilled",
    "orders_cancelled",
    "customers_update",
    "products_create",
    "products_update",
]
SHOPIFY_VIA_EVENTBRIDGE = "orders_paid"
TRACKER_ORDER = [
    "page_home",
    "track_products_searched",
    "track_product_viewed",
    "track_product_added",
    "identify_lena",
    "track_tutorial_watched",
    "track_order_completed",
]
HEADERS = {
    "shopify": ("x-shopify-topic", "x-shopify-webhook-id", "x-shopify-hmac-sha256"),
    "woocommerce": ("x-wc-webhook-topic", "x-wc-webhook-delivery-id", "x-wc-webhook-signature"),
}


@dataclass
class Step:
    what: str
    status: int
    detail: str


class Demo:
    def __init__(self, runtime: LocalRuntime, config: LocalConfig, events_dir: Path) -> None:
        self.rt = runtime
        self.config = config
        self.events = events_dir
        self.http = requests.Session()
        self.steps: list[Step] = []
        self.bus: list[dict[str, Any]] = []  # everything seen on the bus so far

    def collect(self) -> list[dict[str, Any]]:
        """Let the rules function catch up, then take what reached the bus since the last call."""
        self.rt.drain()
        new = self.rt.published()
        self.bus += new
        return new

    def _record(self, what: str, resp: requests.Response) -> dict[str, Any]:
        body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
        if resp.ok:
            detail = f"accepted {body.get('accepted', 0)}, duplicates {body.get('duplicates', 0)}" + (
                f", rejected {len(body['rejected'])}" if body.get("rejected") else ""
            )
        else:
            detail = f"{body.get('error')}: {body.get('message')}"
        self.steps.append(Step(what, resp.status_code, detail))
        print(f"  {resp.status_code}  {what:<58} {detail[:90]}", flush=True)
        # The consumers see each request's events before the next request arrives, as they would with
        # a shop's requests spread over minutes: the triggers and segments printed do not depend on how
        # fast this machine is.
        self.rt.drain()
        return body

    def webhook(
        self, platform: str, shop: str, topic: str, delivery: str, body: bytes, secret: str | None = None
    ) -> None:
        secret = secret if secret is not None else self.config.shop(shop).webhook_secrets[platform]
        if platform == "shopware":
            headers = {"shopware-shop-signature": sign_hex(secret, body)}
        else:
            topic_h, delivery_h, sig_h = HEADERS[platform]
            headers = {topic_h: topic, delivery_h: delivery, sig_h: sign_base64(secret, body)}
        resp = self.http.post(
            f"{self.rt.api_url}/webhooks/{platform}/{shop}",
            data=body,
            headers={"content-type": "application/json", **headers},
            timeout=10,
        )
        self._record(f"{platform:<11} {shop:<13} {topic}", resp)

    def tracker(self, name: str, shop: str = "elektro-emma") -> None:
        body = json.loads((self.events / "tracker" / f"{name}.json").read_text())
        call = "batch" if "batch" in body else body.get("type", "track")
        key = self.config.shop(shop).write_keys[0]
        resp = self.http.post(f"{self.rt.api_url}/v1/{call}", json=body, auth=(key, ""), timeout=10)
        self._record(f"tracker     {shop:<13} /v1/{call} {name}", resp)

    def run(self) -> None:
        print("\n1. Tracker calls (Segment spec, write key as HTTP Basic user)")
        for name in TRACKER_ORDER:
            self.tracker(name)
        self.tracker("batch_session")

        print("\n2. Shopify webhooks, HMAC-signed with the shop's secret")
        for name in SHOPIFY_ORDER:
            body = (self.events / "shopify" / f"{name}.json").read_bytes()
            self.webhook("shopify", "elektro-emma", name.replace("_", "/", 1), f"demo-shopify-{name}", body)

        print("\n3. The same orders/create delivered 3 more times (Shopify retries)")
        body = (self.events / "shopify" / "orders_create.json").read_bytes()
        for _ in range(3):
            self.webhook("shopify", "elektro-emma", "orders/create", "demo-shopify-orders_create", body)

        print("\n4. Shopify through Amazon EventBridge (partner event source -> queue -> function)")
        self.shopify_eventbridge(SHOPIFY_VIA_EVENTBRIDGE)

        print("\n5. WooCommerce webhooks for another tenant (fahrrad-franz)")
        for path in sorted((self.events / "woocommerce").glob("*.json")):
            topic = _woo_topic(path.stem)
            self.webhook("woocommerce", "fahrrad-franz", topic, f"demo-woo-{path.stem}", path.read_bytes())

        print("\n6. Shopware 6 app webhooks (event and delivery id inside the signed body)")
        for path in sorted((self.events / "shopware").glob("*.json")):
            self.webhook(
                "shopware",
                "elektro-emma",
                json.loads(path.read_text())["data"]["event"],
                "",
                path.read_bytes(),
            )

        print("\n7. Bad input is refused and stores nothing")
        body = (self.events / "shopify" / "orders_create.json").read_bytes()
        self.webhook("shopify", "elektro-emma", "orders/create", "demo-bad-1", body, secret="wrong-secret")  # noqa: S106 - a deliberately wrong signature
        self.webhook("shopify", "no-such-shop", "orders/create", "demo-bad-2", body, secret="x")  # noqa: S106 - unknown shop, any secret
        self.webhook("shopify", "elektro-emma", "refunds/create", "demo-bad-3", body)
        self.webhook("shopify", "elektro-emma", "orders/create", "demo-bad-4", b'{"id": 1, "total_price": ')
        resp = self.http.post(
            f"{self.rt.api_url}/v1/track",
            json={"event": "Product Viewed", "userId": "1"},
            auth=("not-a-key", ""),
            timeout=10,
        )
        self._record("tracker     elektro-emma  /v1/track with an unknown write key", resp)
        self.rules()

    def rules(self) -> None:
        print("\n8. Triggers, segments and lifecycle, in real time (the triggers function, as events arrive)")
        self._conclusions(self.collect())
        print("\n9. Time passes with no event at all (the local clock jumps; the scheduled job runs)")
        cart = {
            "userId": "7008002",
            "event": "Product Added",
            "messageId": "demo-max-late-cart",
            "properties": {"product_id": "pixel-9-pro", "name": "Pixel 9 Pro", "price": 999.0, "quantity": 1},
        }
        key = self.config.shop("elektro-emma").write_keys[0]
        self._record(
            "tracker     elektro-emma  /v1/track Product Added (Max; no order follows)",
            self.http.post(f"{self.rt.api_url}/v1/track", json=cart, auth=(key, ""), timeout=10),
        )
        self._conclusions(self.collect())
        for label, delta in (("3 hours later", {"hours": 3}), ("200 days later", {"days": 200})):
            self.rt.advance(**delta)
            self.rt.run_schedule()
            print(f"  -- {label}")
            self._conclusions(self.collect())

    def _conclusions(self, events: list[dict[str, Any]]) -> None:
        describe = {
            "trigger.fired": lambda p: (
                f"fired   {p['trigger']}" + (" (absence: no event)" if p["kind"] == "absence" else "")
            ),
            "segment.entered": lambda p: f"entered {p['segment']}",
            "segment.left": lambda p: f"left    {p['segment']}",
            "lifecycle.changed": lambda p: f"stage   {p['previous'] or '-'} -> {p['stage']}",
        }
        for e in events:
            if e["source"] != "emma.rules":
                continue
            d = e["detail"]
            who = d["customer"].get("email") or d["customer"].get("customer_id") or d["customer"]["profile_id"][:12]
            print(f"  {d['shop']:<14}{who[:28]:<29}{describe[e['detail-type']](d['properties'])}")

    def shopify_eventbridge(self, name: str) -> None:
        assert self.rt.emulator is not None and self.rt.resources is not None
        payload = json.loads((self.events / "shopify" / f"{name}.json").read_text())
        topic = name.replace("_", "/", 1)
        shop = self.config.shop("elektro-emma")
        detail = {
            "payload": payload,
            "metadata": {
                "X-Shopify-Topic": topic,
                "X-Shopify-Webhook-Id": f"demo-eb-{name}",
                "X-Shopify-Shop-Domain": shop.shopify_domain,
            },
        }
        events = self.rt.emulator.session().client("events")
        events.put_events(
            Entries=[
                {
                    "Source": "aws.partner/shopify.com/local/emma",
                    "DetailType": "shopifyWebhook",
                    "Detail": json.dumps(detail),
                    "EventBusName": self.rt.resources.partner_bus_name,
                }
            ]
        )
        pump = self.rt.pumps["ShopifyPartnerQueue"]
        before = pump.processed
        deadline = time.monotonic() + 10
        while pump.processed == before and time.monotonic() < deadline:
            time.sleep(0.05)
        ok = pump.processed > before
        self.steps.append(Step(f"eventbridge {topic}", 200 if ok else 500, "processed" if ok else "not processed"))
        print(
            f"  {'ok ' if ok else 'ERR'}  eventbridge elektro-emma  {topic:<44} "
            f"{'processed by shopify_events' if ok else 'NOT processed'}"
        )

    def summary(self, started: float) -> int:
        profiles = self._profiles()
        self.collect()
        published = [e for e in self.bus if e["source"] == "emma.ingest"]
        concluded = [e for e in self.bus if e["source"] == "emma.rules"]
        print("\n10. Profiles built")
        print(
            f"  {'shop':<14}{'profile':<14}{'known as':<30}{'orders':>7}{'revenue':>11}  "
            f"{'email consent':<14}{'top interest':<14}{'events':>6}"
        )
        rows = []
        for p in profiles:
            view = self._get_profile(p)
            known = view.get("email") or (
                f"cid:{view['customer_id']}" if view.get("customer_id") else f"anon:{view['anonymous_ids'][0]}"
            )
            rows.append((p["shop"], known, p, view))
        for _, known, p, view in sorted(rows, key=lambda r: (r[0], r[1], r[2]["profile_id"])):  # ids are random
            consent = view["consent"].get("email")
            top = max(view["affinities"]["categories"].items(), key=lambda kv: kv[1]["score"], default=(None, None))[0]
            print(
                f"  {p['shop']:<14}{p['profile_id'][:12]:<14}{known[:29]:<30}{view['orders']['count']:>7}"
                f"{Decimal(view['orders']['revenue']):>11.2f}  "
                f"{('granted' if consent['granted'] else 'withdrawn') if consent else '-':<14}"
                f"{(top or '-')[:13]:<14}{len(view.get('history', [])):>6}"
            )
        print("\n11. Segment sizes (GET /v1/segments)")
        for shop in self.config.shops:
            sizes = self.http.get(
                f"{self.rt.api_url}/v1/segments", timeout=10, headers={"authorization": f"Bearer {shop.admin_keys[0]}"}
            ).json()["segments"]
            print(f"  {shop.shop:<14}" + ", ".join(f"{k} {v}" for k, v in sizes.items() if v) or "-")
        print("\n12. Events published on the bus (by type)")
        counts = Counter(e["detail-type"] for e in self.bus)
        for type_, n in sorted(counts.items()):
            print(f"  {n:>4}  {type_}")
        stored = self._stored_event_ids()
        published_ids = [e["detail"]["id"] for e in published]
        refused = [s for s in self.steps if s.status >= 400]
        print(
            f"\nSummary: {len(self.steps)} requests, {len(stored)} events stored, {len(published)} published, "
            f"{sum(e['detail-type'] == 'trigger.fired' for e in concluded)} triggers fired, "
            f"{len(profiles)} profiles in {len({p['shop'] for p in profiles})} shops, "
            f"{len(refused)} requests refused as expected, {time.monotonic() - started:.1f}s"
        )
        problems = [f"{s.what}: {s.status}" for s in self.steps if s.status >= 500]
        if sorted(published_ids) != sorted(stored):
            problems.append(f"stored and published events differ: {sorted(set(stored) ^ set(published_ids))[:5]}")
        for problem in problems:
            print(f"PROBLEM: {problem}")
        return 1 if problems else 0

    def _stored_event_ids(self) -> list[str]:
        """Every event stored, whatever the path: the customers' event logs (a commit's entry holds its events; the
        publisher writes it from the profile's outbox) and the idempotency records of the events without a customer
        (products) and of backfills."""
        assert self.rt.emulator is not None
        ddb = self.rt.emulator.session().client("dynamodb")
        ids = []
        for page in ddb.get_paginator("scan").paginate(
            TableName=PROFILES_TABLE.name,
            FilterExpression="sk = :e OR begins_with(sk, :log)",
            ExpressionAttributeValues={":e": {"S": "EVENT"}, ":log": {"S": "LOG#"}},
        ):
            for item in page["Items"]:
                if item["sk"]["S"] == "EVENT":
                    if not item.get("profile_id", {}).get("S"):  # a product's (a customer's are in their log)
                        ids.append(item["pk"]["S"].split("#E#", 1)[1])
                elif "events" in item:
                    ids += [e["id"] for e in json.loads(zlib.decompress(item["events"]["B"]))]
                else:
                    ids.append(json.loads(zlib.decompress(item["event"]["B"]))["id"])
        return ids

    def _profiles(self) -> list[dict[str, str]]:
        assert self.rt.emulator is not None
        ddb = self.rt.emulator.session().client("dynamodb")
        items = []
        for page in ddb.get_paginator("scan").paginate(
            TableName=PROFILES_TABLE.name,
            FilterExpression="sk = :p AND attribute_not_exists(merged_into)",
            ExpressionAttributeValues={":p": {"S": "PROFILE"}},
        ):
            items += [{"shop": i["shop"]["S"], "profile_id": i["profile_id"]["S"]} for i in page["Items"]]
        return sorted(items, key=lambda i: (i["shop"], i["profile_id"]))

    def _get_profile(self, p: dict[str, str]) -> dict[str, Any]:
        key = self.config.shop(p["shop"]).admin_keys[0]
        resp = self.http.get(
            f"{self.rt.api_url}/v1/profiles/{p['profile_id']}?history=200",
            headers={"authorization": f"Bearer {key}"},
            timeout=10,
        )
        resp.raise_for_status()
        return resp.json()


def _woo_topic(stem: str) -> str:
    resource, _, action = stem.partition("_")
    return f"{resource}.{action.split('_')[0]}"


# The demo drains the queues itself before it reads what they caused (Demo._record, LocalRuntime.drain and settle),
# so the pumps' background polls find nothing a drain would not. At the runtime's five polls a second per queue
# (pump.POLL_INTERVAL_SECONDS), the polls that found nothing were about a sixth of the main process's CPU in the
# journey section (a sampling profile on a 2-core machine); once a second is enough here (section 4 waits on a
# background poll: up to a second more).
DEMO_POLL_INTERVAL_SECONDS = 1.0


def run_demo(config: LocalConfig, events_dir: Path, serve: bool = False, port: int = 0) -> int:
    started = time.monotonic()
    print("Starting the local runtime (moto server, tables/bus/queues from emma.resources, handlers in-process)")
    with LocalRuntime(config, port=port, log_level="ERROR", outbox_dir=ROOT / "outbox") as runtime:
        print(f"API at {runtime.api_url}")
        with _poll_interval(DEMO_POLL_INTERVAL_SECONDS):
            demo = Demo(runtime, config, events_dir)
            demo.run()
            status = demo.summary(started)
            status |= JourneyDemo(runtime).run()
            status |= run_privacy_demo(runtime, config)
            status |= run_measure_demo(runtime, config)
            status |= run_import_demo(runtime, config)
            status |= run_campaign_demo(runtime, config)
            status |= run_offers_demo(runtime, config)
        print(f"\nDemo finished in {time.monotonic() - started:.0f} s")
        if serve:  # a person at the console: the pumps poll as `emma dev`'s do
            _serve(runtime, config)
        return status


@contextlib.contextmanager
def _poll_interval(seconds: float) -> Iterator[None]:
    """The pumps' background polls every ``seconds`` for a while (pump.POLL_INTERVAL_SECONDS, read by each poll)."""
    saved, pump.POLL_INTERVAL_SECONDS = pump.POLL_INTERVAL_SECONDS, seconds
    try:
        yield
    finally:
        pump.POLL_INTERVAL_SECONDS = saved


def _serve(runtime: LocalRuntime, config: LocalConfig) -> None:
    """Keep the demo's stack serving until Ctrl-C (or SIGTERM), for a person to look at the console."""
    shop = config.shop("elektro-emma")
    print(f"\nThe console: {runtime.api_url}/console/  (shop elektro-emma, admin key {shop.admin_keys[0]})")
    print(f"  the reports: emma report attribution --api {runtime.api_url} --admin-key {shop.admin_keys[0]}")
    print("  stop: Ctrl-C", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        while not stop.wait(0.5):  # woken twice a second: a signal may reach another thread (see emma dev)
            pass
