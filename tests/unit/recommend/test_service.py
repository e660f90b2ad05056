"""The recommender per strategy and per exclusion, on in-memory ports (no AWS)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from emma.profiles.apply import apply_event
from emma.profiles.model import Recommended, new_profile
from emma.recommend.build import build_shop
from emma.recommend.catalog import Product
from emma.recommend.model import Basket, build_model, co_similarity
from emma.recommend.service import SLOTS, RecommendationService, UnknownSlot
from emma_local.fakes import FixedClock, InMemoryCatalog, InMemoryModelStore, InMemoryProfileRepository
from tests.factories import T0, event, order

SHOP = "elektro-emma"
NOW = T0 + timedelta(days=30)
CATALOG = [
    # devices
    {"product_id": "pixel-9-pro", "name": "Pixel 9 Pro", "category": "smartphones", "brand": "Google", "price": 999},
    {"product_id": "pixel-10-pro", "name": "Pixel 10 Pro", "category": "smartphones", "brand": "Google", "price": 1099},
    {"product_id": "galaxy-a16", "name": "Galaxy A16", "category": "smartphones", "brand": "Samsung", "price": 199},
    {"product_id": "tab-s10", "name": "Galaxy Tab S10", "category": "tablets", "brand": "Samsung", "price": 799},
    # accessories
    {
        "product_id": "case-9",
        "name": "Pixel 9 Pro Case",
        "category": "cases",
        "brand": "Google",
        "price": 39,
        "compatible_with": ["pixel-9-pro"],
    },
    {
        "product_id": "glass-9",
        "name": "Pixel 9 Pro Glass",
        "category": "screen protection",
        "price": 19,
        "tags": ["fits:pixel-9-pro"],
    },
    {
        "product_id": "grip-9",
        "name": "Camera Grip",
        "category": "camera accessories",
        "price": 59,
        "compatible_with": ["pixel-9-pro"],
        "tags": ["camera"],
    },
    {"product_id": "case-s24", "name": "Galaxy S24 Case", "category": "cases", "price": 29, "compatible_with": ["s24"]},
    {
        "product_id": "insure-9",
        "name": "Device insurance",
        "category": "services",
        "price": 99,
        "tags": ["fits:pixel-9-pro", "partner:Wertgarantie"],
    },
    {"product_id": "charger-65", "name": "65 W Charger", "category": "chargers", "brand": "Anker", "price": 49},
    {
        "product_id": "tripod",
        "name": "Travel Tripod",
        "category": "camera accessories",
        "price": 35,
        "tags": ["camera"],
    },
    {
        "product_id": "sold-out-case",
        "name": "Leather Case",
        "category": "cases",
        "price": 59,
        "compatible_with": ["pixel-9-pro"],
        "in_stock": False,
    },
    {"product_id": "buds", "name": "Pixel Buds Pro", "category": "headphones", "brand": "Google", "price": 229},
]


def _url(item):
    return {"url": f"https://elektro-emma.example/p/{item['product_id']}", "currency": "EUR", **item}


class World:
    def __init__(self, baskets: list[dict[str, int]] | None = None) -> None:
        self.catalog = InMemoryCatalog(InMemoryProfileRepository())
        for item in CATALOG:
            self.catalog.put(SHOP, {**_url(item), "created_at": "2026-01-01T00:00:00+00:00"})
        self.catalog.put(SHOP, {**_url(CATALOG[1]), "created_at": "2026-03-20T00:00:00+00:00"})  # a new arrival
        self.models = InMemoryModelStore()
        self.clock = FixedClock(NOW)
        products = [Product.from_item(i) for (_, _), i in self.catalog.products.items()]
        baskets = [
            Basket(f"c{n}", {pid: NOW - timedelta(days=days) for pid, days in basket.items()})
            for n, basket in enumerate(baskets or [])
        ]
        self.models.save(build_model(SHOP, products, baskets, NOW))
        self.service = RecommendationService(self.models, self.catalog, self.clock)
        self.profile = new_profile(SHOP, "p_1", T0)

    def apply(self, *events):
        for e in events:
            apply_event(self.profile, e)
        self.profile.updated_at = NOW

    def bought(self, *ids: str, days_ago: int = 20):
        items = [{"product_id": i, **{k: v for k, v in _item(i).items() if k in ("category", "brand")}} for i in ids]
        self.apply(order(f"o-{'-'.join(ids)}", "10.00", items=items, at=NOW - timedelta(days=days_ago)))

    def ask(self, slot: str, limit: int = 5, exclude=(), locale: str = "en"):
        return self.service.explain(SHOP, self.profile, slot, limit, set(exclude), locale)


def _item(pid):
    return next(i for i in CATALOG if i["product_id"] == pid)


def ids(result):
    return [r.product.product_id for r in result.items]


POPULAR_BASKETS = [{"charger-65": 5}] * 6 + [{"buds": 3}] * 4 + [{"pixel-9-pro": 60, "case-9": 59}] * 3


def test_accessories_compatible_with_the_owned_device_with_an_explanation():
    world = World(POPULAR_BASKETS)
    world.bought("pixel-9-pro")
    result = world.ask("accessories")
    assert {"case-9", "glass-9", "grip-9", "insure-9"} <= set(ids(result))
    assert "case-s24" not in ids(result)  # fits another phone

    assert "charger-65" not in ids(result)  # popular, but not an accessory of anything
    case = next(r for r in result.items if r.product.product_id == "case-9")
    assert case.reason == "Fits your Pixel 9 Pro" and case.strategy == "accessory"


def test_an_accessory_for_a_device_the_customer_does_not_own_is_never_offered():
    world = World()
    world.bought("pixel-9-pro")
    for n in range(4):  # a strong interest in cases: both phones' cases match it
        world.apply(event("product.viewed", product={"product_id": f"x-{n}", "category": "Cases"}, minutes=n))
    result = world.ask("interest", limit=12)
    assert "case-9" in ids(result) and "case-s24" not in ids(result)
    assert result.excluded["fits none of the customer's devices"] == 1


def test_partner_offers_say_so():
    world = World()
    world.bought("pixel-9-pro")
    (insure,) = [r for r in world.ask("accessories", locale="de").items if r.product.product_id == "insure-9"]
    assert insure.reason == "Passt zu deinem Pixel 9 Pro - ein Angebot unseres Partners Wertgarantie"
    assert insure.item("de")["partner"] == "Wertgarantie"


def test_co_purchase_follows_what_others_bought_with_the_same_product():
    world = World([{"buds": 10, "charger-65": 10}] * 3 + [{"tripod": 1}] * 2)
    world.bought("buds")
    result = world.ask("cross-sell")
    assert ids(result)[0] == "charger-65"
    assert result.items[0].reason == "Often bought together with Pixel Buds Pro"
    assert result.items[0].strategy == "co"


def test_content_affinity_from_views_searches_and_tutorials():
    world = World()
    world.apply(
        event("tutorial.watched", tutorial_id="camera-101", topic="camera", at=NOW - timedelta(days=2)),
        event("tutorial.watched", tutorial_id="camera-102", topic="camera", at=NOW - timedelta(days=1)),
    )
    result = world.ask("interest")
    assert set(ids(result)[:2]) == {"grip-9", "tripod"}
    assert result.items[0].reason == "Because you watched tutorials about camera"

    viewer = World()
    viewer.apply(
        event("product.viewed", product={"product_id": "tab-s10", "category": "Tablets", "brand": "Samsung"}),
        event("search.performed", query="ladegerät", category="chargers"),
    )
    result = viewer.ask("interest", locale="de")
    reasons = {r.product.product_id: r.reason for r in result.items}
    assert reasons["tab-s10"] in ("Weil du dir Tablets angesehen hast", "Weil du dir Samsung angesehen hast")
    assert reasons["charger-65"] == "Weil du nach Chargers gesucht hast"


def test_trending_and_popular_fill_in_for_a_new_customer():
    world = World(POPULAR_BASKETS)
    result = world.ask("interest", limit=3)
    assert ids(result)[:2] == ["charger-65", "buds"]
    assert result.items[0].strategy in ("trending", "popular")
    assert result.items[0].reason in ("Popular right now", "A customer favourite")


def test_upgrade_offers_a_better_device_of_the_same_kind():
    world = World([{"pixel-10-pro": 1}])
    world.bought("pixel-9-pro", days_ago=700)
    result = world.ask("upgrade")
    assert ids(result) == ["pixel-10-pro"]  # not the cheaper Galaxy A16, not a tablet
    assert result.items[0].reason == "The next step up from your Pixel 9 Pro"
    assert result.excluded.get("cheaper than the device owned", 0) + result.excluded.get("owned", 0) >= 1


def test_new_arrivals_are_the_newest_catalog_items():
    world = World()
    result = world.ask("new-arrivals", limit=1)
    assert ids(result) == ["pixel-10-pro"] and result.items[0].reason == "New in smartphones"


def test_cart_slot_completes_the_cart():
    world = World([{"pixel-9-pro": 3, "glass-9": 3}] * 3)
    world.apply(event("cart.updated", cart_id="k1", items=[{"product_id": "pixel-9-pro", "price": "999"}]))
    result = world.ask("cart")
    assert ids(result)[0] == "glass-9"


# ---- exclusions ---------------------------------------------------------------------------------


def test_owned_and_just_bought_products_are_never_recommended():
    world = World([{"pixel-9-pro": 3, "case-9": 3, "glass-9": 3}] * 3)
    world.bought("pixel-9-pro", "case-9", days_ago=1)
    result = world.ask("accessories", exclude={"glass-9"})  # the caller's just-bought list
    assert "case-9" not in ids(result) and "glass-9" not in ids(result) and "pixel-9-pro" not in ids(result)
    assert result.excluded["owned"] >= 1
    assert result.excluded["excluded by the caller (just bought, in the cart)"] == 1


def test_a_device_of_a_kind_just_bought_is_not_offered_again():
    world = World(POPULAR_BASKETS + [{"galaxy-a16": 1}] * 20)
    world.bought("pixel-9-pro", days_ago=3)
    assert "galaxy-a16" not in ids(world.ask("interest", limit=12))


def test_out_of_stock_products_are_left_out():
    world = World()
    world.bought("pixel-9-pro")
    result = world.ask("accessories", limit=12)
    assert "sold-out-case" not in ids(result) and result.excluded["out of stock"] == 1


def test_recommended_recently_without_a_click_is_rested_but_a_click_keeps_it():
    world = World()
    world.bought("pixel-9-pro")
    world.profile.recommended["case-9"] = Recommended(at=NOW - timedelta(days=3))
    world.profile.recommended["glass-9"] = Recommended(at=NOW - timedelta(days=3), clicked_at=NOW - timedelta(days=2))
    world.profile.recommended["grip-9"] = Recommended(at=NOW - timedelta(days=45))  # long enough ago
    result = world.ask("accessories", limit=12)
    assert "case-9" not in ids(result)
    assert {"glass-9", "grip-9"} <= set(ids(result))
    assert result.excluded["recommended recently without a click"] == 1


def test_a_click_on_a_recommended_link_is_recorded_on_the_profile():
    world = World()
    world.apply(
        event(
            "email.sent",
            template="accessory-offer",
            recommended=[{"product_id": "case-9", "url": "https://e.x/p/case-9"}],
        ),
        event("email.clicked", template="accessory-offer", url="https://e.x/p/case-9?utm_source=emma", minutes=5),
    )
    item = world.profile.recommended["case-9"]
    assert item.clicked_at is not None
    assert world.profile.affinities.products["case-9"].via == "clicked"  # product ids keep their case


def test_unknown_slot_and_limits():
    world = World()
    with pytest.raises(UnknownSlot):
        world.ask("everything")
    assert len(world.ask("interest", limit=50).items) <= 12


def test_one_model_read_and_one_catalog_read_per_request():
    world = World(POPULAR_BASKETS)
    world.bought("pixel-9-pro")
    world.catalog.batch_reads = 0
    world.models.loads = 0
    world.ask("accessories")
    assert world.models.loads == 1 and world.catalog.batch_reads == 1


def test_the_model_filters_before_the_catalog_is_read():
    world = World(POPULAR_BASKETS)
    world.bought("pixel-9-pro")
    result = world.ask("accessories", limit=2)
    assert len(result.items) == 2
    # the accessories ranked first, and two spare: the model knew what is no accessory and what fits
    assert result.products_read == 4


OLD_FORMAT_BASKETS = POPULAR_BASKETS + [{"pixel-9-pro": 9, "glass-9": 9, "tripod": 9}] * 2


def test_a_model_stored_in_the_old_format_still_answers_until_the_next_build():
    world = World(OLD_FORMAT_BASKETS)
    world.bought("pixel-9-pro")
    world.apply(event("tutorial.watched", tutorial_id="camera-101", topic="camera", at=NOW - timedelta(days=1)))
    packed = {slot: world.ask(slot) for slot in SLOTS}
    # the same model as the daily build stored it before the packed format: one item per list
    products = [Product.from_item(i) for i in world.catalog.products.values()]
    baskets = [
        Basket(f"c{n}", {pid: NOW - timedelta(days=days) for pid, days in basket.items()})
        for n, basket in enumerate(OLD_FORMAT_BASKETS)
    ]
    lists = build_model(SHOP, products, baskets, NOW).lists
    world.models.lists[SHOP] = {k: [[p, s] for p, s in v] for k, v in lists.items()}
    world.models.loads = 0
    for slot, expected in packed.items():
        got = world.ask(slot)
        assert got.items and [(r.product.product_id, r.reason) for r in got.items] == [
            (r.product.product_id, r.reason) for r in expected.items
        ], slot
    assert world.models.loads == 2 * len(SLOTS)  # no HEAD found: the old lists in a second read


# ---- the model build ----------------------------------------------------------------------------


def test_the_build_skips_unknown_products_and_logs_each_once(caplog):
    class History:
        def shops(self):
            return [SHOP]

        def products(self, shop):
            return [_url(i) for i in CATALOG]

        def profiles(self, shop):
            at = NOW.isoformat()
            for n in range(3):
                yield {
                    "profile_id": f"p{n}",
                    "products_owned": {"case-9": {"last_bought_at": at}, "mystery-1": {"last_bought_at": at}},
                }

    with caplog.at_level(logging.WARNING, logger="emma.recommend"):
        model = build_shop(History(), SHOP, FixedClock(NOW))
    assert model.unknown_products == {"mystery-1": 3}
    assert [r.product_id for r in caplog.records] == ["mystery-1"]
    assert "CO#mystery-1" not in model.lists and model.get("POPULAR")[0] == ("case-9", 3.0)


# ---- co-purchase over the whole basket and history (issue 17) -----------------------------------

PLAIN = [  # products without category or brand: only co-purchase and popularity speak for them
    {"product_id": pid, "name": name, "price": 10}
    for pid, name in (("a", "Alpha"), ("b", "Bravo"), ("x", "X-Ray"), ("y", "Yankee"), ("z", "Zulu"))
]


def _plain(baskets: list[dict[str, int]], bought: dict[str, int]):
    world = World()
    for item in PLAIN:
        world.catalog.put(SHOP, {**_url(item), "created_at": "2026-01-01T00:00:00+00:00"})
    products = [Product.from_item(i) for i in world.catalog.products.values()]
    rows = [
        Basket(f"c{n}", {pid: NOW - timedelta(days=days) for pid, days in basket.items()})
        for n, basket in enumerate(baskets)
    ]
    world.models.save(build_model(SHOP, products, rows, NOW))
    for pid, days in bought.items():
        world.apply(order(f"o-{pid}", "10.00", items=[{"product_id": pid}], at=NOW - timedelta(days=days)))
    return world


def test_co_purchase_similarity_is_a_shrunk_cosine():
    assert co_similarity(3, 3, 3) == pytest.approx(0.75)  # 3 / sqrt(3 x 3) x 3 / (3 + 1)
    assert co_similarity(2, 4, 100) < co_similarity(2, 4, 4)  # a best seller needs more evidence
    assert co_similarity(1, 1, 1) == pytest.approx(0.5)  # one customer: shrunk by half


def test_co_purchase_sums_the_evidence_of_every_seed_and_names_the_strongest():
    # x goes with both a and b; y only with a, but more strongly than x with either of them
    baskets = [{"a": 5, "x": 5}] * 2 + [{"b": 5, "x": 5}] * 2 + [{"a": 5, "y": 5}] * 3
    world = _plain(baskets, {"a": 2, "b": 2})
    result = world.ask("cross-sell", limit=2)
    assert ids(result) == ["x", "y"]  # the best single seed would rank y first
    assert result.items[0].reason == "Often bought together with Bravo"  # b contributes most to x


def test_a_recent_purchase_counts_more_than_an_old_one():
    baskets = [{"a": 5, "x": 5}] * 4 + [{"b": 5, "y": 5}] * 3  # x: the stronger evidence, and more popular
    world = _plain(baskets, {"a": 300, "b": 1})  # but a was bought long ago, b yesterday
    result = world.ask("cross-sell", limit=2)
    assert ids(result) == ["y", "x"]
    assert [r.reason for r in result.items] == [
        "Often bought together with Bravo",
        "Often bought together with Alpha",
    ]


def test_only_the_products_shown_are_read_the_names_come_from_the_model():
    baskets = [{"a": 5, "x": 5}] * 3
    world = _plain(baskets, {"a": 2, "b": 3, "z": 4})  # b and z explain nothing
    world.catalog.batch_reads = 0
    result = world.ask("cross-sell", limit=1)
    assert ids(result) == ["x"] and result.items[0].reason == "Often bought together with Alpha"
    assert result.products_read == 1  # x; Alpha's title is in a's neighbourhood item, b and z are not read


def test_cross_sell_keeps_a_place_for_a_best_selling_device_of_another_kind():
    evidence = [{"pixel-9-pro": 9, "case-9": 9, "glass-9": 9, "grip-9": 9, "insure-9": 9, "charger-65": 9}] * 3
    sellers = [{"tab-s10": 30}] * 8 + [{"galaxy-a16": 30}] * 9  # galaxy-a16: the best seller, but a phone
    world = World(evidence + sellers)
    world.bought("pixel-9-pro", days_ago=3)
    five = world.ask("cross-sell", limit=5)
    assert ids(five)[-1] == "tab-s10" and five.items[-1].reason == "A customer favourite"
    assert "galaxy-a16" not in ids(five)  # a smartphone was just bought
    assert len(set(ids(five)[:4]) & {"case-9", "glass-9", "grip-9", "insure-9", "charger-65"}) == 4
    three = world.ask("cross-sell", limit=3)  # a message's three picks: the evidence alone
    assert "tab-s10" not in ids(three)
