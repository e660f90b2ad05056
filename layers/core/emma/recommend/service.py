"""Recommendations per request: the strategies a slot asks for, combined, filtered and explained.

One request reads the model's lists it needs (one batch read) and the catalog items of the best
candidates (a second batch read); the profile is passed in. Strategies and their weight per slot:

    slot          accessory  co-purchase  affinity  upgrade  new  trending  popular
    accessories      1.0        0.5         0.6        -      -      -        0.1
    cross-sell       0.6        1.0         0.35       -      -      -        0.1
    cart             0.6        1.0         0.2        -      -      -        0.1
    interest         0.3        0.5         1.0        -      -     0.15      0.1
    upgrade           -          -          0.3       1.0     -      -        0.05
    new-arrivals      -          -          0.6        -     1.0     -         -

Co-purchase sums the evidence of up to MAX_SEEDS seeds (the cart, then the products bought, newest first),
each weighted by its source and age (half-life SEED_HALF_LIFE_DAYS); the reason names the seed that
contributes most. In cross-sell lists of RESERVE_FROM items or more the last place goes to a best-selling
device (of a kind not just bought), which the evidence rarely points to.

Excluded: what the caller excludes (just bought, in the cart), what the customer owns, products out
of stock or without a link, products unknown to the catalog, and products recommended in the last
RECOMMENDED_COOLDOWN without a click. Accessory and upgrade slots keep to accessories and devices."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from emma.clock import Clock
from emma.dispatch.formats import format_money
from emma.profiles.model import Profile
from emma.profiles.upgrade import REPLACEMENT_CYCLE_DAYS
from emma.recommend import layout
from emma.recommend.catalog import Product
from emma.recommend.explain import reason
from emma.recommend.ports import ModelStore, ProductReader

SLOTS = ("accessories", "cross-sell", "upgrade", "interest", "cart", "new-arrivals")
WEIGHTS: dict[str, dict[str, float]] = {
    "accessories": {"accessory": 1.0, "co": 0.5, "affinity": 0.6, "popular": 0.1},
    "cross-sell": {"co": 1.0, "accessory": 0.6, "affinity": 0.35, "popular": 0.1},
    "cart": {"co": 1.0, "accessory": 0.6, "affinity": 0.2, "popular": 0.1},
    "interest": {"affinity": 1.0, "co": 0.5, "accessory": 0.3, "trending": 0.15, "popular": 0.1},
    "upgrade": {"upgrade": 1.0, "affinity": 0.3, "popular": 0.05},
    "new-arrivals": {"new": 1.0, "affinity": 0.6},
}
RECOMMENDED_COOLDOWN = timedelta(days=30)
SETTLED_DEVICE = timedelta(days=180)  # no more devices of a category bought this recently (but upgrades)
MAX_DEVICES = 5  # owned devices whose accessories are read (FITS#)
MAX_SEEDS = 12  # products whose co-purchase lists are read (CO#), newest first: one read unit each
CO_CANDIDATES = 60  # the best summed co-purchase candidates ranked
SEED_HALF_LIFE_DAYS = 60.0  # a seed bought 60 days ago counts half
SEED_CART, SEED_BOUGHT, SEED_VIEWED = 1.0, 0.8, 0.4  # a seed's weight by source (then recency)
SEED_FLOOR = 0.05  # long-owned products still count a little
# places kept for the best-selling devices the customer may want next (of a kind not just bought): the
# co-purchase and accessory evidence points to accessories, while a second device is most often a best seller
RESERVED_FAVOURITE: dict[str, int] = {"cross-sell": 1}
RESERVE_FROM = 5  # only in lists of five or more (a message's three picks follow the evidence alone)
FAVOURITES_READ = 4  # best sellers read among the candidates' details (instead of the lowest candidates)
MAX_CATEGORIES, MAX_BRANDS, MAX_TOPICS = 4, 3, 4
MAX_DETAILS = 80  # catalog items read per request at most
SPARE_DETAILS = 2  # catalog items read beside those needed (for what stock or link leave out)
DETAILS_PER_ITEM = 4  # a model of the old format: four per item asked for, plus 8 (it filters nothing ahead)
MAX_LIMIT = 12
STRONG_INTEREST = 4.0  # decayed interest points that count fully (two tutorials, four product views)
AFFINITY_EXPLAINS = 0.5


class UnknownSlot(ValueError):
    pass


@dataclass
class Candidate:
    product_id: str
    score: float = 0.0
    why: dict[str, tuple[float, str, str | None]] = field(default_factory=dict)  # strategy -> (part, kind, arg)

    def add(self, strategy: str, weight: float, value: float, kind: str, arg: str | None) -> None:
        """A strategy counts once per candidate: with its best part."""
        part, before = weight * value, self.why.get(strategy, (0.0, "", None))[0]
        if part > before:
            self.score += part - before
            self.why[strategy] = (part, kind, arg)

    @property
    def main(self) -> tuple[str, str, str | None]:
        """The explanation: the strongest strategy's, but the customer's own interest when it counts at
        least half as much (it says more to the person than "fits your phone")."""
        strategy, (part, kind, arg) = max(self.why.items(), key=lambda kv: kv[1][0])
        interest = self.why.get("affinity")
        if strategy != "affinity" and interest is not None and interest[0] >= AFFINITY_EXPLAINS * part:
            return "affinity", interest[1], interest[2]
        return strategy, kind, arg


@dataclass(frozen=True)
class Recommendation:
    product: Product
    score: float
    strategy: str
    reason: str
    strategies: dict[str, float]

    def item(self, locale: str) -> dict[str, Any]:
        p = self.product
        price = format_money(p.price, p.currency, locale) if p.price is not None else None
        return {
            "product_id": p.product_id,
            "title": p.title,
            "url": p.url,
            "price": price,
            "reason": self.reason,
            "strategy": self.strategy,
            "partner": p.partner,
        }


@dataclass
class Result:
    items: list[Recommendation]
    excluded: dict[str, int]
    model_keys: int
    products_read: int


def _norm(entries: list[tuple[str, float]]) -> list[tuple[int, str, float]]:
    """(rank, product, score / best score) of a ranked list; a list without scores (nothing of it sold
    yet) ranks only by position."""
    top = max((s for _, s in entries), default=0.0)
    return [(rank, pid, score / top if top > 0 else 1.0) for rank, (pid, score) in enumerate(entries)]


def _rank_value(rank: int, share: float) -> float:
    """How good a list position is: the list's own score, with a gentle pull towards the top."""
    return 0.5 * share + 0.5 / (1 + 0.15 * rank)


class RecommendationService:
    def __init__(
        self,
        models: ModelStore,
        products: ProductReader,
        clock: Clock,
        weights: dict[str, dict[str, float]] | None = None,
    ) -> None:
        self._models = models
        self._products = products
        self._clock = clock
        self._weights = weights or WEIGHTS  # another table: the evaluation's weight search

    # The dispatch port (emma.dispatch.ports.Recommender)
    def recommend(
        self, shop: str, profile: Profile, slot: str, limit: int, exclude: set[str], locale: str
    ) -> list[dict[str, Any]]:
        return [r.item(locale) for r in self.explain(shop, profile, slot, limit, exclude, locale).items]

    def explain(
        self, shop: str, profile: Profile, slot: str, limit: int, exclude: Iterable[str], locale: str
    ) -> Result:
        if slot not in self._weights:
            raise UnknownSlot(f"unknown slot {slot!r}; one of {', '.join(SLOTS)}")
        limit = max(1, min(limit, MAX_LIMIT))
        now = self._clock.now()
        weights = self._weights[slot]
        signals = _Signals.of(profile, slot, now)
        view = layout.load(
            self._models,
            shop,
            signals.lookups(weights),
            signals.owned,
            signals.groups(weights),
            signals.keys(weights),
        )
        lists = view.lists
        candidates: dict[str, Candidate] = {}

        def offer(strategy: str, entries: list[tuple[str, float]], kind: str, arg: str | None, scale: float = 1.0):
            for rank, pid, share in _norm(entries):
                cand = candidates.setdefault(pid, Candidate(pid))
                cand.add(strategy, weights[strategy], scale * _rank_value(rank, share), kind, arg)

        if "accessory" in weights:
            for device in signals.devices:
                offer("accessory", lists.get(f"FITS#{device}", []), "accessory", device)
        if "co" in weights:
            # every seed's evidence, summed: sum of weight(seed) x similarity(seed, product); the reason
            # names the seed that contributes most
            summed: dict[str, float] = {}
            strongest: dict[str, tuple[float, str]] = {}
            for seed, seed_weight in signals.seeds:
                for pid, similarity in lists.get(f"CO#{seed}", []):
                    part = seed_weight * similarity
                    summed[pid] = summed.get(pid, 0.0) + part
                    if part > strongest.get(pid, (0.0, ""))[0]:
                        strongest[pid] = (part, seed)
            for rank, pid, share in _norm(sorted(summed.items(), key=lambda kv: (-kv[1], kv[0]))[:CO_CANDIDATES]):
                cand = candidates.setdefault(pid, Candidate(pid))
                cand.add("co", weights["co"], _rank_value(rank, share), "co", strongest[pid][1])
        if "affinity" in weights:
            for key, strength, kind, label in signals.interests:
                offer("affinity", lists.get(key, []), kind, label, strength)
        if "upgrade" in weights and signals.upgrade_category:
            offer("upgrade", lists.get(f"CAT#{signals.upgrade_category}", []), "upgrade", signals.upgrade_device)
        if "new" in weights:
            offer("new", lists.get("NEW", [])[:40], "new", None)
        if "trending" in weights:
            offer("trending", lists.get("TRENDING", []), "trending", None)
        if "popular" in weights:
            offer("popular", lists.get("POPULAR", []), "popular", None)

        excluded: dict[str, int] = {}

        def exclude_as(why: str) -> None:
            excluded[why] = excluded.get(why, 0) + 1

        blocked = set(exclude)
        for pid in list(candidates):
            why = self._blocked(pid, blocked, profile, now)
            if why:
                exclude_as(why)
                del candidates[pid]
        needed = {"new-arrivals": "new", "upgrade": "upgrade"}.get(slot)  # these slots show only their own kind
        pool = sorted(
            (c for c in candidates.values() if needed is None or needed in c.why),
            key=lambda c: (-c.score, c.product_id),
        )
        # what the model says rules out, before any catalog read (all but stock, link and today's price)
        ahead: list[Candidate] = []
        for cand in pool:
            why = _unfit_by_model(cand.product_id, slot, signals, view)
            if why:
                exclude_as(why)
            else:
                ahead.append(cand)
        reserve = RESERVED_FAVOURITE.get(slot, 0) if limit >= RESERVE_FROM else 0
        favourites: list[Candidate] = []
        if reserve:  # the best sellers compete for the last places
            sellers = sorted(
                (c for c in pool if "popular" in c.why), key=lambda c: (-c.why["popular"][0], c.product_id)
            )
            passed = {c.product_id for c in ahead}
            favourites = [c for c in sellers[:FAVOURITES_READ] if c.product_id in passed]
            if view.filters:  # only devices take the reserved places
                favourites = [c for c in favourites if (m := view.meta(c.product_id)) is None or m.device]
        catalog = _Details(self._products, shop, view, self._batch(view, limit))
        if slot == "upgrade" and signals.upgrade_device and signals.upgrade_device not in view.prices:
            catalog.named.append(signals.upgrade_device)  # its price and title: read with the candidates
        fit: list[tuple[Candidate, Product]] = []
        checked: set[str] = set()  # found unfit (counted once)
        position = 0

        def more(n: int, also: Iterable[Candidate] = ()) -> None:
            """Check candidates in order until ``n`` are fit, reading what the catalog says of them: the
            next ones needed and a few spare, in one read per round."""
            nonlocal position
            while len(fit) < n and position < len(ahead):
                batch = ahead[position : position + n - len(fit) + catalog.spare]
                catalog.read([*batch, *also])
                also = ()
                for cand in batch:
                    if cand.product_id not in catalog.items:  # MAX_DETAILS read: no more
                        position = len(ahead)
                        break
                    position += 1
                    if cand.product_id in checked:
                        continue
                    product, why = catalog.check(cand.product_id, slot, signals)
                    if why:
                        checked.add(cand.product_id)
                        exclude_as(why)
                    else:
                        assert product is not None
                        fit.append((cand, product))
                        if len(fit) >= n:
                            break

        more(limit - reserve, favourites)
        chosen = fit[: limit - reserve]
        if reserve:  # the last places: the best-selling devices among the rest, unless they are there already
            shown = {c.product_id for c, _ in chosen}
            best: list[tuple[Candidate, Product]] = []
            for cand in favourites:
                if cand.product_id in shown or cand.product_id not in catalog.items:
                    continue
                product, why = catalog.check(cand.product_id, slot, signals)
                if why and cand.product_id not in checked:
                    checked.add(cand.product_id)
                    exclude_as(why)
                if not why and product is not None and product.is_device:
                    best.append((cand, product))
            best = sorted(best, key=lambda x: -x[0].why["popular"][0])[:reserve]
            picked = {c.product_id for c, _ in best}
            chosen += best
            while True:  # enough fit candidates to fill the places left (the picked ones do not count)
                need = limit - len(best) + sum(1 for c, _ in fit if c.product_id in picked)
                if len(fit) >= need or position >= len(ahead):
                    break
                more(need)
            chosen += [x for x in fit if x[0].product_id not in picked and x[0].product_id not in shown][
                : limit - len(chosen)
            ]
        out: list[Recommendation] = []
        for cand, product in chosen:
            strategy, kind, arg = cand.main
            out.append(
                Recommendation(
                    product=product,
                    score=round(cand.score, 4),
                    strategy=strategy,
                    reason=reason(kind, _label(kind, arg, catalog.titles, product), locale, product.partner),
                    strategies={s: round(v[0], 4) for s, v in cand.why.items()},
                )
            )
        return Result(out, excluded, view.items, catalog.reads)

    @staticmethod
    def _batch(view: layout.View, limit: int) -> int:
        """Spare candidates read beside those needed: a few when the model has filtered them already,
        as many as before when it could not (a model of the old format)."""
        if not view.filters:
            return min(MAX_DETAILS, DETAILS_PER_ITEM * limit + 8) - limit
        return SPARE_DETAILS

    @staticmethod
    def _blocked(pid: str, blocked: set[str], profile: Profile, now: datetime) -> str | None:
        if pid in profile.products_owned:
            return "owned"
        if pid in blocked:
            return "excluded by the caller (just bought, in the cart)"
        shown = profile.recommended.get(pid)
        if shown and shown.clicked_at is None and now - shown.at < RECOMMENDED_COOLDOWN:
            return "recommended recently without a click"
        return None


def _unfit(product: Product | None, slot: str, signals: _Signals, owned_price: Decimal | None) -> str | None:
    """Why a candidate may not be shown, by its catalog item (read fresh)."""
    if product is None:
        return "not in the catalog"
    if not product.in_stock:
        return "out of stock"
    if not product.url:
        return "no product link"
    if slot == "accessories" and not product.is_accessory:
        return "not an accessory"
    if product.is_accessory and signals.owned and not product.compatible_with & signals.owned:
        return "fits none of the customer's devices"
    if slot == "upgrade":
        if product.category != signals.upgrade_category:
            return "not a device of the upgraded kind"
        if owned_price and product.price and product.price < owned_price * Decimal("0.9"):
            return "cheaper than the device owned"
    if product.is_device and product.category in signals.settled and slot != "upgrade":
        return "a device of a kind just bought"
    return None


def _unfit_by_model(pid: str, slot: str, signals: _Signals, view: layout.View) -> str | None:
    """Why a candidate may not be shown, by what the model says of it (as ``_unfit``, without stock,
    link and today's price; a model of the old format says nothing)."""
    meta = view.meta(pid)
    if meta is None:
        return None
    if slot == "accessories" and not meta.accessory:
        return "not an accessory"
    if meta.accessory and signals.owned:
        if meta.compatible is not None:
            if not meta.compatible & signals.owned:
                return "fits none of the customer's devices"
        elif view.fits_complete and pid not in view.fits:
            return "fits none of the customer's devices"
    if slot == "upgrade":
        if meta.category != signals.upgrade_category:
            return "not a device of the upgraded kind"
        owned = view.prices.get(signals.upgrade_device or "")
        if owned and meta.price and meta.price < owned * 0.9:
            return "cheaper than the device owned"
    if meta.device and meta.category in signals.settled and slot != "upgrade":
        return "a device of a kind just bought"
    return None


class _Details:
    """The catalog items of the candidates a request may show, read as needed (fresh price, stock, link)."""

    def __init__(self, products: ProductReader, shop: str, view: layout.View, spare: int) -> None:
        self._products = products
        self._shop = shop
        self._view = view
        self.spare = spare
        self.items: dict[str, Product | None] = {}
        self.titles = dict(view.titles)  # of the products reasons name (devices, seeds)
        self.named: list[str] = []  # read with the next candidates
        self.reads = 0

    def read(self, candidates: Iterable[Candidate]) -> None:
        cands = list(candidates)
        # the products the reasons of these candidates may name, when the model has no title for them
        named = [a for c in cands for _, kind, a in c.why.values() if kind in ("accessory", "co") and a]
        wanted = [c.product_id for c in cands if c.product_id not in self.items]
        wanted = wanted[: max(0, MAX_DETAILS - self.reads)]
        extra = [p for p in [*self.named, *named] if p not in self.titles and p not in self.items]
        self.named = []
        wanted = list(dict.fromkeys([*wanted, *extra]))
        if not wanted:
            return
        got = self._products.get_products(self._shop, wanted)
        self.reads += len(wanted)
        for pid in wanted:
            item = got.get(pid)
            product = Product.from_item(item) if item is not None else None
            self.items[pid] = product
            if product is not None:
                self.titles.setdefault(pid, product.title)

    def check(self, pid: str, slot: str, signals: _Signals) -> tuple[Product | None, str | None]:
        product = self.items.get(pid)
        owned_price = None
        if slot == "upgrade" and signals.upgrade_device:
            if signals.upgrade_device in self._view.prices:
                owned_price = Decimal(str(self._view.prices[signals.upgrade_device]))
            else:
                owned = self.items.get(signals.upgrade_device)
                owned_price = owned.price if owned else None
        return product, _unfit(product, slot, signals, owned_price)


def _label(kind: str, arg: str | None, titles: dict[str, str], product: Product) -> str | None:
    if kind in ("accessory", "co", "upgrade"):
        return titles.get(arg or "", arg)
    if kind == "new":
        return product.category
    return arg


@dataclass
class _Signals:
    devices: list[str]
    seeds: list[tuple[str, float]]  # (product, weight): its source and how recent
    interests: list[tuple[str, float, str, str]]  # (model key, strength 0..1, reason kind, label)
    settled: set[str]
    upgrade_category: str | None
    upgrade_device: str | None
    owned: frozenset[str] = frozenset()  # owned and carted products: what an accessory must fit

    def lookups(self, weights: dict[str, float]) -> list[str]:
        """The products whose neighbourhoods (emma.recommend.layout) the slot reads."""
        found = []
        if "accessory" in weights:
            found += self.devices
        if "co" in weights:
            found += [s for s, _ in self.seeds]
        if "upgrade" in weights and self.upgrade_category and self.upgrade_device:
            found.append(self.upgrade_device)
        return list(dict.fromkeys(found))

    def groups(self, weights: dict[str, float]) -> list[str]:
        """The CAT#, BRAND#, TAG# lists the slot reads."""
        found = [key for key, *_ in self.interests] if "affinity" in weights else []
        if "upgrade" in weights and self.upgrade_category:
            found.append(f"CAT#{self.upgrade_category}")
        return list(dict.fromkeys(found))

    def keys(self, weights: dict[str, float]) -> list[str]:
        """The lists of a model of the old format (one item per list)."""
        keys = [key for strategy, key in (("popular", "POPULAR"), ("trending", "TRENDING")) if strategy in weights]
        if "new" in weights:
            keys.append("NEW")
        if "accessory" in weights:
            keys += [f"FITS#{d}" for d in self.devices]
        if "co" in weights:
            keys += [f"CO#{s}" for s, _ in self.seeds]
        if "affinity" in weights:
            keys += [key for key, *_ in self.interests]
        if "upgrade" in weights and self.upgrade_category:
            keys.append(f"CAT#{self.upgrade_category}")
        return list(dict.fromkeys(keys))

    @classmethod
    def of(cls, profile: Profile, slot: str, now: datetime) -> _Signals:
        owned = sorted(profile.products_owned.items(), key=lambda kv: kv[1].last_bought_at, reverse=True)
        cart = list(profile.cart.items) if profile.cart else []
        bought = [(pid, _seed_weight(SEED_BOUGHT, now - o.last_bought_at)) for pid, o in owned]
        if slot == "cart":
            seeds = [(pid, SEED_CART) for pid in cart] or bought
        elif slot == "interest":
            viewed = sorted(profile.affinities.products.items(), key=lambda kv: kv[1].decayed(now), reverse=True)
            seeds = [*bought, *((pid, _seed_weight(SEED_VIEWED, now - a.at)) for pid, a in viewed[:3])]
        else:
            seeds = [*((pid, SEED_CART) for pid in cart), *bought]
        # devices first (accessories name them), newest first; then other owned products, which may be
        # devices of a category Emma has no replacement cycle for
        is_device = {pid: bool(o.category and o.category.lower() in REPLACEMENT_CYCLE_DAYS) for pid, o in owned}
        by_kind = sorted((pid for pid, _ in owned), key=lambda pid: not is_device[pid])  # stable: newest first
        devices = [*(cart if slot == "cart" else []), *by_kind]
        settled = {
            o.category.lower()
            for _, o in owned
            if o.category and o.category.lower() in REPLACEMENT_CYCLE_DAYS and now - o.last_bought_at < SETTLED_DEVICE
        }
        upgrade = profile.upgrade
        return cls(
            devices=list(dict.fromkeys(devices))[:MAX_DEVICES],
            seeds=_first(seeds, MAX_SEEDS),
            interests=_interests(profile, now),
            settled=settled,
            upgrade_category=upgrade.category if upgrade else None,
            upgrade_device=upgrade.product_id if upgrade else None,
            owned=frozenset([*profile.products_owned, *cart]),
        )


def _seed_weight(source: float, age: timedelta) -> float:
    days = max(0.0, age.total_seconds() / 86400.0)
    return source * max(SEED_FLOOR, math.pow(0.5, days / SEED_HALF_LIFE_DAYS))


def _first(seeds: list[tuple[str, float]], n: int) -> list[tuple[str, float]]:
    """The first ``n`` distinct products, each with its first (strongest source) weight."""
    out: dict[str, float] = {}
    for pid, weight in seeds:
        out.setdefault(pid, weight)
    return list(out.items())[:n]


def _interests(profile: Profile, now: datetime) -> list[tuple[str, float, str, str]]:
    """The customer's strongest interests as model keys: categories, brands and topics (topics match
    product tags, word by word), each with its strength (0..1, full at STRONG_INTEREST) and how it was shown."""
    aff = profile.affinities
    scored: list[tuple[str, float, str, str]] = []
    for table, prefix, n, fallback in (
        (aff.categories, "CAT#", MAX_CATEGORIES, "interest"),
        (aff.brands, "BRAND#", MAX_BRANDS, "bought"),
        (aff.topics, "TAG#", MAX_TOPICS, "interest"),
    ):
        top = sorted(table.items(), key=lambda kv: kv[1].decayed(now), reverse=True)[:n]
        for key, a in top:
            kind = a.via if a.via in ("viewed", "searched", "watched", "carted") else fallback
            label = key if prefix == "TAG#" else key.title()
            words = key.split()
            if prefix != "TAG#" or len(words) == 1:  # tags are single words: a phrase is matched word by word
                scored.append((f"{prefix}{key}", a.decayed(now), kind, label))
            else:
                scored += [(f"TAG#{w}", a.decayed(now) * 0.8, kind, key) for w in words if len(w) >= 4]
    strengths = [(k, min(1.0, s / STRONG_INTEREST), kind, label) for k, s, kind, label in scored]
    return sorted((i for i in strengths if i[1] >= 0.05), key=lambda i: -i[1])[:16]
