"""WooCommerce webhooks -> canonical events.

WooCommerce signs the raw body (base64 HMAC-SHA256 in ``X-WC-Webhook-Signature``) and names the
topic and the delivery in headers; the body is the REST API (wc/v3) representation of the resource.
Dates ending in ``_gmt`` carry no offset: they are UTC (``common.timestamp`` reads naive times so).

WooCommerce has no standard marketing-consent field; newsletter plugins keep it in ``meta_data``
under one of ``CONSENT_META_KEYS``.

The webhook body of order.* and customer.* is exactly the REST representation of the resource (the
API documentation's examples map as they are). An order.created whose status already says it will
not be paid (cancelled, refunded, failed) maps to ``order.cancelled``, never to ``order.placed``; a
checkout draft (``checkout-draft``, the block checkout's order before it is placed) records nothing:
its later order.updated deliveries say what became of it.

Refunds: the status ``refunded`` means the whole order was refunded: ``order.cancelled``. A partial
refund leaves the status as it was and is listed in the order's ``refunds`` (``{id, reason, total}``,
the total negative): each becomes an ``order.refunded`` beside the order's event (id suffix
``:refund:<id>``, no products: WooCommerce's order does not say which lines a refund took), and the
profile applies each refund once however many deliveries repeat it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from emma.errors import InvalidPayload
from emma.events.model import CanonicalEvent, Channel, EventType, SourceKind
from emma.sources import signatures
from emma.sources.common import (
    Envelope,
    coupon_events,
    ident,
    make_event,
    money,
    obj,
    objects,
    quantity,
    required,
    route_delivery,
    text,
    timestamp,
)

SIGNATURE_HEADER = "x-wc-webhook-signature"
TOPIC_HEADER = "x-wc-webhook-topic"
DELIVERY_HEADER = "x-wc-webhook-delivery-id"

# Checked in this order; the first key present decides.
CONSENT_META_KEYS = ("_emma_email_consent", "mailpoet_subscribed", "_wc_newsletter_optin")
# Compared with str(value).lower(), so true/1/"yes" grant and false/0/"no" withdraw; other values
# (empty, "pending", ...) say nothing.
_CONSENT_VALUES = {"yes": True, "1": True, "true": True, "no": False, "0": False, "false": False}

# order.updated: status -> (event type, the date field telling when the status was reached).
# Other statuses (pending, on-hold, failed, checkout-draft) record nothing.
_STATUS_EVENTS: dict[str, tuple[EventType, str | None]] = {
    "processing": (EventType.ORDER_PAID, "date_paid_gmt"),
    "completed": (EventType.ORDER_FULFILLED, "date_completed_gmt"),
    "cancelled": (EventType.ORDER_CANCELLED, None),
    "refunded": (EventType.ORDER_CANCELLED, None),
    "failed": (EventType.ORDER_CANCELLED, None),  # payment failed: the order placed earlier does not count
}

# order.created: statuses of an order that will not be paid (recorded as cancelled), and of one not placed yet.
_CANCELLED_AT_CREATION = frozenset({"cancelled", "refunded", "failed"})
_NOT_PLACED = frozenset({"checkout-draft", "auto-draft", "draft"})

_MONEY_PLACES = Decimal("0.0001")  # as common.money
_BRAND_ATTRIBUTES = frozenset({"brand", "pa_brand", "marke", "pa_marke"})
_STOCK_STATUSES = {"instock": True, "outofstock": False, "onbackorder": False}


class _Coupon(NamedTuple):
    code: str
    amount: Decimal | None


# ---- the interface every source module exposes ----------------------------------------------


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Raise InvalidSignature unless the body was signed with the webhook's secret."""
    signatures.verify_base64(secret, body, headers.get(SIGNATURE_HEADER), SIGNATURE_HEADER)


def is_ping(body: bytes) -> bool:
    """True for the form-encoded ``webhook_id=<n>`` WooCommerce posts once when a webhook is saved.

    Answer it with 200 and store nothing; it is signed like any delivery, so verify it first.
    """
    try:
        fields = parse_qs(body.decode("ascii"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return False
    return list(fields) == ["webhook_id"] and fields["webhook_id"][0].isdigit()


def delivery_of(headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
    """(topic, delivery id). WooCommerce's X-WC-Webhook-Delivery-ID is a hash of the webhook id and
    the current second, so two orders in one second share it; the body's hash makes it unique,
    and a retry of the same delivery (same body) keeps the same id."""
    delivery = _header(headers, DELIVERY_HEADER)
    return _header(headers, TOPIC_HEADER), f"{delivery}:{hashlib.sha256(body).hexdigest()[:16]}"


def map_delivery(
    shop: str, topic: str, delivery_id: str, payload: dict[str, Any], received_at: datetime
) -> list[CanonicalEvent]:
    """Map one webhook delivery; an empty list is a valid delivery with nothing to record."""
    mapper, env = route_delivery(_MAPPERS, SourceKind.WOOCOMMERCE, shop, topic, delivery_id, received_at, "topic")
    return mapper(env, payload)


# ---- payload access ---------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str:
    value = (headers.get(name) or "").strip()
    if not value:
        raise InvalidPayload(f"missing {name} header")
    return value


def _id(value: Any, field: str = "id") -> str | None:
    """WooCommerce uses 0 for "none" (guest customer, no variation, deleted product)."""
    found = ident(value, field)
    return None if found == "0" else found


def _first_time(payload: dict[str, Any], *fields: str | None) -> datetime | None:
    for field in fields:
        if field is not None:
            found = timestamp(payload.get(field), field)
            if found is not None:
                return found
    return None


def _names(value: Any, field: str) -> list[str]:
    """The names of a list of {id, name, slug} terms (categories, tags, brands)."""
    return [name for term in objects(value, field) if (name := text(term.get("name")))]


# ---- consent ----------------------------------------------------------------------------------


def _consent_meta(meta_data: Any) -> bool | None:
    entries = objects(meta_data, "meta_data")
    meta = {entry["key"]: entry.get("value") for entry in entries if isinstance(entry.get("key"), str)}
    for key in CONSENT_META_KEYS:
        if key in meta:
            return _CONSENT_VALUES.get(str(meta[key]).strip().lower())
    return None


def _consents(
    env: Envelope, resource: dict[str, Any], refs: dict[str, Any], occurred_at: datetime | None
) -> list[CanonicalEvent]:
    granted = _consent_meta(resource.get("meta_data"))
    if granted is None:
        return []
    at = occurred_at or env.received_at
    proof = {"source": f"woocommerce:{env.name}", "at": at}
    return [
        make_event(
            env,
            EventType.CONSENT_CHANGED,
            occurred_at=at,
            customer=refs,
            properties={"channel": Channel.EMAIL, "granted": granted, "proof": proof},
            suffix=f":consent:{Channel.EMAIL}",
        )
    ]


# ---- orders -----------------------------------------------------------------------------------


def _unit_price(line: dict[str, Any], i: int, taxes_included: bool) -> Decimal | None:
    """The price of one unit as the shop lists it (before discounts, gross when the shop's prices
    include tax). WooCommerce's own ``price`` is net and after discounts, so it is only a fallback."""
    subtotal = money(line.get("subtotal"), f"line_items[{i}].subtotal")
    count = quantity(line.get("quantity"), f"line_items[{i}].quantity")
    if subtotal is None or count <= 0:
        return money(line.get("price"), f"line_items[{i}].price")
    if taxes_included:
        subtotal += money(line.get("subtotal_tax"), f"line_items[{i}].subtotal_tax") or 0
    return (subtotal / count).quantize(_MONEY_PLACES)


def _line_items(value: Any, taxes_included: bool) -> list[dict[str, Any]]:
    """Line items of products that still exist (a deleted product leaves product_id 0)."""
    items = []
    for i, line in enumerate(objects(value, "line_items")):
        product_id = _id(line.get("product_id"), f"line_items[{i}].product_id")
        if product_id is None:
            continue
        items.append(
            {
                "product_id": product_id,
                "variant_id": _id(line.get("variation_id"), f"line_items[{i}].variation_id"),
                "sku": text(line.get("sku"), limit=512),
                "name": text(line.get("name"), limit=512),
                "quantity": quantity(line.get("quantity"), f"line_items[{i}].quantity"),
                "price": _unit_price(line, i, taxes_included),
            }
        )
    return items


def _coupons_of(order: dict[str, Any]) -> list[_Coupon]:
    return [
        _Coupon(
            required(line.get("code"), f"coupon_lines[{i}].code"),
            money(line.get("discount"), f"coupon_lines[{i}].discount"),
        )
        for i, line in enumerate(objects(order.get("coupon_lines"), "coupon_lines"))
    ]


def _order_refs(order: dict[str, Any]) -> dict[str, Any]:
    billing = obj(order.get("billing"), "billing")
    return {
        "customer_id": _id(order.get("customer_id"), "customer_id"),
        "email": billing.get("email"),
        "phone": billing.get("phone"),
    }


def _order_props(order: dict[str, Any], coupons: list[_Coupon]) -> dict[str, Any]:
    total = money(order.get("total"), "total")
    if total is None:
        raise InvalidPayload("total: required field is missing")
    order_id = _id(order.get("id"))
    if order_id is None:
        raise InvalidPayload("id: required field is missing")
    return {
        "order_id": order_id,
        "order_number": text(order.get("number")),
        "total": total,
        "currency": order.get("currency"),
        "discount_total": money(order.get("discount_total"), "discount_total"),
        "items": _line_items(order.get("line_items"), order.get("prices_include_tax") is True),
        "discount_codes": [c.code for c in coupons],
    }


def _order_event(
    env: Envelope,
    order: dict[str, Any],
    type_: EventType,
    occurred_at: datetime | None,
    refs: dict[str, Any],
    coupons: list[_Coupon],
) -> CanonicalEvent:
    context: dict[str, str | None] = {}
    if type_ is EventType.ORDER_PLACED:  # the buyer's browser at checkout, not whoever changed it later
        context = {
            "ip": text(order.get("customer_ip_address")),
            "user_agent": text(order.get("customer_user_agent")),
        }
    return make_event(
        env,
        type_,
        occurred_at=occurred_at,
        customer=refs,
        properties=_order_props(order, coupons),
        context={k: v for k, v in context.items() if v},
    )


def _order_created(env: Envelope, order: dict[str, Any]) -> list[CanonicalEvent]:
    """ORDER_PLACED, a COUPON_REDEEMED per coupon line and the checkout's newsletter opt-in, if any.
    Created already cancelled, refunded or failed: ORDER_CANCELLED (no coupon redeemed); a checkout
    draft: nothing."""
    status = text(order.get("status"))
    status = status.strip().lower() if status else None
    if status in _NOT_PLACED:
        return []
    occurred_at = _first_time(order, "date_created_gmt")
    refs = _order_refs(order)
    coupons = _coupons_of(order)
    cancelled = status in _CANCELLED_AT_CREATION
    type_ = EventType.ORDER_CANCELLED if cancelled else EventType.ORDER_PLACED
    primary = _order_event(env, order, type_, occurred_at, refs, coupons)
    redeemed = coupon_events(
        env,
        [] if cancelled else [(c.code, c.amount) for c in coupons],
        order_id=text(order.get("id")),
        currency=order.get("currency"),
        customer=refs,
        occurred_at=occurred_at,
    )
    refunds = [] if cancelled else _refunds(env, order, primary.properties.order_id, refs)
    return [primary, *refunds, *redeemed, *_consents(env, order, refs, occurred_at)]


def _order_changed(
    env: Envelope, order: dict[str, Any], type_: EventType, *time_fields: str | None
) -> list[CanonicalEvent]:
    occurred_at = _first_time(order, *time_fields, "date_modified_gmt")
    refs = _order_refs(order)
    primary = _order_event(env, order, type_, occurred_at, refs, _coupons_of(order))
    if type_ is EventType.ORDER_CANCELLED:  # the cancellation covers its refunds
        return [primary]
    return [primary, *_refunds(env, order, primary.properties.order_id, refs)]


def _refunds(env: Envelope, order: dict[str, Any], order_id: str, refs: dict[str, Any]) -> list[CanonicalEvent]:
    """One ``order.refunded`` per entry of ``refunds`` (WooCommerce lists a refund's total as a
    negative amount; its size is refunded). The refund's own time is not in the order: the order's
    last change stands in."""
    occurred_at = _first_time(order, "date_modified_gmt", "date_created_gmt")
    events = []
    for i, refund in enumerate(objects(order.get("refunds"), "refunds")):
        refund_id = _id(refund.get("id"), f"refunds[{i}].id")
        if refund_id is None:
            raise InvalidPayload(f"refunds[{i}].id: required field is missing")
        amount = money(refund.get("total"), f"refunds[{i}].total")
        if not amount:
            continue  # nothing given back
        events.append(
            make_event(
                env,
                EventType.ORDER_REFUNDED,
                occurred_at=occurred_at,
                customer=refs,
                properties={
                    "order_id": order_id,
                    "refund_id": refund_id,
                    "amount": abs(amount),
                    "currency": order.get("currency"),
                },
                suffix=f":refund:{refund_id}",
            )
        )
    return events


def _order_updated(env: Envelope, order: dict[str, Any]) -> list[CanonicalEvent]:
    """The status says what happened; statuses on the way (pending, on-hold, failed) record nothing."""
    status = required(order.get("status"), "status")
    if status not in _STATUS_EVENTS:
        return []
    type_, date_field = _STATUS_EVENTS[status]
    return _order_changed(env, order, type_, date_field)


def _order_deleted(env: Envelope, order: dict[str, Any]) -> list[CanonicalEvent]:
    """WooCommerce sends only {"id": n} for a deleted (or trashed) order: no total, currency or
    customer an ORDER_CANCELLED could carry, so such a delivery records nothing. A full order (a
    plugin may filter the payload) is mapped."""
    required(order.get("id"), "id")
    if set(order) == {"id"}:
        return []
    return _order_changed(env, order, EventType.ORDER_CANCELLED)


# ---- customers --------------------------------------------------------------------------------


def _customer(env: Envelope, customer: dict[str, Any]) -> list[CanonicalEvent]:
    registered = env.name == "customer.created"
    occurred_at = (
        _first_time(customer, "date_created_gmt")
        if registered
        else _first_time(customer, "date_modified_gmt", "date_created_gmt")
    )
    billing = obj(customer.get("billing"), "billing")
    refs = {
        "customer_id": required(_id(customer.get("id")), "id"),
        "email": customer.get("email") or billing.get("email"),
        "phone": billing.get("phone"),
    }
    traits = {
        "is_paying_customer": customer.get("is_paying_customer"),
        "username": text(customer.get("username")),
    }
    properties = {
        "first_name": text(customer.get("first_name") or billing.get("first_name")),
        "last_name": text(customer.get("last_name") or billing.get("last_name")),
        "phone": text(billing.get("phone")),
        "country": text(billing.get("country")),
        "city": text(billing.get("city")),
        "traits": {k: v for k, v in traits.items() if v is not None},
    }
    primary = make_event(
        env,
        EventType.CUSTOMER_REGISTERED if registered else EventType.CUSTOMER_UPDATED,
        occurred_at=occurred_at,
        customer=refs,
        properties=properties,
    )
    return [primary, *_consents(env, customer, refs, occurred_at)]


# ---- catalog ----------------------------------------------------------------------------------


def _brand(product: dict[str, Any]) -> str | None:
    """WooCommerce 9.6+ has product brands; older shops use a "Brand" (pa_brand) attribute."""
    brands = _names(product.get("brands"), "brands")
    if brands:
        return brands[0]
    for i, attribute in enumerate(objects(product.get("attributes"), "attributes")):
        names = {str(attribute.get(k) or "").lower() for k in ("name", "slug")}
        options = attribute.get("options")
        if names & _BRAND_ATTRIBUTES and options:
            if not isinstance(options, list):
                raise InvalidPayload(f"attributes[{i}].options: expected a list, got {type(options).__name__}")
            return text(options[0])
    return None


def _product(env: Envelope, product: dict[str, Any]) -> list[CanonicalEvent]:
    categories = _names(product.get("categories"), "categories")
    variations = product.get("variations") or []
    if not isinstance(variations, list):
        raise InvalidPayload(f"variations: expected a list, got {type(variations).__name__}")
    info = {
        "product_id": required(_id(product.get("id")), "id"),
        "sku": text(product.get("sku"), limit=512),
        "name": text(product.get("name"), limit=512),
        "category": categories[0] if categories else None,
        "brand": _brand(product),
        "price": money(product.get("price"), "price"),
        "url": text(product.get("permalink")),
        "in_stock": _STOCK_STATUSES.get(str(product.get("stock_status"))),
        "tags": _names(product.get("tags"), "tags"),
    }
    return [
        make_event(
            env,
            EventType.PRODUCT_UPSERTED,
            occurred_at=_first_time(product, "date_modified_gmt", "date_created_gmt"),
            properties={"product": info, "variants": [text(v) for v in variations]},
        )
    ]


_MAPPERS: dict[str, Callable[[Envelope, dict[str, Any]], list[CanonicalEvent]]] = {
    "order.created": _order_created,
    "order.updated": _order_updated,
    "order.deleted": _order_deleted,
    "customer.created": _customer,
    "customer.updated": _customer,
    "product.created": _product,
    "product.updated": _product,
}

TOPICS: frozenset[str] = frozenset(_MAPPERS)
