"""WooCommerce: each code is a coupon created through the REST API (wc/v3).

``POST /wp-json/wc/v3/coupons`` creates it (201 with the coupon); a retry that finds the code taken
(400 ``woocommerce_rest_coupon_code_already_exists``) looks it up with ``GET /wp-json/wc/v3/coupons?code=``
and accepts it only when its ``emma_reference`` meta names the same message. Sources: the REST API
documentation (woocommerce/woocommerce-rest-api-docs ``_coupons.md``, ``_authentication.md``,
``_introduction.md`` "Errors") and WooCommerce core (``woocommerce_rest_coupon_code_already_exists``
"The coupon code already exists", status 400).

Codes are case-insensitive: WooCommerce core filters every code through ``wc_strtolower``
(``add_filter('woocommerce_coupon_code', 'wc_strtolower')`` in wc-core-functions.php), so the shop keeps
``emma-7k2p-q9xd`` and orders report it in lower case. The message still shows Emma's own spelling (the
checkout accepts either); the lookup after a duplicate compares case-folded.

Authentication: HTTP Basic with the consumer key and secret, which the documentation allows over HTTPS
only (plain HTTP needs OAuth 1.0a signatures). Emma does not implement OAuth 1.0a: a plain ``http://`` URL is
accepted only for a loopback host (the local stand-in), anything else is a configuration error, so the
keys never cross the internet in clear.

Rate limits: the wc/v3 REST API has none of its own (WooCommerce is self-hosted); hosts and WAFs answer
429 or 503, usually with ``Retry-After``, which becomes ProviderTransient(retry_after).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from emma.adapters.coupons.http import HttpResponse, Transport, json_request, urllib_transport
from emma.offers.model import CouponOffer, IssuedCoupon
from emma.offers.ports import ProviderMisconfigured, ProviderRefused, ProviderTransient

API_PATH = "/wp-json/wc/v3"
REFERENCE_META = "emma_reference"  # meta_data key holding CouponOffer.reference
ALREADY_EXISTS = "woocommerce_rest_coupon_code_already_exists"
_AUTH_CODES = frozenset(
    {
        "woocommerce_rest_authentication_error",
        "woocommerce_rest_cannot_create",
        "woocommerce_rest_cannot_view",
        "woocommerce_rest_cannot_edit",
        "rest_forbidden",
    }
)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def wc_date(value: Any) -> str | None:
    """WooCommerce's date format for ``date_expires_gmt``: ``YYYY-MM-DDTHH:MM:SS`` in UTC, no offset."""
    if value is None:
        return None
    moment = value.astimezone(UTC) if value.tzinfo else value
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def coupon_body(offer: CouponOffer) -> dict[str, Any]:
    """The create request for one offer (fields as documented for ``POST /coupons``)."""
    body: dict[str, Any] = {
        "code": offer.code,
        "discount_type": "percent",
        "amount": str(offer.percent),
        "individual_use": True,
        "usage_limit": offer.usage_limit,
        "date_expires_gmt": wc_date(offer.ends_at),
        "description": offer.title,
        "meta_data": [{"key": REFERENCE_META, "value": offer.reference}],
    }
    if offer.once_per_customer:
        body["usage_limit_per_user"] = 1
    if offer.customer_email:
        body["email_restrictions"] = [offer.customer_email]
    if offer.minimum_order is not None:
        body["minimum_amount"] = str(offer.minimum_order)
    return body


def _error(response: HttpResponse) -> tuple[str, str, dict[str, Any]]:
    """(code, message, data) of a WooCommerce error body ``{"code", "message", "data": {"status", ...}}``."""
    payload = response.json()
    if not isinstance(payload, dict):
        return "", "", {}
    data = payload.get("data")
    return str(payload.get("code") or ""), str(payload.get("message") or ""), data if isinstance(data, dict) else {}


@dataclass
class WooCommerceCoupons:
    """CouponProvider for one WooCommerce shop. ``url`` is the shop's base URL (``https://shop.example``)."""

    url: str
    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)
    transport: Transport = field(default_factory=urllib_transport, repr=False)
    name: ClassVar[str] = "woocommerce"

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")

    # ---- the port ------------------------------------------------------------------------------

    def issue(self, offer: CouponOffer) -> IssuedCoupon:
        self._check_url()
        response = self._send("POST", "/coupons", coupon_body(offer))
        if response.status in (200, 201):
            return self._issued(offer, response.json())
        code, _, _ = _error(response)
        if response.status == 400 and code == ALREADY_EXISTS:
            return self._existing(offer)
        raise self._failure(response, f"creating coupon {offer.code}")

    # ---- steps ---------------------------------------------------------------------------------

    def _existing(self, offer: CouponOffer) -> IssuedCoupon:
        """The code is taken: ours from an earlier attempt (same reference) or someone else's."""
        response = self._send("GET", f"/coupons?code={quote(offer.code, safe='')}")
        if response.status != 200:
            raise self._failure(response, f"looking up coupon {offer.code}")
        found = response.json()
        wanted = offer.code.casefold()
        for coupon in found if isinstance(found, list) else []:
            if not isinstance(coupon, dict) or str(coupon.get("code", "")).casefold() != wanted:
                continue
            if _reference(coupon) == offer.reference:
                return self._issued(offer, coupon)
            raise ProviderRefused(
                f"WooCommerce coupon code {offer.code} is taken by coupon {coupon.get('id')}, which is not Emma's "
                f"coupon for {offer.reference}"
            )
        raise ProviderRefused(
            f"WooCommerce says coupon code {offer.code} exists but does not list it (a draft or trashed coupon?)"
        )

    def _issued(self, offer: CouponOffer, coupon: Any) -> IssuedCoupon:
        if not isinstance(coupon, dict) or coupon.get("id") in (None, ""):
            raise ProviderTransient(f"WooCommerce at {self.url} answered coupon {offer.code} without an id", 30.0)
        return IssuedCoupon(offer.code, self.name, str(coupon["id"]), offer.ends_at)

    # ---- HTTP ----------------------------------------------------------------------------------

    def _check_url(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme == "https" and parts.hostname:
            return
        if parts.scheme == "http" and parts.hostname in _LOOPBACK:
            return  # the local stand-in: Basic auth over loopback only
        raise ProviderMisconfigured(
            f"WooCommerce URL {parts.scheme}://{parts.hostname or ''} is not https: the REST API keys may only be "
            "sent over HTTPS (plain HTTP would need OAuth 1.0a, which Emma does not use)"
        )

    def _send(self, method: str, path: str, body: Any = None) -> HttpResponse:
        token = base64.b64encode(f"{self.consumer_key}:{self.consumer_secret}".encode()).decode("ascii")
        return self.transport(
            json_request(method, f"{self.url}{API_PATH}{path}", body, {"Authorization": f"Basic {token}"})
        )

    def _failure(self, response: HttpResponse, doing: str) -> Exception:
        """The port's error for a response that is neither success nor a duplicate."""
        status = response.status
        code, message, data = _error(response)
        where = f"WooCommerce at {self.url}"
        if status in (429, 503):
            return ProviderTransient(f"{where} is throttling ({status}) {doing}", response.retry_after())
        if status >= 500:
            return ProviderTransient(f"{where} failed ({status} {code or 'no error code'}) {doing}", 30.0)
        if status in (401, 403) or code in _AUTH_CODES:
            # WooCommerce's message never holds the key, but only the code is repeated, to be sure.
            return ProviderMisconfigured(
                f"{where} refused Emma's REST API key ({status} {code or 'no error code'}) {doing}: check that the "
                "key exists, belongs to an administrator or shop manager and has read/write permission"
            )
        if status == 404:
            return ProviderMisconfigured(
                f"WooCommerce REST API not found at {self.url} ({code or status}): is WooCommerce active, the REST "
                "API enabled and are pretty permalinks on?"
            )
        if status == 400:
            return ProviderRefused(f"{where} refused {doing}: {_params(code, message, data)}")
        return ProviderRefused(f"{where} answered {status} {code or ''} {doing}".replace("  ", " "))


def _reference(coupon: Mapping[str, Any]) -> str | None:
    for entry in coupon.get("meta_data") or []:
        if isinstance(entry, dict) and entry.get("key") == REFERENCE_META:
            return str(entry.get("value"))
    return None


def _params(code: str, message: str, data: Mapping[str, Any]) -> str:
    """The refused parameters, as WordPress names them (``data.params``: {name: reason} or [names])."""
    params = data.get("params")
    if isinstance(params, dict) and params:
        named = "; ".join(f"{name}: {reason}" for name, reason in sorted(params.items()))
        return f"{code or 'invalid'} ({named})"
    if isinstance(params, list) and params:
        return f"{code or 'invalid'} ({', '.join(str(p) for p in params)})"
    return f"{code or 'invalid'}: {message}"[:300]
