"""The attribution models on their own: shares per model, windows per channel and touch, exact sums."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from emma.analytics.attribution import attribute, split, touchpoints, weights
from emma.analytics.model import Dims, MessageTouch, Windows

AT = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def touch(ref, channel="email", opened=None, clicked=None, status="sent", coupon=None):
    t = MessageTouch(ref=ref, dims=Dims(template=ref, channel=channel), day="2026-11-01", status=status)
    t.last_open_at, t.last_click_at, t.coupon, t.sent_at = opened, clicked, coupon, AT - timedelta(days=9)
    return t


@given(st.integers(min_value=1, max_value=40))
def test_every_models_weights_add_up_to_one(n):
    for model in ("last_touch", "linear", "position"):
        assert abs(sum(weights(model, n)) - 1) < Decimal("1e-20")


@given(
    st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False, allow_infinity=False),
    st.integers(min_value=1, max_value=25),
)
def test_a_split_adds_up_to_the_total_to_the_cent(total, n):
    for model in ("last_touch", "linear", "position"):
        parts = split(total, weights(model, n))
        assert sum(parts) == total and len(parts) == n


def test_position_based_is_40_20_40_and_halves_for_two():
    assert weights("position", 4) == [Decimal("0.4"), Decimal("0.1"), Decimal("0.1"), Decimal("0.4")]
    assert weights("position", 2) == [Decimal("0.5"), Decimal("0.5")]
    assert weights("position", 1) == [Decimal(1)]


def test_touchpoints_respect_each_channels_window_and_ignore_deliveries_and_skips():
    w = Windows()  # email open/click 120 h, sms click 120 h, push click 24 h
    found = touchpoints(
        [
            touch("email-open-4d", opened=AT - timedelta(days=4)),
            touch("email-open-6d", opened=AT - timedelta(days=6)),  # outside 5 days
            touch("push-23h", channel="push", clicked=AT - timedelta(hours=23)),
            touch("push-25h", channel="push", clicked=AT - timedelta(hours=25)),  # outside 24 hours
            touch("after-the-order", clicked=AT + timedelta(minutes=1)),
            touch("only-delivered"),
            touch("skipped", opened=AT - timedelta(hours=1), status="skipped"),
            # opened 6 days ago (outside) but clicked 2 days ago: a touchpoint at the click
            touch("click-counts", opened=AT - timedelta(days=6), clicked=AT - timedelta(days=2)),
        ],
        AT,
        w,
    )
    assert [t.ref for t in found] == ["email-open-4d", "click-counts", "push-23h"]


def test_a_coupon_credits_its_message_whatever_the_window_and_splits_between_two():
    old = touch("old-coupon", coupon="SAVE-1")  # no open or click at all
    other = touch("other-coupon", coupon="save-2")
    credits = attribute([old, other], AT, Decimal("90"), Windows(), ["save-1", "SAVE-2 "], Decimal("9"))
    coupon = [c for c in credits if c.model == "coupon"]
    assert {c.ref for c in coupon} == {"old-coupon", "other-coupon"}
    assert sum(c.revenue for c in coupon) == 90 and sum(c.discount for c in coupon) == 9
    assert sum(c.conversions for c in coupon) == 1
    assert not [c for c in credits if c.model != "coupon"]  # no touch in a window: no other model credits
