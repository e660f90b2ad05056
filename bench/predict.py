"""Predictions on real customers: Emma's purchase probability and churn risk on the CDNOW cohort
against recency and lifetimes' BG/NBD and MBG/NBD, with the issue's targets (issue 17) met or not.

The measurement is ``emma_local.lab.predict.real`` (``emma predict validate --data cdnow``): calibration
on the first 39 weeks, AUC at 30 days, 90 days and 39 weeks with paired bootstrap intervals, the
calibration error of the probabilities, the holdout's total of repeat purchases. The full run uses
CDNOW_master.txt (23,570 customers), ``--quick`` the 1/10 sample; both come from the ``lifetimes``
wheel (the dev extra): without it the section says so and is skipped.

    python -m bench.run    (make bench) runs it with the rest
    python -m bench.predict [--quick] [--output F.json] [--merge]    alone (about 20 s; 6 s with --quick)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

DATASET = "cdnow"
QUICK_DATASET = "cdnow-sample"
RESAMPLES = 1000
SEED = 17
SKIPPED = "skipped: install the dev extra (lifetimes)"


def measure(dataset: str = DATASET, resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        from emma_local.lab.predict import real
    except ImportError:  # numpy comes with the dev extra too
        return {"status": SKIPPED, "dataset": {"name": dataset}, "run_s": time.perf_counter() - started}
    try:
        result = real.evaluate(dataset, resamples=resamples, seed=seed)
    except real.LifetimesMissing:
        result = real.skipped(dataset)
    result["run_s"] = time.perf_counter() - started
    return result


def _cell(a: dict[str, Any]) -> str:
    return f"{a['auc']:.3f} [{a['ci95'][0]:.3f}, {a['ci95'][1]:.3f}]"


def _diff(d: dict[str, Any]) -> str:
    return f"{d['diff'] * 100:+.1f} [{d['ci95'][0] * 100:+.1f}, {d['ci95'][1] * 100:+.1f}]"


def _total(v: dict[str, Any] | None) -> str:
    return "n/a" if v is None else f"{v['predicted']:,.0f} ({v['error']:+.1%})"


ROWS = (
    ("emma", "Emma, fitted prior"),
    ("emma_expected", "Emma, expected count"),
    ("emma_default_prior", "Emma, default prior"),
    ("recency", "recency"),
    ("bgnbd", "BG/NBD (lifetimes)"),
    ("mbgnbd", "MBG/NBD (lifetimes)"),
)


def report(r: dict[str, Any]) -> str:
    d = r["dataset"]
    if r["status"] != "ok":
        return f"\n16. Predictions on real customers (CDNOW, {d['name']}): {r['status']}"
    hs, c, t = r["horizons"], r["churn"], r["timing"]
    width = 24
    lines = [
        f"\n16. Predictions on real customers (CDNOW, {d['file']}: {d['customers']:,} customers, {d['rows']:,} rows;"
        f" calibration before {d['calibration_end']}, holdout to {d['holdout_end']})",
        f"  AUC, ordered within the horizon; 95 % intervals from {r['bootstrap']['resamples']} paired bootstrap"
        f" resamples (seed {r['bootstrap']['seed']}); lifetimes ranks by expected purchases",
        f"  {'':<22}" + "".join(f"{h['label'] + ' (' + format(h['share'], '.1%') + ')':>{width}}" for h in hs),
    ]
    for key, label in ROWS:
        lines.append(f"  {label:<22}" + "".join(f"{_cell(h['auc'][key]):>{width}}" for h in hs))
    for key, label in (("recency", "recency"), ("bgnbd", "BG/NBD"), ("mbgnbd", "MBG/NBD")):
        lines.append(
            f"  {'Emma - ' + label + ' (pts)':<22}" + "".join(f"{_diff(h['emma_minus'][key]):>{width}}" for h in hs)
        )
    lines.append(
        f"  churn ({c['label']}, {c['share']:.0%}), 1 - p_alive: Emma {_cell(c['auc']['emma'])}, recency"
        f" {_cell(c['auc']['recency'])}, MBG/NBD {_cell(c['auc']['mbgnbd'])}, BG/NBD {c['auc']['bgnbd']['auc']:.3f}"
    )
    for h in hs:
        cal, agg = h["calibration"], h["aggregate"]
        lines.append(
            f"  {h['label']:<9} Brier {cal['brier']:.4f} (base rate {cal['brier_base_rate']:.4f}), ECE {cal['ece']:.4f}"
            f" ({cal['ece_bins']}), mean p {cal['mean_predicted']:.3f} vs {cal['observed']:.3f};"
            f" purchases {agg['actual']:,.0f}: Emma {_total(agg['emma'])}, BG/NBD {_total(agg['bgnbd'])},"
            f" MBG/NBD {_total(agg['mbgnbd'])}"
        )
    sp = r.get("spend")
    if sp:
        e, lt = sp["emma_params"], sp["lifetimes_params"]
        lines.append(
            f"  spend (Gamma-Gamma, {sp['customers_with_repeat']:,} customers): Emma p {e['p']:.2f} q {e['q']:.2f} v"
            f" {e['v']:.2f}, lifetimes p {lt['p']:.2f} q {lt['q']:.2f} v {lt['v']:.2f}; holdout dollars"
            f" {sp['actual']:,.0f}: Emma {sp['predicted']['emma']['error']:+.1%}, lifetimes"
            f" {sp['predicted']['mbgnbd_gamma_gamma']['error']:+.1%}; top 10 % spenders AUC Emma"
            f" {sp['top_decile_auc']['emma']:.3f}, recency {sp['top_decile_auc']['recency']:.3f}"
        )
    for target in r["targets"]:
        lines.append(f"  target {target['target']}: {_mark(target['met'])}: {target['detail']}")
    lines.append(
        f"  Section took {r['run_s']:.1f} s (Emma counters + prior fit {t['emma_fit_s']:.2f} s, scoring"
        f" {t['emma_score_s']:.2f} s; BG/NBD fit {t['bgnbd_fit_s']:.2f} s, MBG/NBD {t['mbgnbd_fit_s']:.2f} s;"
        f" bootstrap {t['bootstrap_s']:.2f} s)."
    )
    return "\n".join(lines)


def findings(r: dict[str, Any]) -> list[str]:
    """One line per target of issue 17, met or not with the figures, and what else stands out."""
    if r["status"] != "ok":
        return [f"predictions on real customers (CDNOW): {r['status']}."]
    hs, name = r["horizons"], f"predictions (CDNOW {r['dataset']['name'].removeprefix('cdnow').strip('-') or 'full'})"
    found = []

    def per_horizon(ref: str, need: float) -> tuple[bool, str]:
        met = all(h["emma_minus"][ref]["diff"] >= need for h in hs)
        return met, "; ".join(
            f"{h['label']} {h['auc']['emma']['auc']:.3f} vs {h['auc'][ref]['auc']:.3f},"
            f" {_diff(h['emma_minus'][ref])} points"
            for h in hs
        )

    met, detail = per_horizon("bgnbd", 0.0)
    found.append(f"{name}: target purchase AUC at least equal to BG/NBD at every horizon {_mark(met)}: {detail}.")
    from_recency = _target_auc_over_recency()
    met, detail = per_horizon("recency", from_recency)
    found.append(
        f"{name}: target purchase AUC at least {from_recency * 100:g} points above recency at every horizon"
        f" {_mark(met)}: {detail}."
    )
    ece = next(t for t in r["targets"] if t["target"].startswith("expected calibration error"))
    found.append(f"{name}: target {ece['target']} {_mark(ece['met'])}: {ece['detail']}.")
    total = next(t for t in r["targets"] if t["target"].startswith("total holdout purchases"))
    last = hs[-1]["aggregate"]
    if total["met"] is None:
        found.append(
            f"{name}: target {total['target']} NOT MEASURED: Emma has no expected_purchases yet (BG/NBD"
            f" {_total(last['bgnbd'])}, MBG/NBD {_total(last['mbgnbd'])} of {last['actual']:,.0f})."
        )
    else:
        found.append(f"{name}: target {total['target']} {_mark(total['met'])}: {total['detail']}.")
    worse = [h for h in hs if h["emma_minus"]["emma_default_prior"]["ci95"][1] < 0]
    if worse:
        found.append(
            f"{name}: the fitted shop prior ranks worse than Emma's default prior at "
            + ", ".join(f"{h['label']} ({_diff(h['emma_minus']['emma_default_prior'])} points)" for h in worse)
            + ": the same formulas rank better with the untuned default than with the fitted prior."
        )
    c = r["churn"]
    found.append(
        f"{name}: churn ({c['label']}) ranked by 1 - p_alive: Emma {c['auc']['emma']['auc']:.3f} against recency"
        f" {c['auc']['recency']['auc']:.3f} ({_diff(c['emma_minus']['recency'])} points) and MBG/NBD"
        f" {c['auc']['mbgnbd']['auc']:.3f}."
    )
    return found


def _mark(met: bool | None) -> str:
    return "n/a" if met is None else "MET" if met else "NOT MET"


def _target_auc_over_recency() -> float:
    from emma_local.lab.predict.real import TARGET_AUC_OVER_RECENCY

    return TARGET_AUC_OVER_RECENCY


RESULTS = Path(__file__).with_name("results.json")
FINDING_PREFIXES = ("predictions (CDNOW", "predictions on real customers (CDNOW)")


def merge(result: dict[str, Any], path: Path = RESULTS) -> None:
    """This section measured alone, put into a full run's results (``predict`` and its findings); the rest
    of the file stays as that run left it."""
    from bench.run import merge_section

    merge_section("predict", result, findings(result), FINDING_PREFIXES, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.predict", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the 1/10 sample (2,357 customers) instead of all")
    parser.add_argument("--resamples", type=int, default=RESAMPLES)
    parser.add_argument("--output", type=Path, help="write the section's figures as JSON")
    parser.add_argument(
        "--merge", action="store_true", help="put the figures and findings into bench/results.json (section 16)"
    )
    args = parser.parse_args(argv)
    result = measure(QUICK_DATASET if args.quick else DATASET, resamples=args.resamples)
    from bench.run import show_section

    show_section(
        "predict", result, report(result), findings(result), FINDING_PREFIXES, output=args.output, merge=args.merge
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
