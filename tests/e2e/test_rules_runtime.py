"""Triggers and segments through the local runtime: ingest over HTTP -> bus -> queue -> triggers
function -> bus; the scheduled job on the local clock; redelivery and poison messages."""

import json
import time

import pytest
import requests

from emma.resources import TRIGGERS_QUEUE

pytestmark = pytest.mark.e2e
ADMIN = {"authorization": "Bearer ak_local_elektro_emma"}
KEY = ("wk_local_elektro_emma", "")


def track(rt, body):
    resp = requests.post(f"{rt.api_url}/v1/track", json=body, auth=KEY, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp


def rules_events(events, type_=None):
    return [e for e in events if e["source"] == "emma.rules" and (type_ is None or e["detail-type"] == type_)]


def test_triggers_fire_segments_change_and_a_redelivery_changes_nothing(runtime):
    runtime.published()
    track(
        runtime,
        {
            "userId": "rt-1",
            "messageId": "rt-1-order",
            "event": "Order Completed",
            "properties": {
                "order_id": "rt-o1",
                "total": 640.0,
                "currency": "EUR",
                "products": [{"product_id": "pixel-9", "price": 640.0}],
            },
        },
    )
    runtime.drain()
    seen = runtime.published()
    fired = {e["detail"]["properties"]["trigger"] for e in rules_events(seen, "trigger.fired")}
    assert "first-order" in fired
    entered = {e["detail"]["properties"]["segment"] for e in rules_events(seen, "segment.entered")}
    assert {"first-time-buyers", "big-baskets", "stage-buy"} <= entered
    profile = requests.get(f"{runtime.api_url}/v1/profiles/cid:rt-1", headers=ADMIN, timeout=10).json()
    assert profile["lifecycle_stage"] == "stage-buy" and 0 <= profile["predictions"]["churn_risk"] <= 1
    # SQS delivers the same event again: nothing fires twice.
    (order_event,) = [e for e in seen if e["source"] == "emma.ingest" and e["detail"]["id"] == "tracker:rt-1-order"]
    sqs = runtime.emulator.session().client("sqs")
    sqs.send_message(
        QueueUrl=runtime.resources.queue_urls[TRIGGERS_QUEUE.logical_id], MessageBody=json.dumps(order_event)
    )
    runtime.drain()
    assert rules_events(runtime.published()) == []


def test_absence_trigger_fires_on_the_local_clock_with_no_further_event(runtime):
    track(
        runtime,
        {
            "userId": "rt-2",
            "messageId": "rt-2-cart",
            "event": "Product Added",
            "properties": {"product_id": "case-1", "price": 19.0},
        },
    )
    runtime.drain()
    runtime.published()
    runtime.advance(hours=2, minutes=10)
    runtime.run_schedule()
    runtime.drain()
    fired = [
        e
        for e in rules_events(runtime.published(), "trigger.fired")
        if e["detail"]["customer"].get("customer_id") == "rt-2"
    ]
    assert [e["detail"]["properties"]["trigger"] for e in fired] == ["cart-abandoned"]
    sizes = requests.get(f"{runtime.api_url}/v1/segments", headers=ADMIN, timeout=10).json()["segments"]
    assert sizes.get("stage-explore", 0) >= 1


def test_a_poison_message_is_retried_then_parked_in_the_dlq_and_the_rest_proceeds(runtime):
    sqs = runtime.emulator.session().client("sqs")
    url = runtime.resources.queue_urls[TRIGGERS_QUEUE.logical_id]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"detail": {"id": "broken"}}))
    track(
        runtime,
        {
            "userId": "rt-3",
            "messageId": "rt-3-order",
            "event": "Order Completed",
            "properties": {"order_id": "rt-o3", "total": 10.0, "currency": "EUR"},
        },
    )
    dlq = runtime.resources.dlq_urls[TRIGGERS_QUEUE.logical_id]
    deadline, parked = time.monotonic() + 40, []
    while time.monotonic() < deadline and not parked:
        parked = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
        time.sleep(0.3)
    assert len(parked) == 1 and "broken" in parked[0]["Body"]
    profile = requests.get(f"{runtime.api_url}/v1/profiles/cid:rt-3", headers=ADMIN, timeout=10).json()
    assert profile["lifecycle_stage"] == "stage-buy"
