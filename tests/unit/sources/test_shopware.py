"""Shopware 6 app webhooks to canonical events: hex signatures, body-borne delivery, every event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emma.errors import InvalidPayload, InvalidSignature, UnknownTopic
from emma.events.model import Channel, EventType, SourceKind
from emma.sources import shopware
from emma.sources.signatures import sign_hex

SAMPLES = Path(__file__).parents[3] / "events" / "shopware"
SHOP = "elektro-emma"
SECRET = "shopware-app-secret"
RECEIVED = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
LENA = "0192ef3a5b6c4d7e8f9a0b1c2d3e4f50"
PLACED_ID = "01934120a7f34c2b9e8d7c6b5a493827"


def body(event: str) -> bytes:
    return (SAMPLES / f"{event.replace('.', '_')}.json").read_bytes()


def sample(event: str) -> dict[str, Any]:
    return json.loads(body(event))


def run(webhook: dict[str, Any]) -> list[Any]:
    """Map a whole webhook body the way the API does: delivery from the body, then the mapping."""
    topic, delivery_id = shopware.delivery_of({}, json.dumps(webhook).encode())
    return shopware.map_delivery(SHOP, topic, delivery_id, webhook, RECEIVED)


def with_payload(event: str, payload: Any) -> dict[str, Any]:
    webhook = sample(event)
    webhook["data"]["payload"] = payload
    return webhook


# ---- signature and delivery -------------------------------------------------------------------


def test_valid_signature_passes() -> None:
    raw = body("checkout.order.placed")
    shopware.verify(SECRET, raw, {"shopware-shop-signature": sign_hex(SECRET, raw)})


def test_uppercase_hex_signature_passes() -> None:
    raw = body("checkout.order.placed")
    shopware.verify(SECRET, raw, {"shopware-shop-signature": sign_hex(SECRET, raw).upper()})


def test_signature_of_another_body_is_rejected() -> None:
    raw = body("checkout.order.placed")
    with pytest.raises(InvalidSignature, match="does not match"):
        shopware.verify(SECRET, raw.replace(b"1118.9", b"1.9"), {"shopware-shop-signature": sign_hex(SECRET, raw)})


def test_base64_signature_is_rejected() -> None:
    with pytest.raises(InvalidSignature):
        shopware.verify(SECRET, b"{}", {"shopware-shop-signature": "Zm9vYmFy"})


def test_missing_signature_is_rejected() -> None:
    with pytest.raises(InvalidSignature, match="missing shopware-shop-signature"):
        shopware.verify(SECRET, b"{}", {})


def test_delivery_comes_from_the_body() -> None:
    assert shopware.delivery_of({}, body("checkout.order.placed")) == ("checkout.order.placed", PLACED_ID)


@pytest.mark.parametrize(
    ("webhook", "missing"),
    [
        ({"data": {"payload": {}}, "source": {"eventId": "e1"}}, "data.event"),
        ({"data": {"payload": {}, "event": "checkout.order.placed"}, "source": {}}, "source.eventId"),
        ({"data": {"payload": {}, "event": "checkout.order.placed"}}, "source.eventId"),
        ({"data": "checkout.order.placed", "source": {"eventId": "e1"}}, "data"),
    ],
)
def test_delivery_without_event_or_id_is_invalid(webhook: dict[str, Any], missing: str) -> None:
    with pytest.raises(InvalidPayload, match=missing):
        shopware.delivery_of({}, json.dumps(webhook).encode())


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"\xff"])
def test_delivery_of_a_body_that_is_no_json_object_is_invalid(raw: bytes) -> None:
    with pytest.raises(InvalidPayload, match="shopware webhook"):
        shopware.delivery_of({}, raw)


# ---- every event maps its sample --------------------------------------------------------------

EXPECTED_TYPES = {
    "checkout.order.placed": [EventType.ORDER_PLACED, EventType.COUPON_REDEEMED],
    "state_enter.order_transaction.state.paid": [EventType.ORDER_PAID],
    "state_enter.order.state.cancelled": [EventType.ORDER_CANCELLED],
    "state_enter.order_delivery.state.shipped": [EventType.ORDER_FULFILLED],
    "checkout.customer.register": [EventType.CUSTOMER_REGISTERED, EventType.CONSENT_CHANGED],
    "customer.written": [EventType.CUSTOMER_UPDATED, EventType.CUSTOMER_UPDATED],
    "product.written": [EventType.PRODUCT_UPSERTED, EventType.PRODUCT_UPSERTED],
}


def test_every_event_has_an_expectation() -> None:
    assert set(EXPECTED_TYPES) == shopware.TOPICS


@pytest.mark.parametrize("event", sorted(EXPECTED_TYPES))
def test_sample_maps_to_the_expected_events(event: str) -> None:
    webhook = sample(event)
    events = run(webhook)
    assert [e.type for e in events] == EXPECTED_TYPES[event]
    assert events[0].id == f"shopware:{webhook['source']['eventId']}"
    assert len({e.id for e in events}) == len(events)
    for mapped in events:
        assert mapped.shop == SHOP
        assert mapped.source.kind is SourceKind.SHOPWARE
        assert mapped.source.name == event
        assert mapped.source.delivery_id == webhook["source"]["eventId"]
        assert mapped.customer.is_empty() == (mapped.type is EventType.PRODUCT_UPSERTED)


def test_unknown_event_names_the_event_and_the_supported_ones() -> None:
    webhook = sample("customer.written")
    with pytest.raises(UnknownTopic) as err:
        shopware.map_delivery(SHOP, "app.activated", "e1", webhook, RECEIVED)
    assert "'app.activated'" in err.value.message
    assert "checkout.order.placed" in err.value.message and "product.written" in err.value.message


# ---- orders -----------------------------------------------------------------------------------


def test_order_placed_carries_order_customer_and_items() -> None:
    order = run(sample("checkout.order.placed"))[0]
    assert order.occurred_at == datetime(2024, 11, 18, 9, 15, 32, 412000, tzinfo=UTC)
    assert order.customer.model_dump(exclude_none=True) == {
        "customer_id": LENA,
        "email": "lena.schmidt@example.de",
    }
    props = order.properties
    assert (props.order_id, props.order_number) == ("0193412ab8c97e6f5d4c3b2a19087f6e", "10001")
    assert (props.total, props.currency) == (Decimal("1118.90"), "EUR")
    assert props.discount_total == Decimal("10.00")
    assert props.discount_codes == ("SUMMER10",)
    pixel, charger = props.items  # the promotion line is no item
    assert (pixel.product_id, pixel.sku, pixel.name) == (
        "0191d2c3b4a5968778695a4b3c2d1e10",
        "GGL-PX9P-128-OBS",
        "Pixel 9 Pro 128 GB Obsidian",
    )
    assert (pixel.quantity, pixel.price) == (1, Decimal("1099"))
    assert (charger.sku, charger.price) == ("ANK-USBC-45W", Decimal("29.90"))


def test_order_placed_redeems_the_promotion_code() -> None:
    coupon = run(sample("checkout.order.placed"))[1]
    assert coupon.id == f"shopware:{PLACED_ID}:coupon:SUMMER10"
    props = coupon.properties
    assert (props.code, props.order_id) == ("SUMMER10", "0193412ab8c97e6f5d4c3b2a19087f6e")
    assert (props.amount, props.currency) == (Decimal("10.00"), "EUR")
    assert coupon.customer.customer_id == LENA


def test_automatic_promotions_discount_without_a_coupon() -> None:
    webhook = sample("checkout.order.placed")
    promotion = webhook["data"]["payload"]["order"]["lineItems"][2]
    promotion["payload"]["code"] = ""
    events = run(webhook)
    assert [e.type for e in events] == [EventType.ORDER_PLACED]
    assert events[0].properties.discount_total == Decimal("10.00")
    assert events[0].properties.discount_codes == ()


def test_other_line_types_stay_out_of_the_items() -> None:
    webhook = sample("checkout.order.placed")
    webhook["data"]["payload"]["order"]["lineItems"].append(
        {
            "id": "x",
            "type": "custom",
            "referencedId": "gift-wrap",
            "label": "Geschenkverpackung",
            "unitPrice": 3,
        }
    )
    assert len(run(webhook)[0].properties.items) == 2


def test_total_falls_back_to_the_price_object() -> None:
    webhook = sample("checkout.order.placed")
    del webhook["data"]["payload"]["order"]["amountTotal"]
    assert run(webhook)[0].properties.total == Decimal("1118.90")


@pytest.mark.parametrize(
    ("event", "occurred_at"),
    [
        ("state_enter.order_transaction.state.paid", datetime(2024, 11, 18, 9, 16, 4, tzinfo=UTC)),
        ("state_enter.order_delivery.state.shipped", datetime(2024, 11, 19, 13, 2, 11, tzinfo=UTC)),
        ("state_enter.order.state.cancelled", datetime(2024, 11, 24, 16, 2, 19, tzinfo=UTC)),
    ],
)
def test_state_changes_happen_when_the_webhook_was_sent(event: str, occurred_at: datetime) -> None:
    (mapped,) = run(sample(event))
    assert mapped.occurred_at == occurred_at
    assert mapped.customer.customer_id == LENA


def test_cancelled_order() -> None:
    (event,) = run(sample("state_enter.order.state.cancelled"))
    assert (event.properties.order_number, event.properties.total) == ("10002", Decimal("29.90"))
    assert event.properties.discount_total is None


def test_state_change_without_timestamp_happened_when_received() -> None:
    webhook = sample("state_enter.order.state.cancelled")
    del webhook["timestamp"]
    assert run(webhook)[0].occurred_at == RECEIVED


@pytest.mark.parametrize(
    "wrap",
    [
        lambda order: {"order": order},
        lambda order: {"orderTransaction": {"id": "t1", "order": order}},
        lambda order: {"orderDelivery": {"id": "d1", "order": order}},
    ],
)
def test_state_change_finds_the_order_wherever_it_is(wrap: Any) -> None:
    order = sample("state_enter.order_transaction.state.paid")["data"]["payload"]["order"]
    (event,) = run(with_payload("state_enter.order_transaction.state.paid", wrap(order)))
    assert event.properties.order_number == "10001"


@pytest.mark.parametrize("payload", [{}, {"orderTransaction": {"id": "t1"}}, None])
def test_state_change_without_order_is_invalid(payload: Any) -> None:
    with pytest.raises(InvalidPayload, match=r"data\.payload\.order"):
        run(with_payload("state_enter.order_transaction.state.paid", payload))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amountTotal": "abc"}, "amountTotal"),
        ({"amountTotal": None, "price": {}}, "amountTotal"),
        ({"id": None}, "id"),
        ({"currency": None}, "currency.isoCode"),
        ({"currency": "EUR"}, "currency"),
        ({"orderDateTime": "gestern"}, "orderDateTime"),
        ({"orderCustomer": ["max"]}, "orderCustomer"),
        ({"lineItems": {}}, "lineItems"),
    ],
)
def test_invalid_order_names_the_field(changes: dict[str, Any], field: str) -> None:
    webhook = sample("checkout.order.placed")
    webhook["data"]["payload"]["order"].update(changes)
    with pytest.raises(InvalidPayload) as err:
        run(webhook)
    assert field in err.value.message


def test_invalid_line_item_names_the_line() -> None:
    webhook = sample("checkout.order.placed")
    webhook["data"]["payload"]["order"]["lineItems"][1]["unitPrice"] = "billig"
    with pytest.raises(InvalidPayload, match=r"lineItems\[1\]\.unitPrice"):
        run(webhook)


def test_invalid_timestamp_is_named() -> None:
    webhook = sample("state_enter.order.state.cancelled")
    webhook["timestamp"] = "morgen"
    with pytest.raises(InvalidPayload, match="timestamp"):
        run(webhook)


# ---- customers --------------------------------------------------------------------------------


def test_registration_carries_the_profile() -> None:
    event = run(sample("checkout.customer.register"))[0]
    assert event.type is EventType.CUSTOMER_REGISTERED
    assert event.occurred_at == datetime(2024, 11, 2, 17, 44, 10, 517000, tzinfo=UTC)
    assert event.customer.model_dump(exclude_none=True) == {
        "customer_id": LENA,
        "email": "lena.schmidt@example.de",
        "phone": "+4915112345678",
    }
    props = event.properties
    assert (props.first_name, props.last_name, props.country, props.city) == ("Lena", "Schmidt", "DE", "Köln")
    assert props.traits == {"customer_number": "7008001", "guest": False}


def test_registration_with_newsletter_grants_email_consent() -> None:
    consent = run(sample("checkout.customer.register"))[1]
    assert consent.id == "shopware:01929f1d3c5b4a6e8f7d9c0b1a2e3f41:consent:email"
    assert consent.properties.channel is Channel.EMAIL
    assert consent.properties.granted is True
    assert consent.properties.proof.source == "shopware:checkout.customer.register"
    assert consent.properties.proof.at == datetime(2024, 11, 2, 17, 44, 10, 517000, tzinfo=UTC)
    assert consent.properties.proof.double_opt_in is False
    assert consent.customer.customer_id == LENA


@pytest.mark.parametrize("newsletter", [False, None])
def test_registration_without_newsletter_records_no_consent(newsletter: bool | None) -> None:
    webhook = sample("checkout.customer.register")
    webhook["data"]["payload"]["customer"]["newsletter"] = newsletter
    assert [e.type for e in run(webhook)] == [EventType.CUSTOMER_REGISTERED]


def test_newsletter_must_be_a_boolean() -> None:
    webhook = sample("checkout.customer.register")
    webhook["data"]["payload"]["customer"]["newsletter"] = "ja"
    with pytest.raises(InvalidPayload, match=r"customer\.newsletter"):
        run(webhook)


def test_registration_without_customer_id_is_invalid() -> None:
    webhook = sample("checkout.customer.register")
    del webhook["data"]["payload"]["customer"]["id"]
    with pytest.raises(InvalidPayload, match=r"customer\.id"):
        run(webhook)


def test_written_customers_become_one_update_each() -> None:
    webhook = sample("customer.written")
    first, second = run(webhook)
    event_id = webhook["source"]["eventId"]
    assert (first.id, second.id) == (f"shopware:{event_id}", f"shopware:{event_id}:1")
    assert first.customer.model_dump(exclude_none=True) == {"customer_id": LENA}
    assert second.customer.customer_id == "01945289f0e1d2c3b4a5968778695a4b"
    assert first.occurred_at == datetime(2025, 1, 10, 20, 7, 45, tzinfo=UTC)
    assert first.properties.traits == {
        "operation": "update",
        "updated_fields": ["id", "versionId", "lastName", "updatedAt"],
    }


def test_writes_of_other_entities_are_skipped_but_keep_the_indexes() -> None:
    payload = [
        {"entity": "customer_address", "operation": "update", "primaryKey": "a1"},
        {"entity": "customer", "operation": "update", "primaryKey": LENA},
    ]
    (event,) = run(with_payload("customer.written", payload))
    assert event.id.endswith(":1")
    assert event.customer.customer_id == LENA


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([{"entity": "customer", "primaryKey": {"id": LENA}}], "data.payload[0].primaryKey"),
        ([{"entity": "customer", "primaryKey": ""}], "data.payload[0].primaryKey"),
        ({"entity": "customer", "primaryKey": LENA}, "data.payload"),
        (["customer"], "data.payload[0]"),
    ],
)
def test_invalid_writes_name_the_field(payload: Any, field: str) -> None:
    with pytest.raises(InvalidPayload) as err:
        run(with_payload("customer.written", payload))
    assert field in err.value.message


# ---- catalog ----------------------------------------------------------------------------------


def test_written_products_name_the_product_only() -> None:
    webhook = sample("product.written")
    first, second = run(webhook)
    event_id = webhook["source"]["eventId"]
    assert (first.id, second.id) == (f"shopware:{event_id}", f"shopware:{event_id}:1")
    assert first.customer.is_empty()
    assert first.properties.product.product_id == "01905e4d3c2b1a09f8e7d6c5b4a39281"
    assert first.properties.product.name is None
    assert second.properties.product.product_id == "0191d2c3b4a5968778695a4b3c2d1e10"
    assert first.occurred_at == datetime(2024, 11, 20, 7, 31, 12, tzinfo=UTC)


def test_empty_write_list_records_nothing() -> None:
    assert run(with_payload("product.written", [])) == []


def test_a_deleted_product_is_marked_out_of_stock() -> None:
    writes = [
        {"entity": "product", "operation": "delete", "primaryKey": "7b04ebe416db4ebc93de4d791325e1d9"},
        {"entity": "product", "operation": "update", "primaryKey": "0191d2c3b4a5968778695a4b3c2d1e10"},
    ]
    deleted, updated = run(with_payload("product.written", writes))
    assert deleted.properties.product.in_stock is False  # never recommended again
    assert updated.properties.product.in_stock is None  # a write names the product, not its stock


# ---- what is not an app webhook, PHP's empty arrays, numbers as strings -------------------------


def test_a_body_that_is_no_app_webhook_is_refused_naming_what_it_has() -> None:
    pay_request = {
        "source": {"url": "http://localhost:8000", "shopId": "hRCw2xo1EDZnLco4"},
        "order": {},
        "orderTransaction": {},
    }
    with pytest.raises(InvalidPayload) as err:
        shopware.delivery_of({}, json.dumps(pay_request).encode())
    assert "data.event: required field is missing" in err.value.message
    assert "not an app webhook" in err.value.message and "orderTransaction" in err.value.message


def test_php_empty_arrays_and_quantities_as_strings() -> None:
    webhook = sample("checkout.order.placed")
    order = webhook["data"]["payload"]["order"]
    order["extensions"] = []
    order["lineItems"][0]["payload"] = []  # PHP's empty array: no product number
    for line in order["lineItems"]:
        line["quantity"] = str(line["quantity"])
    placed = run(webhook)[0]
    assert placed.type is EventType.ORDER_PLACED
    assert placed.properties.items[0].sku is None
    assert all(isinstance(item.quantity, int) for item in placed.properties.items)
