"""Validate the predictions on a simulated shop with known ground truth.

The system's view is reproduced exactly: the shop counters are built by replaying every calibration
order through ``stats_delta`` (what the profile trigger adds), the prior is fitted from those counters
only, and every customer is scored at the end of the calibration window with ``score``. The truth
(alive at the end of calibration, orders in the holdout) is then compared with the predictions and
with naive baselines. Run: ``emma predict validate`` or ``python -m emma_local.lab.predict.validate`` (``--help``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from emma.predict.model import DEFAULT_HORIZON_DAYS, Scores, score
from emma.predict.prior import ShopStats, fit_prior, occasions, stats_delta, to_days
from emma_local.lab.predict.simulate import SimParams, simulate_shop

DEFAULT_SEED = 7
DEFAULT_CUSTOMERS = 5000


# --------------------------------------------------------------------------------------------------
# Metrics


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count half.

    Rank-based (Mann-Whitney U) with average ranks for tied scores; O(n log n).
    """
    if len(scores) != len(labels):
        raise ValueError("scores and labels differ in length")
    positives = sum(1 for y in labels if y)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("AUC needs at least one positive and one negative")
    order = sorted(range(len(scores)), key=scores.__getitem__)
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        average_rank = (i + j) / 2.0 + 1.0  # ranks are 1-based
        rank_sum += average_rank * sum(1 for m in range(i, j + 1) if labels[order[m]])
        i = j + 1
    u = rank_sum - positives * (positives + 1) / 2.0
    return u / (positives * negatives)


def brier(probabilities: Sequence[float], outcomes: Sequence[bool]) -> float:
    return sum((p - (1.0 if y else 0.0)) ** 2 for p, y in zip(probabilities, outcomes, strict=True)) / len(outcomes)


def reliability(probabilities: Sequence[float], outcomes: Sequence[bool], bins: int = 10) -> list[dict[str, Any]]:
    """Equal-width bins over [0, 1]: count, mean predicted probability, observed frequency."""
    rows: list[list[float]] = [[0, 0.0, 0.0] for _ in range(bins)]
    for p, y in zip(probabilities, outcomes, strict=True):
        row = rows[min(int(p * bins), bins - 1)]
        row[0] += 1
        row[1] += p
        row[2] += 1.0 if y else 0.0
    return [
        {
            "bin": f"{i / bins:.1f}-{(i + 1) / bins:.1f}",
            "count": int(count),
            "mean_predicted": round(total_p / count, 4) if count else None,
            "observed": round(hits / count, 4) if count else None,
        }
        for i, (count, total_p, hits) in enumerate(rows)
    ]


def expected_calibration_error(table: list[dict[str, Any]]) -> float:
    total = sum(r["count"] for r in table)
    return sum(r["count"] * abs(r["mean_predicted"] - r["observed"]) for r in table if r["count"]) / total


# --------------------------------------------------------------------------------------------------
# Validation


def validate(
    seed: int = DEFAULT_SEED,
    customers: int = DEFAULT_CUSTOMERS,
    horizon_days: float = DEFAULT_HORIZON_DAYS,
    params: SimParams | None = None,
) -> dict[str, Any]:
    params = params or SimParams()
    started = time.perf_counter()
    shop = simulate_shop(customers, seed=seed, params=params)
    simulated = time.perf_counter()

    # The counters exactly as the triggers would maintain them: one delta per order event.
    stats = ShopStats()
    for customer in shop.customers:
        seen: list = []
        for order_at in customer.calibration_orders:
            stats.apply(stats_delta(seen, [*seen, order_at]))
            seen.append(order_at)
    counted = time.perf_counter()
    now = shop.calibration_end
    prior = fit_prior(stats, now)
    fitted = time.perf_counter()

    scores: list[Scores] = [score(c.calibration_orders, now, prior, horizon_days) for c in shop.customers]
    scored = time.perf_counter()
    timing_reps = max(1, 20000 // max(customers, 1))
    t0 = time.perf_counter()
    for _ in range(timing_reps):
        for c in shop.customers:
            score(c.calibration_orders, now, prior, horizon_days)
    score_us = (time.perf_counter() - t0) / (timing_reps * len(shop.customers)) * 1e6

    horizon_end = now + timedelta(days=horizon_days)
    dead = [not c.alive_at_calibration_end for c in shop.customers]
    bought = [any(o <= horizon_end for o in c.holdout_orders) for c in shop.customers]
    churn = [s.churn_risk for s in scores]
    p_buy = [s.p_buy_within_horizon for s in scores]
    p_alive = [s.p_alive for s in scores]

    # Naive baselines: recency; recency relative to the customer's own mean interval (shop mean
    # when they have one order); frequency (number of purchase occasions).
    now_day = to_days(now)
    shop_gap = stats.mean_interval_days or 90.0
    recency, relative, frequency, own_gap = [], [], [], []
    for c in shop.customers:
        occ = occasions(to_days(o) for o in c.calibration_orders)
        gap = (occ[-1] - occ[0]) / (len(occ) - 1) if len(occ) > 1 else shop_gap
        recency.append(now_day - occ[-1])
        relative.append((now_day - occ[-1]) / gap)
        frequency.append(float(len(occ)))
        own_gap.append((occ[-1], gap))

    # Next order date: it is the median of the next gap *if the customer is still active*, so among
    # truly active customers whose predicted date falls inside the holdout, about half should have
    # ordered by then. (Errors in days are not reported: only next orders inside the holdout are
    # observed, which favours whoever predicts early.)
    holdout_end_day = to_days(shop.holdout_end)
    model_hits, baseline_hits = [], []
    for c, s, (last, gap) in zip(shop.customers, scores, own_gap, strict=True):
        if not c.alive_at_calibration_end:
            continue
        actual = to_days(c.holdout_orders[0]) if c.holdout_orders else None
        for predicted, hits in (
            (to_days(s.expected_next_order_at), model_hits),
            (max(last + gap, now_day), baseline_hits),
        ):
            if predicted <= holdout_end_day:
                hits.append(actual is not None and actual <= predicted)

    base_rate = sum(bought) / len(bought)
    buy_table = reliability(p_buy, bought)
    alive_table = reliability(p_alive, [not d for d in dead])
    would_buy = [s.would_buy_without_incentive for s in scores]
    flagged = sum(would_buy)
    return {
        "seed": seed,
        "customers": customers,
        "horizon_days": horizon_days,
        "simulation": {
            "process": params.process,
            "params": {k: v for k, v in vars(params).items() if k != "process"},
            "calibration_end": now.isoformat(),
            "repeat_customers_share": round(stats.customers_with_repeat / max(stats.customers_with_orders, 1), 4),
            "dead_share": round(sum(dead) / len(dead), 4),
            "bought_within_horizon_share": round(base_rate, 4),
        },
        "prior": prior.model_dump(mode="json"),
        "churn": {
            "auc": round(auc(churn, dead), 4),
            "auc_baseline_recency": round(auc(recency, dead), 4),
            "auc_baseline_relative_recency": round(auc(relative, dead), 4),
            "brier_p_alive": round(brier(p_alive, [not d for d in dead]), 4),
            "ece_p_alive": round(expected_calibration_error(alive_table), 4),
            "reliability_p_alive": alive_table,
        },
        "buy": {
            "auc": round(auc(p_buy, bought), 4),
            "auc_baseline_recency": round(auc([-r for r in recency], bought), 4),
            "auc_baseline_frequency": round(auc(frequency, bought), 4),
            "brier": round(brier(p_buy, bought), 4),
            "brier_base_rate": round(brier([base_rate] * len(bought), bought), 4),
            "ece": round(expected_calibration_error(buy_table), 4),
            "mean_predicted": round(sum(p_buy) / len(p_buy), 4),
            "observed": round(base_rate, 4),
            "reliability": buy_table,
            "would_buy_flagged": flagged,
            "would_buy_precision": round(sum(b for b, w in zip(bought, would_buy, strict=True) if w) / flagged, 4)
            if flagged
            else None,
        },
        "next_order": {
            "customers": len(model_hits),
            "ordered_by_predicted_date": round(sum(model_hits) / len(model_hits), 4) if model_hits else None,
            "baseline_customers": len(baseline_hits),
            "baseline_ordered_by_predicted_date": round(sum(baseline_hits) / len(baseline_hits), 4)
            if baseline_hits
            else None,
        },
        "timing": {
            "simulate_s": round(simulated - started, 3),
            "counters_s": round(counted - simulated, 3),
            "fit_s": round(fitted - counted, 3),
            "score_all_s": round(scored - fitted, 3),
            "score_us_per_call": round(score_us, 2),
        },
    }


def format_report(results: dict[str, Any]) -> str:
    sim, prior, churn, buy, nxt, timing = (
        results[k] for k in ("simulation", "prior", "churn", "buy", "next_order", "timing")
    )
    h = results["horizon_days"]
    lines = [
        f"Emma predictions: validation on a simulated shop (seed {results['seed']}, "
        f"{results['customers']} customers, {sim['process']})",
        f"  calibration ends {sim['calibration_end']}; repeat customers {sim['repeat_customers_share']:.1%}, "
        f"truly lost {sim['dead_share']:.1%}, bought within {h:g} days {sim['bought_within_horizon_share']:.1%}",
        f"  fitted prior: alpha {prior['alpha']:.3f}, beta {prior['beta']:.1f} days "
        f"(1 / mean rate {prior['beta'] / prior['alpha']:.0f} days), p_return {prior['p_return']:.3f}, "
        f"p_strength {prior['p_strength']:.2f} ({prior['method']}, {prior['customers']} customers)",
        "",
        "Churn (churn_risk vs truly lost at calibration end)",
        f"  AUC model {churn['auc']:.3f} | baseline recency {churn['auc_baseline_recency']:.3f} | "
        f"baseline recency / own interval {churn['auc_baseline_relative_recency']:.3f}",
        f"  p_alive: Brier {churn['brier_p_alive']:.4f}, expected calibration error {churn['ece_p_alive']:.4f}",
        *_table(churn["reliability_p_alive"], "p_alive", "alive"),
        "",
        f"Purchase within {h:g} days (p_buy_within_horizon vs ordered in the holdout's first {h:g} days)",
        f"  AUC model {buy['auc']:.3f} | baseline recency {buy['auc_baseline_recency']:.3f} | "
        f"baseline frequency {buy['auc_baseline_frequency']:.3f}",
        f"  Brier {buy['brier']:.4f} (base rate {buy['brier_base_rate']:.4f}), expected calibration error "
        f"{buy['ece']:.4f}, mean predicted {buy['mean_predicted']:.3f} vs observed {buy['observed']:.3f}",
        f"  would_buy_without_incentive: {buy['would_buy_flagged']} flagged, precision "
        + (f"{buy['would_buy_precision']:.3f}" if buy["would_buy_precision"] is not None else "n/a"),
        *_table(buy["reliability"], "p_buy", "bought"),
        "",
        "Next order (median of the next gap if still active: target 50 % ordered by the predicted date)",
        f"  truly active customers with a predicted date inside the holdout: {nxt['customers']}, ordered by it "
        + _share(nxt["ordered_by_predicted_date"])
        + f" | baseline last order + own mean interval: {nxt['baseline_customers']}, "
        + _share(nxt["baseline_ordered_by_predicted_date"]),
        "",
        f"Timing: simulate {timing['simulate_s']} s, counters {timing['counters_s']} s, fit {timing['fit_s']} s, "
        f"score all {timing['score_all_s']} s, score() {timing['score_us_per_call']} us per call",
    ]
    return "\n".join(lines)


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _table(rows: list[dict[str, Any]], predicted: str, observed: str) -> list[str]:
    out = [f"    {'bin':<9}{'count':>7}  {'mean ' + predicted:>14}  {observed:>8}"]
    for r in rows:
        if r["count"]:
            out.append(f"    {r['bin']:<9}{r['count']:>7}  {r['mean_predicted']:>14.3f}  {r['observed']:>8.3f}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emma predict validate", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--horizon-days", type=float, default=DEFAULT_HORIZON_DAYS)
    parser.add_argument("--process", choices=("pareto_nbd", "model"), default="pareto_nbd")
    args = parser.parse_args(argv)
    results = validate(args.seed, args.customers, args.horizon_days, SimParams(process=args.process))
    print(format_report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
