"""Per-customer predictions: purchase probabilities, expected purchases and value, churn risk, next order.

The purchase model (docs/predictions.md) is the Modified BG/NBD, a "buy till you defect" model:

* while a customer is active, gaps between purchase occasions are Exponential(lambda), and across the
  shop's customers lambda ~ Gamma(alpha, beta) (beta in days);
* after every purchase occasion the customer returns with probability p (else is lost for good), and
  across customers p ~ Beta(a, b), a = p_return * p_strength, b = (1 - p_return) * p_strength.

For a customer with ``n`` repeat intervals summing ``S`` days and ``t`` days since the last occasion:

    R       = ((beta + S) / (beta + S + t)) ** (alpha + n)       P(gap > t | returns)  (Lomax survival)
    P(alive) = (a + n) R / ((a + n) R + b)
    remaining gap | alive ~ Lomax(shape alpha + n, scale beta + S + t)
    next order = now + median remaining gap = now + (beta + S + t) * (2 ** (1 / (alpha + n)) - 1)

The expected number of purchase occasions in the next H days is the model's conditional expectation
(``emma.predict.mbg.expected_purchases``), and the probability of an order within H days that of a Poisson
count with that mean, 1 - exp(-E[N(H)]), never above P(alive) (on real customers it is better calibrated
than the model's own P(alive) (1 - (scale / (scale + H)) ** k) and ranks as well at 30 and 90 days;
docs/predictions.md).
The spend model (Gamma-Gamma) gives the expected value of an occasion, a weighted mean of the shop's and the
customer's own mean repeat value; the 12-month lifetime value is the product of the two (undiscounted).
``score`` is pure and runs on every profile change (microseconds).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from emma.predict import mbg
from emma.predict.history import DAY_SECONDS, Purchases, as_purchases, summarise
from emma.predict.prior import Prior

if TYPE_CHECKING:
    from emma.profiles.model import Profile

MODEL = "mbg-nbd-gamma-gamma/2"
DEFAULT_HORIZON_DAYS = 30.0
DEFAULT_THRESHOLD = 0.5  # would_buy_without_incentive when P(order within the horizon) >= this
FUTURE_TOLERANCE_DAYS = 1.0  # orders up to a day "in the future" (clock skew) count as now; later ones are ignored
_FUTURE_TOLERANCE = timedelta(days=FUTURE_TOLERANCE_DAYS)
YEAR_DAYS = 365.0
MAX_NEXT_ORDER_DAYS = 36500.0  # a median next order further away than a century is no date (None)


class Scores(BaseModel):
    """Predictions for one customer as of ``scored_at``. Numbers are None when there is no order; the values
    (``expected_order_value``, ``clv_12m``) also when the shop has no spend model and the customer no paid order.
    """

    model_config = ConfigDict(extra="ignore")

    model: str = MODEL
    scored_at: datetime
    insufficient_data: bool
    churn_risk: float | None = None
    p_alive: float | None = None
    expected_next_order_at: datetime | None = None
    p_buy_within_horizon: float | None = None
    horizon_days: float = DEFAULT_HORIZON_DAYS
    p_buy_30d: float | None = None
    p_buy_90d: float | None = None
    expected_purchases_12m: float | None = None
    expected_order_value: float | None = None
    clv_12m: float | None = None
    would_buy_without_incentive: bool = False
    incentive_method: str = Field(
        "propensity",
        description="how would_buy_without_incentive was decided: propensity (p_buy_within_horizon against the "
        "threshold; no coupon experiment measured yet) or uplift",
    )
    intervals_used: int = 0
    days_since_last_order: float | None = None


def score(
    purchases: Purchases | Iterable[datetime] | None,
    now: datetime,
    prior: Prior,
    horizon_days: float = DEFAULT_HORIZON_DAYS,
    threshold: float = DEFAULT_THRESHOLD,
) -> Scores:
    """Score a customer from their purchase summary (or counted order times), as of ``now``. Pure."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    history = _as_of(purchases, now)
    if history is None:
        return Scores(scored_at=now, insufficient_data=True, horizon_days=horizon_days)
    n = history.repeats
    t = max((now - history.last).total_seconds() / DAY_SECONDS, 0.0)
    span = history.span_days
    k = prior.alpha + n
    scale = prior.beta + span + t  # beta + S + t
    survival = ((scale - t) / scale) ** k  # R = P(gap > t | returns)
    weight = (prior.a + n) * survival
    p_alive = weight / (weight + prior.b)

    r, alpha, a, b = prior.mbg
    counts: dict[float, float] = {}

    def expected(days: float) -> float:
        """E[occasions within ``days``], once per horizon (the default horizon is the 30 days')."""
        days = max(days, 0.0)
        if days not in counts:
            counts[days] = mbg.expected_purchases(r, alpha, a, b, n, span, span + t, days)
        return counts[days]

    def p_buy(days: float) -> float:
        """P(an order within ``days``): 1 - exp(-E[occasions within ``days``]), the Poisson probability of the
        model's expected count, never above P(alive). The model's own P(N >= 1) = P(alive) (1 - (scale / (scale
        + days)) ** k) is better calibrated on its own simulated world, but on real customers (CDNOW,
        docs/predictions.md) it ranks below the expected count and under-predicts, more so the longer the
        horizon."""
        return min(-math.expm1(-expected(days)), p_alive)

    purchases_12m = expected(YEAR_DAYS)
    value = _order_value(history, prior)
    remaining = scale * math.expm1(math.log(2.0) / k) if 1.0 / k < 10 else math.inf
    next_order = now + timedelta(days=remaining) if remaining <= MAX_NEXT_ORDER_DAYS else None
    p_horizon = p_buy(horizon_days)
    return Scores(
        scored_at=now,
        insufficient_data=False,
        churn_risk=1.0 - p_alive,
        p_alive=p_alive,
        expected_next_order_at=next_order,
        p_buy_within_horizon=p_horizon,
        horizon_days=horizon_days,
        p_buy_30d=p_buy(30.0),
        p_buy_90d=p_buy(90.0),
        expected_purchases_12m=_significant(purchases_12m),
        expected_order_value=None if value is None else _significant(value),
        clv_12m=None if value is None else _significant(purchases_12m * value),
        would_buy_without_incentive=p_horizon >= threshold,
        intervals_used=n,
        days_since_last_order=t,
    )


def expected_purchases(
    purchases: Purchases | Iterable[datetime] | None, now: datetime, prior: Prior, days: float
) -> float:
    """Expected purchase occasions in the next ``days`` (0 without an order)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    history = _as_of(purchases, now)
    if history is None:
        return 0.0
    t = max((now - history.last).total_seconds() / DAY_SECONDS, 0.0)
    r, alpha, a, b = prior.mbg
    return mbg.expected_purchases(r, alpha, a, b, history.repeats, history.span_days, history.span_days + t, days)


def _as_of(purchases: Purchases | Iterable[datetime] | None, now: datetime) -> Purchases | None:
    """The history as known at ``now``: bare order times far in the future are dropped, those within the clock
    skew tolerance count as now (a summary cannot drop an order: its occasions are clamped to now)."""
    limit = now + _FUTURE_TOLERANCE
    if purchases is not None and not isinstance(purchases, Purchases):
        times = [at if at.tzinfo is not None else at.replace(tzinfo=UTC) for at in purchases]
        purchases = summarise((min(at, now), 0.0) for at in times if at <= limit)
    history = as_purchases(purchases)
    if history is not None and history.last > now:
        history = history.model_copy(update={"last": now, "first": min(history.first, now)})
    return history


def _order_value(history: Purchases, prior: Prior) -> float | None:
    """The expected value of the customer's next occasion: the spend model's, else the customer's own mean."""
    if prior.has_spend:
        assert prior.spend_p is not None and prior.spend_q is not None and prior.spend_v is not None
        return mbg.expected_value(
            prior.spend_p,
            prior.spend_q,
            prior.spend_v,
            history.repeats if history.mean_repeat_value else 0,
            history.mean_repeat_value,
        )
    total = history.first_value + history.repeat_value
    return total / (history.repeats + 1) if total > 0 else None


def _significant(x: float, digits: int = 3) -> float:
    """``x`` to a few significant digits: a stored estimate, not a measurement (and stable from day to day).
    The expected counts are finite (emma.predict.mbg falls back to a bound where a series does not converge)."""
    if x == 0:
        return 0.0
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


def counted_order_times(profile: Profile) -> list[datetime]:
    """The order times of a live profile's counted orders (those it keeps). A profile merged into another
    contributes nothing (its orders live on in the winner)."""
    if profile.merged_into:
        return []
    return [r.placed_at for r in profile.orders.recent if r.counted]


def profile_purchases(profile: Profile) -> Purchases | None:
    """What the models read of a live profile: its purchase summary (None without a counted order, or merged
    away)."""
    if profile.merged_into:
        return None
    return profile.orders.purchases()


def score_profile(
    profile: Profile,
    now: datetime,
    prior: Prior,
    horizon_days: float = DEFAULT_HORIZON_DAYS,
    threshold: float = DEFAULT_THRESHOLD,
) -> Scores:
    return score(profile_purchases(profile), now, prior, horizon_days, threshold)
