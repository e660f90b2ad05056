"""The real-data validation of the predictions (emma_local.lab.predict.real) on CDNOW's 1/10 sample:
the loader, the split and lifetimes' summary, the metrics, and a pinned quick run (seed 3, 200
resamples). The pins are what today's model measures: a model change that moves them shows here
(update them with docs/predictions.md's CDNOW table, from `emma predict validate --data cdnow-sample`)."""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

pytest.importorskip("lifetimes")

from emma.predict import model as emma_model
from emma.predict.prior import Prior
from emma_local.lab.predict import real
from emma_local.lab.predict.validate import auc

RESAMPLES = 200
SEED = 3


@pytest.fixture(scope="module")
def sample():
    return real.load_cdnow("cdnow-sample")


@pytest.fixture(scope="module")
def results(sample):
    return real.evaluate("cdnow-sample", resamples=RESAMPLES, seed=SEED, data=sample)


def by_days(results, days):
    return next(h for h in results["horizons"] if h["days"] == days)


# ---- data ----------------------------------------------------------------------------------------


def test_the_data_is_read_from_the_installed_wheel(sample):
    folder = real.datasets_dir()
    assert folder is not None and folder.parent.name == "lifetimes" and folder.parent.parent.name.endswith("-packages")
    assert sample.path == folder / "CDNOW_sample.txt"
    assert sample.rows == 6919 and sample.customers == 2357
    assert sum(len(rows) for rows in sample.orders.values()) == 6919
    first, last = (
        min(o[0] for r in sample.orders.values() for o in r),
        max(o[0] for r in sample.orders.values() for o in r),
    )
    assert first == date(1997, 1, 1) and last <= date(1998, 6, 30)
    # The sample's own id is dropped: customers are keyed by the master id.
    assert sample.orders["00004"][0] == (date(1997, 1, 1), 2, 29.33)


def test_the_master_file_has_its_header_skipped():
    master = real.load_cdnow("cdnow")
    assert master.rows == 69659 and master.customers == 23570
    assert master.orders["00001"] == [(date(1997, 1, 1), 1, 11.77)]


def test_unknown_or_missing_data(monkeypatch):
    with pytest.raises(ValueError):
        real.load_cdnow("cdnow-full")
    monkeypatch.setattr(real, "datasets_dir", lambda: None)
    with pytest.raises(real.LifetimesMissing):
        real.load_cdnow("cdnow-sample")


def test_split_and_lifetimes_summary(sample):
    s = real.split(sample)
    assert len(s) == 2357  # every customer of the cohort bought in the first quarter of 1997
    assert sum(map(len, s.calibration)) == 4960 and sum(map(len, s.holdout)) == 1959
    assert all(o[0] < date(1997, 10, 1) for rows in s.calibration for o in rows)
    assert all(date(1997, 10, 1) <= o[0] <= date(1998, 6, 30) for rows in s.holdout for o in rows)
    i = s.customers.index("00004")  # 1997-01-01, 01-18, 08-02; then 1997-12-12 in the holdout
    x, t_x, age = real.rfm_weeks(s)
    assert (x[i], t_x[i], age[i]) == (2, pytest.approx(213 / 7), pytest.approx(272 / 7))
    assert real.recency_days(s)[i] == (date(1997, 10, 1) - date(1997, 8, 2)).days
    assert not real.bought_within(s, 30)[i] and not real.bought_within(s, 72)[i] and real.bought_within(s, 73)[i]
    assert real.purchase_days_within(s, 273)[i] == 1
    # Several rows on one day are one purchase day.
    assert (x <= np.array([len(r) - 1 for r in s.calibration])).all() and (
        x < [len(r) - 1 for r in s.calibration]
    ).any()


def test_bg_nbd_on_the_sample_reproduces_the_published_fit(sample):
    x, t_x, age = real.rfm_weeks(real.split(sample))
    params = real.fit_reference(x, t_x, age)["bgnbd"]["params"]
    # Fader, Hardie & Lee (2005): r 0.243, alpha 4.414, a 0.793, b 2.426.
    assert params == {
        "r": pytest.approx(0.243, abs=0.002),
        "alpha": pytest.approx(4.414, abs=0.02),
        "a": pytest.approx(0.793, abs=0.005),
        "b": pytest.approx(2.426, abs=0.02),
    }


# ---- metrics -------------------------------------------------------------------------------------


def test_weighted_auc_agrees_with_the_reference_and_with_replication():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 12, 300).astype(float)  # many ties
    labels = rng.random(300) < 0.3
    ranking = real.Ranking(scores)
    assert ranking.auc(labels) == pytest.approx(auc(scores.tolist(), labels.tolist()), abs=1e-12)
    weights = rng.integers(0, 3, 300)
    replicated = np.repeat(np.arange(300), weights)
    assert ranking.auc(labels, weights.astype(float)) == pytest.approx(
        auc(scores[replicated].tolist(), labels[replicated].tolist()), abs=1e-12
    )
    assert real.Ranking(-scores).auc(labels) == pytest.approx(1 - ranking.auc(labels), abs=1e-12)
    with pytest.raises(ValueError):
        ranking.auc(np.zeros(300, dtype=bool))


def test_bootstrap_is_paired_and_seeded():
    rng = np.random.default_rng(2)
    labels = rng.random(500) < 0.4
    good, noise = labels + rng.normal(0, 0.8, 500), rng.random(500)
    tasks = {"t": (labels, {"good": good, "noise": noise, "same": good.copy()})}
    a = real.bootstrap_aucs(tasks, resamples=50, seed=9)
    b = real.bootstrap_aucs(tasks, resamples=50, seed=9)
    c = real.bootstrap_aucs(tasks, resamples=50, seed=10)
    assert all((a["t"][k] == b["t"][k]).all() for k in a["t"])
    assert not (a["t"]["good"] == c["t"]["good"]).all()
    assert (a["t"]["good"] == a["t"]["same"]).all()  # the same resamples for every ranker: a zero difference
    lo, hi = real.interval(a["t"]["good"] - a["t"]["noise"])
    assert 0 < lo < hi


def test_equal_count_bins_and_their_ece():
    p = np.array([0.1] * 5 + [0.3] * 5)
    y = np.array([False] * 4 + [True] + [True] * 5)
    rows = real.equal_count_bins(p, y, bins=2)
    assert [r["count"] for r in rows] == [5, 5]
    assert rows[0]["mean_predicted"] == pytest.approx(0.1) and rows[0]["observed"] == pytest.approx(0.2)
    assert real.ece_from(rows) == pytest.approx((5 * 0.1 + 5 * 0.7) / 10)
    assert sum(r["count"] for r in real.equal_count_bins(np.linspace(0, 1, 23), np.ones(23, bool))) == 23


# ---- the adapter ---------------------------------------------------------------------------------


def _orders():
    days = [[1, 40, 80], [5], [10, 10, 200], [100, 260]]
    return [[(datetime(1997, 1, 1, tzinfo=UTC) + timedelta(days=d), 10.0) for d in c] for c in days]


def _history(orders):
    """What the adapter hands Emma for one customer: the purchase summary with values where the model has one."""
    try:
        from emma.predict.history import summarise
    except ImportError:
        return [at for at, _ in orders]
    return summarise(orders)


def test_the_adapter_scores_every_customer_at_every_horizon():
    now = datetime(1997, 10, 1, tzinfo=UTC)
    run = real._emma(_orders(), now, (30, 90), fitted=False)  # fewer than 100 customers: the default prior anyway
    assert run.prior["method"] == "default" and set(run.p_buy) == {30, 90}
    assert run.p_buy[30].shape == run.p_alive.shape == (4,)
    assert (run.p_buy[30] <= run.p_buy[90]).all() and (run.p_buy[90] <= run.p_alive).all()
    for i, orders in enumerate(_orders()):
        expected = emma_model.score(_history(orders), now, Prior(), 90)
        assert run.p_buy[90][i] == pytest.approx(expected.p_buy_within_horizon)
        assert run.p_alive[i] == pytest.approx(expected.p_alive)
    fitted = real._emma(_orders(), now, (30,), fitted=True)
    assert fitted.prior["method"] == "default"  # the counters were replayed; too few customers to fit


def test_the_adapter_uses_expected_purchases_when_the_model_has_it(monkeypatch):
    now = datetime(1997, 10, 1, tzinfo=UTC)
    calls = []

    def expected_purchases(history, at, prior, days):
        calls.append((history, at, days))
        return days / 100

    monkeypatch.setattr(emma_model, "expected_purchases", expected_purchases, raising=False)
    run = real._emma(_orders(), now, (30, 273), fitted=False)
    assert run.expected[273].tolist() == [2.73] * 4 and run.expected[30].sum() == pytest.approx(1.2)
    assert len(calls) == 8 and (_history(_orders()[0]), now, 30.0) in calls
    monkeypatch.delattr(emma_model, "expected_purchases")
    assert real._emma(_orders(), now, (30,), fitted=False).expected is None  # reported as n/a


# ---- the pinned quick run --------------------------------------------------------------------------


def test_quick_run_shapes(results):
    assert results["status"] == "ok"
    d = results["dataset"]
    assert (d["rows"], d["customers"], d["customers_scored"]) == (6919, 2357, 2357)
    assert d["holdout_purchase_days"] == 1882 and d["repeat_customers_share"] == pytest.approx(0.401, abs=0.001)
    assert [h["days"] for h in results["horizons"]] == [30, 90, 273]
    assert [h["positives"] for h in results["horizons"]] == [172, 398, 684]
    assert results["churn"]["positives"] == 2357 - 684
    for block in [*results["horizons"], results["churn"]]:
        assert set(block["auc"]) == set(real.RANKERS) and set(block["emma_minus"]) == set(real.COMPARED)
        for a in block["auc"].values():
            lo, hi = a["ci95"]
            assert lo < a["auc"] < hi and hi - lo < 0.1
        for ref, d in block["emma_minus"].items():
            assert d["diff"] == pytest.approx(block["auc"]["emma"]["auc"] - block["auc"][ref]["auc"])
            assert d["ci95"][0] < d["ci95"][1]
    assert results["bootstrap"]["resamples"] == RESAMPLES and results["bootstrap"]["seed"] == SEED
    assert len(results["targets"]) == 8
    assert {t["met"] for t in results["targets"]} <= {True, False, None}


def test_quick_run_reference_figures_are_pinned(results):
    # Data and lifetimes only: these do not move with Emma's model.
    pins = {30: (0.7941, 0.8046, 0.8044), 90: (0.7843, 0.7894, 0.7905), 273: (0.7714, 0.7725, 0.7728)}
    for days, (recency, bgnbd, mbgnbd) in pins.items():
        a = by_days(results, days)["auc"]
        assert a["recency"]["auc"] == pytest.approx(recency, abs=0.0005)
        assert a["bgnbd"]["auc"] == pytest.approx(bgnbd, abs=0.001)
        assert a["mbgnbd"]["auc"] == pytest.approx(mbgnbd, abs=0.001)
    last = by_days(results, 273)["aggregate"]
    assert last["actual"] == 1882
    assert last["bgnbd"]["predicted"] == pytest.approx(1653, abs=5)
    assert last["mbgnbd"]["predicted"] == pytest.approx(1577, abs=5)
    assert results["churn"]["auc"]["recency"]["auc"] == pytest.approx(0.7714, abs=0.0005)


def test_quick_run_emma_figures_are_pinned(results):
    """Emma's figures on the sample for the model of issue 17 (the Modified BG/NBD fitted by maximum likelihood on
    the shop's histogram; P(buy within H) = 1 - exp(-E[occasions within H]), never above P(alive)). Earlier
    models, fitted prior at 30 days / 90 days / 39 weeks: P = P(alive) P(a purchase within H | alive) 0.8040 /
    0.7889 / 0.7603, ECE 0.0115; 6f2438f (the prior fitted on cohort repeat counts) 0.8023 / 0.7833 / 0.7560,
    churn 0.7145. Tolerances are tight: the run is deterministic."""
    emma = {30: (0.8044, 0.8079, 0.8044), 90: (0.7907, 0.7925, 0.7905), 273: (0.7565, 0.7644, 0.7729)}
    for days, (fitted, default, expected) in emma.items():
        a = by_days(results, days)["auc"]
        assert a["emma"]["auc"] == pytest.approx(fitted, abs=0.0005)
        assert a["emma_default_prior"]["auc"] == pytest.approx(default, abs=0.0005)
        assert a["emma_expected"]["auc"] == pytest.approx(expected, abs=0.0005)
    cal = by_days(results, 30)["calibration"]
    assert cal["ece"] == pytest.approx(0.0083, abs=0.0005) and cal["ece_bins"] == "10 equal-count bins"
    assert cal["brier"] == pytest.approx(0.0559, abs=0.0005) and cal["brier"] < cal["brier_base_rate"]
    assert results["churn"]["auc"]["emma"]["auc"] == pytest.approx(0.6911, abs=0.0005)
    assert results["churn"]["auc"]["emma_expected"]["auc"] == pytest.approx(0.7729, abs=0.0005)
    assert results["emma"]["prior"]["method"] == "fitted"
    assert results["emma"]["expected_purchases"] and results["emma"]["inputs"] == "purchase summaries with order values"
    assert by_days(results, 273)["aggregate"]["emma"]["predicted"] == pytest.approx(1571, abs=2)


def test_quick_run_is_deterministic(results, sample):
    again = real.evaluate("cdnow-sample", resamples=RESAMPLES, seed=SEED, data=sample)
    assert again["horizons"][0]["auc"] == results["horizons"][0]["auc"]
    assert again["churn"]["emma_minus"] == results["churn"]["emma_minus"]


def test_targets_follow_the_figures(results):
    r = {**results, "horizons": [dict(h) for h in results["horizons"]]}
    first = r["horizons"][0]
    first["emma_minus"] = {**first["emma_minus"], "recency": {"diff": 0.025, "ci95": [0.01, 0.04]}}
    first["calibration"] = {**first["calibration"], "ece": 0.03}
    last = r["horizons"][-1]
    last["aggregate"] = {**last["aggregate"], "emma": {"predicted": 1900.0, "error": 0.0096}}
    got = {t["target"]: t for t in real.targets(r)}
    assert got["purchase AUC at 30 days at least 2 points above recency"]["met"] is True
    assert "+2.5 points (95 % +1.0 to +4.0)" in got["purchase AUC at 30 days at least 2 points above recency"]["detail"]
    assert got["expected calibration error under 0.02 at 30 days"]["met"] is False
    assert got["total holdout purchases (39 weeks) within 10%"]["met"] is True
    last["aggregate"]["emma"] = {"predicted": 1600.0, "error": -0.15}
    assert {t["target"]: t for t in real.targets(r)}["total holdout purchases (39 weeks) within 10%"]["met"] is False
    last["aggregate"]["emma"] = None
    assert {t["target"]: t for t in real.targets(r)}["total holdout purchases (39 weeks) within 10%"]["met"] is None


def test_report_and_main(results, capsys, monkeypatch):
    text = real.format_report(results)
    assert "CDNOW_sample.txt, 6,919 rows, 2,357 customers" in text
    assert "BG/NBD r 0.243, alpha 4.414, a 0.793, b 2.426" in text
    for line in ("Emma (fitted prior)", "Emma - recency", "10 equal-count bins", "Targets (issue 17)", "actual 1,882"):
        assert line in text
    assert real.main(["--data", "cdnow-sample", "--resamples", "20"]) == 0
    assert "20 paired bootstrap resamples" in capsys.readouterr().out
    monkeypatch.setattr(real, "datasets_dir", lambda: None)
    assert real.main(["--data", "cdnow-sample"]) == 0
    assert capsys.readouterr().out.strip() == (
        "Emma predictions on CDNOW (cdnow-sample): skipped: install the dev extra (lifetimes)"
    )


def test_the_cli_dispatches_on_data(monkeypatch):
    from emma_local import cli

    called = []
    monkeypatch.setattr(real, "main", lambda argv: called.append(argv) or 0)
    assert cli.main(["predict", "validate", "--data", "cdnow-sample"]) == 0
    assert called == [["--data", "cdnow-sample"]]
    args = cli.build_parser().parse_args(["predict", "validate"])
    assert args.data is None and args.process == "pareto_nbd"  # the simulated shop stays the default


def test_the_spend_model_matches_lifetimes_gamma_gamma_on_the_sample(results):
    sp = results["spend"]
    emma, lt = sp["emma_params"], sp["lifetimes_params"]
    # the histogram's log-value buckets (10 % steps) cost little against the per-customer fit
    assert emma["p"] == pytest.approx(lt["p"], rel=0.1) and emma["q"] == pytest.approx(lt["q"], rel=0.1)
    assert sp["mean_value"]["emma"] == pytest.approx(sp["mean_value"]["lifetimes"], rel=0.02)
    assert sp["predicted"]["emma"]["error"] == pytest.approx(sp["predicted"]["mbgnbd_gamma_gamma"]["error"], abs=0.03)
    assert sp["top_decile_auc"]["emma"] > sp["top_decile_auc"]["recency"]
    assert "Spend (Gamma-Gamma" in real.format_report(results)
