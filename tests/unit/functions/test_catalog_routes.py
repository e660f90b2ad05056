"""PUT /v1/catalog/products through the ingest handler, with in-memory ports."""

from __future__ import annotations

import pytest

from ingest.routes.catalog import import_event_id

ADMIN = {"authorization": "Bearer ak_1"}
PATH = "/v1/catalog/products"
PHONE = {
    "product_id": "pixel-9-pro",
    "sku": "GGL-PX9P-128-OBS",
    "name": "Google Pixel 9 Pro 128 GB",
    "category": "smartphones",
    "brand": "Google",
    "price": "1099.00",
    "currency": "EUR",
    "url": "https://elektro-emma.example/p/pixel-9-pro",
    "in_stock": True,
    "tags": ["5G", "Android"],
}
CASE = {
    "product_id": "case-9",
    "name": "Schutzhülle Pixel 9 Pro",
    "category": "accessories",
    "brand": "Google",
    "price": 49,
    "currency": "EUR",
    "url": "https://elektro-emma.example/p/case-9",
    "compatible_with": ["pixel-9-pro"],
}
CONTRACT = {"product_id": "telekom-magenta-m", "name": "MagentaMobil M", "partner": "Telekom", "tags": ["contract"]}


def products(world):
    return {pid: p for (shop, pid), p in world["service"].catalog.products.items() if shop == "elektro-emma"}


def test_imports_products_into_the_catalog_and_publishes_them(api, world):
    status, body = api.call("PUT", PATH, {"products": [PHONE, CASE, CONTRACT]}, ADMIN)
    assert status == 200, body
    assert body == {"received": 3, "stored": 3, "duplicates": 0}
    stored = products(world)
    assert stored["case-9"]["compatible_with"] == ["pixel-9-pro"]
    assert stored["telekom-magenta-m"]["partner"] == "Telekom"
    assert stored["pixel-9-pro"]["in_stock"] is True
    published = world["publisher"].published
    assert [e.type for e in published] == ["catalog.product_upserted"] * 3
    assert published[0].source.kind == "emma" and published[0].source.name == "catalog-import"
    assert published[0].id == import_event_id(published[0].properties.product)
    assert published[0].id.startswith("import:") and len(published[0].id) == len("import:") + 32


def test_reimporting_the_same_products_counts_duplicates(api, world):
    api.call("PUT", PATH, {"products": [PHONE, CASE]}, ADMIN)
    # the same content spelled differently (price 49 vs 49.00, key order) is the same product
    same_case = {**dict(reversed(CASE.items())), "price": "49.00"}
    status, body = api.call("PUT", PATH, {"products": [PHONE, same_case]}, ADMIN)
    assert status == 200 and body == {"received": 2, "stored": 0, "duplicates": 2}
    assert len(world["publisher"].published) == 2


def test_a_changed_product_is_an_update(api, world):
    api.call("PUT", PATH, {"products": [PHONE, CASE]}, ADMIN)
    cheaper = {**PHONE, "price": "999.00", "in_stock": False}
    status, body = api.call("PUT", PATH, {"products": [cheaper, CASE]}, ADMIN)
    assert status == 200 and body == {"received": 2, "stored": 1, "duplicates": 1}
    phone = products(world)["pixel-9-pro"]
    assert phone["price"] == "999.00"
    assert phone["in_stock"] is False
    assert phone["name"] == "Google Pixel 9 Pro 128 GB"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthorized"),
        ({"authorization": "Bearer nope"}, 401, "unauthorized"),
        ({"authorization": "Basic d2tfMTo="}, 401, "unauthorized"),
    ],
)
def test_needs_the_admin_key(api, world, headers, status, code):
    got, body = api.call("PUT", PATH, {"products": [PHONE]}, headers)
    assert (got, body["error"]) == (status, code)
    assert products(world) == {}


def test_a_key_of_another_shop_than_the_named_one_is_forbidden(api, world):
    status, body = api.call(
        "PUT", PATH, {"products": [PHONE]}, {"authorization": "Bearer ak_2"}, query="shop=elektro-emma"
    )
    assert status == 403 and body["error"] == "forbidden"
    assert "fahrrad-franz" in body["message"]
    assert products(world) == {}
    ok, _ = api.call("PUT", PATH, {"products": [PHONE]}, ADMIN, query="shop=elektro-emma")
    assert ok == 200


def test_auth_is_checked_before_the_body(api):
    status, _ = api.call("PUT", PATH, {"products": [{"price": "lots"}]}, {"authorization": "Bearer nope"})
    assert status == 401


def test_an_invalid_item_names_index_and_field_and_stores_nothing(api, world):
    bad = {**CASE, "product_id": "case-x", "price": "teuer", "colour": "blau"}
    status, body = api.call("PUT", PATH, {"products": [PHONE, bad, {"name": "no id"}]}, ADMIN)
    assert status == 422 and body["error"] == "invalid_products"
    assert "products[1].price:" in body["message"]
    assert "products[1].colour: Extra inputs are not permitted" in body["message"]
    assert "products[2].product_id: Field required" in body["message"]
    assert products(world) == {} and world["publisher"].published == []


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"products": []}, 422, "1 to 100 products"),
        ({"products": [PHONE] * 101}, 422, "got 101"),
        ({"products": "pixel"}, 422, "expected a list"),
        ({"products": [PHONE, "pixel"]}, 422, "products[1]: expected an object"),
        ({"products": [PHONE, {**PHONE, "price": "1.00"}]}, 422, "products[1].product_id: 'pixel-9-pro' is also"),
        ({"products": [PHONE], "shop": "x"}, 422, "shop: unknown field"),
        ({"items": [PHONE]}, 400, '{"products": [...]}'),
        (b"not json", 400, "not JSON"),
        ({"products": [{**CASE, "compatible_with": "pixel-9-pro"}]}, 422, "products[0].compatible_with"),
        ({"products": [{**PHONE, "currency": "euro"}]}, 422, "products[0].currency"),
    ],
)
def test_bad_bodies(api, world, body, status, fragment):
    got, answer = api.call("PUT", PATH, body, ADMIN)
    assert got == status, answer
    assert fragment in answer["message"]
    assert products(world) == {}


def test_openapi_documents_the_route_with_the_admin_key(api):
    status, doc = api.call("GET", "/v1/openapi.json")
    assert status == 200
    operation = doc["paths"][PATH]["put"]
    assert operation["security"] == [{"adminKey": []}]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CatalogImportRequest")
    assert {"200", "401", "403", "422"} <= set(operation["responses"])
    assert "ProductInfoInput" in doc["components"]["schemas"]
