"""The MBG/NBD and Gamma-Gamma formulas (emma.predict.mbg) against scipy's hyp2f1 and lifetimes' fitters (the
reference implementations in the dev extra), and the purchase summaries the models read."""

import math
import warnings
from datetime import UTC, datetime, timedelta

import pytest

from emma.predict import mbg
from emma.predict.history import Purchases, combine, summarise

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("a", "b", "c", "z"), [(1.5, 3.2, 4.1, 0.3), (10.5, 12.0, 8.0, 0.88), (0.6, 2.1, 1.3, 0.95), (50, 51, 52.1, 0.7)]
)
def test_hyp2f1_matches_scipy(a, b, c, z):
    scipy_special = pytest.importorskip("scipy.special")
    assert mbg.hyp2f1(a, b, c, z) == pytest.approx(float(scipy_special.hyp2f1(a, b, c, z)), rel=1e-10)


@pytest.fixture(scope="module")
def lifetimes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("lifetimes")


@pytest.mark.parametrize("params", [(0.639, 7.3, 0.821, 1.24), (0.5, 6.0, 1.5, 2.0), (0.5, 6.0, 0.99999, 2.0)])
def test_expectations_and_p_alive_match_lifetimes_modified_bg_nbd(lifetimes, params):
    import numpy as np
    import pandas as pd

    r, alpha_weeks, a, b = params
    fitter = lifetimes.ModifiedBetaGeoFitter()
    fitter.params_ = pd.Series({"r": r, "alpha": alpha_weeks, "a": a, "b": b})
    for x, t_x, big_t, t in [(0, 0, 30, 39), (2, 20, 38, 39), (10, 35, 38, 52), (40, 37, 38, 52)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = float(np.ravel(fitter.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, big_t))[0])
            alive = float(np.ravel(fitter.conditional_probability_alive(x, t_x, big_t))[0])
        ours = mbg.expected_purchases(r, alpha_weeks * 7, a, b, x, t_x * 7, big_t * 7, t * 7)  # days
        assert ours == pytest.approx(expected, rel=1e-5)
        assert mbg.p_alive(r, alpha_weeks * 7, a, b, x, t_x * 7, big_t * 7) == pytest.approx(alive, rel=1e-9)


def test_the_likelihood_matches_lifetimes_and_sharing_terms_changes_nothing(lifetimes):
    import numpy as np

    r, alpha, a, b = 0.6, 50.0, 0.8, 1.3
    cells = [(0, 0, 200, 3), (1, 40, 210, 2), (5, 150, 260, 1), (13.5, 250, 260, 4)]
    total = mbg.total_log_likelihood(r, alpha, a, b, cells)
    assert total == pytest.approx(sum(n * mbg.log_likelihood(r, alpha, a, b, x, tx, bt) for x, tx, bt, n in cells))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter = lifetimes.ModifiedBetaGeoFitter()
        xs, txs, ts, ns = (np.array(col, dtype=float) for col in zip(*cells, strict=True))
        reference = (
            -fitter._negative_log_likelihood(np.log([r, alpha, a, b]), xs, txs, ts, ns, penalizer_coef=0.0) * ns.sum()
        )
    assert total == pytest.approx(float(reference), rel=1e-9)


def test_spend_model_matches_lifetimes_gamma_gamma(lifetimes):
    import pandas as pd

    p, q, v = 6.25, 3.74, 15.44  # Fader, Hardie and Lee's CDNOW estimates
    fitter = lifetimes.GammaGammaFitter()
    fitter.params_ = pd.Series({"p": p, "q": q, "v": v})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = fitter.conditional_expected_average_profit(pd.Series([3, 1]), pd.Series([40.0, 12.5]))
    assert mbg.expected_value(p, q, v, 3, 40.0) == pytest.approx(float(reference.iloc[0]))
    assert mbg.expected_value(p, q, v, 1, 12.5) == pytest.approx(float(reference.iloc[1]))
    assert mbg.expected_value(p, q, v, 0, None) == pytest.approx(p * v / (q - 1))
    assert math.isfinite(mbg.spend_log_likelihood(p, q, v, 3, 40.0))


def test_a_removable_singularity_at_a_equal_one_is_continuous():
    near = [mbg.expected_purchases(0.6, 50, a, 1.3, 2, 60, 200, 365) for a in (0.999, 1.0, 1.001)]
    assert near[0] == pytest.approx(near[1], rel=1e-2) and near[2] == pytest.approx(near[1], rel=1e-2)


def _at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def test_summarise_counts_occasions_and_values():
    s = summarise([(_at(10), 5.0), (_at(0), 20.0), (_at(0.2), 10.0), (_at(30), 7.5)])
    assert s == Purchases(first=_at(0), last=_at(30), repeats=2, first_value=30.0, repeat_value=12.5)
    assert s.mean_repeat_value == 6.25 and s.span_days == 30
    assert summarise([]) is None


@pytest.mark.parametrize("split", [1, 2, 3, 4])
def test_combining_older_and_newer_orders_equals_the_summary_of_all(split):
    orders = [(_at(0), 20.0), (_at(0.2), 10.0), (_at(10), 5.0), (_at(10.3), 1.0), (_at(30), 7.5)]
    assert combine(summarise(orders[:split]), summarise(orders[split:])) == summarise(orders)
    assert combine(None, summarise(orders)) == summarise(orders) == combine(summarise(orders), None)


@pytest.mark.parametrize(
    "args",
    [
        (0.5, 1.0, 30.0, 2.0, 0, 0, 0.5, 365),  # a large MBG a and z near 1: Euler's series would grow
        (0.5, 1.0, 400.0, 10.0, 0, 0, 0.5, 365),
        (0.6, 50.0, 3.0, 2.0, 2, 30, 200, 365),
        (0.6, 50.0, 0.8, 2.0, 20, 300, 320, 365),
        (0.6, 50.0, 5.0, 2.0, 40, 300, 320, 365),
    ],
)
def test_expected_purchases_match_arbitrary_precision_where_a_series_would_struggle(args):
    mpmath = pytest.importorskip("mpmath")
    r, alpha, a, b, x, t_x, big_t, t = args
    z = mpmath.mpf(t) / (alpha + big_t + t)
    hyp = mpmath.hyp2f1(r + x, b + x + 1, a + b + x, z)
    numerator = (a + b + x) / (a - 1) * (1 - hyp * ((alpha + big_t) / (alpha + big_t + t)) ** (r + x))
    reference = numerator / (1 + a / (b + x) * ((alpha + big_t) / (alpha + t_x)) ** (r + x))
    assert mbg.expected_purchases(*args) == pytest.approx(float(reference), rel=1e-9)


def test_a_series_that_does_not_converge_is_nan_not_a_number_that_looks_right():
    assert math.isnan(mbg.hyp2f1(30.0, 29.0, 32.0, 0.9999999))


@pytest.mark.parametrize("shift", [-400, -40, -10, -0.3, 0, 0.3, 10, 400])
def test_combining_is_symmetric_and_overlapping_histories_keep_every_occasion(shift):
    a = summarise([(_at(d), 10.0) for d in (0, 30, 60, 90)])
    b = summarise([(_at(d + shift), 5.0) for d in (0, 30)])
    both = combine(a, b)
    assert both == combine(b, a)
    assert both.first == min(a.first, b.first) and both.last == max(a.last, b.last)
    assert both.first_value + both.repeat_value == pytest.approx(50.0)  # no value lost or counted twice
    # 6 occasions; those that start less than 12 h apart are one where the summaries can tell (first, or the
    # one set's last and the other's first)
    expected = {-400: 5, -40: 5, -10: 5, -0.3: 4, 0: 4, 0.3: 4, 10: 5, 400: 5}[shift]
    assert both.repeats == expected
