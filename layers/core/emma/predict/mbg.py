"""The Modified BG/NBD purchase model (Batislam, Denizel and Filiztekin 2007) and the Gamma-Gamma spend model
(Fader, Hardie and Lee 2005), in pure Python: likelihoods for the shop fit, conditional expectations for a
customer. Parameters are in the literature's notation here (``r``, ``alpha`` in days, ``a``, ``b``: the
dropout probability after a purchase is Beta(a, b)); ``emma.predict.prior.Prior`` maps them to Emma's.

A customer is summarised by ``x`` repeat purchase occasions, ``t_x`` days from the first to the last and ``T``
days from the first to now. Checked against lifetimes' ModifiedBetaGeoFitter and GammaGammaFitter and scipy's
hyp2f1 in tests/unit/predict/test_mbg.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

HYP2F1_MAX_TERMS = 5000


def log_likelihood(r: float, alpha: float, a: float, b: float, x: float, t_x: float, big_t: float) -> float:
    """One customer's MBG/NBD log-likelihood."""
    return _shared(r, alpha, a, b, x) + _tail(r, a, b, x, math.log(alpha + big_t), math.log(alpha + t_x))


def _shared(r: float, alpha: float, a: float, b: float, x: float) -> float:
    """The part that depends on x only: log Gamma(r+x) alpha^r / Gamma(r) + log B(a, b+x+1) / B(a, b)."""
    return (
        math.lgamma(r + x)
        - math.lgamma(r)
        + r * math.log(alpha)
        + math.lgamma(a + b)
        + math.lgamma(b + x + 1)
        - math.lgamma(b)
        - math.lgamma(a + b + x + 1)
    )


def _tail(r: float, a: float, b: float, x: float, log_at: float, log_atx: float) -> float:
    """log[(alpha+T)^-(r+x) + a/(b+x) (alpha+t_x)^-(r+x)], from log(alpha+T) and log(alpha+t_x)."""
    first = -(r + x) * log_at
    other = math.log(a / (b + x)) - (r + x) * log_atx
    top = first if first > other else other
    return top + math.log(math.exp(first - top) + math.exp(other - top))


def total_log_likelihood(
    r: float, alpha: float, a: float, b: float, cells: Iterable[tuple[float, float, float, float]]
) -> float:
    """Sum over (x, t_x, T, customers) cells, sharing the terms that depend on x or T only."""
    shared: dict[float, float] = {}
    logs: dict[float, float] = {}
    total = 0.0
    for x, t_x, big_t, weight in cells:
        s = shared.get(x)
        if s is None:
            s = shared[x] = _shared(r, alpha, a, b, x)
        lt = logs.get(big_t)
        if lt is None:
            lt = logs[big_t] = math.log(alpha + big_t)
        ltx = logs.get(t_x)
        if ltx is None:
            ltx = logs[t_x] = math.log(alpha + t_x)
        total += weight * (s + _tail(r, a, b, x, lt, ltx))
    return total


def p_alive(r: float, alpha: float, a: float, b: float, x: float, t_x: float, big_t: float) -> float:
    """P(the customer has not dropped out), given the history."""
    ratio = math.log(a / (b + x)) + (r + x) * (math.log(alpha + big_t) - math.log(alpha + t_x))
    if ratio > 700:
        return 0.0
    return 1.0 / (1.0 + math.exp(ratio))


def hyp2f1(a: float, b: float, c: float, z: float) -> float:
    """Gauss' hypergeometric function 2F1(a, b; c; z) for 0 <= z < 1, by its series (positive terms here: a, b,
    c > 0); NaN when it has not converged within HYP2F1_MAX_TERMS terms or overflows."""
    term = total = 1.0
    for n in range(HYP2F1_MAX_TERMS):
        term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
        total += term
        if abs(term) <= 1e-15 * abs(total):
            return total if math.isfinite(total) else math.nan
    return math.nan


def expected_purchases(
    r: float, alpha: float, a: float, b: float, x: float, t_x: float, big_t: float, t: float
) -> float:
    """E[purchase occasions in the next ``t`` days | history] under the MBG/NBD.

    The published closed form, (a+b+x)/(a-1) [1 - 2F1(r+x, b+x+1; a+b+x; z) ((alpha+T)/(alpha+T+t))^(r+x)]
    / [1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x)] with z = t/(alpha+T+t), evaluated through Euler's transform
    2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z), which cancels the large powers and converges fast for
    long histories (where Euler's series would grow, the direct one is summed instead); near a = 1 (a removable
    singularity) the mean of the two sides is used.
    """
    if t <= 0:
        return 0.0
    if abs(a - 1.0) < 1e-4:
        return 0.5 * (
            expected_purchases(r, alpha, 1.0 - 2e-4, b, x, t_x, big_t, t)
            + expected_purchases(r, alpha, 1.0 + 2e-4, b, x, t_x, big_t, t)
        )
    z = t / (alpha + big_t + t)
    c = a + b + x
    if a - r - x - 2.0 > 0:
        # Euler's series would grow like n^(a - r - x - 2) z^n: the direct one shrinks like n^(r + x - a) z^n
        rest = math.exp((r + x) * math.log1p(-z)) * hyp2f1(r + x, b + x + 1.0, c, z)
    else:
        rest = math.exp((a - 1.0) * math.log1p(-z)) * hyp2f1(a + b - r, a - 1.0, c, z)
    alive = p_alive(r, alpha, a, b, x, t_x, big_t)
    if not math.isfinite(rest):  # not converged (z very near 1): the posterior mean rate over t, an upper bound
        return alive * (r + x) / (alpha + big_t) * t
    return max(c / (a - 1.0) * (1.0 - rest) * alive, 0.0)


# ---- Gamma-Gamma ------------------------------------------------------------------------------------


def spend_log_likelihood(p: float, q: float, v: float, x: float, mean: float) -> float:
    """One customer's Gamma-Gamma log-likelihood of the mean value ``mean`` of ``x`` repeat occasions."""
    px = p * x
    return (
        math.lgamma(px + q)
        - math.lgamma(px)
        - math.lgamma(q)
        + q * math.log(v)
        + (px - 1.0) * math.log(mean)
        + px * math.log(x)
        - (px + q) * math.log(x * mean + v)
    )


def expected_value(p: float, q: float, v: float, x: float, mean: float | None) -> float:
    """E[value of a future occasion | x repeat occasions of mean value ``mean``] (q > 1): a weighted mean of
    the shop's mean p v / (q - 1) and the customer's own mean."""
    population = p * v / (q - 1.0)
    if not x or mean is None:
        return population
    weight = p * x / (p * x + q - 1.0)
    return (1.0 - weight) * population + weight * mean
