"""A stand-in for Shopify's Admin GraphQL API, as far as Emma's coupons use it: ``discountCodeBasicCreate``
and ``codeDiscountNodeByCode`` at ``POST /admin/api/<version>/graphql.json``, in the documented request and
response shapes, over in-memory state.

What it implements, and where the shapes come from:

* auth by the ``X-Shopify-Access-Token`` header; a wrong or missing token is HTTP 401 with
  ``{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}``; a token
  without the ``write_discounts`` / ``read_discounts`` scope gets an ``ACCESS_DENIED`` error (HTTP 200);
* just enough GraphQL: the operation is recognised by its field name in the query text, its input comes from
  ``variables`` (the name bound to ``basicCodeDiscount:`` / ``code:``). The answer has a fixed selection (the
  node's id, title, dates, usage and code), whatever the query selects;
* DiscountCodeBasicInput validated as Shopify does, as ``userErrors {field, message, code}``: code, title and
  context (or the deprecated customerSelection) required, the percentage within 0..1, endsAt after startsAt,
  the code at most 255 characters, a positive usageLimit, and a code already used by another discount
  (compared case-insensitively) ``TAKEN``. Messages are Shopify's as seen in public clients and emulators;
* the calculated-cost leaky bucket per app and store: every GraphQL answer carries ``extensions.cost
  {requestedQueryCost, actualQueryCost, throttleStatus {maximumAvailable, currentlyAvailable, restoreRate}}``.
  Defaults are the Standard plan's: restore 100 points/s (shopify.dev/docs/apps/build/apis/graphql-admin/
  rate-limits) and a bucket of 2,000 points (what ``maximumAvailable`` reports next to a restore rate of 100).
  A mutation costs 10 points. A request that asks more than the bucket holds is answered ``THROTTLED`` with
  no data, HTTP 200 by default or HTTP 429 (``throttle_status=429``, with a Retry-After header): public
  reports disagree on which Shopify sends;
* ``fail_next(n)``: the next n requests are answered HTTP 503.

``redeem`` uses one of the codes as a checkout would (limit, dates, customer, minimum) and returns the
``orders/create`` webhook body for that order, shaped like events/shopify/orders_create.json.

Time (code dates, bucket refill) follows an emma.clock.Clock: FileClock in the local runtime, FixedClock in
tests. Thread-safe: one lock around each request.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from emma.clock import Clock, SystemClock

GRAPHQL_PATH = re.compile(r"/admin/api/(?P<version>\d{4}-\d{2}|unstable)/graphql\.json")
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"  # noqa: S105 - a message
STANDARD_BUCKET = 2000.0  # points (maximumAvailable)
STANDARD_RESTORE = 100.0  # points per second (restoreRate), Standard plan
COSTS = {"create": (10, 10), "lookup": (4, 3)}  # operation -> (requestedQueryCost, actualQueryCost)
SCOPES = {"create": "write_discounts", "lookup": "read_discounts"}
_CREATE = re.compile(r"discountCodeBasicCreate\s*\(\s*basicCodeDiscount\s*:\s*\$(?P<var>\w+)")
_LOOKUP = re.compile(r"codeDiscountNodeByCode\s*\(\s*code\s*:\s*\$(?P<var>\w+)")
_CUSTOMER = re.compile(r"gid://shopify/Customer/\d+")
_CENT = Decimal("0.01")
_TAX_RATE = Decimal("0.19")  # the demo shops are German: prices include 19 % VAT
Answer = tuple[int, dict[str, str], bytes]


class RedeemRefused(Exception):
    """The checkout would refuse the code: unknown, used up, expired, not this customer's, below minimum."""


@dataclass
class StandInDiscount:
    """One basic code discount as the stand-in stores it."""

    id: str
    title: str
    code: str
    percentage: float  # 0..1, as Shopify takes it
    starts_at: datetime
    ends_at: datetime | None
    usage_limit: int | None
    applies_once_per_customer: bool
    customers: tuple[str, ...] | None  # customer gids; None: all buyers
    minimum_subtotal: Decimal | None
    combines_with: dict[str, bool]
    uses: int = 0
    redemptions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return round(self.percentage * 100, 4)

    def status(self, now: datetime) -> str:
        if now < self.starts_at:
            return "SCHEDULED"
        if self.ends_at is not None and now >= self.ends_at:
            return "EXPIRED"
        return "ACTIVE"


def _money(value: Decimal) -> str:
    return str(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _set(amount: str, currency: str) -> dict[str, Any]:
    money = {"amount": amount, "currency_code": currency}
    return {"shop_money": money, "presentment_money": dict(money)}


class _Coercion(Exception):
    """A variable that does not coerce to its GraphQL type: a top-level error, before execution."""


class ShopifyStandIn:
    def __init__(
        self,
        *,
        access_token: str = "shpat_standin",  # noqa: S107 - the stand-in's own, not a secret
        shop_domain: str = "elektro-emma.myshopify.com",
        maximum_available: float = STANDARD_BUCKET,
        restore_rate: float = STANDARD_RESTORE,
        throttle_status: int = 200,
        scopes: tuple[str, ...] = ("write_discounts", "read_discounts"),
        currency: str = "EUR",
        clock: Clock | None = None,
    ) -> None:
        if throttle_status not in (200, 429):
            raise ValueError("throttle_status: 200 or 429")
        self.access_token = access_token
        self.shop_domain = shop_domain
        self.maximum_available = float(maximum_available)
        self.restore_rate = float(restore_rate)
        self.throttle_status = throttle_status
        self.scopes = set(scopes)
        self.currency = currency
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._discounts: dict[str, StandInDiscount] = {}  # lower-case code -> discount
        self._available = self.maximum_available
        self._stamp = self._clock.now()
        self._failures = (0, 503)
        self._ids = 1_000_000
        self._orders = 1000
        self.requests: list[tuple[str, int]] = []  # (operation or path, status) per request, in order

    # ---- test and demo controls -------------------------------------------------------------------

    @property
    def codes(self) -> dict[str, StandInDiscount]:
        """A snapshot: code (as created) -> discount, with its use count."""
        with self._lock:
            return {d.code: dataclasses.replace(d, redemptions=list(d.redemptions)) for d in self._discounts.values()}

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` requests with ``status`` (no body worth reading)."""
        with self._lock:
            self._failures = (count, status)

    def drain(self, points: float | None = None) -> None:
        """Take points out of the bucket, as other clients of the same app and store would (all by default)."""
        with self._lock:
            self._refill()
            self._available = max(0.0, self._available - (self._available if points is None else points))

    @property
    def available(self) -> float:
        with self._lock:
            self._refill()
            return self._available

    # ---- HTTP -------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        with self._lock:
            operation, answer = self._handle(method, path.split("?", 1)[0], headers, body)
            self.requests.append((operation, answer[0]))
            return answer

    def _handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> tuple[str, Answer]:
        count, status = self._failures
        if count > 0:
            self._failures = (count - 1, status)
            return path, (status, {"Content-Type": "text/html"}, b"<html><body>Service Unavailable</body></html>")
        if not GRAPHQL_PATH.fullmatch(path):
            return path, _json(404, {"errors": "Not Found"})
        token = next((v for k, v in headers.items() if k.lower() == "x-shopify-access-token"), None)
        if token != self.access_token:
            return path, _json(401, {"errors": INVALID_TOKEN})
        if method.upper() != "POST":
            return path, _json(405, {"errors": "Method Not Allowed"})
        try:
            request = json.loads(body.decode("utf-8"))
            query = request["query"]
            variables = request.get("variables") or {}
            if not isinstance(query, str) or not isinstance(variables, dict):
                raise TypeError
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
            return path, _json(400, {"errors": {"query": "Required parameter missing or invalid"}})
        create, lookup = _CREATE.search(query), _LOOKUP.search(query)
        if create is None and lookup is None:
            return path, self._graphql(
                [{"message": "The stand-in answers discountCodeBasicCreate and codeDiscountNodeByCode only"}], 0, 0
            )
        operation, found = ("create", create) if create else ("lookup", lookup)
        variable = found["var"] if found else ""
        return operation, self._execute(operation, variables.get(variable), variable)

    def _execute(self, operation: str, value: Any, variable: str) -> Answer:
        requested, actual = COSTS[operation]
        self._refill()
        if requested > self._available:
            return self._throttled(requested)
        field_name = "discountCodeBasicCreate" if operation == "create" else "codeDiscountNodeByCode"
        if SCOPES[operation] not in self.scopes and "write_discounts" not in self.scopes:
            scope = f"`{SCOPES[operation]}` access scope."
            error = {
                "message": f"Access denied for {field_name} field. Required access: {scope}",
                "path": [field_name],
                "extensions": {
                    "code": "ACCESS_DENIED",
                    "documentation": "https://shopify.dev/api/usage/access-scopes",
                    "requiredAccess": scope,
                },
            }
            return self._graphql([error], requested, 1, data={field_name: None})
        try:
            data = self._create(value) if operation == "create" else self._lookup(value)
        except _Coercion as exc:
            message = f"Variable ${variable} of type {_TYPES[operation]} was provided invalid value{exc}"
            return self._graphql([{"message": message, "extensions": {"value": value}}], 0, 0)
        return self._graphql(None, requested, actual, data={field_name: data})

    # ---- the bucket -------------------------------------------------------------------------------

    def _refill(self) -> None:
        now = self._clock.now()
        elapsed = max(0.0, (now - self._stamp).total_seconds())
        self._available = min(self.maximum_available, self._available + elapsed * self.restore_rate)
        self._stamp = now

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": self.maximum_available,
                "currentlyAvailable": math.floor(self._available),
                "restoreRate": self.restore_rate,
            },
        }

    def _graphql(self, errors: list[dict[str, Any]] | None, requested: int, actual: int, data: Any = None) -> Answer:
        self._available -= actual  # requested is held during the query, the difference refunded after it
        body: dict[str, Any] = {}
        if errors:
            body["errors"] = errors
        if data is not None or not errors:
            body["data"] = data
        body["extensions"] = {"cost": self._cost(requested, actual)}
        return _json(200, body)

    def _throttled(self, requested: int) -> Answer:
        body = {
            "errors": [
                {
                    "message": "Throttled",
                    "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
                }
            ],
            "extensions": {"cost": self._cost(requested, None)},
        }
        headers = {}
        if self.throttle_status == 429:
            wait = (requested - self._available) / self.restore_rate if self.restore_rate > 0 else 60.0
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
        status, base, payload = _json(self.throttle_status, body)
        return status, {**base, **headers}, payload

    # ---- the operations ---------------------------------------------------------------------------

    def _node(self, discount: StandInDiscount) -> dict[str, Any]:
        return {
            "id": discount.id,
            "codeDiscount": {
                "__typename": "DiscountCodeBasic",
                "title": discount.title,
                "status": discount.status(self._clock.now()),
                "startsAt": _time(discount.starts_at),
                "endsAt": _time(discount.ends_at) if discount.ends_at else None,
                "usageLimit": discount.usage_limit,
                "asyncUsageCount": discount.uses,
                "appliesOncePerCustomer": discount.applies_once_per_customer,
                "codes": {"nodes": [{"code": discount.code}]},
            },
        }

    def _lookup(self, code: Any) -> dict[str, Any] | None:
        if not isinstance(code, str):
            raise _Coercion(" (expected a String)")
        found = self._discounts.get(code.strip().lower())
        return self._node(found) if found else None

    def _create(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _Coercion(" (expected an input object)")
        errors: list[dict[str, Any]] = []

        def error(path: list[str], message: str, code: str) -> None:
            errors.append({"field": ["basicCodeDiscount", *path], "message": message, "code": code})

        title = value.get("title")
        if not isinstance(title, str) or not title.strip():
            error(["title"], "Title can't be blank", "BLANK")
        code = value.get("code")
        if not isinstance(code, str) or not code.strip():
            error(["code"], "Code can't be blank", "BLANK")
            code = None
        elif len(code) > 255:
            error(["code"], "Code is too long (maximum is 255 characters)", "TOO_LONG")
        elif "\n" in code or "\r" in code:
            error(["code"], "Code cannot contain newline characters.", "INVALID")
        elif code.strip().lower() in self._discounts:
            error(["code"], "Code must be unique. Please try a different code.", "TAKEN")
        customers = self._buyers(value, error)
        percentage = self._percentage(value, error)
        now = self._clock.now()
        starts_at = _datetime(value.get("startsAt"), "startsAt") or now
        ends_at = _datetime(value.get("endsAt"), "endsAt")
        if ends_at is not None and ends_at <= starts_at:
            error(["endsAt"], "Ends at needs to be after starts_at", "INVALID")
        usage_limit = value.get("usageLimit")
        if usage_limit is not None:
            if not isinstance(usage_limit, int) or isinstance(usage_limit, bool):
                raise _Coercion(" for usageLimit (expected an Int)")
            if usage_limit <= 0:
                error(["usageLimit"], "Usage limit must be greater than 0", "VALUE_OUTSIDE_RANGE")
        minimum = self._minimum(value, error)
        if errors:
            return {"codeDiscountNode": None, "userErrors": errors}
        assert isinstance(title, str) and isinstance(code, str) and percentage is not None
        self._ids += 1
        combines = value.get("combinesWith") if isinstance(value.get("combinesWith"), dict) else {}
        discount = StandInDiscount(
            id=f"gid://shopify/DiscountCodeNode/{self._ids}",
            title=title,
            code=code.strip(),
            percentage=percentage,
            starts_at=starts_at,
            ends_at=ends_at,
            usage_limit=usage_limit,
            applies_once_per_customer=bool(value.get("appliesOncePerCustomer")),
            customers=customers,
            minimum_subtotal=minimum,
            combines_with={
                k: bool(combines.get(k)) for k in ("productDiscounts", "orderDiscounts", "shippingDiscounts")
            },
        )
        self._discounts[discount.code.lower()] = discount
        return {"codeDiscountNode": self._node(discount), "userErrors": []}

    @staticmethod
    def _buyers(value: dict[str, Any], error: Any) -> tuple[str, ...] | None:
        """DiscountContextInput {all: ALL | customers {add} | customerSegments}, or the deprecated
        customerSelection {all: true | customers {add}}."""
        context, selection = value.get("context"), value.get("customerSelection")
        if context is not None and selection is not None:
            error(["context"], "Only one of context or customerSelection can be provided.", "INVALID")
            return None
        name = "customerSelection" if context is None and selection is not None else "context"
        chosen = context if context is not None else selection
        if not isinstance(chosen, dict) or not chosen:
            error([name], "Context can't be blank", "BLANK")
            return None
        keys = [k for k in ("all", "customers", "customerSegments") if chosen.get(k) is not None]
        if len(keys) != 1:
            error([name], "Exactly one of all, customers or customerSegments must be given", "INVALID")
            return None
        if keys[0] == "all":
            if chosen["all"] != ("ALL" if name == "context" else True):
                raise _Coercion(f" for {name}.all")
            return None
        if keys[0] == "customerSegments":
            error([name, "customerSegments"], "The stand-in knows no customer segments", "INVALID")
            return None
        added = (chosen["customers"] or {}).get("add") if isinstance(chosen["customers"], dict) else None
        if not isinstance(added, list) or not added:
            error([name, "customers"], "a minimum of one prerequisite customer must be provided", "INVALID")
            return None
        wrong = [c for c in added if not isinstance(c, str) or not _CUSTOMER.fullmatch(c)]
        if wrong:
            error([name, "customers", "add"], f"Customer with id: {wrong[0]} is invalid", "INVALID")
            return None
        return tuple(added)

    @staticmethod
    def _percentage(value: dict[str, Any], error: Any) -> float | None:
        gets = value.get("customerGets")
        if not isinstance(gets, dict):
            error(["customerGets"], "Customer gets can't be blank", "BLANK")
            return None
        items = gets.get("items")
        if not isinstance(items, dict) or items.get("all") is not True:
            error(["customerGets", "items"], "The stand-in knows no products: items must be {all: true}", "INVALID")
        amount = (gets.get("value") or {}).get("percentage") if isinstance(gets.get("value"), dict) else None
        if amount is None:
            error(["customerGets", "value"], "The stand-in supports percentage values only", "INVALID")
            return None
        if not isinstance(amount, int | float) or isinstance(amount, bool):
            raise _Coercion(" for customerGets.value.percentage (expected a Float)")
        if not 0.0 <= amount <= 1.0:
            error(["customerGets", "value", "percentage"], "Value must be between 0.0 and 1.0", "VALUE_OUTSIDE_RANGE")
            return None
        return float(amount)

    @staticmethod
    def _minimum(value: dict[str, Any], error: Any) -> Decimal | None:
        requirement = value.get("minimumRequirement")
        if not isinstance(requirement, dict) or not isinstance(requirement.get("subtotal"), dict):
            return None
        raw = requirement["subtotal"].get("greaterThanOrEqualToSubtotal")
        try:
            minimum = Decimal(str(raw))
            if not minimum.is_finite():
                raise InvalidOperation
        except InvalidOperation as exc:
            raise _Coercion(" for minimumRequirement.subtotal.greaterThanOrEqualToSubtotal (a Decimal)") from exc
        if minimum < 0:
            error(
                ["minimumRequirement", "subtotal", "greaterThanOrEqualToSubtotal"],
                "Minimum subtotal must be greater than or equal to 0",
                "GREATER_THAN_OR_EQUAL_TO",
            )
        return minimum

    # ---- a checkout using a code ------------------------------------------------------------------

    def redeem(
        self,
        code: str,
        order_id: int | str,
        email: str,
        total: Decimal | str | float,
        *,
        customer_id: int | str | None = None,
        line_items: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Use ``code`` once for an order of ``total`` (the goods before the discount, tax included) and
        return the ``orders/create`` webhook body. RedeemRefused when the checkout would not accept it."""
        goods = Decimal(str(total)).quantize(_CENT, rounding=ROUND_HALF_UP)
        customer_gid = f"gid://shopify/Customer/{customer_id}" if customer_id is not None else None
        with self._lock:
            now = self._clock.now()
            discount = self._discounts.get(code.strip().lower())
            if discount is None:
                raise RedeemRefused(f"{code}: no such discount code")
            if now < discount.starts_at:
                raise RedeemRefused(f"{code}: not active before {_time(discount.starts_at)}")
            if discount.ends_at is not None and now >= discount.ends_at:
                raise RedeemRefused(f"{code}: expired at {_time(discount.ends_at)}")
            if discount.usage_limit is not None and discount.uses >= discount.usage_limit:
                raise RedeemRefused(f"{code}: used up ({discount.uses} of {discount.usage_limit})")
            if discount.customers is not None and customer_gid not in discount.customers:
                raise RedeemRefused(f"{code}: not for this customer")
            if discount.applies_once_per_customer and any(
                (r["email"] or "").lower() == email.lower() or (customer_gid and r["customer"] == customer_gid)
                for r in discount.redemptions
            ):
                raise RedeemRefused(f"{code}: already used by this customer")
            if discount.minimum_subtotal is not None and goods < discount.minimum_subtotal:
                raise RedeemRefused(f"{code}: the order is below the minimum of {discount.minimum_subtotal}")
            discount.uses += 1
            discount.redemptions.append({"order_id": str(order_id), "email": email, "customer": customer_gid})
            self._orders += 1
            number = self._orders
        amount = (goods * Decimal(str(discount.percentage))).quantize(_CENT, rounding=ROUND_HALF_UP)
        return self._order(discount, order_id, number, email, goods, amount, customer_id, line_items, now)

    def _order(
        self,
        discount: StandInDiscount,
        order_id: int | str,
        number: int,
        email: str,
        goods: Decimal,
        amount: Decimal,
        customer_id: int | str | None,
        line_items: list[dict[str, Any]] | None,
        now: datetime,
    ) -> dict[str, Any]:
        cur = self.currency
        oid: int | str = int(order_id) if str(order_id).isdigit() else str(order_id)
        paid = goods - amount
        tax = (paid * _TAX_RATE / (1 + _TAX_RATE)).quantize(_CENT, rounding=ROUND_HALF_UP)
        at = now.astimezone(UTC).isoformat()
        lines = line_items or [
            {
                "id": 13370000 + number,
                "admin_graphql_api_id": f"gid://shopify/LineItem/{13370000 + number}",
                "product_id": 8100001,
                "variant_id": 4510001,
                "title": "Pixel 9 Pro",
                "name": "Pixel 9 Pro - 128 GB / Obsidian",
                "variant_title": "128 GB / Obsidian",
                "vendor": "Google",
                "sku": "GGL-PX9P-128-OBS",
                "price": _money(goods),
                "price_set": _set(_money(goods), cur),
                "quantity": 1,
                "fulfillable_quantity": 1,
                "fulfillment_status": None,
                "gift_card": False,
                "product_exists": True,
                "requires_shipping": True,
                "taxable": True,
                "total_discount": "0.00",
                "total_discount_set": _set("0.00", cur),
                "discount_allocations": [
                    {"amount": _money(amount), "amount_set": _set(_money(amount), cur), "discount_application_index": 0}
                ],
                "tax_lines": [],
                "properties": [],
            }
        ]
        customer = None
        if customer_id is not None:
            customer = {
                "id": int(customer_id) if str(customer_id).isdigit() else customer_id,
                "email": email,
                "admin_graphql_api_id": f"gid://shopify/Customer/{customer_id}",
                "state": "enabled",
                "currency": cur,
                "tags": "",
            }
        return {
            "id": oid,
            "admin_graphql_api_id": f"gid://shopify/Order/{oid}",
            "name": f"#{number}",
            "order_number": number,
            "number": number - 1000,
            "email": email,
            "contact_email": email,
            "created_at": at,
            "processed_at": at,
            "updated_at": at,
            "cancelled_at": None,
            "cancel_reason": None,
            "closed_at": None,
            "confirmed": True,
            "test": False,
            "source_name": "web",
            "financial_status": "paid",
            "fulfillment_status": None,
            "currency": cur,
            "presentment_currency": cur,
            "taxes_included": True,
            "discount_codes": [{"code": discount.code, "amount": _money(amount), "type": "percentage"}],
            "discount_applications": [
                {
                    "target_type": "line_item",
                    "type": "discount_code",
                    "value": f"{discount.percent:.1f}",
                    "value_type": "percentage",
                    "allocation_method": "across",
                    "target_selection": "all",
                    "code": discount.code,
                }
            ],
            "total_line_items_price": _money(goods),
            "total_line_items_price_set": _set(_money(goods), cur),
            "total_discounts": _money(amount),
            "total_discounts_set": _set(_money(amount), cur),
            "current_total_discounts": _money(amount),
            "subtotal_price": _money(paid),
            "subtotal_price_set": _set(_money(paid), cur),
            "current_subtotal_price": _money(paid),
            "total_price": _money(paid),
            "total_price_set": _set(_money(paid), cur),
            "current_total_price": _money(paid),
            "total_tax": _money(tax),
            "total_tax_set": _set(_money(tax), cur),
            "current_total_tax": _money(tax),
            "total_shipping_price_set": _set("0.00", cur),
            "tax_lines": [],
            "line_items": lines,
            "shipping_lines": [],
            "fulfillments": [],
            "refunds": [],
            "note_attributes": [],
            "tags": "",
            "customer": customer,
        }


_TYPES = {"create": "DiscountCodeBasicInput!", "lookup": "String!"}


def _json(status: int, body: Any) -> Answer:
    return status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body).encode()


def _datetime(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Coercion(f" for {name} (expected a DateTime)")
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _Coercion(f" for {name} (invalid DateTime {value!r})") from exc
    return found if found.tzinfo else found.replace(tzinfo=UTC)
