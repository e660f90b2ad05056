import math
import random
import statistics
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from emma.predict.history import summarise
from emma.predict.model import MODEL, counted_order_times, expected_purchases, score, score_profile
from emma.predict.prior import (
    DEFAULT_ALPHA,
    DEFAULT_BETA,
    DEFAULT_P_RETURN,
    MIN_CUSTOMERS,
    REPEAT_CAP,
    Prior,
    ShopStats,
    add_order,
    contribution,
    diff,
    fit_prior,
    legacy_contribution,
    occasions,
    repeat_distribution,
    spend_cells,
    stats_delta,
    to_days,
)
from emma.profiles.model import MAX_RECENT_ORDERS, OrderRecord, new_profile
from emma_local.lab.predict.simulate import SimParams, simulate_shop

T0 = datetime(2025, 1, 1, tzinfo=UTC)
PRIOR = Prior(alpha=2.0, beta=30.0, p_return=0.5, p_strength=2.0)  # a = b = 1


def days(*offsets):
    return [T0 + timedelta(days=d) for d in offsets]


# --- posterior math ------------------------------------------------------------------------------


def test_posterior_matches_hand_computed_values():
    # n = 2 intervals summing S = 30 days, t = 20 days since the last order.
    s = score(days(0, 10, 30), T0 + timedelta(days=50), PRIOR, horizon_days=30)
    k, scale = 2.0 + 2, 30.0 + 30 + 20  # alpha + n, beta + S + t
    r = (60 / 80) ** 4  # 0.31640625
    p_alive = 3 * r / (3 * r + 1)  # (a + n) R / ((a + n) R + b)
    assert s.p_alive == pytest.approx(p_alive) and s.p_alive == pytest.approx(0.486974, abs=1e-6)
    assert s.churn_risk == pytest.approx(1 - p_alive)
    expected = expected_purchases(days(0, 10, 30), T0 + timedelta(days=50), PRIOR, 30)
    assert s.p_buy_within_horizon == pytest.approx(min(1 - math.exp(-expected), p_alive))
    assert s.p_buy_30d == s.p_buy_within_horizon
    # the model's own P(N >= 1) is lower (the expected count is Poisson here, overdispersed in the model)
    assert p_alive * (1 - (80 / 110) ** 4) < s.p_buy_within_horizon
    median = scale * (2 ** (1 / k) - 1)  # 15.1366 days
    assert median == pytest.approx(15.1366, abs=1e-4)
    assert s.expected_next_order_at == T0 + timedelta(days=50 + median)
    assert s.intervals_used == 2 and s.days_since_last_order == pytest.approx(20)
    assert s.insufficient_data is False and s.model == MODEL


def test_one_order_uses_the_shop_prior_only():
    s = score(days(0), T0 + timedelta(days=40), PRIOR)
    r = (30 / 70) ** 2
    assert s.p_alive == pytest.approx(r / (r + 1))
    assert s.intervals_used == 0


def test_the_remaining_gap_median_is_a_median():
    # Monte Carlo of the posterior predictive: lambda ~ Gamma(alpha + n, beta + S + t), gap ~ Exp.
    s = score(days(0, 10, 30), T0 + timedelta(days=50), PRIOR)
    median = (s.expected_next_order_at - (T0 + timedelta(days=50))).total_seconds() / 86400
    rng = random.Random(1)
    draws = [rng.expovariate(rng.gammavariate(4.0, 1 / 80.0)) for _ in range(40000)]
    assert sum(d <= median for d in draws) / len(draws) == pytest.approx(0.5, abs=0.01)


def test_no_orders_is_insufficient_data():
    s = score([], T0, PRIOR)
    assert s.insufficient_data is True
    assert s.churn_risk is None and s.p_alive is None and s.p_buy_within_horizon is None
    assert s.expected_next_order_at is None and s.would_buy_without_incentive is False


# --- monotonicity ---------------------------------------------------------------------------------


def test_churn_risk_rises_with_the_gap():
    history = days(0, 30, 60, 90)
    risks = [score(history, T0 + timedelta(days=90 + gap), PRIOR).churn_risk for gap in (0, 10, 30, 60, 120, 365)]
    assert risks == sorted(risks) and risks[0] < risks[-1]
    assert risks[-1] > 0.9


def test_frequent_buyers_are_flagged_sooner():
    now = T0 + timedelta(days=200)
    weekly = score([now - timedelta(days=60 + 7 * i) for i in range(8)], now, PRIOR)
    bimonthly = score([now - timedelta(days=60 + 60 * i) for i in range(3)], now, PRIOR)
    assert weekly.churn_risk > 0.9 > bimonthly.churn_risk


def test_purchase_probability_grows_with_the_horizon_and_the_expected_count_up_to_p_alive():
    history, now = days(0, 20, 40), T0 + timedelta(days=45)
    probs = [score(history, now, PRIOR, horizon_days=h).p_buy_within_horizon for h in (0, 7, 30, 90, 3650)]
    assert probs[0] == 0 and probs == sorted(probs) and probs[-1] < 1
    counts = [expected_purchases(history, now, PRIOR, h) for h in (0, 7, 30, 90, 3650)]
    alive = score(history, now, PRIOR).p_alive
    assert counts == sorted(counts) and probs == [pytest.approx(min(1 - math.exp(-c), alive)) for c in counts]
    assert probs[-1] == pytest.approx(alive)  # never above P(alive): a lost customer does not buy


def test_would_buy_follows_the_threshold():
    history, now = days(0, 7, 14, 21, 28), T0 + timedelta(days=30)
    s = score(history, now, PRIOR)
    assert s.p_buy_within_horizon > 0.5 and s.would_buy_without_incentive
    assert not score(history, now, PRIOR, threshold=0.99).would_buy_without_incentive


# --- edge cases -----------------------------------------------------------------------------------


def test_orders_at_the_same_instant_or_hours_apart_are_one_occasion():
    now = T0 + timedelta(days=10)
    assert score(days(0, 0, 0), now, PRIOR) == score(days(0), now, PRIOR)
    assert score([T0, T0 + timedelta(hours=3)], now, PRIOR).intervals_used == 0
    assert score([T0, T0 + timedelta(hours=13)], now, PRIOR).intervals_used == 1


def test_input_order_does_not_matter():
    history = days(0, 11, 17, 50)
    now = T0 + timedelta(days=70)
    assert score(history[::-1], now, PRIOR) == score(history, now, PRIOR)


def test_future_orders_within_a_day_count_as_now_later_ones_are_ignored():
    now = T0 + timedelta(days=30)
    skewed = score([T0, now + timedelta(hours=2)], now, PRIOR)
    assert skewed.days_since_last_order == 0 and skewed.intervals_used == 1
    assert score([T0, now + timedelta(days=40)], now, PRIOR) == score([T0], now, PRIOR)
    assert score([now + timedelta(days=40)], now, PRIOR).insufficient_data


def test_naive_datetimes_are_utc():
    naive = [datetime(2025, 1, 1), datetime(2025, 1, 20)]
    assert score(naive, datetime(2025, 2, 1), PRIOR) == score(
        [d.replace(tzinfo=UTC) for d in naive], datetime(2025, 2, 1, tzinfo=UTC), PRIOR
    )


def test_score_profile_uses_counted_orders_of_live_profiles():
    profile = new_profile("shop", "p1", T0)
    for i, (at, counted) in enumerate(((0, True), (20, False), (40, True))):
        profile.orders.recent.append(
            OrderRecord(
                order_id=f"o{i}",
                status="paid" if counted else "cancelled",
                total=Decimal("10"),
                currency="EUR",
                placed_at=T0 + timedelta(days=at),
                counted=counted,
            )
        )
    now = T0 + timedelta(days=60)
    assert counted_order_times(profile) == days(0, 40)
    scored, bare = score_profile(profile, now, PRIOR), score(days(0, 40), now, PRIOR)
    assert scored.model_dump(exclude={"expected_order_value", "clv_12m"}) == bare.model_dump(
        exclude={"expected_order_value", "clv_12m"}
    )
    # the orders' values are known from the profile (no spend model: the customer's own mean occasion value)
    assert bare.expected_order_value is None and scored.expected_order_value == 10.0
    assert scored.clv_12m == pytest.approx(10.0 * scored.expected_purchases_12m, rel=1e-2)
    profile.merged_into = "p2"
    assert counted_order_times(profile) == [] and score_profile(profile, now, PRIOR).insufficient_data


# --- shop counters --------------------------------------------------------------------------------


def test_contribution_of_a_customer():
    c = contribution(days(0, 10, 10.1, 30))
    assert c == {
        "customers_with_orders": 1,
        "customers_with_repeat": 1,
        "intervals_count": 2,
        "intervals_sum_days": pytest.approx(30),
        "H#1434#1437|k2": 1,  # first and last occasion's fortnights since the epoch (2025-01-01 is in 1434)
    }
    assert contribution([]) == {}


def test_deltas_add_up_to_the_contribution_whatever_the_arrival_order():
    history = days(40, 0, 95, 10)  # arrives out of order
    stats, seen = ShopStats(), []
    for at in history:
        stats.apply(add_order(seen, at))
        seen.append(at)
    assert stats == ShopStats().apply(contribution(history))
    (cell,) = stats.cells.values()
    assert cell.counts == [0, 0, 0, 1] + [0] * (REPEAT_CAP - 3) and not stats.cohorts


def test_a_cancellation_and_a_merge_reverse_exactly():
    before = days(0, 30, 60)
    stats = ShopStats().apply(contribution(before))
    stats.apply(stats_delta(before, days(0, 60)))  # the middle order is cancelled
    assert stats.intervals_count == 1 and stats.intervals_sum_days == pytest.approx(60)
    stats.apply(stats_delta(days(0, 60), []))  # merged into another profile
    assert stats.to_item() == {
        "customers_with_orders": 0,
        "customers_with_repeat": 0,
        "intervals_count": 0,
        "intervals_sum_days": 0,
    }


def test_delta_is_only_the_changes_and_a_late_first_order_moves_the_cell():
    delta = add_order(days(0, 10), T0 + timedelta(days=20))
    assert delta == {
        "intervals_count": 1,
        "intervals_sum_days": 10.0,
        "H#1434#1435|k1": -1,  # the customer leaves the histogram cell of (first, last) = (day 0, day 10)
        "H#1434#1436|k2": 1,  # for that of (day 0, day 20), one more repeat
    }
    late_first = stats_delta(days(40), days(40, -10))  # an older order arrives late
    assert late_first["H#1437#1437|k0"] == -1 and late_first["H#1434#1437|k1"] == 1


def test_a_customer_counted_before_the_histogram_moves_from_the_cohorts_to_it():
    old = days(0, 10)
    stats = ShopStats().apply(legacy_contribution(old))  # what the version before the histogram added
    assert stats.cohorts == {"2025-01": [0, 1] + [0] * (REPEAT_CAP - 1)} and not stats.cells
    stats.apply(diff(legacy_contribution(old), contribution(days(0, 10, 20))))  # the next order
    assert stats == ShopStats().apply(contribution(days(0, 10, 20))) and not stats.cohorts


def test_stored_item_round_trip_with_decimals():
    stats = ShopStats().apply(contribution(days(0, 10))).apply(contribution(days(35)))
    item = {k: Decimal(str(v)) for k, v in stats.to_item().items()} | {"pk": "shop#x", "flag": True}
    assert ShopStats.from_item(item) == stats


def test_occasion_rules_agree_between_counters_and_scores():
    rng = random.Random(3)
    for _ in range(200):
        history = [T0 + timedelta(hours=rng.uniform(0, 24 * 20)) for _ in range(rng.randint(1, 12))]
        s = score(history, T0 + timedelta(days=30), PRIOR)
        assert s.intervals_used == contribution(history)["intervals_count"]
        assert s.intervals_used == len(occasions(to_days(h) for h in history)) - 1


# --- the prior fit --------------------------------------------------------------------------------


def test_repeat_distribution_is_a_distribution_with_the_right_zero_mass():
    alpha, beta, a, b = 0.8, 50.0, 1.5, 1.0
    assert repeat_distribution(0, alpha, beta, a, b) == [1.0] + [0.0] * REPEAT_CAP
    for t in (5, 100, 1000):
        probs = repeat_distribution(t, alpha, beta, a, b)
        assert sum(probs) == pytest.approx(1.0)
        p = a / (a + b)
        assert probs[0] == pytest.approx(1 - p + p * (beta / (beta + t)) ** alpha)


def test_scarce_data_gives_the_default_prior():
    stats = ShopStats().apply(contribution(days(0, 10)))
    prior = fit_prior(stats, T0 + timedelta(days=30))
    assert stats.customers_with_orders < MIN_CUSTOMERS
    assert (prior.method, prior.alpha, prior.beta, prior.p_return) == (
        "default",
        DEFAULT_ALPHA,
        DEFAULT_BETA,
        DEFAULT_P_RETURN,
    )


def test_fit_recovers_the_parameters_of_a_large_simulated_shop():
    # Simulated with the model's own process: rates ~ Gamma(0.9, 60), return ~ Beta(1.5, 1.0).
    params = SimParams(process="model", rate_shape=0.9, rate_rate=60.0, return_a=1.5, return_b=1.0)
    shop = simulate_shop(20000, seed=1, params=params)
    stats = ShopStats()
    for c in shop.customers:
        stats.apply(contribution(c.calibration_orders))
    prior = fit_prior(stats, shop.calibration_end)
    assert prior.method == "fitted" and prior.customers == 20000
    assert prior.alpha / prior.beta == pytest.approx(0.9 / 60, rel=0.12)  # mean purchase rate
    assert prior.alpha == pytest.approx(0.9, rel=0.4)
    assert prior.beta == pytest.approx(60, rel=0.4)
    assert prior.p_return == pytest.approx(0.6, abs=0.06)
    assert math.isfinite(prior.p_strength) and 1.0 < prior.p_strength < 6.0


def test_customers_counted_before_the_histogram_join_the_fit_through_their_cohorts():
    params = SimParams(process="model", rate_shape=0.9, rate_rate=60.0, return_a=1.5, return_b=1.0)
    shop = simulate_shop(2000, seed=3, params=params)
    stats = ShopStats()
    for i, c in enumerate(shop.customers):
        # half the customers were counted by a version before the histogram
        stats.apply(legacy_contribution(c.calibration_orders) if i % 2 else contribution(c.calibration_orders))
    mixed = fit_prior(stats, shop.calibration_end)
    assert mixed.method == "fitted" and "histogram of 1000 customers and" in mixed.reason
    assert "repeat counts of 1000 counted before it" in mixed.reason
    full = ShopStats()
    for c in shop.customers:
        full.apply(contribution(c.calibration_orders))
    fitted = fit_prior(full, shop.calibration_end)
    assert fitted.reason == "maximum likelihood on the histogram of 2000 customers"
    # half the evidence through the coarser cohorts: close to the histogram's own fit
    assert mixed.alpha / mixed.beta == pytest.approx(fitted.alpha / fitted.beta, rel=0.15)
    assert mixed.p_return == pytest.approx(fitted.p_return, abs=0.05)
    legacy = ShopStats()
    for c in shop.customers:
        legacy.apply(legacy_contribution(c.calibration_orders))
    assert fit_prior(legacy, shop.calibration_end).method == "cohorts"
    assert "fewer than the 100" in fit_prior(ShopStats().apply(contribution(days(0))), T0).reason


def test_the_spend_model_is_fitted_from_the_histograms_values():
    rng = random.Random(5)
    stats, truth = ShopStats(), []
    for i in range(3000):
        rate = rng.gammavariate(4.0, 1.0) / rng.gammavariate(3.0, 1.0) * 15.0  # the customer's mean value
        truth.append(rate)
        orders = [(T0 + timedelta(days=20 * j + i % 7), rng.gammavariate(4.0, rate / 4.0)) for j in range(1 + i % 4)]
        stats.apply(contribution(summarise(orders)))
    prior = fit_prior(stats, T0 + timedelta(days=200))
    assert prior.has_spend and prior.spend_customers == 2250  # three in four have a repeat
    # E[mean value] = p v / (q - 1) against the simulated customers' means (log-bucketed values: a few %)
    assert prior.mean_occasion_value == pytest.approx(statistics.mean(truth), rel=0.1)
    few = ShopStats().apply(contribution(summarise([(T0, 10.0), (T0 + timedelta(days=9), 12.0)])))
    assert not fit_prior(few, T0 + timedelta(days=30)).has_spend


def test_values_and_lifetime_value_follow_the_spend_model():
    prior = PRIOR.model_copy(update={"spend_p": 6.25, "spend_q": 3.74, "spend_v": 15.44})
    now = T0 + timedelta(days=60)
    big = score(summarise([(T0, 50.0), (T0 + timedelta(days=20), 80.0), (T0 + timedelta(days=40), 80.0)]), now, prior)
    small = score(summarise([(T0, 50.0), (T0 + timedelta(days=20), 8.0), (T0 + timedelta(days=40), 8.0)]), now, prior)
    one = score(summarise([(T0, 50.0)]), now, prior)
    assert big.expected_order_value > one.expected_order_value > small.expected_order_value  # shrunk to the shop's
    assert one.expected_order_value == pytest.approx(6.25 * 15.44 / 2.74, rel=1e-2)
    assert big.clv_12m == pytest.approx(big.expected_purchases_12m * big.expected_order_value, rel=1e-2)
    assert 0 < big.p_buy_30d < big.p_buy_90d <= big.p_alive


def test_a_customer_with_more_orders_than_the_profile_keeps_is_scored_on_all_of_them():
    from emma.profiles.apply import apply_event
    from factories import T0 as F0
    from factories import order

    profile = new_profile("shop", "p1", F0)
    minutes = [3 * 24 * 60 * i for i in range(150)]  # every third day
    for i, m in enumerate(minutes):
        apply_event(profile, order(f"o{i}", "10.00", minutes=m))
    orders = [(F0 + timedelta(minutes=m), 10.0) for m in minutes]
    assert len(profile.orders.recent) == MAX_RECENT_ORDERS and profile.orders.count == 150
    assert profile.orders.purchases() == summarise(orders)
    now = orders[-1][0] + timedelta(days=10)
    assert score_profile(profile, now, PRIOR) == score(summarise(orders), now, PRIOR)
    assert score_profile(profile, now, PRIOR).intervals_used == 149


def test_an_imported_history_older_than_the_live_orders_is_summarised_whole():
    from emma.profiles.apply import apply_event
    from factories import T0 as F0
    from factories import order

    profile = new_profile("shop", "p1", F0)
    live = [60 * 24 * 2 * i for i in range(100)]  # 100 live orders, every other day
    imported = [-60 * 24 * (7 * i + 800) for i in range(300)]  # then 300 weekly orders from years before
    for i, m in enumerate(live):
        apply_event(profile, order(f"live{i}", "10.00", minutes=m))
    for i, m in enumerate(imported):
        apply_event(profile, order(f"old{i}", "10.00", minutes=m))
    everything = [(F0 + timedelta(minutes=m), 10.0) for m in live + imported]
    assert profile.orders.purchases() == summarise(everything)
    assert profile.orders.purchases().repeats == 399
    # the recent orders are the latest placed, not the latest to arrive
    assert min(r.placed_at for r in profile.orders.recent) == F0


def test_a_histogram_cell_keeps_its_capped_values_whatever_order_its_attributes_come_in():
    entries = {"H#100#120|vx_240": 40, "H#100#120|k12": 1, "H#100#120|xs": 40, "H#100#120|v12_240": 1}
    forward = ShopStats().apply(entries)
    backward = ShopStats().apply(dict(reversed(list(entries.items()))))
    assert forward == backward and forward.cells[(100, 120)].capped_value_repeats == {240: 40}
    assert spend_cells(forward) == spend_cells(backward) and spend_cells(forward)[0][0] == 40.0


def test_a_rate_prior_so_low_the_next_order_is_beyond_a_century_gives_no_date():
    prior = Prior(alpha=0.06, beta=90.0)
    s = score(days(0), T0 + timedelta(days=1), prior)
    assert s.expected_next_order_at is None and 0 <= s.p_buy_90d <= s.p_alive
