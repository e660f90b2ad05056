"""The scheduled model build: for every shop, read the catalog and the profiles' purchases, count,
store the lists. Unknown products in orders are skipped and logged once per product and build."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from emma.clock import Clock
from emma.recommend.catalog import Product
from emma.recommend.model import ShopModel, baskets_from_profiles, build_model
from emma.recommend.ports import ModelStore, ShopHistory

log = logging.getLogger("emma.recommend")


@dataclass
class BuildReport:
    shops: dict[str, dict[str, int]] = field(default_factory=dict)


def rebuild(history: ShopHistory, store: ModelStore, clock: Clock, shops: list[str] | None = None) -> BuildReport:
    report = BuildReport()
    for shop in shops if shops is not None else history.shops():
        model = build_shop(history, shop, clock)
        written = store.save(model)
        report.shops[shop] = {
            "products": sum(1 for k in model.lists if k.startswith("CO#")),
            "customers": model.customers,
            "purchases": model.purchases,
            "lists": written,
            "unknown_products": len(model.unknown_products),
        }
    return report


def build_shop(history: ShopHistory, shop: str, clock: Clock) -> ShopModel:
    products = [Product.from_item(item) for item in history.products(shop)]
    model = build_model(shop, products, baskets_from_profiles(history.profiles(shop)), clock.now())
    for product_id, purchases in sorted(model.unknown_products.items()):
        log.warning(
            "orders name a product the catalog does not know: skipped by the model (the profiles keep it)",
            extra={"shop": shop, "product_id": product_id, "purchases": purchases},
        )
    return model
