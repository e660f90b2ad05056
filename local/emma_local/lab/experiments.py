"""A simulated shop whose truth is known, measured by Emma's own analytics: does the experiment readout
recover the true lift?

Customers enter the newsletter-interest journey and its split assigns them as the journeys do
(``emma.journeys.service.split_variant``, the same deterministic pick). Each arm has a true conversion
rate; a converting customer orders once (sometimes twice) within the window after assignment, at a
log-normal order value. Noise the readout must ignore: orders after the experiment window, and orders of
customers before they were assigned. Every event goes through the analytics consumer
(``AnalyticsService.on_event``) into a store, and the readout is the reports' (``Reports.experiments``):
the same code as deployed, with the in-memory store in place of DynamoDB so that 20,000 customers take
seconds, not minutes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from emma.analytics.reports import Experiment, Reports
from emma.analytics.service import AnalyticsService
from emma.events.model import parse_event
from emma.journeys.definitions import Journey, SplitStep
from emma.journeys.service import split_variant
from emma.resources import JOURNEYS_SOURCE
from emma.shops import ShopConfig
from emma_local.fakes.analytics import InMemoryAnalyticsStore
from emma_local.fakes.shops import StaticShopDirectory

SHOP = "lab-shop"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
JOURNEY = "newsletter-interest"
TRUE_RATES = {"interests": 0.060, "digest": 0.045, "holdout": 0.030}  # within 30 days of assignment
LATE_RATE = 0.05  # orders 35 to 60 days after assignment: outside the window, never the experiment's
EARLY_RATE = 0.02  # orders before assignment: not the experiment's either
REPEAT = 0.2
MU, SIGMA = 4.0, 0.6  # order value, log-normal


@dataclass(frozen=True)
class LabResult:
    customers: int
    truth: dict[str, float]  # arm -> true conversion rate
    experiment: Experiment

    def true_lift(self, arm: str) -> float:
        return self.truth[arm] - self.truth[self.experiment.control]

    def recovered(self) -> dict[str, bool]:
        """Per arm other than the control: is the true lift inside the readout's 95 % interval?"""
        out = {}
        for a in self.experiment.arms:
            if a.is_control or a.lift_abs_ci is None:
                continue
            low, high = a.lift_abs_ci
            out[a.name] = low <= self.true_lift(a.name) <= high
        return out


def _journey(root: Path) -> Journey:
    from emma.journeys.loader import load_journeys
    from emma.rules.loader import load_definitions

    return next(j for j in load_journeys(root, load_definitions(root)) if j.id == JOURNEY)


def run_lab(root: Path, customers: int = 20_000, seed: int = 15) -> LabResult:
    journey = _journey(root)
    step = next(s for s in journey.steps if isinstance(s, SplitStep))
    rates = {v.name: TRUE_RATES[v.name] for v in step.split}
    rnd = random.Random(seed)
    store = InMemoryAnalyticsStore()
    service = AnalyticsService(store, StaticShopDirectory([ShopConfig(shop=SHOP, timezone="UTC")]))
    orders = 0

    def send(type_: str, at: datetime, profile: str, props: dict, event_id: str) -> None:
        event = parse_event(
            {
                "id": event_id,
                "type": type_,
                "shop": SHOP,
                "occurred_at": at.isoformat(),
                "received_at": at.isoformat(),
                "source": {"kind": "emma", "name": "lab"},
                "customer": {"profile_id": profile, "customer_id": profile},
                "properties": props,
            }
        )
        service.on_event(event, source=JOURNEYS_SOURCE if type_.startswith("journey.") else None)

    def order(profile: str, at: datetime) -> None:
        nonlocal orders
        orders += 1
        value = Decimal(str(round(rnd.lognormvariate(MU, SIGMA), 2)))
        props = {"order_id": f"o{orders}", "total": str(value), "currency": "EUR"}
        send("order.placed", at, profile, props, f"lab:order:{orders}")

    for n in range(customers):
        profile = f"p_lab_{n:06d}"
        assigned = T0 + timedelta(minutes=n)
        if rnd.random() < EARLY_RATE:
            order(profile, assigned - timedelta(days=rnd.uniform(1, 60)))
        variant = split_variant(step.split, profile, f"{journey.id}:{step.id}")
        props = {"journey": journey.id, "execution": f"lab-{n}", "step": step.id}
        props |= {"variant": variant.name, "holdout": variant.holdout}
        send("journey.split", assigned, profile, props, f"lab:split:{n}")
        if rnd.random() < rates[variant.name]:
            order(profile, assigned + timedelta(days=rnd.uniform(0, 29.5)))
            if rnd.random() < REPEAT:
                order(profile, assigned + timedelta(days=rnd.uniform(0, 29.5)))
        if rnd.random() < LATE_RATE:
            order(profile, assigned + timedelta(days=rnd.uniform(35, 60)))
    report = Reports(store, [journey]).experiments(SHOP, 30, journey.id)
    return LabResult(customers, rates, report.experiments[0])


def describe(result: LabResult) -> list[str]:
    e = result.experiment
    lines = [
        f"  A simulated shop: {result.customers:,} customers through {e.journey}'s split {e.step!r}, true conversion "
        + ", ".join(f"{arm} {100 * rate:.1f} %" for arm, rate in result.truth.items())
        + "; orders before assignment or after the 30-day window are noise the readout must ignore"
    ]
    recovered = result.recovered()
    for a in e.arms:
        if a.is_control:
            lines.append(
                f"    {a.name:<10} control: {a.customers:>6,} customers, measured {100 * a.conversion_rate:.2f} % "
                f"(true {100 * result.truth[a.name]:.2f} %)"
            )
            continue
        low, high = a.lift_abs_ci or (float("nan"), float("nan"))
        verdict = "recovered" if recovered.get(a.name) else "MISSED"
        lines.append(
            f"    {a.name:<10} {a.customers:>6,} customers: true lift {100 * result.true_lift(a.name):+.2f} pts, "
            f"measured {100 * (a.lift_abs or 0):+.2f} pts (95 % CI {100 * low:+.2f} to {100 * high:+.2f}), "
            f"p = {a.p_value:.3g}, P(beat control) {100 * (a.prob_beat_control or 0):.0f} %: {verdict}"
        )
    lines.append(f"    {e.note}")
    return lines
