"""A customer's purchase history as the models see it: purchase occasions, not orders.

Orders less than ``OCCASION_GAP_DAYS`` after the start of a purchase occasion join it (a second order for a
forgotten item is not a second purchase). The models need only five numbers per customer, the sufficient
statistics of the purchase model (MBG/NBD: repeat occasions, first and last occasion) and of the spend model
(Gamma-Gamma: the value of the repeat occasions); ``Purchases`` holds them. A profile keeps them as
aggregates (``emma.profiles.model.OrderStats``), so they do not depend on how many orders the profile keeps.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

DAY_SECONDS = 86400.0
OCCASION_GAP_DAYS = 0.5  # an order less than 12 h after the previous purchase occasion joins it


def to_days(at: datetime) -> float:
    """Days since the epoch; naive datetimes are taken as UTC."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.timestamp() / DAY_SECONDS


def occasions(days: Iterable[float]) -> list[float]:
    """Purchase occasions (sorted days): orders < OCCASION_GAP_DAYS after an occasion's start join it."""
    out: list[float] = []
    for d in sorted(days):
        if not out or d - out[-1] >= OCCASION_GAP_DAYS:
            out.append(d)
    return out


class Purchases(BaseModel):
    """A customer's purchase occasions, summarised: what the purchase and spend models read."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    first: datetime = Field(description="start of the first purchase occasion")
    last: datetime = Field(description="start of the last purchase occasion")
    repeats: int = Field(0, ge=0, description="purchase occasions after the first")
    first_value: float = Field(0.0, description="net value of the first occasion's orders")
    repeat_value: float = Field(0.0, description="net value of the repeat occasions' orders")

    @property
    def span_days(self) -> float:
        return (self.last - self.first).total_seconds() / DAY_SECONDS

    @property
    def mean_repeat_value(self) -> float | None:
        """The mean value of a repeat occasion (what the spend model fits), None without a paid repeat."""
        if self.repeats <= 0 or self.repeat_value <= 0:
            return None
        return self.repeat_value / self.repeats


def summarise(orders: Iterable[tuple[datetime, float]]) -> Purchases | None:
    """``Purchases`` from (time, net value) pairs of counted orders; None without an order."""
    rows = sorted((_utc(at), float(value)) for at, value in orders)
    if not rows:
        return None
    first = start = rows[0][0]
    repeats = 0
    first_value = repeat_value = 0.0
    for at, value in rows:
        if (at - start).total_seconds() >= OCCASION_GAP_DAYS * DAY_SECONDS:
            start = at
            repeats += 1
        if repeats:
            repeat_value += value
        else:
            first_value += value
    return Purchases(
        first=first, last=start, repeats=repeats, first_value=first_value, repeat_value=round(repeat_value, 6)
    )


def as_purchases(history: Purchases | Iterable[datetime] | None) -> Purchases | None:
    """``Purchases`` from either a summary or bare order times (their values unknown: zero)."""
    if history is None or isinstance(history, Purchases):
        return history
    return summarise((at, 0.0) for at in history)


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def combine(one: Purchases | None, other: Purchases | None) -> Purchases | None:
    """The summary of two sets of a customer's orders (a profile's orders no longer kept and those it keeps;
    two merged profiles' dropped orders). Exact when one set ends before the other begins (the later set's
    first occasion joins the earlier's last when it starts less than OCCASION_GAP_DAYS after it); where the
    two overlap in time their occasions are counted as distinct, except first occasions less than
    OCCASION_GAP_DAYS apart, which are one (docs/predictions.md)."""
    if one is None or other is None:
        return one or other
    older, newer = sorted((one, other), key=lambda s: (s.first, s.last))
    gap = (newer.first - older.last).total_seconds() / DAY_SECONDS
    same_start = (newer.first - older.first).total_seconds() / DAY_SECONDS < OCCASION_GAP_DAYS
    first_value = older.first_value
    if same_start or 0 <= gap < OCCASION_GAP_DAYS:
        # newer's first occasion is one of older's: its first if they start together, else its last
        joined_first = same_start or older.repeats == 0
        repeats = older.repeats + newer.repeats
        first_value += newer.first_value if joined_first else 0.0
        repeat_value = older.repeat_value + newer.repeat_value + (0.0 if joined_first else newer.first_value)
        last = max(older.last, newer.last) if newer.repeats or same_start else older.last
    else:  # newer starts after older's last occasion, or their histories interleave: distinct occasions
        repeats = older.repeats + newer.repeats + 1
        repeat_value = older.repeat_value + newer.first_value + newer.repeat_value
        last = max(older.last, newer.last)
    return Purchases(
        first=older.first, last=last, repeats=repeats, first_value=first_value, repeat_value=round(repeat_value, 6)
    )
