"""Shopify webhooks -> canonical events.

Shopify signs the raw body (base64 HMAC-SHA256 in ``X-Shopify-Hmac-Sha256``) and names the topic and
the delivery in headers; the body is the REST Admin API representation of the resource.

Carts carry no customer at all: their token is the only reference, kept as the anonymous id
``shopify-cart:<token>``. Checkouts and orders repeat that token as ``cart_token``, so they carry the
same anonymous id next to the customer's id and email, which links the cart to the customer's profile.

Ids are exact strings. Shopify's ids exceed 2**53, so a JSON reader that goes through floats rounds
them (Shopify's own documentation examples were scraped that way: ``"id": 820982911946154500`` next to
``"admin_graphql_api_id": "gid://shopify/Order/820982911946154508"``). The GraphQL id keeps every
digit, so where a resource's ``id`` is its gid's number rounded through a float, the gid's number is the
id (orders, customers, products, variants); a cart line's ``key`` (``<variant id>:<hash>``) likewise
keeps its variant id.

Orders: the body is the order as it stands when the webhook fires. An order that already stands
cancelled (``cancelled_at`` set), voided (``financial_status: voided``) or refunded in full
(``financial_status: refunded``) maps to ``order.cancelled`` whatever the topic, never to
``order.placed``/``order.paid``: it never counts as revenue, and the journeys that follow a purchase
do not start for it. A test order (``test: true``) maps as usual with ``test`` set; profiles record it
and never count it. Neither redeems its discount codes. An order that stands partly refunded carries
its refunds (``refunds[]``): each becomes an ``order.refunded`` beside the order's event (id suffix
``:refund:<refund id>``; the amount its successful refund transactions gave back, the products of its
refund line items), and the profile applies each refund once however many topics repeat it.

The mandatory compliance topics (``customers/data_request``, ``customers/redact``, ``shop/redact``)
are verified like any delivery and handed to emma.privacy (``compliance_request``), never mapped into
events; see docs/privacy.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from emma.errors import InvalidPayload, InvalidSignature, UnknownTopic
from emma.events.model import CanonicalEvent, Channel, EventType, SourceKind
from emma.sources import signatures
from emma.sources.common import (
    MAX_EXACT_FLOAT,
    Envelope,
    coupon_events,
    flag,
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

if TYPE_CHECKING:
    from emma.shops import ShopConfig

HMAC_HEADER = "x-shopify-hmac-sha256"
TOPIC_HEADER = "x-shopify-topic"
SHOP_DOMAIN_HEADER = "x-shopify-shop-domain"
# X-Shopify-Webhook-Id stays the same across retries of one delivery; older setups only send the event id.
DELIVERY_HEADERS = ("x-shopify-webhook-id", "x-shopify-event-id")

# Topic -> (event type, payload fields giving the time it happened, first present wins).
_ORDER_TOPICS: dict[str, tuple[EventType, tuple[str, ...]]] = {
    "orders/create": (EventType.ORDER_PLACED, ("created_at",)),
    "orders/paid": (EventType.ORDER_PAID, ("updated_at", "processed_at")),
    "orders/cancelled": (EventType.ORDER_CANCELLED, ("cancelled_at",)),
    "orders/fulfilled": (EventType.ORDER_FULFILLED, ("updated_at",)),
}

# The mandatory compliance webhooks every Shopify app receives (GDPR): not handled yet.
PRIVACY_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})

# The financial statuses of an order that will not count: its payment authorisation was voided (it
# will not be paid), or all of it was refunded.
_NOT_COUNTING = frozenset({"voided", "refunded"})

# gid://shopify/<Resource>/<number>, the GraphQL id Shopify puts in admin_graphql_api_id.
_GID = re.compile(r"gid://shopify/(?P<kind>[A-Za-z]+)/(?P<id>[0-9]+)(?:[?#].*)?")

# Marketing consent states that say something; "pending" (double opt-in not confirmed yet),
# "redacted", "invalid" and states Shopify may add later are neither a grant nor a withdrawal.
_CONSENT_STATES = {"subscribed": True, "not_subscribed": False, "unsubscribed": False}


class _Consent(NamedTuple):
    granted: bool
    at: datetime | None
    double_opt_in: bool  # only ever true for a grant: a withdrawal is not opted into


class _Code(NamedTuple):
    code: str
    amount: Decimal | None


class PrivacyRequestNotHandled(UnknownTopic):
    """A compliance webhook reached the event mapping: the route hands them to emma.privacy first
    (``compliance_request``); this only guards against mapping one into events."""

    code = "privacy_request_not_handled"


@dataclass(frozen=True)
class ComplianceRequest:
    """One of Shopify's mandatory compliance webhooks, as the privacy service takes it."""

    topic: str
    kind: Literal["export", "erase", "erase_shop"]
    refs: tuple[str, ...]  # profile references: cid:<customer id>, email:<address>
    orders: tuple[str, ...]  # orders_to_redact / orders_requested
    request_id: str  # a re-delivery finds the same job


def compliance_request(topic: str, delivery_id: str, payload: dict[str, Any]) -> ComplianceRequest:
    """customers/data_request -> export, customers/redact -> erase, shop/redact -> erase the shop. The
    customer is named by id and email (either may be missing: a guest); InvalidPayload when neither."""
    if topic == "shop/redact":
        return ComplianceRequest(topic, "erase_shop", (), (), f"shop_redact:{delivery_id}")  # a reinstalled shop again
    customer = payload.get("customer")
    customer = customer if isinstance(customer, dict) else {}
    refs: list[str] = []
    cid = customer.get("id")
    if isinstance(cid, int | str) and not isinstance(cid, bool) and str(cid).strip():
        refs.append(f"cid:{str(cid).strip()}")
    email = customer.get("email")
    if isinstance(email, str) and "@" in email:
        refs.append(f"email:{email.strip().lower()}")
    if not refs:
        raise InvalidPayload(f"shopify {topic}: customer.id or customer.email is required")
    field = "orders_requested" if topic == "customers/data_request" else "orders_to_redact"
    orders = tuple(str(o) for o in (payload.get(field) or []) if isinstance(o, int | str) and not isinstance(o, bool))
    if topic == "customers/data_request":
        request = payload.get("data_request")
        request_id = str(request.get("id")) if isinstance(request, dict) and request.get("id") is not None else ""
        return ComplianceRequest(topic, "export", tuple(refs), orders, f"data_request:{request_id or delivery_id}")
    return ComplianceRequest(topic, "erase", tuple(refs), orders, f"redact:{delivery_id}")


# ---- the interface every source module exposes ----------------------------------------------


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Raise InvalidSignature unless the body was signed with the shop's webhook secret."""
    signatures.verify_base64(secret, body, headers.get(HMAC_HEADER), HMAC_HEADER)


def check_shop(shop: ShopConfig, headers: Mapping[str, str]) -> None:
    """One app secret may sign for several shops: a valid signature from another shop's store must not
    land in this one. Raise InvalidSignature if ``X-Shopify-Shop-Domain`` names another store than the
    shop's ``shopify_domain`` (either unset: nothing to compare)."""
    domain = headers.get(SHOP_DOMAIN_HEADER)
    if shop.shopify_domain and domain and domain.lower() != shop.shopify_domain.lower():
        raise InvalidSignature(f"X-Shopify-Shop-Domain {domain!r} is not this shop's store")


def delivery_of(headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
    """(topic, delivery id) from the headers; Shopify puts neither in the body."""
    topic = (headers.get(TOPIC_HEADER) or "").strip()
    if not topic:
        raise InvalidPayload(f"missing {TOPIC_HEADER} header")
    for header in DELIVERY_HEADERS:
        delivery_id = (headers.get(header) or "").strip()
        if delivery_id:
            return topic, delivery_id
    raise InvalidPayload(f"missing {' or '.join(DELIVERY_HEADERS)} header")


def map_delivery(
    shop: str, topic: str, delivery_id: str, payload: dict[str, Any], received_at: datetime
) -> list[CanonicalEvent]:
    """Map one webhook delivery; the first event is the primary one, the others carry id suffixes."""
    if topic in PRIVACY_TOPICS:
        raise PrivacyRequestNotHandled(
            f"shopify {topic}: privacy requests ({', '.join(sorted(PRIVACY_TOPICS))}) are not yet handled "
            "by Emma; nothing was stored"
        )
    mapper, env = route_delivery(_MAPPERS, SourceKind.SHOPIFY, shop, topic, delivery_id, received_at, "topic")
    return mapper(env, payload)


# ---- payload access ---------------------------------------------------------------------------


def _first_time(payload: dict[str, Any], fields: tuple[str, ...]) -> datetime | None:
    for field in fields:
        found = timestamp(payload.get(field), field)
        if found is not None:
            return found
    return None


def _tags(value: Any) -> list[str]:
    """Shopify sends tags as one comma-separated string."""
    if value is None:
        return []
    if not isinstance(value, str):
        raise InvalidPayload(f"tags: expected a comma-separated string, got {type(value).__name__}")
    return [tag.strip() for tag in value.split(",") if tag.strip()]


def _cart_anonymous_id(token: Any) -> str | None:
    found = text(token)
    return f"shopify-cart:{found}" if found else None


def _gid(value: Any, kind: str) -> str | None:
    """The number of ``gid://shopify/<kind>/<number>``; None for anything else (another resource's
    gid, a URL, an anonymised placeholder)."""
    if not isinstance(value, str):
        return None
    found = _GID.fullmatch(value.strip())
    return found["id"] if found and found["kind"] == kind else None


def _resource_id(resource: dict[str, Any], kind: str, field: str = "id", path: str = "") -> str | None:
    """A resource's exact id: its ``field`` as sent (an integer or a string), unless that is the number
    of its admin_graphql_api_id (naming a ``kind``) after a trip through a float: then the gid's
    number. Without a ``field``, the gid's number."""
    gid = _gid(resource.get("admin_graphql_api_id"), kind)
    sent = ident(resource.get(field), f"{path}{field}")
    if gid and sent and sent.isdigit() and _rounded_alike(gid, sent):
        return gid
    return sent or gid


def _rounded_alike(exact: str, sent: str) -> bool:
    """True when ``sent`` is ``exact`` after a trip through a 64-bit float (both digit strings)."""
    return int(sent) >= MAX_EXACT_FLOAT and float(int(exact)) == float(int(sent))


def _variant_id(line: dict[str, Any], field: str) -> str | None:
    """A line's variant id; a cart or checkout line's ``key`` starts with the exact variant id
    (``704912205188288575:3abd...``), which wins over a ``variant_id`` that lost digits."""
    variant = ident(line.get("variant_id"), f"{field}.variant_id")
    key = line.get("key")
    if variant and variant.isdigit() and isinstance(key, str):
        prefix = key.partition(":")[0]
        if prefix.isdigit() and prefix != variant and _rounded_alike(prefix, variant):
            return prefix
    return variant


def _line_items(value: Any) -> list[dict[str, Any]]:
    """Line items with a product; custom items (gift wrap, fees, a protection plan) have none and stay
    out of the list (their amounts are still in the order total). Product ids come as integers or
    strings, prices as strings or numbers, quantities as integers or strings."""
    items = []
    for i, line in enumerate(objects(value, "line_items")):
        field = f"line_items[{i}]"
        product_id = ident(line.get("product_id"), f"{field}.product_id")
        if product_id is None:
            continue
        price = line.get("price")
        if price is None or price == "":
            price = line.get("original_price")
        items.append(
            {
                "product_id": product_id,
                "variant_id": _variant_id(line, field),
                "sku": text(line.get("sku"), limit=512),
                "name": text(line.get("title") or line.get("name"), limit=512),
                "brand": text(line.get("vendor"), limit=512),
                "quantity": quantity(line.get("quantity"), f"{field}.quantity"),
                "price": money(price, f"{field}.price"),
            }
        )
    return items


# ---- consent ----------------------------------------------------------------------------------


def _marketing_consent(value: Any, field: str) -> _Consent | None:
    consent = obj(value, field)
    state = consent.get("state")
    if state is not None and not isinstance(state, str):
        raise InvalidPayload(f"{field}.state: expected a string, got {type(state).__name__}")
    state = state.strip().lower() if state else None  # REST sends "subscribed", GraphQL "SUBSCRIBED"
    granted = _CONSENT_STATES.get(state) if state else None
    if granted is None:
        return None
    updated_at = timestamp(consent.get("consent_updated_at"), f"{field}.consent_updated_at")
    if state == "not_subscribed" and updated_at is None:
        # "Never subscribed", undated: every order repeats it, and stamped with the order's time it
        # would override consent the customer gave elsewhere (Emma forms, the tracker). Not a statement.
        return None
    return _Consent(
        granted,
        updated_at,
        granted and consent.get("opt_in_level") == "confirmed_opt_in",
    )


def _legacy_email_consent(customer: dict[str, Any]) -> _Consent | None:
    """API versions before 2022-04: accepts_marketing (bool) and accepts_marketing_updated_at."""
    accepts = customer.get("accepts_marketing")
    if accepts is None:
        return None
    if not isinstance(accepts, bool):
        raise InvalidPayload(f"accepts_marketing: expected true or false, got {accepts!r}")
    return _Consent(
        accepts,
        timestamp(customer.get("accepts_marketing_updated_at"), "accepts_marketing_updated_at"),
        accepts and customer.get("marketing_opt_in_level") == "confirmed_opt_in",
    )


def _consents(
    env: Envelope, customer: dict[str, Any], refs: dict[str, Any], occurred_at: datetime | None
) -> list[CanonicalEvent]:
    """One CONSENT_CHANGED per channel whose state says granted or withdrawn. From API version
    2025-01 customer payloads carry no consent: the consent topics below bring it."""
    by_channel = {
        Channel.EMAIL: (
            _marketing_consent(customer["email_marketing_consent"], "email_marketing_consent")
            if "email_marketing_consent" in customer
            else _legacy_email_consent(customer)
        ),
        Channel.SMS: _marketing_consent(customer.get("sms_marketing_consent"), "sms_marketing_consent"),
    }
    return _consent_events(env, by_channel, refs, occurred_at)


def _consent_events(
    env: Envelope, by_channel: dict[Channel, _Consent | None], refs: dict[str, Any], occurred_at: datetime | None
) -> list[CanonicalEvent]:
    events = []
    for channel, consent in by_channel.items():
        if consent is None:
            continue
        at = consent.at or occurred_at or env.received_at
        events.append(
            make_event(
                env,
                EventType.CONSENT_CHANGED,
                occurred_at=at,
                customer=refs,
                properties={
                    "channel": channel,
                    "granted": consent.granted,
                    "proof": {
                        "source": f"shopify:{env.name}",
                        "at": at,
                        "double_opt_in": consent.double_opt_in,
                    },
                },
                suffix=f":consent:{channel}",
            )
        )
    return events


def _consent_update(
    env: Envelope, refs: dict[str, Any], channel: Channel, consent: _Consent | None
) -> list[CanonicalEvent]:
    if not (refs.get("customer_id") or refs.get("email")):
        raise InvalidPayload(f"shopify {env.name}: names no customer (no customer id and no address)")
    return _consent_events(env, {channel: consent}, refs, None)


def _email_consent_update(env: Envelope, payload: dict[str, Any]) -> list[CanonicalEvent]:
    """customers_email_marketing_consent/update: ``{customer_id, email_address, email_marketing_consent}``.
    A state that says neither granted nor withdrawn (pending, redacted, null) records nothing."""
    refs = {
        "customer_id": ident(payload.get("customer_id"), "customer_id"),
        "email": payload.get("email_address"),
    }
    consent = _marketing_consent(payload.get("email_marketing_consent"), "email_marketing_consent")
    return _consent_update(env, refs, Channel.EMAIL, consent)


def _sms_consent_update(env: Envelope, payload: dict[str, Any]) -> list[CanonicalEvent]:
    """customers_marketing_consent/update (SMS): ``{id, phone, sms_marketing_consent}``; the phone is
    the number the consent is about. A state that says nothing (null, pending) records nothing."""
    refs = {"customer_id": _resource_id(payload, "Customer"), "phone": text(payload.get("phone"))}
    consent = _marketing_consent(payload.get("sms_marketing_consent"), "sms_marketing_consent")
    return _consent_update(env, refs, Channel.SMS, consent)


# ---- orders -----------------------------------------------------------------------------------


def _order_refs(order: dict[str, Any], customer: dict[str, Any]) -> dict[str, Any]:
    return {
        "customer_id": _resource_id(customer, "Customer", path="customer."),
        "email": order.get("email") or order.get("contact_email") or customer.get("email"),
        "phone": order.get("phone") or customer.get("phone"),
        "anonymous_id": _cart_anonymous_id(order.get("cart_token")),
    }


def _order_props(order: dict[str, Any], codes: list[_Code]) -> dict[str, Any]:
    total = money(order.get("total_price"), "total_price")
    if total is None:
        raise InvalidPayload("total_price: required field is missing")
    order_id = _resource_id(order, "Order")
    if order_id is None:
        raise InvalidPayload("id: required field is missing")
    return {
        "order_id": order_id,
        "order_number": text(order.get("order_number") or order.get("name")),
        "total": total,
        "currency": order.get("currency"),
        "subtotal": money(order.get("subtotal_price"), "subtotal_price"),
        "discount_total": money(order.get("total_discounts"), "total_discounts"),
        "items": _line_items(order.get("line_items")),
        "discount_codes": [c.code for c in codes],
        "test": flag(order.get("test"), "test") or False,
    }


def _stands_cancelled(order: dict[str, Any]) -> bool:
    """The order is cancelled (``cancelled_at``), its payment was voided (it will not be paid) or it
    was refunded in full."""
    if timestamp(order.get("cancelled_at"), "cancelled_at") is not None:
        return True
    status = order.get("financial_status")
    return isinstance(status, str) and status.strip().lower() in _NOT_COUNTING


def _refunds(env: Envelope, order: dict[str, Any], order_id: str, refs: dict[str, Any]) -> list[CanonicalEvent]:
    """One ``order.refunded`` per refund of the order (``refunds[]``) that gave money back or named
    products: the amount is the sum of its successful ``refund`` transactions (in their currency,
    else the order's), the products those of its ``refund_line_items`` with the quantity refunded."""
    events = []
    for i, refund in enumerate(objects(order.get("refunds"), "refunds")):
        path = f"refunds[{i}]."
        refund_id = _resource_id(refund, "Refund", path=path)
        if refund_id is None:
            raise InvalidPayload(f"{path}id: required field is missing")
        amount, currency = Decimal(0), None
        for j, tx in enumerate(objects(refund.get("transactions"), f"{path}transactions")):
            kind, status = text(tx.get("kind")), text(tx.get("status"))
            if (kind or "").lower() != "refund" or (status or "success").lower() != "success":
                continue
            amount += money(tx.get("amount"), f"{path}transactions[{j}].amount") or Decimal(0)
            currency = currency or (text(tx.get("currency")) or "").strip().upper() or None
        items = []
        for j, line in enumerate(objects(refund.get("refund_line_items"), f"{path}refund_line_items")):
            field = f"{path}refund_line_items[{j}]"
            item = obj(line.get("line_item"), f"{field}.line_item")
            product_id = ident(item.get("product_id"), f"{field}.line_item.product_id")
            if product_id is not None:  # a custom item (a fee, gift wrap) names no product
                items.append(
                    {"product_id": product_id, "quantity": quantity(line.get("quantity"), f"{field}.quantity")}
                )
        if amount == 0 and not items:
            continue  # nothing given back, nothing returned (an adjustment of another kind)
        events.append(
            make_event(
                env,
                EventType.ORDER_REFUNDED,
                occurred_at=_first_time(refund, ("processed_at", "created_at")),
                customer=refs,
                properties={
                    "order_id": order_id,
                    "refund_id": refund_id,
                    "amount": amount,
                    "currency": currency or order.get("currency"),
                    "items": items,
                },
                suffix=f":refund:{refund_id}",
            )
        )
    return events


def _discount_codes(order: dict[str, Any]) -> list[_Code]:
    return [
        _Code(
            required(raw.get("code"), f"discount_codes[{i}].code"),
            money(raw.get("amount"), f"discount_codes[{i}].amount"),
        )
        for i, raw in enumerate(objects(order.get("discount_codes"), "discount_codes"))
    ]


def _order(env: Envelope, order: dict[str, Any]) -> list[CanonicalEvent]:
    type_, time_fields = _ORDER_TOPICS[env.name]
    occurred_at = _first_time(order, time_fields)
    if type_ is not EventType.ORDER_CANCELLED and _stands_cancelled(order):
        # The body is the order as it stands: cancelled or voided already (orders/create of an order
        # cancelled at once, a late orders/paid). Recorded as the cancellation it is, never as revenue.
        type_ = EventType.ORDER_CANCELLED
        occurred_at = _first_time(order, ("cancelled_at", *time_fields))
    customer = obj(order.get("customer"), "customer")
    refs = _order_refs(order, customer)
    codes = _discount_codes(order)
    properties = _order_props(order, codes)
    created = env.name == "orders/create"
    # The buyer's browser at checkout: context of the order being placed, not of later changes.
    context = {"locale": text(order.get("customer_locale")), "ip": text(order.get("browser_ip"))} if created else {}
    primary = make_event(
        env,
        type_,
        occurred_at=occurred_at,
        customer=refs,
        properties=properties,
        context={k: v for k, v in context.items() if v},
    )
    cancelled = type_ is EventType.ORDER_CANCELLED  # the cancellation covers its refunds
    refunds = [] if cancelled else _refunds(env, order, properties["order_id"], refs)
    if not created:  # later topics repeat the codes and the consent: record them once
        return [primary, *refunds]
    redeemed = type_ is EventType.ORDER_PLACED and not properties["test"]
    coupons = coupon_events(
        env,
        [(c.code, c.amount) for c in codes] if redeemed else [],
        order_id=properties["order_id"],
        currency=order.get("currency"),
        customer=refs,
        occurred_at=occurred_at,
    )
    return [primary, *refunds, *coupons, *_consents(env, customer, refs, occurred_at)]


# ---- carts and checkouts ----------------------------------------------------------------------


def _cart_value(lines: list[dict[str, Any]]) -> Decimal | None:
    """The sum of the lines' prices, None when a line has none."""
    value = Decimal(0)
    for i, line in enumerate(lines):
        price = money(line.get("line_price"), f"line_items[{i}].line_price")
        if price is None:
            return None
        value += price
    return value


def _cart_currency(lines: list[dict[str, Any]]) -> str | None:
    """Carts have no currency field; each line's price_set names the shop currency."""
    for i, line in enumerate(lines):
        price_set = obj(line.get("price_set"), f"line_items[{i}].price_set")
        currency = obj(price_set.get("shop_money"), f"line_items[{i}].price_set.shop_money")
        if currency.get("currency_code"):
            return currency["currency_code"]
    return None


def _cart(env: Envelope, cart: dict[str, Any]) -> list[CanonicalEvent]:
    token = required(cart.get("token") or cart.get("id"), "token")
    lines = objects(cart.get("line_items"), "line_items")
    properties = {
        "cart_id": token,
        "items": _line_items(lines),
        "value": _cart_value(lines),
        "currency": _cart_currency(lines),
    }
    return [
        make_event(
            env,
            EventType.CART_UPDATED,
            occurred_at=_first_time(cart, ("updated_at", "created_at")),
            customer={"anonymous_id": _cart_anonymous_id(token)},
            properties=properties,
        )
    ]


def _checkout(env: Envelope, checkout: dict[str, Any]) -> list[CanonicalEvent]:
    customer = obj(checkout.get("customer"), "customer")
    refs = {
        "customer_id": _resource_id(customer, "Customer", path="customer."),
        "email": checkout.get("email") or customer.get("email"),
        "phone": checkout.get("phone") or customer.get("phone"),
        "anonymous_id": _cart_anonymous_id(checkout.get("cart_token")),
    }
    properties = {
        "cart_id": required(checkout.get("token") or checkout.get("id"), "token"),
        "items": _line_items(checkout.get("line_items")),
        "value": money(checkout.get("total_price"), "total_price"),
        "currency": checkout.get("currency"),
        "recovery_url": text(checkout.get("abandoned_checkout_url")),
    }
    return [
        make_event(
            env,
            EventType.CHECKOUT_STARTED,
            occurred_at=_first_time(checkout, ("updated_at", "created_at")),
            customer=refs,
            properties=properties,
        )
    ]


# ---- customers --------------------------------------------------------------------------------


def _customer(env: Envelope, customer: dict[str, Any]) -> list[CanonicalEvent]:
    registered = env.name == "customers/create"
    occurred_at = _first_time(customer, ("created_at",) if registered else ("updated_at", "created_at"))
    customer_id = _resource_id(customer, "Customer")
    if customer_id is None:
        raise InvalidPayload("id: required field is missing")
    refs = {
        "customer_id": customer_id,
        "email": customer.get("email"),
        "phone": customer.get("phone"),
    }
    address = obj(customer.get("default_address"), "default_address")
    # Tags stay the comma-separated string Shopify sends: profile traits keep scalar values only.
    traits = {"account_state": text(customer.get("state")), "tags": text(customer.get("tags"))}
    properties = {
        "first_name": text(customer.get("first_name")),
        "last_name": text(customer.get("last_name")),
        "phone": text(customer.get("phone")),
        "locale": text(customer.get("locale")),
        "country": text(address.get("country_code")),
        "city": text(address.get("city")),
        "traits": {k: v for k, v in traits.items() if v},
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


def _variant_in_stock(variant: dict[str, Any], i: int) -> bool | None:
    """None when the variant says nothing about inventory; untracked inventory is always available."""
    if "inventory_management" in variant and variant["inventory_management"] is None:
        return True
    stock = variant.get("inventory_quantity")
    if stock is None:
        return None
    if isinstance(stock, str) and stock.strip().lstrip("-").isdigit():
        stock = int(stock)
    if isinstance(stock, bool) or not isinstance(stock, int):
        raise InvalidPayload(f"variants[{i}].inventory_quantity: expected an integer, got {str(stock)[:40]!r}")
    return stock > 0


def _in_stock(variants: list[dict[str, Any]]) -> bool | None:
    known = [s for s in (_variant_in_stock(v, i) for i, v in enumerate(variants)) if s is not None]
    return any(known) if known else None


def _product(env: Envelope, product: dict[str, Any]) -> list[CanonicalEvent]:
    variants = objects(product.get("variants"), "variants")
    first = variants[0] if variants else {}
    product_id = _resource_id(product, "Product")
    if product_id is None:
        raise InvalidPayload("id: required field is missing")
    info = {
        "product_id": product_id,
        "sku": text(first.get("sku"), limit=512),
        "name": text(product.get("title"), limit=512),
        "category": text(product.get("product_type"), limit=512),
        "brand": text(product.get("vendor"), limit=512),
        "price": money(first.get("price"), "variants[0].price"),
        "in_stock": _in_stock(variants),
        "tags": _tags(product.get("tags")),
    }
    variant_ids = [
        found for i, v in enumerate(variants) if (found := _resource_id(v, "ProductVariant", path=f"variants[{i}]."))
    ]
    properties = {"product": info, "variants": variant_ids}
    return [
        make_event(
            env,
            EventType.PRODUCT_UPSERTED,
            occurred_at=_first_time(product, ("updated_at", "created_at")),
            properties=properties,
        )
    ]


_MAPPERS: dict[str, Callable[[Envelope, dict[str, Any]], list[CanonicalEvent]]] = {
    **dict.fromkeys(_ORDER_TOPICS, _order),
    "carts/create": _cart,
    "carts/update": _cart,
    "checkouts/create": _checkout,
    "checkouts/update": _checkout,
    "customers/create": _customer,
    "customers/update": _customer,
    "customers_email_marketing_consent/update": _email_consent_update,
    "customers_marketing_consent/update": _sms_consent_update,
    "products/create": _product,
    "products/update": _product,
}

TOPICS: frozenset[str] = frozenset(_MAPPERS)  # the topics that map; PRIVACY_TOPICS are refused
