"""In-memory implementations of the ports, with the same conditions as the AWS adapters, one module
per port family.

Used by unit tests (network blocked), the CPU benchmark, the lab (emma_local.lab) and the template
preview; never by the Lambda functions (so they are not in the Lambda layer). Thread-safe: a commit
is atomic under one lock, exactly like a DynamoDB transaction.
"""

from emma_local.fakes.campaigns import InMemoryCampaignRuns, ListRequestQueue, RecordingExecutions
from emma_local.fakes.clock import FixedClock
from emma_local.fakes.dispatch import (
    InMemoryCapStore,
    InMemoryDeferrals,
    InMemoryLinks,
    InMemoryMessageLog,
    ListQueue,
    RecordingSender,
)
from emma_local.fakes.journeys import InMemoryJourneyStore
from emma_local.fakes.offers import InMemoryCodePool, InMemoryCoupons, RecordingCouponProvider
from emma_local.fakes.profiles import InMemoryCatalog, InMemoryProfileRepository
from emma_local.fakes.publisher import InMemoryPublisher
from emma_local.fakes.recommend import InMemoryModelStore, InMemoryShopHistory
from emma_local.fakes.rules import InMemoryRulesStore
from emma_local.fakes.shops import StaticShopDirectory

__all__ = [
    "FixedClock",
    "InMemoryCampaignRuns",
    "InMemoryCapStore",
    "InMemoryCatalog",
    "InMemoryCodePool",
    "InMemoryCoupons",
    "InMemoryDeferrals",
    "InMemoryJourneyStore",
    "InMemoryLinks",
    "InMemoryMessageLog",
    "InMemoryModelStore",
    "InMemoryProfileRepository",
    "InMemoryPublisher",
    "InMemoryRulesStore",
    "InMemoryShopHistory",
    "ListQueue",
    "ListRequestQueue",
    "RecordingCouponProvider",
    "RecordingExecutions",
    "RecordingSender",
    "StaticShopDirectory",
]
