"""The shop prior: what a typical customer of this shop looks like, fitted from counters only.

The per-customer model (``emma.predict.model``) needs four shop-level numbers: the Gamma(alpha, beta)
distribution of purchase rates across the shop's customers and the Beta distribution (mean
``p_return``, concentration ``p_strength``) of the probability that a customer orders again after an
order. They are fitted by a scheduled job that must not read every profile, so the fit uses only
``ShopStats``: counters that the profile triggers keep up to date with atomic ``ADD`` operations.

Each customer *contributes* a fixed set of counter values that is a pure function of their counted
order times (``contribution``); the shop's counters are the sum of the contributions. When a profile
changes, the trigger adds ``stats_delta(before, after) = contribution(after) - contribution(before)``,
so the counters stay exact whatever the order in which events arrive, for new orders, cancellations
and merges alike.

The fit is a maximum a posteriori estimate on "repeat purchases by acquisition cohort": for every
month of first purchase, the histogram of how many repeat purchase occasions its customers have made
so far. Under the model the number of repeats of a customer acquired ``T`` days ago is
``min(K, N(T))`` (``N`` a Poisson-Gamma count, ``K`` a Beta-geometric number of returns), whose
distribution has a closed form; cohorts of different ages separate slow buyers from lost ones. See
docs/predictions.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DAY_SECONDS = 86400.0
OCCASION_GAP_DAYS = 0.5  # an order less than 12 h after the previous purchase occasion joins it
REPEAT_CAP = 12  # cohort histograms count 0..11 repeats exactly, the last bucket is "12 or more"
MIN_CUSTOMERS = 100  # below this many customers with an order the default prior is used
EXPOSURE_POINTS = 4  # quadrature points across a cohort month (customers joined all month long)

# Default prior (documented in docs/predictions.md): one purchase every ~90 days for the typical
# repeat customer, with wide heterogeneity, and a 45 % chance of returning after a first order.
DEFAULT_ALPHA = 1.0
DEFAULT_BETA = 90.0
DEFAULT_P_RETURN = 0.45
DEFAULT_P_STRENGTH = 2.0
# Weak regularisation of the fit towards the defaults (standard deviation on the log/logit scale).
PRIOR_SD = 1.5
# Clamps keeping the fit in a sane region.
ALPHA_RANGE = (0.05, 50.0)
BETA_RANGE = (1.0, 5000.0)
P_RETURN_RANGE = (0.02, 0.98)
P_STRENGTH_RANGE = (0.2, 500.0)

_COHORT_ATTR = re.compile(r"^cohort_(\d{4})_(\d{2})_(\d+)$")
SCALAR_COUNTERS = ("customers_with_orders", "customers_with_repeat", "intervals_count", "intervals_sum_days")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --------------------------------------------------------------------------------------------------
# Purchase occasions


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


def cohort_attr(first_order_day: float, repeats: int) -> str:
    month = datetime.fromtimestamp(first_order_day * DAY_SECONDS, UTC)
    return f"cohort_{month.year:04d}_{month.month:02d}_{min(repeats, REPEAT_CAP)}"


# --------------------------------------------------------------------------------------------------
# Counters


def contribution(order_times: Iterable[datetime]) -> dict[str, float]:
    """One customer's share of the shop counters, from their counted order times."""
    occ = occasions(to_days(t) for t in order_times)
    if not occ:
        return {}
    repeats = len(occ) - 1
    return {
        "customers_with_orders": 1,
        "customers_with_repeat": 1 if repeats else 0,
        "intervals_count": repeats,
        "intervals_sum_days": occ[-1] - occ[0],
        cohort_attr(occ[0], repeats): 1,
    }


def stats_delta(before: Iterable[datetime], after: Iterable[datetime]) -> dict[str, int | float]:
    """What to ADD to the shop counters when a customer's counted orders go from ``before`` to ``after``.

    Only non-zero entries are returned; counts are ints, ``intervals_sum_days`` a float rounded to
    the microsecond-day (6 decimals). A merged-away profile has ``after == []``.
    """
    old, new = contribution(before), contribution(after)
    out: dict[str, int | float] = {}
    for key in old.keys() | new.keys():
        diff = new.get(key, 0) - old.get(key, 0)
        if key == "intervals_sum_days":
            diff = round(diff, 6)
            if diff:
                out[key] = diff
        elif diff:
            out[key] = int(diff)
    return out


def add_order(previous: Iterable[datetime], order_at: datetime) -> dict[str, int | float]:
    """The delta for one new order appended to a customer's counted orders."""
    previous = list(previous)
    return stats_delta(previous, [*previous, order_at])


class ShopStats(_Model):
    """The shop's counters. Stored flat (one attribute per counter) so every update is an ``ADD``."""

    customers_with_orders: int = 0
    customers_with_repeat: int = 0
    intervals_count: int = 0
    intervals_sum_days: float = 0.0
    cohorts: dict[str, list[int]] = Field(
        default_factory=dict, description="'YYYY-MM' of first order -> customers by repeat count 0..REPEAT_CAP"
    )

    def apply(self, delta: Mapping[str, float]) -> ShopStats:
        """Add a delta in place (what DynamoDB's ADD does to the stored item); returns self."""
        for key, value in delta.items():
            if key in SCALAR_COUNTERS:
                setattr(self, key, getattr(self, key) + value)
                continue
            match = _COHORT_ATTR.match(key)
            if match is None:
                continue
            month = f"{match.group(1)}-{match.group(2)}"
            row = self.cohorts.setdefault(month, [0] * (REPEAT_CAP + 1))
            row[min(int(match.group(3)), REPEAT_CAP)] += int(value)
            if not any(row):
                del self.cohorts[month]
        return self

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ShopStats:
        """Read the flat stored item (values may be Decimal); unknown attributes are ignored."""
        stats = cls()
        numeric = {k: float(v) for k, v in item.items() if isinstance(k, str) and _is_number(v)}
        for key in SCALAR_COUNTERS:
            if key in numeric:
                value = numeric.pop(key)
                setattr(stats, key, value if key == "intervals_sum_days" else int(value))
        stats.apply({k: v for k, v in numeric.items() if _COHORT_ATTR.match(k)})
        return stats

    def to_item(self) -> dict[str, int | float]:
        """The flat attributes, as the ADD updates build them."""
        out: dict[str, int | float] = {key: getattr(self, key) for key in SCALAR_COUNTERS}
        for month, row in self.cohorts.items():
            year, mon = month.split("-")
            for repeats, count in enumerate(row):
                if count:
                    out[f"cohort_{year}_{mon}_{repeats}"] = count
        return out

    @property
    def mean_interval_days(self) -> float | None:
        return self.intervals_sum_days / self.intervals_count if self.intervals_count else None


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


# --------------------------------------------------------------------------------------------------
# The prior and its fit


class Prior(_Model):
    """Shop-level prior. Rates are per day."""

    alpha: float = Field(DEFAULT_ALPHA, gt=0, description="Gamma shape of purchase rates")
    beta: float = Field(DEFAULT_BETA, gt=0, description="Gamma rate of purchase rates, in days")
    p_return: float = Field(DEFAULT_P_RETURN, gt=0, lt=1, description="mean P(orders again after an order)")
    p_strength: float = Field(DEFAULT_P_STRENGTH, gt=0, description="Beta concentration a + b")
    method: Literal["default", "fitted"] = "default"
    customers: int = 0
    fitted_at: datetime | None = None

    @property
    def a(self) -> float:
        return self.p_return * self.p_strength

    @property
    def b(self) -> float:
        return (1.0 - self.p_return) * self.p_strength

    @property
    def mean_rate_per_day(self) -> float:
        return self.alpha / self.beta


def default_prior() -> Prior:
    return Prior()


def repeat_distribution(
    exposure_days: float, alpha: float, beta: float, a: float, b: float, cap: int = REPEAT_CAP
) -> list[float]:
    """P(repeats = k) for k = 0..cap-1 and P(repeats >= cap), ``exposure_days`` after a first order.

    repeats = min(K, N): N ~ NBD(alpha, beta/(beta+T)) purchase opportunities, K Beta-geometric
    returns with P(K >= k) = E[p^k], p ~ Beta(a, b).
    """
    t = max(exposure_days, 0.0)
    q = t / (beta + t)
    pn = math.exp(alpha * math.log(beta / (beta + t)))  # P(N = 0)
    tail = 1.0  # P(N >= k)
    pk = 1.0  # E[p^k]
    out: list[float] = []
    for k in range(cap):
        after = tail - pn  # P(N > k)
        if after < 0.0:
            after = 0.0
        out.append(pn * pk + after * pk * b / (a + b + k))
        tail = after
        pk *= (a + k) / (a + b + k)
        pn *= (alpha + k) / (k + 1) * q
    out.append(max(tail, 0.0) * pk)
    return out


def _cohort_exposures(month: str, as_of_day: float) -> list[float]:
    year, mon = (int(x) for x in month.split("-"))
    start = to_days(datetime(year, mon, 1, tzinfo=UTC))
    end = to_days(datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC))
    end = min(end, as_of_day)
    if end <= start:
        return [0.0]
    width = end - start
    return [as_of_day - (start + (j + 0.5) / EXPOSURE_POINTS * width) for j in range(EXPOSURE_POINTS)]


def _unpack(theta: list[float]) -> tuple[float, float, float, float]:
    alpha = _clamp(math.exp(theta[0]), *ALPHA_RANGE)
    beta = _clamp(math.exp(theta[1]), *BETA_RANGE)
    p = _clamp(1.0 / (1.0 + math.exp(-theta[2])), *P_RETURN_RANGE)
    strength = _clamp(math.exp(theta[3]), *P_STRENGTH_RANGE)
    return alpha, beta, p, strength


def _pack(alpha: float, beta: float, p: float, strength: float) -> list[float]:
    return [math.log(alpha), math.log(beta), math.log(p / (1.0 - p)), math.log(strength)]


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def log_posterior(theta: list[float], data: list[tuple[list[float], list[int]]]) -> float:
    """Cohort multinomial log-likelihood plus the weak prior towards the defaults."""
    alpha, beta, p, strength = _unpack(theta)
    a, b = p * strength, (1.0 - p) * strength
    total = 0.0
    for exposures, counts in data:
        probs = [0.0] * (REPEAT_CAP + 1)
        for t in exposures:
            for k, pk in enumerate(repeat_distribution(t, alpha, beta, a, b)):
                probs[k] += pk
        n = len(exposures)
        for k, count in enumerate(counts):
            if count:
                total += count * math.log(max(probs[k] / n, 1e-300))
    centre = _pack(DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_P_RETURN, DEFAULT_P_STRENGTH)
    total -= 0.5 * sum(((x - c) / PRIOR_SD) ** 2 for x, c in zip(theta, centre, strict=True))
    return total


def fit_prior(stats: ShopStats, as_of: datetime) -> Prior:
    """Fit the shop prior from its counters as of ``as_of`` (MAP, Nelder-Mead on 4 parameters).

    With fewer than MIN_CUSTOMERS customers with an order, the documented default prior is returned.
    """
    if stats.customers_with_orders < MIN_CUSTOMERS:
        return Prior(customers=max(stats.customers_with_orders, 0), fitted_at=as_of)
    as_of_day = to_days(as_of)
    data = [
        (_cohort_exposures(month, as_of_day), [max(c, 0) for c in row])
        for month, row in sorted(stats.cohorts.items())
        if sum(max(c, 0) for c in row) > 0
    ]
    start = _pack(DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_P_RETURN, DEFAULT_P_STRENGTH)
    if stats.intervals_count:
        # Start the rate scale at the shop's observed mean repeat interval.
        mean_gap = stats.intervals_sum_days / stats.intervals_count
        start[1] = math.log(_clamp(DEFAULT_ALPHA * mean_gap, *BETA_RANGE))
    best = nelder_mead(lambda th: -log_posterior(th, data), start)
    best = nelder_mead(lambda th: -log_posterior(th, data), best)  # restart: escapes a collapsed simplex
    alpha, beta, p, strength = _unpack(best)
    return Prior(
        alpha=alpha,
        beta=beta,
        p_return=p,
        p_strength=strength,
        method="fitted",
        customers=stats.customers_with_orders,
        fitted_at=as_of,
    )


def nelder_mead(f, x0: list[float], step: float = 0.5, max_iter: int = 800, tol: float = 1e-9) -> list[float]:
    """Minimise ``f`` from ``x0`` (plain Nelder-Mead; deterministic)."""
    dim = len(x0)
    simplex = [list(x0)]
    for i in range(dim):
        point = list(x0)
        point[i] += step
        simplex.append(point)
    values = [f(p) for p in simplex]
    for _ in range(max_iter):
        order = sorted(range(dim + 1), key=values.__getitem__)
        simplex = [simplex[i] for i in order]
        values = [values[i] for i in order]
        if abs(values[-1] - values[0]) <= tol * (abs(values[0]) + 1e-12):
            break
        centroid = [sum(p[i] for p in simplex[:-1]) / dim for i in range(dim)]
        worst = simplex[-1]
        reflected = [c + (c - w) for c, w in zip(centroid, worst, strict=True)]
        fr = f(reflected)
        if fr < values[0]:
            expanded = [c + 2.0 * (c - w) for c, w in zip(centroid, worst, strict=True)]
            fe = f(expanded)
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            inside = fr >= values[-1]
            target = worst if inside else reflected
            contracted = [c + 0.5 * (t - c) for c, t in zip(centroid, target, strict=True)]
            fc = f(contracted)
            if fc < min(fr, values[-1]):
                simplex[-1], values[-1] = contracted, fc
            else:
                best = simplex[0]
                simplex = [best] + [[b + 0.5 * (x - b) for b, x in zip(best, p, strict=True)] for p in simplex[1:]]
                values = [values[0]] + [f(p) for p in simplex[1:]]
    return simplex[min(range(dim + 1), key=values.__getitem__)]
