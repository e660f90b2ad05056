"""The experiment statistics against a reference implementation (scipy, a dev dependency only) and
published worked examples; stats.py itself is pure Python for the Lambda layer."""

import math
from decimal import Decimal

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps
from scipy.stats.contingency import relative_risk

from emma.analytics.stats import (
    EXACT_TERMS,
    ArmStats,
    Interval,
    chi2_sf,
    chi_square,
    prob_beat,
    readout,
    sample_size,
    t_ppf,
    t_sf,
    welch,
)

# (converted, customers) of an arm and of its control: small, large, none and all converted
TABLES = [
    (56, 70, 48, 80),
    (9, 10, 3, 10),
    (1, 12, 0, 15),
    (0, 25, 3, 30),
    (5, 56, 0, 29),
    (7, 9, 1, 9),
    (40, 1000, 30, 1000),
    (62, 1000, 30, 1000),
    (1, 1000, 4, 1000),
    (150, 160, 120, 170),
    (30, 30, 28, 30),
    (412, 20_000, 301, 19_850),
    (2300, 50_000, 2150, 50_000),
    (0, 40, 0, 60),
    (10, 10, 5, 5),
]


def compare(k1, n1, k2, n2, alpha=0.05):
    """The arm's readout against its control."""
    result = readout([ArmStats("control", n2, k2), ArmStats("arm", n1, k1)], alpha=alpha)
    return result.arm("arm")


def scipy_wilson(k, n, level=0.95):
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    return ci.low, ci.high


def reference_newcombe(k1, n1, k2, n2, level=0.95):
    """Newcombe (1998) method 10, from the published formula, on scipy's Wilson bounds."""
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = scipy_wilson(k1, n1, level), scipy_wilson(k2, n2, level)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def approx(x, rel=1e-9, abs=1e-12):
    return pytest.approx(x, rel=rel, abs=abs)


@pytest.mark.parametrize(("k1", "n1", "k2", "n2"), TABLES)
def test_conversion_intervals_match_scipy(k1, n1, k2, n2):
    arm = compare(k1, n1, k2, n2)
    assert arm.conversion_rate == k1 / n1
    assert (arm.conversion_ci.low, arm.conversion_ci.high) == approx(scipy_wilson(k1, n1))
    assert arm.lift_abs == approx(k1 / n1 - k2 / n2)
    assert (arm.lift_abs_ci.low, arm.lift_abs_ci.high) == approx(reference_newcombe(k1, n1, k2, n2))


@pytest.mark.parametrize(("k1", "n1", "k2", "n2"), TABLES)
def test_p_value_is_the_uncorrected_chi_square_of_the_2x2_table(k1, n1, k2, n2):
    arm = compare(k1, n1, k2, n2)
    table = [[k1, n1 - k1], [k2, n2 - k2]]
    if k1 + k2 in (0, n1 + n2):  # no variation: scipy's chi-squared is undefined, Fisher's exact test says 1
        assert arm.p_value == 1.0 == sps.fisher_exact(table).pvalue
        return
    expected = sps.chi2_contingency(table, correction=False).pvalue
    assert arm.p_value == approx(expected, rel=1e-8, abs=1e-300)
    assert arm.significant is bool(expected < 0.05)


@pytest.mark.parametrize(("k1", "n1", "k2", "n2"), TABLES)
def test_relative_lift_is_the_katz_interval_of_the_risk_ratio(k1, n1, k2, n2):
    arm = compare(k1, n1, k2, n2)
    if k2 == 0:
        assert arm.lift_rel is None and arm.lift_rel_ci is None
        return
    rr = relative_risk(k1, n1, k2, n2)
    assert arm.lift_rel == approx(rr.relative_risk - 1)
    if k1 == 0:
        assert arm.lift_rel == -1.0 and arm.lift_rel_ci is None
        return
    ci = rr.confidence_interval(confidence_level=0.95)
    assert (arm.lift_rel_ci.low, arm.lift_rel_ci.high) == approx((ci.low - 1, ci.high - 1))


def test_intervals_follow_alpha():
    arm = compare(40, 1000, 30, 1000, alpha=0.1)
    assert (arm.conversion_ci.low, arm.conversion_ci.high) == approx(scipy_wilson(40, 1000, 0.9))
    assert (arm.lift_abs_ci.low, arm.lift_abs_ci.high) == approx(reference_newcombe(40, 1000, 30, 1000, 0.9))


# Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (4 decimals)
@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2", "low", "high"),
    [
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (0, 10, 0, 10, -0.2775, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0000),
        (10, 10, 0, 10, 0.6075, 1.0000),
    ],
)
def test_newcombe_published_examples(k1, n1, k2, n2, low, high):
    ci = compare(k1, n1, k2, n2).lift_abs_ci
    assert (round(ci.low, 4), round(ci.high, 4)) == (low, high)


@pytest.mark.parametrize(
    "counts",
    [
        [(40, 1000), (62, 1000), (30, 1000)],
        [(1, 12), (0, 15), (4, 9), (2, 20)],
        [(412, 20_000), (301, 19_850), (455, 20_100), (380, 19_990), (420, 20_010)],
        [(9, 10), (3, 10)],
        [(30, 30), (28, 30), (25, 30)],
    ],
)
def test_k_arm_chi_square_matches_scipy(counts):
    expected = sps.chi2_contingency([[k, n - k] for k, n in counts], correction=False)
    stat, p = chi_square(counts)
    assert stat == approx(expected.statistic)
    assert p == approx(expected.pvalue, rel=1e-8, abs=1e-300)
    arms = [ArmStats(f"arm{i}", n, k) for i, (k, n) in enumerate(counts)]
    result = readout([*arms, ArmStats("empty", 0, 0)])  # an arm without customers is left out
    assert (result.chi_square, result.chi_square_p) == (stat, p)


@pytest.mark.parametrize("df", [1, 2, 5, 30, 200, 1.5, 7.3, 1000, 40_000, 250_000])
@pytest.mark.parametrize("p", [1e-9, 1e-4, 0.01, 0.025, 0.3, 0.5, 0.7, 0.95, 0.975, 0.999, 1 - 1e-8])
def test_t_quantile_matches_scipy(df, p):
    assert t_ppf(p, df) == approx(sps.t.ppf(p, df), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("df", [1, 2, 5, 30, 200, 3000, 40_000])
@pytest.mark.parametrize("t", [-4.0, -0.3, 0.0, 0.2, 1.0, 1.96, 3.5, 12.0, 400.0])
def test_t_survival_matches_scipy(df, t):
    assert t_sf(t, df) == approx(sps.t.sf(t, df), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 9, 30])
@pytest.mark.parametrize("x", [0.001, 0.5, 1.0, 3.84, 10.0, 45.0, 300.0])
def test_chi2_survival_matches_scipy(df, x):
    assert chi2_sf(x, df) == approx(sps.chi2.sf(x, df), rel=1e-9, abs=1e-300)


def test_t_quantile_rejects_bad_arguments():
    for p, df in [(0.0, 5), (1.0, 5), (0.5, 0), (0.5, -1)]:
        with pytest.raises(ValueError):
            t_ppf(p, df)


def revenues(rng, n, rate, mean_log=4.0):
    """Per-customer revenue: zero for non-buyers, log-normal for buyers."""
    return np.where(rng.random(n) < rate, rng.lognormal(mean_log, 0.7, n), 0.0)


@pytest.mark.parametrize(
    ("n1", "n2", "rate1", "rate2"),
    [(2, 3, 1.0, 1.0), (5, 8, 0.6, 0.4), (50, 40, 0.2, 0.1), (1000, 1200, 0.05, 0.04), (20_000, 19_000, 0.05, 0.03)],
)
def test_revenue_difference_is_welch_as_scipy_computes_it(n1, n2, rate1, rate2):
    rng = np.random.default_rng(n1 + n2)
    x, y = revenues(rng, n1, rate1), revenues(rng, n2, rate2)
    arm = ArmStats("arm", n1, int((x > 0).sum()), revenue=float(x.sum()), revenue_sq=float((x * x).sum()))
    control = ArmStats("control", n2, int((y > 0).sum()), revenue=float(y.sum()), revenue_sq=float((y * y).sum()))
    got = readout([control, arm]).arm("arm")

    expected = sps.ttest_ind(x, y, equal_var=False)
    assert got.revenue_diff == approx(x.mean() - y.mean())
    assert got.revenue_p_value == approx(expected.pvalue, rel=1e-7)
    ci = expected.confidence_interval(confidence_level=0.95)
    assert (got.revenue_diff_ci.low, got.revenue_diff_ci.high) == approx((ci.low, ci.high), rel=1e-7)
    # and spelt out: Welch-Satterthwaite df and scipy's t quantile
    s1, s2 = x.var(ddof=1) / n1, y.var(ddof=1) / n2
    df = (s1 + s2) ** 2 / (s1**2 / (n1 - 1) + s2**2 / (n2 - 1))
    half = sps.t.ppf(0.975, df) * math.sqrt(s1 + s2)
    assert got.revenue_diff_ci.high - got.revenue_diff == approx(half, rel=1e-7)


@pytest.mark.parametrize(
    ("m1", "sd1", "n1", "m2", "sd2", "n2"),
    [(10.0, 3.0, 4, 8.0, 9.0, 3), (2.5, 30.0, 1000, 2.1, 25.0, 1100), (61.0, 0.0, 50, 60.0, 12.0, 50)],
)
def test_welch_from_summary_statistics(m1, sd1, n1, m2, sd2, n2):
    ci, p = welch(m1, sd1**2, n1, m2, sd2**2, n2)
    expected = sps.ttest_ind_from_stats(m1, sd1, n1, m2, sd2, n2, equal_var=False)
    assert p == approx(expected.pvalue)
    assert isinstance(ci, Interval) and ci.contains(m1 - m2)


def reference_prob_beat(k1, n1, k2, n2):
    """P(X > Y) = integral of pdf_X * cdf_Y, numerically, over where X's density is."""
    a1, b1, a2, b2 = 1 + k1, 1 + n1 - k1, 1 + k2, 1 + n2 - k2
    low, high = sps.beta.ppf(1e-14, a1, b1), sps.beta.isf(1e-14, a1, b1)
    value, _ = integrate.quad(
        lambda x: sps.beta.pdf(x, a1, b1) * sps.beta.cdf(x, a2, b2), low, high, epsabs=1e-13, epsrel=1e-11, limit=200
    )
    return value


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2"),
    [*TABLES[:11], (5000, 10_000, 5100, 10_000), (9000, 10_000, 8950, 10_000)],
)
def test_probability_to_beat_control_matches_numerical_integration(k1, n1, k2, n2):
    got = compare(k1, n1, k2, n2).prob_beat_control
    assert got == pytest.approx(reference_prob_beat(k1, n1, k2, n2), abs=1e-9)


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2"),
    [(412, 20_000, 301, 19_850), (30_300, 100_000, 30_000, 100_000), (60_000, 100_000, 59_800, 100_000)],
)
def test_probability_to_beat_control_for_large_counts_matches_monte_carlo(k1, n1, k2, n2):
    rng = np.random.default_rng(k1)
    draws = 2_000_000
    x = rng.beta(1 + k1, 1 + n1 - k1, draws)
    y = rng.beta(1 + k2, 1 + n2 - k2, draws)
    estimate = float((x > y).mean())  # its standard error is at most 0.00035
    assert compare(k1, n1, k2, n2).prob_beat_control == pytest.approx(estimate, abs=0.002)


def test_probability_to_beat_is_exact_up_to_the_limit_and_symmetric():
    # every form of the sum is longer than the limit: the normal approximation, still close
    k1, n1, k2, n2 = EXACT_TERMS + 10, 3 * EXACT_TERMS, EXACT_TERMS, 3 * EXACT_TERMS
    assert prob_beat(1 + k1, 1 + n1 - k1, 1 + k2, 1 + n2 - k2) == pytest.approx(
        reference_prob_beat(k1, n1, k2, n2), abs=1e-5
    )
    for a1, b1, a2, b2 in [(3, 50, 7, 40), (500, 20, 480, 30), (1, 1, 1, 1)]:
        assert prob_beat(a1, b1, a2, b2) + prob_beat(a2, b2, a1, b1) == pytest.approx(1.0, abs=1e-12)


def reference_sample_size(p1, p2, alpha=0.05, power=0.8):
    za, zb = sps.norm.ppf(1 - alpha / 2), sps.norm.ppf(power)
    pbar = (p1 + p2) / 2
    return (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (p1 - p2) ** 2


@pytest.mark.parametrize(("p1", "p2"), [(0.04, 0.03), (0.1, 0.2), (0.5, 0.45), (0.01, 0.011), (0.3, 0.0), (1.0, 0.9)])
def test_sample_size_matches_the_formula(p1, p2):
    n = sample_size(p1, p2)
    assert reference_sample_size(p1, p2) <= n < reference_sample_size(p1, p2) + 1 + 1e-9


@pytest.mark.parametrize(("k1", "n1", "k2", "n2"), [(40, 1000, 30, 1000), (62, 1000, 30, 1000), (9, 10, 3, 10)])
def test_readout_sample_size_and_customers_still_needed(k1, n1, k2, n2):
    arm = compare(k1, n1, k2, n2)
    needed = math.ceil(reference_sample_size(k1 / n1, k2 / n2) - 1e-9)
    assert abs(arm.sample_size_needed - needed) <= 1
    assert arm.more_customers_needed == max(0, arm.sample_size_needed - min(n1, n2))
    assert compare(10, 100, 10, 100).sample_size_needed is None


def test_control_is_named_else_the_holdout_else_the_first_arm():
    a, b, h = ArmStats("a", 100, 5), ArmStats("b", 100, 9), ArmStats("holdout", 100, 3, holdout=True)
    assert readout([a, b, h]).control == "holdout"
    assert readout([a, b, h], control="b").control == "b"
    assert readout([a, b]).control == "a"
    result = readout([a, b, h])
    assert [x.is_control for x in result.arms] == [False, False, True]
    assert result.arm("holdout").lift_abs is None and result.arm("holdout").p_value is None
    with pytest.raises(KeyError):
        result.arm("c")


def test_winner_is_the_best_arm_significantly_better_than_control():
    control = ArmStats("control", 2000, 60)
    better, best, worse = ArmStats("better", 2000, 100), ArmStats("best", 2000, 120), ArmStats("worse", 2000, 30)
    assert readout([control, better, best, worse]).winner == "best"
    result = readout([control, worse, ArmStats("same", 2000, 62)])
    assert result.arm("worse").significant and result.winner is None
    assert result.note.startswith("No arm beats control significantly yet: same converts 0.1 points better than")
    result = readout([control, worse])
    assert result.note.startswith("No arm beats control: worse converts 1.5 points worse than control (95% CI ")


def test_note_states_the_winner_with_its_interval_and_p():
    result = readout(
        [ArmStats("a", 1000, 40), ArmStats("b", 1000, 62), ArmStats("holdout", 1000, 30, holdout=True)],
    )
    low, high = reference_newcombe(62, 1000, 30, 1000)
    p = sps.chi2_contingency([[62, 938], [30, 970]], correction=False).pvalue
    assert result.winner == "b" and p < 0.001
    assert (
        result.note
        == f"b converts 3.2 points better than holdout (95% CI {low * 100:.1f} to {high * 100:.1f}), p < 0.001"
    )


def test_note_without_a_winner_says_how_many_more_customers_it_needs():
    result = readout([ArmStats("a", 1000, 30), ArmStats("b", 1000, 40)])
    b = result.arm("b")
    assert result.winner is None and not b.significant and b.more_customers_needed > 0
    assert result.note.startswith("No arm beats a significantly yet: b converts 1.0 points better than a (95% CI ")
    assert result.note.endswith(
        f"about {b.more_customers_needed:,} more customers per arm would show a difference this size"
    )


def test_revenue_and_incrementality_against_the_holdout():
    holdout = ArmStats("holdout", 400, 12, orders=13, revenue=720.0, revenue_sq=50_000.0, holdout=True)
    coupon = ArmStats(
        "coupon", 500, 30, orders=33, revenue=2100.0, revenue_sq=160_000.0, unsubscribed=4, discount=210.0
    )
    arm = readout([coupon, holdout]).arm("coupon")
    assert arm.revenue_per_customer == 4.2 and arm.unsubscribe_rate == 0.008
    assert arm.revenue_diff == pytest.approx(4.2 - 1.8)
    assert arm.incremental_revenue == pytest.approx(2.4 * 500)
    assert arm.discount_cost == 210.0 and arm.net_incremental == pytest.approx(1200.0 - 210.0)
    mean1, mean2 = 2100 / 500, 720 / 400
    sd1 = math.sqrt((160_000 - 500 * mean1**2) / 499)
    sd2 = math.sqrt((50_000 - 400 * mean2**2) / 399)
    expected = sps.ttest_ind_from_stats(mean1, sd1, 500, mean2, sd2, 400, equal_var=False)
    assert arm.revenue_p_value == approx(expected.pvalue, rel=1e-9)


@pytest.mark.parametrize(
    "arms",
    [
        [ArmStats("a", 0, 0), ArmStats("b", 0, 0)],
        [ArmStats("a", 100, 3), ArmStats("b", 0, 0)],
        [ArmStats("a", 0, 0), ArmStats("b", 100, 3)],
        [ArmStats("a", 50, 0), ArmStats("b", 70, 0), ArmStats("c", 10, 0)],
        [
            ArmStats("a", 50, 50, revenue=500.0, revenue_sq=5000.0),
            ArmStats("b", 20, 20, revenue=200.0, revenue_sq=2000.0),
        ],
        [ArmStats("a", 1, 1, revenue=9.0, revenue_sq=81.0), ArmStats("b", 1, 0)],
        [ArmStats("a", 30, 3, revenue=30.0, revenue_sq=300.0), ArmStats("b", 30, 3, revenue=60.0, revenue_sq=1200.0)],
    ],
)
def test_edge_cases_give_figures_not_exceptions(arms):
    result = readout(arms)
    assert result.note and 0.0 <= result.chi_square_p <= 1.0
    for arm in result.arms:
        assert 0.0 <= arm.conversion_ci.low <= arm.conversion_rate <= arm.conversion_ci.high <= 1.0
        for value in (arm.p_value, arm.prob_beat_control, arm.revenue_p_value):
            assert value is None or 0.0 <= value <= 1.0
        if arm.revenue_diff_ci is not None:
            assert arm.revenue_diff_ci.contains(arm.revenue_diff)


def test_zero_variance_revenue_is_a_certain_difference():
    # every buyer spent exactly 10 in both arms: the same revenue per customer, no doubt about it
    same = readout(
        [
            ArmStats("a", 30, 30, revenue=300.0, revenue_sq=3000.0),
            ArmStats("b", 20, 20, revenue=200.0, revenue_sq=2000.0),
        ]
    )
    assert same.arm("b").revenue_diff_ci == Interval(0.0, 0.0) and same.arm("b").revenue_p_value == 1.0


@pytest.mark.parametrize(
    ("arms", "control", "message"),
    [
        ([ArmStats("a", 10, 1)], None, "at least 2 arms"),
        ([], None, "at least 2 arms"),
        ([ArmStats("a", 10, 1), ArmStats("b", 10, 1)], "c", "unknown control arm 'c'"),
        ([ArmStats("a", -1, 0), ArmStats("b", 10, 1)], None, "must not be negative"),
        ([ArmStats("a", 10, -1), ArmStats("b", 10, 1)], None, "must not be negative"),
        ([ArmStats("a", 10, 1, orders=-2), ArmStats("b", 10, 1)], None, "must not be negative"),
        ([ArmStats("a", 10, 11), ArmStats("b", 10, 1)], None, "can't exceed customers"),
        ([ArmStats("a", 10, 1, unsubscribed=12), ArmStats("b", 10, 1)], None, "can't exceed customers"),
        ([ArmStats("a", 10, 1), ArmStats("a", 10, 1)], None, "unique"),
    ],
)
def test_bad_input_is_a_value_error(arms, control, message):
    with pytest.raises(ValueError, match=message):
        readout(arms, control=control)


def test_alpha_must_be_a_probability():
    with pytest.raises(ValueError, match="alpha"):
        readout([ArmStats("a", 10, 1), ArmStats("b", 10, 1)], alpha=1.5)


def test_counters_read_as_decimal_give_the_same_readout():
    plain = [
        ArmStats("a", 500, 30, 33, 2100.5, 160_000.25, 4, 210.0),
        ArmStats("h", 400, 12, revenue=720.0, revenue_sq=5e4),
    ]
    stored = [
        ArmStats(
            "a",
            Decimal(500),
            Decimal(30),
            Decimal(33),
            Decimal("2100.5"),
            Decimal("160000.25"),
            Decimal(4),
            Decimal(210),
        ),
        ArmStats("h", Decimal(400), Decimal(12), revenue=Decimal(720), revenue_sq=Decimal(50_000)),
    ]
    assert readout(stored) == readout(plain)
    assert type(readout(stored).arm("a").discount_cost) is float
