"""Does a coupon pay, per band of the purchase probability? The incentive need measured by uplift. Pure.

The incentive policy (``emma.offers.policy``) puts every customer a coupon template reaches into an arm by a
stable hash: ``coupon`` / ``control`` for those predicted NOT to buy without an incentive (and everyone under
``incentive: always``), ``explore`` / ``withheld`` for those predicted to buy anyway. From the arms' counters per
band of ``p_buy_within_horizon`` (``policy.BAND_EDGES``) this module estimates, per band, what the coupon adds:

    treated = coupon + explore (got the coupon),  untreated = control + withheld (the same message without it)
    delta   = conv_T - conv_C                                    conversions the coupon adds, per customer
    v       = margin * (grpc_T - grpc_C) - (dpc_T - dpc_C)       what a coupon earns per treated customer
    grpc    = (revenue + discount) / customers                   gross revenue per customer (before the coupon)
    dpc     = discount / customers                               the coupon's cost per customer

and decides the band: ``needed`` (a coupon pays there, so customers of the band would NOT buy without one, as
far as it matters) iff ``v > 0``, with both arms of the contrast at least ``min_per_arm`` customers; a band
without that much data has no decision and the propensity (``p >= threshold``) decides as before.

**Why the contrast is unbiased.** Within a band, with one threshold (or one uplift table), every customer has
the same prediction, so the arm depends on the hash of (shop, template, customer) alone, never on the customer:
``coupon`` against ``control`` is a randomised experiment among the band's customers predicted not to buy, and
``explore`` against ``withheld`` one among those predicted to buy. The threshold 0.5 is a band edge, so under the
propensity method a band holds one pair of arms only.

**Both pairs in one band.** A band can hold both pairs when the prediction changed while the counters ran (a
new threshold, or an uplift table that turned the band around: ``needed`` bands get coupon/control, the others
explore/withheld, which is what keeps every band measured). The two pairs then come from different customers
(different times) and give the coupon to very different shares (90 % against 5 %), so pooling all treated
against all untreated would confound the pair with the coupon (Simpson's paradox). Each pair is therefore a
contrast of its own, and the band's estimate is their weighted mean with the Cochran-Mantel-Haenszel weights
``w = n_T n_C / (n_T + n_C)`` (a pair with fewer than ``min_per_arm`` customers in an arm is left out). The
interval of the weighted mean is the MOVER combination (Zou & Donner 2008) of the pairs' Newcombe intervals,
``L = sum c d - sqrt(sum c^2 (d - l)^2)`` with ``c = w / sum w``: for one pair it is Newcombe's interval itself.

**The value's interval** comes from the conversion's: ``v_low = v - margin * (delta - delta_low) * gross value
per converted customer`` (both arms), likewise ``v_high``; the order value is taken as known, the conversion's
noise dominates at these counts. ``rule`` says which number decides: ``point`` (``v > 0``), ``lower``
(``v_low > 0``: a coupon only where it surely pays; saves the most) or ``upper`` (``v_high > 0``: withheld only
where it surely does not pay; keeps the most conversions).

**Revenue** in Emma's arm counters is what the customers paid (the order total, after the coupon's discount),
so the gross value of the treated arm adds the discount back: a coupon order at margin ``m`` earns
``m * gross - discount``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from emma.analytics.stats import newcombe
from emma.offers.policy import BAND_EDGES, band_of

METHOD = "uplift-bands/1"
DEFAULT_MARGIN = 0.30  # gross margin on the orders' value before the discount
DEFAULT_MIN_PER_ARM = 200  # customers in each arm of a contrast before a band is decided
PAIRS: tuple[tuple[str, str], ...] = (("coupon", "control"), ("explore", "withheld"))
Rule = Literal["point", "lower", "upper"]
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class ArmCounts:
    """One arm's counters in one band: customers messaged, customers with an order in the window, their orders,
    what they paid (after the coupon's discount) and the coupon discounts granted."""

    customers: int
    converted: int
    orders: int = 0
    revenue: float = 0.0
    discount: float = 0.0

    def __post_init__(self) -> None:  # counters read from DynamoDB arrive as Decimal
        object.__setattr__(self, "customers", int(self.customers))
        object.__setattr__(self, "converted", int(self.converted))
        object.__setattr__(self, "orders", int(self.orders))
        object.__setattr__(self, "revenue", float(self.revenue))
        object.__setattr__(self, "discount", float(self.discount))
        if self.customers < 0 or not 0 <= self.converted <= self.customers:
            raise ValueError(f"arm counts need 0 <= converted <= customers, got {self}")

    @classmethod
    def of(cls, value: ArmCounts | Mapping[str, Any]) -> ArmCounts:
        if isinstance(value, ArmCounts):
            return value
        return cls(**{k: value[k] for k in ("customers", "converted", "orders", "revenue", "discount") if k in value})

    def __add__(self, other: ArmCounts) -> ArmCounts:
        return ArmCounts(
            self.customers + other.customers,
            self.converted + other.converted,
            self.orders + other.orders,
            self.revenue + other.revenue,
            self.discount + other.discount,
        )


_EMPTY = ArmCounts(0, 0)


class PairUplift(BaseModel):
    """One randomised contrast inside a band (coupon against control, or explore against withheld)."""

    model_config = ConfigDict(frozen=True)

    treated_arm: str
    untreated_arm: str
    treated: int
    untreated: int
    weight: float = Field(description="Cochran-Mantel-Haenszel weight n_T n_C / (n_T + n_C), 0 when left out")
    conversion_treated: float | None = None
    conversion_untreated: float | None = None
    lift: float | None = None
    lift_low: float | None = None
    lift_high: float | None = None
    value: float | None = None


class BandUplift(BaseModel):
    """One band's estimate: the conversions a coupon adds and what it earns per treated customer."""

    model_config = ConfigDict(frozen=True)

    band: int
    low: float
    high: float
    status: Literal["measured", "no_data"]
    treated: int = Field(description="customers given the coupon (coupon + explore)")
    untreated: int = Field(description="customers given the message without it (control + withheld)")
    lift: float | None = Field(None, description="conversion with the coupon minus without, per customer")
    lift_low: float | None = None
    lift_high: float | None = None
    value: float | None = Field(None, description="margin on the added gross revenue less the discounts, per treated")
    value_low: float | None = None
    value_high: float | None = None
    needed: bool | None = Field(None, description="the coupon pays in this band (by the table's rule); None: no data")
    pairs: tuple[PairUplift, ...] = ()


class UpliftTable(BaseModel):
    """Per band of the purchase probability: does the coupon pay? Serialisable (``model_dump(mode="json")``)."""

    model_config = ConfigDict(frozen=True)

    method: str = METHOD
    computed_at: datetime
    margin: float
    min_per_arm: int
    rule: Rule = "point"
    band_edges: tuple[float, ...] = BAND_EDGES
    bands: tuple[BandUplift, ...]

    def band(self, p: float | None) -> BandUplift | None:
        """The band a probability falls in (None without a probability or with other band edges)."""
        index = band_of(p)
        if index is None or tuple(self.band_edges) != BAND_EDGES:
            return None
        return next((b for b in self.bands if b.band == index), None)

    @property
    def measured(self) -> tuple[int, ...]:
        return tuple(b.band for b in self.bands if b.status == "measured")


def _rate(k: int, n: int) -> float | None:
    return k / n if n else None


def _pair(
    treated_arm: str, untreated_arm: str, t: ArmCounts, c: ArmCounts, margin: float, min_per_arm: int, z: float
) -> tuple[PairUplift, tuple[float, float, float, float, float, float] | None]:
    """The pair's summary and, when both arms have ``min_per_arm`` customers: (lift, its bounds, value, its
    bounds)."""
    usable = t.customers >= min_per_arm and c.customers >= min_per_arm and t.customers > 0 and c.customers > 0
    summary = PairUplift(
        treated_arm=treated_arm,
        untreated_arm=untreated_arm,
        treated=t.customers,
        untreated=c.customers,
        weight=t.customers * c.customers / (t.customers + c.customers) if usable else 0.0,
        conversion_treated=_rate(t.converted, t.customers),
        conversion_untreated=_rate(c.converted, c.customers),
    )
    if not usable:
        return summary, None
    lift = t.converted / t.customers - c.converted / c.customers
    interval = newcombe(t.converted, t.customers, c.converted, c.customers, z)
    gross_t, gross_c = t.revenue + t.discount, c.revenue + c.discount
    value = margin * (gross_t / t.customers - gross_c / c.customers) - (
        t.discount / t.customers - c.discount / c.customers
    )
    converters = t.converted + c.converted
    per_converter = (gross_t + gross_c) / converters if converters else 0.0
    value_low = value - margin * (lift - interval.low) * per_converter
    value_high = value + margin * (interval.high - lift) * per_converter
    summary = summary.model_copy(
        update={"lift": lift, "lift_low": interval.low, "lift_high": interval.high, "value": value}
    )
    return summary, (lift, interval.low, interval.high, value, value_low, value_high)


def _mover(estimates: list[tuple[float, float, float]], weights: list[float]) -> tuple[float, float, float]:
    """The weighted mean of independent estimates (point, low, high) and its MOVER interval."""
    total = sum(weights)
    c = [w / total for w in weights]
    point = sum(ci * e[0] for ci, e in zip(c, estimates, strict=True))
    low = point - math.sqrt(sum((ci * (e[0] - e[1])) ** 2 for ci, e in zip(c, estimates, strict=True)))
    high = point + math.sqrt(sum((ci * (e[2] - e[0])) ** 2 for ci, e in zip(c, estimates, strict=True)))
    return point, low, high


def _decide(rule: Rule, value: float, low: float, high: float) -> bool:
    return {"point": value, "lower": low, "upper": high}[rule] > 0


def estimate(
    counts: Mapping[int, Mapping[str, ArmCounts | Mapping[str, Any]]],
    computed_at: datetime,
    *,
    margin: float = DEFAULT_MARGIN,
    min_per_arm: int = DEFAULT_MIN_PER_ARM,
    rule: Rule = "point",
    alpha: float = 0.05,
) -> UpliftTable:
    """The uplift table from the arms' counters per band (band index -> arm name -> counts; arms missing are
    empty). Every band of ``BAND_EDGES`` is in the table, those without a usable contrast as ``no_data``."""
    if not 0.0 <= margin <= 1.0:
        raise ValueError(f"margin must be between 0 and 1, got {margin}")
    if min_per_arm < 1:
        raise ValueError(f"min_per_arm must be at least 1, got {min_per_arm}")
    if rule not in ("point", "lower", "upper"):
        raise ValueError(f"rule must be point, lower or upper, got {rule!r}")
    z = _Z95 if alpha == 0.05 else _z(alpha)
    bands: list[BandUplift] = []
    for index in range(len(BAND_EDGES) - 1):
        arms = {name: ArmCounts.of(value) for name, value in (counts.get(index) or {}).items()}
        pairs, usable, weights = [], [], []
        for treated_arm, untreated_arm in PAIRS:
            summary, figures = _pair(
                treated_arm,
                untreated_arm,
                arms.get(treated_arm, _EMPTY),
                arms.get(untreated_arm, _EMPTY),
                margin,
                min_per_arm,
                z,
            )
            pairs.append(summary)
            if figures is not None:
                usable.append(figures)
                weights.append(summary.weight)
        treated = sum(arms.get(a, _EMPTY).customers for a, _ in PAIRS)
        untreated = sum(arms.get(a, _EMPTY).customers for _, a in PAIRS)
        common = {
            "band": index,
            "low": BAND_EDGES[index],
            "high": BAND_EDGES[index + 1],
            "treated": treated,
            "untreated": untreated,
            "pairs": tuple(pairs),
        }
        if not usable:
            bands.append(BandUplift(status="no_data", **common))
            continue
        lift, lift_low, lift_high = _mover([f[0:3] for f in usable], weights)
        value, value_low, value_high = _mover([f[3:6] for f in usable], weights)
        bands.append(
            BandUplift(
                status="measured",
                lift=lift,
                lift_low=lift_low,
                lift_high=lift_high,
                value=value,
                value_low=value_low,
                value_high=value_high,
                needed=_decide(rule, value, value_low, value_high),
                **common,
            )
        )
    return UpliftTable(computed_at=computed_at, margin=margin, min_per_arm=min_per_arm, rule=rule, bands=tuple(bands))


def _z(alpha: float) -> float:
    from statistics import NormalDist

    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    return NormalDist().inv_cdf(1 - alpha / 2)


def incentive_need(
    p: float | None, table: UpliftTable | None, threshold: float = 0.5
) -> tuple[bool | None, str | None]:
    """``(would_buy_without_incentive, incentive_method)`` for a purchase probability ``p``: where the table has
    measured ``p``'s band, ``(not needed, "uplift")``; else the propensity, ``(p >= threshold, "propensity")``;
    without a probability ``(None, None)`` (no prediction: the policy treats that as not buying)."""
    if p is None:
        return None, None
    band = table.band(p) if table is not None else None
    if band is not None and band.status == "measured" and band.needed is not None:
        return (not band.needed), "uplift"
    return p >= threshold, "propensity"


class _Scored(Protocol):
    p_buy_within_horizon: float | None
    insufficient_data: bool

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Any: ...


S = TypeVar("S", bound=_Scored)


def apply(scores: S, table: UpliftTable | None, threshold: float = 0.5) -> S:
    """The scores with ``would_buy_without_incentive`` and ``incentive_method`` decided by the uplift table where
    it has measured the customer's band (``emma.predict.model.Scores``; kept free of that import so that
    ``predict.model`` can call this module)."""
    if scores.insufficient_data:
        return scores
    would_buy, method = incentive_need(scores.p_buy_within_horizon, table, threshold)
    if would_buy is None:
        return scores
    return scores.model_copy(update={"would_buy_without_incentive": would_buy, "incentive_method": method})


def counts_from_dict(data: Mapping[Any, Mapping[str, Mapping[str, Any]]]) -> dict[int, dict[str, ArmCounts]]:
    """Counters as JSON or DynamoDB give them (band keys as strings) into ``estimate``'s input."""
    return {int(band): {arm: ArmCounts.of(value) for arm, value in arms.items()} for band, arms in data.items()}
