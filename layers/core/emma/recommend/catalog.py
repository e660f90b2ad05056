"""A catalog item as the recommender sees it, from the stored product (webhooks or the import)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from emma.profiles.upgrade import REPLACEMENT_CYCLE_DAYS

FITS_TAG = "fits:"  # Shopify/WooCommerce/Shopware tags: "fits:pixel-9-pro" marks a compatible accessory
PARTNER_TAG = "partner:"  # "partner:Telekom" marks a partner's offer


@dataclass(frozen=True)
class Product:
    product_id: str
    title: str
    url: str | None
    price: Decimal | None
    currency: str | None
    category: str | None  # lower-cased, as the profile's affinities
    brand: str | None  # lower-cased
    brand_name: str | None  # as the shop spells it
    in_stock: bool
    tags: frozenset[str]  # lower-cased
    compatible_with: frozenset[str]  # device product ids
    partner: str | None
    added_at: str  # when the catalog first had it (ISO), for new arrivals

    @property
    def is_device(self) -> bool:
        return self.category in REPLACEMENT_CYCLE_DAYS

    @property
    def is_accessory(self) -> bool:
        return bool(self.compatible_with)

    @property
    def recommendable(self) -> bool:
        return self.in_stock and bool(self.url)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Product:
        tags = [str(t) for t in item.get("tags") or ()]
        fits = {str(c) for c in item.get("compatible_with") or ()}
        fits |= {t[len(FITS_TAG) :].strip() for t in tags if t.lower().startswith(FITS_TAG)}
        partner = item.get("partner") or next(
            (t[len(PARTNER_TAG) :].strip() for t in tags if t.lower().startswith(PARTNER_TAG)), None
        )
        try:
            price = Decimal(str(item["price"])) if item.get("price") is not None else None
        except InvalidOperation:
            price = None
        brand = item.get("brand")
        category = item.get("category")
        return cls(
            product_id=str(item["product_id"]),
            title=str(item.get("name") or item["product_id"]),
            url=item.get("url"),
            price=price,
            currency=item.get("currency"),
            category=str(category).strip().lower() if category else None,
            brand=str(brand).strip().lower() if brand else None,
            brand_name=str(brand) if brand else None,
            in_stock=item.get("in_stock") is not False,
            tags=frozenset(t.strip().lower() for t in tags if ":" not in t),
            compatible_with=frozenset(f for f in fits if f),
            partner=str(partner) if partner else None,
            added_at=str(item.get("created_at") or item.get("updated_at") or ""),
        )
