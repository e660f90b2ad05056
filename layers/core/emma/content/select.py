"""Which content blocks one reader gets (emma.content.model): those matching what they clicked and read before,
as many as their engagement warrants.

- **Length** (seed 002: "it makes no sense to send occasional buyers endless newsletters ... for engaged frequent
  buyers it does"): ``full`` for an engaged reader (3 or more orders in the last 365 days, or a click on one of
  the shop's emails in the last 90 days), ``short`` for everyone else.
- **Interest** in a block: the sum over its topics of the reader's decaying interest in that topic
  (emma.profiles: clicks on earlier blocks and messages, tutorials watched, pages read, searches) and in the
  category of the same name (products viewed, carted and bought), plus a small bonus for what is new (half-life
  30 days; not for tutorials, which follow their series order), so that a reader Emma knows nothing about gets
  the newest mix, and a new owner the first tutorial of the series.
- **Eligible**: of a kind the slot asks for, published and not expired, for a device the reader owns where the
  block names devices, and never sent to this reader before (a tutorial also not watched already).
- **Variety**: at most ``per_kind`` blocks of one kind; ties go to the series order (tutorials: basics first), then
  the newest.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from emma.content.model import ContentBlock, ContentSlot
from emma.events.model import Channel
from emma.profiles.model import Profile

ENGAGED_ORDERS = 3  # orders within a year that make a reader engaged ...
ENGAGED_CLICK_DAYS = 90  # ... or a click on an email within this many days
FRESH_BONUS = 0.5
FRESH_HALF_LIFE_DAYS = 30.0

Length = Literal["short", "full"]


def length(profile: Profile, now: datetime) -> Length:
    """How long this reader's newsletter is: full for engaged readers, short for occasional ones."""
    year_ago = now - timedelta(days=365)
    orders = sum(1 for o in profile.orders.recent if o.counted and not o.test and o.placed_at >= year_ago)
    if orders >= ENGAGED_ORDERS:
        return "full"
    email = profile.channels.get(Channel.EMAIL)
    clicked = email.last_click_at if email is not None else None
    return "full" if clicked is not None and now - clicked <= timedelta(days=ENGAGED_CLICK_DAYS) else "short"


def interest(profile: Profile, block: ContentBlock, now: datetime) -> float:
    """The reader's interest in the block's topics (and the categories of the same names) as it stands now."""
    aff = profile.affinities
    total = 0.0
    for topic in block.topics:
        for scores in (aff.topics, aff.categories):
            found = scores.get(topic)
            if found is not None:
                total += found.decayed(now)
    return total


def _fresh(block: ContentBlock, now: datetime) -> float:
    if block.kind == "tutorial":  # tutorials are a series, not news: their order decides, not their date
        return 0.0
    age = max(0.0, (now.date() - block.published).days)
    return FRESH_BONUS * math.pow(0.5, age / FRESH_HALF_LIFE_DAYS)


def eligible(block: ContentBlock, slot: ContentSlot, profile: Profile, now: datetime) -> bool:
    if block.kind not in slot.kinds or block.published > now.date():
        return False
    if block.expires is not None and block.expires <= now.date():
        return False
    if block.id in profile.content_sent or block.id in profile.tutorials_watched:
        return False
    if block.devices:
        owned = {(p.category or "").lower() for p in profile.products_owned.values()}
        if not owned & {d.lower() for d in block.devices}:
            return False
    return True


def pick(
    blocks: Iterable[ContentBlock], slot: ContentSlot, profile: Profile, now: datetime, limit: int | None = None
) -> list[ContentBlock]:
    """The reader's blocks, best first: ``limit`` of them, or as many as their length (``length``) allows."""
    wanted = limit if limit is not None else (slot.full if length(profile, now) == "full" else slot.short)
    ranked = sorted(
        (b for b in blocks if eligible(b, slot, profile, now)),
        key=lambda b: (-(interest(profile, b, now) + _fresh(b, now)), b.order, -b.published.toordinal(), b.id),
    )
    chosen: list[ContentBlock] = []
    per_kind: dict[str, int] = {}
    for block in ranked:
        if per_kind.get(block.kind, 0) >= slot.per_kind:
            continue
        chosen.append(block)
        per_kind[block.kind] = per_kind.get(block.kind, 0) + 1
        if len(chosen) == wanted:
            break
    return chosen
