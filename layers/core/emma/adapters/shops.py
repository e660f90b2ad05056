"""Shop directory over Secrets Manager: one JSON secret per shop, named <prefix><shop>.

All shops are read at once (ListSecrets, then BatchGetSecretValue per 20) and cached: a new shop
shows up within ``ttl_seconds``. A miss (an unknown shop name, write key, admin key or domain)
triggers at most one earlier refresh per ``miss_refresh_seconds`` for all misses together, so a
flood of requests naming unknown shops costs one read of the secrets per interval, never one per
request. When a read fails (Secrets Manager throttling or unavailable) the shops already read stay
in use and the next attempt waits ``failure_backoff_seconds``: a flood during an outage does not
turn into one failing Secrets Manager call per request; without any shops read yet, requests fail
(StoreError, 503) without a call until then. Keys are compared in constant time and never logged:
ShopConfig's repr hides them.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from emma.errors import ShopNotFound, StoreError, Unauthorized
from emma.shops import ShopConfig


def match_key(shops: Iterable[ShopConfig], key: str, attr: str) -> ShopConfig | None:
    """The shop owning ``key`` in ``attr`` (write_keys / admin_keys); every key is compared."""
    found = None
    for shop in shops:
        for candidate in getattr(shop, attr):
            if hmac.compare_digest(candidate.encode(), key.encode()):
                found = shop
    return found


def match_domain(shops: Iterable[ShopConfig], domain: str) -> ShopConfig | None:
    return next((s for s in shops if s.shopify_domain and s.shopify_domain.lower() == domain.lower()), None)


class SecretsShopDirectory:
    def __init__(
        self,
        client: Any,
        prefix: str,
        *,
        ttl_seconds: float = 300,
        miss_refresh_seconds: float = 30,
        failure_backoff_seconds: float = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._miss_refresh = miss_refresh_seconds
        self._failure_backoff = failure_backoff_seconds
        self._clock = clock
        self._shops: dict[str, ShopConfig] = {}
        self._loaded_at = float("-inf")
        self._retry_at = float("-inf")  # after a failed read: no new attempt before this
        self._failure: StoreError | None = None  # the last failed read, while no shops were ever read
        self._lock = threading.Lock()

    def _load_all(self) -> None:
        names: list[str] = []
        try:
            for page in self._client.get_paginator("list_secrets").paginate(
                Filters=[{"Key": "name", "Values": [self._prefix]}]
            ):
                names += [s["Name"] for s in page.get("SecretList", []) if s["Name"].startswith(self._prefix)]
            shops: dict[str, ShopConfig] = {}
            for start in range(0, len(names), 20):
                resp = self._client.batch_get_secret_value(SecretIdList=names[start : start + 20])
                for value in resp.get("SecretValues", []):
                    shop = self._parse(value["Name"], value.get("SecretString", ""))
                    if shop is not None:
                        shops[shop.shop] = shop
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"could not read shop secrets: {type(exc).__name__}") from exc
        self._shops = shops
        self._loaded_at = self._clock()

    def _parse(self, name: str, raw: str) -> ShopConfig | None:
        shop_id = name[len(self._prefix) :]
        try:
            shop = ShopConfig.model_validate_json(raw) if raw.strip().startswith("{") else None
        except ValidationError:
            return None  # a malformed secret disables that shop only; the others keep working
        if shop is None or shop.shop != shop_id:
            return None
        return shop

    def _current(self, *, after_miss: bool = False) -> dict[str, ShopConfig]:
        with self._lock:
            now = self._clock()
            age = now - self._loaded_at
            if age > self._ttl or (after_miss and age > self._miss_refresh):
                if now >= self._retry_at:
                    try:
                        self._load_all()
                        self._failure = None
                    except StoreError as exc:
                        self._retry_at = now + self._failure_backoff
                        if self._loaded_at == float("-inf"):
                            self._failure = exc
                            raise
                elif self._failure is not None:  # nothing read yet and backing off: fail without a call
                    raise StoreError(f"{self._failure.message} (retrying within {self._failure_backoff:g} s)")
            return self._shops

    def _find(self, pick: Callable[[Iterable[ShopConfig]], ShopConfig | None]) -> ShopConfig | None:
        found = pick(self._current().values())
        return found if found is not None else pick(self._current(after_miss=True).values())

    def all(self) -> list[ShopConfig]:
        return sorted(self._current().values(), key=lambda s: s.shop)

    def get(self, shop: str) -> ShopConfig:
        found = self._find(lambda shops: next((s for s in shops if s.shop == shop), None))
        if found is None:
            raise ShopNotFound(f"unknown shop {shop!r}")
        return found

    def by_write_key(self, key: str) -> ShopConfig:
        found = self._find(lambda shops: match_key(shops, key, "write_keys"))
        if found is None:
            raise Unauthorized("unknown write key")
        return found

    def by_admin_key(self, key: str) -> ShopConfig:
        found = self._find(lambda shops: match_key(shops, key, "admin_keys"))
        if found is None:
            raise Unauthorized("unknown admin key")
        return found

    def by_shopify_domain(self, domain: str) -> ShopConfig:
        found = self._find(lambda shops: match_domain(shops, domain))
        if found is None:
            raise ShopNotFound(f"no shop is connected to the Shopify domain {domain!r}")
        return found
