"""Shopware 6 app webhooks -> canonical events.

Shopware signs the raw body with the app secret (lowercase hex HMAC-SHA256 in
``shopware-shop-signature``). Everything else is in the body::

    {"data": {"payload": ..., "event": "checkout.order.placed"},
     "source": {"url": ..., "appVersion": ..., "shopId": ..., "eventId": ...},
     "timestamp": 1700000000}

so ``map_delivery`` takes that whole body as its payload. ``data.payload`` holds the entities
(``{"order": {...}}``, ``{"customer": {...}}``) or, for ``*.written`` events, a list of write results
(``{"entity", "operation", "primaryKey", "updatedFields"}``) that name the record but carry no data.

A body without ``data.event`` is not an app webhook (a payment app's pay request, say, which carries
``source``, ``orderTransaction`` and ``order`` at the top): refused with 400 naming what it has.
A ``product.written`` delete marks the product out of stock, so it is never recommended again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from emma.errors import InvalidPayload
from emma.events.model import CanonicalEvent, Channel, EventType, SourceKind
from emma.sources import signatures
from emma.sources.common import (
    Envelope,
    load_json_object,
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

SIGNATURE_HEADER = "shopware-shop-signature"

_ORDER_EVENTS = {
    "checkout.order.placed": EventType.ORDER_PLACED,
    "state_enter.order_transaction.state.paid": EventType.ORDER_PAID,
    "state_enter.order.state.cancelled": EventType.ORDER_CANCELLED,
    "state_enter.order_delivery.state.shipped": EventType.ORDER_FULFILLED,
}
# State-machine events carry the order itself or the transaction / delivery that holds it.
_ORDER_HOLDERS = ("orderTransaction", "orderDelivery")


class _Promotion(NamedTuple):
    code: str | None  # automatic promotions have no code
    amount: Decimal | None


Mapper = Callable[[Envelope, Any, datetime | None], list[CanonicalEvent]]


# ---- the interface every source module exposes ----------------------------------------------


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Raise InvalidSignature unless the body was signed with the app secret of this shop."""
    signatures.verify_hex(secret, body, headers.get(SIGNATURE_HEADER), SIGNATURE_HEADER)


def delivery_of(headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
    """(event name, event id) from the body: data.event and source.eventId."""
    webhook = load_json_object(body, "shopware webhook")
    event = obj(webhook.get("data"), "data").get("event")
    event_id = obj(webhook.get("source"), "source").get("eventId")
    if text(event) is None:
        keys = ", ".join(sorted(str(k)[:40] for k in webhook)[:8]) or "none"
        raise InvalidPayload(
            f"shopware webhook: data.event: required field is missing; this is not an app webhook "
            f"(top-level keys: {keys})"
        )
    return required(event, "data.event"), required(event_id, "source.eventId")


def map_delivery(
    shop: str, topic: str, delivery_id: str, payload: dict[str, Any], received_at: datetime
) -> list[CanonicalEvent]:
    """Map one webhook delivery; ``payload`` is the whole webhook body (see the module docstring)."""
    mapper, env = route_delivery(_MAPPERS, SourceKind.SHOPWARE, shop, topic, delivery_id, received_at, "event")
    sent_at = timestamp(payload.get("timestamp"), "timestamp")
    return mapper(env, obj(payload.get("data"), "data").get("payload"), sent_at)


# ---- payload access ---------------------------------------------------------------------------


# ---- orders -----------------------------------------------------------------------------------


def _find_order(payload: Any) -> dict[str, Any]:
    data = obj(payload, "data.payload")
    if data.get("order") is not None:
        return obj(data["order"], "data.payload.order")
    for holder in _ORDER_HOLDERS:
        order = obj(data.get(holder), f"data.payload.{holder}").get("order")
        if order is not None:
            return obj(order, f"data.payload.{holder}.order")
    raise InvalidPayload("data.payload.order: required field is missing")


def _line_items(order: dict[str, Any]) -> tuple[list[dict[str, Any]], list[_Promotion]]:
    """Product lines as line items, promotion lines (negative prices) as promotions; other lines
    (custom, credit, containers) stay out of the list but are in the total."""
    items: list[dict[str, Any]] = []
    promotions: list[_Promotion] = []
    for i, line in enumerate(objects(order.get("lineItems"), "lineItems")):
        field = f"lineItems[{i}]"
        details = obj(line.get("payload"), f"{field}.payload")
        if line.get("type") == "promotion":
            amount = money(line.get("totalPrice"), f"{field}.totalPrice")
            promotions.append(_Promotion(text(details.get("code")), abs(amount) if amount is not None else None))
            continue
        product_id = text(line.get("productId") or line.get("referencedId"))
        if line.get("type", "product") != "product" or product_id is None:
            continue
        items.append(
            {
                "product_id": product_id,
                "sku": text(details.get("productNumber"), limit=512),
                "name": text(line.get("label"), limit=512),
                "quantity": quantity(line.get("quantity"), f"{field}.quantity"),
                "price": money(line.get("unitPrice"), f"{field}.unitPrice"),
            }
        )
    return items, promotions


def _order_refs(order: dict[str, Any]) -> dict[str, Any]:
    customer = obj(order.get("orderCustomer"), "orderCustomer")
    return {"customer_id": text(customer.get("customerId")), "email": customer.get("email")}


def _order_props(order: dict[str, Any], items: list[dict[str, Any]], promotions: list[_Promotion]) -> dict[str, Any]:
    total = money(order.get("amountTotal"), "amountTotal")
    if total is None:
        total = money(obj(order.get("price"), "price").get("totalPrice"), "price.totalPrice")
    if total is None:
        raise InvalidPayload("amountTotal: required field is missing")
    discounts = [p.amount for p in promotions if p.amount is not None]
    return {
        "order_id": required(order.get("id"), "id"),
        "order_number": text(order.get("orderNumber")),
        "total": total,
        "currency": required(obj(order.get("currency"), "currency").get("isoCode"), "currency.isoCode"),
        "discount_total": sum(discounts, Decimal(0)) if discounts else None,
        "items": items,
        "discount_codes": [p.code for p in promotions if p.code],
    }


def _order(env: Envelope, payload: Any, sent_at: datetime | None) -> list[CanonicalEvent]:
    order = _find_order(payload)
    type_ = _ORDER_EVENTS[env.name]
    placed = type_ is EventType.ORDER_PLACED
    occurred_at = (timestamp(order.get("orderDateTime"), "order.orderDateTime") if placed else None) or sent_at
    items, promotions = _line_items(order)
    refs = _order_refs(order)
    properties = _order_props(order, items, promotions)
    primary = make_event(env, type_, occurred_at=occurred_at, customer=refs, properties=properties)
    if not placed:  # state changes repeat the promotions: count them once
        return [primary]
    coupons = [
        make_event(
            env,
            EventType.COUPON_REDEEMED,
            occurred_at=occurred_at,
            customer=refs,
            properties={
                "code": promotion.code,
                "order_id": properties["order_id"],
                "amount": promotion.amount,
                "currency": properties["currency"],
            },
            suffix=f":coupon:{promotion.code}",
        )
        for promotion in promotions
        if promotion.code
    ]
    return [primary, *coupons]


# ---- customers --------------------------------------------------------------------------------


def _newsletter_consent(
    env: Envelope, customer: dict[str, Any], refs: dict[str, Any], occurred_at: datetime | None
) -> list[CanonicalEvent]:
    """``newsletter: true`` at registration is a grant; false or absent says nothing."""
    newsletter = customer.get("newsletter")
    if newsletter is not None and not isinstance(newsletter, bool):
        raise InvalidPayload(f"customer.newsletter: expected true or false, got {newsletter!r}")
    if not newsletter:
        return []
    at = occurred_at or env.received_at
    return [
        make_event(
            env,
            EventType.CONSENT_CHANGED,
            occurred_at=at,
            customer=refs,
            properties={
                "channel": Channel.EMAIL,
                "granted": True,
                "proof": {"source": f"shopware:{env.name}", "at": at},
            },
            suffix=f":consent:{Channel.EMAIL}",
        )
    ]


def _customer_registered(env: Envelope, payload: Any, sent_at: datetime | None) -> list[CanonicalEvent]:
    customer = obj(obj(payload, "data.payload").get("customer"), "data.payload.customer")
    occurred_at = timestamp(customer.get("createdAt"), "customer.createdAt") or sent_at
    address = obj(customer.get("defaultBillingAddress"), "customer.defaultBillingAddress")
    country = obj(address.get("country"), "customer.defaultBillingAddress.country")
    refs = {
        "customer_id": required(customer.get("id"), "customer.id"),
        "email": customer.get("email"),
        "phone": address.get("phoneNumber"),
    }
    traits = {"customer_number": text(customer.get("customerNumber")), "guest": customer.get("guest")}
    properties = {
        "first_name": text(customer.get("firstName")),
        "last_name": text(customer.get("lastName")),
        "phone": text(address.get("phoneNumber")),
        "country": text(country.get("iso")),
        "city": text(address.get("city")),
        "traits": {k: v for k, v in traits.items() if v is not None},
    }
    primary = make_event(
        env, EventType.CUSTOMER_REGISTERED, occurred_at=occurred_at, customer=refs, properties=properties
    )
    return [primary, *_newsletter_consent(env, customer, refs, occurred_at)]


# ---- *.written: ids only ----------------------------------------------------------------------


class _Write(NamedTuple):
    suffix: str  # none for the first entry, ":<index>" for the others
    primary_key: str
    entry: dict[str, Any]


def _writes(payload: Any, entity: str) -> list[_Write]:
    """The list's entries for ``entity``; the suffix keeps the entry's index in the whole list."""
    writes = []
    for i, entry in enumerate(objects(payload, "data.payload")):
        if entry.get("entity") != entity:
            continue
        key = entry.get("primaryKey")
        if not isinstance(key, str) or not key:
            raise InvalidPayload(f"data.payload[{i}].primaryKey: expected an id string, got {key!r}")
        writes.append(_Write(f":{i}" if i else "", key, entry))
    return writes


def _customer_written(env: Envelope, payload: Any, sent_at: datetime | None) -> list[CanonicalEvent]:
    """One CUSTOMER_UPDATED per written customer; the write names the changed fields only."""
    return [
        make_event(
            env,
            EventType.CUSTOMER_UPDATED,
            occurred_at=sent_at,
            customer={"customer_id": write.primary_key},
            properties={
                "traits": {
                    "operation": text(write.entry.get("operation")),
                    "updated_fields": write.entry.get("updatedFields") or [],
                }
            },
            suffix=write.suffix,
        )
        for write in _writes(payload, "customer")
    ]


def _product_written(env: Envelope, payload: Any, sent_at: datetime | None) -> list[CanonicalEvent]:
    """One PRODUCT_UPSERTED per written product, naming the product only; a deleted product is
    marked out of stock (the catalog keeps what it knew, recommendations leave it out)."""
    return [
        make_event(
            env,
            EventType.PRODUCT_UPSERTED,
            occurred_at=sent_at,
            properties={
                "product": {"product_id": write.primary_key}
                | ({"in_stock": False} if write.entry.get("operation") == "delete" else {})
            },
            suffix=write.suffix,
        )
        for write in _writes(payload, "product")
    ]


_MAPPERS: dict[str, Mapper] = {
    **dict.fromkeys(_ORDER_EVENTS, _order),
    "checkout.customer.register": _customer_registered,
    "customer.written": _customer_written,
    "product.written": _product_written,
}

TOPICS: frozenset[str] = frozenset(_MAPPERS)
