"""The recommendations evaluated on a simulated electronics shop with known preferences (seeded).

``world`` simulates the shop and its customers, ``protocol`` holds out each test customer's last
purchase and scores the recommender against popularity, ``report`` formats the result and is the
command line (``emma recommend evaluate``, or ``python -m emma_local.lab.recommend``). The public
names of all three are importable from here.
"""

from emma_local.lab.recommend.metrics import CoOccurrence, MethodScore, Paired, Tally, paired, popular_baseline
from emma_local.lab.recommend.protocol import BASELINES, DEFAULT_K, HEADLINE_SLOT, Evaluation, evaluate, fold_profile
from emma_local.lab.recommend.report import format_report, main
from emma_local.lab.recommend.world import (
    DEFAULT_CUSTOMERS,
    DEFAULT_PRODUCTS,
    DEFAULT_SEED,
    KIND_BY_NAME,
    KINDS,
    SHOP,
    TOPICS,
    Browsing,
    Kind,
    Mixture,
    Pools,
    SimCustomer,
    SimProduct,
    SimWorld,
    WorldParams,
    order_event,
    simulate_customers,
    simulate_world,
)

__all__ = [
    "BASELINES",
    "DEFAULT_CUSTOMERS",
    "DEFAULT_K",
    "DEFAULT_PRODUCTS",
    "DEFAULT_SEED",
    "HEADLINE_SLOT",
    "KINDS",
    "KIND_BY_NAME",
    "SHOP",
    "TOPICS",
    "Browsing",
    "CoOccurrence",
    "Evaluation",
    "Kind",
    "MethodScore",
    "Mixture",
    "Paired",
    "Pools",
    "SimCustomer",
    "SimProduct",
    "SimWorld",
    "Tally",
    "WorldParams",
    "evaluate",
    "fold_profile",
    "format_report",
    "main",
    "order_event",
    "paired",
    "popular_baseline",
    "simulate_customers",
    "simulate_world",
]
