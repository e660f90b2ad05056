"""What the recommender needs from storage (DynamoDB adapters in emma.adapters.recommend, in-memory
fakes in emma_local.fakes.recommend)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from emma.recommend.model import ShopModel


class ModelStore(Protocol):
    def load(self, shop: str, keys: Iterable[str]) -> dict[str, Any]:
        """The model's items stored under ``keys`` (missing keys are left out), as JSON values: one read.
        Their layout: emma.recommend.layout."""
        ...

    def save(self, model: ShopModel) -> int:
        """Store the model's items (emma.recommend.layout.pack), remove the items the previous build had
        and this one has not; returns how many items were written."""
        ...


class ProductReader(Protocol):
    def get_products(self, shop: str, product_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored catalog items of these products (unknown ones are left out): one read."""
        ...


class ShopHistory(Protocol):
    def shops(self) -> list[str]: ...

    def products(self, shop: str) -> Iterator[dict[str, Any]]:
        """Every catalog item of the shop."""
        ...

    def profiles(self, shop: str) -> Iterator[dict[str, Any]]:
        """Every (unmerged) profile of the shop, as stored (its JSON document)."""
        ...
