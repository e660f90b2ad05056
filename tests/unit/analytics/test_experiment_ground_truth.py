"""The experiment readout on simulated shops whose truth is known (stdlib random, fixed seeds).

One large experiment must find the truth; many small ones check that the 95 % intervals cover it
about 95 % of the time (not much less: overconfident; not much more: wasteful) and that an arm no
different from control is called significant about 5 % of the time.
"""

import math
import random

from emma.analytics.stats import ArmStats, readout

MU, SIGMA = 4.0, 0.6  # order value: log-normal, mean exp(MU + SIGMA^2 / 2) = 65.37
REPEAT = 0.25  # a converted customer places a second order in the window with this probability
ORDER_VALUE = math.exp(MU + SIGMA**2 / 2)


def true_revenue_per_customer(rate: float) -> float:
    return rate * (1 + REPEAT) * ORDER_VALUE


def simulate(rnd: random.Random, name: str, rate: float, n: int, coupon: float = 0.0, holdout: bool = False):
    """One arm's counters: each of n customers converts with probability ``rate``; a coupon takes
    ``coupon`` of every order's value."""
    converted = orders = 0
    revenue = revenue_sq = discount = 0.0
    for _ in range(n):
        if rnd.random() < rate:
            count = 2 if rnd.random() < REPEAT else 1
            spent = sum(rnd.lognormvariate(MU, SIGMA) for _ in range(count))
            converted += 1
            orders += count
            revenue += spent
            revenue_sq += spent * spent
            discount += coupon * spent
    return ArmStats(name, n, converted, orders, revenue, revenue_sq, 0, discount, holdout)


TRUE = {"a": 0.040, "b": 0.055, "holdout": 0.030}


def test_a_large_experiment_finds_the_truth():
    rnd = random.Random(20_240_601)
    arms = [
        simulate(rnd, "a", TRUE["a"], 20_000),
        simulate(rnd, "b", TRUE["b"], 20_000, coupon=0.1),
        simulate(rnd, "holdout", TRUE["holdout"], 20_000, holdout=True),
    ]
    result = readout(arms)

    assert result.control == "holdout"
    for name in ("a", "b"):
        arm = result.arm(name)
        assert arm.conversion_ci.contains(TRUE[name])
        assert arm.lift_abs_ci.contains(TRUE[name] - TRUE["holdout"])
        assert arm.lift_rel_ci.contains(TRUE[name] / TRUE["holdout"] - 1)
        true_diff = true_revenue_per_customer(TRUE[name]) - true_revenue_per_customer(TRUE["holdout"])
        assert arm.revenue_diff_ci.contains(true_diff)
        assert arm.significant and arm.prob_beat_control > 0.99
    b = result.arm("b")
    assert result.winner == "b" and result.chi_square_p < 1e-6
    assert b.net_incremental == b.incremental_revenue - b.discount_cost > 0
    assert result.note.startswith("b converts 2.")


def test_intervals_cover_the_truth_about_95_percent_of_the_time():
    """1,000 small experiments: control 15 %, b 20 %, and a that is no different from control."""
    rnd = random.Random(7)
    rates = {"control": 0.15, "b": 0.20, "a": 0.15}
    true_rpc = {name: true_revenue_per_customer(rate) for name, rate in rates.items()}
    runs = 1000
    hits = {"wilson": 0, "newcombe": 0, "katz": 0, "welch": 0}
    false_alarms = 0
    for _ in range(runs):
        arms = [simulate(rnd, name, rate, 400) for name, rate in rates.items()]
        result = readout(arms, control="control")
        b, a = result.arm("b"), result.arm("a")
        hits["wilson"] += b.conversion_ci.contains(rates["b"])
        hits["newcombe"] += b.lift_abs_ci.contains(rates["b"] - rates["control"])
        hits["katz"] += b.lift_rel_ci.contains(rates["b"] / rates["control"] - 1)
        hits["welch"] += b.revenue_diff_ci.contains(true_rpc["b"] - true_rpc["control"])
        false_alarms += a.significant
    # with 1,000 runs the coverage's standard error is 0.7 points: the band is about +-4 of them
    for method, count in hits.items():
        assert 0.92 <= count / runs <= 0.98, (method, count / runs)
    assert 0.025 <= false_alarms / runs <= 0.075
