"""The incentive policy: who gets the coupon a template carries (docs/offers.md#the-incentive-policy). Pure.

A template with a coupon declares ``incentive: always`` or ``incentive: predicted``. Per message the policy
puts the customer into one arm, by a stable hash of shop, template and customer (the shop's customer id, else the
email, else the profile id: the same customer lands in the same arm on every retry and every later message of that
template, also after their profiles merged):

    policy     customer                                  arm (share)                    coupon
    always     anyone                                    control (control_share)        no
                                                         coupon (the rest)              yes
    predicted  predicted NOT to buy without one          control (control_share)        no
                                                         coupon (the rest)              yes
    predicted  predicted to buy without one              explore (explore_share)        yes
                                                         withheld (the rest)            no
    any        a promised reward (coupon.kind: reward)   coupon                         yes

Every arm gets the message (the template's branch without the coupon), so the arms differ by the coupon alone.
Within a band of the purchase probability the prediction is one and the same, so the random arms of a band
give an unbiased contrast of coupon against none: the measurement (emma.analytics) and the uplift estimate
read them per band.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from typing import Any

from emma.offers.config import IncentiveConfig
from emma.offers.model import Arm

BAND_EDGES: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)  # includes the 0.5 threshold
GETS_COUPON: frozenset[str] = frozenset({"coupon", "explore"})


@dataclass(frozen=True)
class IncentiveDecision:
    policy: str
    arm: Arm
    reason: str
    p: float | None = None  # P(order within the horizon) the decision saw; None without predictions
    band: int | None = None  # index into BAND_EDGES
    method: str | None = None  # how would_buy_without_incentive was decided (propensity, uplift)

    @property
    def coupon(self) -> bool:
        return self.arm in GETS_COUPON

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"policy": self.policy, "arm": self.arm}
        if self.p is not None:
            out["p"] = round(self.p, 4)
        if self.band is not None:
            out["band"] = self.band
        if self.method:
            out["method"] = self.method
        return out


def band_of(p: float | None) -> int | None:
    """The band of a probability: i with BAND_EDGES[i] <= p < BAND_EDGES[i + 1] (1.0 in the last band)."""
    if p is None:
        return None
    return min(max(bisect.bisect_right(BAND_EDGES, p) - 1, 0), len(BAND_EDGES) - 2)


def unit_point(*parts: str) -> float:
    """A stable, uniform number in [0, 1) for the parts (the same on every retry, on every machine)."""
    digest = hashlib.sha256("|".join(("incentive", *parts)).encode()).hexdigest()[:13]
    return int(digest, 16) / 16**13


def decide(
    policy: str,
    *,
    shop: str,
    template: str,
    customer: str,
    would_buy: bool | None,
    p: float | None,
    method: str | None,
    config: IncentiveConfig,
    promised: bool = False,
) -> IncentiveDecision:
    """The arm of one customer for one template's coupon. ``customer``: who they are, as stably as known (the shop's
    customer id, else the email, else the profile id: a profile id changes when profiles merge). ``would_buy``: the
    prediction that the customer buys
    within the horizon without an incentive (None: no prediction, which counts as not: nothing says they would).
    ``promised``: a reward the customer was told they earned, never withheld."""
    band = band_of(p)
    if promised:
        return IncentiveDecision(policy, "coupon", "a promised reward is never withheld", p, band, method)
    point = unit_point(shop, template, customer)
    if policy == "always" or not would_buy:
        why = "policy always" if policy == "always" else "predicted not to buy without an incentive"
        if point < config.control_share:
            return IncentiveDecision(
                policy, "control", f"{why}; in the control group ({config.control_share:.0%})", p, band, method
            )
        return IncentiveDecision(policy, "coupon", why, p, band, method)
    if point < config.explore_share:
        return IncentiveDecision(
            policy,
            "explore",
            f"predicted to buy without an incentive; in the exploration group ({config.explore_share:.0%})",
            p,
            band,
            method,
        )
    return IncentiveDecision(policy, "withheld", "predicted to buy without an incentive", p, band, method)
