"""The recommendations' evaluation on a simulated shop: seeded, fair (held-out purchases stay out of
the profile and the model), the baselines (popularity, co-occurrence) and paired intervals; the
combined recommender beats popularity and ties co-occurrence on a small world (pinned)."""

import json
from datetime import UTC, datetime

import pytest

from emma.recommend.catalog import Product
from emma.recommend.model import Basket, ShopModel
from emma_local.lab.recommend import (
    CoOccurrence,
    evaluate,
    fold_profile,
    main,
    paired,
    popular_baseline,
    simulate_world,
)

SMALL = {"customers": 300, "products": 120}
T = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def small():
    return evaluate(seed=3, slots=("cross-sell", "accessories"), **SMALL)


def test_the_world_is_seeded():
    a, b = simulate_world(seed=5, customers=60, products=80), simulate_world(seed=5, customers=60, products=80)
    assert a.catalog_items() == b.catalog_items()
    assert [(c.orders, c.browsing, c.test) for c in a.customers] == [
        (c.orders, c.browsing, c.test) for c in b.customers
    ]
    other = simulate_world(seed=6, customers=60, products=80)
    assert [c.orders for c in other.customers] != [c.orders for c in a.customers]


def test_the_world_is_an_electronics_shop():
    world = simulate_world(seed=2, customers=200, products=150)
    products = [Product.from_item(item) for item in world.catalog_items()]
    ids = {p.product_id for p in products}
    assert len(products) == 150
    assert {p.category for p in products if p.is_device} == {
        "smartphones",
        "tablets",
        "headphones",
        "smartwatches",
        "laptops",
    }
    accessories = [p for p in products if p.is_accessory]
    assert len(accessories) > 100 and all(p.compatible_with <= ids for p in accessories)
    assert any(p.partner for p in products) and any(not p.in_stock for p in products)
    assert {"camera", "fitness", "gaming", "music"} <= {t for p in products for t in p.tags}
    by_id = {p.product_id: p for p in world.products}
    for c in world.customers:
        assert by_id[c.orders[0][1][0]].is_device  # everybody starts with a device
        assert [at for at, _ in c.orders] == sorted(at for at, _ in c.orders)
        assert all(world.start <= at < world.end for at, _ in c.orders)
        assert not c.test or len(c.orders) >= 2
    assert sum(c.test for c in world.customers) > 40


def test_the_held_out_purchase_is_not_in_the_profile():
    world = simulate_world(seed=4, customers=80, products=100)
    by_id = {p.product_id: p for p in world.products}
    c = next(
        c for c in world.customers if c.test and c.orders[-1][1][0] not in {p for _, ps in c.orders[:-1] for p in ps}
    )
    at, held = c.orders[-1]
    profile = fold_profile(c, by_id, iter(range(10**6)), at)
    assert profile.orders.count == len(c.orders) - 1
    assert not set(held) & set(profile.products_owned)
    assert profile.last_seen_at < at and profile.affinities.categories  # the browsing before it is there


def test_popularity_baseline_skips_owned_and_optionally_out_of_stock():
    model = ShopModel("s", None, lists={"POPULAR": [("a", 9.0), ("b", 8.0), ("c", 7.0), ("d", 1.0)]})
    assert popular_baseline(model, {"b"}, 2) == ["a", "c"]
    assert popular_baseline(model, {"b"}, 2, {"a": False, "c": True, "d": True}) == ["c", "d"]


def _without_times(value):
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in ("timing", "cpu_ms_mean")}
    return value


def test_evaluation_is_deterministic_for_a_seed(small):
    again = evaluate(seed=3, slots=("cross-sell", "accessories"), **SMALL)
    assert _without_times(again.as_dict()) == _without_times(small.as_dict())
    assert _without_times(evaluate(seed=4, slots=("cross-sell",), **SMALL).as_dict()) != _without_times(again.as_dict())


def test_combined_beats_popularity_and_ties_cooccurrence_on_a_small_world(small):
    assert small.test_customers == 122
    assert small.combined.customers == small.popularity.customers == small.cooccurrence.customers == 122
    assert small.combined_beats_popularity and small.paired["popularity"]["above_zero"]
    assert small.paired["popularity_in_stock"]["above_zero"]
    # pinned (seed 3): 0.303 against popularity 0.148 and co-occurrence 0.295
    assert small.combined.hit_rate == pytest.approx(0.303, abs=0.03)
    assert small.popularity.hit_rate == pytest.approx(0.148, abs=0.03)
    assert small.cooccurrence.hit_rate == pytest.approx(0.295, abs=0.03)
    co = small.paired["cooccurrence"]
    assert co["low"] < 0 < co["high"] and not small.combined_beats_baselines  # a tie, as on the full run
    assert small.combined.coverage > small.popularity.coverage  # popularity shows the same few products


def test_paired_interval_is_the_mean_difference_with_its_standard_error():
    p = paired([True, True, False, True], [False, True, False, False])
    assert p.diff == 0.5 and p.customers == 4
    assert p.ci95 == pytest.approx(1.96 * (1 / 3) ** 0.5 / 2, abs=1e-4)  # sd of (1, 0, 0, 1) is sqrt(1/3)
    assert p.low == pytest.approx(0.5 - p.ci95, abs=1e-4) and not p.excludes_zero
    assert paired([True] * 50, [False] * 50).as_dict()["above_zero"]
    with pytest.raises(ValueError):
        paired([True], [])


def test_cooccurrence_baseline_sums_raw_counts_over_everything_owned():
    baskets = [Basket("a", {"x": T, "y": T}), Basket("b", {"x": T, "y": T}), Basket("c", {"z": T, "w": T})]
    baskets += [Basket("d", {"v": T, "z": T}), Basket("e", {"v": T, "w": T}), Basket("f", {"q": T})]
    cooc = CoOccurrence(baskets)
    model = ShopModel("s", None, lists={"POPULAR": [("q", 9.0), ("x", 5.0)]})
    assert cooc.recommend({"x"}, 1, model) == ["y"]  # two customers bought both
    assert cooc.recommend({"z", "w"}, 1, model) == ["v"]  # one count from each owned product: 2 in all
    assert cooc.recommend({"x"}, 3, model) == ["y", "q"]  # then popularity, minus owned (3 asked, 2 known)


def test_rates_and_coverage_are_shares(small):
    for score in (small.combined, small.popularity, small.popularity_in_stock, *small.slots.values()):
        assert 0.0 <= score.hit_rate <= 1.0 and 0.0 <= score.coverage <= 1.0
        assert score.hits <= score.customers and score.distinct_recommended <= small.products
    assert set(small.slots) == {"cross-sell", "accessories"}
    assert small.combined.cpu_ms_mean > 0 and small.popularity.cpu_ms_mean is None
    assert sum(t["customers"] for t in small.by_held_out.values()) == small.test_customers


def test_cli_prints_json(capsys):
    assert main(["--customers", "60", "--products", "60", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["customers"] == 60 and set(out["slots"]) >= {"cross-sell", "interest", "accessories"}
    assert "combined_beats_popularity" in out and "combined_beats_baselines" in out
    assert set(out["paired"]) >= {"popularity", "cooccurrence"} and "cooccurrence" in out
