"""Predictive fields on profiles: churn risk, expected next order, purchase propensity.

``prior`` holds the shop counters and the shop-level prior fitted from them, ``model`` scores one
customer; ``emma_local.lab.predict`` (not shipped to Lambda) checks the method on a seeded shop with
known ground truth. See docs/predictions.md.
"""

from emma.predict.model import Scores, counted_order_times, score, score_profile
from emma.predict.prior import Prior, ShopStats, add_order, contribution, fit_prior, stats_delta

__all__ = [
    "Prior",
    "Scores",
    "ShopStats",
    "add_order",
    "contribution",
    "counted_order_times",
    "fit_prior",
    "score",
    "score_profile",
    "stats_delta",
]
