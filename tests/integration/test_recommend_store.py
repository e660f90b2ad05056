"""The recommender's DynamoDB adapters against moto: the model's lists (save, load, stale lists
removed), the build's scans of catalog and profiles, and the catalog's batch read."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from emma.adapters import keys
from emma.adapters.dynamodb import DynamoCatalog, DynamoProfileRepository
from emma.adapters.recommend import DynamoModelStore, DynamoShopHistory
from emma.ingest.service import IngestService
from emma.profiles.model import OwnedProduct, new_profile
from emma.recommend import layout
from emma.recommend.build import build_shop, rebuild
from emma.recommend.model import ShopModel
from emma.recommend.service import RecommendationService
from emma.resources import CATALOG_TABLE, PROFILES_TABLE
from emma_local.fakes import FixedClock, InMemoryPublisher
from tests.factories import event, order

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _stores(aws):
    session, resources = aws
    ddb = session.client("dynamodb")
    catalog_table, profiles_table = (
        resources.tables[CATALOG_TABLE.logical_id],
        resources.tables[PROFILES_TABLE.logical_id],
    )
    return ddb, catalog_table, profiles_table


def test_model_items_round_trip_and_items_of_the_old_format_are_removed(aws):
    ddb, catalog_table, _ = _stores(aws)
    store = DynamoModelStore(ddb, catalog_table)
    pk = {"S": keys.model_pk("elektro-emma")}
    # a model stored before the packed format: one item per list, v = JSON (still read)
    ddb.put_item(TableName=catalog_table, Item={"pk": pk, "sk": {"S": "CO#a"}, "v": {"S": '[["b",2.0]]'}})
    assert store.load("elektro-emma", ["CO#a", "CO#zzz"]) == {"CO#a": [["b", 2.0]]}
    first = ShopModel("elektro-emma", NOW, {"POPULAR": [("a", 3.0), ("b", 1.0)], "CO#a": [("b", 2.0)]})
    assert store.save(first) == 2  # HEAD and a's neighbourhood
    got = store.load("elektro-emma", [layout.HEAD, "N#a", "N#zzz", "CO#a"])
    assert set(got) == {layout.HEAD, "N#a"}  # the old item is gone
    assert got[layout.HEAD]["popular"] == [["a", 3.0], ["b", 1.0]] and got["N#a"] == {"co": [["b", 2.0]]}
    raw = ddb.get_item(TableName=catalog_table, Key={"pk": pk, "sk": {"S": "N#a"}})["Item"]
    assert set(raw) == {"pk", "sk", "z", "built_at"}  # compressed JSON
    assert store.load("elektro-emma", [layout.HEAD])[layout.HEAD] is got[layout.HEAD]  # decoded once per build
    store.save(ShopModel("elektro-emma", NOW, {"POPULAR": [("b", 4.0)]}))
    again = store.load("elektro-emma", [layout.HEAD, "N#a"])
    assert set(again) == {layout.HEAD} and again[layout.HEAD]["popular"] == [["b", 4.0]]
    assert store.load("other-shop", [layout.HEAD]) == {}


def test_the_build_scans_catalog_and_profiles_and_recommends_from_dynamodb(aws):
    ddb, catalog_table, profiles_table = _stores(aws)
    catalog = DynamoCatalog(ddb, catalog_table, profiles_table)
    profiles = DynamoProfileRepository(ddb, profiles_table)
    ingest = IngestService(profiles, catalog, InMemoryPublisher(), FixedClock(NOW))
    for pid in ("pixel-9", "case-1", "charger-1"):
        product = {"product_id": pid, "name": pid.title(), "url": f"https://s.example/{pid}", "price": "9.00"}
        ingest.ingest(
            [event("catalog.product_upserted", customer={}, source="shopify", id=f"p-{pid}", product=product)]
        )
    items = [{"product_id": "pixel-9"}, {"product_id": "case-1"}, {"product_id": "ghost-7"}]
    for n in range(3):
        ingest.ingest(
            [order(f"o-{n}", "9.00", customer={"customer_id": f"c-{n}"}, items=items, at=NOW - timedelta(days=n))]
        )
    history = DynamoShopHistory(ddb, catalog_table, profiles_table)
    assert history.shops() == ["elektro-emma"]
    assert {p["product_id"] for p in history.products("elektro-emma")} == {"pixel-9", "case-1", "charger-1"}
    assert all(p["created_at"] for p in history.products("elektro-emma"))
    store = DynamoModelStore(ddb, catalog_table)
    report = rebuild(history, store, FixedClock(NOW))
    assert report.shops["elektro-emma"]["customers"] == 3 and report.shops["elektro-emma"]["unknown_products"] == 1
    # all three bought both: cosine 3 / sqrt(3 x 3), shrunk by 3 / (3 + 1) (emma.recommend.model.co_similarity)
    neighbourhood = store.load("elektro-emma", ["N#pixel-9"])["N#pixel-9"]
    assert neighbourhood == {"t": "Pixel-9", "p": 9.0, "co": [["case-1", 0.75]]}
    got = catalog.get_products("elektro-emma", ["case-1", "nope"])
    assert set(got) == {"case-1"} and got["case-1"]["url"] == "https://s.example/case-1"


def test_a_model_of_the_old_format_answers_until_the_next_build_replaces_it(aws):
    ddb, catalog_table, profiles_table = _stores(aws)
    catalog = DynamoCatalog(ddb, catalog_table, profiles_table)
    profiles = DynamoProfileRepository(ddb, profiles_table)
    ingest = IngestService(profiles, catalog, InMemoryPublisher(), FixedClock(NOW))
    for pid in ("pixel-9", "case-1", "charger-1"):
        product = {"product_id": pid, "name": pid.title(), "url": f"https://s.example/{pid}", "price": "9.00"}
        ingest.ingest(
            [event("catalog.product_upserted", customer={}, source="shopify", id=f"p-{pid}", product=product)]
        )
    for n in range(3):
        items = [{"product_id": "pixel-9"}, {"product_id": "case-1"}] + [{"product_id": "charger-1"}] * (n == 0)
        ingest.ingest(
            [order(f"o-{n}", "9.00", customer={"customer_id": f"c-{n}"}, items=items, at=NOW - timedelta(days=n))]
        )
    history = DynamoShopHistory(ddb, catalog_table, profiles_table)
    model = build_shop(history, "elektro-emma", FixedClock(NOW))
    pk = keys.model_pk("elektro-emma")
    for k, v in model.lists.items():  # as the build stored it before issue 19: one item per list
        item = {"pk": {"S": pk}, "sk": {"S": k}, "v": {"S": json.dumps(v)}, "built_at": {"S": NOW.isoformat()}}
        ddb.put_item(TableName=catalog_table, Item=item)
    store = DynamoModelStore(ddb, catalog_table)
    service = RecommendationService(store, catalog, FixedClock(NOW))
    customer = new_profile("elektro-emma", "p-new", NOW)
    customer.products_owned["pixel-9"] = OwnedProduct(quantity=1, first_bought_at=NOW, last_bought_at=NOW)
    before = service.explain("elektro-emma", customer, "cross-sell", 3, (), "en")
    assert [r.product.product_id for r in before.items] == ["case-1", "charger-1"]
    assert before.items[0].reason == "Often bought together with Pixel-9"
    rebuild(history, store, FixedClock(NOW))
    stored = {i["sk"]["S"] for i in ddb.query(
        TableName=catalog_table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pk}}
    )["Items"]}  # fmt: skip
    assert stored == {layout.HEAD, "N#pixel-9", "N#case-1", "N#charger-1"}  # the old lists are gone
    after = service.explain("elektro-emma", customer, "cross-sell", 3, (), "en")
    assert [(r.product.product_id, r.reason) for r in after.items] == [
        (r.product.product_id, r.reason) for r in before.items
    ]
