import json
import threading
import time
from pathlib import Path

import pytest
import requests

from emma.sources.signatures import sign_base64

pytestmark = pytest.mark.e2e
EVENTS = Path(__file__).resolve().parents[2] / "events"
ADMIN = {"authorization": "Bearer ak_local_elektro_emma"}
SECRET = "shpss_local_elektro_emma"


def post_order(rt, body, delivery):
    return requests.post(
        f"{rt.api_url}/webhooks/shopify/elektro-emma",
        data=body,
        timeout=10,
        headers={
            "content-type": "application/json",
            "x-shopify-topic": "orders/create",
            "x-shopify-webhook-id": delivery,
            "x-shopify-hmac-sha256": sign_base64(SECRET, body),
        },
    )


def order_body(order_id, email="konkurrent@example.de", customer_id=9900001):
    order = json.loads((EVENTS / "shopify" / "orders_create.json").read_text())
    order.update(id=order_id, email=email, contact_email=email, discount_codes=[], cart_token=None)
    order["customer"] = {**order["customer"], "id": customer_id, "email": email}
    return json.dumps(order).encode()


def test_concurrent_orders_of_one_customer_over_http_all_count(runtime):
    bodies = [order_body(880000 + i) for i in range(12)]
    results = []

    def send(i):
        results.append(post_order(runtime, bodies[i], f"conc-{i}").status_code)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * len(bodies)
    profile = requests.get(f"{runtime.api_url}/v1/profiles/konkurrent@example.de", headers=ADMIN, timeout=10).json()
    assert profile["orders"]["count"] == len(bodies)


def test_one_delivery_sent_ten_times_concurrently_is_stored_and_published_once(runtime):
    runtime.published()  # drain the tap
    body = order_body(770001, email="doppelt@example.de", customer_id=9900002)
    statuses = []
    threads = [
        threading.Thread(target=lambda: statuses.append(post_order(runtime, body, "same-delivery").status_code))
        for _ in range(10)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 10
    runtime.drain()  # the stored outbox reaches the bus through the profiles table's stream
    published = [e for e in runtime.published() if e["detail"]["id"] == "shopify:same-delivery"]
    assert len(published) == 1
    profile = requests.get(f"{runtime.api_url}/v1/profiles/doppelt@example.de", headers=ADMIN, timeout=10).json()
    assert profile["orders"]["count"] == 1


def test_events_stored_while_the_publisher_is_down_go_out_once_it_is_back(runtime):
    """The publisher function dies (its stream reader stops) between the write and the publish: the order is
    accepted and stored, retries of the delivery change nothing, and once the publisher is back the event is
    published exactly once."""
    runtime.drain()
    runtime.published()  # drain the tap
    publisher = runtime.streams["OutboxStream"]
    publisher.paused = True
    try:
        body = order_body(770002, email="ausfall@example.de", customer_id=9900003)
        assert post_order(runtime, body, "while-down").status_code == 200
        for _ in range(3):  # the shop retries (a timeout on its side): duplicates, nothing more is stored
            assert post_order(runtime, body, "while-down").json()["accepted"] == 0
        time.sleep(0.5)  # the stream reader's poll interval, twice: still nothing goes out
        assert not [e for e in runtime.published() if e["detail"]["id"] == "shopify:while-down"]
        profile = requests.get(f"{runtime.api_url}/v1/profiles/ausfall@example.de", headers=ADMIN, timeout=10).json()
        assert profile["orders"]["count"] == 1
    finally:
        publisher.paused = False
    runtime.drain()
    published = [e for e in runtime.published() if e["detail"]["id"] == "shopify:while-down"]
    assert len(published) == 1 and published[0]["detail"]["customer"]["profile_id"] == profile["profile_id"]


def test_tracker_batch_links_anonymous_visitor_to_the_customer(runtime):
    body = (EVENTS / "tracker" / "batch_session.json").read_bytes()
    resp = requests.post(
        f"{runtime.api_url}/v1/batch",
        data=body,
        auth=("wk_local_elektro_emma", ""),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 200 and len(resp.json()["rejected"]) == 1
    by_anon = requests.get(f"{runtime.api_url}/v1/profiles/anon:anon-9b1c", headers=ADMIN, timeout=10).json()
    by_email = requests.get(f"{runtime.api_url}/v1/profiles/max.mueller@example.de", headers=ADMIN, timeout=10).json()
    assert by_anon["profile_id"] == by_email["profile_id"] and by_email["known"] is True


def test_shopify_eventbridge_path_processes_good_events_and_parks_bad_ones_in_the_dlq(runtime):
    shop_events = runtime.emulator.session().client("events")
    paid = json.loads((EVENTS / "shopify" / "orders_paid.json").read_text())

    def entry(domain, delivery):
        detail = {
            "payload": paid,
            "metadata": {
                "X-Shopify-Topic": "orders/paid",
                "X-Shopify-Webhook-Id": delivery,
                "X-Shopify-Shop-Domain": domain,
            },
        }
        return {
            "Source": "aws.partner/shopify.com/1/emma",
            "DetailType": "shopifyWebhook",
            "Detail": json.dumps(detail),
            "EventBusName": runtime.resources.partner_bus_name,
        }

    shop_events.put_events(
        Entries=[entry("elektro-emma.myshopify.com", "eb-good"), entry("unknown-shop.myshopify.com", "eb-bad")]
    )
    sqs = runtime.emulator.session().client("sqs")
    dlq = runtime.resources.dlq_urls["ShopifyPartnerQueue"]
    deadline = time.monotonic() + 30
    parked = []
    while time.monotonic() < deadline and not parked:
        parked = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
        time.sleep(0.2)
    assert len(parked) == 1 and "unknown-shop" in parked[0]["Body"]
    profile = requests.get(f"{runtime.api_url}/v1/profiles/cid:7008001", headers=ADMIN, timeout=10).json()
    assert any(r["status"] in ("paid", "fulfilled") for r in profile["orders"]["recent"])


def test_emma_dev_answers_preflights_gzip_and_short_paths_as_the_deployed_api_does(runtime):
    import gzip

    preflight = requests.options(
        f"{runtime.api_url}/v1/t",
        headers={
            "origin": "http://localhost:3000",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization,content-type",
        },
        timeout=10,
    )
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == "*"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    call = {
        "type": "track",
        "event": "Product Viewed",
        "anonymousId": "anon-gz",
        "messageId": "gz-1",
        "properties": {"product_id": "1042"},
        "writeKey": "wk_local_elektro_emma",
    }
    resp = requests.post(
        f"{runtime.api_url}/v1/b",
        data=gzip.compress(json.dumps({"batch": [call]}).encode()),
        headers={"content-type": "text/plain", "content-encoding": "gzip", "origin": "http://localhost:3000"},
        timeout=10,
    )
    assert resp.status_code == 200 and resp.json()["accepted"] == 1
    assert resp.headers["access-control-allow-origin"] == "*"
    bad = requests.post(
        f"{runtime.api_url}/v1/t", data=b"\x1f\x8bnope", headers={"content-encoding": "gzip"}, timeout=10
    )
    assert bad.status_code == 400 and bad.json()["code"] == 400
