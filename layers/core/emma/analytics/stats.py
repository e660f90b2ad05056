"""The statistics of a journey's split: per arm, and each arm against the control.

A ``split`` step assigns customers to arms (A/B/n, optionally a holdout that gets no message).
Analytics keeps cumulative counters per arm (``ArmStats``); ``readout`` turns them into what a
marketer needs to decide, in pure Python (this ships in the Lambda layer: no numpy, no scipy).

- **Conversion rate** with its **Wilson score interval**: unlike the textbook Wald interval
  (p +- z*sqrt(p(1-p)/n)), it stays inside [0, 1], is not zero-width at 0 or n conversions, and
  keeps close to its nominal coverage at the small counts a new campaign has.
- **Absolute lift** (arm rate minus control rate) with **Newcombe's hybrid score interval**
  (Newcombe 1998, method 10), built from the two Wilson intervals; it inherits their good
  behaviour at small counts, where the Wald interval of a difference covers far too rarely.
- **Relative lift** (rate ratio - 1) with the **Katz log interval** of the risk ratio; undefined
  (None) when either arm has no conversion.
- **p-value** of the two-sided two-proportion z-test with pooled variance, which equals the
  chi-squared test of the 2x2 table without continuity correction; an arm is ``significant``
  when p < alpha. Across all arms, the **k x 2 chi-squared test** of independence says whether the
  arms differ at all (Braze picks winners with a chi-squared test).
- **Probability to beat control**: the Bayesian view Klaviyo shows, P(rate_arm > rate_control)
  under independent Beta(1 + converted, 1 + not converted) posteriors (uniform priors), computed
  exactly with Evan Miller's closed-form sum, or with a normal approximation of the two posteriors
  when every form of the sum would be longer than ``EXACT_TERMS``.
- **Revenue per customer** difference with the **Welch** interval and t-test (unequal variances),
  the means and variances coming from the sums of revenue and of revenue squared.
- **Incrementality**: against a holdout, (rpc_arm - rpc_control) * customers_arm is the revenue the
  messages made; less the discounts the arm granted, what they earned (is a coupon for everyone
  worth it against a coupon only for those who need one?).
- **Sample size**: customers per arm for 80 % power to detect the observed difference at alpha.

Intervals are at the level 1 - alpha (95 % by default), so that "significant" and "the interval
excludes no difference" speak the same language. A table without any variation (no conversions
at all, or all converted) has p = 1, as Fisher's exact test gives it: the data show no difference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist

EXACT_TERMS = 20_000  # the longest Evan Miller sum computed; beyond, the normal approximation
_N = NormalDist()
_EPS = 1e-15
_TINY = 1e-300


@dataclass(frozen=True)
class ArmStats:
    """One arm's counters since assignment (``converted``: customers with an order in the window)."""

    name: str
    customers: int
    converted: int
    orders: int = 0
    revenue: float = 0.0
    revenue_sq: float = 0.0  # sum over customers of their revenue squared
    unsubscribed: int = 0
    discount: float = 0.0
    holdout: bool = False

    def __post_init__(self) -> None:  # counters read from DynamoDB arrive as Decimal
        for name in ("customers", "converted", "orders", "unsubscribed"):
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("revenue", "revenue_sq", "discount"):
            object.__setattr__(self, name, float(getattr(self, name)))


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high


@dataclass(frozen=True)
class ArmReadout:
    """One arm's figures; the ones versus control are None for the control or where undefined."""

    name: str
    customers: int
    converted: int
    conversion_rate: float
    conversion_ci: Interval
    revenue_per_customer: float
    unsubscribe_rate: float
    holdout: bool
    is_control: bool
    discount_cost: float = 0.0
    lift_abs: float | None = None
    lift_abs_ci: Interval | None = None
    lift_rel: float | None = None
    lift_rel_ci: Interval | None = None
    p_value: float | None = None
    significant: bool = False
    prob_beat_control: float | None = None
    revenue_diff: float | None = None
    revenue_diff_ci: Interval | None = None
    revenue_p_value: float | None = None
    incremental_revenue: float | None = None
    net_incremental: float | None = None
    sample_size_needed: int | None = None
    more_customers_needed: int | None = None


@dataclass(frozen=True)
class ExperimentReadout:
    control: str
    arms: tuple[ArmReadout, ...]
    alpha: float
    chi_square: float
    chi_square_p: float
    winner: str | None
    note: str

    def arm(self, name: str) -> ArmReadout:
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise KeyError(name)


# --- special functions ------------------------------------------------------------------------


def _lbeta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz, Numerical Recipes 6.4)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 100_000):
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        for aa in (even, odd):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + aa / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float, y: float | None = None) -> float:
    """The regularized incomplete beta function I_x(a, b); ``y`` = 1 - x when known more exactly."""
    y = 1.0 - x if y is None else y
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    front = math.exp(a * math.log(x) + b * math.log(y) - _lbeta(a, b))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, y) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom."""
    if t < 0:
        return 1.0 - t_sf(-t, df)
    return 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t), t * t / (df + t * t))


def t_ppf(p: float, df: float) -> float:
    """The inverse CDF of Student's t: Newton's method on ``t_sf``, kept inside a bisection bracket."""
    if not 0.0 < p < 1.0 or not df > 0:
        raise ValueError(f"t_ppf needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    if df > 1e5:  # Cornish-Fisher expansion around the normal quantile, exact to ~1e-12 here
        z = _N.inv_cdf(p)
        return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df * df)
    q, sign = (p, -1.0) if p < 0.5 else (1.0 - p, 1.0)
    if q == 0.5:
        return 0.0
    lo, hi = 0.0, max(1.0, _N.inv_cdf(1.0 - q))
    while t_sf(hi, df) > q:
        lo, hi = hi, hi * 2.0
    x = hi
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    for _ in range(300):
        sf = t_sf(x, df)
        lo, hi = (x, hi) if sf > q else (lo, x)
        pdf = math.exp(log_norm - (df + 1) / 2 * math.log1p(x * x / df))
        step = x + (sf - q) / pdf if pdf > 0 else lo - 1.0
        nxt = step if lo < step < hi else (lo + hi) / 2.0
        if abs(nxt - x) <= 1e-14 * x:
            break
        x = nxt
    return sign * x


def chi2_sf(x: float, df: float) -> float:
    """P(X > x) for chi-squared with ``df`` degrees of freedom: the regularized upper incomplete
    gamma function Q(df/2, x/2), by its series below a + 1 and its continued fraction above."""
    a, x = df / 2.0, x / 2.0
    if x <= 0.0:
        return 1.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        n = a
        while abs(term) > abs(total) * _EPS:
            n += 1.0
            term *= x / n
            total += term
        return max(0.0, 1.0 - total * math.exp(log_front))
    b, c, d = x + 1.0 - a, 1.0 / _TINY, 1.0 / (x + 1.0 - a)
    h = d
    for i in range(1, 100_000):
        an, b = -i * (i - a), b + 2.0
        d = an * d + b
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = b + an / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        if abs(d * c - 1.0) < _EPS:
            break
    return math.exp(log_front) * h


# --- proportions ------------------------------------------------------------------------------


def wilson(k: int, n: int, z: float = 1.959963984540054) -> Interval:
    """Wilson score interval of k successes in n (the whole of [0, 1] when n = 0)."""
    if n == 0:
        return Interval(0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(0.0 if k == 0 else max(0.0, centre - half), 1.0 if k == n else min(1.0, centre + half))


def newcombe(k1: int, n1: int, k2: int, n2: int, z: float = 1.959963984540054) -> Interval:
    """Newcombe's hybrid score interval (method 10) of p1 - p2, from the two Wilson intervals."""
    p1, p2 = k1 / n1, k2 / n2
    w1, w2 = wilson(k1, n1, z), wilson(k2, n2, z)
    d = p1 - p2
    return Interval(d - math.hypot(p1 - w1.low, w2.high - p2), d + math.hypot(w1.high - p1, p2 - w2.low))


def katz_ratio(k1: int, n1: int, k2: int, n2: int, z: float = 1.959963984540054) -> Interval | None:
    """Katz log interval of the risk ratio (k1/n1) / (k2/n2); None when either k is 0."""
    if k1 == 0 or k2 == 0:
        return None
    log_rr = math.log(k1 / n1) - math.log(k2 / n2)
    se = math.sqrt(max(0.0, 1 / k1 - 1 / n1 + 1 / k2 - 1 / n2))
    return Interval(math.exp(log_rr - z * se), math.exp(log_rr + z * se))


def two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p of the pooled two-proportion z-test (= the 2x2 chi-squared test, uncorrected)."""
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0.0:
        return 1.0
    return math.erfc(abs(k1 / n1 - k2 / n2) / se / math.sqrt(2.0))


def chi_square(counts: Sequence[tuple[int, int]]) -> tuple[float, float]:
    """The k x 2 chi-squared test of independence (no continuity correction) of (converted,
    customers) pairs: the statistic and its p-value with k - 1 df. Rows without customers are left
    out; without two rows or without variation it is (0.0, 1.0)."""
    rows = [(k, n) for k, n in counts if n > 0]
    total_n, total_k = sum(n for _, n in rows), sum(k for k, _ in rows)
    if len(rows) < 2 or total_k in (0, total_n):
        return 0.0, 1.0
    rate = total_k / total_n
    stat = sum((k - n * rate) ** 2 / (n * rate * (1 - rate)) for k, n in rows)
    return stat, chi2_sf(stat, len(rows) - 1)


def _miller(a1: int, b1: int, a2: int, b2: int) -> float:
    """P(X > Y), X ~ Beta(a1, b1), Y ~ Beta(a2, b2), integer a1: Evan Miller's sum of a1 terms."""
    base = _lbeta(a2, b2)
    return math.fsum(math.exp(_lbeta(a2 + i, b1 + b2) - math.log(b1 + i) - _lbeta(1 + i, b1) - base) for i in range(a1))


def prob_beat(a1: int, b1: int, a2: int, b2: int) -> float:
    """P(X > Y) for independent X ~ Beta(a1, b1), Y ~ Beta(a2, b2) with integer parameters.

    By symmetry (1 - X ~ Beta(b1, a1), and P(X > Y) = 1 - P(Y > X)) the sum can run over a1, a2, b1
    or b2 terms: the shortest is taken, so few conversions (or few non-conversions) are always
    exact. Beyond ``EXACT_TERMS`` terms the two posteriors are approximated by normal distributions.
    """
    forms = [(a1, False, (a1, b1, a2, b2)), (a2, True, (a2, b2, a1, b1))]
    forms += [(b2, False, (b2, a2, b1, a1)), (b1, True, (b1, a1, b2, a2))]
    terms, complement, params = min(forms, key=lambda f: f[0])
    if terms > EXACT_TERMS:
        m1, m2 = a1 / (a1 + b1), a2 / (a2 + b2)
        v1 = a1 * b1 / ((a1 + b1) ** 2 * (a1 + b1 + 1))
        v2 = a2 * b2 / ((a2 + b2) ** 2 * (a2 + b2 + 1))
        return _N.cdf((m1 - m2) / math.sqrt(v1 + v2))
    p = _miller(*params)
    return min(1.0, max(0.0, 1.0 - p if complement else p))


def sample_size(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Customers per arm for ``power`` to detect p1 vs p2 with a two-sided test at ``alpha``."""
    if p1 == p2:
        return None
    za, zb = _N.inv_cdf(1 - alpha / 2), _N.inv_cdf(power)
    pbar = (p1 + p2) / 2
    root = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(root**2 / (p1 - p2) ** 2)


# --- revenue ----------------------------------------------------------------------------------


def mean_var(n: int, total: float, total_sq: float) -> tuple[float, float]:
    """Mean and sample variance (n - 1) from n, the sum and the sum of squares (n >= 2)."""
    mean = total / n
    var = (total_sq - total * mean) / (n - 1)
    return mean, 0.0 if var <= 1e-12 * total_sq / n else var


def welch(m1: float, v1: float, n1: int, m2: float, v2: float, n2: int, alpha: float = 0.05) -> tuple[Interval, float]:
    """Welch's interval (level 1 - alpha) of m1 - m2 and the two-sided p of Welch's t-test; with no
    variance at all the difference is certain: a zero-width interval, p = 1 if it is 0, else 0."""
    d = m1 - m2
    s1, s2 = v1 / n1, v2 / n2
    se = math.sqrt(s1 + s2)
    if se == 0.0:
        return Interval(d, d), 1.0 if d == 0 else 0.0
    df = (s1 + s2) ** 2 / (s1 * s1 / (n1 - 1) + s2 * s2 / (n2 - 1))
    half = t_ppf(1 - alpha / 2, df) * se
    return Interval(d - half, d + half), min(1.0, 2 * t_sf(abs(d) / se, df))


# --- the readout ------------------------------------------------------------------------------


def readout(arms: Sequence[ArmStats], control: str | None = None, alpha: float = 0.05) -> ExperimentReadout:
    """Every arm's figures against the control: ``control`` by name, else the first holdout arm,
    else the first arm. The winner is the best converting arm significantly better than control."""
    _validate(arms, control, alpha)
    if control is not None:
        ctrl = next(a for a in arms if a.name == control)
    else:
        ctrl = next((a for a in arms if a.holdout), arms[0])
    z = _N.inv_cdf(1 - alpha / 2)
    out = tuple(_arm(a, ctrl, alpha, z) for a in arms)
    stat, p = chi_square([(a.converted, a.customers) for a in arms])
    better = [a for a in out if a.significant and (a.lift_abs or 0) > 0]
    winner = max(better, key=lambda a: a.conversion_rate).name if better else None
    return ExperimentReadout(ctrl.name, out, alpha, stat, p, winner, _note(ctrl.name, out, winner, alpha))


def _validate(arms: Sequence[ArmStats], control: str | None, alpha: float) -> None:
    if len(arms) < 2:
        raise ValueError(f"an experiment needs at least 2 arms, got {len(arms)}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    names = [a.name for a in arms]
    if len(set(names)) < len(names):
        raise ValueError(f"arm names must be unique, got {names}")
    if control is not None and control not in names:
        raise ValueError(f"unknown control arm {control!r}: the arms are {names}")
    for a in arms:
        if min(a.customers, a.converted, a.orders, a.unsubscribed) < 0 or a.revenue_sq < 0:
            raise ValueError(f"arm {a.name!r}: counts must not be negative: {a}")
        if a.converted > a.customers or a.unsubscribed > a.customers:
            raise ValueError(f"arm {a.name!r}: converted and unsubscribed can't exceed customers: {a}")


def _arm(a: ArmStats, c: ArmStats, alpha: float, z: float) -> ArmReadout:
    n, k = a.customers, a.converted
    rate, rpc = (k / n, a.revenue / n) if n else (0.0, 0.0)
    base = ArmReadout(
        a.name, n, k, rate, wilson(k, n, z), rpc, a.unsubscribed / n if n else 0.0, a.holdout,
        a is c, a.discount,
    )  # fmt: skip
    if a is c or n == 0 or c.customers == 0:
        return base
    nc, kc = c.customers, c.converted
    rate_c, rpc_c = kc / nc, c.revenue / nc
    rr = katz_ratio(k, n, kc, nc, z)
    p = two_proportion_p(k, n, kc, nc)
    needed = sample_size(rate, rate_c, alpha)
    revenue_ci = revenue_p = None
    if n >= 2 and nc >= 2:
        m1, v1 = mean_var(n, a.revenue, a.revenue_sq)
        m2, v2 = mean_var(nc, c.revenue, c.revenue_sq)
        revenue_ci, revenue_p = welch(m1, v1, n, m2, v2, nc, alpha)
    incremental = (rpc - rpc_c) * n
    return replace(
        base,
        lift_abs=rate - rate_c,
        lift_abs_ci=newcombe(k, n, kc, nc, z),
        lift_rel=rate / rate_c - 1 if kc else None,
        lift_rel_ci=Interval(rr.low - 1, rr.high - 1) if rr else None,
        p_value=p,
        significant=p < alpha,
        prob_beat_control=prob_beat(1 + k, 1 + n - k, 1 + kc, 1 + nc - kc),
        revenue_diff=rpc - rpc_c,
        revenue_diff_ci=revenue_ci,
        revenue_p_value=revenue_p,
        incremental_revenue=incremental,
        net_incremental=incremental - a.discount,
        sample_size_needed=needed,
        more_customers_needed=None if needed is None else max(0, needed - min(n, nc)),
    )


def _note(control: str, arms: Sequence[ArmReadout], winner: str | None, alpha: float) -> str:
    """One line in plain English: the winner, or the best arm so far and what is missing."""
    compared = [a for a in arms if a.lift_abs is not None]
    if not compared:
        return f"No comparison yet: {control} or every other arm has no customers."
    best = next((a for a in compared if a.name == winner), None) or max(compared, key=lambda a: a.lift_abs or 0)
    lift, ci = best.lift_abs or 0.0, best.lift_abs_ci or Interval(0.0, 0.0)
    p = 1.0 if best.p_value is None else best.p_value
    size = (
        f"{abs(lift) * 100:.1f} points {'better' if lift > 0 else 'worse'} than"
        if round(lift * 100, 1)
        else "as well as"
    )
    p_text = "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"
    text = (
        f"{best.name} converts {size} {control} "
        f"({(1 - alpha) * 100:g}% CI {ci.low * 100:.1f} to {ci.high * 100:.1f}), {p_text}"
    )
    if winner:
        return text
    if best.significant:
        return f"No arm beats {control}: {text}"
    more = best.more_customers_needed
    return f"No arm beats {control} significantly yet: {text}" + (
        f"; about {more:,} more customer{'s' if more > 1 else ''} per arm would show a difference this size"
        if more
        else ""
    )
