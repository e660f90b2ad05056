"""The shop directory from a fixed list of shop configurations (emma.shops.ShopDirectory)."""

from __future__ import annotations

from collections.abc import Sequence

from emma.adapters.shops import match_domain, match_key
from emma.errors import ShopNotFound, Unauthorized
from emma.shops import ShopConfig


class StaticShopDirectory:
    def __init__(self, shops: Sequence[ShopConfig]) -> None:
        self._shops = {s.shop: s for s in shops}

    def get(self, shop: str) -> ShopConfig:
        try:
            return self._shops[shop]
        except KeyError:
            raise ShopNotFound(f"unknown shop {shop!r}") from None

    def by_write_key(self, key: str) -> ShopConfig:
        found = match_key(self._shops.values(), key, "write_keys")
        if found is None:
            raise Unauthorized("unknown write key")
        return found

    def by_admin_key(self, key: str) -> ShopConfig:
        found = match_key(self._shops.values(), key, "admin_keys")
        if found is None:
            raise Unauthorized("unknown admin key")
        return found

    def all(self) -> list[ShopConfig]:
        return list(self._shops.values())

    def by_shopify_domain(self, domain: str) -> ShopConfig:
        found = match_domain(self._shops.values(), domain)
        if found is None:
            raise ShopNotFound(f"no shop is connected to the Shopify domain {domain!r}")
        return found
