"""Segment-spec tracker calls (track, identify, page, screen and /v1/batch) to canonical events.

A client written for Segment's HTTP Tracking API (analytics.js, analytics-python, analytics-node)
works with Emma by changing only its host; this module is the pure part of that: dicts in,
canonical events out, ``InvalidPayload`` for anything the Segment spec does not allow.

Call types
    ``identify``           -> customer.identified, plus one consent.changed per channel with consent
    ``page`` / ``screen``  -> page.viewed
    ``track``              -> by event name, below
    ``alias``              -> customer.identified linking ``previousId`` (anonymous id) to ``userId``
    ``group``              -> custom (name "group", groupId and traits kept)

Track events (names match case-insensitively; snake_case such as ``product_viewed`` works too)
    Segment E-commerce spec v2:
        Product Viewed                                  -> product.viewed
        Products Searched                               -> search.performed
        Product Added, Product Removed, Cart Viewed     -> cart.updated
        Checkout Started                                -> checkout.started
        Order Completed                                 -> order.placed
        Order Cancelled, Order Refunded                 -> order.cancelled
        Coupon Applied                                  -> coupon.redeemed
        Product Reviewed                                -> review.submitted
    Segment B2B / mobile specs:
        Signed Up                                       -> customer.registered (+ consent.changed)
        Push Notification Tapped, Push Opened           -> push.clicked
        Push Notification Received                      -> push.delivered
    Emma's own events (not in any Segment spec):
        Tutorial Watched  properties: tutorial_id, topic, product_id, category, completion (0..1)
                                                        -> tutorial.watched
        Survey Answered   properties: survey_id, score, answers (object)
                                                        -> survey.answered
        Referral Made     properties: referral_code, referred_email
                                                        -> referral.made
    Anything else                                       -> custom (name and properties kept as sent)

Product Added / Removed carry the one product the call is about in ``items`` (Segment puts it at
the top level of ``properties``) with ``action`` "add" / "remove"; Cart Viewed replaces the cart.

Ids
    ``messageId`` is the idempotency key; derived events get a suffix (``:consent:email``). A message
    without one gets ``"sha256:" + sha256(canonical JSON of the message)``, so exact retries from
    such clients are still deduplicated. ``sentAt`` (reset by clients on every attempt) and
    ``writeKey`` (a credential, not part of the event) are left out of that hash.

Time
    Segment's clock-skew correction: with a client time (``timestamp``, else ``originalTimestamp``)
    and a ``sentAt`` (the message's, else the batch's), ``occurred_at = client time + (received_at -
    sentAt)``; with a client time only, that time; with neither, ``received_at``. ``occurred_at`` is
    never later than ``received_at``.

Customer
    ``userId`` -> ``customer_id``, ``anonymousId`` -> ``anonymous_id`` (one of them is required), email
    from ``traits.email``, else ``context.traits.email``, else ``properties.email``.

Context kept on the event (flat; everything else in Segment's context is dropped)
    ``ip``, ``user_agent``, ``locale``, ``timezone``, ``page_url`` (``context.page.url``) and
    ``utm_source``, ``utm_medium``, ``utm_campaign``, ``utm_term``, ``utm_content`` (``context.campaign``).
    A batch's ``context`` is merged under each message's context (the message wins).

Consent (identify and Signed Up)
    ``traits.email_opt_in`` / ``sms_opt_in`` / ``push_opt_in`` (booleans) or ``context.consent`` =
    ``{"email": {"granted": bool, "wording": str, "double_opt_in": bool}, "sms": {...}, "push": {...}}``;
    ``context.consent`` wins per channel. Segment's own ``context.consent.categoryPreferences`` is about
    cookie categories, not marketing channels, and is ignored.

Currency
    Orders need a currency; when ``currency`` is absent the shop's default currency is assumed, which
    for now is ``DEFAULT_CURRENCY`` (EUR): this mapper does not know the shop's settings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from emma.errors import InvalidPayload
from emma.events.model import CanonicalEvent, Channel, EventType, SourceKind
from emma.sources.common import Envelope, make_event, money, obj, text, timestamp

CALL_TYPES = frozenset({"track", "identify", "page", "screen", "alias", "group"})
MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_ITEMS = 2500
MAX_MESSAGE_ID_CHARS = 200  # leaves room for suffixes within the canonical id's 256 characters
DEFAULT_CURRENCY = "EUR"

_CONSENT_TRAITS = {channel: f"{channel}_opt_in" for channel in Channel}
# Traits carried by the refs, the named customer fields or the consent events, not in ``traits``.
_TRAITS_NOT_KEPT = frozenset(
    {"email", "firstName", "first_name", "lastName", "last_name", "phone", "locale", "timezone"}
) | frozenset(_CONSENT_TRAITS.values())
_UTM_KEYS = {
    "utm_source": "source",
    "utm_medium": "medium",
    "utm_campaign": "name",
    "utm_term": "term",
    "utm_content": "content",
}


@dataclass(frozen=True)
class Rejection:
    """One batch item that could not be mapped; the rest of the batch still is."""

    index: int
    message_id: str | None
    error: str


@dataclass(frozen=True)
class MappedBatch:
    events: list[CanonicalEvent]
    rejected: list[Rejection]


def write_key_from_body(body: dict[str, Any]) -> str | None:
    """Segment accepts the write key in the body as well as in Basic auth."""
    key = body.get("writeKey")
    return key if isinstance(key, str) and key.strip() else None


def map_batch(shop: str, body: dict[str, Any], received_at: datetime) -> MappedBatch:
    """Map a /v1/batch body; invalid items become rejections, valid ones are still mapped."""
    items = body.get("batch")
    if not isinstance(items, list):
        raise InvalidPayload('batch: body must have a "batch" list')
    if len(items) > MAX_BATCH_ITEMS:
        raise InvalidPayload(f"batch: {len(items)} messages, the limit is {MAX_BATCH_ITEMS}")
    batch_context = obj(body.get("context"), "batch context")
    sent_at = timestamp(body.get("sentAt"), "sentAt")
    events: list[CanonicalEvent] = []
    rejected: list[Rejection] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            rejected.append(Rejection(index, None, f"message must be an object, got {type(item).__name__}"))
            continue
        try:
            events += map_call(shop, item.get("type"), item, received_at, batch_context=batch_context, sent_at=sent_at)
        except InvalidPayload as exc:
            rejected.append(Rejection(index, text(item.get("messageId")), exc.message))
    return MappedBatch(events, rejected)


def map_call(
    shop: str,
    call_type: str,
    message: dict[str, Any],
    received_at: datetime,
    *,
    batch_context: dict[str, Any] | None = None,
    sent_at: datetime | None = None,
) -> list[CanonicalEvent]:
    """Map one call (the body of /v1/<type>, or one batch item) to its canonical events.

    ``batch_context`` is merged under the message's context: a handler can pass the request's
    source address as ``{"ip": ...}`` there, as Segment fills in ``context.ip`` when it is absent.
    """
    if not isinstance(call_type, str) or call_type not in CALL_TYPES:
        raise InvalidPayload(f"unknown call type {call_type!r}, expected one of {sorted(CALL_TYPES)}")
    if len(_canonical_json(message)) > MAX_MESSAGE_BYTES:
        raise InvalidPayload("message exceeds 32 KB")
    call = _read_call(shop, call_type, message, received_at, batch_context or {}, sent_at)
    if call_type == "identify":
        return _identify(call)
    if call_type == "track":
        return _track(call)
    if call_type == "alias":  # links previousId to userId: an identity statement, nothing more
        return [call.event(EventType.CUSTOMER_IDENTIFIED, {})]
    if call_type == "group":  # B2B accounts: kept as a custom event until Emma models accounts
        group = {"group_id": text(message.get("groupId")), "traits": obj(message.get("traits"), "traits")}
        return [call.event(EventType.CUSTOM, {"name": "group", "properties": group})]
    return [call.event(EventType.PAGE_VIEWED, _page_props(call, message))]


# ---- one call --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    """What every event of one call shares."""

    env: Envelope
    occurred_at: datetime
    customer: dict[str, Any]
    context: dict[str, Any]  # the message's context over the batch's, as sent
    properties: dict[str, Any]
    traits: dict[str, Any]  # identify: traits over context.traits; otherwise context.traits

    def event(self, type_: EventType, properties: dict[str, Any], suffix: str = "") -> CanonicalEvent:
        return make_event(
            self.env,
            type_,
            occurred_at=self.occurred_at,
            customer=self.customer,
            properties=_without_none(properties),
            context=_kept_context(self.context),
            suffix=suffix,
        )


def _read_call(
    shop: str,
    call_type: str,
    message: dict[str, Any],
    received_at: datetime,
    batch_context: dict[str, Any],
    batch_sent_at: datetime | None,
) -> _Call:
    user_id, anonymous_id = _identity(message, "userId"), _identity(message, "anonymousId")
    if call_type == "alias":
        anonymous_id = _identity(message, "previousId")
        if not (user_id and anonymous_id):
            raise InvalidPayload("alias: previousId and userId are required")
    if not (user_id or anonymous_id):
        raise InvalidPayload("anonymousId or userId is required")
    context = _merge(batch_context, obj(message.get("context"), "context"))
    traits = obj(context.get("traits"), "context.traits")
    if call_type == "identify":
        traits = {**traits, **obj(message.get("traits"), "traits")}
    properties = obj(message.get("properties"), "properties")
    name = call_type
    if call_type == "track":
        name = text(message.get("event")) or ""
        if not name.strip():
            raise InvalidPayload("track: event is required")
    env = Envelope(shop, SourceKind.TRACKER, name, _message_id(message), received_at)
    customer = {
        "customer_id": user_id,
        "anonymous_id": anonymous_id,
        # A track call's properties.email is usually someone else's (a shared product, a referral);
        # only the e-commerce events where the caller is the buyer name the caller by it.
        "email": text(traits.get("email"))
        or (text(properties.get("email")) if _is_buyer_event(call_type, message) else None),
    }
    occurred_at = _occurred_at(message, received_at, batch_sent_at)
    return _Call(env, occurred_at, customer, context, properties, traits)


def _identity(message: dict[str, Any], key: str) -> str | None:
    """Ids are strings or integers; true/false or objects would merge unrelated visitors."""
    value = message.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidPayload(f"{key}: expected a string or an integer, got {type(value).__name__}")
    return str(value)


_BUYER_EVENTS = frozenset({"order completed", "checkout started", "signed up", "order cancelled", "order refunded"})


def _is_buyer_event(call_type: str, message: dict[str, Any]) -> bool:
    name = message.get("event")
    return (
        call_type == "track"
        and isinstance(name, str)
        and " ".join(name.replace("_", " ").lower().split()) in (_BUYER_EVENTS)
    )


def _message_id(message: dict[str, Any]) -> str:
    message_id = text(message.get("messageId"))
    if message_id is None:
        unsigned = {k: v for k, v in message.items() if k not in ("sentAt", "writeKey")}
        return "sha256:" + hashlib.sha256(_canonical_json(unsigned)).hexdigest()
    if len(message_id) > MAX_MESSAGE_ID_CHARS:
        raise InvalidPayload(f"messageId is longer than {MAX_MESSAGE_ID_CHARS} characters")
    return message_id


def _occurred_at(message: dict[str, Any], received_at: datetime, batch_sent_at: datetime | None) -> datetime:
    client_time = timestamp(message.get("timestamp"), "timestamp") or timestamp(
        message.get("originalTimestamp"), "originalTimestamp"
    )
    sent_at = timestamp(message.get("sentAt"), "sentAt") or batch_sent_at
    if client_time is None:
        return received_at
    if sent_at is not None:
        try:
            client_time += received_at - sent_at
        except OverflowError:
            raise InvalidPayload("timestamp and sentAt are too far apart to correct the clock skew") from None
    return min(client_time, received_at)


def _kept_context(context: dict[str, Any]) -> dict[str, Any]:
    page = obj(context.get("page"), "context.page")
    campaign = obj(context.get("campaign"), "context.campaign")
    kept = {
        "ip": text(context.get("ip")),
        "user_agent": text(context.get("userAgent")),
        "locale": text(context.get("locale")),
        "timezone": text(context.get("timezone")),
        "page_url": text(page.get("url")),
        **{key: text(campaign.get(field)) for key, field in _UTM_KEYS.items()},
    }
    return {key: value for key, value in kept.items() if value is not None}


# ---- identify and customers ------------------------------------------------------------------


def _identify(call: _Call) -> list[CanonicalEvent]:
    props = _customer_props(call.traits, call.context)
    return [
        call.event(EventType.CUSTOMER_IDENTIFIED, props),
        *_consent_events(call, call.traits, "tracker:identify"),
    ]


def _customer_props(traits: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    address = traits.get("address")
    address = address if isinstance(address, dict) else {}
    return {
        "first_name": text(_first(traits, "firstName", "first_name")),
        "last_name": text(_first(traits, "lastName", "last_name")),
        "phone": text(traits.get("phone")),
        "locale": text(traits.get("locale") or context.get("locale")),
        "timezone": text(traits.get("timezone") or context.get("timezone")),
        "country": text(address.get("country")),
        "city": text(address.get("city")),
        "traits": {k: v for k, v in traits.items() if k not in _TRAITS_NOT_KEPT},
    }


def _consent_events(call: _Call, traits: dict[str, Any], source: str) -> list[CanonicalEvent]:
    given = obj(call.context.get("consent"), "context.consent")
    events = []
    for channel, trait in _CONSENT_TRAITS.items():
        entry = obj(given.get(channel), f"context.consent.{channel}")
        granted = entry.get("granted", traits.get(trait))
        if granted is None:
            continue
        double_opt_in = entry.get("double_opt_in", False)
        if not isinstance(granted, bool) or not isinstance(double_opt_in, bool):
            raise InvalidPayload(f"{channel} consent: granted and double_opt_in must be true or false")
        proof = {
            "source": source,
            "at": call.occurred_at,
            "wording": text(entry.get("wording")),
            "double_opt_in": double_opt_in,
            "ip": text(call.context.get("ip")),
        }
        props = {"channel": channel, "granted": granted, "proof": proof}
        events.append(call.event(EventType.CONSENT_CHANGED, props, suffix=f":consent:{channel}"))
    return events


# ---- page and screen -------------------------------------------------------------------------


def _page_props(call: _Call, message: dict[str, Any]) -> dict[str, Any]:
    page = obj(call.context.get("page"), "context.page")
    props = call.properties

    def pick(key: str) -> str | None:
        return text(props.get(key)) or text(page.get(key))

    return {
        "url": pick("url"),
        "path": pick("path"),
        "title": pick("title"),
        "referrer": pick("referrer"),
        "name": text(message.get("name") or props.get("name")),
        "category": text(message.get("category") or props.get("category")),
    }


# ---- track -----------------------------------------------------------------------------------


def _track(call: _Call) -> list[CanonicalEvent]:
    name = call.env.name
    known = _TRACK.get(" ".join(name.replace("_", " ").lower().split()))
    if known is None:
        return [call.event(EventType.CUSTOM, {"name": name, "properties": call.properties})]
    type_, build = known
    events = [call.event(type_, build(call))]
    if type_ is EventType.CUSTOMER_REGISTERED:
        events += _consent_events(call, {**call.traits, **call.properties}, f"tracker:{name}")
    return events


def _product_viewed(call: _Call) -> dict[str, Any]:
    p = call.properties
    product = {
        "product_id": _product_id(p),
        "sku": text(p.get("sku")),
        "name": text(p.get("name")),
        "category": text(p.get("category")),
        "brand": text(p.get("brand")),
        "price": money(p.get("price"), "price"),
        "currency": _currency(p),
        "url": text(p.get("url")),
    }
    return {"product": _without_none(product)}


def _products_searched(call: _Call) -> dict[str, Any]:
    return {"query": text(call.properties.get("query")), "category": text(call.properties.get("category"))}


_CART_ACTIONS = {"product added": "add", "product removed": "remove"}


def _cart(call: _Call) -> dict[str, Any]:
    p = call.properties
    return {
        "action": _CART_ACTIONS.get(" ".join(call.env.name.replace("_", " ").lower().split()), "replace"),
        "cart_id": text(p.get("cart_id")),
        "items": _line_items(p),
        "value": money(_first(p, "value", "revenue", "total"), "value"),
        "currency": _currency(p),
    }


def _checkout_started(call: _Call) -> dict[str, Any]:
    return {**_cart(call), "cart_id": text(_first(call.properties, "order_id", "checkout_id", "cart_id"))}


def _order(call: _Call) -> dict[str, Any]:
    p = call.properties
    coupon = text(p.get("coupon"))
    return {
        "order_id": text(p.get("order_id")),
        "total": money(_first(p, "total", "revenue", "value"), "total"),
        "currency": _currency(p) or DEFAULT_CURRENCY,
        "subtotal": money(p.get("subtotal"), "subtotal"),
        "discount_total": money(p.get("discount"), "discount"),
        "items": _line_items(p),
        "discount_codes": [coupon] if coupon else [],
    }


def _coupon_applied(call: _Call) -> dict[str, Any]:
    p = call.properties
    return {
        "code": text(_first(p, "coupon_id", "coupon_name", "coupon")),
        "order_id": text(p.get("order_id")),
        "amount": money(p.get("discount"), "discount"),
        "currency": _currency(p),
    }


def _signed_up(call: _Call) -> dict[str, Any]:
    return _customer_props({**call.traits, **call.properties}, call.context)


def _product_reviewed(call: _Call) -> dict[str, Any]:
    return {"product_id": text(call.properties.get("product_id")), "rating": call.properties.get("rating")}


def _push(call: _Call) -> dict[str, Any]:
    p = call.properties
    return {key: text(p.get(key)) for key in ("message_id", "journey", "template", "url")}


def _tutorial_watched(call: _Call) -> dict[str, Any]:
    p = call.properties
    return {
        "tutorial_id": text(p.get("tutorial_id")),
        "topic": text(p.get("topic")),
        "product_id": text(p.get("product_id")),
        "category": text(p.get("category")),
        "completion": p.get("completion"),
    }


def _survey_answered(call: _Call) -> dict[str, Any]:
    p = call.properties
    return {"survey_id": text(p.get("survey_id")), "score": p.get("score"), "answers": p.get("answers")}


def _referral_made(call: _Call) -> dict[str, Any]:
    referred_email = text(call.properties.get("referred_email"))
    return {
        "referral_code": text(call.properties.get("referral_code")),
        "referred_email": referred_email.strip().lower() if referred_email else None,
    }


_Builder = Callable[[_Call], dict[str, Any]]
_TRACK: dict[str, tuple[EventType, _Builder]] = {
    "product viewed": (EventType.PRODUCT_VIEWED, _product_viewed),
    "products searched": (EventType.SEARCH_PERFORMED, _products_searched),
    "product added": (EventType.CART_UPDATED, _cart),
    "product removed": (EventType.CART_UPDATED, _cart),
    "cart viewed": (EventType.CART_UPDATED, _cart),
    "checkout started": (EventType.CHECKOUT_STARTED, _checkout_started),
    "order completed": (EventType.ORDER_PLACED, _order),
    "order cancelled": (EventType.ORDER_CANCELLED, _order),
    "order refunded": (EventType.ORDER_CANCELLED, _order),
    "coupon applied": (EventType.COUPON_REDEEMED, _coupon_applied),
    "signed up": (EventType.CUSTOMER_REGISTERED, _signed_up),
    "product reviewed": (EventType.REVIEW_SUBMITTED, _product_reviewed),
    "tutorial watched": (EventType.TUTORIAL_WATCHED, _tutorial_watched),
    "survey answered": (EventType.SURVEY_ANSWERED, _survey_answered),
    "referral made": (EventType.REFERRAL_MADE, _referral_made),
    "push opened": (EventType.PUSH_CLICKED, _push),
    "push notification tapped": (EventType.PUSH_CLICKED, _push),
    "push notification received": (EventType.PUSH_DELIVERED, _push),
}


# ---- products --------------------------------------------------------------------------------


def _line_items(properties: dict[str, Any]) -> list[dict[str, Any]]:
    """``products[]``, or the single product at the top level (Product Added / Removed)."""
    products = properties.get("products")
    if products is None:
        return [_line_item(properties, "properties")] if _product_id(properties) else []
    if not isinstance(products, list):
        raise InvalidPayload(f"properties.products: expected a list, got {type(products).__name__}")
    return [_line_item(obj(product, f"products[{i}]"), f"products[{i}]") for i, product in enumerate(products)]


def _line_item(product: dict[str, Any], where: str) -> dict[str, Any]:
    item = {
        "product_id": _product_id(product),
        "sku": text(product.get("sku")),
        "name": text(product.get("name")),
        "category": text(product.get("category")),
        "brand": text(product.get("brand")),
        "quantity": product.get("quantity"),
        "price": money(product.get("price"), f"{where}.price"),
    }
    return _without_none(item)


def _product_id(product: dict[str, Any]) -> str | None:
    return text(_first(product, "product_id", "id", "sku"))


def _currency(properties: dict[str, Any]) -> str | None:
    currency = text(properties.get("currency"))
    return currency.strip().upper() if currency else None


# ---- small helpers ---------------------------------------------------------------------------


def _merge(under: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of two JSON objects; ``over`` wins."""
    merged = dict(under)
    for key, value in over.items():
        below = merged.get(key)
        merged[key] = _merge(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return merged


def _first(values: dict[str, Any], *keys: str) -> Any:
    """The first of ``keys`` with a value (0 and False count)."""
    return next((values[key] for key in keys if values.get(key) not in (None, "")), None)


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _canonical_json(value: Any) -> bytes:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidPayload(f"message has text that is not valid Unicode ({exc.reason})") from exc
