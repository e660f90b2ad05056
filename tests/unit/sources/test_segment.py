"""Segment-spec tracker calls to canonical events: samples, every call type, every named track event."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emma.errors import InvalidPayload, PayloadTooLarge
from emma.events.model import Channel, EventType, SourceKind
from emma.sources.segment import (
    CALL_TYPES,
    MAX_BATCH_ITEMS,
    MappedBatch,
    Rejection,
    map_batch,
    map_call,
    write_key_from_body,
)

SAMPLES = Path(__file__).parents[3] / "events" / "tracker"
SHOP = "elektro-emma"
RECEIVED = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def call(call_type: str, message: dict[str, Any], **kw: Any) -> list[Any]:
    return map_call(SHOP, call_type, message, RECEIVED, **kw)


def one(call_type: str, message: dict[str, Any], **kw: Any) -> Any:
    events = call(call_type, message, **kw)
    assert len(events) == 1
    return events[0]


def track(event: str, properties: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    message = {"messageId": f"m-{event}", "anonymousId": "anon-1", "event": event, **fields}
    if properties is not None:
        message["properties"] = properties
    return message


# ---- the sample payloads ---------------------------------------------------------------------


def test_every_sample_maps():
    for path in sorted(SAMPLES.glob("*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        if "batch" in body:
            assert map_batch(SHOP, body, RECEIVED).events, path.name
        else:
            assert call(body["type"], body), path.name


def test_identify_lena_identifies_her_and_records_email_consent_with_proof():
    identified, consent = call("identify", sample("identify_lena.json"))

    assert identified.type is EventType.CUSTOMER_IDENTIFIED
    assert identified.id == "tracker:demo-lena-identify"
    assert identified.source.kind is SourceKind.TRACKER
    assert identified.source.name == "identify"
    assert identified.customer.customer_id == "7008001"
    assert identified.customer.anonymous_id == "anon-3f2a"
    assert identified.customer.email == "lena.schmidt@example.de"
    props = identified.properties
    assert (props.first_name, props.last_name, props.phone) == ("Lena", "Schmidt", "+49 151 23456789")
    assert (props.locale, props.timezone, props.country, props.city) == (
        "de-DE",
        "Europe/Berlin",
        "DE",
        "Berlin",
    )
    assert set(props.traits) == {"address", "customerGroup", "createdAt"}

    assert consent.type is EventType.CONSENT_CHANGED
    assert consent.id == "tracker:demo-lena-identify:consent:email"
    assert consent.customer == identified.customer
    assert consent.properties.channel is Channel.EMAIL
    assert consent.properties.granted is True
    proof = consent.properties.proof
    assert proof.source == "tracker:identify"
    assert proof.at == identified.occurred_at
    assert proof.wording == "Ja, ich möchte den Newsletter von Elektro Emma erhalten."
    assert proof.double_opt_in is True
    assert proof.ip == "203.0.113.24"


def test_page_home_keeps_page_properties_and_a_small_flat_context():
    event = one("page", sample("page_home.json"))

    assert event.type is EventType.PAGE_VIEWED
    assert event.source.name == "page"
    assert event.properties.url == "https://www.elektro-emma.de/"
    assert event.properties.path == "/"
    assert event.properties.referrer == "https://www.google.de/"
    assert event.properties.name == "Startseite"
    assert event.context == {
        "ip": "203.0.113.24",
        "user_agent": sample("page_home.json")["context"]["userAgent"],
        "locale": "de-DE",
        "timezone": "Europe/Berlin",
        "page_url": "https://www.elektro-emma.de/",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "pixel-9-pro-herbst",
        "utm_term": "pixel 9 pro kaufen",
        "library": "analytics.js npm:next-1.72.0",
    }


def test_product_viewed_before_login_carries_only_the_anonymous_id():
    event = one("track", sample("track_product_viewed.json"))

    assert event.type is EventType.PRODUCT_VIEWED
    assert event.source.name == "Product Viewed"
    assert event.customer.anonymous_id == "anon-3f2a"
    assert event.customer.customer_id is None
    assert event.customer.email is None
    product = event.properties.product
    assert product.product_id == "1042"
    assert product.name == "Google Pixel 9 Pro 128 GB Obsidian"
    assert (product.category, product.brand) == ("smartphones", "Google")
    assert (product.price, product.currency) == (Decimal("999.00"), "EUR")
    assert product.url.endswith("/smartphones/google-pixel-9-pro-128-gb-obsidian")


def test_products_searched_sample():
    event = one("track", sample("track_products_searched.json"))
    assert event.type is EventType.SEARCH_PERFORMED
    assert event.properties.query == "pixel 9 pro"


def test_product_added_sample_carries_the_added_product():
    event = one("track", sample("track_product_added.json"))

    assert event.type is EventType.CART_UPDATED
    assert event.properties.cart_id == "cart-3f2a-01"
    (item,) = event.properties.items
    assert (item.product_id, item.name, item.quantity) == ("2107", "USB-C Schnellladegerät 45 W", 1)
    assert item.price == Decimal("29.99")
    assert event.properties.currency == "EUR"


def test_tutorial_watched_sample():
    event = one("track", sample("track_tutorial_watched.json"))

    assert event.type is EventType.TUTORIAL_WATCHED
    assert event.properties.topic == "camera"
    assert event.properties.tutorial_id == "pixel-9-pro-nachtsicht"
    assert event.properties.product_id == "1042"
    assert event.properties.completion == 0.85


def test_order_completed_sample():
    event = one("track", sample("track_order_completed.json"))

    assert event.type is EventType.ORDER_PLACED
    assert event.customer.customer_id == "7008001"
    assert event.customer.email == "lena.schmidt@example.de"
    props = event.properties
    assert props.order_id == "EE-100482"
    assert (props.total, props.currency) == (Decimal("978.99"), "EUR")
    assert (props.subtotal, props.discount_total) == (Decimal("1028.99"), Decimal("50.00"))
    assert props.discount_codes == ("PIXELHERBST50",)
    assert [i.product_id for i in props.items] == ["1042", "2107"]


def test_batch_session_maps_an_anonymous_visitor_becoming_known_and_rejects_the_invalid_item():
    body = sample("batch_session.json")
    result = map_batch(SHOP, body, RECEIVED)

    assert isinstance(result, MappedBatch)
    assert result.rejected == [
        Rejection(
            index=12, message_id="demo-max-session-13", error="anonymousId or userId is required", shop="elektro-emma"
        )
    ]
    assert len(result.events) == len(body["batch"])  # 19 valid items + 1 consent event from identify
    ids = [e.id for e in result.events]
    assert len(set(ids)) == len(ids)
    assert all(e.context["ip"] == "198.51.100.77" for e in result.events)  # batch context merged in
    assert all(e.customer.anonymous_id == "anon-9b1c" for e in result.events)
    identified = next(e for e in result.events if e.type is EventType.CUSTOMER_IDENTIFIED)
    assert identified.customer.customer_id == "7008002"
    assert identified.customer.email == "max.mueller@example.de"
    occurred = [e.occurred_at for e in result.events]
    assert occurred == sorted(occurred)
    assert max(occurred) <= RECEIVED


def test_batch_sample_covers_mixed_call_types():
    types = {e.type for e in map_batch(SHOP, sample("batch_session.json"), RECEIVED).events}
    assert {
        EventType.PAGE_VIEWED,
        EventType.SEARCH_PERFORMED,
        EventType.PRODUCT_VIEWED,
        EventType.CART_UPDATED,
        EventType.CHECKOUT_STARTED,
        EventType.CUSTOMER_IDENTIFIED,
        EventType.CONSENT_CHANGED,
        EventType.ORDER_PLACED,
        EventType.CUSTOM,
    } <= types


# ---- call types ------------------------------------------------------------------------------


def test_call_types():
    assert frozenset({"track", "identify", "page", "screen", "alias", "group"}) == CALL_TYPES


def test_screen_maps_like_page():
    event = one("screen", {"messageId": "s-1", "userId": "7008001", "name": "Warenkorb"})
    assert event.type is EventType.PAGE_VIEWED
    assert event.source.name == "screen"
    assert event.properties.name == "Warenkorb"


def test_page_falls_back_to_context_page_and_properties_win():
    message = {
        "messageId": "p-1",
        "anonymousId": "anon-1",
        "name": "Zubehör",
        "category": "Kategorie",
        "properties": {"title": "Zubehör | Elektro Emma"},
        "context": {"page": {"url": "https://shop.example/zubehoer", "path": "/zubehoer", "title": "alt"}},
    }
    props = one("page", message).properties
    assert (props.url, props.path, props.title) == (
        "https://shop.example/zubehoer",
        "/zubehoer",
        "Zubehör | Elektro Emma",
    )
    assert (props.name, props.category) == ("Zubehör", "Kategorie")


@pytest.mark.parametrize("call_type", ["Track", "", None, ["track"]])
def test_unknown_call_type_is_invalid(call_type):
    with pytest.raises(InvalidPayload, match="unknown call type"):
        call(call_type, {"messageId": "x", "userId": "1"})


def test_track_needs_an_event_name():
    with pytest.raises(InvalidPayload, match="event is required"):
        call("track", {"messageId": "x", "userId": "1", "properties": {}})


@pytest.mark.parametrize("call_type", sorted(CALL_TYPES - {"alias"}))  # alias: previousId + userId
def test_anonymous_id_or_user_id_is_required(call_type):
    with pytest.raises(InvalidPayload, match="anonymousId or userId is required"):
        call(call_type, {"messageId": "x", "event": "Product Viewed", "userId": "", "anonymousId": None})


def test_user_id_alone_or_a_numeric_one_is_enough():
    event = one("page", {"messageId": "x", "userId": 7008001})
    assert event.customer.customer_id == "7008001"
    assert event.customer.anonymous_id is None


@pytest.mark.parametrize("field", ["context", "properties", "traits"])
def test_objects_must_be_objects(field):
    with pytest.raises(InvalidPayload, match=f"{field}: expected an object"):
        call("identify", {"messageId": "x", "userId": "1", field: ["not", "an", "object"]})


# ---- track events ----------------------------------------------------------------------------

PIXEL = {"product_id": "1042", "name": "Google Pixel 9 Pro", "category": "smartphones", "brand": "Google"}
ITEMS = [{**PIXEL, "price": "999.00", "quantity": 1}, {"product_id": "2215", "price": 14.99, "quantity": 2}]

TRACK_CASES = [
    (
        "Product Viewed",
        {**PIXEL, "price": 999, "currency": "eur"},
        EventType.PRODUCT_VIEWED,
        {"product": {**PIXEL, "price": Decimal("999"), "currency": "EUR"}},
    ),
    (
        "Products Searched",
        {"query": "usb-c ladegerät"},
        EventType.SEARCH_PERFORMED,
        {"query": "usb-c ladegerät"},
    ),
    (
        "Product Added",
        {"cart_id": "c-1", **PIXEL, "price": 999, "quantity": 2},
        EventType.CART_UPDATED,
        {"cart_id": "c-1", "items": ({**PIXEL, "price": Decimal("999"), "quantity": 2},)},
    ),
    (
        "Product Removed",
        {"cart_id": "c-1", "product_id": "2215"},
        EventType.CART_UPDATED,
        {"cart_id": "c-1", "items": ({"product_id": "2215"},)},
    ),
    (
        "Cart Viewed",
        {"cart_id": "c-1", "products": ITEMS, "value": 1028.98, "currency": "EUR"},
        EventType.CART_UPDATED,
        {"cart_id": "c-1", "value": Decimal("1028.98"), "currency": "EUR"},
    ),
    (
        "Checkout Started",
        {"order_id": "EE-1", "products": ITEMS, "revenue": "1028.98", "currency": "EUR"},
        EventType.CHECKOUT_STARTED,
        {"cart_id": "EE-1", "value": Decimal("1028.98")},
    ),
    (
        "Order Completed",
        {
            "order_id": "EE-1",
            "total": 1018.98,
            "currency": "EUR",
            "products": ITEMS,
            "coupon": "WILLKOMMEN10",
            "discount": 10,
            "subtotal": 1028.98,
        },
        EventType.ORDER_PLACED,
        {
            "order_id": "EE-1",
            "total": Decimal("1018.98"),
            "discount_codes": ("WILLKOMMEN10",),
            "discount_total": Decimal("10"),
            "subtotal": Decimal("1028.98"),
        },
    ),
    (
        "Order Cancelled",
        {"order_id": "EE-1", "total": 1018.98, "currency": "EUR"},
        EventType.ORDER_CANCELLED,
        {"order_id": "EE-1", "total": Decimal("1018.98")},
    ),
    (
        "Order Refunded",
        {"order_id": "EE-1"},
        EventType.ORDER_CANCELLED,
        {"order_id": "EE-1", "total": Decimal("0")},
    ),
    (
        "Coupon Applied",
        {
            "order_id": "EE-1",
            "coupon_id": "WILLKOMMEN10",
            "coupon_name": "Willkommen",
            "discount": 10,
            "currency": "EUR",
        },
        EventType.COUPON_REDEEMED,
        {"code": "WILLKOMMEN10", "order_id": "EE-1", "amount": Decimal("10"), "currency": "EUR"},
    ),
    (
        "Signed Up",
        {"type": "checkout", "first_name": "Max", "last_name": "Müller"},
        EventType.CUSTOMER_REGISTERED,
        {"first_name": "Max", "last_name": "Müller", "traits": {"type": "checkout"}},
    ),
    (
        "Product Reviewed",
        {"product_id": "1042", "rating": 4.5, "review_body": "Top Kamera"},
        EventType.REVIEW_SUBMITTED,
        {"product_id": "1042", "rating": 4.5},
    ),
    (
        "Tutorial Watched",
        {
            "tutorial_id": "t-1",
            "topic": "camera",
            "product_id": "1042",
            "category": "smartphones",
            "completion": 1,
        },
        EventType.TUTORIAL_WATCHED,
        {
            "tutorial_id": "t-1",
            "topic": "camera",
            "product_id": "1042",
            "category": "smartphones",
            "completion": 1.0,
        },
    ),
    (
        "Survey Answered",
        {"survey_id": "nps", "score": 9, "answers": {"kommentar": "Super"}},
        EventType.SURVEY_ANSWERED,
        {"survey_id": "nps", "score": 9.0, "answers": {"kommentar": "Super"}},
    ),
    (
        "Referral Made",
        {"referral_code": "LENA-5", "referred_email": " Tom@Example.de "},
        EventType.REFERRAL_MADE,
        {"referral_code": "LENA-5", "referred_email": "tom@example.de"},
    ),
    (
        "Push Opened",
        {"message_id": "push-1", "journey": "warenkorb"},
        EventType.PUSH_CLICKED,
        {"message_id": "push-1", "journey": "warenkorb"},
    ),
    ("Push Notification Tapped", {"message_id": "push-1"}, EventType.PUSH_CLICKED, {"message_id": "push-1"}),
    (
        "Push Notification Received",
        {"message_id": "push-1"},
        EventType.PUSH_DELIVERED,
        {"message_id": "push-1"},
    ),
    (
        "Product Clicked",
        {"product_id": "2301", "position": 3},
        EventType.CUSTOM,
        {"name": "Product Clicked", "properties": {"product_id": "2301", "position": 3}},
    ),
]


@pytest.mark.parametrize(
    ("name", "properties", "expected_type", "expected"), TRACK_CASES, ids=[c[0] for c in TRACK_CASES]
)
def test_named_track_events(name, properties, expected_type, expected):
    event = one("track", track(name, properties))

    assert event.type is expected_type
    assert event.source.name == name
    assert event.id == f"tracker:m-{name}"
    dumped = event.properties.model_dump(exclude_defaults=True)
    assert {key: dumped[key] for key in expected} == expected


@pytest.mark.parametrize("name", ["product_viewed", "PRODUCT VIEWED", " Product  Viewed "])
def test_track_names_match_case_insensitively_and_in_snake_case(name):
    event = one("track", track(name, {"product_id": "1042"}))
    assert event.type is EventType.PRODUCT_VIEWED
    assert event.source.name == name.strip()


@pytest.mark.parametrize(
    ("properties", "product_id"),
    [({"product_id": "1042", "id": "x"}, "1042"), ({"id": 1042}, "1042"), ({"sku": "GGL-P9P"}, "GGL-P9P")],
)
def test_product_id_falls_back_to_id_then_sku(properties, product_id):
    assert one("track", track("Product Viewed", properties)).properties.product.product_id == product_id


def test_product_viewed_without_any_product_id_is_kept_as_a_custom_event_with_the_reason():
    event = one("track", track("Product Viewed", {"name": "Pixel", "position": 2}))
    assert event.type is EventType.CUSTOM
    assert event.properties.name == "Product Viewed"
    assert event.properties.properties == {"name": "Pixel", "position": 2}
    assert "product.viewed" in event.properties.reason and "product_id" in event.properties.reason


def test_cart_products_become_line_items():
    items = one("track", track("Cart Viewed", {"products": ITEMS})).properties.items
    assert [(i.product_id, i.quantity, i.price) for i in items] == [
        ("1042", 1, Decimal("999.00")),
        ("2215", 2, Decimal("14.99")),
    ]
    assert (items[0].name, items[0].category, items[0].brand) == (
        "Google Pixel 9 Pro",
        "smartphones",
        "Google",
    )


@pytest.mark.parametrize("products", ["1042", ["1042"], [{"name": "no id"}]])
def test_products_emma_cannot_read_are_kept_in_extra(products):
    event = one("track", track("Cart Viewed", {"products": products}))
    assert event.type is EventType.CART_UPDATED
    assert event.properties.items == ()
    assert event.extra["products"] == products


def test_checkout_started_uses_checkout_id_when_there_is_no_order_id():
    event = one("track", track("Checkout Started", {"checkout_id": "chk-1", "value": 10}))
    assert event.properties.cart_id == "chk-1"


def test_order_total_falls_back_to_revenue_and_currency_to_the_shop_default():
    props = one("track", track("Order Completed", {"order_id": "EE-2", "revenue": 49.5})).properties
    assert (props.total, props.currency) == (Decimal("49.5"), "EUR")


@pytest.mark.parametrize(
    ("properties", "missing"), [({"total": 10}, "order_id"), ({"order_id": "EE-3", "total": "zehn"}, "total")]
)
def test_order_without_order_id_or_total_is_a_custom_event_saying_what_is_missing(properties, missing):
    event = one("track", track("Order Completed", properties))
    assert event.type is EventType.CUSTOM
    assert event.properties.properties == properties
    assert event.properties.reason == f"not stored as order.placed: properties.{missing} is required for order.placed"


def test_coupon_code_falls_back_to_coupon_name():
    assert one("track", track("Coupon Applied", {"coupon_name": "HERBST"})).properties.code == "HERBST"


def test_out_of_range_values_are_left_out_and_kept_with_the_reason():
    review = one("track", track("Product Reviewed", {"product_id": "1042", "rating": 7}))
    assert review.type is EventType.REVIEW_SUBMITTED
    assert review.properties.rating is None and review.properties.product_id == "1042"
    assert review.extra["_ignored"]["properties.rating"]["value"] == Decimal("7.0000")
    assert "less than or equal to 5" in review.extra["_ignored"]["properties.rating"]["reason"]
    # a completion of 85 is a percentage; 850 is nothing Emma can read
    assert one("track", track("Tutorial Watched", {"tutorial_id": "t", "completion": 85})).properties.completion == 0.85
    watched = one("track", track("Tutorial Watched", {"tutorial_id": "t", "completion": 850}))
    assert watched.properties.completion is None and "properties.completion" in watched.extra["_ignored"]


def test_custom_event_keeps_its_properties_and_track_without_properties_is_fine():
    event = one("track", track("Wunschliste geteilt"))
    assert event.type is EventType.CUSTOM
    assert event.properties.name == "Wunschliste geteilt"
    assert event.properties.properties == {}


# ---- identify, customers and consent ---------------------------------------------------------


def identify(traits: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {"messageId": "i-1", "userId": "7008001", "traits": traits or {}, **fields}


def test_identify_traits_fall_back_to_context_traits_and_context_locale():
    message = identify(
        {"first_name": "Lena", "address": "Sonnenallee 12"},
        context={
            "traits": {"last_name": "Schmidt", "first_name": "alt"},
            "locale": "de-DE",
            "timezone": "Europe/Berlin",
        },
    )
    props = one("identify", message).properties
    assert (props.first_name, props.last_name) == ("Lena", "Schmidt")
    assert (props.locale, props.timezone) == ("de-DE", "Europe/Berlin")
    assert props.country is None  # a string address is kept as a trait, not parsed
    assert props.traits == {"address": "Sonnenallee 12"}


@pytest.mark.parametrize(
    "message",
    [
        identify({"email": " Lena.Schmidt@Example.DE "}),
        identify(context={"traits": {"email": "LENA.SCHMIDT@example.de"}}),
        track("Order Completed", {"order_id": "EE-1", "total": 1, "email": "Lena.Schmidt@example.de"}),
    ],
)
def test_email_comes_from_traits_context_traits_or_properties_and_is_normalised(message):
    call_type = "track" if "event" in message else "identify"
    assert call(call_type, message)[0].customer.email == "lena.schmidt@example.de"


def test_traits_email_wins_over_context_traits_and_properties():
    message = identify({"email": "a@example.de"}, context={"traits": {"email": "b@example.de"}})
    assert one("identify", message).customer.email == "a@example.de"


def test_an_invalid_email_is_kept_as_invalid_with_the_reason_and_the_call_still_lands():
    event = one("identify", identify({"email": "lena at example", "plan": "vip"}))
    assert event.customer.email is None and event.customer.customer_id
    assert event.properties.traits == {"plan": "vip"}
    [invalid] = event.customer.invalid
    assert (invalid.kind, invalid.value, invalid.reason) == ("email", "lena at example", "contains a space")
    assert "_ignored" not in event.extra  # recorded where webhooks record it, not as an ignored value


@pytest.mark.parametrize(
    ("message", "value", "reason"),
    [
        (identify({"email": "lena.example.de"}), "lena.example.de", "it has no @"),
        (identify({"email": "lena@localhost"}), "lena@localhost", "a dot is missing"),
        (identify({"email": "a@@example.de"}), "a@@example.de", "has 2 @"),
        (identify(context={"traits": {"email": "lena\n@example.de"}}), "lena\\n@example.de", "control character"),
        (
            track("Page Shared", context={"traits": {"email": "lena at example"}}),
            "lena at example",
            "contains a space",
        ),
        (
            track("Order Completed", {"order_id": "EE-1", "total": 1, "email": "nobody"}),
            "nobody",
            "it has no @",
        ),
    ],
)
def test_tracker_calls_pass_invalid_emails_on_like_webhooks(message, value, reason):
    """traits.email, context.traits.email (identify and track) and a buyer's properties.email: an
    invalid address reaches the event model's check and is kept in customer.invalid with its reason."""
    event = call("track" if "event" in message else "identify", message)[0]
    assert event.customer.email is None
    [invalid] = event.customer.invalid
    assert invalid.kind == "email" and invalid.value == value and reason in invalid.reason
    assert "customer.email" not in event.extra.get("_ignored", {})


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_email_is_no_email(blank):
    event = one("identify", identify({"email": blank}))
    assert event.customer.email is None and event.customer.invalid is None


def test_a_buyer_email_in_properties_that_is_no_text_is_ignored_with_the_reason():
    event = one("track", track("Order Completed", {"order_id": "EE-1", "total": 1, "email": ["a@example.de"]}))
    assert event.type is EventType.ORDER_PLACED and event.customer.email is None
    assert event.extra["_ignored"]["properties.email"] == {
        "value": ["a@example.de"],
        "reason": "an email address must be a string",
    }
    assert "email" not in event.extra


def test_consent_from_traits():
    message = identify(
        {"email_opt_in": True, "sms_opt_in": False, "phone": "+4915123456789"}, context={"ip": "203.0.113.9"}
    )
    identified, email, sms = call("identify", message)

    assert "email_opt_in" not in identified.properties.traits
    assert "sms_opt_in" not in identified.properties.traits
    assert (email.id, email.properties.channel, email.properties.granted) == (
        "tracker:i-1:consent:email",
        Channel.EMAIL,
        True,
    )
    assert (sms.id, sms.properties.channel, sms.properties.granted) == ("tracker:i-1:consent:sms", Channel.SMS, False)
    assert email.properties.proof.wording is None
    assert email.properties.proof.double_opt_in is False
    assert email.properties.proof.ip == "203.0.113.9"


def test_consent_from_context_wins_over_traits_and_segment_category_preferences_are_ignored():
    consent = {
        "push": {"granted": False, "wording": "Keine Push-Nachrichten"},
        "email": {"wording": "Newsletter: ja"},  # granted comes from the trait
        "categoryPreferences": {"Advertising": True, "Analytics": False},
    }
    message = identify({"push_opt_in": True, "email_opt_in": True}, context={"consent": consent})
    _, email, push = call("identify", message)

    assert (email.properties.channel, email.properties.granted) == (Channel.EMAIL, True)
    assert email.properties.proof.wording == "Newsletter: ja"
    assert (push.properties.channel, push.properties.granted) == (Channel.PUSH, False)
    assert push.properties.proof.wording == "Keine Push-Nachrichten"


def test_identify_without_consent_emits_only_the_identification():
    assert [e.type for e in call("identify", identify({"plan": "vip"}))] == [EventType.CUSTOMER_IDENTIFIED]


@pytest.mark.parametrize(
    "message",
    [
        identify({"email_opt_in": "yes"}),
        identify(context={"consent": {"sms": {"granted": True, "double_opt_in": 1}}}),
    ],
)
def test_consent_that_is_not_boolean_records_no_consent_and_says_why(message):
    (event,) = call("identify", message)
    assert event.type is EventType.CUSTOMER_IDENTIFIED
    (note,) = event.extra["_ignored"].values()
    assert "must be true or false" in note["reason"]


def test_signed_up_records_consent_too():
    registered, consent = call("track", track("Signed Up", {"email": "max@example.de", "email_opt_in": True}))
    assert registered.type is EventType.CUSTOMER_REGISTERED
    assert registered.customer.email == "max@example.de"
    assert registered.properties.traits == {}
    assert consent.properties.proof.source == "tracker:Signed Up"


# ---- time ------------------------------------------------------------------------------------


def test_clock_skew_is_corrected_with_the_message_sent_at():
    # The device clock is 2 hours behind: it says it sent at 09:00:05, we received at 11:00:00.
    message = track("x", timestamp="2026-11-22T09:00:00Z", sentAt="2026-11-22T09:00:05Z")
    assert one("track", message).occurred_at == RECEIVED - timedelta(seconds=5)


def test_clock_skew_is_corrected_with_the_batch_sent_at_and_the_message_one_wins():
    batch_sent = datetime(2026, 11, 22, 10, 0, 10, tzinfo=UTC)
    message = track("x", timestamp="2026-11-22T10:00:00Z")
    assert one("track", message, sent_at=batch_sent).occurred_at == RECEIVED - timedelta(seconds=10)
    message["sentAt"] = "2026-11-22T10:00:01Z"
    assert one("track", message, sent_at=batch_sent).occurred_at == RECEIVED - timedelta(seconds=1)


def test_time_without_sent_at_is_taken_as_is():
    assert one("track", track("x", timestamp="2026-11-22T10:30:00+01:00")).occurred_at == datetime(
        2026, 11, 22, 9, 30, tzinfo=UTC
    )
    assert one("track", track("x", originalTimestamp="2026-11-22T08:00:00Z")).occurred_at == datetime(
        2026, 11, 22, 8, 0, tzinfo=UTC
    )
    assert one("track", track("x")).occurred_at == RECEIVED


def test_occurred_at_is_never_after_received_at():
    assert one("track", track("x", timestamp="2026-11-23T00:00:00Z")).occurred_at == RECEIVED
    # sentAt before the timestamp: corrected time lands after received_at and is clamped too.
    message = track("x", timestamp="2026-11-22T10:00:00Z", sentAt="2026-11-22T09:00:00Z")
    assert one("track", message).occurred_at == RECEIVED


def test_an_unparseable_timestamp_is_invalid():
    with pytest.raises(InvalidPayload, match="timestamp"):
        call("track", track("x", timestamp="gestern"))


# ---- ids -------------------------------------------------------------------------------------


def test_message_without_message_id_gets_a_deterministic_id():
    message = {"anonymousId": "anon-1", "event": "Product Viewed", "properties": {"product_id": "1042"}}
    first = one("track", message).id
    retry = one("track", {**message, "sentAt": "2026-11-22T10:59:00Z", "writeKey": "wk"})
    other = one("track", {**message, "properties": {"product_id": "1041"}})

    assert first.startswith("tracker:sha256:") and len(first) == len("tracker:sha256:") + 64
    assert retry.id == first  # sentAt changes on every retry and writeKey is not part of the event
    assert other.id != first
    assert one("track", dict(reversed(message.items()))).id == first  # key order does not matter


def test_a_too_long_message_id_is_invalid():
    with pytest.raises(InvalidPayload, match="messageId"):
        call("track", track("x", messageId="m" * 201))


# ---- limits ----------------------------------------------------------------------------------


def test_a_message_over_128_kb_is_too_large_naming_the_limit():
    message = track("Product Viewed", {"product_id": "1042", "description": "x" * (128 * 1024)})
    with pytest.raises(PayloadTooLarge, match=r"the limit is 128 KB \(131072 bytes\) a call"):
        call("track", message)


# ---- batch -----------------------------------------------------------------------------------


def test_batch_keeps_valid_items_and_rejects_invalid_ones():
    big = track("Product Viewed", {"product_id": "1042", "description": "x" * (128 * 1024)})
    body = {
        "batch": [
            {"type": "page", "messageId": "b-0", "anonymousId": "anon-1"},
            {"type": "track", "messageId": "b-1", "event": "Product Viewed"},
            "not an object",
            {"type": "alias", "messageId": "b-3", "userId": "7008001"},
            {"messageId": "b-4", "userId": "7008001"},
            {**big, "type": "track"},
            {"type": "track", "messageId": "b-6", "userId": "7008001", "event": "Signed Up"},
        ]
    }
    result = map_batch(SHOP, body, RECEIVED)

    assert [e.id for e in result.events] == ["tracker:b-0", "tracker:b-6"]
    assert [(r.index, r.message_id) for r in result.rejected] == [
        (1, "b-1"),
        (2, None),
        (3, "b-3"),
        (4, "b-4"),
        (5, "m-Product Viewed"),
    ]
    errors = [r.error for r in result.rejected]
    assert errors[0] == "anonymousId or userId is required"
    assert errors[1] == "message must be an object, got str"
    assert errors[2] == "alias: previousId and userId are required"
    assert errors[3].startswith("unknown call type None")
    assert "the limit is 128 KB" in errors[4] and result.rejected[4].status == 413


def test_batch_context_is_merged_under_each_message_context():
    body = {
        "context": {
            "ip": "198.51.100.77",
            "locale": "de-DE",
            "page": {"url": "https://a.example/", "title": "A"},
        },
        "batch": [
            {
                "type": "page",
                "messageId": "b-0",
                "anonymousId": "a",
                "context": {"locale": "de-AT", "page": {"title": "B"}},
            },
        ],
    }
    (event,) = map_batch(SHOP, body, RECEIVED).events
    assert event.context == {"ip": "198.51.100.77", "locale": "de-AT", "page_url": "https://a.example/"}
    assert event.properties.title == "B"


@pytest.mark.parametrize("body", [{}, {"batch": {"type": "track"}}, {"batch": None}])
def test_a_body_without_a_batch_list_is_invalid(body):
    with pytest.raises(InvalidPayload, match="batch"):
        map_batch(SHOP, body, RECEIVED)


def test_a_batch_over_the_item_limit_is_too_large_naming_the_limit():
    body = {"batch": [{"type": "page", "anonymousId": "a"}] * (MAX_BATCH_ITEMS + 1)}
    with pytest.raises(PayloadTooLarge, match=f"the limit is {MAX_BATCH_ITEMS} calls a batch"):
        map_batch(SHOP, body, RECEIVED)


def test_batch_level_errors_fail_the_whole_batch():
    with pytest.raises(InvalidPayload, match="sentAt"):
        map_batch(SHOP, {"batch": [], "sentAt": "soon"}, RECEIVED)
    with pytest.raises(InvalidPayload, match="batch context"):
        map_batch(SHOP, {"batch": [], "context": "web"}, RECEIVED)


def test_replaying_a_batch_gives_the_same_ids():
    body = sample("batch_session.json")
    first = map_batch(SHOP, body, RECEIVED)
    again = map_batch(SHOP, copy.deepcopy(body), RECEIVED + timedelta(hours=1))
    assert [e.id for e in again.events] == [e.id for e in first.events]


# ---- write key -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"writeKey": "wk_live_123", "batch": []}, "wk_live_123"),
        ({}, None),
        ({"writeKey": " "}, None),
        ({"writeKey": 42}, None),
    ],
)
def test_write_key_from_body(body, key):
    assert write_key_from_body(body) == key


def test_alias_links_the_previous_anonymous_id_to_the_user():
    (event,) = call("alias", {"messageId": "al-1", "userId": "7008001", "previousId": "anon-3f2a"})
    assert event.type == EventType.CUSTOMER_IDENTIFIED
    assert (event.customer.customer_id, event.customer.anonymous_id) == ("7008001", "anon-3f2a")


def test_group_is_kept_as_a_custom_event():
    (event,) = call("group", {"messageId": "g-1", "userId": "1", "groupId": "acme", "traits": {"plan": "b2b"}})
    assert event.type == EventType.CUSTOM and event.properties.properties["group_id"] == "acme"


@pytest.mark.parametrize(
    "name, action", [("Product Added", "add"), ("Product Removed", "remove"), ("Cart Viewed", "replace")]
)
def test_cart_events_say_whether_they_add_remove_or_replace(name, action):
    (event,) = call("track", track(name, {"product_id": "1042", "price": 9.99}))
    assert event.properties.action == action


# ---- never lose a well-formed call -----------------------------------------------------------


def test_a_shops_own_property_names_still_map_tutorial_watched():
    # what Segment's Python SDK sends for analytics.track("Tutorial Watched", {"tutorial": ...})
    event = one("track", track("Tutorial Watched", {"tutorial": "camera-night-mode", "duration_s": 94}))
    assert event.type is EventType.TUTORIAL_WATCHED
    assert event.properties.tutorial_id == "camera-night-mode"
    assert event.extra == {"duration_s": 94}


def test_a_tutorial_naming_no_tutorial_is_kept_as_custom_with_the_reason():
    event = one("track", track("Tutorial Watched", {"seconds": 30}))
    assert event.type is EventType.CUSTOM and event.properties.properties == {"seconds": 30}
    assert "tutorial_id is required" in event.properties.reason


def test_properties_emma_does_not_model_are_kept_in_extra_item_by_item():
    properties = {
        "order_id": "50314b8e9bcf000000000000",
        "affiliation": "Google Store",
        "total": 27.50,
        "revenue": 25.00,
        "shipping": 3,
        "tax": 2,
        "discount": 2.5,
        "coupon": "hasbros",
        "currency": "USD",
        "products": [
            {
                "product_id": "507f1f77bcf86cd799439011",
                "sku": "45790-32",
                "name": "Monopoly",
                "price": 19,
                "quantity": 1,
                "category": "Games",
                "url": "https://www.example.com/product/path",
                "image_url": "https://www.example.com/product/path.jpg",
            },
            {
                "product_id": "505bd76785ebb509fc183733",
                "sku": "46493-32",
                "name": "Uno Card Game",
                "price": 3,
                "quantity": 2,
                "category": "Games",
            },
        ],
    }
    event = one("track", track("Order Completed", properties))  # the example of Segment's e-commerce spec
    assert event.type is EventType.ORDER_PLACED
    props = event.properties
    assert (props.order_id, props.total, props.currency, props.discount_codes) == (
        "50314b8e9bcf000000000000",
        Decimal("27.5"),
        "USD",
        ("hasbros",),
    )
    assert [(i.product_id, i.quantity, i.price) for i in props.items] == [
        ("507f1f77bcf86cd799439011", 1, Decimal("19")),
        ("505bd76785ebb509fc183733", 2, Decimal("3")),
    ]
    assert event.extra == {
        "affiliation": "Google Store",
        "revenue": 25.00,
        "shipping": 3,
        "tax": 2,
        "products": [
            {"url": "https://www.example.com/product/path", "image_url": "https://www.example.com/product/path.jpg"},
            {},
        ],
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Completed Order", EventType.ORDER_PLACED),  # Segment's e-commerce spec v1
        ("orderCompleted", EventType.ORDER_PLACED),
        ("purchase", EventType.ORDER_PLACED),  # GA4
        ("Viewed Product", EventType.PRODUCT_VIEWED),
        ("view_item", EventType.PRODUCT_VIEWED),
        ("Added to Cart", EventType.CART_UPDATED),
        ("begin_checkout", EventType.CHECKOUT_STARTED),
        ("Order Canceled", EventType.ORDER_CANCELLED),
        ("Push Notification Opened", EventType.PUSH_CLICKED),
    ],
)
def test_spec_v1_names_and_common_aliases_map(name, expected):
    properties = {"order_id": "o-1", "value": 10, "items": [{"item_id": "1042", "item_name": "Pixel", "quantity": "2"}]}
    event = call("track", track(name, properties))[0]
    assert event.type is expected


def test_ga4_items_and_numbers_sent_as_strings():
    properties = {
        "transaction_id": "T-9",
        "value": "1.049,00",
        "currency": "eur",
        "items": [{"item_id": 1042, "item_brand": "Google", "price": "999,00", "quantity": "2"}],
    }
    properties["value"] = "1049.00"
    event = one("track", track("purchase", properties))
    assert (event.properties.order_id, event.properties.total, event.properties.currency) == (
        "T-9",
        Decimal("1049.00"),
        "EUR",
    )
    (item,) = event.properties.items
    assert (item.product_id, item.brand, item.price, item.quantity) == ("1042", "Google", Decimal("999.00"), 2)


def test_a_price_that_is_no_number_is_left_out_with_the_reason():
    event = one("track", track("Product Viewed", {"product_id": "1042", "price": "auf Anfrage"}))
    assert event.type is EventType.PRODUCT_VIEWED and event.properties.product.price is None
    assert event.extra["price"] == "auf Anfrage"
    assert "is not a number" in event.extra["_ignored"]["price"]


def test_the_shop_currency_is_assumed_for_orders_without_one():
    event = one("track", track("Order Completed", {"order_id": "o-1", "total": 5}), currency="CHF")
    assert event.properties.currency == "CHF"


def test_the_segment_spec_identify_example_keeps_every_trait_whole():
    message = {
        "anonymousId": "507f191e810c19729de860ea",
        "channel": "browser",
        "context": {"ip": "8.8.8.8", "userAgent": "Mozilla/5.0"},
        "messageId": "022bb90c-bbac-11e4-8dfc-aa07a5b093db",
        "receivedAt": "2015-02-23T22:28:55.387Z",
        "sentAt": "2015-02-23T22:28:55.111Z",
        "timestamp": "2015-02-23T22:28:55.111Z",
        "traits": {
            "name": "Peter Gibbons",
            "email": "peter@example.com",
            "plan": "premium",
            "logins": 5,
            "address": {
                "street": "6th St",
                "city": "San Francisco",
                "state": "CA",
                "postalCode": "94103",
                "country": "USA",
            },
        },
        "type": "identify",
        "userId": "97980cfea0067",
        "version": "1.1",
    }
    (event,) = call("identify", message)
    assert event.customer.email == "peter@example.com"
    assert (event.properties.city, event.properties.country) == ("San Francisco", "USA")
    assert event.properties.traits == {
        "name": "Peter Gibbons",
        "plan": "premium",
        "logins": 5,
        "address": {
            "street": "6th St",
            "city": "San Francisco",
            "state": "CA",
            "postalCode": "94103",
            "country": "USA",
        },
    }


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"messageId": "x", "userId": "1", "event": ["Order Completed"]}, "event must be a string"),
        ({"messageId": "x", "userId": {"id": 1}, "event": "E"}, "userId: expected a string or an integer"),
        ({"messageId": {"id": 1}, "userId": "1", "event": "E"}, "messageId: expected a string"),
        ({"messageId": "x", "userId": "1", "event": "E", "properties": "a=b"}, "properties: expected an object"),
        ({"messageId": "x", "userId": "1", "event": "E" * 513}, "longer than 512"),
    ],
)
def test_calls_that_are_not_valid_segment_calls_are_refused(message, error):
    with pytest.raises(InvalidPayload, match=error):
        call("track", message)


def test_batch_items_carry_their_own_write_key():
    from emma.errors import Unauthorized
    from emma.sources.segment import TrackerShop

    def shop_of(item):
        if item.get("writeKey") == "wk_1":
            return TrackerShop("elektro-emma", "EUR")
        raise Unauthorized("unknown write key")

    body = {
        "batch": [
            {"type": "page", "messageId": "b-0", "anonymousId": "a", "writeKey": "wk_1"},
            {"type": "page", "messageId": "b-1", "anonymousId": "a", "writeKey": "wrong"},
        ]
    }
    result = map_batch(None, body, RECEIVED, shop_of=shop_of)
    assert [e.id for e in result.events] == ["tracker:b-0"]
    assert [(r.index, r.status, r.error) for r in result.rejected] == [(1, 401, "unknown write key")]
    assert result.shops == {"elektro-emma": 1}


def test_a_shop_lookup_that_fails_for_a_while_fails_the_batch_instead_of_rejecting_the_call():
    """A 503 from the shop directory is nobody's fault in the call: listed in `rejected`, the sender
    would drop the call; raised, the request answers 503 and the sender retries it."""
    from emma.errors import StoreError
    from emma.sources.segment import TrackerShop

    def shop_of(item):
        if item.get("writeKey") == "wk_1":
            return TrackerShop("elektro-emma", "EUR")
        raise StoreError("could not read shop secrets: ThrottlingException")

    body = {
        "batch": [
            {"type": "page", "messageId": "b-0", "anonymousId": "a", "writeKey": "wk_1"},
            {"type": "page", "messageId": "b-1", "anonymousId": "a", "writeKey": "wk_2"},
        ]
    }
    with pytest.raises(StoreError, match="ThrottlingException"):
        map_batch(None, body, RECEIVED, shop_of=shop_of)


# ---- well-formed calls keep their meaning (review of issue 11) ---------------------------------


def test_checkout_started_keeps_the_cart_id_beside_the_checkout_id():
    event = one("track", track("Checkout Started", {"checkout_id": "chk1", "cart_id": "cart9", "value": 5}))
    assert event.type is EventType.CHECKOUT_STARTED
    assert event.properties.cart_id == "chk1" and event.extra["cart_id"] == "cart9"
    only_cart = one("track", track("Checkout Started", {"cart_id": "cart9"}))
    assert only_cart.properties.cart_id == "cart9" and "cart_id" not in only_cart.extra


@pytest.mark.parametrize("sent", ["Euro", "€", "EURO"])
def test_an_order_with_an_unreadable_currency_takes_the_shops_and_keeps_the_value(sent):
    event = one("track", track("Order Completed", {"order_id": "o1", "total": 5, "currency": sent}), currency="CHF")
    assert event.type is EventType.ORDER_PLACED and event.properties.currency == "CHF"
    note = event.extra["_ignored"]["properties.currency"]
    assert note["value"] == sent and "ISO 4217" in note["reason"] and "CHF" in note["reason"]
    assert "currency" not in event.extra


def test_a_product_view_with_an_unreadable_currency_is_kept_without_one():
    event = one("track", track("Product Viewed", {"product_id": "p1", "price": 3, "currency": "Euro"}))
    assert event.type is EventType.PRODUCT_VIEWED and event.properties.product.currency is None
    assert event.extra["_ignored"]["properties.currency"]["value"] == "Euro"


def test_an_order_without_a_total_takes_the_sum_of_its_priced_products():
    products = [
        {"product_id": "p1", "price": 19, "quantity": 1},
        {"product_id": "p2", "price": "2,50", "quantity": "2"},
        {"product_id": "p3", "price": 1.25},  # quantity 1
    ]
    event = one("track", track("Order Completed", {"order_id": "o1", "products": products}))
    assert event.type is EventType.ORDER_PLACED and event.properties.total == Decimal("25.25")
    ga4 = one(
        "track", track("purchase", {"transaction_id": "T1", "items": [{"item_id": "p1", "price": 4, "quantity": 3}]})
    )
    assert ga4.type is EventType.ORDER_PLACED and ga4.properties.total == Decimal("12")


def test_an_order_whose_products_do_not_all_state_a_price_still_needs_a_total():
    products = [{"product_id": "p1", "price": 19}, {"product_id": "p2"}]
    event = one("track", track("Order Completed", {"order_id": "o1", "products": products}))
    assert event.type is EventType.CUSTOM and "properties.total is required" in event.properties.reason


def test_a_stated_total_wins_over_the_products():
    products = [{"product_id": "p1", "price": 19, "quantity": 2}]
    event = one("track", track("Order Completed", {"order_id": "o1", "revenue": 30, "products": products}))
    assert event.properties.total == Decimal("30")


def test_integers_beyond_64_bits_are_ignored_with_the_reason_not_refused():
    huge = 12345678901234567890
    props = {"gtin": huge, "ok": 7, "products": [{"product_id": "p1", "ean": huge}], "nested": {"n": -(2**64)}}
    custom = one("track", track("Barcode Scanned", props))
    assert custom.type is EventType.CUSTOM
    assert custom.properties.properties == {"ok": 7, "products": [{"product_id": "p1"}], "nested": {}}
    ignored = custom.extra["_ignored"]
    assert ignored["properties.gtin"]["value"] == str(huge) and "64 bits" in ignored["properties.gtin"]["reason"]
    assert set(ignored) == {"properties.gtin", "properties.products.0.ean", "properties.nested.n"}
    order = one("track", track("Order Completed", {"order_id": "o1", "total": 5, "loyalty_id": huge}))
    assert order.type is EventType.ORDER_PLACED and "properties.loyalty_id" in order.extra["_ignored"]
    who = one("identify", {"messageId": "i1", "userId": huge, "traits": {"card": huge, "plan": "vip"}})
    assert who.customer.customer_id == str(huge)  # a spec id may be an integer: it stays the id, as text
    assert who.properties.traits == {"plan": "vip"} and "traits.card" in who.extra["_ignored"]


def test_a_list_keeps_its_places_when_a_huge_integer_is_taken_out():
    event = one("track", track("Scanned", {"codes": [1, 2**70, 3]}))
    assert event.properties.properties == {"codes": [1, None, 3]}
    assert "properties.codes.1" in event.extra["_ignored"]


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("2025-01-01T10:00:00.000z", datetime(2025, 1, 1, 10, tzinfo=UTC)),
        ("2025-01-01t10:00:00Z", datetime(2025, 1, 1, 10, tzinfo=UTC)),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2017-01-01T00:59:60.5+01:00", datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_rfc_3339_timestamps_in_lower_case_and_with_a_leap_second_are_read(sent, expected):
    event = one("track", track("X", {}, timestamp=sent))
    assert event.occurred_at == expected


@pytest.mark.parametrize("sent", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_timestamp_outside_the_calendar_in_utc_keeps_the_call_at_the_time_received(sent):
    """Well-formed RFC 3339 that Python cannot place in UTC: the call is not lost for it (the OpenAPI
    document calls it valid); it keeps the time received and says why."""
    event = one("track", track("X", {}, timestamp=sent))
    assert event.occurred_at == RECEIVED
    assert event.extra["_ignored"]["timestamp"]["value"] == sent
    assert "out of range" in event.extra["_ignored"]["timestamp"]["reason"]


def test_a_clock_skew_that_cannot_be_corrected_keeps_the_call_at_the_time_received():
    event = one("track", track("X", {}, timestamp="0762-05-30T09:24:07Z", sentAt=253402300798.0))
    assert event.occurred_at == RECEIVED
    assert "too far apart" in event.extra["_ignored"]["timestamp"]["reason"]


def test_a_timestamp_that_is_no_time_at_all_still_refuses_the_call():
    with pytest.raises(InvalidPayload, match=r"timestamp: .* is not an ISO 8601 timestamp"):
        call("track", track("X", {}, timestamp="yesterday"))


def test_a_batch_with_times_outside_the_calendar_stores_every_call():
    body = {
        "sentAt": "0001-01-01T00:00:00+01:00",
        "batch": [
            {"type": "page", "messageId": "b-0", "anonymousId": "a", "timestamp": "9999-12-31T23:59:59-01:00"},
            {"type": "page", "messageId": "b-1", "anonymousId": "a"},
        ],
    }
    result = map_batch(SHOP, body, RECEIVED)
    assert [e.id for e in result.events] == ["tracker:b-0", "tracker:b-1"] and result.rejected == []
    assert all(e.occurred_at == RECEIVED for e in result.events)


def test_named_traits_of_the_wrong_type_are_recorded_not_dropped():
    event = one(
        "identify",
        {
            "messageId": "i1",
            "userId": "u1",
            "traits": {"email": ["a@b.de"], "firstName": {"given": "Lena"}, "phone": True},
        },
    )
    ignored = event.extra["_ignored"]
    assert ignored["traits.email"] == {"value": ["a@b.de"], "reason": "an email address must be a string"}
    assert ignored["traits.firstName"]["value"] == {"given": "Lena"} and ignored["traits.phone"]["value"] is True
    assert event.customer.email is None and event.properties.first_name is None


def test_a_group_id_that_is_an_object_refuses_the_call():
    with pytest.raises(InvalidPayload, match="groupId: expected a string or an integer"):
        call("group", {"messageId": "g1", "userId": "u1", "groupId": {"id": "acme"}})
    assert one("group", {"messageId": "g2", "userId": "u1", "groupId": 42}).properties.properties["group_id"] == "42"


# ---- refunds -----------------------------------------------------------------------------------


def test_a_refund_naming_its_amount_and_products_is_order_refunded():
    properties = {
        "order_id": "o1",
        "total": 30,
        "currency": "eur",
        "products": [{"product_id": "p2", "price": 30, "quantity": 1, "name": "Hülle"}],
        "reason": "damaged",
    }
    event = one("track", track("Order Refunded", properties, userId="7008001"))
    assert event.type is EventType.ORDER_REFUNDED
    props = event.properties
    assert (props.order_id, props.amount, props.currency, props.refund_id) == ("o1", Decimal("30"), "EUR", None)
    assert [(i.product_id, i.quantity, i.name) for i in props.items] == [("p2", 1, "Hülle")]
    assert event.extra == {"reason": "damaged"}


@pytest.mark.parametrize("key", ["total", "revenue", "value", "amount"])
def test_a_refunds_amount_comes_from_total_revenue_value_or_amount(key):
    event = one("track", track("Refund", {"orderId": "o1", key: "12,50"}), currency="CHF")
    assert event.type is EventType.ORDER_REFUNDED
    assert (event.properties.amount, event.properties.currency, event.properties.items) == (Decimal("12.5"), "CHF", ())


def test_a_negative_refund_amount_is_read_as_its_size_and_a_refund_id_is_kept():
    event = one("track", track("Refunded Order", {"order_id": "o1", "revenue": -20, "refund_id": "r-7"}))
    assert (event.properties.amount, event.properties.refund_id) == (Decimal("20"), "r-7")


def test_a_refund_without_an_amount_is_its_products_price_times_quantity():
    products = [{"product_id": "p1", "price": 10, "quantity": 2}, {"product_id": "p2", "price": "5.5"}]
    event = one("track", track("Order Refunded", {"order_id": "o1", "products": products}))
    assert event.type is EventType.ORDER_REFUNDED and event.properties.amount == Decimal("25.5")
    assert [(i.product_id, i.quantity) for i in event.properties.items] == [("p1", 2), ("p2", 1)]


def test_a_ga4_refund_of_some_items_is_order_refunded():
    items = [{"item_id": "p1", "quantity": 1, "price": 49.9}]
    event = one("track", track("refund", {"transaction_id": "T1", "currency": "EUR", "items": items}))
    assert event.type is EventType.ORDER_REFUNDED
    assert (event.properties.order_id, event.properties.amount) == ("T1", Decimal("49.9"))


@pytest.mark.parametrize(
    ("properties", "missing"),
    [
        ({"order_id": "o1", "products": [{"product_id": "p2"}]}, "properties.amount is required for order.refunded"),
        ({"total": 3}, "properties.order_id is required for order.refunded"),
    ],
)
def test_a_refund_lacking_its_order_or_any_amount_is_a_custom_event_with_the_reason(properties, missing):
    event = one("track", track("Order Refunded", properties))
    assert event.type is EventType.CUSTOM and event.properties.properties == properties
    assert event.properties.reason == f"not stored as order.refunded: {missing}"


def test_a_refund_names_its_buyer_by_properties_email():
    event = one("track", track("Order Refunded", {"order_id": "o1", "total": 3, "email": "Lena@Example.de"}))
    assert event.customer.email == "lena@example.de"


@pytest.mark.parametrize("name", ["Order Refunded", "refund", "Refunded Order", "Order Cancelled"])
def test_a_refund_of_the_whole_order_and_a_cancellation_without_total_cancel_it(name):
    event = one("track", track(name, {"order_id": "o1"}), currency="CHF")
    assert event.type is EventType.ORDER_CANCELLED
    assert (event.properties.order_id, event.properties.total, event.properties.currency) == ("o1", 0, "CHF")
    assert "0 stands in" in event.extra["_assumed"]["total"]


def test_a_cancellation_with_its_total_keeps_it():
    event = one("track", track("Order Cancelled", {"order_id": "o1", "total": 25, "currency": "EUR"}))
    assert event.type is EventType.ORDER_CANCELLED and event.properties.total == Decimal("25")
    assert "_assumed" not in event.extra
