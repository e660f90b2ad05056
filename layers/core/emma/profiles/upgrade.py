"""Upgrade timing: when the owner of a device is likely open to a new one.

The newest device the customer owns (a product in a category with a known replacement cycle) is
compared with that cycle; the cycle is shortened while the customer shows interest in the category
again (views, searches, tutorials) or engages with Emma's messages, and lengthened when messages
are sent but never opened. Journeys read ``profile.upgrade.due_at`` (for example
``{days_since: profile.upgrade.due_at, gte: 0}``: the device is due)."""

from __future__ import annotations

from datetime import datetime, timedelta

from emma.profiles.model import Profile, UpgradeEstimate

# Typical replacement cycles in days (German retail and carrier contract figures, rounded).
REPLACEMENT_CYCLE_DAYS: dict[str, int] = {
    "smartphones": 730,
    "tablets": 1095,
    "laptops": 1460,
    "smartwatches": 900,
    "headphones": 1095,
    "cameras": 1825,
    "consoles": 1825,
    "tvs": 2555,
}
CATEGORY_INTEREST_PER_POINT = 0.1  # each point of decayed interest in the category: 10 % earlier
MAX_INTEREST_PULL = 0.6  # at most 60 % earlier: someone browsing new phones again is in the market now
RECENT_CLICK = timedelta(days=90)
ENGAGED_FACTOR = 0.85  # clicked a message in the last 90 days
SILENT_AFTER_SENT = 5  # this many messages sent and none opened or clicked ...
SILENT_FACTOR = 1.15  # ... and the estimate moves later


def _interest_since(profile: Profile, category: str, since: datetime, now: datetime) -> float:
    """Decayed interest in ``category`` shown after the purchase (the purchase itself not counted)."""
    aff = profile.affinities.categories.get(category.lower())
    if aff is None or aff.at <= since + timedelta(days=1) or aff.via == "bought":
        return 0.0
    return aff.decayed(now)


def estimate_upgrade(profile: Profile, now: datetime) -> UpgradeEstimate | None:
    devices = [
        (owned.last_bought_at, pid, owned.category.lower())
        for pid, owned in profile.products_owned.items()
        if owned.category and owned.category.lower() in REPLACEMENT_CYCLE_DAYS
    ]
    if not devices:
        return None
    bought_at, product_id, category = max(devices)
    cycle = REPLACEMENT_CYCLE_DAYS[category]
    factor, signals = 1.0, []
    interest = _interest_since(profile, category, bought_at, now)
    if interest > 0:
        pull = min(MAX_INTEREST_PULL, interest * CATEGORY_INTEREST_PER_POINT)
        factor -= pull
        signals.append(f"interest in {category} again (-{pull:.0%})")
    clicks = [s.last_click_at for s in profile.channels.values() if s.last_click_at]
    opened = sum(s.opened + s.clicked for s in profile.channels.values())
    sent = sum(s.sent for s in profile.channels.values())
    if clicks and now - max(clicks) <= RECENT_CLICK:
        factor *= ENGAGED_FACTOR
        signals.append(f"clicked a message in the last {RECENT_CLICK.days} days (-{1 - ENGAGED_FACTOR:.0%})")
    elif sent >= SILENT_AFTER_SENT and opened == 0:
        factor *= SILENT_FACTOR
        signals.append(f"{sent} messages sent, none opened (+{SILENT_FACTOR - 1:.0%})")
    factor = round(factor, 3)
    try:
        due_at = bought_at + timedelta(days=cycle * factor)
    except OverflowError:  # bought in the last years a datetime holds (an import's or a webhook's odd time)
        return None
    return UpgradeEstimate(
        product_id=product_id,
        category=category,
        bought_at=bought_at,
        cycle_days=cycle,
        factor=factor,
        due_at=due_at,
        signals=signals,
    )
