"""The incentive lab's ground truth: a small seeded shop, every policy judged on the same customers."""

from __future__ import annotations

import pytest

from emma_local.lab.incentives import POLICIES, RESPONSES, ResponseModel, build_shop, compare, format_report, run


@pytest.fixture(scope="module")
def shop():
    return build_shop(2500, seed=3)


def test_the_shop_is_seeded_and_its_truth_is_sane(shop):
    again = build_shop(300, seed=3)
    assert [c.p_true for c in again.customers] == [c.p_true for c in build_shop(300, seed=3).customers]
    assert all(0.0 <= c.p_true < 1.0 and c.value > 0 for c in shop.customers)
    assert any(c.would_buy for c in shop.customers) and any(c.would_buy is False for c in shop.customers)
    assert 0.3 < sum(c.learn for c in shop.customers) / len(shop.customers) < 0.7


@pytest.mark.parametrize("response", list(RESPONSES))
def test_the_oracle_beats_always_and_a_coupon_never_costs_a_conversion(shop, response):
    result = compare(shop, RESPONSES[response], min_per_arm=50, resamples=0)
    p = result["policies"]
    assert set(p) == set(POLICIES)
    assert p["oracle"]["net_margin"] >= p["always"]["net_margin"]
    assert p["oracle"]["net_margin"] >= p["none"]["net_margin"]
    for name in POLICIES:  # the same customers and luck: coupons only add conversions
        assert p["none"]["conversions"] <= p[name]["conversions"] <= p["always"]["conversions"] or name == "oracle"
        assert p[name]["discount"] <= p["always"]["discount"] or name == "oracle"
    assert p["none"]["discount"] == 0 and p["none"]["withheld_vs_always"] == 1.0
    assert p["always"]["conversions_kept_vs_always"] == 1.0
    assert len(result["bands"]) == 7


def test_predicted_propensity_withholds_from_the_likely_buyers_and_keeps_conversions_where_they_are_not_moved(shop):
    only_low = ResponseModel("low", "u = 0.15 below p = 0.3, else 0", lambda p: 0.15 if p < 0.3 else 0.0)
    result = compare(shop, only_low, min_per_arm=50, resamples=50)
    prop, always = result["policies"]["propensity"], result["policies"]["always"]
    assert prop["coupons"] < always["coupons"] and prop["withheld_vs_always"] > 0.03
    assert prop["spend_saved_vs_always"] > 0.15  # the likely buyers redeem much of the coupons
    assert prop["conversions_kept_vs_always"] >= 0.9
    low, high = prop["conversions_kept_vs_always_ci95"]
    assert low <= prop["conversions_kept_vs_always"] <= high
    assert prop["net_margin"] > always["net_margin"]


def test_run_reports_every_response_and_policy():
    result = run(seed=2, customers=600, responses=("middle", "rising"), min_per_arm=20, resamples=20)
    assert [r["response"] for r in result["responses"]] == ["middle", "rising"]
    text = format_report(result)
    assert "Response 'rising'" in text and "oracle" in text and "uplift-lower" in text
