"""Shopify webhooks to canonical events: signatures, delivery headers, every topic, consent, coupons."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emma.errors import InvalidPayload, InvalidSignature, UnknownTopic
from emma.events.model import Channel, EventType, SourceKind
from emma.sources import shopify
from emma.sources.signatures import sign_base64

SAMPLES = Path(__file__).parents[3] / "events" / "shopify"
SHOP = "elektro-emma"
SECRET = "shpss_test_secret"
RECEIVED = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


def sample(topic: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{topic.replace('/', '_')}.json").read_text(encoding="utf-8"))


def run(topic: str, payload: dict[str, Any] | None = None, delivery_id: str = "wh-1") -> list[Any]:
    return shopify.map_delivery(SHOP, topic, delivery_id, payload or sample(topic), RECEIVED)


def by_id(events: list[Any]) -> dict[str, Any]:
    return {e.id: e for e in events}


# ---- signature and delivery headers -----------------------------------------------------------


def test_valid_signature_passes() -> None:
    body = (SAMPLES / "orders_create.json").read_bytes()
    shopify.verify(SECRET, body, {"x-shopify-hmac-sha256": sign_base64(SECRET, body)})


def test_signature_of_another_body_is_rejected() -> None:
    body = (SAMPLES / "orders_create.json").read_bytes()
    signature = sign_base64(SECRET, body)
    with pytest.raises(InvalidSignature, match="does not match"):
        shopify.verify(SECRET, body + b" ", {"x-shopify-hmac-sha256": signature})


def test_signature_with_another_secret_is_rejected() -> None:
    body = b'{"id": 1}'
    with pytest.raises(InvalidSignature):
        shopify.verify(SECRET, body, {"x-shopify-hmac-sha256": sign_base64("other", body)})


def test_missing_signature_is_rejected() -> None:
    with pytest.raises(InvalidSignature, match="missing x-shopify-hmac-sha256"):
        shopify.verify(SECRET, b"{}", {})


def test_delivery_comes_from_topic_and_webhook_id_headers() -> None:
    headers = {
        "x-shopify-topic": "orders/create",
        "x-shopify-webhook-id": "b54557e4",
        "x-shopify-event-id": "e1",
    }
    assert shopify.delivery_of(headers, b"{}") == ("orders/create", "b54557e4")


def test_delivery_falls_back_to_the_event_id() -> None:
    headers = {"x-shopify-topic": "orders/create", "x-shopify-event-id": "98880550-7158-44d4"}
    assert shopify.delivery_of(headers, b"{}") == ("orders/create", "98880550-7158-44d4")


@pytest.mark.parametrize(
    ("headers", "missing"),
    [
        ({"x-shopify-webhook-id": "b54557e4"}, "x-shopify-topic"),
        ({"x-shopify-topic": "orders/create"}, "x-shopify-webhook-id"),
        ({"x-shopify-topic": " ", "x-shopify-webhook-id": "b54557e4"}, "x-shopify-topic"),
    ],
)
def test_delivery_without_topic_or_id_is_invalid(headers: dict[str, str], missing: str) -> None:
    with pytest.raises(InvalidPayload, match=missing):
        shopify.delivery_of(headers, b"{}")


# ---- every topic maps its sample --------------------------------------------------------------

EXPECTED_TYPES = {
    "orders/create": [
        EventType.ORDER_PLACED,
        EventType.COUPON_REDEEMED,
        EventType.CONSENT_CHANGED,
    ],
    "orders/paid": [EventType.ORDER_PAID],
    "orders/cancelled": [EventType.ORDER_CANCELLED],
    "orders/fulfilled": [EventType.ORDER_FULFILLED],
    "carts/create": [EventType.CART_UPDATED],
    "carts/update": [EventType.CART_UPDATED],
    "checkouts/create": [EventType.CHECKOUT_STARTED],
    "checkouts/update": [EventType.CHECKOUT_STARTED],
    "customers/create": [EventType.CUSTOMER_REGISTERED],
    "customers/update": [EventType.CUSTOMER_UPDATED, EventType.CONSENT_CHANGED],
    "products/create": [EventType.PRODUCT_UPSERTED],
    "products/update": [EventType.PRODUCT_UPSERTED],
}


# Topics without a sample in events/: tested with inline payloads below.
INLINE_TOPICS = {"customers_email_marketing_consent/update", "customers_marketing_consent/update"}


def test_every_topic_has_an_expectation() -> None:
    assert set(EXPECTED_TYPES) | INLINE_TOPICS == shopify.TOPICS
    assert not shopify.TOPICS & shopify.PRIVACY_TOPICS


@pytest.mark.parametrize("topic", sorted(EXPECTED_TYPES))
def test_sample_maps_to_the_expected_events(topic: str) -> None:
    events = run(topic)
    assert [e.type for e in events] == EXPECTED_TYPES[topic]
    assert events[0].id == "shopify:wh-1"  # the primary event keeps the delivery id, namespaced by source
    assert len({e.id for e in events}) == len(events)
    for event in events:
        assert event.shop == SHOP
        assert event.source.kind is SourceKind.SHOPIFY
        assert event.source.name == topic
        assert event.source.delivery_id == "wh-1"
        assert event.received_at == RECEIVED
        if event.type is EventType.PRODUCT_UPSERTED:
            assert event.customer.is_empty()
        else:
            assert not event.customer.is_empty()


def test_mapping_is_deterministic() -> None:
    assert run("orders/create") == run("orders/create")


def test_unknown_topic_names_the_topic_and_the_supported_ones() -> None:
    with pytest.raises(UnknownTopic) as err:
        run("app/uninstalled", {"id": 1})
    assert "'app/uninstalled'" in err.value.message
    assert "orders/create" in err.value.message
    assert "products/update" in err.value.message


# ---- orders -----------------------------------------------------------------------------------


def test_order_placed_carries_order_customer_and_items() -> None:
    order = run("orders/create")[0]
    assert order.type is EventType.ORDER_PLACED
    assert order.occurred_at == datetime(2024, 11, 18, 9, 15, 32, tzinfo=UTC)
    assert order.customer.customer_id == "7008001"
    assert order.customer.email == "lena.schmidt@example.de"
    assert order.customer.phone == "+4915112345678"
    assert order.customer.anonymous_id == "shopify-cart:4f1a7d2c9e8b3a6f5d0c1b2a3e4f5a6b"
    props = order.properties
    assert props.order_id == "5501001"
    assert props.order_number == "1001"
    assert props.total == Decimal("1118.90")
    assert props.subtotal == Decimal("1118.90")
    assert props.discount_total == Decimal("10.00")
    assert props.currency == "EUR"
    assert props.discount_codes == ("SUMMER10",)
    pixel, charger = props.items
    assert (pixel.product_id, pixel.variant_id, pixel.sku) == ("8100001", "4510001", "GGL-PX9P-128-OBS")
    assert (pixel.name, pixel.brand, pixel.category) == ("Pixel 9 Pro", "Google", None)
    assert (pixel.quantity, pixel.price) == (1, Decimal("1099.00"))
    assert (charger.product_id, charger.brand, charger.price) == ("8100002", "Anker", Decimal("29.90"))
    assert order.context == {"locale": "de-DE", "ip": "192.0.2.41"}


def test_order_placed_redeems_each_discount_code() -> None:
    payload = sample("orders/create")
    payload["discount_codes"].append({"code": "VERSANDFREI", "amount": "4.90", "type": "shipping"})
    coupons = [e for e in run("orders/create", payload) if e.type is EventType.COUPON_REDEEMED]
    assert [c.id for c in coupons] == ["shopify:wh-1:coupon:SUMMER10", "shopify:wh-1:coupon:VERSANDFREI"]
    summer = coupons[0]
    assert summer.properties.code == "SUMMER10"
    assert summer.properties.order_id == "5501001"
    assert summer.properties.amount == Decimal("10.00")
    assert summer.properties.currency == "EUR"
    assert summer.customer.email == "lena.schmidt@example.de"
    assert summer.occurred_at == datetime(2024, 11, 18, 9, 15, 32, tzinfo=UTC)


@pytest.mark.parametrize("topic", ["orders/paid", "orders/fulfilled"])
def test_later_order_topics_do_not_count_coupons_or_consent_again(topic: str) -> None:
    events = run(topic)
    assert len(events) == 1
    assert events[0].properties.discount_codes == ("SUMMER10",)
    assert events[0].context == {}


@pytest.mark.parametrize(
    ("topic", "occurred_at"),
    [
        ("orders/paid", datetime(2024, 11, 18, 9, 15, 36, tzinfo=UTC)),
        ("orders/fulfilled", datetime(2024, 11, 19, 13, 2, 11, tzinfo=UTC)),
        ("orders/cancelled", datetime(2024, 11, 24, 16, 2, 19, tzinfo=UTC)),
    ],
)
def test_order_topics_take_their_own_time(topic: str, occurred_at: datetime) -> None:
    assert run(topic)[0].occurred_at == occurred_at


def test_paid_falls_back_to_processed_at() -> None:
    payload = sample("orders/paid")
    del payload["updated_at"]
    assert run("orders/paid", payload)[0].occurred_at == datetime(2024, 11, 18, 9, 15, 32, tzinfo=UTC)


def test_order_without_any_time_happened_when_received() -> None:
    payload = sample("orders/cancelled")
    payload["cancelled_at"] = None
    assert run("orders/cancelled", payload)[0].occurred_at == RECEIVED


def test_cancelled_order() -> None:
    event = run("orders/cancelled")[0]
    assert event.properties.order_id == "5501002"
    assert event.properties.total == Decimal("29.90")
    assert [i.sku for i in event.properties.items] == ["ANK-USBC-45W"]
    assert event.properties.discount_codes == ()


def test_guest_order_uses_the_contact_email() -> None:
    payload = sample("orders/create")
    del payload["customer"]
    payload["email"] = None
    payload["contact_email"] = "Gast.Kunde@Example.de"
    order, coupon = run("orders/create", payload)
    assert order.customer.customer_id is None
    assert order.customer.email == "gast.kunde@example.de"
    assert coupon.type is EventType.COUPON_REDEEMED


def test_custom_line_items_without_product_stay_out_of_the_items() -> None:
    payload = sample("orders/create")
    payload["line_items"].append({"id": 1, "product_id": None, "title": "Geschenkverpackung", "price": "3.00"})
    assert len(run("orders/create", payload)[0].properties.items) == 2


def test_line_item_falls_back_to_its_name() -> None:
    payload = sample("orders/create")
    payload["line_items"][0]["title"] = None
    assert run("orders/create", payload)[0].properties.items[0].name == "Pixel 9 Pro - 128 GB / Obsidian"


# ---- invalid payloads -------------------------------------------------------------------------


def _with(topic: str, **changes: Any) -> dict[str, Any]:
    payload = sample(topic)
    payload.update(changes)
    return payload


@pytest.mark.parametrize(
    ("topic", "changes", "field"),
    [
        ("orders/create", {"total_price": "abc"}, "total_price"),
        ("orders/create", {"total_price": None}, "total_price"),
        ("orders/create", {"total_price": True}, "total_price"),
        ("orders/create", {"id": None, "admin_graphql_api_id": None}, "id"),
        ("orders/create", {"id": 1.5, "admin_graphql_api_id": None}, "id"),
        ("orders/create", {"id": True, "admin_graphql_api_id": None}, "id"),
        ("orders/create", {"currency": None}, "currency"),
        ("orders/create", {"currency": "euro"}, "currency"),
        ("orders/create", {"created_at": "gestern"}, "created_at"),
        ("orders/create", {"customer": "lena"}, "customer"),
        ("orders/create", {"line_items": {"0": {}}}, "line_items"),
        ("orders/create", {"discount_codes": [{"amount": "10.00"}]}, "discount_codes[0].code"),
        ("orders/create", {"discount_codes": [{"code": "X", "amount": "zehn"}]}, "discount_codes[0].amount"),
        ("orders/paid", {"subtotal_price": "1.2.3"}, "subtotal_price"),
        ("carts/update", {"token": None, "id": None}, "token"),
        ("checkouts/create", {"token": None, "id": None}, "token"),
        ("checkouts/create", {"total_price": "abc"}, "total_price"),
        ("customers/update", {"id": None, "admin_graphql_api_id": None}, "id"),
        ("customers/update", {"default_address": "Berlin"}, "default_address"),
        ("products/update", {"id": None, "admin_graphql_api_id": None}, "id"),
        ("products/update", {"tags": ["a"]}, "tags"),
    ],
)
def test_invalid_payload_names_the_field(topic: str, changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidPayload) as err:
        run(topic, _with(topic, **changes))
    assert field in err.value.message


@pytest.mark.parametrize("email", ["keine-adresse", "lena\n@example.de", "lena@schmidt@example.de", 42])
def test_an_invalid_email_is_kept_with_the_reason_and_the_order_still_maps(email: Any) -> None:
    order = run("orders/create", _with("orders/create", email=email, contact_email=None))[0]
    assert order.type is EventType.ORDER_PLACED and order.customer.customer_id
    assert order.customer.email is None  # the customer's own email is not taken in its place
    (invalid,) = order.customer.invalid
    assert invalid.kind == "email" and invalid.reason and "\n" not in invalid.value


def test_invalid_line_item_values_name_the_item() -> None:
    payload = sample("orders/create")
    payload["line_items"][1]["price"] = "neunundzwanzig"
    with pytest.raises(InvalidPayload, match=r"line_items\[1\]\.price"):
        run("orders/create", payload)
    payload = sample("orders/create")
    payload["line_items"][0]["quantity"] = "viele"
    with pytest.raises(InvalidPayload, match=r"line_items\[0\]\.quantity: 'viele' is not a whole number"):
        run("orders/create", payload)


# ---- consent ----------------------------------------------------------------------------------


def test_order_with_confirmed_subscription_grants_email_consent() -> None:
    events = by_id(run("orders/create"))
    email = events["shopify:wh-1:consent:email"]
    assert email.type is EventType.CONSENT_CHANGED
    assert email.customer.customer_id == "7008001"
    assert email.properties.channel is Channel.EMAIL
    assert email.properties.granted is True
    assert email.properties.proof.source == "shopify:orders/create"
    assert email.properties.proof.at == datetime(2024, 11, 2, 18, 1, 33, tzinfo=UTC)
    assert email.properties.proof.double_opt_in is True
    assert email.properties.proof.wording is None
    assert email.occurred_at == email.properties.proof.at


def test_not_subscribed_without_a_date_is_no_statement() -> None:
    # Repeated on every order, it would otherwise override consent given elsewhere.
    assert "wh-1:consent:sms" not in by_id(run("orders/create"))


def test_customer_unsubscribing_withdraws_email_consent() -> None:
    events = by_id(run("customers/update"))
    email = events["shopify:wh-1:consent:email"]
    assert email.properties.granted is False
    assert email.properties.proof.double_opt_in is False  # a withdrawal is not opted into
    assert email.properties.proof.source == "shopify:customers/update"
    assert email.properties.proof.at == datetime(2025, 1, 10, 20, 7, 44, tzinfo=UTC)
    assert "wh-1:consent:sms" not in events  # undated not_subscribed


def test_pending_double_opt_in_is_not_a_grant() -> None:
    events = run("customers/create")
    assert [e.type for e in events] == [EventType.CUSTOMER_REGISTERED]


@pytest.mark.parametrize("state", ["pending", "redacted", "invalid", None])
def test_states_that_say_nothing_are_skipped(state: str | None) -> None:
    payload = sample("customers/update")
    payload["email_marketing_consent"]["state"] = state
    payload["sms_marketing_consent"] = None
    assert [e.type for e in run("customers/update", payload)] == [EventType.CUSTOMER_UPDATED]


def test_single_opt_in_subscription_is_a_grant_without_double_opt_in() -> None:
    payload = sample("customers/update")
    payload["email_marketing_consent"] = {
        "state": "subscribed",
        "opt_in_level": "single_opt_in",
        "consent_updated_at": None,
    }
    email = by_id(run("customers/update", payload))["shopify:wh-1:consent:email"]
    assert email.properties.granted is True
    assert email.properties.proof.double_opt_in is False
    assert email.properties.proof.at == datetime(2025, 1, 10, 20, 7, 45, tzinfo=UTC)  # the update's time


def test_consent_state_of_the_wrong_type_is_invalid() -> None:
    payload = sample("customers/update")
    payload["email_marketing_consent"]["state"] = ["subscribed"]
    with pytest.raises(InvalidPayload, match=r"email_marketing_consent\.state"):
        run("customers/update", payload)


def _legacy(accepts: Any) -> dict[str, Any]:
    payload = sample("customers/update")
    del payload["email_marketing_consent"]
    payload["sms_marketing_consent"] = None
    payload["accepts_marketing"] = accepts
    payload["accepts_marketing_updated_at"] = "2020-05-04T10:00:00+02:00"
    payload["marketing_opt_in_level"] = "confirmed_opt_in"
    return payload


@pytest.mark.parametrize("accepts", [True, False])
def test_legacy_accepts_marketing_is_email_consent(accepts: bool) -> None:
    _, consent = run("customers/update", _legacy(accepts))
    assert consent.id == "shopify:wh-1:consent:email"
    assert consent.properties.granted is accepts
    assert consent.properties.proof.double_opt_in is accepts
    assert consent.properties.proof.at == datetime(2020, 5, 4, 8, 0, tzinfo=UTC)


def test_legacy_accepts_marketing_must_be_a_boolean() -> None:
    with pytest.raises(InvalidPayload, match="accepts_marketing"):
        run("customers/update", _legacy("yes"))


def test_new_consent_field_wins_over_the_legacy_one() -> None:
    payload = sample("customers/update")
    payload["accepts_marketing"] = True
    assert by_id(run("customers/update", payload))["shopify:wh-1:consent:email"].properties.granted is False


# ---- customers --------------------------------------------------------------------------------


def test_customer_registered_carries_the_profile() -> None:
    event = run("customers/create")[0]
    assert event.occurred_at == datetime(2024, 11, 2, 17, 44, 10, tzinfo=UTC)
    assert event.customer.customer_id == "7008001"
    assert event.customer.email == "lena.schmidt@example.de"
    props = event.properties
    assert (props.first_name, props.last_name) == ("Lena", "Schmidt")
    assert (props.phone, props.locale, props.country, props.city) == ("+4915112345678", "de", "DE", "Köln")
    assert props.traits == {"account_state": "enabled"}


def test_customer_updated_keeps_tags_as_sent() -> None:
    event = run("customers/update")[0]
    assert event.type is EventType.CUSTOMER_UPDATED
    assert event.occurred_at == datetime(2025, 1, 10, 20, 7, 45, tzinfo=UTC)
    assert event.properties.traits == {"account_state": "enabled", "tags": "Stammkundin, Pixel"}


# ---- carts and checkouts ----------------------------------------------------------------------


def test_cart_is_anonymous_under_its_token() -> None:
    event = run("carts/update")[0]
    assert event.customer.model_dump(exclude_none=True) == {
        "anonymous_id": "shopify-cart:4f1a7d2c9e8b3a6f5d0c1b2a3e4f5a6b"
    }
    props = event.properties
    assert props.cart_id == "4f1a7d2c9e8b3a6f5d0c1b2a3e4f5a6b"
    assert props.value == Decimal("1128.90")
    assert props.currency == "EUR"
    assert [(i.product_id, i.variant_id, i.quantity) for i in props.items] == [
        ("8100001", "4510001", 1),
        ("8100002", "4510003", 1),
    ]
    assert event.occurred_at == datetime(2024, 11, 18, 9, 5, 47, tzinfo=UTC)


def test_cart_without_prices_has_no_value() -> None:
    payload = sample("carts/create")
    for line in payload["line_items"]:
        for key in ("line_price", "price_set"):
            del line[key]
    props = run("carts/create", payload)[0].properties
    assert (props.value, props.currency) == (None, None)
    assert props.items[0].price == Decimal("1099.00")


def test_checkout_links_the_cart_to_the_customer() -> None:
    event = run("checkouts/update")[0]
    assert event.customer.customer_id == "7008001"
    assert event.customer.email == "lena.schmidt@example.de"
    assert event.customer.anonymous_id == "shopify-cart:4f1a7d2c9e8b3a6f5d0c1b2a3e4f5a6b"
    props = event.properties
    assert props.cart_id == "b7e2f0c4a1d93e5f7a8b6c4d2e0f1a3b"
    assert (props.value, props.currency) == (Decimal("1118.90"), "EUR")
    assert props.recovery_url is not None and props.recovery_url.endswith("/recover?key=5d3c1a9f7e")
    assert len(props.items) == 2


def test_checkout_before_the_email_is_known_stays_anonymous() -> None:
    payload = sample("checkouts/create")
    payload["email"] = None
    del payload["customer"]
    event = run("checkouts/create", payload)[0]
    assert event.customer.model_dump(exclude_none=True) == {
        "anonymous_id": "shopify-cart:4f1a7d2c9e8b3a6f5d0c1b2a3e4f5a6b"
    }


# ---- catalog ----------------------------------------------------------------------------------


def test_product_created() -> None:
    event = run("products/create")[0]
    assert event.customer.is_empty()
    assert event.occurred_at == datetime(2024, 8, 22, 7, 0, tzinfo=UTC)
    product = event.properties.product
    assert product.product_id == "8100001"
    assert (product.name, product.category, product.brand) == ("Pixel 9 Pro", "smartphones", "Google")
    assert (product.sku, product.price) == ("GGL-PX9P-128-OBS", Decimal("1099.00"))
    assert product.in_stock is True  # 14 of the 128 GB, none of the 256 GB
    assert product.tags == ("5G", "Android", "Google", "Neuheit")
    assert event.properties.variants == ("4510001", "4510002")


def test_product_updated() -> None:
    product = run("products/update")[0].properties.product
    assert (product.product_id, product.price, product.category) == (
        "8100002",
        Decimal("24.90"),
        "accessories",
    )


def _variants(*variants: dict[str, Any]) -> dict[str, Any]:
    payload = sample("products/create")
    payload["variants"] = [{"id": i + 1, "price": "10.00", **v} for i, v in enumerate(variants)]
    return payload


@pytest.mark.parametrize(
    ("variants", "in_stock"),
    [
        (({"inventory_quantity": 0}, {"inventory_quantity": -2}), False),
        (({"inventory_quantity": 0}, {"inventory_quantity": 3}), True),
        (({"inventory_management": None, "inventory_quantity": 0},), True),  # not tracked: always available
        (({},), None),
        ((), None),
    ],
)
def test_product_stock(variants: tuple[dict[str, Any], ...], in_stock: bool | None) -> None:
    assert run("products/create", _variants(*variants))[0].properties.product.in_stock is in_stock


def test_product_inventory_must_be_an_integer() -> None:
    with pytest.raises(InvalidPayload, match=r"variants\[0\]\.inventory_quantity"):
        run("products/create", _variants({"inventory_quantity": "viel"}))


# ---- exact ids ----------------------------------------------------------------------------------
# Shopify's ids exceed 2**53; its documentation examples were scraped through floats, so "id" lost
# digits while admin_graphql_api_id kept them. The gid's number is the id.

ORDER_GID = "gid://shopify/Order/820982911946154508"


def test_order_and_customer_ids_come_from_the_graphql_ids() -> None:
    payload = sample("orders/create")
    payload.update(id=820982911946154500, admin_graphql_api_id=ORDER_GID)
    payload["customer"].update(id=115310627314723950, admin_graphql_api_id="gid://shopify/Customer/115310627314723954")
    events = run("orders/create", payload)
    assert events[0].properties.order_id == "820982911946154508"
    assert {e.customer.customer_id for e in events} == {"115310627314723954"}
    coupon = next(e for e in events if e.type is EventType.COUPON_REDEEMED)
    assert coupon.properties.order_id == "820982911946154508"


@pytest.mark.parametrize(
    "gid",
    [None, "https://www.example.com/", "gid://shopify/LineItem/99", "gid://shopify/Order/", "example string", 123],
)
def test_an_unusable_graphql_id_falls_back_to_the_id(gid: Any) -> None:
    payload = sample("orders/create")
    payload.update(id=5501001, admin_graphql_api_id=gid)
    assert run("orders/create", payload)[0].properties.order_id == "5501001"


def test_ids_sent_as_strings_or_integers_are_the_same_exact_string() -> None:
    payload = sample("orders/create")
    payload.update(id="5501001", admin_graphql_api_id=None)
    payload["line_items"][0].update(product_id="8100001", variant_id=4510001)
    payload["line_items"][1].update(product_id=2**63 + 7, variant_id="9007199254740993")
    order = run("orders/create", payload)[0]
    assert order.properties.order_id == "5501001"
    pixel, charger = order.properties.items
    assert (pixel.product_id, pixel.variant_id) == ("8100001", "4510001")
    assert (charger.product_id, charger.variant_id) == (str(2**63 + 7), "9007199254740993")  # never via float


def test_product_and_variant_ids_come_from_the_graphql_ids() -> None:
    payload = sample("products/create")
    payload.update(id=632910392000000000, admin_graphql_api_id="gid://shopify/Product/632910392000000017")
    payload["variants"][0].update(
        id=808950810000000000, admin_graphql_api_id="gid://shopify/ProductVariant/808950810000000011"
    )
    event = run("products/create", payload)[0]
    assert event.properties.product.product_id == "632910392000000017"
    assert event.properties.variants[0] == "808950810000000011"


def test_a_cart_lines_key_keeps_the_exact_variant_id() -> None:
    payload = sample("carts/update")
    line = payload["line_items"][0]
    line.update(variant_id=704912205188288500, key="704912205188288575:3abdf474dce81d0025dd15b9a02ef6bf")
    assert run("carts/update", payload)[0].properties.items[0].variant_id == "704912205188288575"
    line.update(variant_id=4510001, key="4510002:3abd")  # a key that disagrees with an exact id: not used
    assert run("carts/update", payload)[0].properties.items[0].variant_id == "4510001"


def test_checkout_customer_id_comes_from_the_graphql_id() -> None:
    payload = sample("checkouts/create")
    payload["customer"].update(id=603851970716743400, admin_graphql_api_id="gid://shopify/Customer/603851970716743426")
    assert run("checkouts/create", payload)[0].customer.customer_id == "603851970716743426"


# ---- numbers as strings, strings as numbers -------------------------------------------------------


def test_line_item_prices_and_quantities_in_either_form() -> None:
    payload = sample("orders/create")
    payload["line_items"][0].update(price=600, quantity="2")
    payload["line_items"][1].update(price=0, original_price="29.90", quantity=1.0)
    pixel, charger = run("orders/create", payload)[0].properties.items
    assert (pixel.price, pixel.quantity) == (Decimal("600"), 2)
    assert (charger.price, charger.quantity) == (Decimal("0"), 1)  # a free item costs 0, not its list price


@pytest.mark.parametrize("value", ["2.5", -1, True, "viele"])
def test_a_quantity_that_is_no_whole_number_is_refused(value: Any) -> None:
    payload = sample("orders/create")
    payload["line_items"][0]["quantity"] = value
    with pytest.raises(InvalidPayload, match=r"line_items\[0\]\.quantity"):
        run("orders/create", payload)


def test_overlong_names_are_cut_not_refused() -> None:
    payload = sample("orders/create")
    payload["line_items"][0]["title"] = "Pixel " * 200
    assert len(run("orders/create", payload)[0].properties.items[0].name) == 512


def test_checkout_with_an_empty_list_for_an_address() -> None:
    payload = sample("checkouts/create")
    payload.update(shipping_address=[], billing_address=[], email=None)  # what Shopify sends when there is none
    assert run("checkouts/create", payload)[0].customer.email == "lena.schmidt@example.de"  # the customer's


# ---- test, cancelled and voided orders ------------------------------------------------------------


@pytest.mark.parametrize(("value", "test"), [(True, True), ("true", True), (False, False), (None, False)])
def test_the_test_flag_is_carried(value: Any, test: bool) -> None:
    payload = sample("orders/create")
    payload["test"] = value
    assert run("orders/create", payload)[0].properties.test is test


def test_a_test_order_redeems_no_coupon() -> None:
    payload = sample("orders/create")
    payload["test"] = True
    events = run("orders/create", payload)
    assert [e.type for e in events] == [EventType.ORDER_PLACED, EventType.CONSENT_CHANGED]


@pytest.mark.parametrize(
    "changes",
    [
        {"cancelled_at": "2024-11-18T10:00:00+01:00", "cancel_reason": "customer"},
        {"financial_status": "voided"},
        {"financial_status": "VOIDED", "cancelled_at": None},
    ],
)
def test_an_order_created_cancelled_or_voided_maps_to_a_cancellation(changes: dict[str, Any]) -> None:
    payload = sample("orders/create")
    payload.update(changes)
    events = run("orders/create", payload)
    assert [e.type for e in events] == [EventType.ORDER_CANCELLED, EventType.CONSENT_CHANGED]  # no coupon
    order = events[0]
    assert order.id == "shopify:wh-1" and order.properties.order_id == "5501001"
    cancelled_at = datetime(2024, 11, 18, 9, 0, tzinfo=UTC)
    created_at = datetime(2024, 11, 18, 9, 15, 32, tzinfo=UTC)
    assert order.occurred_at == (cancelled_at if payload.get("cancelled_at") else created_at)
    assert order.context == {"locale": "de-DE", "ip": "192.0.2.41"}


def test_a_late_paid_delivery_of_a_cancelled_order_is_the_cancellation() -> None:
    payload = sample("orders/paid")
    payload["cancelled_at"] = "2024-11-18T10:00:00+01:00"
    (event,) = run("orders/paid", payload)
    assert event.type is EventType.ORDER_CANCELLED and event.occurred_at == datetime(2024, 11, 18, 9, tzinfo=UTC)


def test_a_pending_or_paid_financial_status_does_not_cancel() -> None:
    for status in ("pending", "paid", "authorized", None):
        payload = sample("orders/create")
        payload["financial_status"] = status
        assert run("orders/create", payload)[0].type is EventType.ORDER_PLACED


# ---- refunds ---------------------------------------------------------------------------------------


def shopify_refund(refund_id: int, amount: str, *, quantity: int = 1, status: str = "success") -> dict[str, Any]:
    """A refund as the REST Admin API puts it in an order's ``refunds`` (trimmed)."""
    return {
        "id": refund_id,
        "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
        "created_at": "2024-11-25T10:00:00+01:00",
        "processed_at": "2024-11-25T10:00:05+01:00",
        "note": "Display scratched",
        "restock": True,
        "order_adjustments": [],
        "transactions": [
            {"id": 1, "kind": "refund", "status": status, "amount": amount, "currency": "EUR", "gateway": "x"},
            {"id": 2, "kind": "sale", "status": "success", "amount": "999.00", "currency": "EUR"},
        ],
        "refund_line_items": [
            {
                "id": 3,
                "line_item_id": 13370001,
                "quantity": quantity,
                "subtotal": amount,
                "line_item": {"id": 13370001, "product_id": 8100001, "quantity": 1},
            },
            {"id": 4, "line_item_id": 1, "quantity": 1, "line_item": {"id": 1, "product_id": None, "title": "Fee"}},
        ],
    }


def test_a_partly_refunded_order_carries_each_refund_as_order_refunded() -> None:
    payload = sample("orders/paid")
    payload["financial_status"] = "partially_refunded"
    payload["refunds"] = [shopify_refund(509562969, "100.00"), shopify_refund(509562970, "0.00", status="failure")]
    paid, first, second = run("orders/paid", payload, delivery_id="wh-9")
    assert paid.type is EventType.ORDER_PAID and paid.properties.total == Decimal("1118.90")
    assert first.type is second.type is EventType.ORDER_REFUNDED
    assert first.id == "shopify:wh-9:refund:509562969" and second.id == "shopify:wh-9:refund:509562970"
    props = first.properties
    assert (props.order_id, props.refund_id, props.amount, props.currency) == (
        "5501001",
        "509562969",
        Decimal("100.00"),
        "EUR",
    )
    assert [(i.product_id, i.quantity) for i in props.items] == [("8100001", 1)]  # the fee names no product
    assert first.occurred_at == datetime(2024, 11, 25, 9, 0, 5, tzinfo=UTC)
    assert first.customer == paid.customer
    assert second.properties.amount == 0  # a failed refund transaction gave nothing back; its product came back


def test_a_refund_that_gave_nothing_back_and_returned_nothing_is_no_event() -> None:
    payload = sample("orders/fulfilled")
    refund = shopify_refund(1, "5.00", status="failure")
    refund["refund_line_items"] = []
    payload["refunds"] = [refund]
    assert [e.type for e in run("orders/fulfilled", payload)] == [EventType.ORDER_FULFILLED]


@pytest.mark.parametrize("topic", ["orders/create", "orders/paid"])
def test_an_order_refunded_in_full_is_its_cancellation(topic: str) -> None:
    payload = sample(topic)
    payload["financial_status"] = "refunded"
    payload["refunds"] = [shopify_refund(509562969, "1118.90")]
    events = run(topic, payload)
    assert events[0].type is EventType.ORDER_CANCELLED
    assert EventType.ORDER_REFUNDED not in {e.type for e in events}  # the cancellation covers its refunds
    assert EventType.COUPON_REDEEMED not in {e.type for e in events}


def test_a_refund_without_an_id_refuses_the_delivery_naming_it() -> None:
    payload = sample("orders/paid")
    refund = shopify_refund(1, "5.00")
    del refund["id"], refund["admin_graphql_api_id"]
    payload["refunds"] = [refund]
    with pytest.raises(InvalidPayload, match=r"refunds\[0\]\.id"):
        run("orders/paid", payload)


# ---- compliance topics ----------------------------------------------------------------------------


@pytest.mark.parametrize("topic", sorted(shopify.PRIVACY_TOPICS))
def test_privacy_topics_are_refused_with_422_until_handled(topic: str) -> None:
    payload = {"shop_id": 954889, "shop_domain": "elektro-emma.myshopify.com", "customer": {"id": 191167}}
    with pytest.raises(shopify.PrivacyRequestNotHandled) as err:
        run(topic, payload)
    assert err.value.status == 422 and err.value.code == "privacy_request_not_handled"
    assert topic in err.value.message and "not yet handled" in err.value.message


# ---- consent topics (API 2025-01 and later: customer payloads carry no consent) -----------------


def test_email_consent_update_grants_or_withdraws() -> None:
    payload = {
        "customer_id": 706405506930370084,
        "email_address": "Bob@Biller.com",
        "email_marketing_consent": {
            "state": "subscribed",
            "opt_in_level": "confirmed_opt_in",
            "consent_updated_at": "2025-01-10T08:00:00-05:00",
        },
    }
    (event,) = run("customers_email_marketing_consent/update", payload)
    assert event.type is EventType.CONSENT_CHANGED and event.id == "shopify:wh-1:consent:email"
    assert (event.customer.customer_id, event.customer.email) == ("706405506930370084", "bob@biller.com")
    props = event.properties
    assert (props.channel, props.granted, props.proof.double_opt_in) == (Channel.EMAIL, True, True)
    assert props.proof.at == datetime(2025, 1, 10, 13, 0, tzinfo=UTC)
    assert props.proof.source == "shopify:customers_email_marketing_consent/update"
    payload["email_marketing_consent"]["state"] = "unsubscribed"
    assert run("customers_email_marketing_consent/update", payload)[0].properties.granted is False


@pytest.mark.parametrize("state", [None, "pending", "redacted", "example string"])
def test_a_consent_update_whose_state_says_nothing_records_nothing(state: str | None) -> None:
    email = {"customer_id": 1, "email_marketing_consent": {"state": state, "consent_updated_at": None}}
    assert run("customers_email_marketing_consent/update", email) == []
    sms = {"id": 706405506930370000, "phone": None, "sms_marketing_consent": {"state": state}}
    assert run("customers_marketing_consent/update", sms) == []


def test_sms_consent_update_names_the_phone() -> None:
    payload = {
        "id": 7358220173425,
        "phone": "+4915112345678",
        "sms_marketing_consent": {
            "state": "SUBSCRIBED",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": "2025-02-01T10:00:00Z",
            "consent_collected_from": "SHOPIFY",
        },
    }
    (event,) = run("customers_marketing_consent/update", payload)
    assert (event.customer.customer_id, event.customer.phone) == ("7358220173425", "+4915112345678")
    assert (event.properties.channel, event.properties.granted) == (Channel.SMS, True)
    assert event.id == "shopify:wh-1:consent:sms"


def test_a_consent_update_naming_no_customer_is_refused() -> None:
    payload = {"email_marketing_consent": {"state": "subscribed", "consent_updated_at": "2025-01-10T08:00:00Z"}}
    with pytest.raises(InvalidPayload, match="names no customer"):
        run("customers_email_marketing_consent/update", payload)
