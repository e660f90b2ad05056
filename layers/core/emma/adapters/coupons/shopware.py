"""Shopware 6: each code is an individual code of a promotion the shop set up for Emma.

In Shopware the discount, validity and customer rules belong to the *promotion*; an individual code
(entity ``promotion_individual_code``: ``id``, ``promotionId``, ``code``, ``payload`` filled on redemption;
UNIQUE ``code``) only opens it once. So the shop creates one promotion per Emma template (``useCodes`` and
``useIndividualCodes`` on, the template's percentage on the cart) and maps template → promotion id in its
configuration (``promotions``; a kind, e.g. ``referral``, may stand for every template of that kind).

* Token: ``POST /api/oauth/token`` ``{"grant_type": "client_credentials", "client_id", "client_secret"}`` →
  ``{"token_type": "Bearer", "expires_in", "access_token"}`` (Admin API spec, ``paths/token.json``). Cached per
  shop API and integration in the module (a warm Lambda reuses it) until ``expires_in`` - 30 s, because
  Shopware's SaaS limits the token route to 10 requests a minute (429 with ``Retry-After``). An API call
  answered 401 with a cached token drops it and tries once more with a new one.
* Validation, at first use of a promotion (then cached for PROMOTION_TTL seconds): ``POST /api/search/promotion``
  ``{"ids": [id], "associations": {"discounts": {}}}``; the promotion must exist, be active, use individual
  codes, not have ended and give exactly the template's percentage on the cart. Otherwise ProviderMisconfigured
  says precisely what differs.
* Issue: Emma writes its own code with ``POST /api/_action/sync``, an upsert of ``promotion_individual_code``
  whose ``id`` is derived from shop and message reference (uuid5, 32 hex digits like every Shopware id), so a
  retry rewrites the same row. The body is the *list* of operations that Shopware's own Admin API spec documents
  for 6.5 and later (``paths/sync.json``: an array of ``{action, entity, payload}``); the SyncController also
  still takes the older object keyed by operation name. A code taken by another row is refused.
* Errors: Shopware's ``{"errors": [{"status", "code", "title", "detail"}]}``.

Limits, by Shopware's model: the code expires with the promotion (``ends_at`` = the earlier of the template's
end and ``validUntil``; the template's own expiry is not enforced when the promotion runs longer), the minimum
order and customer restriction are the promotion's, and an individual code is single-use. So a referral code
(many friends, once each) cannot be an individual code, and a fixed-code promotion's one code cannot tell
referrers apart: for ``kind == "referral"`` the adapter refuses.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from emma.adapters.coupons.http import HttpResponse, Transport, json_request, urllib_transport
from emma.offers.model import CouponOffer, IssuedCoupon
from emma.offers.ports import ProviderMisconfigured, ProviderRefused, ProviderTransient

TOKEN_MARGIN = 30.0  # seconds before expires_in that a cached token is renewed
PROMOTION_TTL = 300.0  # seconds a validated promotion is trusted before it is read again
ENTITY = "promotion_individual_code"
REFERRAL_REFUSED = (
    "Shopware's individual codes are single-use and a fixed code is everybody's: referral codes need a pool "
    "or the shop's own programme"
)
_ID_NAMESPACE = uuid.UUID("6f1c2a4e-3b5d-5e7f-8a9b-0c1d2e3f4a5b")

_lock = threading.Lock()
# (api url, client id, secret digest) -> (access token, monotonic time it is renewed at)
_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
# (api url, promotion id) -> (promotion as searched, monotonic time it is read again at)
_promotions: dict[tuple[str, str], tuple[dict[str, Any], float]] = {}


def clear_caches() -> None:
    """Forget every cached token and promotion (tests; a shop whose set-up changed)."""
    with _lock:
        _tokens.clear()
        _promotions.clear()


def code_id(shop: str, reference: str) -> str:
    """The individual code's id for one message: stable across retries, 32 lower-case hex digits."""
    return uuid.uuid5(_ID_NAMESPACE, f"{shop}|{reference}").hex


def _errors(response: HttpResponse) -> str:
    """Shopware's errors as ``CODE: detail`` (or the bare status when the body says nothing)."""
    payload = response.json()
    found = payload.get("errors") if isinstance(payload, dict) else None
    parts = []
    for error in found if isinstance(found, list) else []:
        if isinstance(error, dict):
            code = error.get("code") or error.get("status") or ""
            detail = error.get("detail") or error.get("title") or ""
            parts.append(f"{code}: {detail}".strip(": "))
    return "; ".join(parts)[:300] or f"HTTP {response.status}"


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _percent(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)).normalize()
    except (InvalidOperation, ValueError):
        return None


def _shown(value: Decimal) -> str:
    return format(value, "f")


@dataclass
class ShopwareCoupons:
    """CouponProvider for one Shopware 6 shop, through an integration's access key (Settings > System >
    Integrations) allowed to read promotions and write promotion individual codes."""

    url: str
    client_id: str
    client_secret: str = field(repr=False)
    promotions: dict[str, str] = field(default_factory=dict)
    transport: Transport = field(default_factory=urllib_transport, repr=False)
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False)
    wall_clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), repr=False)
    name: ClassVar[str] = "shopware"

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")

    # ---- the port ------------------------------------------------------------------------------

    def issue(self, offer: CouponOffer) -> IssuedCoupon:
        promotion_id = self.promotions.get(offer.template) or self.promotions.get(offer.kind)
        if offer.kind == "referral":
            return self._referral(offer, promotion_id)
        if not promotion_id:
            raise ProviderMisconfigured(
                f"no Shopware promotion is configured for {offer.template} (nor for its kind {offer.kind}): add "
                "its promotion id to the shop's coupons.promotions"
            )
        promotion = self._promotion(promotion_id, offer)
        if not promotion.get("useIndividualCodes"):
            raise ProviderMisconfigured(
                f"promotion {promotion_id} for {offer.template} does not use individual codes: switch on "
                "'individual codes' (useCodes and useIndividualCodes)"
            )
        row = code_id(offer.shop, offer.reference)
        operations = [
            {
                "key": "emma-coupon",
                "action": "upsert",
                "entity": ENTITY,
                "payload": [{"id": row, "promotionId": promotion_id, "code": offer.code}],
            }
        ]
        response = self._api("POST", "/api/_action/sync", operations)
        if response.status not in (200, 204):
            self._sync_failed(offer, row, response)
        return IssuedCoupon(offer.code, self.name, row, _earlier(offer.ends_at, _when(promotion.get("validUntil"))))

    # ---- steps ---------------------------------------------------------------------------------

    def _referral(self, offer: CouponOffer, promotion_id: str | None) -> IssuedCoupon:
        """Many uses, once per friend: Shopware's individual codes are single-use, and a fixed-code promotion's code
        is one code for everybody (Emma could not tell whose friend used it: the referrer would be whoever was
        given it last). Refused: the invite goes without a code (a pool, or the shop's own programme, does them)."""
        raise ProviderRefused(REFERRAL_REFUSED)

    def _promotion(self, promotion_id: str, offer: CouponOffer) -> dict[str, Any]:
        """The promotion, read once per PROMOTION_TTL, checked against the offer every time."""
        key = (self.url, promotion_id)
        with _lock:
            cached = _promotions.get(key)
        if cached is None or cached[1] <= self.monotonic():
            promotion = self._search_promotion(promotion_id, offer)
            with _lock:
                _promotions[key] = (promotion, self.monotonic() + PROMOTION_TTL)
        else:
            promotion = cached[0]
        problem = self._mismatch(promotion, promotion_id, offer)
        if problem:
            with _lock:
                _promotions.pop(key, None)  # read it again next time: the shop may fix it
            raise ProviderMisconfigured(problem)
        return promotion

    def _search_promotion(self, promotion_id: str, offer: CouponOffer) -> dict[str, Any]:
        body = {"ids": [promotion_id], "associations": {"discounts": {}}, "limit": 1}
        response = self._api("POST", "/api/search/promotion", body)
        if response.status != 200:
            raise self._failure(response, f"reading promotion {promotion_id}", refused=False)
        payload = response.json()
        data = payload.get("data") if isinstance(payload, dict) else None
        found = (
            [p for p in data if isinstance(p, dict) and p.get("id") == promotion_id] if isinstance(data, list) else []
        )
        if not found:
            raise ProviderMisconfigured(
                f"promotion {promotion_id} for {offer.template} does not exist in Shopware at {self.url}"
            )
        return found[0]

    def _mismatch(self, promotion: dict[str, Any], promotion_id: str, offer: CouponOffer) -> str | None:
        what = f"promotion {promotion_id} for {offer.template}"
        if not promotion.get("active"):
            return f"{what} is not active"
        until = _when(promotion.get("validUntil"))
        if until is not None and until <= self.wall_clock():
            return f"{what} ended at {until.isoformat()}"
        discounts = [d for d in promotion.get("discounts") or [] if isinstance(d, dict)]
        on_cart = [d for d in discounts if d.get("type") == "percentage" and d.get("scope", "cart") == "cart"]
        values = [v for d in on_cart if (v := _percent(d.get("value"))) is not None]
        wanted = Decimal(offer.percent).normalize()
        if not values:
            kinds = ", ".join(sorted({f"{d.get('type')} on {d.get('scope')}" for d in discounts})) or "no discount"
            return f"{what} gives no percentage on the cart ({kinds}), the template {offer.percent} %"
        if values != [wanted]:  # exactly one percentage on the cart, the template's
            given = " + ".join(f"{_shown(v)} %" for v in values)
            return f"{what} gives {given}, the template {offer.percent} %"
        return None

    def _sync_failed(self, offer: CouponOffer, row: str, response: HttpResponse) -> None:
        """The upsert failed: the code may be taken by another row (UNIQUE code), else the error stands."""
        if response.status in (401, 403, 404, 429) or response.status in (502, 503, 504):
            raise self._failure(response, f"writing code {offer.code}")
        owner = self._code_owner(offer.code)
        if owner is not None and owner.get("id") != row:
            raise ProviderRefused(
                f"Shopware code {offer.code} belongs to another individual code ({owner.get('id')}, promotion "
                f"{owner.get('promotionId')}), not to Emma's for {offer.reference}"
            )
        raise self._failure(response, f"writing code {offer.code}")

    def _code_owner(self, code: str) -> dict[str, Any] | None:
        body = {"filter": [{"type": "equals", "field": "code", "value": code}], "limit": 1}
        response = self._api("POST", "/api/search/promotion-individual-code", body)
        if response.status != 200:
            return None
        payload = response.json()
        data = payload.get("data") if isinstance(payload, dict) else None
        return next((c for c in data if isinstance(c, dict)), None) if isinstance(data, list) else None

    # ---- HTTP ----------------------------------------------------------------------------------

    def _api(self, method: str, path: str, body: Any) -> HttpResponse:
        """One Admin API call with the cached token; a 401 on a cached token: a new token, once."""
        token, cached = self._token()
        response = self._call(method, path, body, token)
        if response.status == 401 and cached:
            self._drop_token(token)
            token, _ = self._token()
            response = self._call(method, path, body, token)
        if response.status == 401:
            raise ProviderMisconfigured(
                f"Shopware at {self.url} refused a new access token ({_errors(response)}): check the integration"
            )
        return response

    def _call(self, method: str, path: str, body: Any, token: str) -> HttpResponse:
        return self.transport(json_request(method, f"{self.url}{path}", body, {"Authorization": f"Bearer {token}"}))

    def _token_key(self) -> tuple[str, str, str]:
        return self.url, self.client_id, hashlib.sha256(self.client_secret.encode()).hexdigest()[:16]

    def _token(self) -> tuple[str, bool]:
        """(access token, whether it came from the cache)."""
        key = self._token_key()
        with _lock:
            cached = _tokens.get(key)
        if cached is not None and cached[1] > self.monotonic():
            return cached[0], True
        body = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret}
        response = self.transport(json_request("POST", f"{self.url}/api/oauth/token", body))
        if response.status != 200:
            raise self._failure(response, "getting an access token", refused=False)
        payload = response.json()
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise ProviderTransient(f"Shopware at {self.url} answered the token request without a token", 30.0)
        try:
            lifetime = float(payload.get("expires_in") or 0)
        except (TypeError, ValueError):
            lifetime = 0.0
        with _lock:
            _tokens[key] = (token, self.monotonic() + max(0.0, lifetime - TOKEN_MARGIN))
        return token, False

    def _drop_token(self, token: str) -> None:
        with _lock:
            if _tokens.get(self._token_key(), ("",))[0] == token:
                _tokens.pop(self._token_key(), None)

    def _failure(self, response: HttpResponse, doing: str, *, refused: bool = True) -> Exception:
        """The port's error for an unsuccessful answer. ``refused``: a 400 refuses this one coupon (else the
        request Emma builds from the configuration is wrong: misconfigured)."""
        status = response.status
        where = f"Shopware at {self.url}"
        if status == 429:
            return ProviderTransient(f"{where} is throttling ({status}) {doing}", response.retry_after())
        if status >= 500:
            return ProviderTransient(f"{where} failed {doing}: {_errors(response)}", response.retry_after())
        if status in (401, 403):
            return ProviderMisconfigured(
                f"{where} refused the integration {doing} ({_errors(response)}): check its access key and that "
                "it may read promotions and write promotion individual codes"
            )
        if status == 404:
            return ProviderMisconfigured(f"Shopware Admin API not found at {self.url} {doing} ({_errors(response)})")
        if refused:
            return ProviderRefused(f"{where} refused {doing}: {_errors(response)}")
        return ProviderMisconfigured(f"{where} refused {doing}: {_errors(response)}")


def _earlier(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None or second is None:
        return first or second
    return min(first, second)
