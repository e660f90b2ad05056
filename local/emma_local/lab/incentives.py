"""A simulated shop with known ground truth for the incentive policy: whom does a coupon move, and which policy
saves the discounts without losing the conversions?

Set-up (seeded, pure Python):

* **Customers and Emma's view.** The purchase histories of ``emma_local.lab.predict.simulate`` (Pareto/NBD by
  default: not the model's own process). At the decision time (the end of calibration) every customer gets the
  template's message. Emma sees what it would live: the shop counters replayed order by order through
  ``stats_delta``, the prior fitted from them with ``fit_prior``, every customer scored with ``score`` (the
  default 30-day horizon, as the dispatcher scores), and the policy's arm from ``emma.offers.policy.decide``.
* **The truth without a coupon.** Customer ``i`` orders within the window (``IncentiveConfig.window_days``, 14
  days) with ``p_i = alive_i * (1 - exp(-lambda_i * W))``: ``alive_i`` and the purchase rate ``lambda_i`` are the
  simulation's (for the Pareto/NBD process this leaves out a loss inside the window; the outcome is drawn from
  ``p_i``, so ``p_i`` is the lab's truth by definition).
* **The truth with a coupon** is ``p_i + u_i``, ``u_i`` from a stated response model (``RESPONSES``); a lost
  customer (``p_i = 0``) is never moved. Outcomes use common random numbers: one uniform ``U_i`` per customer,
  converted without a coupon iff ``U_i < p_i``, with one iff ``U_i < p_i + u_i``: every policy is judged on the
  same customers and the same luck.
* **Money.** A converting customer places one order of value ``V_i ~ Gamma(6, mean mu_i)``, ``mu_i`` log-normal
  around 60 (the customer's spend); a coupon order gets ``percent`` off ``V_i``; the shop earns ``margin * V_i``
  less the discount.
* **Periods.** A random ``learn_share`` of the customers is a first period under Emma's default policy
  (``predicted`` with propensity: threshold 0.5, control 10 %, explore 5 %); their arms' counters per band
  give the uplift table (``emma.offers.uplift.estimate``). The other customers are the second period, where the
  policies are compared.

Policies on the second period's customers: ``always`` (Emma's, with its 10 % control), ``propensity`` (Emma's
default), ``uplift`` (the first period's table where a band is measured, else propensity), ``uplift-lower``
(the same with the conservative rule: a coupon only where its value's lower bound is positive), ``oracle``
(coupon iff ``u_i * margin * V_i > percent * V_i * (p_i + u_i)``, the true expected gain against the true
expected discount; no control group: the ceiling) and ``none`` (no coupon at all: the floor). Intervals of the
ratios against ``always`` are percentile intervals of a paired bootstrap over the second period's customers.

Run: ``python -m emma_local.lab.incentives --seed 1 --customers 20000`` (``--help``).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from emma.offers.config import IncentiveConfig
from emma.offers.policy import BAND_EDGES, GETS_COUPON, band_of, decide
from emma.offers.uplift import DEFAULT_MARGIN, DEFAULT_MIN_PER_ARM, ArmCounts, UpliftTable, estimate, incentive_need
from emma.predict.model import DEFAULT_HORIZON_DAYS, DEFAULT_THRESHOLD, score
from emma.predict.prior import ShopStats, fit_prior, stats_delta
from emma_local.lab.predict.simulate import SimParams, simulate_shop

SHOP = "lab-shop"
TEMPLATE = "lab-coupon"
DEFAULT_SEED = 1
DEFAULT_CUSTOMERS = 20_000
DEFAULT_PERCENT = 10.0  # cart-coupon's; winback-coupon gives 15
LEARN_SHARE = 0.5
RESAMPLES = 200
MEAN_SPEND = 60.0
SPEND_SIGMA = 0.5  # log-normal spread of the customers' mean order value
ORDER_SHAPE = 6.0  # Gamma shape of one order's value around the customer's mean
TARGET_SAVED = 0.5  # the compass: at least half the coupon spend saved ...
TARGET_KEPT = 0.9  # ... while keeping at least 90 % of the conversions

Response = Callable[[float], float]  # true p (active customer) -> true uplift u


@dataclass(frozen=True)
class ResponseModel:
    name: str
    formula: str
    uplift: Response


RESPONSES: dict[str, ResponseModel] = {
    r.name: r
    for r in (
        ResponseModel("middle", "u = 0.6 p (1 - p): persuadables in the middle (at most 0.15, at p = 0.5)",
                      lambda p: 0.6 * p * (1.0 - p)),
        ResponseModel("falling", "u = 0.15 (1 - p): the less likely to buy, the more a coupon moves them",
                      lambda p: 0.15 * (1.0 - p)),
        ResponseModel("everyone", "u = min(0.10, 1 - p): every active customer moved alike (pessimistic)",
                      lambda p: min(0.10, 1.0 - p)),
        ResponseModel("rising", "u = min(0.25 p, 1 - p): the likely buyers moved most (pessimistic)",
                      lambda p: min(0.25 * p, 1.0 - p)),
    )
}  # fmt: skip
POLICIES = ("always", "propensity", "uplift", "uplift-lower", "oracle", "none")


@dataclass
class Customer:
    customer_id: str
    p_true: float  # P(order within the window) without a coupon
    value: float  # the order's value if they order (before any discount)
    luck: float  # U_i: the common random number
    p_hat: float | None  # Emma's p_buy_within_horizon
    would_buy: bool | None  # Emma's propensity prediction
    learn: bool  # first period (the table is learnt from it) or second (the policies are compared on it)


@dataclass
class Shop:
    seed: int
    customers: list[Customer]
    decision_at: datetime
    prior_method: str
    timing: dict[str, float]


def build_shop(
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    *,
    params: SimParams | None = None,
    window_days: float = 14.0,
    learn_share: float = LEARN_SHARE,
    horizon_days: float = DEFAULT_HORIZON_DAYS,
    threshold: float = DEFAULT_THRESHOLD,
) -> Shop:
    """The simulated customers with their truth and Emma's predictions as of the decision time."""
    started = time.perf_counter()
    sim = simulate_shop(customers, seed=seed, params=params or SimParams())
    simulated = time.perf_counter()
    stats = ShopStats()
    for c in sim.customers:
        seen: list[datetime] = []
        for order_at in c.calibration_orders:
            stats.apply(stats_delta(seen, [*seen, order_at]))
            seen.append(order_at)
    now = sim.calibration_end
    prior = fit_prior(stats, now)
    fitted = time.perf_counter()
    rng = random.Random(seed * 7919 + 17)
    out = []
    for c in sim.customers:
        scores = score(c.calibration_orders, now, prior, horizon_days, threshold)
        p_true = -math.expm1(-c.rate_per_day * window_days) if c.alive_at_calibration_end else 0.0
        mean = MEAN_SPEND * math.exp(rng.gauss(-(SPEND_SIGMA**2) / 2, SPEND_SIGMA))
        value = rng.gammavariate(ORDER_SHAPE, mean / ORDER_SHAPE)
        out.append(
            Customer(
                customer_id=c.customer_id,
                p_true=p_true,
                value=value,
                luck=rng.random(),
                p_hat=scores.p_buy_within_horizon,
                would_buy=None if scores.insufficient_data else scores.would_buy_without_incentive,
                learn=rng.random() < learn_share,
            )
        )
    scored = time.perf_counter()
    timing = {"simulate_s": simulated - started, "fit_s": fitted - simulated, "score_s": scored - fitted}
    return Shop(seed, out, now, prior.method, timing)


# --------------------------------------------------------------------------------------------------
# Outcomes


def _arm(policy: str, c: Customer, config: IncentiveConfig, would_buy: bool | None, method: str | None) -> str:
    return decide(
        policy,
        shop=SHOP,
        template=TEMPLATE,
        customer=c.customer_id,
        would_buy=would_buy,
        p=c.p_hat,
        method=method,
        config=config,
    ).arm


def _outcome(c: Customer, u: float, coupon: bool, percent: float, margin: float) -> tuple[bool, float, float, float]:
    """(converted, revenue paid, discount, net margin) of one customer."""
    converted = c.luck < c.p_true + (u if coupon else 0.0)
    if not converted:
        return False, 0.0, 0.0, 0.0
    discount = c.value * percent / 100.0 if coupon else 0.0
    return True, c.value - discount, discount, margin * c.value - discount


def learn_table(
    shop: Shop,
    response: ResponseModel,
    *,
    percent: float = DEFAULT_PERCENT,
    margin: float = DEFAULT_MARGIN,
    min_per_arm: int = DEFAULT_MIN_PER_ARM,
    config: IncentiveConfig | None = None,
    rule: str = "point",
) -> tuple[UpliftTable, dict[int, dict[str, ArmCounts]]]:
    """The first period under Emma's default policy (predicted, propensity): the arms' counters per band and
    the uplift table estimated from them."""
    config = config or IncentiveConfig()
    counts: dict[int, dict[str, ArmCounts]] = {}
    for c in shop.customers:
        if not c.learn or c.p_hat is None:
            continue
        arm = _arm("predicted", c, config, c.would_buy, "propensity")
        coupon = arm in GETS_COUPON
        converted, revenue, discount, _ = _outcome(c, _uplift(response, c), coupon, percent, margin)
        band = counts.setdefault(band_of(c.p_hat) or 0, {})
        band[arm] = band.get(arm, ArmCounts(0, 0)) + ArmCounts(1, int(converted), int(converted), revenue, discount)
    table = estimate(counts, shop.decision_at, margin=margin, min_per_arm=min_per_arm, rule=rule)  # type: ignore[arg-type]
    return table, counts


def _uplift(response: ResponseModel, c: Customer) -> float:
    if c.p_true <= 0.0:
        return 0.0  # a lost customer is not moved by any coupon
    return max(0.0, min(response.uplift(c.p_true), 1.0 - c.p_true))


def _coupons(
    policy: str,
    c: Customer,
    u: float,
    config: IncentiveConfig,
    tables: dict[str, UpliftTable],
    percent: float,
    margin: float,
) -> bool:
    if policy == "none":
        return False
    if policy == "oracle":
        return u * margin * c.value > percent / 100.0 * c.value * (c.p_true + u)
    if policy == "always":
        return _arm("always", c, config, c.would_buy, "propensity") in GETS_COUPON
    if policy == "propensity":
        return _arm("predicted", c, config, c.would_buy, "propensity") in GETS_COUPON
    table = tables[policy]
    would_buy, method = incentive_need(c.p_hat, table)
    return _arm("predicted", c, config, would_buy, method) in GETS_COUPON


def compare(
    shop: Shop,
    response: ResponseModel,
    *,
    percent: float = DEFAULT_PERCENT,
    margin: float = DEFAULT_MARGIN,
    min_per_arm: int = DEFAULT_MIN_PER_ARM,
    config: IncentiveConfig | None = None,
    resamples: int = RESAMPLES,
) -> dict[str, Any]:
    """The policies on the second period's customers under one response model, with the learnt table."""
    config = config or IncentiveConfig()
    tables = {}
    counts: dict[int, dict[str, ArmCounts]] = {}
    for policy, rule in (("uplift", "point"), ("uplift-lower", "lower")):
        tables[policy], counts = learn_table(
            shop, response, percent=percent, margin=margin, min_per_arm=min_per_arm, config=config, rule=rule
        )
    evaluated = [c for c in shop.customers if not c.learn and c.p_hat is not None]
    # Per customer and policy: coupon issued, converted, discount, net margin.
    rows: dict[str, list[tuple[int, int, float, float]]] = {p: [] for p in POLICIES}
    for c in evaluated:
        u = _uplift(response, c)
        for policy in POLICIES:
            coupon = _coupons(policy, c, u, config, tables, percent, margin)
            converted, _, discount, net = _outcome(c, u, coupon, percent, margin)
            rows[policy].append((int(coupon), int(converted), discount, net))
    totals = {p: _totals(r) for p, r in rows.items()}
    intervals = _bootstrap(rows, resamples, random.Random(shop.seed * 31 + 7)) if resamples else {}
    base = totals["always"]
    policies = {}
    for policy in POLICIES:
        t = totals[policy]
        figures = {
            "coupons": t[0],
            "withheld_vs_always": _share_less(t[0], base[0]),
            "discount": t[2],
            "spend_saved_vs_always": _share_less(t[2], base[2]),
            "conversions": t[1],
            "conversions_kept_vs_always": t[1] / base[1] if base[1] else None,
            "incremental_kept_vs_always": _incremental(t[1], totals["none"][1], base[1]),
            "net_margin": t[3],
            "net_margin_vs_always": t[3] - base[3],
        }
        for key, interval in intervals.get(policy, {}).items():
            figures[key + "_ci95"] = interval
        figures["target_met"] = _target(figures)
        policies[policy] = figures
    return {
        "response": response.name,
        "formula": response.formula,
        "customers": len(evaluated),
        "learnt_from": sum(1 for c in shop.customers if c.learn and c.p_hat is not None),
        "bands": _bands(shop, response, tables["uplift"], counts, percent, margin),
        "policies": policies,
    }


def _totals(rows: Sequence[tuple[int, int, float, float]]) -> tuple[int, int, float, float]:
    return (
        sum(r[0] for r in rows),
        sum(r[1] for r in rows),
        math.fsum(r[2] for r in rows),
        math.fsum(r[3] for r in rows),
    )


def _share_less(x: float, base: float) -> float | None:
    return 1.0 - x / base if base else None


def _incremental(conversions: float, none: float, always: float) -> float | None:
    return (conversions - none) / (always - none) if always != none else None


def _target(f: dict[str, Any]) -> bool:
    saved, kept = f["spend_saved_vs_always"], f["conversions_kept_vs_always"]
    return saved is not None and kept is not None and saved >= TARGET_SAVED and kept >= TARGET_KEPT


def _bootstrap(
    rows: dict[str, list[tuple[int, int, float, float]]], resamples: int, rng: random.Random
) -> dict[str, dict[str, tuple[float, float]]]:
    """Paired percentile intervals (95 %) of the ratios against ``always``: the same resampled customers for
    every policy."""
    n = len(rows["always"])
    if n == 0:
        return {}
    draws: dict[str, dict[str, list[float]]] = {p: {"spend_saved": [], "conversions_kept": []} for p in POLICIES}
    population = range(n)
    for _ in range(resamples):
        picks = rng.choices(population, k=n)
        sums = {}
        for policy, r in rows.items():
            sums[policy] = (sum(r[i][1] for i in picks), sum(r[i][2] for i in picks))
        conv_base, spend_base = sums["always"]
        for policy, (conv, spend) in sums.items():
            draws[policy]["conversions_kept"].append(conv / conv_base if conv_base else math.nan)
            draws[policy]["spend_saved"].append(1.0 - spend / spend_base if spend_base else math.nan)
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for policy, series in draws.items():
        out[policy] = {}
        for key, values in series.items():
            values = sorted(v for v in values if not math.isnan(v))
            if values:
                out[policy][key + "_vs_always"] = (
                    values[int(0.025 * (len(values) - 1))],
                    values[math.ceil(0.975 * (len(values) - 1))],
                )
    return out


def _bands(
    shop: Shop,
    response: ResponseModel,
    table: UpliftTable,
    counts: dict[int, dict[str, ArmCounts]],
    percent: float,
    margin: float,
) -> list[dict[str, Any]]:
    """Per band: the first period's arms, the estimate and its decision, against the truth of the band's
    second-period customers (mean true uplift, true value of a coupon per treated customer)."""
    truth: dict[int, list[tuple[float, float]]] = {}
    for c in shop.customers:
        if c.learn or c.p_hat is None:
            continue
        u = _uplift(response, c)
        value = margin * u * c.value - percent / 100.0 * c.value * (c.p_true + u)
        truth.setdefault(band_of(c.p_hat) or 0, []).append((u, value))
    out = []
    for b in table.bands:
        arms = counts.get(b.band, {})
        true = truth.get(b.band, [])
        out.append(
            {
                "band": f"{BAND_EDGES[b.band]:.2f}-{BAND_EDGES[b.band + 1]:.2f}",
                "arms": {name: a.customers for name, a in sorted(arms.items())},
                "status": b.status,
                "lift": b.lift,
                "lift_ci95": None if b.lift is None else (b.lift_low, b.lift_high),
                "value": b.value,
                "value_ci95": None if b.value is None else (b.value_low, b.value_high),
                "needed": b.needed,
                "true_lift": sum(t[0] for t in true) / len(true) if true else None,
                "true_value": sum(t[1] for t in true) / len(true) if true else None,
                "customers": len(true),
            }
        )
    return out


# --------------------------------------------------------------------------------------------------
# The run


def run(
    seed: int = DEFAULT_SEED,
    customers: int = DEFAULT_CUSTOMERS,
    *,
    responses: Sequence[str] = tuple(RESPONSES),
    percent: float = DEFAULT_PERCENT,
    margin: float = DEFAULT_MARGIN,
    min_per_arm: int = DEFAULT_MIN_PER_ARM,
    learn_share: float = LEARN_SHARE,
    resamples: int = RESAMPLES,
    params: SimParams | None = None,
) -> dict[str, Any]:
    """The figures of one simulated shop under every response model."""
    config = IncentiveConfig()
    shop = build_shop(customers, seed, params=params, window_days=config.window_days, learn_share=learn_share)
    started = time.perf_counter()
    results = [
        compare(
            shop,
            RESPONSES[name],
            percent=percent,
            margin=margin,
            min_per_arm=min_per_arm,
            config=config,
            resamples=resamples,
        )
        for name in responses
    ]
    scored = [c for c in shop.customers if c.p_hat is not None]
    return {
        "seed": seed,
        "customers": customers,
        "process": (params or SimParams()).process,
        "window_days": config.window_days,
        "horizon_days": DEFAULT_HORIZON_DAYS,
        "threshold": DEFAULT_THRESHOLD,
        "control_share": config.control_share,
        "explore_share": config.explore_share,
        "percent": percent,
        "margin": margin,
        "min_per_arm": min_per_arm,
        "learn_share": learn_share,
        "resamples": resamples,
        "prior_method": shop.prior_method,
        "truth": {
            "mean_p_true": sum(c.p_true for c in scored) / len(scored),
            "mean_p_hat": sum(c.p_hat or 0.0 for c in scored) / len(scored),
            "predicted_to_buy_share": sum(1 for c in scored if c.would_buy) / len(scored),
        },
        "responses": results,
        "timing": {**shop.timing, "policies_s": time.perf_counter() - started},
    }


def spread(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, tuple[float, float, float]]]]:
    """Over several seeds: per response and policy, (mean, min, max) of the headline ratios."""
    keys = ("withheld_vs_always", "spend_saved_vs_always", "conversions_kept_vs_always", "incremental_kept_vs_always")
    out: dict[str, dict[str, dict[str, tuple[float, float, float]]]] = {}
    for i, response in enumerate(runs[0]["responses"]):
        out[response["response"]] = {}
        for policy in POLICIES:
            out[response["response"]][policy] = {}
            for key in keys:
                values = [r["responses"][i]["policies"][policy][key] for r in runs]
                values = [v for v in values if v is not None]
                if values:
                    out[response["response"]][policy][key] = (sum(values) / len(values), min(values), max(values))
    return out


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _ci(ci: tuple[float, float] | None) -> str:
    return "" if not ci else f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def format_report(result: dict[str, Any]) -> str:
    r = result
    lines = [
        f"Incentive policies on a simulated shop (seed {r['seed']}, {r['customers']:,} customers, {r['process']};"
        f" {r['percent']:g} % coupon, margin {r['margin']:.0%}, window {r['window_days']} days)",
        f"  Emma: prior {r['prior_method']}, p_buy within {r['horizon_days']:g} days, would buy without a coupon"
        f" if >= {r['threshold']}: {_pct(r['truth']['predicted_to_buy_share'])} of the customers; mean true p in the"
        f" window {r['truth']['mean_p_true']:.3f}",
        f"  first period {r['learn_share']:.0%} of the customers under 'predicted' (control {r['control_share']:.0%},"
        f" explore {r['explore_share']:.0%}); a band is decided with {r['min_per_arm']} customers in each arm",
    ]
    for resp in r["responses"]:
        lines.append(f"\n  Response '{resp['response']}': {resp['formula']} ({resp['customers']:,} customers compared)")
        lines.append(f"    {'band':<10} {'arms (1st period)':<44} {'lift [95 %]':<24} {'value/treated':>14} "
                     f"{'decision':>9} {'true lift':>10} {'true value':>11}")  # fmt: skip
        for b in resp["bands"]:
            arms = ", ".join(f"{k} {v}" for k, v in b["arms"].items())
            lift = "no data" if b["lift"] is None else f"{100 * b['lift']:+.1f}{_ci_pts(b['lift_ci95'])}"
            value = "" if b["value"] is None else f"{b['value']:+.2f}"
            decision = {True: "needed", False: "not", None: "-"}[b["needed"]]
            true_lift = "" if b["true_lift"] is None else f"{100 * b['true_lift']:+.1f}"
            true_value = "" if b["true_value"] is None else f"{b['true_value']:+.2f}"
            lines.append(
                f"    {b['band']:<10} {arms:<44} {lift:<24} {value:>14} {decision:>9} {true_lift:>10} {true_value:>11}"
            )
        lines.append(
            f"    {'policy':<13} {'coupons':>8} {'withheld':>9} {'discount':>10} {'saved [95 %]':>20} {'conv':>6}"
            f" {'kept [95 %]':>21} {'incr. kept':>10} {'net margin':>11} {'vs always':>10}  target"
        )
        for name, f in resp["policies"].items():
            lines.append(
                f"    {name:<13} {f['coupons']:>8,} {_pct(f['withheld_vs_always']):>9} {f['discount']:>10,.0f}"
                f" {_pct(f['spend_saved_vs_always']) + _ci(f.get('spend_saved_vs_always_ci95')):>20}"
                f" {f['conversions']:>6,}"
                f" {_pct(f['conversions_kept_vs_always']) + _ci(f.get('conversions_kept_vs_always_ci95')):>21}"
                f" {_pct(f['incremental_kept_vs_always']):>10} {f['net_margin']:>11,.0f}"
                f" {f['net_margin_vs_always']:>+10,.0f}"
                f"  {'met' if f['target_met'] else 'not met'}"
            )
    t = r["timing"]
    lines.append(
        f"\n  Timing: simulate {t['simulate_s']:.2f} s, counters and fit {t['fit_s']:.2f} s, score"
        f" {t['score_s']:.2f} s, policies and bootstrap {t['policies_s']:.2f} s"
    )
    return "\n".join(lines)


def _ci_pts(ci: tuple[float, float] | None) -> str:
    return "" if not ci else f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emma_local.lab.incentives", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--percent", type=float, default=DEFAULT_PERCENT, help="the coupon's discount, in %%")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN)
    parser.add_argument("--min-per-arm", type=int, default=DEFAULT_MIN_PER_ARM)
    parser.add_argument("--learn-share", type=float, default=LEARN_SHARE)
    parser.add_argument("--resamples", type=int, default=RESAMPLES)
    parser.add_argument("--response", action="append", choices=tuple(RESPONSES), help="default: all")
    parser.add_argument("--process", choices=("pareto_nbd", "model"), default="pareto_nbd")
    args = parser.parse_args(argv)
    result = run(
        args.seed,
        args.customers,
        responses=args.response or tuple(RESPONSES),
        percent=args.percent,
        margin=args.margin,
        min_per_arm=args.min_per_arm,
        learn_share=args.learn_share,
        resamples=args.resamples,
        params=SimParams(process=args.process),
    )
    print(format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
