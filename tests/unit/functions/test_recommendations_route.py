"""GET /v1/profiles/{ref}/recommendations through the ingest handler, with in-memory ports."""

from __future__ import annotations

import json

import pytest

from emma.ingest.service import IngestService
from emma.recommend.build import rebuild
from emma.recommend.service import RecommendationService
from emma.shops import ShopConfig
from emma.wiring.ingest import Intake
from emma_local.fakes import (
    FixedClock,
    InMemoryCatalog,
    InMemoryModelStore,
    InMemoryProfileRepository,
    InMemoryPublisher,
    InMemoryShopHistory,
    StaticShopDirectory,
)
from emma_local.lambdas import LambdaContext, api_event, response_body
from factories import T0, event, order

SHOP = ShopConfig(shop="elektro-emma", name="Elektro Emma", admin_keys=("ak_1",))
AUTH = {"authorization": "Bearer ak_1"}


@pytest.fixture
def world(monkeypatch):
    from ingest import deps

    repo = InMemoryProfileRepository()
    catalog = InMemoryCatalog(repo)
    clock = FixedClock(T0)
    service = IngestService(repo, catalog, InMemoryPublisher(), clock, sleep=lambda s: None)
    models = InMemoryModelStore()
    intake = Intake(service, StaticShopDirectory([SHOP]))
    recommender = RecommendationService(models, catalog, clock)
    monkeypatch.setattr(deps, "intake", lambda: intake)
    monkeypatch.setattr(deps, "recommender", lambda: recommender)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    products = [
        {"product_id": "pixel-9-pro", "name": "Pixel 9 Pro", "category": "smartphones", "price": "999.00"},
        {"product_id": "case-9", "name": "Pixel 9 Pro Case", "price": "39.00", "compatible_with": ["pixel-9-pro"]},
        {
            "product_id": "glass-9",
            "name": "Schutzglas",
            "price": "19.00",
            "tags": ["fits:pixel-9-pro"],
            "in_stock": False,
        },
    ]
    for p in products:
        product = {**p, "currency": "EUR", "url": f"https://e.example/{p['product_id']}"}
        service.ingest(
            [
                event(
                    "catalog.product_upserted",
                    customer={},
                    source="shopify",
                    id=f"p-{p['product_id']}",
                    product=product,
                )
            ]
        )
    phone = [{"product_id": "pixel-9-pro", "category": "smartphones", "price": "999.00"}]
    service.ingest([order("o-1", "999.00", customer={"customer_id": "c-1"}, items=phone)])
    rebuild(InMemoryShopHistory(repo, catalog), models, clock)
    return service


def call(path, query=""):
    from ingest.handler import lambda_handler

    result = lambda_handler(api_event("GET", path, query, AUTH, b""), LambdaContext("ingest"))
    return result["statusCode"], json.loads(response_body(result))


def test_recommendations_with_reasons_in_the_requested_language(world):
    status, body = call("/v1/profiles/cid:c-1/recommendations", "slot=accessories&limit=3&locale=de")
    assert status == 200, body
    assert [i["product_id"] for i in body["items"]] == ["case-9"]  # the glass is out of stock
    item = body["items"][0]
    assert item["reason"] == "Passt zu deinem Pixel 9 Pro" and item["strategy"] == "accessory"
    assert item["price"] and item["url"] == "https://e.example/case-9"
    assert body["excluded"]["out of stock"] == 1
    assert body["upgrade"]["product_id"] == "pixel-9-pro"


def test_unknown_profile_is_404_and_bad_slot_or_limit_400(world):
    assert call("/v1/profiles/cid:nobody/recommendations")[0] == 404
    status, body = call("/v1/profiles/cid:c-1/recommendations", "slot=everything")
    assert status == 400 and "slot" in body["message"]
    assert call("/v1/profiles/cid:c-1/recommendations", "limit=0")[0] == 400
    assert call("/v1/profiles/cid:c-1/recommendations", "limit=13")[0] == 400
