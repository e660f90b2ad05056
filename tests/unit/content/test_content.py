"""The content library and the personalised newsletter of seed 000: blocks chosen per reader by what they clicked
and read before, a length that fits their engagement (seed 002), clicks and reads on a block feeding the reader's
topic interests; the library validated with FILE:LINE."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from emma.content.loader import load_content
from emma.content.model import ContentSlot
from emma.content.select import interest, length, pick
from emma.events.model import Channel
from emma.profiles.model import ChannelStats, OrderRecord
from emma.rules.loader import DefinitionError
from tests.factories import event
from tests.unit.dispatch.conftest import SHOP, TEMPLATES, World

ROOT = Path(__file__).resolve().parents[3]
LIBRARY = load_content(ROOT)
NEWSLETTER = ContentSlot(kinds=("story", "sponsorship", "product-news", "partnership", "technology"))
TUTORIALS = ContentSlot(kinds=("tutorial",), full=1, short=1)


def _newsletter(world: World, pid: str):
    report = world.service.dispatch(world.request(pid, template="personalised-newsletter", journey=None))
    assert report.outcome == "sent", report.reason
    record = world.log.records[(SHOP.shop, pid, report.key)]
    return world.sent("email")[-1], record


def test_the_library_loads_with_every_kind_and_a_tutorial_series_per_device():
    kinds = {b.kind for b in LIBRARY.values()}
    assert kinds == {"story", "sponsorship", "product-news", "partnership", "technology", "tutorial"}
    phones = sorted((b.order, b.id) for b in LIBRARY.values() if "smartphones" in b.devices)
    assert phones[0] == (1, "smartphone-setup") and len(phones) >= 6


def test_library_problems_name_file_and_line(tmp_path):
    (tmp_path / "content").mkdir()
    shutil.copy(ROOT / "content" / "repair-cafe.yaml", tmp_path / "content" / "other-name.yaml")
    (tmp_path / "content" / "bad.yaml").write_text(
        "id: bad\nkind: poem\ntopics: []\npublished: 2026-01-01\nurl: http://x\nlocales: {de: {title: a}}\n"
    )
    with pytest.raises(DefinitionError) as caught:
        load_content(tmp_path)
    problems = "\n".join(caught.value.problems)
    assert f"{tmp_path / 'content' / 'bad.yaml'}:2: kind" in problems
    assert f"{tmp_path / 'content' / 'bad.yaml'}:5: url" in problems
    assert "other-name.yaml:1: the file is named 'other-name' but defines 'repair-cafe'" in problems


def test_a_template_asking_for_a_kind_the_library_lacks_is_refused(tmp_path):
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    (tmp_path / "content").mkdir()
    shutil.copy(ROOT / "content" / "repair-cafe.yaml", tmp_path / "content")
    from emma.templates.loader import load_templates

    with pytest.raises(DefinitionError) as caught:
        load_templates(tmp_path)
    assert any(
        "personalised-newsletter.yaml:12: content.kinds: no block of kind 'technology'" in p
        for p in caught.value.problems
    )


def test_occasional_buyers_get_a_short_issue_engaged_buyers_the_full_one():
    world = World()
    pid = world.customer("c-1")
    profile = world.ingest.resolve(SHOP.shop, pid)
    now = world.clock.now()
    assert length(profile, now) == "short"  # nothing known: short
    profile.orders.recent = [
        OrderRecord(order_id=f"o{i}", status="placed", total=10, currency="EUR", placed_at=now - timedelta(days=30 * i))
        for i in range(1, 4)
    ]
    assert length(profile, now) == "full"  # three orders in a year
    profile.orders.recent = profile.orders.recent[:1]
    assert length(profile, now) == "short"  # an occasional buyer
    profile.channels[Channel.EMAIL] = ChannelStats(last_click_at=now - timedelta(days=20))
    assert length(profile, now) == "full"  # clicked an email lately
    assert len(pick(LIBRARY.values(), NEWSLETTER, profile, now)) == 5
    profile.channels[Channel.EMAIL] = ChannelStats(last_click_at=now - timedelta(days=120))
    assert len(pick(LIBRARY.values(), NEWSLETTER, profile, now)) == 2


def test_two_readers_get_different_newsletters_by_what_they_clicked_and_read():
    world = World()
    runner = world.customer("runner")
    gamer = world.customer("gamer")
    now = world.clock.now()
    refs = {"runner": {"customer_id": "runner"}, "gamer": {"customer_id": "gamer"}}
    world.ingest.ingest(
        [
            event("page.viewed", customer=refs["runner"], at=now - timedelta(days=2), category="smartwatches"),
            event(
                "tutorial.watched",
                customer=refs["runner"],
                at=now - timedelta(days=1),
                tutorial_id="x",
                topic="fitness",
            ),
            event("search.performed", customer=refs["gamer"], at=now - timedelta(days=1), query="gaming"),
            event("page.viewed", customer=refs["gamer"], at=now - timedelta(days=1), category="headphones"),
        ]
    )
    runner_mail, runner_record = _newsletter(world, runner)
    gamer_mail, gamer_record = _newsletter(world, gamer)
    runner_blocks = [c["block_id"] for c in runner_record.content]
    gamer_blocks = [c["block_id"] for c in gamer_record.content]
    assert runner_blocks[0] == "city-run-sponsoring"
    assert gamer_blocks[0] in ("esports-team", "quiet-headphones")
    assert runner_blocks != gamer_blocks and len(runner_blocks) == len(gamer_blocks) == 2  # occasional: short
    assert "Stadtlauf" in runner_mail.html and "E-Sport" not in runner_mail.html
    assert "E-Sport-Team" in gamer_mail.html or "Noise-Cancelling" in gamer_mail.html
    # the next issue brings new blocks: a block is never sent to the same reader twice
    world.clock.advance(days=7)
    _, again = _newsletter(world, runner)
    assert not {c["block_id"] for c in again.content} & set(runner_blocks)


def test_a_click_on_a_block_feeds_the_readers_topic_interests_once():
    world = World()
    pid = world.customer("c-9")
    _, record = _newsletter(world, pid)
    clicked = record.content[0]
    profile = world.ingest.resolve(SHOP.shop, pid)
    assert profile.content_sent[clicked["block_id"]].clicked_at is None
    before = {t: profile.affinities.topics.get(t) for t in clicked["topics"]}
    assert all(v is None for v in before.values())
    at = world.clock.now() + timedelta(hours=1)
    for n in range(2):  # the second click on the same block adds no more interest
        world.ingest.ingest(
            [
                event(
                    "email.clicked",
                    id=f"click-{n}",
                    customer={"email": "c-9@example.com"},
                    at=at,
                    source="ses",
                    url=clicked["url"] + "?utm_source=emma",
                    template="personalised-newsletter",
                )
            ]
        )
    profile = world.ingest.resolve(SHOP.shop, pid)
    assert profile.content_sent[clicked["block_id"]].clicked_at == at
    for topic in clicked["topics"]:
        assert profile.affinities.topics[topic].score == pytest.approx(2.0)
    block = LIBRARY[clicked["block_id"]]
    assert interest(profile, block, at) > 0
    # read on the shop: the block's page viewed
    other = record.content[1]
    world.ingest.ingest([event("page.viewed", customer={"customer_id": "c-9"}, at=at, url=other["url"])])
    profile = world.ingest.resolve(SHOP.shop, pid)
    assert profile.content_sent[other["block_id"]].read_at == at


def test_the_next_tutorial_follows_what_was_watched():
    world = World()
    pid = world.customer("t-1")
    world.ingest.ingest(
        [
            event(
                "order.placed",
                customer={"customer_id": "t-1"},
                at=world.clock.now() - timedelta(days=7),
                order_id="o-1",
                total="899.00",
                currency="EUR",
                items=[{"product_id": "pixel-9", "quantity": 1, "price": "899.00", "category": "smartphones"}],
            )
        ]
    )
    profile = world.ingest.resolve(SHOP.shop, pid)
    now = world.clock.now()
    first = pick(LIBRARY.values(), TUTORIALS, profile, now)
    assert [b.id for b in first] == ["smartphone-setup"]  # nothing known: the series' first
    world.ingest.ingest(
        [
            event(
                "tutorial.watched",
                customer={"customer_id": "t-1"},
                at=now,
                tutorial_id="smartphone-camera",
                topic="camera",
            )
        ]
    )
    profile = world.ingest.resolve(SHOP.shop, pid)
    profile.content_sent["smartphone-setup"] = profile.content_sent.get("smartphone-setup") or _sent(now)
    nxt = pick(LIBRARY.values(), TUTORIALS, profile, now)
    assert nxt[0].id in ("smartphone-night-photos", "smartphone-video")  # more camera, not battery or security
    headphones_only = [b for b in LIBRARY.values() if b.devices == ("headphones",)]
    assert not [b for b in pick(headphones_only, TUTORIALS, profile, now)]  # no headphones owned


def _sent(at):
    from emma.profiles.model import ContentSent

    return ContentSent(at=at, url="https://x.example/", topics=[])


def test_templates_carry_the_library_into_the_definitions_file():
    data = TEMPLATES.to_json()
    assert set(data["content"]) == set(LIBRARY)
    from emma.templates.library import TemplateSet

    assert TemplateSet.from_json(data).content == LIBRARY


def test_a_tutorial_with_nothing_left_for_the_customer_is_skipped_with_the_reason():
    world = World()
    pid = world.customer("no-device")  # owns nothing: no tutorial is for them
    report = world.service.dispatch(world.request(pid, template="tutorial-next"))
    assert report.outcome == "skipped" and report.reason.startswith("no content block left for this customer")
    assert world.sent("email") == []
