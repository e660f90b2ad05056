"""A seeded simulated shop with known ground truth, to validate the predictions.

Two generating processes:

* ``pareto_nbd`` (default, deliberately *not* the model's own assumptions): each customer buys at a
  Poisson rate lambda_i ~ Gamma and is lost at an exponential lifetime with rate mu_i ~ Gamma
  (Schmittlein, Morrison & Colombo's Pareto/NBD). Customers can be lost at any time, not only right
  after an order, and frequent buyers are less likely to be lost between two orders.
* ``model``: exactly the model's assumptions (Gamma rates, Beta return probability decided after
  every order), used to check that the prior fit recovers known parameters.

Customers make their first purchase uniformly in the first ``acquisition_days`` of a calibration
window; the system sees the calibration orders only, and the truth is whether each customer is still
active at the end of the calibration window and which orders they place in the holdout window.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SimParams:
    process: Literal["pareto_nbd", "model"] = "pareto_nbd"
    # Purchase rate per day: Gamma(shape, rate) (mean shape / rate).
    rate_shape: float = 0.9
    rate_rate: float = 60.0
    # pareto_nbd: loss rate per day: Gamma(shape, rate).
    loss_shape: float = 1.0
    loss_rate: float = 150.0
    # model: probability of returning after each order: Beta(a, b).
    return_a: float = 1.5
    return_b: float = 1.0
    calibration_days: float = 365.0
    acquisition_days: float = 270.0
    holdout_days: float = 90.0


@dataclass
class SimCustomer:
    customer_id: str
    rate_per_day: float
    alive_at_calibration_end: bool
    calibration_orders: list[datetime] = field(default_factory=list)
    holdout_orders: list[datetime] = field(default_factory=list)


@dataclass
class SimShop:
    seed: int
    params: SimParams
    start: datetime
    calibration_end: datetime
    holdout_end: datetime
    customers: list[SimCustomer]


def simulate_shop(
    customers: int = 5000, seed: int = 1, params: SimParams | None = None, start: datetime = DEFAULT_START
) -> SimShop:
    """Generate a shop; the same seed and parameters always give the same shop."""
    params = params or SimParams()
    rng = random.Random(seed)
    cal_end = params.calibration_days
    end = params.calibration_days + params.holdout_days
    out: list[SimCustomer] = []
    for i in range(customers):
        rate = rng.gammavariate(params.rate_shape, 1.0 / params.rate_rate)
        first = rng.uniform(0.0, params.acquisition_days)
        times = [first]
        if params.process == "pareto_nbd":
            loss = rng.gammavariate(params.loss_shape, 1.0 / params.loss_rate)
            lost_at = first + rng.expovariate(loss)
            stop = min(lost_at, end)
            t = first
            while True:
                t += rng.expovariate(rate)
                if t > stop:
                    break
                times.append(t)
            alive = lost_at > cal_end
        else:
            p = rng.betavariate(params.return_a, params.return_b)
            lost_after = float("inf")  # the order after which the customer did not return
            t = first
            while True:
                if rng.random() >= p:
                    lost_after = t
                    break
                t += rng.expovariate(rate)
                if t > end:
                    break
                times.append(t)
            alive = lost_after > cal_end
        out.append(
            SimCustomer(
                customer_id=f"c{i:06d}",
                rate_per_day=rate,
                alive_at_calibration_end=alive,
                calibration_orders=[start + timedelta(days=x) for x in times if x <= cal_end],
                holdout_orders=[start + timedelta(days=x) for x in times if x > cal_end],
            )
        )
    return SimShop(
        seed=seed,
        params=params,
        start=start,
        calibration_end=start + timedelta(days=cal_end),
        holdout_end=start + timedelta(days=end),
        customers=out,
    )
