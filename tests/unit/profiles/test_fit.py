"""A profile stays within one store item whatever its customer sends (issue 12: no size breaks a write)."""

from __future__ import annotations

from emma.ingest.service import IngestService
from emma.profiles.fit import PROFILE_BUDGET_BYTES, fit_profile, profile_bytes
from emma_local.fakes import FixedClock, InMemoryCatalog, InMemoryProfileRepository, InMemoryPublisher
from factories import T0, event, order

LONG = "x" * 500


def _heavy_orders(n: int, lines: int = 50) -> list:
    """Orders of 50 lines each, every product id, category and brand 500+ characters."""
    out = []
    for i in range(n):
        products = [
            {"product_id": f"{LONG}-{i}-{j}", "category": f"{LONG}-c{j}", "brand": f"{LONG}-b{j}", "quantity": 1}
            for j in range(lines)
        ]
        out.append(order(f"o-{i}", "10.00", customer={"customer_id": "u1"}, id=f"order-{i}", items=products))
    return out


def test_orders_of_long_named_products_never_break_the_customers_writes():
    """Before: the profile grew past 400 KB and every later write for this customer answered 500."""
    repo = InMemoryProfileRepository()
    service = IngestService(repo, InMemoryCatalog(repo), InMemoryPublisher(), FixedClock(T0), sleep=lambda s: None)
    for chunk in range(0, 40, 4):
        report = service.ingest(_heavy_orders(40)[chunk : chunk + 4])
        assert len(report.accepted) == 4
    profile = service.resolve("elektro-emma", "cid:u1")
    assert profile_bytes(profile) <= PROFILE_BUDGET_BYTES
    assert profile.orders.count == 40 and profile.orders.revenue == 400  # aggregates stay exact
    assert profile.orders.recent[-1].order_id == "o-39"  # the newest orders are the ones kept
    later = service.ingest([event("page.viewed", id="after", customer={"customer_id": "u1"}, path="/")])
    assert later.accepted == ["after"]


def test_a_profile_that_fits_is_left_alone():
    repo = InMemoryProfileRepository()
    service = IngestService(repo, InMemoryCatalog(repo), InMemoryPublisher(), FixedClock(T0), sleep=lambda s: None)
    service.ingest(_heavy_orders(2, lines=3))
    profile = service.resolve("elektro-emma", "cid:u1")
    before = profile.model_dump()
    assert fit_profile(profile) == {} and profile.model_dump() == before
