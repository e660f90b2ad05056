"""WooCommerce webhooks to canonical events: signatures, pings, order statuses, coupons, consent meta."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emma.errors import InvalidPayload, InvalidSignature, UnknownTopic
from emma.events.model import Channel, EventType, SourceKind
from emma.sources import woocommerce
from emma.sources.signatures import sign_base64

SAMPLES = Path(__file__).parents[3] / "events" / "woocommerce"
SHOP = "elektro-emma"
SECRET = "wc-webhook-secret"
RECEIVED = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def run(topic: str, payload: dict[str, Any], delivery_id: str = "d-101") -> list[Any]:
    return woocommerce.map_delivery(SHOP, topic, delivery_id, payload, RECEIVED)


def by_id(events: list[Any]) -> dict[str, Any]:
    return {e.id: e for e in events}


# ---- signature, ping and delivery headers -----------------------------------------------------


def test_valid_signature_passes() -> None:
    body = (SAMPLES / "order_created.json").read_bytes()
    woocommerce.verify(SECRET, body, {"x-wc-webhook-signature": sign_base64(SECRET, body)})


def test_signature_of_another_body_is_rejected() -> None:
    body = (SAMPLES / "order_created.json").read_bytes()
    with pytest.raises(InvalidSignature, match="does not match"):
        woocommerce.verify(
            SECRET, body.replace(b"1118.90", b"1.00"), {"x-wc-webhook-signature": sign_base64(SECRET, body)}
        )


def test_missing_signature_is_rejected() -> None:
    with pytest.raises(InvalidSignature, match="missing x-wc-webhook-signature"):
        woocommerce.verify(SECRET, b"{}", {"x-wc-webhook-topic": "order.created"})


def test_ping_is_signed_like_any_delivery() -> None:
    body = b"webhook_id=17"
    woocommerce.verify(SECRET, body, {"x-wc-webhook-signature": sign_base64(SECRET, body)})
    assert woocommerce.is_ping(body)


@pytest.mark.parametrize(
    "body",
    [
        (SAMPLES / "order_created.json").read_bytes(),
        b"",
        b"webhook_id=",
        b"webhook_id=abc",
        b"webhook_id=17&topic=order.created",
        b"id=17",
        b"\xff\xfe",
    ],
)
def test_other_bodies_are_not_pings(body: bytes) -> None:
    assert not woocommerce.is_ping(body)


def test_delivery_comes_from_the_headers() -> None:
    headers = {
        "x-wc-webhook-topic": "order.created",
        "x-wc-webhook-delivery-id": "4711",
        "x-wc-webhook-id": "17",
    }
    topic, delivery = woocommerce.delivery_of(headers, b"{}")
    assert topic == "order.created" and delivery.startswith("4711:")


def test_two_orders_in_the_same_second_are_two_deliveries() -> None:
    # WooCommerce's delivery id is a hash of the webhook id and the current second.
    headers = {"x-wc-webhook-topic": "order.created", "x-wc-webhook-delivery-id": "same-second"}
    first = woocommerce.delivery_of(headers, b'{"id": 1}')
    assert first != woocommerce.delivery_of(headers, b'{"id": 2}')
    assert first == woocommerce.delivery_of(headers, b'{"id": 1}')  # a retry stays a duplicate


@pytest.mark.parametrize(
    ("headers", "missing"),
    [
        ({"x-wc-webhook-delivery-id": "4711"}, "x-wc-webhook-topic"),
        ({"x-wc-webhook-topic": "order.created"}, "x-wc-webhook-delivery-id"),
        ({"x-wc-webhook-topic": "order.created", "x-wc-webhook-delivery-id": ""}, "x-wc-webhook-delivery-id"),
    ],
)
def test_delivery_without_topic_or_id_is_invalid(headers: dict[str, str], missing: str) -> None:
    with pytest.raises(InvalidPayload, match=missing):
        woocommerce.delivery_of(headers, b"{}")


# ---- every topic maps its sample --------------------------------------------------------------

SAMPLE_TYPES = {
    ("order.created", "order_created"): [
        EventType.ORDER_PLACED,
        EventType.COUPON_REDEEMED,
        EventType.CONSENT_CHANGED,
    ],
    ("order.updated", "order_updated"): [EventType.ORDER_PAID],
    ("order.updated", "order_updated_completed"): [EventType.ORDER_FULFILLED],
    ("order.deleted", "order_deleted"): [],
    ("customer.created", "customer_created"): [EventType.CUSTOMER_REGISTERED, EventType.CONSENT_CHANGED],
    ("customer.updated", "customer_updated"): [EventType.CUSTOMER_UPDATED, EventType.CONSENT_CHANGED],
    ("product.created", "product_created"): [EventType.PRODUCT_UPSERTED],
    ("product.updated", "product_updated"): [EventType.PRODUCT_UPSERTED],
}


def test_every_topic_has_a_sample() -> None:
    assert {topic for topic, _ in SAMPLE_TYPES} == woocommerce.TOPICS


@pytest.mark.parametrize(("topic", "name"), sorted(SAMPLE_TYPES))
def test_sample_maps_to_the_expected_events(topic: str, name: str) -> None:
    events = run(topic, sample(name))
    assert [e.type for e in events] == SAMPLE_TYPES[(topic, name)]
    assert len({e.id for e in events}) == len(events)
    for event in events:
        assert event.shop == SHOP
        assert event.source.kind is SourceKind.WOOCOMMERCE
        assert (event.source.name, event.source.delivery_id) == (topic, "d-101")
        assert event.customer.is_empty() == (event.type is EventType.PRODUCT_UPSERTED)
    if events:
        assert events[0].id == "woocommerce:d-101"


def test_unknown_topic_names_the_topic_and_the_supported_ones() -> None:
    with pytest.raises(UnknownTopic) as err:
        run("coupon.created", {"id": 5})
    assert "'coupon.created'" in err.value.message
    assert "order.created" in err.value.message and "product.updated" in err.value.message


# ---- orders -----------------------------------------------------------------------------------


def test_order_placed_carries_order_customer_and_items() -> None:
    order = run("order.created", sample("order_created"))[0]
    assert order.occurred_at == datetime(2024, 11, 18, 9, 15, 32, tzinfo=UTC)  # *_gmt is UTC
    assert order.customer.model_dump(exclude_none=True) == {
        "customer_id": "7008001",
        "email": "lena.schmidt@example.de",
        "phone": "+4915112345678",  # E.164 (the payload spells it "+49 151 12345678")
    }
    props = order.properties
    assert (props.order_id, props.order_number) == ("1001", "1001")
    assert (props.total, props.currency, props.discount_total) == (Decimal("1118.90"), "EUR", Decimal("8.40"))
    assert props.subtotal is None
    assert props.discount_codes == ("summer10",)
    pixel, charger = props.items
    assert (pixel.product_id, pixel.variant_id, pixel.sku) == ("4211", "4212", "GGL-PX9P-128-OBS")
    assert (pixel.name, pixel.quantity) == ("Pixel 9 Pro - 128 GB, Obsidian", 1)
    # the shelf price: before the coupon and with VAT, not WooCommerce's net `price` (915.35)
    assert pixel.price == Decimal("1099.00")
    assert (charger.product_id, charger.variant_id, charger.price) == ("4230", None, Decimal("29.90"))
    assert order.context["ip"] == "192.0.2.41"
    assert order.context["user_agent"].startswith("Mozilla/5.0")


def test_unit_price_of_several_units() -> None:
    payload = sample("order_created")
    line = payload["line_items"][1]
    line.update(quantity=3, subtotal="75.38", subtotal_tax="14.32")
    assert run("order.created", payload)[0].properties.items[1].price == Decimal("29.90")


def test_unit_price_of_a_shop_with_net_prices() -> None:
    payload = sample("order_created")
    payload["prices_include_tax"] = False
    assert run("order.created", payload)[0].properties.items[0].price == Decimal("923.53")


def test_unit_price_falls_back_to_woocommerce_price() -> None:
    payload = sample("order_created")
    del payload["line_items"][0]["subtotal"]
    assert run("order.created", payload)[0].properties.items[0].price == Decimal("915.35")


def test_order_placed_redeems_each_coupon_line() -> None:
    payload = sample("order_created")
    payload["coupon_lines"].append({"id": 316, "code": "treue5", "discount": "4.20", "discount_tax": "0.80"})
    coupons = [e for e in run("order.created", payload) if e.type is EventType.COUPON_REDEEMED]
    assert [c.id for c in coupons] == ["woocommerce:d-101:coupon:summer10", "woocommerce:d-101:coupon:treue5"]
    first = coupons[0].properties
    assert (first.code, first.order_id, first.amount, first.currency) == (
        "summer10",
        "1001",
        Decimal("8.40"),
        "EUR",
    )
    assert coupons[0].customer.customer_id == "7008001"


def test_guest_order_has_no_customer_id() -> None:
    payload = sample("order_created")
    payload["customer_id"] = 0
    order = run("order.created", payload)[0]
    assert order.customer.customer_id is None
    assert order.customer.email == "lena.schmidt@example.de"


def test_lines_of_deleted_products_stay_out_of_the_items() -> None:
    payload = sample("order_created")
    payload["line_items"][1]["product_id"] = 0
    assert [i.product_id for i in run("order.created", payload)[0].properties.items] == ["4211"]


@pytest.mark.parametrize(
    ("status", "type_", "occurred_at"),
    [
        ("processing", EventType.ORDER_PAID, datetime(2024, 11, 18, 9, 16, 4, tzinfo=UTC)),
        ("completed", EventType.ORDER_FULFILLED, datetime(2024, 11, 19, 13, 2, 11, tzinfo=UTC)),
        ("cancelled", EventType.ORDER_CANCELLED, datetime(2024, 11, 19, 13, 2, 11, tzinfo=UTC)),
        ("refunded", EventType.ORDER_CANCELLED, datetime(2024, 11, 19, 13, 2, 11, tzinfo=UTC)),
    ],
)
def test_order_updated_maps_the_status(status: str, type_: EventType, occurred_at: datetime) -> None:
    payload = sample("order_updated_completed")
    payload["status"] = status
    if status == "processing":
        payload["date_completed_gmt"] = None
        payload["date_paid_gmt"] = "2024-11-18T09:16:04"
    (event,) = run("order.updated", payload)
    assert event.type is type_
    assert event.occurred_at == occurred_at
    assert event.id == "woocommerce:d-101"
    assert event.context == {}
    assert event.properties.discount_codes == ("summer10",)


def test_status_time_falls_back_to_the_modification_time() -> None:
    payload = sample("order_updated")
    payload["date_paid_gmt"] = None
    assert run("order.updated", payload)[0].occurred_at == datetime(2024, 11, 18, 9, 16, 5, tzinfo=UTC)


@pytest.mark.parametrize("status", ["pending", "on-hold", "checkout-draft"])
def test_order_updated_to_an_intermediate_status_records_nothing(status: str) -> None:
    payload = sample("order_updated")
    payload["status"] = status
    assert run("order.updated", payload) == []


def test_a_failed_payment_cancels_the_order_placed_earlier() -> None:
    payload = sample("order_updated")
    payload["status"] = "failed"
    assert [e.type for e in run("order.updated", payload)] == [EventType.ORDER_CANCELLED]


def test_order_updated_without_status_is_invalid() -> None:
    payload = sample("order_updated")
    del payload["status"]
    with pytest.raises(InvalidPayload, match="status"):
        run("order.updated", payload)


def test_deleted_order_with_only_its_id_records_nothing() -> None:
    assert run("order.deleted", {"id": 1002}) == []


def test_deleted_order_with_a_full_payload_is_cancelled() -> None:
    (event,) = run("order.deleted", sample("order_updated"))
    assert event.type is EventType.ORDER_CANCELLED
    assert event.occurred_at == datetime(2024, 11, 18, 9, 16, 5, tzinfo=UTC)


def test_deleted_order_without_id_is_invalid() -> None:
    with pytest.raises(InvalidPayload, match="id"):
        run("order.deleted", {})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"total": "abc"}, "total"),
        ({"total": None}, "total"),
        ({"id": None}, "id"),
        ({"currency": ""}, "currency"),
        ({"date_created_gmt": "18.11.2024"}, "date_created_gmt"),
        ({"billing": "lena"}, "billing"),
        ({"line_items": "none"}, "line_items"),
        ({"coupon_lines": [{"discount": "1"}]}, "coupon_lines[0].code"),
        ({"coupon_lines": [{"code": "x", "discount": "viel"}]}, "coupon_lines[0].discount"),
        ({"discount_total": [1]}, "discount_total"),
        ({"meta_data": {"_wc_newsletter_optin": "yes"}}, "meta_data"),
    ],
)
def test_invalid_order_names_the_field(changes: dict[str, Any], field: str) -> None:
    payload = sample("order_created")
    payload.update(changes)
    with pytest.raises(InvalidPayload) as err:
        run("order.created", payload)
    assert field in err.value.message


def test_invalid_line_item_names_the_item() -> None:
    payload = sample("order_created")
    payload["line_items"][1]["subtotal"] = "x"
    with pytest.raises(InvalidPayload, match=r"line_items\[1\]\.subtotal"):
        run("order.created", payload)


# ---- consent ----------------------------------------------------------------------------------


def test_checkout_opt_in_grants_email_consent() -> None:
    consent = by_id(run("order.created", sample("order_created")))["woocommerce:d-101:consent:email"]
    assert consent.properties.channel is Channel.EMAIL
    assert consent.properties.granted is True
    assert consent.properties.proof.source == "woocommerce:order.created"
    assert consent.properties.proof.at == datetime(2024, 11, 18, 9, 15, 32, tzinfo=UTC)
    assert consent.properties.proof.double_opt_in is False
    assert consent.customer.email == "lena.schmidt@example.de"


def test_registration_opt_in_grants_email_consent() -> None:
    consent = by_id(run("customer.created", sample("customer_created")))["woocommerce:d-101:consent:email"]
    assert consent.properties.granted is True
    assert consent.properties.proof.source == "woocommerce:customer.created"
    assert consent.occurred_at == datetime(2024, 11, 2, 17, 44, 10, tzinfo=UTC)


def test_emma_consent_key_wins_and_withdraws() -> None:
    consent = by_id(run("customer.updated", sample("customer_updated")))["woocommerce:d-101:consent:email"]
    assert consent.properties.granted is False
    assert consent.properties.proof.at == datetime(2025, 1, 10, 20, 7, 45, tzinfo=UTC)


def _with_meta(*entries: tuple[str, Any]) -> dict[str, Any]:
    payload = sample("customer_updated")
    payload["meta_data"] = [{"id": i, "key": k, "value": v} for i, (k, v) in enumerate(entries)]
    return payload


@pytest.mark.parametrize(
    ("key", "value", "granted"),
    [
        ("_emma_email_consent", "yes", True),
        ("_emma_email_consent", True, True),
        ("mailpoet_subscribed", "1", True),
        ("mailpoet_subscribed", 1, True),
        ("_wc_newsletter_optin", "YES", True),
        ("_emma_email_consent", "no", False),
        ("mailpoet_subscribed", "0", False),
        ("_wc_newsletter_optin", False, False),
    ],
)
def test_consent_meta_values(key: str, value: Any, granted: bool) -> None:
    consent = by_id(run("customer.updated", _with_meta((key, value))))["woocommerce:d-101:consent:email"]
    assert consent.properties.granted is granted


@pytest.mark.parametrize(
    "entries",
    [
        (),
        (("billing_salutation", "Frau"),),
        (("_wc_newsletter_optin", ""),),
        (("mailpoet_subscribed", "pending"),),
    ],
)
def test_meta_without_a_clear_statement_records_no_consent(entries: tuple[tuple[str, Any], ...]) -> None:
    assert [e.type for e in run("customer.updated", _with_meta(*entries))] == [EventType.CUSTOMER_UPDATED]


# ---- customers --------------------------------------------------------------------------------


def test_customer_registered_carries_the_profile() -> None:
    event = run("customer.created", sample("customer_created"))[0]
    assert event.type is EventType.CUSTOMER_REGISTERED
    assert event.occurred_at == datetime(2024, 11, 2, 17, 44, 10, tzinfo=UTC)
    assert event.customer.customer_id == "7008001"
    assert event.customer.email == "lena.schmidt@example.de"
    props = event.properties
    assert (props.first_name, props.last_name, props.phone) == ("Lena", "Schmidt", "+49 151 12345678")
    assert (props.country, props.city) == ("DE", "Köln")
    assert props.traits == {"is_paying_customer": False, "username": "lena.schmidt"}


def test_customer_updated_happens_at_its_modification_time() -> None:
    event = run("customer.updated", sample("customer_updated"))[0]
    assert event.type is EventType.CUSTOMER_UPDATED
    assert event.occurred_at == datetime(2025, 1, 10, 20, 7, 45, tzinfo=UTC)
    assert event.properties.traits["is_paying_customer"] is True


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": None}, "id"),
        ({"date_modified_gmt": "bald"}, "date_modified_gmt"),
    ],
)
def test_invalid_customer_names_the_field(changes: dict[str, Any], field: str) -> None:
    payload = sample("customer_updated")
    payload.update(changes)
    with pytest.raises(InvalidPayload, match=field):
        run("customer.updated", payload)


def test_an_invalid_customer_email_is_kept_with_the_reason() -> None:
    payload = sample("customer_updated")
    payload["email"] = "lena"
    event = run("customer.updated", payload)[0]
    assert event.customer.email is None and event.customer.customer_id
    assert [(i.kind, i.value) for i in event.customer.invalid] == [("email", "lena")]


# ---- catalog ----------------------------------------------------------------------------------


def test_product_created() -> None:
    event = run("product.created", sample("product_created"))[0]
    assert event.customer.is_empty()
    assert event.occurred_at == datetime(2024, 8, 22, 7, 0, tzinfo=UTC)
    product = event.properties.product
    assert (product.product_id, product.sku, product.name) == ("4211", "GGL-PX9P", "Pixel 9 Pro")
    assert (product.category, product.brand, product.price) == ("smartphones", "Google", Decimal("1099.00"))
    assert product.url == "https://elektro-emma.example.de/produkt/pixel-9-pro/"
    assert product.in_stock is True
    assert product.tags == ("5G", "Android")
    assert event.properties.variants == ("4212", "4213")


def test_product_updated_reads_the_brand_attribute() -> None:
    product = run("product.updated", sample("product_updated"))[0].properties.product
    assert (product.product_id, product.category, product.brand) == ("4230", "accessories", "Anker")
    assert (product.price, product.in_stock) == (Decimal("24.90"), False)


@pytest.mark.parametrize(
    "attribute",
    [
        {"id": 0, "name": "brand", "options": ["Anker"]},
        {"id": 9, "name": "Hersteller", "slug": "pa_brand", "options": ["Anker"]},
        {"id": 9, "name": "Marke", "options": ["Anker"]},
    ],
)
def test_brand_attribute_names(attribute: dict[str, Any]) -> None:
    payload = sample("product_updated")
    payload["attributes"] = [{"id": 1, "name": "Farbe", "options": ["Schwarz"]}, attribute]
    assert run("product.updated", payload)[0].properties.product.brand == "Anker"


def test_product_without_brand() -> None:
    payload = sample("product_updated")
    payload["attributes"] = []
    assert run("product.updated", payload)[0].properties.product.brand is None


@pytest.mark.parametrize(
    ("stock_status", "in_stock"),
    [("instock", True), ("outofstock", False), ("onbackorder", False), (None, None)],
)
def test_product_stock_status(stock_status: str | None, in_stock: bool | None) -> None:
    payload = sample("product_updated")
    payload["stock_status"] = stock_status
    assert run("product.updated", payload)[0].properties.product.in_stock is in_stock


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": None}, "id"),
        ({"price": "teuer"}, "price"),
        ({"categories": "smartphones"}, "categories"),
        ({"variations": 4212}, "variations"),
        ({"attributes": [{"name": "Marke", "options": "Anker"}]}, "attributes[0].options"),
    ],
)
def test_invalid_product_names_the_field(changes: dict[str, Any], field: str) -> None:
    payload = sample("product_updated")
    payload.update(changes)
    with pytest.raises(InvalidPayload) as err:
        run("product.updated", payload)
    assert field in err.value.message


# ---- orders created in a final state, PHP's empty arrays, numbers as strings ------------------


@pytest.mark.parametrize("status", ["cancelled", "refunded", "failed"])
def test_an_order_created_cancelled_is_recorded_as_the_cancellation_it_is(status: str) -> None:
    payload = sample("order_created")
    payload["status"] = status
    events = run("order.created", payload)
    assert [e.type for e in events] == [EventType.ORDER_CANCELLED, EventType.CONSENT_CHANGED]  # no coupon
    assert events[0].id == "woocommerce:d-101" and events[0].properties.order_id == "1001"


# ---- refunds ---------------------------------------------------------------------------------------


def test_a_partial_refund_listed_on_the_order_is_order_refunded() -> None:
    payload = sample("order_updated_completed")
    payload["refunds"] = [
        {"id": 726, "reason": "Kratzer", "total": "-49.90"},
        {"id": 727, "reason": "", "total": "0.00"},
    ]
    fulfilled, refund = run("order.updated", payload, delivery_id="d-7")
    assert fulfilled.type is EventType.ORDER_FULFILLED
    assert refund.type is EventType.ORDER_REFUNDED and refund.id == "woocommerce:d-7:refund:726"
    props = refund.properties
    assert (props.order_id, props.refund_id, props.amount, props.currency, props.items) == (
        "1001",
        "726",
        Decimal("49.90"),
        "EUR",
        (),
    )
    assert refund.customer == fulfilled.customer


@pytest.mark.parametrize("status", ["refunded", "cancelled"])
def test_a_refunded_or_cancelled_orders_refunds_are_covered_by_its_cancellation(status: str) -> None:
    payload = sample("order_updated_completed")
    payload.update(status=status, refunds=[{"id": 726, "reason": "", "total": "-1.00"}])
    assert [e.type for e in run("order.updated", payload)] == [EventType.ORDER_CANCELLED]
    created = sample("order_created")
    created.update(status=status, refunds=[{"id": 726, "reason": "", "total": "-1.00"}])
    assert EventType.ORDER_REFUNDED not in {e.type for e in run("order.created", created)}


@pytest.mark.parametrize("status", ["checkout-draft", "auto-draft"])
def test_a_checkout_draft_records_nothing(status: str) -> None:
    payload = sample("order_created")
    payload["status"] = status
    assert run("order.created", payload) == []


def test_php_empty_arrays_stand_for_empty_objects() -> None:
    payload = sample("order_created")
    payload.update(shipping=[], meta_data=[])
    assert run("order.created", payload)[0].type is EventType.ORDER_PLACED


def test_ids_and_quantities_sent_as_strings() -> None:
    payload = sample("order_created")
    line = payload["line_items"][0]
    line.update(product_id=str(line["product_id"]), quantity="2", subtotal="2198.00", subtotal_tax="0.00")
    payload["customer_id"] = "7008001"
    order = run("order.created", payload)[0]
    assert order.customer.customer_id == "7008001"
    first = order.properties.items[0]
    assert (first.product_id, first.quantity, first.price) == (str(line["product_id"]), 2, Decimal("1099.00"))
