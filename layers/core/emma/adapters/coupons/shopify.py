"""Shopify: one basic code discount per offer, created through the Admin GraphQL API
(``discountCodeBasicCreate``), found again by its code (``codeDiscountNodeByCode``) when a retry finds it taken.

Rate limits: Shopify meters the GraphQL Admin API by calculated query cost in a leaky bucket per app and
store, and reports the bucket in every answer (``extensions.cost.throttleStatus``). The last report of each
shop is kept in this module (a warm Lambda reuses it): before a call, the points available now are estimated
from it (``currentlyAvailable + restoreRate * elapsed``, at most ``maximumAvailable``). When the call's
expected cost (what the same operation asked for last time) is more than that, the adapter waits for the
bucket when a short wait (MAX_WAIT) suffices, and otherwise raises ProviderTransient without calling.
Lambdas do not share the estimate: a THROTTLED answer (HTTP 200 or 429) is a ProviderTransient too.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from emma.adapters.coupons.http import HttpResponse, Transport, json_request, urllib_transport
from emma.offers.model import CouponOffer, IssuedCoupon
from emma.offers.ports import CouponProvider, ProviderMisconfigured, ProviderRefused, ProviderTransient

API_VERSION = "2025-10"
DEFAULT_COST = 10.0  # points a mutation costs by Shopify's cost table, until an answer says otherwise
MAX_WAIT = 2.0  # seconds the adapter waits for the bucket before it defers instead
_TAKEN = re.compile(r"\b(taken|unique)\b", re.IGNORECASE)
_NUMERIC = re.compile(r"\d+")
_CUSTOMER_GID = re.compile(r"gid://shopify/Customer/\d+")

CREATE = """
mutation EmmaCouponCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode {
      id
      codeDiscount { ... on DiscountCodeBasic { title endsAt codes(first: 1) { nodes { code } } } }
    }
    userErrors { field message code }
  }
}
""".strip()

LOOKUP = """
query EmmaCouponByCode($code: String!) {
  codeDiscountNodeByCode(code: $code) {
    id
    codeDiscount { ... on DiscountCodeBasic { title endsAt codes(first: 1) { nodes { code } } } }
  }
}
""".strip()


@dataclass
class ThrottleStatus:
    """The last ``throttleStatus`` a shop reported, when (on the adapter's monotonic clock) and what each
    operation asked for (``requestedQueryCost``)."""

    maximum: float
    available: float
    restore_rate: float
    at: float
    costs: dict[str, float] = field(default_factory=dict)

    def available_at(self, now: float) -> float:
        return min(self.maximum, self.available + self.restore_rate * max(0.0, now - self.at))


THROTTLE: dict[str, ThrottleStatus] = {}  # shop domain -> last status; lives as long as the Lambda container
_THROTTLE_LOCK = threading.Lock()


def _iso(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def discount_input(offer: CouponOffer) -> dict[str, Any]:
    """The DiscountCodeBasicInput for an offer."""
    customer = offer.customer_id or ""
    if _NUMERIC.fullmatch(customer):
        context: dict[str, Any] = {"customers": {"add": [f"gid://shopify/Customer/{customer}"]}}
    elif _CUSTOMER_GID.fullmatch(customer):
        context = {"customers": {"add": [customer]}}
    else:  # unguessable, single-use code: open to every buyer (DiscountContextInput.all: DiscountBuyerSelection)
        context = {"all": "ALL"}
    data: dict[str, Any] = {
        "title": offer.title,
        "code": offer.code,
        "startsAt": _iso(offer.starts_at),
        "endsAt": _iso(offer.ends_at) if offer.ends_at else None,
        "customerGets": {"value": {"percentage": round(offer.percent / 100, 4)}, "items": {"all": True}},
        "usageLimit": offer.usage_limit,
        "appliesOncePerCustomer": offer.once_per_customer,
        "context": context,
        "combinesWith": {"productDiscounts": False, "orderDiscounts": False, "shippingDiscounts": False},
    }
    if offer.minimum_order is not None:
        data["minimumRequirement"] = {"subtotal": {"greaterThanOrEqualToSubtotal": format(offer.minimum_order, "f")}}
    return data


class ShopifyCoupons(CouponProvider):
    """emma.offers.ports.CouponProvider for a Shopify shop (``write_discounts`` and ``read_discounts``)."""

    name = "shopify"

    def __init__(
        self,
        shop_domain: str,
        access_token: str,
        api_version: str = API_VERSION,
        api_url: str | None = None,
        transport: Transport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        domain = shop_domain.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
        self.shop_domain = domain
        self._token = access_token or ""
        self.api_url = api_url or f"https://{domain}/admin/api/{api_version}/graphql.json"
        self._send = transport or urllib_transport()
        self._sleep = sleep
        self._monotonic = monotonic

    def __repr__(self) -> str:  # never the token
        return f"ShopifyCoupons(shop_domain={self.shop_domain!r}, api_url={self.api_url!r})"

    # ---- the port ---------------------------------------------------------------------------------

    def issue(self, offer: CouponOffer) -> IssuedCoupon:
        data = self._call("create", CREATE, {"basicCodeDiscount": discount_input(offer)})
        payload = data.get("discountCodeBasicCreate") if isinstance(data, dict) else None
        if not isinstance(payload, dict):
            raise ProviderTransient(f"Shopify {self.shop_domain}: discountCodeBasicCreate answered no payload")
        errors = [e for e in payload.get("userErrors") or [] if isinstance(e, dict)]
        if any(self._taken(e) for e in errors):
            return self._existing(offer)
        if errors:
            reasons = "; ".join(self._describe(e) for e in errors)
            raise ProviderRefused(f"Shopify {self.shop_domain} refused coupon {offer.code}: {reasons}")
        node = payload.get("codeDiscountNode")
        if not isinstance(node, dict) or not node.get("id"):
            raise ProviderTransient(f"Shopify {self.shop_domain}: discountCodeBasicCreate created no discount")
        return self._issued(offer, node)

    # ---- idempotent retry -------------------------------------------------------------------------

    @staticmethod
    def _taken(error: Mapping[str, Any]) -> bool:
        if error.get("code") == "TAKEN":
            return True
        path = error.get("field") or []
        about_code = not path or (isinstance(path, list) and path[-1] == "code")
        return about_code and bool(_TAKEN.search(str(error.get("message") or "")))

    def _existing(self, offer: CouponOffer) -> IssuedCoupon:
        """The code is taken: ours (an earlier attempt created it) iff the discount has this offer's title."""
        data = self._call("lookup", LOOKUP, {"code": offer.code})
        node = data.get("codeDiscountNodeByCode") if isinstance(data, dict) else None
        discount = node.get("codeDiscount") if isinstance(node, dict) else None
        title = discount.get("title") if isinstance(discount, dict) else None
        if not isinstance(node, dict) or title != offer.title:
            raise ProviderRefused(
                f"Shopify {self.shop_domain}: code {offer.code} is taken by a discount that is not this "
                f"message's (title {title!r}, expected {offer.title!r})"
            )
        return self._issued(offer, node)

    def _issued(self, offer: CouponOffer, node: Mapping[str, Any]) -> IssuedCoupon:
        discount = node.get("codeDiscount") if isinstance(node.get("codeDiscount"), dict) else {}
        codes = ((discount.get("codes") or {}).get("nodes") or []) if isinstance(discount, dict) else []
        code = next((c.get("code") for c in codes if isinstance(c, dict) and c.get("code")), offer.code)
        ends_at = _parse_time(discount.get("endsAt")) if isinstance(discount, dict) else None
        return IssuedCoupon(
            code=code, provider=self.name, provider_id=str(node["id"]), ends_at=ends_at or offer.ends_at
        )

    @staticmethod
    def _describe(error: Mapping[str, Any]) -> str:
        path = error.get("field")
        where = ".".join(str(p) for p in path) if isinstance(path, list) and path else "input"
        code = f" ({error['code']})" if error.get("code") else ""
        return f"{where}: {error.get('message') or 'refused'}{code}"

    # ---- one GraphQL call, its rate limit and its errors ------------------------------------------

    def _call(self, operation: str, query: str, variables: dict[str, Any]) -> Any:
        if not self._token:
            raise ProviderMisconfigured(f"no Shopify access token configured for {self.shop_domain}")
        self._wait_for_budget(operation)
        response = self._send(
            json_request(
                "POST",
                self.api_url,
                {"query": query, "variables": variables},
                {"X-Shopify-Access-Token": self._token},
            )
        )
        body = response.json()
        cost = self._record(operation, body)
        if response.status in (401, 403):
            raise ProviderMisconfigured(
                f"Shopify refused the access token for {self.shop_domain}: HTTP {response.status} "
                f"{self._text(body, response)}"
            )
        if response.status == 429 or self._error_code(body, "THROTTLED"):
            raise ProviderTransient(
                f"Shopify {self.shop_domain} throttled {operation} (HTTP {response.status})",
                self._throttle_wait(cost, response),
            )
        if response.status >= 500:
            raise ProviderTransient(
                f"Shopify {self.shop_domain} answered HTTP {response.status}", response.retry_after()
            )
        if response.status != 200:
            raise ProviderMisconfigured(
                f"Shopify {self.shop_domain} answered HTTP {response.status} at {self.api_url}: "
                f"{self._text(body, response)}"
            )
        if not isinstance(body, dict):
            raise ProviderTransient(f"Shopify {self.shop_domain} answered HTTP 200 without a JSON body")
        if self._error_code(body, "ACCESS_DENIED"):
            raise ProviderMisconfigured(
                f"Shopify denied {operation} for {self.shop_domain} (the app needs the write_discounts and "
                f"read_discounts scopes): {self._text(body, response)}"
            )
        if self._error_code(body, "INTERNAL_SERVER_ERROR"):
            raise ProviderTransient(f"Shopify {self.shop_domain}: {self._text(body, response)}")
        if body.get("errors"):
            raise ProviderMisconfigured(
                f"Shopify {self.shop_domain} rejected the {operation} request: {self._text(body, response)}"
            )
        return body.get("data")

    def _wait_for_budget(self, operation: str) -> None:
        with _THROTTLE_LOCK:
            status = THROTTLE.get(self.shop_domain)
            if status is None:
                return
            cost = status.costs.get(operation, DEFAULT_COST)
            available = status.available_at(self._monotonic())
            rate = status.restore_rate
        if cost <= available:
            return
        wait = (cost - available) / rate if rate > 0 else float("inf")
        if wait > MAX_WAIT:
            raise ProviderTransient(
                f"Shopify {self.shop_domain}: {available:.0f} of the {cost:.0f} points {operation} needs are "
                f"available (restoring {rate:g}/s); not calling",
                wait if rate > 0 else 60.0,
            )
        self._sleep(wait)

    def _record(self, operation: str, body: Any) -> dict[str, Any] | None:
        """Keep the shop's ``extensions.cost`` for the next call; returns it."""
        extensions = body.get("extensions") if isinstance(body, dict) else None
        cost = extensions.get("cost") if isinstance(extensions, dict) else None
        status = cost.get("throttleStatus") if isinstance(cost, dict) else None
        if not isinstance(status, dict):
            return None
        maximum = _number(status.get("maximumAvailable"))
        available = _number(status.get("currentlyAvailable"))
        rate = _number(status.get("restoreRate"))
        if maximum is None or available is None or rate is None:
            return None
        requested = _number(cost.get("requestedQueryCost"))
        with _THROTTLE_LOCK:
            previous = THROTTLE.get(self.shop_domain)
            costs = dict(previous.costs) if previous else {}
            if requested is not None:
                costs[operation] = requested
            THROTTLE[self.shop_domain] = ThrottleStatus(maximum, available, rate, self._monotonic(), costs)
        return cost

    @staticmethod
    def _throttle_wait(cost: Mapping[str, Any] | None, response: HttpResponse) -> float:
        """Seconds until the bucket holds the requested cost, or the Retry-After header, whichever is later."""
        waits = []
        if response.header("retry-after"):
            waits.append(response.retry_after())
        status = cost.get("throttleStatus") if cost else None
        requested = _number(cost.get("requestedQueryCost")) if cost else None
        if isinstance(status, dict) and requested is not None:
            available = _number(status.get("currentlyAvailable")) or 0.0
            rate = _number(status.get("restoreRate")) or 0.0
            if rate > 0:
                waits.append((requested - available) / rate)
        return max(1.0, *waits) if waits else response.retry_after()

    @staticmethod
    def _error_code(body: Any, code: str) -> bool:
        errors = body.get("errors") if isinstance(body, dict) else None
        if not isinstance(errors, list):
            return False
        return any(
            isinstance(e, dict) and isinstance(e.get("extensions"), dict) and e["extensions"].get("code") == code
            for e in errors
        )

    def _text(self, body: Any, response: HttpResponse) -> str:
        """What the answer says, short, without the token."""
        errors = body.get("errors") if isinstance(body, dict) else None
        if isinstance(errors, list):
            text = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
        elif errors is not None:
            text = str(errors)
        else:
            text = response.body.decode("utf-8", "replace")
        text = " ".join(text.split())[:300]
        return text.replace(self._token, "***") if self._token else text
