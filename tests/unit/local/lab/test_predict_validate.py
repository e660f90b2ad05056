import pytest

from emma_local.lab.predict.simulate import SimParams, simulate_shop
from emma_local.lab.predict.validate import (
    auc,
    brier,
    expected_calibration_error,
    format_report,
    main,
    reliability,
    validate,
)


def test_auc_by_hand():
    assert auc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert auc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
    assert auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75
    # Ties count half: (1 vs 1) = 0.5, (2 vs 1) = 1.
    assert auc([1, 1, 2], [False, True, True]) == 0.75
    assert auc([3, 3, 3, 3], [True, False, True, False]) == 0.5


def test_auc_needs_both_classes():
    with pytest.raises(ValueError):
        auc([0.1, 0.2], [True, True])


def test_brier_and_reliability():
    probs, outcomes = [0.05, 0.15, 0.12, 0.95], [False, True, False, True]
    assert brier(probs, outcomes) == pytest.approx((0.05**2 + 0.85**2 + 0.12**2 + 0.05**2) / 4)
    table = reliability(probs, outcomes)
    assert len(table) == 10 and sum(r["count"] for r in table) == 4
    assert table[1] == {"bin": "0.1-0.2", "count": 2, "mean_predicted": 0.135, "observed": 0.5}
    assert table[9]["observed"] == 1.0 and table[5]["mean_predicted"] is None
    assert expected_calibration_error(table) == pytest.approx((0.05 + 2 * 0.365 + 0.05) / 4)


def test_simulation_is_seeded():
    a, b = simulate_shop(200, seed=3), simulate_shop(200, seed=3)
    assert [c.calibration_orders for c in a.customers] == [c.calibration_orders for c in b.customers]
    assert [c.alive_at_calibration_end for c in a.customers] == [c.alive_at_calibration_end for c in b.customers]
    assert simulate_shop(200, seed=4).customers[0].calibration_orders != a.customers[0].calibration_orders
    for c in a.customers:
        assert c.calibration_orders and all(o <= a.calibration_end for o in c.calibration_orders)
        assert all(a.calibration_end < o <= a.holdout_end for o in c.holdout_orders)
        assert c.alive_at_calibration_end or not c.holdout_orders  # the lost never come back


@pytest.fixture(scope="module")
def results():
    return validate(seed=7, customers=1500)


def test_the_model_beats_recency_on_a_fixed_seed(results):
    churn, buy = results["churn"], results["buy"]
    # Measured: churn AUC 0.832 (recency 0.823), buy AUC 0.854 (recency 0.845, frequency lower).
    assert churn["auc"] >= 0.82 and churn["auc"] > churn["auc_baseline_recency"]
    assert buy["auc"] >= 0.84 and buy["auc"] > buy["auc_baseline_recency"] > buy["auc_baseline_frequency"]


def test_purchase_probabilities_are_calibrated(results):
    buy = results["buy"]
    # Measured: Brier 0.080 vs 0.107 for the base rate; expected calibration error 0.019 (mean 0.138 vs 0.121).
    assert buy["brier"] < 0.85 * buy["brier_base_rate"]
    assert buy["ece"] < 0.03
    assert buy["mean_predicted"] == pytest.approx(buy["observed"], abs=0.02)


def test_the_prior_is_fitted_from_the_counters_and_scoring_is_timed(results):
    assert results["prior"]["method"] == "fitted" and results["prior"]["customers"] == 1500
    assert results["timing"]["score_us_per_call"] > 0  # measured, not judged here: make bench section 16 reports it


def test_model_process_validation_runs():
    r = validate(seed=2, customers=600, params=SimParams(process="model"))
    assert r["simulation"]["process"] == "model" and 0.5 < r["churn"]["auc"] <= 1


def test_report_and_main(results, capsys):
    text = format_report(results)
    assert "AUC model 0.8" in text and "Brier" in text and "us per call" in text
    assert main(["--customers", "300", "--seed", "1"]) == 0
    assert "Emma predictions: validation" in capsys.readouterr().out
