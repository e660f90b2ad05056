"""The recommendation model of a shop, built on a schedule from the catalog and order history.

It is a set of ranked lists (stored packed into a few items: emma.recommend.layout):

    POPULAR           products by distinct buyers (all time)
    TRENDING          products by buyers, each purchase weighted by recency (half-life 14 days)
    NEW               the newest catalog items
    CO#<product>      products bought by the same customers ("bought together"), with a similarity:
                      co / (n_a^(1-CO_ALPHA) n_b^CO_ALPHA) x co / (co + CO_SHRINK), where co counts the
                      customers who bought both and n_a, n_b those who bought each (a conditional
                      probability leaning a little against bestsellers, shrunk where few bought both), so
                      the lists of several products can be summed
    FITS#<device>     accessories compatible with a device, most bought first
    CAT#<category>    the category's products, most bought first (then newest)
    BRAND#<brand>     the brand's products, likewise
    TAG#<tag>         products with this tag (tutorial topics and searches match tags)

Orders naming products the catalog does not know are skipped (the profile keeps them) and reported
once per product."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from emma.recommend.catalog import Product

LIST_LENGTH = 60  # entries per ranked list
NEIGHBOURS = 50  # co-purchase partners kept per product (50 short ids: about 1.2 KB, one read unit)
CO_ALPHA = 0.5  # 0: P(b | a), ranks like raw counts; 0.5: cosine (chosen on validation data, docs/recommendations.md)
CO_SHRINK = 1.0  # pairs bought together by few customers count less: co / (co + CO_SHRINK)
NEW_ARRIVALS = 100
TRENDING_HALF_LIFE_DAYS = 14.0
MAX_BASKET = 40  # distinct products per customer counted for co-purchase (bounds the pairs)


@dataclass(frozen=True)
class Basket:
    """What one customer bought: product id -> when they last bought it."""

    customer: str
    products: dict[str, datetime]


@dataclass
class ShopModel:
    shop: str
    built_at: datetime
    lists: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    customers: int = 0
    purchases: int = 0
    unknown_products: dict[str, int] = field(default_factory=dict)  # product id -> purchases skipped
    catalog: dict[str, Product] = field(default_factory=dict, repr=False)  # what the stored lists say of products

    def get(self, key: str) -> list[tuple[str, float]]:
        return self.lists.get(key, [])


def _top(
    counter: dict[str, float], n: int, added: dict[str, str] | None = None, significant: bool = False
) -> list[tuple[str, float]]:
    """The ``n`` highest scores; among equal scores the newest product (``added``), then by id. Scores
    are kept to 4 decimals, or to 4 significant digits (similarities, which can be small)."""
    added = added or {}
    ranked = sorted(counter.items(), key=lambda kv: (added.get(kv[0], ""), kv[0]), reverse=True)
    ranked.sort(key=lambda kv: -kv[1])  # stable: ties keep newest first
    if significant:
        return [(pid, float(f"{score:.4g}")) for pid, score in ranked[:n]]
    return [(pid, round(score, 4)) for pid, score in ranked[:n]]


def co_similarity(
    co: float, n_a: float, n_b: float, alpha: float = CO_ALPHA, shrink: float = CO_SHRINK, beta: float | None = None
) -> float:
    """How strongly buying ``a`` points to ``b`` (the CO# lists' score); ``beta`` (default 1 - alpha) the
    exponent of n_a (0 and alpha 0: raw counts, for comparison)."""
    beta = 1 - alpha if beta is None else beta
    return co / (n_a**beta * n_b**alpha) * co / (co + shrink)


def build_model(
    shop: str,
    products: Iterable[Product],
    baskets: Iterable[Basket],
    now: datetime,
    *,
    alpha: float = CO_ALPHA,
    shrink: float = CO_SHRINK,
    beta: float | None = None,
    neighbours: int = NEIGHBOURS,
) -> ShopModel:
    catalog = {p.product_id: p for p in products}
    model = ShopModel(shop=shop, built_at=now, catalog=catalog)
    buyers: Counter[str] = Counter()
    trending: dict[str, float] = defaultdict(float)
    pairs: dict[str, Counter[str]] = defaultdict(Counter)
    counted: Counter[str] = Counter()  # buyers among the products counted for co-purchase
    unknown: Counter[str] = Counter()
    for basket in baskets:
        known = {}
        for pid, at in basket.products.items():
            if pid in catalog:
                known[pid] = at
            else:
                unknown[pid] += 1
        if not known:
            continue
        model.customers += 1
        model.purchases += len(known)
        for pid, at in known.items():
            buyers[pid] += 1
            age = max(0.0, (now - at).total_seconds() / 86400.0)
            trending[pid] += math.pow(0.5, age / TRENDING_HALF_LIFE_DAYS)
        ids = sorted(known, key=lambda k: known[k], reverse=True)[:MAX_BASKET]
        counted.update(ids)
        for a in ids:
            partners = pairs[a]
            for b in ids:
                if a != b:
                    partners[b] += 1
    model.unknown_products = dict(unknown)
    newest = {pid: p.added_at for pid, p in catalog.items()}
    model.lists["POPULAR"] = _top(dict(buyers), LIST_LENGTH)
    model.lists["TRENDING"] = _top({k: v for k, v in trending.items() if v >= 0.01}, LIST_LENGTH)
    model.lists["NEW"] = [(pid, 0.0) for pid in sorted(newest, key=lambda k: (newest[k], k), reverse=True)][
        :NEW_ARRIVALS
    ]
    for pid, partners in pairs.items():
        n_a = counted[pid]
        scores = {b: co_similarity(co, n_a, counted[b], alpha, shrink, beta) for b, co in partners.items()}
        model.lists[f"CO#{pid}"] = _top(scores, neighbours, significant=True)
    groups: dict[str, dict[str, float]] = defaultdict(dict)
    for pid, product in catalog.items():
        score = float(buyers.get(pid, 0))
        if product.category:
            groups[f"CAT#{product.category}"][pid] = score
        if product.brand:
            groups[f"BRAND#{product.brand}"][pid] = score
        for tag in product.tags:
            groups[f"TAG#{tag}"][pid] = score
        for device in product.compatible_with:
            groups[f"FITS#{device}"][pid] = score
    for key, members in groups.items():
        model.lists[key] = _top(members, LIST_LENGTH, newest)
    model.lists["META"] = [("customers", float(model.customers)), ("purchases", float(model.purchases))]
    return model


def baskets_from_profiles(docs: Iterable[dict]) -> Iterator[Basket]:
    """Baskets from stored profiles (their JSON): owned products with the time last bought."""
    for doc in docs:
        owned = doc.get("products_owned") or {}
        products = {}
        for pid, item in owned.items():
            at = item.get("last_bought_at")
            if at:
                products[pid] = at if isinstance(at, datetime) else datetime.fromisoformat(at)
        if products:
            yield Basket(customer=str(doc.get("profile_id")), products=products)
