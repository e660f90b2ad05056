from datetime import timedelta
from pathlib import Path

import pytest

from emma.profiles.apply import apply_event
from emma.profiles.model import new_profile
from emma.rules.definitions import Segment, Trigger
from emma.rules.engine import absence_holds, evaluate_event, evaluate_segments, may_fire, rfm_scores
from emma.rules.evaluate import Facts, holds, next_change
from emma.rules.loader import Definitions, load_definitions
from factories import T0, event, order

ROOT = Path(__file__).resolve().parents[3]
DEFS = load_definitions(ROOT)
LENA = {"customer_id": "7008001", "email": "lena@example.de"}


def profile_with(*events):
    p = new_profile("elektro-emma", "p_1", T0)
    for e in events:
        apply_event(p, e)
    return p


def trigger(**kw):
    return Trigger.model_validate({"id": "tt", "on": "order.placed", **kw})


def segment(when, **kw):
    return Segment.model_validate({"id": "ss", "when": when, **kw})


def fired(defs, p, e, now=None):
    return evaluate_event(defs, p, e, now or e.occurred_at, set()).fired


# ---- every trigger kind ------------------------------------------------------------------------


def test_comparison_on_the_event_big_basket():
    cart = event("cart.updated", value="612.00", items=[{"product_id": "pixel-9", "price": "612.00"}])
    small = event("cart.updated", value="49.00", items=[{"product_id": "case", "price": "49.00"}])
    assert "big-basket" in fired(DEFS, profile_with(cart), cart)
    assert "big-basket" not in fired(DEFS, profile_with(small), small)


def test_count_in_a_window_second_order_within_90_days():
    o1, o2 = order("o1", "10.00", customer=LENA), order("o2", "10.00", customer=LENA, minutes=60 * 24 * 30)
    late = order("o3", "10.00", customer=LENA, minutes=60 * 24 * 200)
    assert "repeat-purchase" not in fired(DEFS, profile_with(o1), o1)
    assert "repeat-purchase" in fired(DEFS, profile_with(o1, o2), o2)
    assert "repeat-purchase" not in fired(DEFS, profile_with(o1, late), late)  # 200 days later


def test_coupon_and_email_opened_and_first_order():
    coupon = event("coupon.redeemed", code="SUMMER10")
    opened = event("email.opened", source="ses")
    first = order("o1", "10.00", customer=LENA)
    assert "coupon-redeemed" in fired(DEFS, profile_with(coupon), coupon)
    assert "newsletter-opened" in fired(DEFS, profile_with(opened), opened)
    assert "first-order" in fired(DEFS, profile_with(first), first)


def test_set_membership_and_counts_of_other_events():
    defs = Definitions(
        [
            trigger(
                when=[{"field": "event.properties.currency", "in": ["EUR", "CHF"]}, {"count": "email.opened", "gte": 1}]
            )
        ],
        [],
    )
    opened = event("email.opened", source="ses")
    o = order("o1", "10.00", customer=LENA, minutes=5)
    assert fired(defs, profile_with(opened, o), o) == ["tt"]
    assert fired(defs, profile_with(o), o) == []


def test_absence_trigger_arms_and_fires_with_no_further_event():
    cart = event("cart.updated", value="30.00", items=[{"product_id": "case"}])
    p = profile_with(cart)
    out = evaluate_event(DEFS, p, cart, cart.occurred_at, set())
    (arm,) = [a for a in out.armed if a.trigger_id == "cart-abandoned"]
    assert arm.due_at == cart.occurred_at + timedelta(hours=2)
    t = next(t for t in DEFS.triggers if t.id == "cart-abandoned")
    assert absence_holds(t, p, arm.armed_at, arm.due_at)  # nothing happened: fire
    bought = profile_with(cart, order("o1", "30.00", minutes=30))
    assert not absence_holds(t, bought, arm.armed_at, arm.due_at)
    bought_late = profile_with(cart, order("o1", "30.00", minutes=125))  # after due, before the job ran
    assert not absence_holds(t, bought_late, arm.armed_at, arm.due_at + timedelta(minutes=10))


def test_newsletter_not_opened_for_30_days():
    delivered = event("email.delivered", source="ses")
    t = next(t for t in DEFS.triggers if t.id == "newsletter-not-opened")
    out = evaluate_event(DEFS, profile_with(delivered), delivered, T0, set())
    (arm,) = [a for a in out.armed if a.trigger_id == t.id]
    assert arm.due_at == T0 + timedelta(days=30)
    opened = profile_with(delivered, event("email.opened", source="ses", minutes=60 * 24 * 3))
    assert absence_holds(t, profile_with(delivered), arm.armed_at, arm.due_at)
    assert not absence_holds(t, opened, arm.armed_at, arm.due_at)


def test_cooldown_and_once():
    t = trigger(cooldown="7d")
    assert may_fire(t, None, 0, T0)
    assert not may_fire(t, T0, 1, T0 + timedelta(days=6))
    assert may_fire(t, T0, 1, T0 + timedelta(days=7))
    assert not may_fire(trigger(once=True), None, 1, T0)


# ---- segments ----------------------------------------------------------------------------------


def test_segment_entry_and_exit_on_events():
    o1 = order("o1", "400.00", customer=LENA)
    p = profile_with(o1)
    out = evaluate_segments(DEFS, p, T0, set())
    assert {"first-time-buyers", "big-baskets", "occasional-buyers", "stage-buy"} <= out.segments
    assert out.entered == out.segments and out.lifecycle_stage == "stage-buy"
    apply_event(p, order("o2", "10.00", customer=LENA, minutes=10))
    later = evaluate_segments(DEFS, p, T0 + timedelta(minutes=10), out.segments)
    assert later.left == {"first-time-buyers", "big-baskets"}  # two orders, average basket 205
    assert later.segments.isdisjoint(later.left) and not later.entered


def test_lapse_by_time_alone():
    o = order("o1", "50.00", customer=LENA)
    p = profile_with(o)
    now = T0 + timedelta(days=1)
    out = evaluate_segments(DEFS, p, now, set())
    assert "lapsed" not in out.segments
    # The next review is when something can change with time: the weekly re-scoring of predictions
    # (likely-to-churn) comes first, then the buy stage ending after 14 days, then the lapse. Weekly counts from
    # the last order (T0): any evaluation that week asks for the same review, so a second one adds no timer.
    assert out.next_review_at == T0 + timedelta(days=7)
    assert evaluate_segments(DEFS, p, now + timedelta(days=3), set()).next_review_at == T0 + timedelta(days=7)
    assert evaluate_segments(DEFS, p, T0 + timedelta(days=7), set()).next_review_at == T0 + timedelta(days=14)
    at, members, reviews = now, out.segments, 0
    while "lapsed" not in members and reviews < 40:  # what the scheduled job does, review by review
        at = out.next_review_at
        out = evaluate_segments(DEFS, p, at, members)
        members, reviews = out.segments, reviews + 1
    assert "lapsed" in out.entered and at == T0 + timedelta(days=180, seconds=1)
    assert reviews <= 30  # about weekly, never daily


def test_windowed_counts_change_with_time():
    opened = [event("email.opened", source="ses", minutes=m) for m in (0, 60)]
    p = profile_with(*opened)
    seg = segment([{"count": "email.opened", "within": "90d", "gte": 2}])
    facts = Facts(p, T0 + timedelta(days=1))
    assert holds(seg.when, facts)
    exit_at = next_change(seg.when, facts)
    assert exit_at == T0 + timedelta(days=90, seconds=1)
    assert not holds(seg.when, Facts(p, exit_at))


def test_windowed_revenue_counts_what_partial_refunds_left_of_an_order():
    placed = order("o1", "600.00", customer=LENA)
    refund = event("order.refunded", source="shopify", customer=LENA, order_id="o1", amount="200.00", currency="EUR")
    seg = segment([{"revenue": {"within": "365d"}, "gt": 500}])
    now = T0 + timedelta(days=1)
    assert holds(seg.when, Facts(profile_with(placed), now))
    assert not holds(seg.when, Facts(profile_with(placed, refund), now))  # 400 left of it


def test_rfm_scores_and_segments_built_on_them():
    orders = [order(f"o{i}", "400.00", customer=LENA, minutes=i) for i in range(5)]
    p = profile_with(*orders)
    assert rfm_scores(p, T0 + timedelta(days=1)) == {"r": 5, "f": 4, "m": 5, "score": 545}
    assert "champions" in evaluate_segments(DEFS, p, T0 + timedelta(days=1), set()).segments
    assert rfm_scores(p, T0 + timedelta(days=200))["r"] == 2
    assert "at-risk" in evaluate_segments(DEFS, p, T0 + timedelta(days=200), set()).segments


@pytest.mark.parametrize(
    "events, stage",
    [
        ([event("page.viewed", path="/")], "stage-discover"),
        ([event("product.viewed", product={"product_id": "x"})], "stage-explore"),
        ([order("o1", "9.00")], "stage-buy"),
        ([event("survey.answered", survey_id="nps", score=3), order("o1", "9.00")], "stage-ask"),
    ],
)
def test_lifecycle_stage_is_the_first_matching_phase(events, stage):
    out = evaluate_segments(DEFS, profile_with(*events), T0 + timedelta(hours=1), set())
    assert out.lifecycle_stage == stage
    assert len([s for s in out.segments if s.startswith("stage-")]) == 1


def test_use_then_engage_after_the_buy_phase():
    p = profile_with(order("o1", "9.00"))
    assert evaluate_segments(DEFS, p, T0 + timedelta(days=20), set()).lifecycle_stage == "stage-use"
    apply_event(p, event("review.submitted", minutes=60 * 24 * 19, product_id="x", rating=5))
    assert evaluate_segments(DEFS, p, T0 + timedelta(days=20), set()).lifecycle_stage == "stage-engage"


def test_segments_can_use_other_segments_and_predictions():
    defs = Definitions(
        [],
        [
            segment([{"field": "profile.orders.count", "gte": 1}], id="buyer"),
            segment(
                [{"segment": "buyer"}, {"field": "profile.predictions.churn_risk", "gte": 0.7}], id="buyer-at-risk"
            ),
        ],
    )
    p = profile_with(order("o1", "9.00"))
    assert evaluate_segments(defs, p, T0, set(), {"churn_risk": 0.8}).segments == {"buyer", "buyer-at-risk"}
    assert evaluate_segments(defs, p, T0, set(), {"churn_risk": 0.2}).segments == {"buyer"}


def test_odd_comparisons_are_false_not_crashes():
    p = profile_with(order("o1", "9.00", customer=LENA))
    facts = Facts(p, T0 + timedelta(days=1))
    assert not holds(segment([{"field": "profile.emails", "contains": 5}]).when, facts)
    assert not holds(segment([{"field": "profile.traits", "contains": [1]}]).when, facts)


def test_event_type_keys_with_dots_resolve():
    p = profile_with(order("o1", "9.00", customer=LENA), order("o2", "9.00", customer=LENA))
    assert holds(segment([{"field": "profile.event_counts.order.placed", "eq": 2}]).when, Facts(p, T0))


def test_affinity_segments_are_reviewed_when_the_score_decays_through_the_threshold():
    p = profile_with(event("product.viewed", product={"product_id": "x", "category": "smartphones"}))
    seg = segment([{"field": "profile.affinities.categories.smartphones", "gte": 0.5}])
    facts = Facts(p, T0 + timedelta(days=1))
    assert holds(seg.when, facts)
    review = next_change(seg.when, facts)
    assert timedelta(days=89) < review - T0 < timedelta(days=91)  # half-life 90 days: 1.0 -> 0.5
    assert not holds(seg.when, Facts(p, review + timedelta(days=1)))


def test_days_since_needs_a_sane_threshold():
    with pytest.raises(ValueError, match="between 0 and 36500"):
        segment([{"days_since": "profile.first_seen_at", "gt": 1e12}])
    with pytest.raises(ValueError, match="not eq"):
        segment([{"days_since": "profile.first_seen_at", "eq": 3}])


def test_a_field_of_every_list_element_smartphone_purchased():
    phone = order(
        "o1",
        "999.00",
        customer=LENA,
        items=[{"product_id": "p9", "category": "smartphones"}, {"product_id": "case", "category": "accessories"}],
    )
    case = order("o2", "19.00", customer=LENA, items=[{"product_id": "case", "category": "accessories"}])
    assert "smartphone-purchased" in fired(DEFS, profile_with(phone), phone)
    assert "smartphone-purchased" not in fired(DEFS, profile_with(case), case)


def test_a_test_order_fires_none_of_the_order_triggers():
    items = [{"product_id": "p9", "category": "smartphones"}]
    real = order("o1", "999.00", customer=LENA, items=items)
    test = order("t1", "999.00", customer=LENA, items=items, test=True)
    order_triggers = {"order-placed", "first-order", "smartphone-purchased"}
    assert order_triggers <= set(fired(DEFS, profile_with(real), real))
    assert not order_triggers & set(fired(DEFS, profile_with(test), test))
