"""Upgrade timing on the profile, and the smartphone journey's branch on it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import TypeAdapter

from emma.journeys.definitions import BranchArm
from emma.profiles.apply import apply_event
from emma.profiles.model import ChannelStats, new_profile
from emma.profiles.upgrade import estimate_upgrade
from emma.rules.evaluate import Facts, holds
from tests.factories import T0, event, order

ROOT = Path(__file__).resolve().parents[3]
PHONE = {"product_id": "pixel-9-pro", "category": "smartphones", "brand": "Google", "price": "999.00"}


def owner(days_ago: int = 0):
    profile = new_profile("elektro-emma", "p_1", T0)
    apply_event(profile, order("o-1", "999.00", items=[PHONE], at=T0))
    return profile


def test_a_device_owner_is_due_after_the_category_cycle():
    profile = owner()
    estimate = profile.upgrade
    assert estimate is not None and estimate.product_id == "pixel-9-pro" and estimate.cycle_days == 730
    assert estimate.due_at == T0 + timedelta(days=730) and estimate.factor == 1.0


def test_renewed_interest_and_clicks_bring_it_forward_silence_pushes_it_back():
    profile = owner()
    later = T0 + timedelta(days=200)
    for n in range(4):
        apply_event(
            profile, event("product.viewed", product={"product_id": f"p-{n}", "category": "Smartphones"}, at=later)
        )
    interested = estimate_upgrade(profile, later)
    assert interested is not None and interested.factor < 0.8 and "interest in smartphones" in interested.signals[0]

    profile.channels["email"] = ChannelStats(sent=4, clicked=1, last_click_at=later)
    engaged = estimate_upgrade(profile, later)
    assert engaged is not None and engaged.due_at < interested.due_at

    silent = owner()
    silent.channels["email"] = ChannelStats(sent=8)
    quiet = estimate_upgrade(silent, T0 + timedelta(days=100))
    assert quiet is not None and quiet.due_at > T0 + timedelta(days=730)


def test_no_device_no_estimate():
    profile = new_profile("elektro-emma", "p_1", T0)
    apply_event(profile, order("o-1", "19.00", items=[{"product_id": "case-9", "category": "cases"}], at=T0))
    assert profile.upgrade is None


def test_the_smartphone_journey_offers_the_upgrade_only_when_due():
    import yaml

    steps = yaml.safe_load((ROOT / "journeys" / "smartphone-onboarding.yaml").read_text())["steps"]
    arms = TypeAdapter(list[BranchArm]).validate_python(next(s for s in steps if s["id"] == "upgrade-check")["branch"])

    def target(profile, at):
        facts = Facts(profile=profile, now=at)
        return next(a.target for a in arms if a.when is None or holds(a.when, facts, at))

    profile = owner()
    assert target(profile, T0 + timedelta(days=200)) == "a-month-later"  # not due: check again
    assert target(profile, T0 + timedelta(days=331)) == "done"  # the journey's year is nearly over
    assert target(profile, T0 + timedelta(days=731)) == "upgrade-offer"
    profile.upgrade = profile.upgrade.model_copy(update={"due_at": T0 + timedelta(days=250)})
    assert target(profile, T0 + timedelta(days=260)) == "upgrade-offer"
    assert target(new_profile("elektro-emma", "p_2", T0), T0) == "done"  # no device known


def test_a_purchase_in_the_last_years_a_datetime_holds_has_no_due_date_rather_than_an_overflow():
    """A webhook's order placed in 9999 (the canonical event admits it): the replacement would be due after year
    9999; no estimate, and the order is applied (was an OverflowError, a server error)."""
    from datetime import UTC, datetime

    late = datetime(9999, 6, 1, tzinfo=UTC)
    profile = new_profile("elektro-emma", "p_1", T0)
    apply_event(profile, order("o-1", "999.00", items=[PHONE], at=late))
    assert profile.orders.count == 1 and profile.upgrade is None
