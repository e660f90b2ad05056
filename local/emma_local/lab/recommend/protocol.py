"""The evaluation protocol of the recommendations on the simulated shop (``emma_local.lab.recommend.world``).

The protocol: each test customer's last purchase is held out (not applied to their profile, not in
the model's baskets); the model is built from everybody's other purchases (as built at the end of the
year: other customers' later purchases are in it, for both methods alike); at the moment just
before the held-out purchase the combined recommender is asked for ``k`` items (slot ``cross-sell``,
and every slot for the per-slot table) and so are two baselines (``metrics``): popularity (the
model's POPULAR list minus what the customer owns, first ``k``; also without out-of-stock products)
and co-occurrence (raw counts of customers who bought both, summed over everything the customer
owns). hit-rate@k is the share of test customers whose held-out product is among the ``k``, with a
95 % interval; the differences to the baselines have paired intervals (the same customers); catalog
coverage is the share of the catalog recommended to anybody.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from emma.events.model import parse_event
from emma.profiles.apply import apply_event
from emma.profiles.model import Profile, new_profile
from emma.recommend.catalog import Product
from emma.recommend.model import Basket, baskets_from_profiles, build_model
from emma.recommend.service import SLOTS, RecommendationService
from emma_local.fakes import FixedClock, InMemoryCatalog, InMemoryModelStore, InMemoryProfileRepository
from emma_local.lab.recommend.metrics import CoOccurrence, Groups, MethodScore, Tally, paired, popular_baseline
from emma_local.lab.recommend.world import (
    DEFAULT_CUSTOMERS,
    DEFAULT_PRODUCTS,
    DEFAULT_SEED,
    SHOP,
    SimCustomer,
    SimProduct,
    WorldParams,
    order_event,
    simulate_world,
)

DEFAULT_K = 5
HEADLINE_SLOT = "cross-sell"


@dataclass
class Evaluation:
    seed: int
    customers: int
    products: int
    k: int
    test_customers: int
    combined: MethodScore  # slot cross-sell
    popularity: MethodScore  # POPULAR minus owned
    popularity_in_stock: MethodScore  # POPULAR minus owned, minus out of stock
    cooccurrence: MethodScore  # raw co-occurrence counts summed over everything owned (then popularity)
    paired: dict[str, dict[str, Any]]  # baseline -> combined minus it, with its paired 95 % interval
    slots: dict[str, MethodScore]
    by_held_out: dict[str, dict[str, Any]]  # held-out product kind -> customers, hit rates, paired differences
    hits_by_strategy: dict[str, int]  # combined: the main strategy of the hit
    world: dict[str, Any]
    timing: dict[str, float]

    @property
    def combined_beats_popularity(self) -> bool:
        return self.combined.hit_rate > max(self.popularity.hit_rate, self.popularity_in_stock.hit_rate)

    @property
    def combined_beats_baselines(self) -> bool:
        """The issue's target: above popularity and co-occurrence, both paired intervals above zero."""
        return all(self.paired[b]["above_zero"] for b in BASELINES)

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "combined_beats_popularity": self.combined_beats_popularity,
            "combined_beats_baselines": self.combined_beats_baselines,
        }


BASELINES = ("popularity", "cooccurrence")


def fold_profile(c: SimCustomer, products: dict[str, SimProduct], ids: itertools.count, until: datetime) -> Profile:
    """The customer's profile from their canonical events before ``until`` (orders and browsing)."""
    events = [e for e in c.browsing if e["occurred_at"] < until.isoformat()]
    events += [order_event(c, at, [products[p] for p in pids], ids) for at, pids in c.orders if at < until]
    events.sort(key=lambda e: e["occurred_at"])
    profile = new_profile(SHOP, f"p-{c.customer_id}", min(datetime.fromisoformat(e["occurred_at"]) for e in events))
    for e in events:
        apply_event(profile, parse_event(e))
    return profile


def evaluate(
    seed: int = DEFAULT_SEED,
    customers: int = DEFAULT_CUSTOMERS,
    products: int = DEFAULT_PRODUCTS,
    k: int = DEFAULT_K,
    slots: Sequence[str] = SLOTS,
    params: WorldParams | None = None,
    weights: dict[str, dict[str, float]] | None = None,
    build: dict[str, float] | None = None,
) -> Evaluation:
    """``weights`` (the slots' strategy weights) and ``build`` (build_model's keyword arguments) replace
    Emma's defaults: the weight search runs on another seed (the validation world) than the figures."""
    started = time.perf_counter()
    world = simulate_world(customers, products, seed, params)
    simulated = time.perf_counter()
    by_id = {p.product_id: p for p in world.products}
    ids = itertools.count(1)

    # Test customers: their profile up to (not including) the last purchase, and its time.
    tests: list[tuple[SimCustomer, Profile, datetime, set[str]]] = []
    for c in world.customers:
        if c.test:
            at, pids = c.orders[-1]
            tests.append((c, fold_profile(c, by_id, ids, at), at, set(pids)))
    folded = time.perf_counter()

    # The model: the training purchases of every customer (the test customers' from their profiles).
    test_ids = {c.customer_id for c, *_ in tests}
    baskets = [
        Basket(c.customer_id, {pid: at for at, pids in c.orders for pid in pids})
        for c in world.customers
        if c.customer_id not in test_ids
    ]
    baskets += baskets_from_profiles(profile.model_dump(mode="json") for _, profile, _, _ in tests)
    catalog = [Product.from_item(item) for item in world.catalog_items()]
    model = build_model(SHOP, catalog, baskets, world.end, **(build or {}))
    cooc = CoOccurrence(baskets)
    built = time.perf_counter()

    store = InMemoryModelStore()
    store.save(model)
    reader = InMemoryCatalog(InMemoryProfileRepository())
    for item in world.catalog_items():
        reader.put(SHOP, item)
    clock = FixedClock(world.end)
    service = RecommendationService(store, reader, clock, weights)
    in_stock = {p.product_id: p.in_stock for p in catalog}

    size = len(catalog)
    slot_tallies = {slot: Tally(size) for slot in dict.fromkeys([HEADLINE_SLOT, *slots])}
    popular, popular_stocked, cooccurring = Tally(size), Tally(size), Tally(size)
    strategies: Counter[str] = Counter()
    groups = Groups()
    for _, profile, at, held in tests:
        clock.at = at - timedelta(minutes=1)
        owned = set(profile.products_owned)
        kind = "device" if any(by_id[p].is_device for p in held) else (
            "accessory" if any(by_id[p].compatible_with for p in held) else "other"
        )  # fmt: skip
        for slot, slot_tally in slot_tallies.items():
            t0 = time.process_time()
            result = service.explain(SHOP, profile, slot, k, (), "en")
            slot_tally.cpu.append((time.process_time() - t0) * 1000)
            recommended = [r.product.product_id for r in result.items]
            hit = slot_tally.add(recommended, held, k)
            if slot == HEADLINE_SLOT:
                groups.add(kind, "combined", hit)
                if hit:
                    strategies.update(r.strategy for r in result.items if r.product.product_id in held)
        groups.add(kind, "popularity", popular.add(popular_baseline(model, owned, k), held, k))
        groups.add(kind, "cooccurrence", cooccurring.add(cooc.recommend(owned, k, model), held, k))
        popular_stocked.add(popular_baseline(model, owned, k, in_stock), held, k)
    evaluated = time.perf_counter()

    headline = slot_tallies[HEADLINE_SLOT]
    held_out = Counter(by_id[p].kind for *_, held in tests for p in held)
    return Evaluation(
        seed=seed,
        customers=customers,
        products=size,
        k=k,
        test_customers=len(tests),
        combined=headline.score(),
        popularity=popular.score(),
        popularity_in_stock=popular_stocked.score(),
        cooccurrence=cooccurring.score(),
        paired={
            "popularity": paired(headline.hits, popular.hits).as_dict(),
            "popularity_in_stock": paired(headline.hits, popular_stocked.hits).as_dict(),
            "cooccurrence": paired(headline.hits, cooccurring.hits).as_dict(),
        },
        slots={slot: t.score() for slot, t in slot_tallies.items()},
        by_held_out=groups.summary("combined", BASELINES),
        hits_by_strategy=dict(strategies.most_common()),
        world={
            "devices": sum(p.is_device for p in world.products),
            "accessories": sum(bool(p.compatible_with) for p in world.products),
            "out_of_stock": sum(p.sold_out_at is not None for p in world.products),
            "partner_offers": sum(p.partner is not None for p in world.products),
            "purchases": sum(len(pids) for c in world.customers for _, pids in c.orders),
            "browsing_events": sum(len(c.browsing) for c in world.customers),
            "customers_with_repeat_purchase": sum(len(c.orders) >= 2 for c in world.customers),
            "model_customers": model.customers,
            "model_purchases": model.purchases,
            "model_lists": len(model.lists),
            "held_out_kinds": dict(held_out.most_common()),
        },
        timing={
            "simulate_s": round(simulated - started, 3),
            "fold_profiles_s": round(folded - simulated, 3),
            "build_model_s": round(built - folded, 3),
            "recommend_s": round(evaluated - built, 3),
        },
    )
