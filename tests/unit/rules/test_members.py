"""Segments' member lists, in memory: written and deleted in the rules commit as customers enter and leave,
searched and paged without a scan, moved when the email changes, never over DynamoDB's 100 items."""

from datetime import timedelta
from pathlib import Path

import pytest

from emma.errors import BadRequest
from emma.ingest.service import IngestService
from emma.rules.definitions import Segment
from emma.rules.loader import Definitions, load_definitions
from emma.rules.service import RulesService
from emma.rules.state import (
    COMMIT_ITEMS,
    MAX_MEMBERS_PAGE,
    Derived,
    member_key,
    members_after,
    members_cursor,
)
from emma_local.fakes import (
    FixedClock,
    InMemoryCatalog,
    InMemoryProfileRepository,
    InMemoryPublisher,
    InMemoryRulesStore,
)
from factories import T0, event, order

DEFS = load_definitions(Path(__file__).resolve().parents[3])
SHOP = "elektro-emma"
LENA = {"customer_id": "7008001", "email": "Lena@Example.de"}


class World:
    def __init__(self, definitions=DEFS):
        self.clock = FixedClock(T0)
        self.repo = InMemoryProfileRepository()
        self.bus = InMemoryPublisher()
        self.ingest = IngestService(self.repo, InMemoryCatalog(self.repo), self.bus, self.clock, sleep=lambda s: None)
        self.store = InMemoryRulesStore(self.repo)  # checks every commit as DynamoDB would (100 items)
        self.commits = []
        real = self.store.commit
        self.store.commit = lambda c: (self.commits.append(c), real(c))[1]
        self.rules = RulesService(self.store, InMemoryPublisher(), definitions, self.clock, sleep=lambda s: None)

    def send(self, *events):
        before = len(self.bus.published)
        self.ingest.ingest(list(events))
        for published in self.bus.published[before:]:
            self.rules.on_event(published)

    def members(self, segment, query=None, limit=50, cursor=None):
        return self.store.segment_members(SHOP, segment, query, limit, cursor)

    def emails(self, segment, query=None):
        return [m["email"] for m in self.members(segment, query, MAX_MEMBERS_PAGE)[0]]

    def pid(self, ref):
        return self.ingest.resolve(SHOP, ref).profile_id


@pytest.fixture
def world():
    return World()


def test_entering_writes_an_entry_and_leaving_deletes_it(world):
    world.send(order("o1", "650.00", customer=LENA))
    pid = world.pid("cid:7008001")
    (member,) = world.members("first-time-buyers")[0]
    assert member == {"profile_id": pid, "email": "lena@example.de", "customer_id": "7008001", "since": T0.isoformat()}
    derived = world.store.derived(SHOP, pid)
    assert derived.memberships()["first-time-buyers"] == (f"lena@example.de#{pid}", int(T0.timestamp()))
    assert list(derived.member_keys) == [f"lena@example.de#{pid}"]  # the key (and email) stored once
    assert set(derived.member_keys[f"lena@example.de#{pid}"]) == set(derived.segments)  # each entry written
    world.clock.at = T0 + timedelta(days=1)
    world.send(order("o2", "20.00", customer=LENA, minutes=24 * 60))  # a second order: no longer a first-time buyer
    assert world.members("first-time-buyers") == ([], None)
    assert "first-time-buyers" not in world.store.derived(SHOP, pid).memberships()
    assert world.emails("stage-buy") == ["lena@example.de"]  # still there, written once
    assert world.store.members[(SHOP, "stage-buy")][f"lena@example.de#{pid}"]["since"] == T0.isoformat()


def test_search_is_a_case_insensitive_prefix_of_the_email_else_the_customer_id(world):
    for n, email in enumerate(["anna@example.de", "Anne@example.de", "bernd@example.de", None]):
        refs = {"customer_id": f"C-{n}", **({"email": email} if email else {})}
        world.send(order(f"o{n}", "30.00", customer=refs))
    expected = ["anna@example.de", "anne@example.de"]  # ingest stores addresses lower-cased
    assert world.emails("first-time-buyers", "ANN") == expected
    assert world.emails("first-time-buyers", " anna ") == ["anna@example.de"]
    (no_email,) = world.members("first-time-buyers", "c-3")[0]
    assert no_email["customer_id"] == "C-3" and no_email["email"] is None
    assert world.emails("first-time-buyers", "zz") == []


def test_pages_follow_the_cursor_in_email_order(world):
    for n in range(7):
        world.send(order(f"o{n}", "30.00", customer={"customer_id": f"c{n}", "email": f"m{6 - n}@example.de"}))
    seen, cursor, pages = [], None, 0
    while True:
        members, cursor = world.members("first-time-buyers", limit=3, cursor=cursor)
        seen += [m["email"] for m in members]
        pages += 1
        if cursor is None:
            break
    assert seen == [f"m{n}@example.de" for n in range(7)] and pages == 3
    assert world.members("first-time-buyers", "m", 200)[1] is None
    assert len(world.members("first-time-buyers", limit=10_000)[0]) == 7  # at most MAX_MEMBERS_PAGE


def test_an_email_change_moves_the_entry_deleting_exactly_what_was_written(world):
    """The key's text changes when the primary email does: a customer known by the shop's id alone leaves
    an address (or an anonymous visitor logs in)."""
    world.send(order("o1", "30.00", customer={"customer_id": "7008001"}))
    pid = world.pid("cid:7008001")
    old_key = f"7008001#{pid}"
    assert list(world.store.members[(SHOP, "first-time-buyers")]) == [old_key]
    world.clock.at = T0 + timedelta(hours=1)
    world.send(event("customer.updated", customer=LENA, minutes=60))
    new_key = f"lena@example.de#{pid}"
    entries = world.store.members[(SHOP, "first-time-buyers")]
    assert list(entries) == [new_key]  # the old key is gone, not left behind
    assert entries[new_key]["since"] == T0.isoformat()  # still a member since the first order
    assert entries[new_key]["email"] == "lena@example.de"
    assert world.store.derived(SHOP, pid).memberships()["first-time-buyers"][0] == new_key
    assert world.emails("first-time-buyers", "LENA") == ["lena@example.de"]
    assert world.members("first-time-buyers", "7008")[0] == []
    moved = world.commits[-1]
    assert {e.key for e in moved.unlisted} >= {old_key} and all(e.key == new_key for e in moved.listed)


def test_a_merged_away_profiles_entries_are_deleted_with_its_retirement(world):
    anon = {"anonymous_id": "anon-1"}
    world.send(event("product.viewed", customer=anon, product={"product_id": "x"}))
    loser = world.pid("anon:anon-1")
    assert [m["profile_id"] for m in world.members("stage-explore")[0]] == [loser]
    assert world.members("stage-explore", loser)[0]  # an anonymous profile is found by its profile id
    world.send(order("o1", "50.00", customer=LENA))
    world.send(event("customer.identified", minutes=1, customer={**anon, **LENA}))
    survivor = world.pid("cid:7008001")
    assert world.members("stage-explore") == ([], None)
    assert [m["profile_id"] for m in world.members("stage-buy")[0]] == [survivor]
    retired = world.store.derived(SHOP, loser)
    assert retired.retired and retired.member_keys == {} and retired.stale_member_keys == []
    assert world.store.derived(SHOP, survivor).stale_member_keys == []


def test_members_from_before_member_lists_are_listed_at_their_next_evaluation(world):
    world.send(order("o1", "30.00", customer=LENA))
    pid = world.pid("cid:7008001")
    old = world.store.derived_states[(SHOP, pid)]
    old.member_keys = {}  # as every derived state written before this change
    world.store.members.clear()
    world.clock.at = T0 + timedelta(hours=1)
    world.send(event("page.viewed", customer=LENA, minutes=60, url="/"))
    (member,) = world.members("first-time-buyers")[0]
    assert member["profile_id"] == pid and member["since"] is None  # when they entered is not known
    derived = world.store.derived(SHOP, pid)
    assert set(derived.memberships()) == set(derived.segments)
    assert derived.memberships()["first-time-buyers"] == (member_key("lena@example.de", "7008001", pid), None)


def test_a_customer_entering_150_segments_at_once_is_listed_over_two_commits(world):
    many = [
        Segment.model_validate({"id": f"s{n:03d}", "when": [{"field": "profile.orders.count", "gte": 1}]})
        for n in range(150)
    ]
    world = World(Definitions([], many))
    world.send(order("o1", "30.00", customer=LENA))
    first = world.commits[-1]
    assert first.items() == COMMIT_ITEMS and len(first.listed) > 90
    pid = world.pid("cid:7008001")
    pending = [s for s, (sk, _) in world.store.derived(SHOP, pid).memberships().items() if not sk]
    assert len(pending) == 150 - len(first.listed)
    world.clock.at = T0 + timedelta(minutes=5)
    world.send(event("page.viewed", customer=LENA, minutes=5, url="/"))
    memberships = world.store.derived(SHOP, pid).memberships().values()
    assert all(sk and since == int(T0.timestamp()) for sk, since in memberships)  # when they entered, kept
    assert all(world.members(s.id)[0][0]["since"] == T0.isoformat() for s in many)
    # and all leave at once: deletes first, within the limit again
    world.clock.at = T0 + timedelta(minutes=10)
    world.send(order("o1", "30.00", type_="order.cancelled", customer=LENA, minutes=10))
    left = world.commits[-1]
    assert left.items() == COMMIT_ITEMS and not left.listed
    still = [s.id for s in many if world.members(s.id)[0]]
    assert len(still) == 150 - len(left.unlisted)  # deleted by the next evaluation
    assert set(still) == set(world.store.derived(SHOP, pid).memberships())
    world.send(event("page.viewed", customer=LENA, minutes=11, url="/"))
    assert not any(world.members(s.id)[0] for s in many)
    assert world.store.derived(SHOP, pid).member_keys == {}


def test_a_cursor_is_any_base64url_text_and_nothing_else():
    assert members_after(members_cursor("anna@example.de#p_1")) == "anna@example.de#p_1"
    assert members_after("_-_-") == "\ufffd\ufffd\ufffd"  # tampered with: a position all the same
    with pytest.raises(BadRequest):
        members_after("abcde")


def test_derived_states_from_before_member_lists_still_read():
    old = Derived.model_validate_json('{"profile_id": "p_1", "version": 3, "segments": ["vip"]}')
    assert old.member_keys == {} and old.stale_member_keys == []
    derived = Derived()
    derived.set_memberships({"vip": ("a#p_1", 1), "new": ("", None), "old": ("a#p_1", None)})
    assert derived.model_dump(mode="json")["member_keys"] == {"": {"new": None}, "a#p_1": {"old": None, "vip": 1}}
    assert derived.memberships() == {"vip": ("a#p_1", 1), "new": ("", None), "old": ("a#p_1", None)}


def test_the_search_text_of_a_key_is_cut_at_256_bytes_on_a_character():
    key = member_key("ä" * 300 + "@example.de", None, "p_1")
    text, pid = key.rsplit("#", 1)
    assert pid == "p_1" and text == "ä" * 128
