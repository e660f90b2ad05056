"""The model's stored layout (emma.recommend.layout): what each list entry says of its product, the
neighbourhood items, group shards for shops with many categories, brands and tags."""

from __future__ import annotations

from datetime import timedelta

from emma.recommend import layout
from emma.recommend.layout import Meta
from emma.recommend.service import SLOTS, RecommendationService
from emma_local.fakes import InMemoryModelStore
from tests.factories import event
from tests.unit.recommend.test_service import NOW, POPULAR_BASKETS, SHOP, World


def test_entries_say_device_accessory_or_neither():
    assert Meta.of([]) == Meta(None, None, False)
    assert Meta.of([1]) == Meta(None, None, True)
    assert Meta.of([1, ["d1", "d2"]]) == Meta(None, None, True, frozenset({"d1", "d2"}))
    assert Meta.of(["smartphones", 999.0]) == Meta("smartphones", 999.0, False)
    assert Meta.of(["smartphones", None, 1]).device and Meta.of(["smartphones", None, 1]).accessory


def test_neighbourhoods_hold_title_price_co_purchase_and_what_fits():
    world = World(POPULAR_BASKETS)
    items = world.models.lists[SHOP]
    pixel = items["N#pixel-9-pro"]
    assert pixel["t"] == "Pixel 9 Pro" and pixel["p"] == 999.0
    assert pixel["co"] == [["case-9", 0.75, 1]]  # an accessory
    ranked = {e[0] for e in pixel["fits"]}
    assert ranked | set(pixel.get("fa", [])) == {"case-9", "glass-9", "grip-9", "insure-9", "sold-out-case"}
    head = items[layout.HEAD]
    assert head["v"] == layout.FORMAT and ["pixel-9-pro", 3.0, "smartphones", 999.0] in head["popular"]
    assert "CAT#cases" in head["groups"] and "gs" not in head
    assert "N#s24" in items  # a device outside the catalog: what fits it, no title
    assert "t" not in items["N#s24"]


def test_many_groups_go_to_shards_read_only_as_the_interests_need(monkeypatch):
    inline = World(POPULAR_BASKETS)
    monkeypatch.setattr(layout, "GROUPS_INLINE_BYTES", 10)
    monkeypatch.setattr(layout, "GROUP_SHARD_BYTES", 60)
    sharded = World(POPULAR_BASKETS)
    items = sharded.models.lists[SHOP]
    shards = items[layout.HEAD]["gs"]
    assert shards > 1 and "groups" not in items[layout.HEAD]
    assert {k for k in items if k.startswith(layout.GROUP_SHARD)} == {f"G#{n}" for n in range(shards)}
    for world in (inline, sharded):
        world.bought("pixel-9-pro", days_ago=400)
        world.apply(event("tutorial.watched", tutorial_id="camera-101", topic="camera", at=NOW - timedelta(days=1)))
    for slot in SLOTS:
        sharded.models.loads = 0
        a, b = inline.ask(slot), sharded.ask(slot)
        assert [(r.product.product_id, r.reason) for r in a.items] == [
            (r.product.product_id, r.reason) for r in b.items
        ], slot
        assert sharded.models.loads == 2  # HEAD and the neighbourhoods, then the interests' shards


def test_what_the_model_rules_out_is_not_read_from_the_catalog():
    world = World(POPULAR_BASKETS)
    world.bought("galaxy-a16", days_ago=3)  # a smartphone just bought: no other phone, no Pixel case
    world.catalog.batch_reads = 0
    result = world.ask("interest", limit=3)
    assert result.excluded["a device of a kind just bought"] >= 1
    shown = {r.product.product_id for r in result.items}
    assert not shown & {"pixel-9-pro", "pixel-10-pro", "case-9", "glass-9", "grip-9"}
    assert result.products_read <= 3 + 2 and world.catalog.batch_reads == 1


def test_a_shop_without_a_model_gets_nothing_and_no_error():
    world = World()
    world.models = InMemoryModelStore()
    world.service = RecommendationService(world.models, world.catalog, world.clock)
    result = world.ask("cross-sell")
    assert result.items == [] and result.model_keys == 0 and world.models.loads == 2
