"""Segments' member lists against moto: entries written and deleted in the rules transaction, spread over
shards, read back merged in email order page by page, searched by prefix, moved on an email change."""

import sys
from datetime import timedelta
from pathlib import Path

import pytest

from emma.adapters import keys
from emma.adapters.dynamodb import DynamoCatalog, DynamoProfileRepository
from emma.adapters.rules_store import DynamoRulesStore
from emma.errors import BadRequest
from emma.ingest.service import IngestService
from emma.rules.definitions import Segment
from emma.rules.loader import Definitions, load_definitions
from emma.rules.service import RulesService
from emma.rules.state import MEMBER_SHARDS, member_shard
from emma_local.fakes import FixedClock, InMemoryPublisher
from emma_local.streams import relayed
from factories import T0, event, order

DEFS = load_definitions(Path(__file__).resolve().parents[2])
SHOP = "elektro-emma"
SEGMENT = "first-time-buyers"


class World:
    def __init__(self, session, tables, definitions=DEFS):
        self.ddb = session.client("dynamodb")
        self.table = tables["ProfilesTable"]
        self.clock = FixedClock(T0)
        self.bus = InMemoryPublisher()
        self.ingest = relayed(
            IngestService(
                DynamoProfileRepository(self.ddb, self.table),
                DynamoCatalog(self.ddb, tables["CatalogTable"], self.table),
                self.bus,
                self.clock,
                parallel_customers=1,  # mock_aws is not thread-safe in-process
            ),
            session,
            self.table,
            self.bus,
        )
        self.store = DynamoRulesStore(self.ddb, self.table, tables["ScheduleTable"])
        self.rules = RulesService(self.store, InMemoryPublisher(), definitions, self.clock)

    def send(self, *events):
        before = len(self.bus.published)
        self.ingest.ingest(list(events))
        for published in self.bus.published[before:]:
            self.rules.on_event(published)

    def all(self, segment=SEGMENT, query=None, limit=3):
        """Every page, following the cursors: the emails and how many pages."""
        emails, cursor, pages = [], None, 0
        while True:
            members, cursor = self.store.segment_members(SHOP, segment, query, limit, cursor)
            emails += [m["email"] for m in members]
            pages += 1
            if cursor is None:
                return emails, pages

    def entries(self, segment=SEGMENT):
        """The stored items of the segment's member list, shard by shard."""
        found = []
        for shard in range(MEMBER_SHARDS):
            found += self.ddb.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": keys.member_pk(SHOP, segment, shard)}},
            )["Items"]
        return found


@pytest.fixture
def world(aws):
    session, res = aws
    return World(session, res.tables)


def customers(world, n=20):
    for i in range(n):
        world.send(order(f"o{i}", "30.00", customer={"customer_id": f"c{i}", "email": f"m{i}@example.de"}))
    return sorted(f"m{i}@example.de" for i in range(n))


def test_entries_spread_over_shards_and_read_back_merged_in_email_order(world):
    emails = customers(world)
    entries = world.entries()
    assert len(entries) == 20 and len({e["pk"]["S"] for e in entries}) > 1  # no single hot partition
    for e in entries:
        pid = e["profile_id"]["S"]
        assert e["pk"]["S"] == keys.member_pk(SHOP, SEGMENT, member_shard(pid))
        assert e["sk"]["S"] == f"{e['email']['S']}#{pid}" and e["since"]["S"] == T0.isoformat()
    got, pages = world.all(limit=3)
    assert got == emails and pages in (7, 8)  # 20 in pages of 3 (a last, empty page is allowed)
    one, cursor = world.store.segment_members(SHOP, SEGMENT, None, 200, None)
    assert [m["email"] for m in one] == emails and cursor is None
    assert set(one[0]) == {"profile_id", "email", "customer_id", "since"} and one[0]["customer_id"] == "c0"


def test_search_by_prefix_with_and_without_cursor(world):
    customers(world)
    expected = sorted(["m1@example.de", *(f"m{i}@example.de" for i in range(10, 20))])  # m10@ before m1@
    assert world.all(query="M1", limit=200)[0] == expected
    assert world.all(query="m1", limit=4)[0] == expected  # pages of a search follow its cursor
    assert world.all(query="m1@", limit=1)[0] == ["m1@example.de"]
    assert world.all(query="x", limit=5) == ([], 1)
    # cursors of the unsearched list (m0, m10..m19, m1, m2, ...: "@" sorts after the digits) within a search
    page = world.store.segment_members
    _, at_m0 = page(SHOP, SEGMENT, None, 1, None)  # before the search's range
    assert [m["email"] for m in page(SHOP, SEGMENT, "m1", 2, at_m0)[0]] == ["m10@example.de", "m11@example.de"]
    _, at_m15 = page(SHOP, SEGMENT, None, 7, None)  # inside it
    assert [m["email"] for m in page(SHOP, SEGMENT, "m1", 2, at_m15)[0]] == ["m16@example.de", "m17@example.de"]
    _, at_m1 = page(SHOP, SEGMENT, None, 12, None)  # at its last entry
    assert page(SHOP, SEGMENT, "m1", 5, at_m1) == ([], None)
    _, at_m2 = page(SHOP, SEGMENT, None, 13, None)  # after it
    assert page(SHOP, SEGMENT, "m1", 5, at_m2) == ([], None)
    with pytest.raises(BadRequest):
        world.store.segment_members(SHOP, SEGMENT, None, 5, "abcde")


def test_leaving_deletes_the_entry(world):
    customers(world, 3)
    pid = world.ingest.resolve(SHOP, "cid:c1").profile_id
    world.clock.at = T0 + timedelta(days=1)
    world.send(order("o9", "20.00", customer={"customer_id": "c1"}, minutes=24 * 60))  # c1's second order
    assert world.all()[0] == ["m0@example.de", "m2@example.de"]
    assert len(world.entries()) == 2
    derived = world.store.derived(SHOP, pid)
    assert SEGMENT not in derived.memberships() and set(derived.memberships()) == set(derived.segments)


def test_an_email_change_moves_the_entry_and_leaves_nothing_behind(world):
    world.send(order("o1", "30.00", customer={"customer_id": "C-1"}))
    pid = world.ingest.resolve(SHOP, "cid:C-1").profile_id
    assert [e["sk"]["S"] for e in world.entries()] == [f"c-1#{pid}"]  # found by the customer id, lower-cased
    assert world.all(query="C-")[0] == [None]
    world.clock.at = T0 + timedelta(hours=1)
    world.send(event("customer.updated", customer={"customer_id": "C-1", "email": "zoe@example.de"}, minutes=60))
    (entry,) = world.entries()
    assert entry["sk"]["S"] == f"zoe@example.de#{pid}" and entry["since"]["S"] == T0.isoformat()
    assert entry["email"]["S"] == "zoe@example.de" and entry["customer_id"]["S"] == "C-1"
    assert world.store.derived(SHOP, pid).memberships()[SEGMENT][0] == entry["sk"]["S"]
    assert world.all(query="zo")[0] == ["zoe@example.de"] and world.all(query="c-")[0] == []


@pytest.fixture
def deep_recursion():
    """moto parses the counter item's ADD of 110 segments recursively, a few frames per clause (under
    xdist's deeper stack that passed the default limit of 1,000); DynamoDB has no such limit."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    yield
    sys.setrecursionlimit(limit)


def test_a_customer_entering_110_segments_commits_within_dynamodbs_limit(aws, deep_recursion):
    session, res = aws
    many = [
        Segment.model_validate({"id": f"s{n:03d}", "when": [{"field": "profile.orders.count", "gte": 1}]})
        for n in range(110)
    ]
    world = World(session, res.tables, Definitions([], many))
    world.send(order("o1", "30.00", customer={"customer_id": "c1", "email": "anna@example.de"}))
    listed = sum(bool(world.entries(s.id)) for s in many)
    assert 90 < listed < 110  # the first transaction is full (100 items): the rest waits
    world.clock.at = T0 + timedelta(minutes=5)
    world.send(event("page.viewed", customer={"customer_id": "c1"}, minutes=5, url="/"))
    assert all(world.entries(s.id) for s in many)
