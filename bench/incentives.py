"""Incentives: which coupon policy saves the discounts and keeps the conversions, on a simulated shop whose
response to coupons is known (issue 18's closing note, issue 17 part 5).

The measurement is ``emma_local.lab.incentives`` (set-up and response models in its docstring and in
docs/predictions.md, "Incentives measured: uplift per band"): for each of several seeded shops and each stated
response model, the policies always, predicted by propensity (Emma's default), predicted by uplift per band
(learnt from a first period's randomised arms), its conservative variant, the oracle and no coupon, judged on
the same customers: coupons, discount spend saved and conversions kept against always, net margin. The target
of the compass: at least half the coupon spend saved while keeping at least 90 % of the conversions.

    python -m bench.incentives [--quick] [--output F.json] [--merge]    alone (about 1.5 min; 10 s with --quick)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

SEEDS = (1, 2, 3)
CUSTOMERS = 20_000
LARGE_CUSTOMERS = 100_000  # one larger shop: more bands get enough customers in their arms
RESAMPLES = 100
QUICK = {"seeds": (1,), "customers": 5_000, "large_customers": 0, "resamples": 50}
FULL = {"seeds": SEEDS, "customers": CUSTOMERS, "large_customers": LARGE_CUSTOMERS, "resamples": RESAMPLES}
HEADLINE = ("propensity", "uplift", "uplift-lower", "oracle")


def measure(
    seeds: tuple[int, ...] = SEEDS,
    customers: int = CUSTOMERS,
    large_customers: int = LARGE_CUSTOMERS,
    resamples: int = RESAMPLES,
) -> dict[str, Any]:
    from emma_local.lab import incentives as lab

    started = time.perf_counter()
    runs = [lab.run(seed, customers, resamples=resamples) for seed in seeds]
    large = lab.run(seeds[0], large_customers, resamples=resamples) if large_customers else None
    return {
        "status": "ok",
        "seeds": list(seeds),
        "customers": customers,
        "targets": {"spend_saved": lab.TARGET_SAVED, "conversions_kept": lab.TARGET_KEPT},
        "runs": runs,
        "spread": lab.spread(runs),
        "large": large,
        "run_s": time.perf_counter() - started,
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _spread(s: tuple[float, float, float] | list[float] | None) -> str:
    return "n/a" if not s else f"{100 * s[0]:.1f}% ({100 * s[1]:.1f}-{100 * s[2]:.1f})"


def report(r: dict[str, Any]) -> str:
    from emma_local.lab.incentives import format_report

    first = r["runs"][0]
    lines = [
        f"\n17. Incentives on a simulated shop (bench/incentives.py): seeds {', '.join(map(str, r['seeds']))},"
        f" {r['customers']:,} customers each ({first['process']}); {first['percent']:g} % coupon, margin"
        f" {first['margin']:.0%}, window {first['window_days']} days; target: spend saved >="
        f" {r['targets']['spend_saved']:.0%} with conversions kept >= {r['targets']['conversions_kept']:.0%}",
        "  mean over the seeds (min-max) against always:",
        f"  {'response':<10} {'policy':<13} {'coupons withheld':>24} {'spend saved':>24} {'conversions kept':>24}"
        f" {'incremental kept':>24}",
    ]
    for response, policies in r["spread"].items():
        for policy in HEADLINE:
            s = policies[policy]
            lines.append(
                f"  {response:<10} {policy:<13} {_spread(s.get('withheld_vs_always')):>24}"
                f" {_spread(s.get('spend_saved_vs_always')):>24} {_spread(s.get('conversions_kept_vs_always')):>24}"
                f" {_spread(s.get('incremental_kept_vs_always')):>24}"
            )
    lines.append("\n  Seed " + str(first["seed"]) + " in full:\n")
    lines.append("\n".join("  " + line for line in format_report(first).splitlines()))
    if r.get("large"):
        lines.append(f"\n  A larger shop ({r['large']['customers']:,} customers, seed {r['large']['seed']}):\n")
        lines.append("\n".join("  " + line for line in format_report(r["large"]).splitlines()))
    lines.append(f"  Section took {r['run_s']:.1f} s.")
    return "\n".join(lines)


def findings(r: dict[str, Any]) -> list[str]:
    """Per response model: does Emma's default (propensity) meet the target, and do the uplift policy and the
    oracle; how many bands the uplift table could decide."""
    if r["status"] != "ok":
        return [f"incentives (simulated shop): {r['status']}."]
    found = []
    saved, kept = r["targets"]["spend_saved"], r["targets"]["conversions_kept"]
    for response, policies in r["spread"].items():
        parts = []
        for policy in HEADLINE:
            s = policies[policy]
            met = s["spend_saved_vs_always"][0] >= saved and s["conversions_kept_vs_always"][0] >= kept
            parts.append(
                f"{policy} saves {_pct(s['spend_saved_vs_always'][0])} of the spend, keeps"
                f" {_pct(s['conversions_kept_vs_always'][0])} of the conversions ({'MET' if met else 'NOT MET'})"
            )
        found.append(
            f"incentives ({response}, {len(r['seeds'])} seeds x {r['customers']:,} customers): "
            + "; ".join(parts)
            + "."
        )
    measured = [
        sum(1 for b in resp["bands"] if b["status"] == "measured") for run in r["runs"] for resp in run["responses"]
    ]
    line = (
        f"incentives (uplift table): with {r['customers'] // 2:,} customers in the first period the table decides"
        f" {min(measured)}-{max(measured)} of 7 bands (at least 200 customers in each arm; the 10 % control and 5 %"
        " explore shares are the bottleneck)"
    )
    if r.get("large"):
        large = [sum(1 for b in resp["bands"] if b["status"] == "measured") for resp in r["large"]["responses"]]
        line += f"; with {r['large']['customers'] // 2:,} it decides {min(large)}-{max(large)}"
    found.append(line + ".")
    return found


FINDING_PREFIXES = ("incentives (",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.incentives", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed of 5,000 customers, no larger shop")
    parser.add_argument("--output", type=Path, help="write the section's figures as JSON")
    parser.add_argument("--merge", action="store_true", help="put the figures and findings into bench/results.json")
    args = parser.parse_args(argv)
    result = measure(**(QUICK if args.quick else FULL))
    from bench.run import show_section

    show_section(
        "incentives", result, report(result), findings(result), FINDING_PREFIXES, output=args.output, merge=args.merge
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
