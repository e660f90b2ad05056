"""A stand-in of WooCommerce's REST API (wc/v3) coupons, in memory.

What it implements, as documented (woocommerce-rest-api-docs ``_coupons.md``, ``_authentication.md``,
``_introduction.md``) or as WooCommerce core does it:

* ``POST /wp-json/wc/v3/coupons`` (201 with the coupon), ``GET /wp-json/wc/v3/coupons`` (``code``, ``page``,
  ``per_page``) and ``GET /wp-json/wc/v3/coupons/<id>``; the response fields of the documentation;
* codes lower-cased and trimmed on save and on lookup (core's ``wc_strtolower`` filter on
  ``woocommerce_coupon_code``); a taken code: 400 ``woocommerce_rest_coupon_code_already_exists``;
* HTTP Basic auth (or the ``consumer_key``/``consumer_secret`` query parameters): 401
  ``woocommerce_rest_authentication_error`` for a wrong key, ``woocommerce_rest_cannot_create`` /
  ``_cannot_view`` without credentials; a read-only key may not write;
* ``rest_no_route`` 404, ``rest_invalid_param`` / ``rest_missing_callback_param`` 400;
* a host-level rate limit (N requests per window: 429 with ``Retry-After``; the REST API itself has none)
  and a switch that fails the next N requests with 503.

``redeem`` applies a code at checkout (usage limits, expiry, email restriction, minimum spend) and returns the
``order.created`` webhook body (the REST order, shaped like events/woocommerce/order_created.json) with the code
in ``coupon_lines``.
"""

from __future__ import annotations

import base64
import json
import math
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, urlsplit

from emma.clock import Clock, SystemClock

API = "/wp-json/wc/v3"
DISCOUNT_TYPES = ("percent", "fixed_cart", "fixed_product")
CENT = Decimal("0.01")
Response = tuple[int, dict[str, str], bytes]


class CouponRejected(ValueError):
    """The checkout refused the code (WooCommerce's notice text)."""


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return status, {"content-type": "application/json; charset=UTF-8", **(headers or {})}, json.dumps(body).encode()


def _error(status: int, code: str, message: str, **data: Any) -> Response:
    return _json(status, {"code": code, "message": message, "data": {"status": status, **data}})


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, ROUND_HALF_UP))


def _parse(value: str) -> datetime:
    """A WooCommerce date: ``YYYY-MM-DDTHH:MM:SS`` in the site's zone (here UTC) or with an offset."""
    moment = datetime.fromisoformat(value)
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _date(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if moment else None


class WooCommerceStandIn:
    """In-memory WooCommerce coupons. Thread-safe: one lock around every request and redemption.

    ``rate_limit=(n, seconds)``: at most n requests per fixed window, the next ones 429 with Retry-After (the
    seconds left in the window). ``permissions``: ``read_write`` or ``read`` (the key's permission). The site's
    time zone is UTC, so ``date_*`` and ``date_*_gmt`` agree."""

    def __init__(
        self,
        consumer_key: str = "ck_standin",
        consumer_secret: str = "cs_standin",  # noqa: S107 - the stand-in's own test secret
        *,
        clock: Clock | None = None,
        rate_limit: tuple[int, float] | None = None,
        permissions: str = "read_write",
        base_url: str = "http://127.0.0.1",
        currency: str = "EUR",
        tax_rate: Decimal = Decimal("0.19"),
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.clock: Clock = clock or SystemClock()
        self.rate_limit = rate_limit
        self.permissions = permissions
        self.base_url = base_url.rstrip("/")
        self.currency = currency
        self.tax_rate = tax_rate
        self.coupons: dict[int, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, for tests
        self._lock = threading.Lock()
        self._next_id = 700
        self._meta_id = 9000
        self._window: tuple[float, int] = (0.0, 0)  # (window start, requests in it)
        self._fail: tuple[int, int, float | None] = (0, 503, None)  # (left, status, retry after)

    # ---- switches ----------------------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 503, retry_after: float | None = 5) -> None:
        """Answer the next ``count`` requests with ``status`` (the host's maintenance page)."""
        with self._lock:
            self._fail = (count, status, retry_after)

    def coupon(self, code: str) -> dict[str, Any] | None:
        """The stored coupon with this code (any case), as the API shows it."""
        with self._lock:
            found = self._by_code(code)
            return self._view(found) if found else None

    # ---- the HTTP handler ----------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Response:
        with self._lock:
            self.requests.append((method.upper(), path))
            return self._handle(method.upper(), path, {k.lower(): v for k, v in headers.items()}, body)

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        limited = self._host_limits()
        if limited:
            return limited
        url = urlsplit(path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        route = url.path.rstrip("/")
        collection = route == f"{API}/coupons" and method in ("GET", "POST")
        single = route.startswith(f"{API}/coupons/") and route.rsplit("/", 1)[1].isdigit() and method == "GET"
        if not (collection or single):
            return _error(404, "rest_no_route", "No route was found matching the URL and request method.")
        denied = self._authenticate(method, headers, query)
        if denied:
            return denied
        if method == "POST":
            return self._create(body)
        if route.endswith("/coupons"):
            return self._list(query)
        coupon = self.coupons.get(int(route.rsplit("/", 1)[1]))
        if coupon is None:
            return _error(404, "woocommerce_rest_shop_coupon_invalid_id", "Invalid ID.")
        return _json(200, self._view(coupon))

    def _host_limits(self) -> Response | None:
        left, status, retry_after = self._fail
        if left > 0:
            self._fail = (left - 1, status, retry_after)
            extra = {"retry-after": str(int(retry_after))} if retry_after is not None else {}
            return status, {"content-type": "text/html", **extra}, b"<h1>Service Unavailable</h1>"
        if not self.rate_limit:
            return None
        limit, window = self.rate_limit
        now = self.clock.now().timestamp()
        start, count = self._window
        if now - start >= window:
            start, count = now, 0
        if count >= limit:
            wait = max(1, math.ceil(start + window - now))
            return 429, {"content-type": "text/html", "retry-after": str(wait)}, b"<h1>Too Many Requests</h1>"
        self._window = (start, count + 1)
        return None

    def _authenticate(self, method: str, headers: dict[str, str], query: dict[str, str]) -> Response | None:
        key = secret = None
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                key, _, secret = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                key = secret = None
        elif "consumer_key" in query:
            key, secret = query.get("consumer_key"), query.get("consumer_secret")
        if key is None:
            verb = "create resources" if method == "POST" else "list resources"
            code = "woocommerce_rest_cannot_create" if method == "POST" else "woocommerce_rest_cannot_view"
            return _error(401, code, f"Sorry, you cannot {verb}.")
        if key != self.consumer_key:
            return _error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        if secret != self.consumer_secret:
            return _error(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
        if method == "POST" and self.permissions != "read_write":
            return _error(
                401, "woocommerce_rest_authentication_error", "The API key provided does not have write permissions."
            )
        return None

    # ---- coupons -------------------------------------------------------------------------------------

    def _create(self, raw: bytes) -> Response:
        try:
            request = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, ValueError):
            return _error(400, "rest_invalid_json", "Invalid JSON body passed.")
        if not isinstance(request, dict):
            return _error(400, "rest_invalid_json", "Invalid JSON body passed.")
        code = str(request.get("code") or "").strip().lower()
        if not code:
            return _error(400, "rest_missing_callback_param", "Missing parameter(s): code", params=["code"])
        invalid = self._invalid(request)
        if invalid:
            names = ", ".join(sorted(invalid))
            return _error(400, "rest_invalid_param", f"Invalid parameter(s): {names}", params=invalid)
        if self._by_code(code):
            return _error(400, "woocommerce_rest_coupon_code_already_exists", "The coupon code already exists")
        now = self.clock.now()
        self._next_id += 1
        meta = []
        for entry in request.get("meta_data") or []:
            self._meta_id += 1
            meta.append({"id": self._meta_id, "key": str(entry["key"]), "value": entry.get("value")})
        expires = request.get("date_expires_gmt") or request.get("date_expires")
        coupon = {
            "id": self._next_id,
            "code": code,
            "amount": Decimal(str(request.get("amount") or "0")),
            "created": now,
            "modified": now,
            "discount_type": request.get("discount_type") or "fixed_cart",
            "description": str(request.get("description") or ""),
            "expires": _parse(expires) if expires else None,
            "usage_count": 0,
            "individual_use": bool(request.get("individual_use", False)),
            "usage_limit": request.get("usage_limit"),
            "usage_limit_per_user": request.get("usage_limit_per_user"),
            "free_shipping": bool(request.get("free_shipping", False)),
            "exclude_sale_items": bool(request.get("exclude_sale_items", False)),
            "minimum_amount": Decimal(str(request.get("minimum_amount") or "0")),
            "maximum_amount": Decimal(str(request.get("maximum_amount") or "0")),
            "email_restrictions": [str(e).strip().lower() for e in request.get("email_restrictions") or []],
            "used_by": [],
            "meta_data": meta,
        }
        self.coupons[coupon["id"]] = coupon
        location = f"{self.base_url}{API}/coupons/{coupon['id']}"
        return _json(201, self._view(coupon), {"location": location})

    @staticmethod
    def _invalid(request: dict[str, Any]) -> dict[str, str]:
        """Schema checks of the fields Emma sends ({param: reason}, as WordPress reports them)."""
        invalid: dict[str, str] = {}
        kind = request.get("discount_type")
        if kind is not None and kind not in DISCOUNT_TYPES:
            invalid["discount_type"] = "discount_type is not one of percent, fixed_cart, and fixed_product."
        for name in ("amount", "minimum_amount", "maximum_amount"):
            value = request.get(name)
            if value is None:
                continue
            try:
                Decimal(str(value))
            except InvalidOperation:
                invalid[name] = f"{name} is not numeric."
        for name in ("usage_limit", "usage_limit_per_user"):
            value = request.get(name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                invalid[name] = f"{name} is not of type integer,null."
        emails = request.get("email_restrictions")
        if emails is not None and (not isinstance(emails, list) or not all(isinstance(e, str) for e in emails)):
            invalid["email_restrictions"] = "email_restrictions is not of type array."
        for name in ("date_expires", "date_expires_gmt"):
            value = request.get(name)
            if value is None:
                continue
            try:
                datetime.fromisoformat(str(value))
            except ValueError:
                invalid[name] = "Invalid date."
        meta = request.get("meta_data")
        if meta is not None and (
            not isinstance(meta, list) or not all(isinstance(m, dict) and isinstance(m.get("key"), str) for m in meta)
        ):
            invalid["meta_data"] = "meta_data[0][key] is not of type string."
        return invalid

    def _list(self, query: dict[str, str]) -> Response:
        coupons = sorted(self.coupons.values(), key=lambda c: c["id"], reverse=True)  # default: newest first
        if query.get("code"):
            found = self._by_code(query["code"])
            coupons = [found] if found else []
        try:
            per_page = max(1, min(100, int(query.get("per_page", "10"))))
            page = max(1, int(query.get("page", "1")))
        except ValueError:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page", params={"per_page": "bad"})
        shown = coupons[(page - 1) * per_page : page * per_page]
        pages = max(1, math.ceil(len(coupons) / per_page))
        return _json(
            200, [self._view(c) for c in shown], {"x-wp-total": str(len(coupons)), "x-wp-totalpages": str(pages)}
        )

    def _by_code(self, code: str) -> dict[str, Any] | None:
        wanted = code.strip().lower()
        return next((c for c in self.coupons.values() if c["code"] == wanted), None)

    def _view(self, c: dict[str, Any]) -> dict[str, Any]:
        """A coupon as the REST API shows it (the documented fields, in their order)."""
        return {
            "id": c["id"],
            "code": c["code"],
            "amount": _money(c["amount"]),
            "date_created": _date(c["created"]),
            "date_created_gmt": _date(c["created"]),
            "date_modified": _date(c["modified"]),
            "date_modified_gmt": _date(c["modified"]),
            "discount_type": c["discount_type"],
            "description": c["description"],
            "date_expires": _date(c["expires"]),
            "date_expires_gmt": _date(c["expires"]),
            "usage_count": c["usage_count"],
            "individual_use": c["individual_use"],
            "product_ids": [],
            "excluded_product_ids": [],
            "usage_limit": c["usage_limit"],
            "usage_limit_per_user": c["usage_limit_per_user"],
            "limit_usage_to_x_items": None,
            "free_shipping": c["free_shipping"],
            "product_categories": [],
            "excluded_product_categories": [],
            "exclude_sale_items": c["exclude_sale_items"],
            "minimum_amount": _money(c["minimum_amount"]),
            "maximum_amount": _money(c["maximum_amount"]),
            "email_restrictions": list(c["email_restrictions"]),
            "used_by": list(c["used_by"]),
            "meta_data": [dict(m) for m in c["meta_data"]],
            "_links": {
                "self": [{"href": f"{self.base_url}{API}/coupons/{c['id']}"}],
                "collection": [{"href": f"{self.base_url}{API}/coupons"}],
            },
        }

    # ---- checkout ------------------------------------------------------------------------------------

    def redeem(
        self, code: str, order_id: int | str, email: str, total: Decimal | str, *, customer_id: int = 0
    ) -> dict[str, Any]:
        """Apply ``code`` to an order of ``total`` (gross, before the discount) by ``email``; record the use;
        return the ``order.created`` webhook body. CouponRejected with WooCommerce's notice when the checkout
        would refuse the code."""
        gross = Decimal(str(total))
        with self._lock:
            coupon = self._by_code(code)
            now = self.clock.now()
            shown = code.strip().lower()
            if coupon is None:
                raise CouponRejected(f'Coupon "{shown}" does not exist!')
            if coupon["expires"] is not None and now >= coupon["expires"]:
                raise CouponRejected("This coupon has expired.")
            if coupon["usage_limit"] is not None and coupon["usage_count"] >= coupon["usage_limit"]:
                raise CouponRejected("Coupon usage limit has been reached.")
            buyer = email.strip().lower()
            per_user = coupon["usage_limit_per_user"]
            if per_user is not None and coupon["used_by"].count(buyer) >= per_user:
                raise CouponRejected("Coupon usage limit has been reached.")
            if coupon["email_restrictions"] and buyer not in coupon["email_restrictions"]:
                raise CouponRejected(f'Sorry, it seems the coupon "{shown}" is not yours.')
            if coupon["minimum_amount"] > 0 and gross < coupon["minimum_amount"]:
                raise CouponRejected(f"The minimum spend for this coupon is {_money(coupon['minimum_amount'])}.")
            discount = self._discount(coupon, gross)
            coupon["usage_count"] += 1
            coupon["used_by"].append(buyer)
            coupon["modified"] = now
            return self._order(coupon, str(order_id), buyer, gross, discount, now, customer_id)

    @staticmethod
    def _discount(coupon: dict[str, Any], gross: Decimal) -> Decimal:
        if coupon["discount_type"] == "percent":
            return (gross * coupon["amount"] / 100).quantize(CENT, ROUND_HALF_UP)
        return min(coupon["amount"], gross)

    def _order(
        self,
        coupon: dict[str, Any],
        order_id: str,
        email: str,
        gross: Decimal,
        discount: Decimal,
        now: datetime,
        customer_id: int,
    ) -> dict[str, Any]:
        """The REST order (the order.created webhook body) with one product line and the coupon line. Prices
        include tax (``tax_rate``); the coupon line's ``discount`` is net and ``discount_tax`` its tax, as in
        events/woocommerce/order_created.json."""
        rate = 1 + self.tax_rate
        net = (gross / rate).quantize(CENT, ROUND_HALF_UP)
        discount_net = (discount / rate).quantize(CENT, ROUND_HALF_UP)
        discount_tax = discount - discount_net
        paid = gross - discount
        paid_net = net - discount_net
        total_tax = paid - paid_net
        number = order_id
        local = _date(now)
        created = now - timedelta(seconds=1)
        return {
            "id": int(order_id) if order_id.isdigit() else order_id,
            "parent_id": 0,
            "status": "processing",
            "currency": self.currency,
            "version": "9.4.2",
            "prices_include_tax": True,
            "date_created": _date(created),
            "date_modified": local,
            "discount_total": _money(discount_net),
            "discount_tax": _money(discount_tax),
            "shipping_total": "0.00",
            "shipping_tax": "0.00",
            "cart_tax": _money(total_tax),
            "total": _money(paid),
            "total_tax": _money(total_tax),
            "customer_id": customer_id,
            "order_key": f"wc_order_{order_id}",
            "billing": {"first_name": "", "last_name": "", "email": email, "phone": "", "country": "DE"},
            "shipping": {"first_name": "", "last_name": "", "country": "DE"},
            "payment_method": "standin",
            "payment_method_title": "Stand-in",
            "transaction_id": "",
            "customer_ip_address": "127.0.0.1",
            "customer_user_agent": "emma-standin",
            "created_via": "checkout",
            "customer_note": "",
            "date_completed": None,
            "date_paid": local,
            "cart_hash": "",
            "number": number,
            "meta_data": [],
            "line_items": [
                {
                    "id": 1,
                    "name": "Stand-in product",
                    "product_id": 4211,
                    "variation_id": 0,
                    "quantity": 1,
                    "tax_class": "",
                    "subtotal": _money(net),
                    "subtotal_tax": _money(gross - net),
                    "total": _money(paid_net),
                    "total_tax": _money(total_tax),
                    "taxes": [],
                    "meta_data": [],
                    "sku": "STANDIN-1",
                    "price": float(paid_net),
                    "parent_name": None,
                }
            ],
            "tax_lines": [],
            "shipping_lines": [],
            "fee_lines": [],
            "coupon_lines": [
                {
                    "id": 2,
                    "code": coupon["code"],
                    "discount": _money(discount_net),
                    "discount_tax": _money(discount_tax),
                    "meta_data": [],
                    "discount_type": coupon["discount_type"],
                    "nominal_amount": float(coupon["amount"]),
                    "free_shipping": coupon["free_shipping"],
                }
            ],
            "refunds": [],
            "payment_url": f"{self.base_url}/checkout/order-pay/{order_id}/",
            "is_editable": False,
            "needs_payment": False,
            "needs_processing": True,
            "date_created_gmt": _date(created),
            "date_modified_gmt": local,
            "date_completed_gmt": None,
            "date_paid_gmt": local,
            "currency_symbol": "€",
        }
