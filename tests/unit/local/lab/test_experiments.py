"""The simulated shop with known truth, measured end to end by the analytics consumer and the reports:
the readout recovers the true lift of each arm over the holdout within its 95 % interval."""

from __future__ import annotations

from emma_local.lab.experiments import TRUE_RATES, describe, run_lab
from emma_local.runtime import ROOT


def test_the_demos_simulated_shop_recovers_the_true_lift_of_every_arm():
    result = run_lab(ROOT)  # the shop the demo prints
    assert result.recovered() == {"interests": True, "digest": True}
    arms = {a.name: a for a in result.experiment.arms}
    assert result.experiment.control == "holdout" and arms["holdout"].is_control
    # assignment follows the split's weights (45/45/10), and the noise orders were left out
    assert abs(arms["holdout"].customers / result.customers - 0.10) < 0.01
    assert abs(arms["holdout"].conversion_rate - TRUE_RATES["holdout"]) < 0.01
    assert result.experiment.winner == "interests"
    assert any("recovered" in line for line in describe(result))


def test_over_many_shops_the_intervals_cover_the_truth_about_as_often_as_they_claim():
    covered = total = 0
    for seed in range(8):
        result = run_lab(ROOT, customers=1_500, seed=100 + seed)
        covered += sum(result.recovered().values())
        total += len(result.recovered())
    assert total == 16
    assert covered >= 13  # 95 % nominal: 15.2 expected; 13 or more happens with probability 0.98
