"""The uplift table: per band of the purchase probability, does the coupon pay? Known counts, known answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from emma.analytics.stats import newcombe
from emma.offers.policy import BAND_EDGES
from emma.offers.uplift import ArmCounts, UpliftTable, apply, counts_from_dict, estimate, incentive_need
from emma.predict.model import Scores

AT = datetime(2026, 12, 1, tzinfo=UTC)


def arms(coupon=(0, 0, 0.0, 0.0), control=(0, 0, 0.0, 0.0), explore=(0, 0, 0.0, 0.0), withheld=(0, 0, 0.0, 0.0)):
    """(customers, converted, revenue paid, discount) per arm; one order per converted customer."""
    out = {}
    for name, (n, k, revenue, discount) in {
        "coupon": coupon,
        "control": control,
        "explore": explore,
        "withheld": withheld,
    }.items():
        if n:
            out[name] = ArmCounts(n, k, k, revenue, discount)
    return out


def test_a_coupon_that_pays_is_needed_and_one_that_does_not_is_not():
    # Band 0: 10 % convert with the coupon against 5 % without, orders of 100 before a 10 % discount.
    # v = 0.3 * (10.0 - 5.0) - 1.0 = +0.5 per treated customer.
    # Band 2: 30 % against 28 %: v = 0.3 * (30 - 28) - 3.0 = -2.4.
    counts = {
        0: arms(coupon=(1000, 100, 9000.0, 1000.0), control=(400, 20, 2000.0, 0.0)),
        2: arms(coupon=(1000, 300, 27000.0, 3000.0), control=(500, 140, 14000.0, 0.0)),
    }
    table = estimate(counts, AT)
    assert table.measured == (0, 2)
    zero, two = table.bands[0], table.bands[2]
    assert zero.status == "measured" and zero.needed is True
    assert zero.lift == pytest.approx(0.05) and zero.value == pytest.approx(0.5)
    assert two.needed is False and two.value == pytest.approx(-2.4) and two.lift == pytest.approx(0.02)
    assert [b.status for b in table.bands] == [
        "measured",
        "no_data",
        "measured",
        "no_data",
        "no_data",
        "no_data",
        "no_data",
    ]
    assert len(table.bands) == len(BAND_EDGES) - 1
    assert (zero.treated, zero.untreated) == (1000, 400)
    # A single pair's interval is Newcombe's.
    ci = newcombe(100, 1000, 20, 400)
    assert (zero.lift_low, zero.lift_high) == pytest.approx((ci.low, ci.high))
    assert zero.value_low < zero.value < zero.value_high


def test_too_few_customers_in_an_arm_is_no_data():
    counts = {1: arms(coupon=(5000, 500, 45000.0, 5000.0), control=(199, 5, 500.0, 0.0))}
    band = estimate(counts, AT).bands[1]
    assert band.status == "no_data" and band.needed is None and band.lift is None
    assert band.pairs[0].weight == 0.0 and band.pairs[0].conversion_untreated == pytest.approx(5 / 199)
    assert estimate(counts, AT, min_per_arm=150).bands[1].status == "measured"
    assert estimate({}, AT).measured == ()


def test_the_rule_decides_on_the_point_or_a_bound():
    # Small arms: the point says the coupon pays, the interval spans zero.
    counts = {0: arms(coupon=(300, 30, 2700.0, 300.0), control=(300, 18, 1800.0, 0.0))}
    point, lower, upper = (estimate(counts, AT, rule=r).bands[0] for r in ("point", "lower", "upper"))
    assert point.value == pytest.approx(0.3 * (10.0 - 6.0) - 1.0)
    assert point.value_low < 0 < point.value
    assert (point.needed, lower.needed, upper.needed) == (True, False, True)
    with pytest.raises(ValueError):
        estimate(counts, AT, rule="median")  # type: ignore[arg-type]


def test_intervals_cover_the_point_and_narrow_with_more_customers():
    small = estimate({3: arms(coupon=(400, 80, 0.0, 0.0), control=(400, 60, 0.0, 0.0))}, AT).bands[3]
    large = estimate({3: arms(coupon=(40000, 8000, 0.0, 0.0), control=(40000, 6000, 0.0, 0.0))}, AT).bands[3]
    for band in (small, large):
        assert band.lift == pytest.approx(0.05)
        assert band.lift_low < band.lift < band.lift_high
        assert band.lift_low >= -1.0 and band.lift_high <= 1.0
    assert large.lift_high - large.lift_low < (small.lift_high - small.lift_low) / 5
    assert large.lift_low > 0 > small.lift_low  # only the large experiment excludes no lift


def test_both_pairs_in_a_band_are_contrasted_apart_and_pooled_not_mixed():
    # Across a threshold change band 4 holds both pairs: coupon/control among customers converting at 10 %, and
    # explore/withheld among customers (another time) converting at 60 %. The coupon adds 5 points in both.
    # Mixing all treated against all untreated would credit the coupon with the populations' difference.
    counts = {
        4: arms(
            coupon=(9000, 1350, 0.0, 0.0),  # 15 %
            control=(1000, 100, 0.0, 0.0),  # 10 %
            explore=(500, 325, 0.0, 0.0),  # 65 %
            withheld=(9500, 5700, 0.0, 0.0),  # 60 %
        )
    }
    band = estimate(counts, AT).bands[4]
    assert band.lift == pytest.approx(0.05)
    naive = (1350 + 325) / 9500 - (100 + 5700) / 10500
    assert naive < -0.3  # what pooling the arms would have said
    weights = [p.weight for p in band.pairs]
    assert weights == pytest.approx([9000 * 1000 / 10000, 500 * 9500 / 10000])
    one = estimate({4: arms(coupon=(9000, 1350, 0.0, 0.0), control=(1000, 100, 0.0, 0.0))}, AT).bands[4]
    assert band.lift_high - band.lift_low < one.lift_high - one.lift_low  # the second pair adds information


def test_incentive_need_follows_the_table_where_measured_else_the_propensity():
    counts = {
        0: arms(coupon=(1000, 100, 9000.0, 1000.0), control=(400, 20, 2000.0, 0.0)),  # needed
        5: arms(explore=(300, 200, 18000.0, 2000.0), withheld=(5000, 3200, 320000.0, 0.0)),  # not needed
    }
    table = estimate(counts, AT)
    assert incentive_need(0.01, table) == (False, "uplift")
    assert incentive_need(0.55, table) == (True, "uplift")
    assert incentive_need(0.15, table) == (False, "propensity")
    assert incentive_need(0.8, table) == (True, "propensity")
    assert incentive_need(0.8, None) == (True, "propensity")
    assert incentive_need(None, table) == (None, None)
    # A table where a high band needs the coupon overrides the propensity there.
    needed_high = estimate({6: arms(explore=(300, 290, 29000.0, 2900.0), withheld=(5000, 3500, 350000.0, 0.0))}, AT)
    assert incentive_need(0.9, needed_high) == (False, "uplift")


def test_apply_rewrites_the_scores_and_the_table_round_trips_as_json():
    table = estimate({0: arms(coupon=(1000, 100, 9000.0, 1000.0), control=(400, 20, 2000.0, 0.0))}, AT)
    scores = Scores(scored_at=AT, insufficient_data=False, p_buy_within_horizon=0.02, would_buy_without_incentive=False)
    assert apply(scores, table).incentive_method == "uplift"
    assert apply(scores, table).would_buy_without_incentive is False
    high = scores.model_copy(update={"p_buy_within_horizon": 0.6})
    assert apply(high, table).would_buy_without_incentive is True
    assert apply(high, table).incentive_method == "propensity"
    empty = Scores(scored_at=AT, insufficient_data=True)
    assert apply(empty, table) is empty
    data = json.loads(json.dumps(table.model_dump(mode="json")))
    assert UpliftTable.model_validate(data) == table
    raw = {"0": {"coupon": {"customers": 10, "converted": 1, "revenue": "90.0", "discount": 10}}}
    assert counts_from_dict(raw) == {0: {"coupon": ArmCounts(10, 1, 0, 90.0, 10.0)}}


def test_counts_are_checked():
    with pytest.raises(ValueError):
        ArmCounts(10, 11)
    with pytest.raises(ValueError):
        estimate({}, AT, margin=1.5)
