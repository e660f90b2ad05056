"""The recommendations slot of a message, until the recommender (issue 6) takes over: products this
customer looked at, put in the cart or clicked, strongest (decayed) interest first, skipping what is
owned, just bought, out of stock or unknown to the catalog; each with the reason it was chosen."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from emma.dispatch.formats import format_money
from emma.ports import CatalogRepository
from emma.profiles.apply import decayed
from emma.profiles.model import Profile

MAX_CANDIDATES = 20  # catalog reads per message at most

_REASON = {
    "de": "Weil du dir {title} angesehen hast",
    "en": "Because you viewed {title}",
}


def _price(product: dict[str, Any], locale: str) -> str | None:
    price = product.get("price")
    return format_money(Decimal(str(price)), product.get("currency"), locale) if price is not None else None


class InterestRecommender:
    def __init__(self, catalog: CatalogRepository) -> None:
        self._catalog = catalog

    def recommend(
        self, shop: str, profile: Profile, slot: str, limit: int, exclude: set[str], locale: str
    ) -> list[dict[str, Any]]:
        now = profile.updated_at
        ranked = sorted(
            (pid for pid in profile.affinities.products if pid not in exclude),
            key=lambda pid: decayed(profile.affinities.products[pid], now),
            reverse=True,
        )[:MAX_CANDIDATES]
        out: list[dict[str, Any]] = []
        for product_id in ranked:
            product = self._catalog.get_product(shop, product_id)
            if not product or product.get("in_stock") is False or not product.get("url"):
                continue
            title = product.get("name") or product_id
            out.append(
                {
                    "product_id": product_id,
                    "title": title,
                    "url": product["url"],
                    "price": _price(product, locale),
                    "reason": _REASON.get(locale, _REASON["en"]).format(title=title),
                }
            )
            if len(out) >= limit:
                break
        return out
