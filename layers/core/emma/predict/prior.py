"""The shop prior: what a typical customer of this shop looks like, fitted from counters only.

The per-customer models (``emma.predict.model``) need shop-level numbers: the purchase model's (the
Modified BG/NBD: the Gamma(alpha, beta) distribution of purchase rates across the shop's customers and the
Beta distribution, mean ``p_return`` and concentration ``p_strength``, of the probability that a customer
orders again after an order) and the spend model's (Gamma-Gamma p, q, v). They are fitted by a scheduled job
that must not read every profile, so the fit uses only ``ShopStats``: counters that the profile triggers keep
up to date with atomic ``ADD`` operations.

Each customer *contributes* a fixed set of counter values that is a pure function of their purchase summary
(``contribution``); the shop's counters are the sum of the contributions. When a profile changes, the trigger
adds ``stats_delta(before, after) = contribution(after) - contribution(before)``, so the counters stay exact
whatever the order in which events arrive, for new orders, cancellations and merges alike.

The counters are a histogram of customers by (first-occasion fortnight, last-occasion fortnight, repeat
occasions capped at 12, with the sum of the repeats of the capped cell) and, within each cell, by the mean
value of their repeat occasions on a log scale: enough to compute both models' likelihoods to within a few per
cent of the exact per-customer fit (docs/predictions.md). The fit is maximum likelihood (with a weak prior
towards the defaults, which matters only for small shops). Counters from before the histogram existed
counted customers by first-order month cohort and repeat count; a customer counted there moves to the
histogram at their next change, and until then the cohorts' likelihood joins the histogram's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from emma.predict import mbg
from emma.predict.history import DAY_SECONDS, OCCASION_GAP_DAYS, Purchases, as_purchases, occasions, to_days

__all__ = ["DAY_SECONDS", "OCCASION_GAP_DAYS", "occasions", "to_days"]

REPEAT_CAP = 12  # histograms count 0..11 repeats exactly, the last bucket is "12 or more"
MIN_CUSTOMERS = 100  # below this many customers with an order the default prior is used
MIN_SPEND_CUSTOMERS = 50  # customers with a paid repeat occasion needed to fit the spend model
EXPOSURE_POINTS = 4  # quadrature points across a cohort month (customers joined all month long)
BUCKET_DAYS = 14  # the histogram's time buckets: fortnights since the epoch
VALUE_STEPS = 10  # value buckets per unit of ln(value): steps of about 10 %
VALUE_OFFSET = 200  # value bucket of 1.00 (buckets below 0 are clamped: values under e^-20)

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
SPEND_RANGE = (0.05, 1000.0)  # p, q - 1 and v / mean value stay within this

_COHORT_ATTR = re.compile(r"^cohort_(\d{4})_(\d{2})_(\d+)$")
_CELL_ATTR = re.compile(r"^H#(\d+)#(\d+)\|(k(\d+)|xs|v(\d+)_(\d+)|vx_(\d+))$")
SCALAR_COUNTERS = ("customers_with_orders", "customers_with_repeat", "intervals_count", "intervals_sum_days")
HISTOGRAM_PREFIX = "H#"
CELL_SEPARATOR = "|"  # a histogram counter's name: <cell key>|<counter> (the store keeps a cell per item)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --------------------------------------------------------------------------------------------------
# Counters


def cohort_attr(first_order_day: float, repeats: int) -> str:
    month = datetime.fromtimestamp(first_order_day * DAY_SECONDS, UTC)
    return f"cohort_{month.year:04d}_{month.month:02d}_{min(repeats, REPEAT_CAP)}"


def bucket(day: float) -> int:
    """The histogram's time bucket (fortnights since the epoch) of a day since the epoch."""
    return math.floor(day / BUCKET_DAYS)


def value_bucket(mean_value: float) -> int:
    """The histogram's bucket of a mean occasion value (positive): VALUE_STEPS per unit of ln(value)."""
    return max(round(math.log(mean_value) * VALUE_STEPS) + VALUE_OFFSET, 0)


def cell_key(first_bucket: int, last_bucket: int) -> str:
    """The histogram cell's key: what the store keeps as one item (``H#<first>#<last>``)."""
    return f"{HISTOGRAM_PREFIX}{first_bucket}#{last_bucket}"


def contribution(history: Purchases | Iterable[datetime] | None) -> dict[str, float]:
    """One customer's share of the shop counters, from their purchase summary (or bare order times).

    Histogram entries are named ``H#<first fortnight>#<last fortnight>|<counter>``: ``k<repeats>`` (capped),
    ``xs`` (the repeats summed, capped cell only), ``v<repeats>_<value bucket>`` (customers with a paid
    repeat occasion) and ``vx_<value bucket>`` (their repeats summed, capped cell only).
    """
    purchases = as_purchases(history)
    if purchases is None:
        return {}
    first, last = to_days(purchases.first), to_days(purchases.last)
    repeats = purchases.repeats
    capped = min(repeats, REPEAT_CAP)
    cell = cell_key(bucket(first), bucket(last))
    out: dict[str, float] = {
        "customers_with_orders": 1,
        "customers_with_repeat": 1 if repeats else 0,
        "intervals_count": repeats,
        "intervals_sum_days": last - first,
        f"{cell}{CELL_SEPARATOR}k{capped}": 1,
    }
    if capped == REPEAT_CAP:
        out[f"{cell}{CELL_SEPARATOR}xs"] = repeats
    mean = purchases.mean_repeat_value
    if mean is not None:
        vb = value_bucket(mean)
        out[f"{cell}{CELL_SEPARATOR}v{capped}_{vb}"] = 1
        if capped == REPEAT_CAP:
            out[f"{cell}{CELL_SEPARATOR}vx_{vb}"] = repeats
    return out


def legacy_contribution(order_times: Iterable[datetime]) -> dict[str, float]:
    """What a customer contributed before the histogram existed (the scalars and a first-order month cohort's
    repeat count): the ``before`` of a customer whose counters were added by an older version. Taking it back
    moves the customer from the cohorts to the histogram."""
    purchases = as_purchases(order_times)
    if purchases is None:
        return {}
    out = {k: v for k, v in contribution(purchases).items() if not k.startswith(HISTOGRAM_PREFIX)}
    out[cohort_attr(to_days(purchases.first), purchases.repeats)] = 1
    return out


def diff(old: Mapping[str, float], new: Mapping[str, float]) -> dict[str, int | float]:
    """``new - old`` without zeros: counts as ints, ``intervals_sum_days`` rounded to the microsecond-day."""
    out: dict[str, int | float] = {}
    for key in old.keys() | new.keys():
        delta = new.get(key, 0) - old.get(key, 0)
        if key == "intervals_sum_days":
            delta = round(delta, 6)
            if delta:
                out[key] = delta
        elif delta:
            out[key] = int(delta)
    return out


def stats_delta(
    before: Purchases | Iterable[datetime] | None, after: Purchases | Iterable[datetime] | None
) -> dict[str, int | float]:
    """What to ADD to the shop counters when a customer's purchases go from ``before`` to ``after``.

    Only non-zero entries are returned; counts are ints, ``intervals_sum_days`` a float rounded to
    the microsecond-day (6 decimals). A merged-away profile has ``after == None`` (or ``[]``).
    """
    return diff(contribution(before), contribution(after))


def counter_items(delta: Mapping[str, float]) -> int:
    """How many stored items an ADD of ``delta`` touches: the counters item if a scalar (or a cohort counted
    before the histogram) moves, and each histogram cell's own item."""
    moved = {
        key.partition(CELL_SEPARATOR)[0] if key.startswith(HISTOGRAM_PREFIX) else "" for key, v in delta.items() if v
    }
    return len(moved)


def add_order(previous: Iterable[datetime], order_at: datetime) -> dict[str, int | float]:
    """The delta for one new order appended to a customer's counted orders."""
    previous = list(previous)
    return stats_delta(previous, [*previous, order_at])


class Cell(_Model):
    """Customers of one histogram cell: first and last occasion in the same fortnights."""

    first: int = Field(description="fortnight of the first occasion, since the epoch")
    last: int = Field(description="fortnight of the last occasion")
    counts: list[int] = Field(default_factory=lambda: [0] * (REPEAT_CAP + 1), description="customers by repeats")
    capped_repeats: int = Field(0, description="the repeats of the capped count's customers, summed")
    values: dict[tuple[int, int], int] = Field(
        default_factory=dict, description="(repeats capped, value bucket) -> customers with a paid repeat"
    )
    capped_value_repeats: dict[int, int] = Field(default_factory=dict, description="value bucket -> repeats summed")

    def empty(self) -> bool:
        return (
            not any(self.counts)
            and not self.capped_repeats
            and not any(self.values.values())
            and not any(self.capped_value_repeats.values())
        )


class ShopStats(_Model):
    """The shop's counters. Stored flat (one attribute per counter) so every update is an ``ADD``; the store
    keeps each histogram cell (``H#<first>#<last>|...``) in an item of its own, so an update stays small."""

    customers_with_orders: int = 0
    customers_with_repeat: int = 0
    intervals_count: int = 0
    intervals_sum_days: float = 0.0
    cohorts: dict[str, list[int]] = Field(
        default_factory=dict, description="'YYYY-MM' of first order -> customers by repeat count 0..REPEAT_CAP"
    )
    cells: dict[tuple[int, int], Cell] = Field(
        default_factory=dict, description="(first, last fortnight) -> the customers of that histogram cell"
    )

    def apply(self, delta: Mapping[str, float]) -> ShopStats:
        """Add a delta in place (what DynamoDB's ADD does to the stored items); returns self."""
        for key, value in delta.items():
            if key in SCALAR_COUNTERS:
                setattr(self, key, getattr(self, key) + value)
                continue
            if key.startswith(HISTOGRAM_PREFIX):
                self._apply_cell(key, int(value))
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

    def _apply_cell(self, key: str, value: int) -> None:
        match = _CELL_ATTR.match(key)
        if match is None:
            return
        where = (int(match.group(1)), int(match.group(2)))
        cell = self.cells.get(where) or Cell(first=where[0], last=where[1])
        if match.group(4) is not None:
            cell.counts[min(int(match.group(4)), REPEAT_CAP)] += value
        elif match.group(3) == "xs":
            cell.capped_repeats += value
        elif match.group(5) is not None:
            vkey = (min(int(match.group(5)), REPEAT_CAP), int(match.group(6)))
            cell.values[vkey] = cell.values.get(vkey, 0) + value
            if not cell.values[vkey]:
                del cell.values[vkey]
        else:
            vb = int(match.group(7))
            cell.capped_value_repeats[vb] = cell.capped_value_repeats.get(vb, 0) + value
            if not cell.capped_value_repeats[vb]:
                del cell.capped_value_repeats[vb]
        if cell.empty():
            self.cells.pop(where, None)
        else:
            self.cells[where] = cell

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ShopStats:
        """Read the flat stored attributes (values may be Decimal); unknown attributes are ignored."""
        stats = cls()
        numeric = {k: float(v) for k, v in item.items() if isinstance(k, str) and _is_number(v)}
        for key in SCALAR_COUNTERS:
            if key in numeric:
                value = numeric.pop(key)
                setattr(stats, key, value if key == "intervals_sum_days" else int(value))
        stats.apply({k: v for k, v in numeric.items() if _COHORT_ATTR.match(k) or _CELL_ATTR.match(k)})
        return stats

    def to_item(self) -> dict[str, int | float]:
        """The flat attributes, as the ADD updates build them."""
        out: dict[str, int | float] = {key: getattr(self, key) for key in SCALAR_COUNTERS}
        for month, row in self.cohorts.items():
            year, mon = month.split("-")
            for repeats, count in enumerate(row):
                if count:
                    out[f"cohort_{year}_{mon}_{repeats}"] = count
        for (first, last), cell in self.cells.items():
            name = cell_key(first, last)
            for repeats, count in enumerate(cell.counts):
                if count:
                    out[f"{name}{CELL_SEPARATOR}k{repeats}"] = count
            if cell.capped_repeats:
                out[f"{name}{CELL_SEPARATOR}xs"] = cell.capped_repeats
            for (repeats, vb), count in cell.values.items():
                out[f"{name}{CELL_SEPARATOR}v{repeats}_{vb}"] = count
            for vb, count in cell.capped_value_repeats.items():
                out[f"{name}{CELL_SEPARATOR}vx_{vb}"] = count
        return out

    @property
    def histogram_customers(self) -> int:
        return sum(sum(c for c in cell.counts if c > 0) for cell in self.cells.values())

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
    """Shop-level prior. Rates are per day. ``method`` says which fit made it and ``reason`` why."""

    alpha: float = Field(DEFAULT_ALPHA, gt=0, description="Gamma shape of purchase rates")
    beta: float = Field(DEFAULT_BETA, gt=0, description="Gamma rate of purchase rates, in days")
    p_return: float = Field(DEFAULT_P_RETURN, gt=0, lt=1, description="mean P(orders again after an order)")
    p_strength: float = Field(DEFAULT_P_STRENGTH, gt=0, description="Beta concentration a + b")
    method: Literal["default", "fitted", "cohorts"] = Field(
        "default",
        description="default: too little history; fitted: maximum likelihood on the customer histogram (and on "
        "the cohorts of customers counted before it); cohorts: only customers counted before the histogram",
    )
    reason: str = ""
    customers: int = 0
    fitted_at: datetime | None = None
    spend_p: float | None = Field(None, gt=0, description="Gamma-Gamma p (shape of an occasion's value)")
    spend_q: float | None = Field(None, gt=1, description="Gamma-Gamma q (shape of the customers' mean values)")
    spend_v: float | None = Field(None, gt=0, description="Gamma-Gamma v (scale, in the shop's currency)")
    spend_customers: int = 0

    @property
    def a(self) -> float:
        return self.p_return * self.p_strength

    @property
    def b(self) -> float:
        return (1.0 - self.p_return) * self.p_strength

    @property
    def mean_rate_per_day(self) -> float:
        return self.alpha / self.beta

    @property
    def mbg(self) -> tuple[float, float, float, float]:
        """The MBG/NBD parameters (r, alpha in days, a, b) in the literature's notation (emma.predict.mbg)."""
        return self.alpha, self.beta, self.b, self.a

    @property
    def has_spend(self) -> bool:
        return self.spend_p is not None and self.spend_q is not None and self.spend_v is not None

    @property
    def mean_occasion_value(self) -> float | None:
        """The shop's expected value of a repeat occasion under the spend model."""
        if not self.has_spend:
            return None
        assert self.spend_p is not None and self.spend_q is not None and self.spend_v is not None
        return self.spend_p * self.spend_v / (self.spend_q - 1.0)


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
    """The cohorts' multinomial log-likelihood plus the weak prior towards the defaults."""
    alpha, beta, p, strength = _unpack(theta)
    total = cohort_log_likelihood(alpha, beta, p * strength, (1.0 - p) * strength, data)
    centre = _pack(DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_P_RETURN, DEFAULT_P_STRENGTH)
    return total - 0.5 * sum(((x - c) / PRIOR_SD) ** 2 for x, c in zip(theta, centre, strict=True))


def cohort_log_likelihood(
    alpha: float, beta: float, a: float, b: float, data: list[tuple[list[float], list[int]]]
) -> float:
    """The first-order month cohorts' repeat counts, each cohort a multinomial over 0..11, 12+ repeats."""
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
    return total


def histogram_cells(stats: ShopStats, as_of_day: float) -> list[tuple[float, float, float, float]]:
    """The histogram as (x repeats, t_x days first to last, T days first to now, customers) for the likelihood:
    times at the fortnights' middles (the current fortnight's customers at half its elapsed part; first and last
    in the same fortnight a third of it apart, the mean gap of two points in it)."""
    out: list[tuple[float, float, float, float]] = []
    half = BUCKET_DAYS / 2.0
    for (first, last), cell in sorted(stats.cells.items()):
        start = first * BUCKET_DAYS
        big_t = as_of_day - start - half if as_of_day - start >= BUCKET_DAYS else (as_of_day - start) / 2.0
        big_t = max(big_t, 0.5)
        span = (last - first) * BUCKET_DAYS if last != first else BUCKET_DAYS / 3.0
        for repeats, count in enumerate(cell.counts):
            if count <= 0:
                continue
            x = float(repeats)
            if repeats == REPEAT_CAP:
                x = max(cell.capped_repeats / count, float(REPEAT_CAP))
            t_x = 0.0 if repeats == 0 else min(span, big_t)
            out.append((x, t_x, big_t, float(count)))
    return out


def ml_log_posterior(
    theta: list[float],
    cells: list[tuple[float, float, float, float]],
    cohorts: list[tuple[list[float], list[int]]] | None = None,
) -> float:
    """MBG/NBD log-likelihood of the histogram, plus that of the first-order month cohorts' repeat counts of the
    customers counted before the histogram existed (disjoint customers: the likelihoods add), plus the weak
    prior towards the defaults."""
    alpha, beta, p, strength = _unpack(theta)
    a, b = p * strength, (1.0 - p) * strength
    total = mbg.total_log_likelihood(alpha, beta, b, a, cells) if cells else 0.0
    if cohorts:
        total += cohort_log_likelihood(alpha, beta, a, b, cohorts)
    centre = _pack(DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_P_RETURN, DEFAULT_P_STRENGTH)
    return total - 0.5 * sum(((x - c) / PRIOR_SD) ** 2 for x, c in zip(theta, centre, strict=True))


def spend_cells(stats: ShopStats) -> list[tuple[float, float, float]]:
    """(x repeats, mean value of a repeat occasion, customers) of the customers with a paid repeat."""
    grouped: dict[tuple[float, int], float] = {}
    for cell in stats.cells.values():
        capped = {vb: c for (k, vb), c in cell.values.items() if k == REPEAT_CAP}
        for (repeats, vb), count in cell.values.items():
            if count <= 0:
                continue
            x = float(repeats)
            if repeats == REPEAT_CAP:
                x = max(cell.capped_value_repeats.get(vb, 0) / capped[vb], float(REPEAT_CAP))
            grouped[(x, vb)] = grouped.get((x, vb), 0.0) + count
    return [(x, math.exp((vb - VALUE_OFFSET) / VALUE_STEPS), n) for (x, vb), n in sorted(grouped.items())]


def fit_spend(cells: list[tuple[float, float, float]]) -> tuple[float, float, float] | None:
    """Gamma-Gamma (p, q, v) by maximum likelihood, None with fewer than MIN_SPEND_CUSTOMERS customers."""
    customers = sum(n for _, _, n in cells)
    if customers < MIN_SPEND_CUSTOMERS:
        return None
    scale = sum(m * n for _, m, n in cells) / customers  # values relative to the shop's mean, for the search

    def unpack(theta: list[float]) -> tuple[float, float, float]:
        p = _clamp(math.exp(theta[0]), *SPEND_RANGE)
        q = 1.0 + _clamp(math.exp(theta[1]), *SPEND_RANGE)
        v = _clamp(math.exp(theta[2]), *SPEND_RANGE)
        return p, q, v

    def loss(theta: list[float]) -> float:
        p, q, v = unpack(theta)
        return -sum(n * mbg.spend_log_likelihood(p, q, v, x, m / scale) for x, m, n in cells)

    best = nelder_mead(loss, [math.log(4.0), math.log(3.0), math.log(3.0)])
    best = nelder_mead(loss, best)
    p, q, v = unpack(best)
    return p, q, v * scale


def fit_prior(stats: ShopStats, as_of: datetime) -> Prior:
    """Fit the shop prior from its counters as of ``as_of``.

    The purchase model by maximum likelihood on the histogram (with the weak prior towards the defaults) and,
    for customers counted before the histogram existed, their first-order month cohorts' repeat counts (they
    move to the histogram at their next change); with fewer than MIN_CUSTOMERS customers with an order, the
    documented default prior.
    The spend model by maximum likelihood on the customers with a paid repeat occasion, when there are
    MIN_SPEND_CUSTOMERS of them.
    """
    customers = max(stats.customers_with_orders, 0)
    counted = stats.histogram_customers
    if customers < MIN_CUSTOMERS:
        reason = f"{customers} customers with an order, fewer than the {MIN_CUSTOMERS} a fit needs"
        return Prior(customers=customers, fitted_at=as_of, reason=reason)
    as_of_day = to_days(as_of)
    start = _pack(DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_P_RETURN, DEFAULT_P_STRENGTH)
    if stats.intervals_count:
        # Start the rate scale at the shop's observed mean repeat interval.
        mean_gap = stats.intervals_sum_days / stats.intervals_count
        start[1] = math.log(_clamp(DEFAULT_ALPHA * mean_gap, *BETA_RANGE))
    cells = histogram_cells(stats, as_of_day)
    cohorts = [
        (_cohort_exposures(month, as_of_day), [max(c, 0) for c in row])
        for month, row in sorted(stats.cohorts.items())
        if sum(max(c, 0) for c in row) > 0
    ]
    legacy = sum(sum(counts) for _, counts in cohorts)
    best = nelder_mead(lambda th: -ml_log_posterior(th, cells, cohorts), start)
    best = nelder_mead(lambda th: -ml_log_posterior(th, cells, cohorts), best)  # restart: escapes a collapse
    method: Literal["fitted", "cohorts"] = "fitted" if counted else "cohorts"
    reason = f"maximum likelihood on the histogram of {counted} customers"
    if legacy:
        reason = (
            f"maximum likelihood on the histogram of {counted} customers and the first-order month cohorts' "
            f"repeat counts of {legacy} counted before it existed"
        )
    alpha, beta, p, strength = _unpack(best)
    spend_data = spend_cells(stats)
    spend = fit_spend(spend_data)
    return Prior(
        alpha=alpha,
        beta=beta,
        p_return=p,
        p_strength=strength,
        method=method,
        reason=reason,
        customers=customers,
        fitted_at=as_of,
        spend_p=spend[0] if spend else None,
        spend_q=spend[1] if spend else None,
        spend_v=spend[2] if spend else None,
        spend_customers=int(sum(n for _, _, n in spend_data)),
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
