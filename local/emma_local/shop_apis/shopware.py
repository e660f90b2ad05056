"""A stand-in of the Shopware 6 Admin API parts Emma's coupons use, in memory.

* ``POST /api/oauth/token`` (client_credentials): ``{"token_type": "Bearer", "expires_in", "access_token"}``;
  a wrong client: 401; the route limited like Shopware's SaaS (10 a minute: 429 with ``Retry-After`` and
  ``FRAMEWORK__RATE_LIMIT_EXCEEDED``); tokens expire after ``token_ttl`` seconds of the injected clock;
* a Bearer token on every other ``/api`` route (401 when missing, unknown or expired);
* ``POST /api/search/promotion`` and ``/api/search/promotion-individual-code`` (``ids``, ``filter`` equals /
  equalsAny, ``associations``, ``limit``, ``page``) answering ``{"total", "data", "aggregations"}`` (the plain
  JSON form, ``Accept: application/json``);
* ``POST /api/_action/sync``: the list of operations (and the older object keyed by operation name), upsert
  and delete of ``promotion_individual_code``; ``code`` is UNIQUE across rows (compared case-insensitively, as
  MySQL's collation does); a required field missing: 400 ``VIOLATION::IS_BLANK_ERROR``;
* errors as ``{"errors": [{"status", "code", "title", "detail", "meta"}]}``.

The answer to a duplicate code is an assumption: no handler in Shopware's source turns that UNIQUE violation
into a specific error, so the stand-in answers what an unhandled DBAL exception gives, a 500 naming the
"Duplicate entry". Likewise an unknown ``promotionId`` (a foreign key violation).

Promotions are seeded from the constructor (``promotion()`` builds one). ``redeem`` applies a code at
checkout (the promotion active and valid, an individual code unused) and fills the individual code's
``payload`` as Shopware does (``orderId``, ``customerId``, ``customerName``), returning the
``checkout.order.placed`` app webhook body (shaped like events/shopware/checkout_order_placed.json) with a
promotion line item.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from emma.clock import Clock, SystemClock

CENT = Decimal("0.01")
EURO_ID = "b7d2554b0ce847cd82f3ac9bd1c0dfca"
VERSION_ID = "0fa91ce3e96a4bc2be4bd9ce752c3425"
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_NS = uuid.UUID("2d6c1f0e-8a4b-5c3d-9e7f-1a2b3c4d5e6f")
Response = tuple[int, dict[str, str], bytes]


class CouponRejected(ValueError):
    """The checkout refused the code (Shopware's cart error, in words)."""


def _hex(*parts: object) -> str:
    return uuid.uuid5(_NS, "|".join(str(p) for p in parts)).hex


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return status, {"content-type": "application/json", **(headers or {})}, json.dumps(body).encode()


def _errors(status: int, code: str, title: str, detail: str, **meta: Any) -> Response:
    error: dict[str, Any] = {"status": str(status), "code": code, "title": title, "detail": detail}
    if meta:
        error["meta"] = {"parameters": meta}
    return _json(status, {"errors": [error]})


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def promotion(
    promotion_id: str,
    percent: float | int,
    *,
    name: str = "Emma",
    active: bool = True,
    use_individual_codes: bool = True,
    code: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    scope: str = "cart",
    discount_type: str = "percentage",
) -> dict[str, Any]:
    """A promotion as the Admin API returns it, with one discount. ``code``: a fixed code (then individual
    codes are off unless asked for)."""
    individual = use_individual_codes and code is None
    return {
        "id": promotion_id,
        "name": name,
        "active": active,
        "validFrom": _iso(valid_from),
        "validUntil": _iso(valid_until),
        "maxRedemptionsGlobal": None,
        "maxRedemptionsPerCustomer": None,
        "exclusive": False,
        "useCodes": True,
        "useIndividualCodes": individual,
        "individualCodePattern": "EMMA-%s%s%s%s" if individual else None,
        "code": code,
        "useSetGroups": False,
        "customerRestriction": False,
        "preventCombination": False,
        "orderCount": 0,
        "ordersPerCustomerCount": None,
        "discounts": [
            {
                "id": _hex("discount", promotion_id),
                "promotionId": promotion_id,
                "scope": scope,
                "type": discount_type,
                "value": float(percent),
                "considerAdvancedRules": False,
                "maxValue": None,
                "apiAlias": "promotion_discount",
            }
        ],
        "apiAlias": "promotion",
    }


class ShopwareStandIn:
    """In-memory Shopware Admin API for coupons. Thread-safe: one lock around every request and redemption."""

    def __init__(
        self,
        client_id: str = "SWIASTANDIN0000000000000000",
        client_secret: str = "standin-secret",  # noqa: S107 - the stand-in's own test secret
        *,
        promotions: Iterable[dict[str, Any]] = (),
        clock: Clock | None = None,
        token_ttl: int = 600,
        token_rate_limit: tuple[int, float] | None = (10, 60.0),
        base_url: str = "http://127.0.0.1",
        shop_id: str = "qH2vXk9LmP3rT7sW",
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock: Clock = clock or SystemClock()
        self.token_ttl = token_ttl
        self.token_rate_limit = token_rate_limit
        self.base_url = base_url.rstrip("/")
        self.shop_id = shop_id
        self.promotions: dict[str, dict[str, Any]] = {p["id"]: json.loads(json.dumps(p)) for p in promotions}
        self.codes: dict[str, dict[str, Any]] = {}  # individual codes by id
        self.tokens: dict[str, float] = {}  # access token -> expiry (epoch seconds of the clock)
        self.token_requests = 0
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._window: tuple[float, int] = (0.0, 0)
        self._fail: tuple[int, int, float | None] = (0, 503, None)

    # ---- switches ----------------------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 503, retry_after: float | None = 5) -> None:
        """Answer the next ``count`` requests with ``status`` (a proxy in front of the shop)."""
        with self._lock:
            self._fail = (count, status, retry_after)

    def code(self, code: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._code_by_value(code)
            return dict(found) if found else None

    # ---- the HTTP handler ----------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Response:
        with self._lock:
            self.requests.append((method.upper(), path))
            return self._handle(method.upper(), path.split("?", 1)[0].rstrip("/"), headers, body)

    def _handle(self, method: str, route: str, headers: Mapping[str, str], raw: bytes) -> Response:
        left, status, retry_after = self._fail
        if left > 0:
            self._fail = (left - 1, status, retry_after)
            extra = {"retry-after": str(int(retry_after))} if retry_after is not None else {}
            return status, {"content-type": "text/html", **extra}, b"<h1>Service Unavailable</h1>"
        try:
            body = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, ValueError):
            return _errors(400, "FRAMEWORK__INVALID_REQUEST_PARAMETER", "Bad Request", "The JSON body is invalid.")
        if route == "/api/oauth/token" and method == "POST":
            return self._token(body)
        if not route.startswith("/api/"):
            return _errors(404, "0", "Not Found", f'No route found for "{method} {route}"')
        denied = self._bearer({k.lower(): v for k, v in headers.items()})
        if denied:
            return denied
        if method == "POST" and route == "/api/search/promotion":
            return self._search(list(self.promotions.values()), body)
        if method == "POST" and route == "/api/search/promotion-individual-code":
            return self._search(list(self.codes.values()), body)
        if method == "POST" and route == "/api/_action/sync":
            return self._sync(body)
        return _errors(404, "0", "Not Found", f'No route found for "{method} {route}"')

    # ---- auth ----------------------------------------------------------------------------------------

    def _token(self, body: Any) -> Response:
        self.token_requests += 1
        now = self.clock.now().timestamp()
        if self.token_rate_limit:
            limit, window = self.token_rate_limit
            start, count = self._window
            if now - start >= window:
                start, count = now, 0
            if count >= limit:
                wait = max(1, math.ceil(start + window - now))
                status, headers, payload = _errors(
                    429,
                    "FRAMEWORK__RATE_LIMIT_EXCEEDED",
                    "Too Many Requests",
                    f"Too many requests, try again in {wait} seconds.",
                    retryAfter=wait,
                )
                return status, {**headers, "retry-after": str(wait)}, payload
            self._window = (start, count + 1)
        if not isinstance(body, dict) or body.get("grant_type") != "client_credentials":
            return _errors(
                400,
                "2",
                "The authorization grant type is not supported by the authorization server.",
                "Check that all required parameters have been provided",
            )
        if body.get("client_id") != self.client_id or body.get("client_secret") != self.client_secret:
            return _errors(401, "4", "Client authentication failed", "Invalid credentials")
        token = secrets.token_urlsafe(24)
        self.tokens[token] = now + self.token_ttl
        return _json(200, {"token_type": "Bearer", "expires_in": self.token_ttl, "access_token": token})

    def _bearer(self, headers: Mapping[str, str]) -> Response | None:
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        expires = self.tokens.get(token)
        if expires is None or expires <= self.clock.now().timestamp():
            self.tokens.pop(token, None)
            return _errors(
                401,
                "9",
                "The resource owner or authorization server denied the request.",
                "Access token could not be verified",
            )
        return None

    def expire_tokens(self) -> None:
        """Invalidate every token (a shop restart, a revoked integration key would do the same)."""
        with self._lock:
            self.tokens.clear()

    # ---- search ------------------------------------------------------------------------------------

    def _search(self, entities: list[dict[str, Any]], criteria: Any) -> Response:
        if not isinstance(criteria, dict):
            criteria = {}
        found = entities
        ids = criteria.get("ids")
        if isinstance(ids, list):
            for value in ids:
                if not isinstance(value, str) or not _HEX32.match(value):
                    return _errors(
                        400, "FRAMEWORK__INVALID_UUID", "Bad Request", f'Value "{value}" is not a valid uuid.'
                    )
            found = [e for e in found if e["id"] in ids]
        for condition in criteria.get("filter") or []:
            field, value = condition.get("field"), condition.get("value")
            if condition.get("type") == "equals":
                found = [e for e in found if _same(e.get(field), value)]
            elif condition.get("type") == "equalsAny":
                values = value if isinstance(value, list) else str(value).split("|")
                found = [e for e in found if any(_same(e.get(field), v) for v in values)]
        associations = criteria.get("associations") or {}
        limit = int(criteria.get("limit") or 25)
        page = int(criteria.get("page") or 1)
        shown = found[(page - 1) * limit : page * limit]
        data = [self._view(e, associations) for e in shown]
        return _json(200, {"total": len(found), "data": data, "aggregations": []})

    @staticmethod
    def _view(entity: dict[str, Any], associations: Mapping[str, Any]) -> dict[str, Any]:
        view = json.loads(json.dumps(entity))
        if "discounts" in view and "discounts" not in associations:
            view["discounts"] = None  # an association not asked for is not loaded
        return view

    # ---- sync ----------------------------------------------------------------------------------------

    def _sync(self, body: Any) -> Response:
        operations = list(body.values()) if isinstance(body, dict) else body
        if not isinstance(operations, list) or not operations:
            return _errors(400, "FRAMEWORK__INVALID_SYNC_OPERATION", "Bad Request", "Expected an array of operations.")
        planned: list[tuple[str, dict[str, Any]]] = []
        for n, operation in enumerate(operations):
            if not isinstance(operation, dict) or operation.get("entity") != "promotion_individual_code":
                entity = operation.get("entity") if isinstance(operation, dict) else None
                return _errors(
                    400,
                    "FRAMEWORK__DEFINITION_NOT_FOUND",
                    "Bad Request",
                    f'Definition for entity "{entity}" not found.',
                )
            action, payload = operation.get("action"), operation.get("payload")
            if action not in ("upsert", "delete") or not isinstance(payload, list) or not payload:
                return _errors(
                    400,
                    "FRAMEWORK__INVALID_SYNC_OPERATION",
                    "Bad Request",
                    f'Missing or invalid "action" or "payload" for operation with key "{operation.get("key", n)}".',
                )
            for i, record in enumerate(payload):
                problem = self._invalid(action, record, f"/{n}/{i}")
                if problem:
                    return problem
                planned.append((action, record))
        return self._apply(planned)

    def _invalid(self, action: str, record: Any, pointer: str) -> Response | None:
        if not isinstance(record, dict):
            return _errors(400, "FRAMEWORK__INVALID_SYNC_OPERATION", "Bad Request", f"{pointer}: expected an object")
        row = record.get("id")
        if row is not None and (not isinstance(row, str) or not _HEX32.match(row)):
            return _errors(400, "FRAMEWORK__INVALID_UUID", "Bad Request", f'Value "{row}" is not a valid uuid.')
        if action == "delete":
            return None
        existing = self.codes.get(row) if row else None
        for name in ("promotionId", "code"):
            if not record.get(name) and not (existing and existing.get(name)):
                status, headers, payload = _errors(
                    400, "VIOLATION::IS_BLANK_ERROR", "Bad Request", "This value should not be blank."
                )
                error = json.loads(payload)
                error["errors"][0]["source"] = {"pointer": f"{pointer}/{name}"}
                return status, headers, json.dumps(error).encode()
        return None

    def _apply(self, planned: list[tuple[str, dict[str, Any]]]) -> Response:
        """All or nothing, like the sync API with fail-on-error (its default)."""
        codes = {k: dict(v) for k, v in self.codes.items()}
        written: list[str] = []
        deleted: list[str] = []
        for action, record in planned:
            row = record.get("id") or uuid.uuid4().hex
            if action == "delete":
                if codes.pop(row, None) is not None:
                    deleted.append(row)
                continue
            merged = {**codes.get(row, {"payload": None, "apiAlias": "promotion_individual_code"}), **record}
            merged["id"] = row
            if merged["promotionId"] not in self.promotions:
                return _errors(
                    500,
                    "0",
                    "Internal Server Error",
                    "An exception occurred while executing a query: SQLSTATE[23000]: Integrity constraint violation: "
                    "1452 Cannot add or update a child row: a foreign key constraint fails "
                    "(`promotion_individual_code`, CONSTRAINT `fk.promotion_individual_code.promotion_id`)",
                )
            taken = next(
                (c for c in codes.values() if c["id"] != row and c["code"].lower() == str(merged["code"]).lower()),
                None,
            )
            if taken is not None:
                return _errors(
                    500,
                    "0",
                    "Internal Server Error",
                    "An exception occurred while executing a query: SQLSTATE[23000]: Integrity constraint violation: "
                    f"1062 Duplicate entry '{merged['code']}' for key 'promotion_individual_code.code'",
                )
            now = _iso(self.clock.now())
            merged.setdefault("createdAt", now)
            if row in codes:
                merged["updatedAt"] = now
            codes[row] = merged
            written.append(row)
        self.codes = codes
        data = {"promotion_individual_code": written} if written else {}
        gone = {"promotion_individual_code": deleted} if deleted else {}
        return _json(200, {"data": data, "notFound": [], "deleted": gone})

    def _code_by_value(self, code: str) -> dict[str, Any] | None:
        wanted = code.strip().lower()
        return next((c for c in self.codes.values() if c["code"].lower() == wanted), None)

    # ---- checkout ------------------------------------------------------------------------------------

    def redeem(
        self,
        code: str,
        order_id: str,
        email: str,
        total: Decimal | str,
        *,
        customer_id: str | None = None,
        customer_name: str = "Stand-in Customer",
    ) -> dict[str, Any]:
        """Apply ``code`` to an order of ``total`` (gross, before the discount) by ``email``; mark an
        individual code redeemed; return the ``checkout.order.placed`` webhook body. CouponRejected when the
        cart would refuse the code."""
        gross = Decimal(str(total))
        with self._lock:
            now = self.clock.now()
            individual = self._code_by_value(code)
            if individual is not None:
                promo = self.promotions[individual["promotionId"]]
                shown = individual["code"]
            else:
                promo = next(
                    (
                        p
                        for p in self.promotions.values()
                        if p.get("useCodes") and not p.get("useIndividualCodes") and _same(p.get("code"), code)
                    ),
                    None,
                )
                if promo is None:
                    raise CouponRejected(f'Promotion code "{code}" has not been found.')
                shown = promo["code"]
            if not promo.get("active"):
                raise CouponRejected(f'Promotion code "{code}" has not been found.')
            starts, ends = _parse(promo.get("validFrom")), _parse(promo.get("validUntil"))
            if (starts and now < starts) or (ends and now >= ends):
                raise CouponRejected(f'Promotion code "{code}" is not valid (outside the promotion\'s dates).')
            if individual is not None and individual.get("payload"):
                raise CouponRejected(f'Promotion with code "{shown}" has already been marked as redeemed!')
            limit = promo.get("maxRedemptionsGlobal")
            if limit is not None and promo["orderCount"] >= limit:
                raise CouponRejected(f'Promotion code "{code}" has been used up.')
            discount = self._discount(promo, gross)
            order_hex = order_id if _HEX32.match(order_id) else _hex("order", order_id)
            buyer = customer_id or _hex("customer", email.strip().lower())
            if individual is not None:
                individual["payload"] = {"orderId": order_hex, "customerId": buyer, "customerName": customer_name}
                individual["updatedAt"] = _iso(now)
            promo["orderCount"] += 1
            return self._webhook(promo, shown, order_id, order_hex, email, buyer, gross, discount, now)

    @staticmethod
    def _discount(promo: dict[str, Any], gross: Decimal) -> Decimal:
        total = Decimal(0)
        for d in promo.get("discounts") or []:
            value = Decimal(str(d["value"]))
            if d["type"] == "percentage":
                total += (gross * value / 100).quantize(CENT, ROUND_HALF_UP)
            elif d["type"] == "absolute":
                total += value
        return min(total, gross)

    def _webhook(
        self,
        promo: dict[str, Any],
        code: str,
        order_number: str,
        order_id: str,
        email: str,
        customer_id: str,
        gross: Decimal,
        discount: Decimal,
        now: datetime,
    ) -> dict[str, Any]:
        paid = gross - discount
        net = float((paid / Decimal("1.19")).quantize(CENT, ROUND_HALF_UP))
        first = next(iter(promo.get("discounts") or []), {})
        tax = float((paid - Decimal(str(net))).quantize(CENT))

        def line(n: int, **fields: Any) -> dict[str, Any]:
            return {"id": _hex("line", order_id, n), "versionId": VERSION_ID, "orderId": order_id, **fields}

        product = line(
            1,
            identifier=_hex("product", 1),
            referencedId=_hex("product", 1),
            productId=_hex("product", 1),
            quantity=1,
            unitPrice=float(gross),
            totalPrice=float(gross),
            label="Stand-in product",
            good=True,
            payload={"productNumber": "STANDIN-1"},
            type="product",
            parentId=None,
            states=["is-physical"],
        )
        promotion_line = line(
            2,
            identifier=f"promotion-{code}",
            referencedId=code,
            productId=None,
            quantity=1,
            unitPrice=-float(discount),
            totalPrice=-float(discount),
            label=promo.get("name") or "Promotion",
            good=False,
            payload={
                "code": code,
                "promotionId": promo["id"],
                "discountId": first.get("id"),
                "discountType": first.get("type"),
                "value": str(first.get("value")),
                "discountScope": first.get("scope"),
                "groupId": "",
                "filter": {},
            },
            type="promotion",
            parentId=None,
            states=[],
        )
        stamp = _iso(now)
        order = {
            "id": order_id,
            "versionId": VERSION_ID,
            "orderNumber": order_number,
            "currencyId": EURO_ID,
            "orderDateTime": stamp,
            "orderDate": now.astimezone(UTC).date().isoformat(),
            "price": {
                "netPrice": net,
                "totalPrice": float(paid),
                "positionPrice": float(paid),
                "rawTotal": float(paid),
                "taxStatus": "gross",
                "calculatedTaxes": [{"tax": tax, "taxRate": 19, "price": float(paid)}],
            },
            "amountTotal": float(paid),
            "amountNet": net,
            "positionPrice": float(paid),
            "taxStatus": "gross",
            "shippingTotal": 0,
            "orderCustomer": {
                "email": email,
                "orderId": order_id,
                "firstName": "Stand-in",
                "lastName": "Customer",
                "customerNumber": customer_id[:8],
                "customerId": customer_id,
            },
            "currency": {"isoCode": "EUR", "factor": 1, "symbol": "€", "id": EURO_ID},
            "lineItems": [product, promotion_line],
            "stateMachineState": {"technicalName": "open", "name": "Open"},
            "createdAt": stamp,
            "updatedAt": None,
        }
        return {
            "data": {"payload": {"order": order}, "event": "checkout.order.placed"},
            "source": {
                "url": self.base_url,
                "appVersion": "1.0.0",
                "shopId": self.shop_id,
                "eventId": _hex("event", order_id),
            },
            "timestamp": int(now.timestamp()),
        }


def _same(stored: Any, wanted: Any) -> bool:
    """Equality as MySQL's case-insensitive collation compares strings."""
    if isinstance(stored, str) and isinstance(wanted, str):
        return stored.lower() == wanted.lower()
    return bool(stored == wanted)
