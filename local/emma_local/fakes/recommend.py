"""The recommender's stores in memory (emma.recommend.ports: ShopHistory, ModelStore)."""

from __future__ import annotations

from typing import Any

from emma_local.fakes.profiles import InMemoryCatalog, InMemoryProfileRepository


class InMemoryShopHistory:
    """The model build's scans over the in-memory profiles and catalog (emma.recommend.ports.ShopHistory)."""

    def __init__(self, profiles: InMemoryProfileRepository, catalog: InMemoryCatalog) -> None:
        self._profiles = profiles
        self._catalog = catalog

    def shops(self):
        return sorted({shop for shop, _ in self._catalog.products})

    def products(self, shop):
        return (dict(item) for (s, _), item in list(self._catalog.products.items()) if s == shop)

    def profiles(self, shop):
        from emma.profiles.model import Profile

        for (s, _), doc in list(self._profiles.profiles.items()):
            profile = Profile.model_validate(doc)
            if s == shop and not profile.merged_into:
                yield profile.model_dump(mode="json")


class InMemoryModelStore:
    """The recommendation model's items by shop and key, as DynamoDB stores them (emma.recommend.layout;
    emma.recommend.ports.ModelStore)."""

    def __init__(self) -> None:
        self.lists: dict[str, dict[str, Any]] = {}
        self.loads = 0

    def load(self, shop, keys):
        self.loads += 1
        stored = self.lists.get(shop, {})
        return {k: stored[k] for k in keys if k in stored}

    def save(self, model) -> int:
        from emma.recommend.layout import pack

        self.lists[model.shop] = pack(model)
        return len(self.lists[model.shop])
