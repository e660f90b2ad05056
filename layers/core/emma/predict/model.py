"""Per-customer predictions: churn risk, expected next order, purchase propensity.

The model (docs/predictions.md) is a BG/NBD-style "buy till you defect" model:

* while a customer is active, gaps between purchase occasions are Exponential(lambda), and across the
  shop's customers lambda ~ Gamma(alpha, beta) (beta in days);
* after every purchase occasion the customer returns with probability p (else is lost for good), and
  across customers p ~ Beta(a, b), a = p_return * p_strength, b = (1 - p_return) * p_strength.

For a customer with ``n`` repeat intervals summing ``S`` days and ``t`` days since the last occasion:

    R       = ((beta + S) / (beta + S + t)) ** (alpha + n)       P(gap > t | returns)  (Lomax survival)
    P(alive) = (a + n) R / ((a + n) R + b)
    remaining gap | alive ~ Lomax(shape alpha + n, scale beta + S + t)
    P(buy within H) = P(alive) * (1 - ((beta + S + t) / (beta + S + t + H)) ** (alpha + n))
    next order = now + median remaining gap = now + (beta + S + t) * (2 ** (1 / (alpha + n)) - 1)

``score`` is pure and runs on every profile change (a few microseconds).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from emma.predict.prior import DAY_SECONDS, OCCASION_GAP_DAYS, Prior

if TYPE_CHECKING:
    from emma.profiles.model import Profile

MODEL = "bg-gamma-beta/1"
DEFAULT_HORIZON_DAYS = 30.0
DEFAULT_THRESHOLD = 0.5  # would_buy_without_incentive when P(order within the horizon) >= this
FUTURE_TOLERANCE_DAYS = 1.0  # orders up to a day "in the future" (clock skew) count as now; later ones are ignored
_FUTURE_TOLERANCE = timedelta(days=FUTURE_TOLERANCE_DAYS)
_OCCASION_GAP = timedelta(days=OCCASION_GAP_DAYS)


class Scores(BaseModel):
    """Predictions for one customer as of ``scored_at``. Numbers are None when there is no order."""

    model_config = ConfigDict(extra="ignore")

    model: str = MODEL
    scored_at: datetime
    insufficient_data: bool
    churn_risk: float | None = None
    p_alive: float | None = None
    expected_next_order_at: datetime | None = None
    p_buy_within_horizon: float | None = None
    horizon_days: float = DEFAULT_HORIZON_DAYS
    would_buy_without_incentive: bool = False
    intervals_used: int = 0
    days_since_last_order: float | None = None


def score(
    order_times: Iterable[datetime],
    now: datetime,
    prior: Prior,
    horizon_days: float = DEFAULT_HORIZON_DAYS,
    threshold: float = DEFAULT_THRESHOLD,
) -> Scores:
    """Score a customer from their counted order times, as of ``now``. Pure and deterministic."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    # Datetime arithmetic rather than timestamps: it is several times faster for long histories.
    times = sorted(at if at.tzinfo is not None else at.replace(tzinfo=UTC) for at in order_times)
    limit = now + _FUTURE_TOLERANCE
    while times and times[-1] > limit:
        times.pop()  # far in the future: not trusted
    if not times:
        return Scores(scored_at=now, insufficient_data=True, horizon_days=horizon_days)
    i = len(times) - 1
    while i >= 0 and times[i] > now:
        times[i] = now  # clock skew: counts as now
        i -= 1
    # Purchase occasions (same rule as emma.predict.prior.occasions).
    first = last = times[0]
    n = 0
    for at in times:
        if at - last >= _OCCASION_GAP:
            last = at
            n += 1
    t = (now - last).total_seconds() / DAY_SECONDS
    k = prior.alpha + n
    scale = prior.beta + (last - first).total_seconds() / DAY_SECONDS + t  # beta + S + t
    survival = ((scale - t) / scale) ** k  # R = P(gap > t | returns)
    weight = (prior.a + n) * survival
    p_alive = weight / (weight + prior.b)
    horizon = max(horizon_days, 0.0)
    p_buy = p_alive * (1.0 - (scale / (scale + horizon)) ** k)
    remaining = scale * (2.0 ** (1.0 / k) - 1.0)
    return Scores(
        scored_at=now,
        insufficient_data=False,
        churn_risk=1.0 - p_alive,
        p_alive=p_alive,
        expected_next_order_at=now + timedelta(days=remaining),
        p_buy_within_horizon=p_buy,
        horizon_days=horizon_days,
        would_buy_without_incentive=p_buy >= threshold,
        intervals_used=n,
        days_since_last_order=t,
    )


def counted_order_times(profile: Profile) -> list[datetime]:
    """The order times the model and the shop counters use: counted orders of a live profile.

    A profile merged into another contributes nothing (its orders live on in the winner).
    """
    if profile.merged_into:
        return []
    return [r.placed_at for r in profile.orders.recent if r.counted]


def score_profile(
    profile: Profile,
    now: datetime,
    prior: Prior,
    horizon_days: float = DEFAULT_HORIZON_DAYS,
    threshold: float = DEFAULT_THRESHOLD,
) -> Scores:
    return score(counted_order_times(profile), now, prior, horizon_days, threshold)
