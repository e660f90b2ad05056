"""Genuine payloads of the platforms (../shared/real-payloads/, read in place, never copied) through the
real ingest Lambda handler with in-memory ports, and SES's event records through the ses_feedback
function: every file is accepted and mapped, or refused with a 4xx naming the problem; never a 5xx,
nothing refused is stored, nothing accepted is lost.

The directory is globbed, so a file added later is covered at once; a folder of a platform this
module does not know fails loudly. Topics come from the file name (``orders_create.x.json`` ->
``orders/create``, ``customers_marketing_consent_update`` -> ``customers_marketing_consent/update``,
``order.created.x.json`` -> ``order.created``). A Shopify file named after a resource only (the gadget
exemplars ``orders.``, ``carts.``, ``checkouts.``: one real field set shared by all of the resource's
topics) is posted as every topic of that resource Emma supports.

Set ``EMMA_REAL_PAYLOADS`` to read another directory, and ``EMMA_REAL_PAYLOADS_TABLE`` to a file
path to have the table of what each file became written there.
"""

from __future__ import annotations

import copy
import json
import os
import re
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emma.events.model import CUSTOMERLESS_TYPES, EventType
from emma.sources import shopify
from emma.sources.signatures import sign_base64, sign_hex
from emma.sources.webhooks import WEBHOOK_SOURCES
from emma_local.lambdas import LambdaContext, sqs_event
from factories import T0
from tests.unit.functions.conftest import SHOP

REAL = Path(os.environ.get("EMMA_REAL_PAYLOADS") or Path(__file__).resolve().parents[4] / "shared" / "real-payloads")
FILES = sorted(p for p in REAL.glob("**/*.json") if p.is_file())
WEBHOOK_PLATFORMS = {"shopify", "woocommerce", "shopware"}
PLATFORMS = WEBHOOK_PLATFORMS | {"ses"}
ADMIN = {"authorization": "Bearer ak_1"}
SECRETS = SHOP.webhook_secrets
OUTCOMES: dict[str, list[str]] = {}  # file -> what each delivery of it became (for the report table)

# EventBridge detail-type of each SES event type.
SES_DETAIL_TYPES = {
    "Send": "Email Sent",
    "Delivery": "Email Delivered",
    "Bounce": "Email Bounced",
    "Complaint": "Email Complaint Received",
    "Reject": "Email Rejected",
    "Open": "Email Opened",
    "Click": "Email Clicked",
    "Rendering Failure": "Email Rendering Failed",
    "DeliveryDelay": "Email Delivery Delayed",
    "Subscription": "Email Subscribed",
}
SES_RECORDED = {
    "Delivery": EventType.EMAIL_DELIVERED,
    "Bounce": EventType.EMAIL_BOUNCED,
    "Complaint": EventType.EMAIL_COMPLAINED,
    "Open": EventType.EMAIL_OPENED,
    "Click": EventType.EMAIL_CLICKED,
}
EMMA_TAGS = {
    "emma-shop": ["elektro-emma"],
    "emma-profile": ["p_0123456789abcdef"],
    "emma-template": ["cart-reminder"],
    "emma-journey": ["abandoned-cart"],
    "emma-message": ["m_real_payload"],
}


def rel(path: Path) -> str:
    return str(path.relative_to(REAL))


def platform_of(path: Path) -> str:
    platform = path.relative_to(REAL).parts[0]
    if platform not in PLATFORMS or len(path.relative_to(REAL).parts) != 2:
        pytest.fail(f"{rel(path)}: no platform folder this test knows ({sorted(PLATFORMS)}); teach it the new one")
    return platform


def files(*platforms: str) -> list[Any]:
    return [pytest.param(p, id=rel(p)) for p in FILES if p.relative_to(REAL).parts[0] in platforms]


def test_the_real_payloads_are_there_and_every_folder_is_known():
    assert REAL.is_dir(), f"real payloads not found at {REAL} (set EMMA_REAL_PAYLOADS)"
    assert FILES, f"no JSON files under {REAL}"
    for path in FILES:
        platform_of(path)


# ---- topics and headers as each platform sends them --------------------------------------------


def shopify_topics(path: Path) -> list[str]:
    stem = path.name.split(".", 1)[0]
    if "_" not in stem:  # a resource's exemplar: the field set of all its topics
        topics = sorted(t for t in shopify.TOPICS if t.split("/")[0] == stem)
        assert topics, f"{rel(path)}: Emma supports no Shopify topic of the resource {stem!r}"
        return topics
    candidates = [f"{stem[:i]}/{stem[i + 1 :]}" for i, c in enumerate(stem) if c == "_"]
    known = shopify.TOPICS | shopify.PRIVACY_TOPICS
    return [next((t for t in candidates if t in known), candidates[-1])]  # an unknown one must get 422


def deliveries(path: Path) -> list[tuple[str, str, dict[str, str]]]:
    """(topic, route, headers) for each delivery of the file's exact bytes."""
    body = path.read_bytes()
    platform = platform_of(path)
    if platform == "shopify":
        return [
            (
                topic,
                "/webhooks/shopify/elektro-emma",
                {
                    "x-shopify-topic": topic,
                    "x-shopify-webhook-id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{rel(path)}#{topic}")),
                    "x-shopify-hmac-sha256": sign_base64(SECRETS["shopify"], body),
                    "x-shopify-shop-domain": "elektro-emma.myshopify.com",
                    "x-shopify-api-version": "2026-04",
                },
            )
            for topic in shopify_topics(path)
        ]
    if platform == "woocommerce":
        topic = ".".join(path.name.split(".")[:2])
        return [
            (
                topic,
                "/webhooks/woocommerce/elektro-emma",
                {
                    "x-wc-webhook-topic": topic,
                    "x-wc-webhook-delivery-id": uuid.uuid5(uuid.NAMESPACE_URL, rel(path)).hex,
                    "x-wc-webhook-signature": sign_base64(SECRETS["woocommerce"], body),
                    "x-wc-webhook-source": "https://example.com/",
                },
            )
        ]
    return [
        (
            "(in the body)",
            "/webhooks/shopware/elektro-emma",
            {"shopware-shop-signature": sign_hex(SECRETS["shopware"], body)},
        )
    ]


def expected_events(platform: str, topic: str, headers: dict[str, str], body: bytes) -> list[Any]:
    """What the mapper makes of the delivery (the handler must store and publish exactly these)."""
    source = WEBHOOK_SOURCES[platform]
    topic, delivery_id = source.delivery_of(headers, body)
    return source.map_delivery("elektro-emma", topic, delivery_id, json.loads(body), T0)


# The event types each resource may become, written down here rather than taken from the mappers: a
# mapper that turned an order into a cart update (or the handler storing the wrong event) fails.
FAMILIES = {
    "shopify": {
        "orders": {
            "order.placed",
            "order.paid",
            "order.fulfilled",
            "order.cancelled",
            "coupon.redeemed",
            "consent.changed",
        },
        "carts": {"cart.updated"},
        "checkouts": {"checkout.started", "consent.changed"},
        "customers": {"customer.registered", "customer.updated", "consent.changed"},
        "customers_marketing_consent": {"consent.changed"},
    },
    "woocommerce": {
        "order": {"order.placed", "order.paid", "order.fulfilled", "order.cancelled", "coupon.redeemed"},
        "customer": {"customer.registered", "customer.updated", "consent.changed"},
    },
    "shopware": {
        "product": {"catalog.product_upserted"},
        "checkout": {"order.placed", "coupon.redeemed"},
        "state_enter": {"order.paid", "order.cancelled", "order.fulfilled"},
        "customer": {"customer.registered", "customer.updated", "consent.changed"},
        "newsletter": {"consent.changed"},
    },
}
_FIELD = re.compile(r"([A-Za-z_]\w*(?:\[\d+\])?(?:\.[A-Za-z_]\w*(?:\[\d+\])?)*): ")


def family(platform: str, topic: str, body: bytes) -> set[str]:
    if platform == "shopware":
        topic = str(json.loads(body).get("data", {}).get("event", ""))
    resource = re.split(r"[/.]", topic)[0]
    assert resource in FAMILIES[platform], f"{platform} {topic}: teach FAMILIES what this resource may become"
    return FAMILIES[platform][resource]


def resolves(payload: Any, path: str) -> bool:
    """Whether ``line_items[0].price``-style ``path`` names a value in ``payload``."""
    for part in re.findall(r"[^.\[\]]+", path):
        if isinstance(payload, list) and part.isdigit() and int(part) < len(payload):
            payload = payload[int(part)]
        elif isinstance(payload, dict) and part in payload:
            payload = payload[part]
        else:
            return False
    return True


def names_the_problem(status: int, message: str, topic: str, body: bytes) -> bool:
    """A refusal names what is wrong: a 400 a field of the payload (or a required one it lacks), a 422
    the topic."""
    if status == 422:
        return topic in message
    payload = json.loads(body)
    return any(
        resolves(payload, field) or f"{field}: required field is missing" in message
        for field in _FIELD.findall(message)
    )


def stored_events(world, shop: str = "elektro-emma") -> dict[str, dict[str, Any]]:
    """Every event in the in-memory store's event logs, by id, as stored."""
    return {
        entry["event"]["id"]: entry["event"]
        for (s, _), log in world["repo"].logs.items()
        if s == shop
        for entry in log.values()
    }


def counts(world) -> tuple[int, int]:
    return len(world["repo"].seen), len(world["publisher"].published)


def describe(events: list[Any]) -> str:
    found = Counter(str(e.type) for e in events)
    return ", ".join(f"{t} x{n}" if n > 1 else t for t, n in sorted(found.items()))


# ---- every webhook file ------------------------------------------------------------------------


@pytest.mark.parametrize("path", files(*WEBHOOK_PLATFORMS))
def test_every_webhook_file_is_mapped_or_refused_clearly(api, world, path: Path):
    platform = platform_of(path)
    body = path.read_bytes()
    OUTCOMES[rel(path)] = []
    for topic, route, headers in deliveries(path):
        before = counts(world)
        status, answer = api.call("POST", route, body, headers)
        after = counts(world)
        label = f"{topic}: " if platform == "shopify" and len(shopify_topics(path)) > 1 else ""
        assert status < 500, f"{rel(path)} {topic}: {status} {answer}"
        if platform == "shopify" and topic in shopify.PRIVACY_TOPICS:  # queued for emma.privacy, nothing stored
            assert status == 200 and answer["job_id"], answer
            assert after == before, f"{rel(path)} {topic}: a compliance request stored or published events"
            OUTCOMES[rel(path)].append(f"{label}{status} queued privacy job ({world['privacy'].requests[-1]['kind']})")
            continue
        if 400 <= status < 500:
            assert status in (400, 422), f"{rel(path)} {topic}: a genuine, signed delivery refused with {status}"
            assert answer["error"] and answer["code"] == status, answer
            assert names_the_problem(status, answer["message"], topic, body), f"{rel(path)} {topic}: {answer}"
            assert after == before, f"{rel(path)} {topic}: refused, yet something was stored or published"
            OUTCOMES[rel(path)].append(f"{label}{status} {answer['error']}: {answer['message']}")
            continue
        assert status == 200 and answer["success"] is True, answer
        mapped = expected_events(platform, topic, headers, body)
        kept = [e for e in mapped if e.type in CUSTOMERLESS_TYPES or not e.customer.is_empty()]
        published = world["publisher"].published[before[1] :]
        assert answer["accepted"] == len(kept) == after[0] - before[0], answer
        assert answer["skipped"] == len(mapped) - len(kept) and answer["duplicates"] == 0, answer
        assert [(e.id, e.type) for e in published] == [(e.id, e.type) for e in kept]  # nothing accepted is lost
        in_log = stored_events(world)
        for event in published:
            assert str(event.type) in family(platform, topic, body), f"{rel(path)} {topic}: {event.type}"
            assert event.source.kind == platform and event.id.startswith(f"{platform}:"), event.id
            assert (event.shop, event.id) in world["repo"].seen
            if event.type not in CUSTOMERLESS_TYPES:  # what was published is what the profile's log holds
                assert in_log[event.id] == event.model_dump(mode="json"), f"{rel(path)} {topic}: {event.id}"
        skipped = f" ({answer['skipped']} skipped: no customer reference)" if answer["skipped"] else ""
        OUTCOMES[rel(path)].append(f"{label}{status}: {describe(kept) or 'nothing to record'}{skipped}")
        # the same delivery again changes nothing and is answered as a duplicate
        status, again = api.call("POST", route, body, headers)
        assert status == 200 and again["accepted"] == 0 and counts(world) == after, again


# ---- what the files mean -----------------------------------------------------------------------


def post(api, path: str, topic: str | None = None, body: bytes | None = None, delivery: str | None = None):
    file = REAL / path
    body = file.read_bytes() if body is None else body
    if file.parts[-2] == "shopware":
        return api.call(
            "POST",
            "/webhooks/shopware/elektro-emma",
            body,
            {"shopware-shop-signature": sign_hex(SECRETS["shopware"], body)},
        )
    if file.parts[-2] == "woocommerce":
        headers = {
            "x-wc-webhook-topic": topic or ".".join(file.name.split(".")[:2]),
            "x-wc-webhook-delivery-id": delivery or uuid.uuid4().hex,
            "x-wc-webhook-signature": sign_base64(SECRETS["woocommerce"], body),
        }
        return api.call("POST", "/webhooks/woocommerce/elektro-emma", body, headers)
    headers = {
        "x-shopify-topic": topic or shopify_topics(file)[0],
        "x-shopify-webhook-id": delivery or uuid.uuid4().hex,
        "x-shopify-hmac-sha256": sign_base64(SECRETS["shopify"], body),
    }
    return api.call("POST", "/webhooks/shopify/elektro-emma", body, headers)


def profile(api, ref: str) -> dict[str, Any]:
    status, body = api.call("GET", f"/v1/profiles/{ref}", headers=ADMIN)
    assert status == 200, body
    return body


def published(world, type_: EventType) -> list[Any]:
    return [e for e in world["publisher"].published if e.type is type_]


def test_the_rudderstack_order_created_and_paid_is_one_order(api, world):
    assert post(api, "shopify/orders_create.captured-rudderstack.json")[0] == 200
    assert post(api, "shopify/orders_paid.captured-rudderstack.json")[0] == 200
    assert post(api, "shopify/checkouts_create.captured-rudderstack.json")[0] == 200  # email: null
    buyer = profile(api, "cid:7358220173425")
    assert buyer["orders"]["count"] == 1 and Decimal(buyer["orders"]["revenue"]) == Decimal("600")
    assert buyer["orders"]["currency"] == "USD" and buyer["orders"]["cancelled"] == 0
    (record,) = buyer["orders"]["recent"]
    assert (record["order_id"], record["status"], record["counted"]) == ("5778367414385", "paid", True)
    assert record["items"] == {"7234590408817": 1}  # product_id sent as an integer, then as a string
    assert buyer["products_owned"]["7234590408817"]["quantity"] == 1
    # the checkout names no customer and no email; its cart token is the order's: the same profile
    assert (
        profile(api, "anon:shopify-cart:Z2NwLXVzLWVhc3QxOjAxSkJaTUVRSjgzNUJUN1BTNjEzRFdRUFFQ")["profile_id"]
        == buyer["profile_id"]
    )
    paid = published(world, EventType.ORDER_PAID)[0].properties
    assert paid.items[0].price == Decimal("600") and paid.items[0].product_id == "7234590408817"


def test_the_docs_test_order_voided_and_cancelled_never_counts(api, world):
    assert post(api, "shopify/orders_create.docs-2026-04.json")[0] == 200
    assert post(api, "shopify/orders_paid.docs-2026-04.json", "orders/paid")[0] == 200  # the same body
    assert published(world, EventType.ORDER_PLACED) == [] and published(world, EventType.ORDER_PAID) == []
    created, paid = published(world, EventType.ORDER_CANCELLED)
    for event in (created, paid):
        assert event.properties.order_id == "820982911946154508"  # the gid's digits, not 820982911946154500
        assert event.properties.test is True and event.properties.total == Decimal("404.95")
        assert event.customer.customer_id == "115310627314723954"
    assert published(world, EventType.COUPON_REDEEMED) == []
    buyer = profile(api, "cid:115310627314723954")
    assert (buyer["orders"]["count"], Decimal(buyer["orders"]["revenue"]), buyer["orders"]["cancelled"]) == (0, 0, 0)
    assert [(r["order_id"], r["status"], r["counted"]) for r in buyer["orders"]["recent"]] == [
        ("820982911946154508", "cancelled", False)
    ]
    assert buyer["products_owned"] == {}


def test_ids_beyond_2_53_are_the_exact_digits(api, world):
    assert post(api, "shopify/customers_create.docs-2026-04.json")[0] == 200
    assert profile(api, "cid:706405506930370084")["emails"] == ["bob@biller.com"]
    assert post(api, "shopify/checkouts_create.docs-2026-04.json")[0] == 200
    checkout = published(world, EventType.CHECKOUT_STARTED)[0]
    assert checkout.customer.customer_id == "603851970716743426"
    assert post(api, "shopify/carts_update.docs-2026-04.json")[0] == 200
    cart = published(world, EventType.CART_UPDATED)[0]
    item = cart.properties.items[0]
    assert (item.product_id, item.variant_id, item.quantity) == ("788032119674292900", "704912205188288575", 3)
    assert cart.properties.value == Decimal("59.97") and cart.properties.currency == "USD"
    for event in world["publisher"].published:  # every id a string, never a float's digits
        assert "e+" not in event.model_dump_json().lower()


def test_a_cart_naming_no_customer_is_kept_under_its_cart_token(api, world):
    # No customer, no email: the cart token is the only reference. It is stored in an anonymous
    # profile the checkout and the order of the same cart join later (documented in docs/sources.md).
    status, answer = post(api, "shopify/carts_update.docs-2026-04.json")
    assert status == 200 and answer["accepted"] == 1 and answer["skipped"] == 0
    cart = profile(api, "anon:shopify-cart:exampleCartId")
    assert cart["known"] is False and cart["cart"]["items"] == {"788032119674292900": 3}
    checkout = json.loads((REAL / "shopify/checkouts_create.docs-2026-04.json").read_bytes())
    checkout["cart_token"] = "exampleCartId"  # the customer checks that cart out: the profiles merge
    assert post(api, "shopify/checkouts_create.docs-2026-04.json", body=json.dumps(checkout).encode())[0] == 200
    merged = profile(api, "anon:shopify-cart:exampleCartId")
    assert merged["customer_id"] == "603851970716743426" and merged["known"] is True
    status, answer = post(api, "shopify/carts_create.captured-rudderstack.json")  # an empty cart
    assert status == 200 and answer["accepted"] == 1
    assert profile(api, "anon:shopify-cart:shopify_test3")["cart"]["items"] == {}


def test_a_checkout_naming_nobody_at_all_is_acknowledged_as_skipped(api, world):
    body = json.loads((REAL / "shopify/checkouts_create.captured-rudderstack.json").read_bytes())
    body["cart_token"] = None  # email null, no customer, no cart token: nothing to attach it to
    status, answer = post(api, "shopify/checkouts_create.captured-rudderstack.json", body=json.dumps(body).encode())
    assert status == 200 and (answer["accepted"], answer["skipped"]) == (0, 1)
    assert counts(world) == (0, 0)


def test_sms_consent_from_customers_marketing_consent_update(api, world):
    # The documentation's example says nothing (state null): acknowledged, nothing recorded.
    status, answer = post(api, "shopify/customers_marketing_consent_update.docs-2026-04.json")
    assert status == 200 and answer["accepted"] == 0 and counts(world) == (0, 0)
    body = json.loads((REAL / "shopify/customers_marketing_consent_update.docs-2026-04.json").read_bytes())
    body["phone"] = "+16135551111"
    body["sms_marketing_consent"].update(
        state="subscribed", opt_in_level="single_opt_in", consent_updated_at="2025-03-01T10:00:00Z"
    )
    status, answer = post(
        api, "shopify/customers_marketing_consent_update.docs-2026-04.json", body=json.dumps(body).encode()
    )
    assert status == 200 and answer["accepted"] == 1
    customer = profile(api, "cid:706405506930370000")  # no gid in this payload: the id as sent
    assert customer["consent"]["sms"]["granted"] is True
    assert customer["consent"]["sms"]["proof"]["source"] == "shopify:customers_marketing_consent/update"
    assert customer["phones"] == ["+16135551111"]


def test_email_consent_from_a_shopify_order_and_customer(api, world):
    assert post(api, "shopify/customers_create.captured-rudderstack.json")[0] == 200
    customer = profile(api, "cid:5747017285820")
    assert customer["consent"]["email"]["granted"] is False  # accepts_marketing: false, dated
    assert "sms" not in customer["consent"]  # not_subscribed, undated: no statement


@pytest.mark.parametrize(
    "path",
    [
        "shopify/customers_data_request.docs-2026-04.json",
        "shopify/customers_redact.docs-2026-04.json",
        "shopify/shop_redact.docs-2026-04.json",
    ],
)
def test_compliance_topics_are_verified_then_queued_as_privacy_jobs(api, world, path: str):
    topic = shopify_topics(REAL / path)[0]
    assert topic in shopify.PRIVACY_TOPICS
    body = (REAL / path).read_bytes()
    bad = {"x-shopify-topic": topic, "x-shopify-webhook-id": "c-1", "x-shopify-hmac-sha256": sign_base64("wrong", body)}
    assert api.call("POST", "/webhooks/shopify/elektro-emma", body, bad)[0] == 401  # verified first
    assert world["privacy"].requests == []
    status, answer = post(api, path)
    assert status == 200 and answer["success"] is True and answer["job_id"], answer
    assert counts(world) == (0, 0)  # nothing mapped into events
    (request,) = world["privacy"].requests
    assert request["actor"] == f"shopify:{topic}"
    payload = json.loads(body)
    if topic == "shop/redact":
        assert (request["kind"], request["refs"]) == ("erase_shop", [])
    else:
        customer = payload["customer"]
        assert request["refs"] == [f"cid:{customer['id']}", f"email:{customer['email']}"]
        field = "orders_requested" if topic == "customers/data_request" else "orders_to_redact"
        assert request["orders"] == [str(o) for o in payload[field]]
        assert request["kind"] == ("export" if topic == "customers/data_request" else "erase")
        assert request["notify"] is (topic == "customers/data_request")


def test_woocommerce_rest_order_and_customer_are_webhook_bodies(api, world):
    assert post(api, "woocommerce/customer.created.rest-api-docs.json")[0] == 200
    assert profile(api, "cid:25")["emails"] == ["john.doe@example.com"]
    assert post(api, "woocommerce/order.created.rest-api-docs.json")[0] == 200
    (placed,) = published(world, EventType.ORDER_PLACED)
    props = placed.properties
    assert (props.order_id, props.order_number, props.total, props.currency) == ("727", "727", Decimal("29.35"), "USD")
    assert [(i.product_id, i.variant_id, i.quantity, i.price) for i in props.items] == [
        ("93", None, 2, Decimal("3.00")),
        ("22", "23", 1, Decimal("12.00")),
    ]
    assert placed.customer.customer_id is None  # customer_id 0: a guest order, by its billing email
    guest = profile(api, "john.doe@example.com")  # the same address as customer 25: one profile
    assert guest["customer_id"] == "25" and guest["orders"]["count"] == 1
    assert Decimal(guest["orders"]["revenue"]) == Decimal("29.35")


def test_shopware_pay_request_is_no_webhook(api, world):
    status, answer = post(api, "shopware/payment_pay_request_with_order_entity.app-php-sdk-fixture.json")
    assert status == 400 and "data.event" in answer["message"] and "not an app webhook" in answer["message"]
    assert counts(world) == (0, 0)


def test_shopware_order_entity_as_checkout_order_placed_is_order_10077(api, world):
    fixture = json.loads(
        (REAL / "shopware/payment_pay_request_with_order_entity.app-php-sdk-fixture.json").read_bytes()
    )
    webhook = {
        "data": {"payload": {"order": fixture["order"]}, "event": "checkout.order.placed"},
        "source": {**fixture["source"], "eventId": "0a5c1f0e6e0b4a2e9b8f2d7c3e4a5b6c"},
        "timestamp": 1683207387,
    }
    body = json.dumps(webhook).encode()
    status, answer = post(api, "shopware/payment_pay_request_with_order_entity.app-php-sdk-fixture.json", body=body)
    assert status == 200 and answer["accepted"] == 1, answer
    (placed,) = published(world, EventType.ORDER_PLACED)
    props = placed.properties
    assert (props.order_number, props.total, props.currency) == ("10077", Decimal("395.01"), "EUR")
    assert props.order_id == "8f69d4874c53486a95383b2126161738"
    (item,) = props.items
    assert (item.product_id, item.quantity, item.price) == ("9c4734591e8d40308e0b9480523ba10f", 1, Decimal("395.01"))
    assert item.name == "Aerodynamic Bronze Slo-Cooked Prawns"
    buyer = profile(api, "test@example.com")
    assert buyer["customer_id"] == "5e5d6cd8917c45839b2f6aa7b4bf1425"
    assert buyer["orders"]["count"] == 1 and Decimal(buyer["orders"]["revenue"]) == Decimal("395.01")


def test_shopware_product_deleted_leaves_the_recommendations(api, world):
    assert post(api, "shopware/product_written.app-webhook-docs.json")[0] == 200
    (event,) = published(world, EventType.PRODUCT_UPSERTED)
    assert event.properties.product.product_id == "7b04ebe416db4ebc93de4d791325e1d9"
    assert event.properties.product.in_stock is False


# ---- SES event records through the ses_feedback function ----------------------------------------


@pytest.fixture
def feedback(world, monkeypatch):
    """The ses_feedback handler wired to the same in-memory ports as the ingest handler."""
    from ses_feedback import handler

    from ingest import deps

    intake = deps.intake()
    monkeypatch.setattr(handler, "components", lambda: intake)
    return handler


def ses_envelope(record: dict[str, Any]) -> dict[str, Any]:
    event_type = record["eventType"]
    assert event_type in SES_DETAIL_TYPES, f"an SES event type this test does not know: {event_type!r}"
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(record, sort_keys=True))),
        "detail-type": SES_DETAIL_TYPES[event_type],
        "source": "aws.ses",
        "account": "123456789012",
        "time": record["mail"]["timestamp"],
        "region": "eu-central-1",
        "resources": ["arn:aws:ses:eu-central-1:123456789012:configuration-set/emma-messages"],
        "detail": record,
    }


def run_feedback(handler, *envelopes: dict[str, Any] | str) -> tuple[list[str], list[str]]:
    """(message ids, failed message ids) of one SQS batch through the Lambda handler."""
    messages = [
        {"MessageId": str(uuid.uuid4()), "ReceiptHandle": f"rh-{i}", "Body": e if isinstance(e, str) else json.dumps(e)}
        for i, e in enumerate(envelopes)
    ]
    result = handler.lambda_handler(
        sqs_event(messages, "arn:aws:sqs:eu-central-1:123456789012:emma-ses-feedback"), LambdaContext("ses_feedback")
    )
    return [m["MessageId"] for m in messages], [f["itemIdentifier"] for f in result["batchItemFailures"]]


@pytest.mark.parametrize("path", files("ses"))
def test_every_ses_record_is_refused_clearly_without_emmas_tags_and_maps_with_them(feedback, world, path: Path):
    record = json.loads(path.read_bytes())
    event_type = record["eventType"]
    # As published: no emma-shop tag, not a message Emma sent. Acknowledged (never retried), nothing stored.
    _, failed = run_feedback(feedback, ses_envelope(record))
    assert failed == [] and counts(world) == (0, 0)
    outcome = [
        "as published: acknowledged, nothing recorded ("
        + ("not an Emma message" if event_type in SES_RECORDED else "type not recorded")
        + ")"
    ]
    # With the tags Emma's dispatcher sets, the recorded types map; the others still record nothing.
    tagged = copy.deepcopy(record)
    tagged["mail"].setdefault("tags", {}).update(EMMA_TAGS)
    _, failed = run_feedback(feedback, ses_envelope(tagged))
    assert failed == []
    events = world["publisher"].published
    if event_type not in SES_RECORDED:
        assert events == []
        outcome.append("with Emma's tags: nothing recorded (type not recorded)")
    else:
        assert [e.type for e in events] == [SES_RECORDED[event_type]]  # one recipient in every record
        event = events[0]
        assert event.shop == "elektro-emma" and event.customer.email == "recipient@example.com"
        assert event.properties.message_id == record["mail"]["messageId"]
        assert event.properties.template == "cart-reminder" and event.properties.journey == "abandoned-cart"
        outcome.append(f"with Emma's tags: {describe(events)}")
        # an SQS re-delivery of the same record counts once
        _, failed = run_feedback(feedback, ses_envelope(tagged))
        assert failed == [] and len(world["publisher"].published) == len(events)
    OUTCOMES[rel(path)] = outcome


def test_ses_bounce_and_complaint_with_emmas_tags_change_the_profile(feedback, world, api):
    for name in ("bounce", "complaint", "delivery", "open", "click"):
        record = json.loads((REAL / f"ses/{name}.sns-event-publishing-example.json").read_bytes())
        record["mail"]["tags"].update(EMMA_TAGS)
        assert run_feedback(feedback, ses_envelope(record))[1] == []
    recipient = profile(api, "recipient@example.com")
    stats = recipient["channels"]["email"]
    assert (stats["delivered"], stats["opened"], stats["clicked"], stats["bounced"], stats["complained"]) == (
        1,
        1,
        1,
        1,
        1,
    )
    assert recipient["suppressions"]["email"]["reason"] in ("hard_bounce", "complaint")


def test_ses_records_that_can_never_succeed_do_not_loop(feedback, world):
    record = json.loads((REAL / "ses/delivery.sns-event-publishing-example.json").read_bytes())
    untagged = ses_envelope(record)
    broken = copy.deepcopy(untagged)
    broken["detail"]["mail"]["tags"].update(EMMA_TAGS)
    del broken["detail"]["mail"]["messageId"]  # Emma's message, malformed: kept for the DLQ
    ids, failed = run_feedback(feedback, untagged, broken, "not json {")
    assert failed == [ids[1], ids[2]]  # the untagged one is acknowledged: retrying cannot change it
    # a batch of failures only is reported record by record, not as a function error
    ids, failed = run_feedback(feedback, broken, "not json {")
    assert failed == ids
    assert counts(world) == (0, 0)


# ---- the table of what every file became ---------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _write_table():
    yield
    target = os.environ.get("EMMA_REAL_PAYLOADS_TABLE")
    if not target or not OUTCOMES:
        return
    lines = ["| file | became |", "|---|---|"]
    for name in sorted(OUTCOMES):
        became = "<br>".join(o.replace("|", "\\|") for o in OUTCOMES[name])
        lines.append(f"| `{name}` | {became} |")
    Path(target).write_text("\n".join(lines) + "\n", encoding="utf-8")
