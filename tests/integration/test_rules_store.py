"""The rules function's store against moto: the same scenarios as the in-memory tests."""

from datetime import timedelta
from pathlib import Path

import pytest

from emma.adapters.dynamodb import DynamoCatalog, DynamoProfileRepository
from emma.adapters.rules_store import DynamoRulesStore
from emma.ingest.service import IngestService
from emma.rules.loader import load_definitions
from emma.rules.service import RulesService
from emma_local.fakes import FixedClock, InMemoryPublisher
from emma_local.streams import relayed
from factories import T0, event, order

DEFS = load_definitions(Path(__file__).resolve().parents[2])
LENA = {"customer_id": "7008001", "email": "lena@example.de"}


@pytest.fixture
def world(aws):
    session, res = aws
    ddb = session.client("dynamodb")

    class W:
        clock = FixedClock(T0)
        bus, out = InMemoryPublisher(), InMemoryPublisher()
        repo = DynamoProfileRepository(ddb, res.tables["ProfilesTable"])
        ingest = relayed(
            IngestService(
                repo,
                DynamoCatalog(ddb, res.tables["CatalogTable"], res.tables["ProfilesTable"]),
                bus,
                clock,
                parallel_customers=1,  # mock_aws is not thread-safe in-process
            ),
            session,
            res.tables["ProfilesTable"],
            bus,
        )
        store = DynamoRulesStore(ddb, res.tables["ProfilesTable"], res.tables["ScheduleTable"])
        rules = RulesService(store, out, DEFS, clock)

        def send(self, *events):
            before = len(self.bus.published)
            self.ingest.ingest(list(events))
            for e in self.bus.published[before:]:
                self.rules.on_event(e)

        def fired(self, trigger):
            return [e for e in self.out.published if e.type == "trigger.fired" and e.properties.trigger == trigger]

    return W()


def test_fire_once_even_when_redelivered_and_count_segments(world):
    world.send(order("o1", "650.00", customer=LENA))
    for e in list(world.bus.published):
        assert world.rules.on_event(e).duplicates == 1
    assert len(world.fired("first-order")) == 1
    sizes = world.rules.segment_sizes("elektro-emma")
    assert sizes["first-time-buyers"] == 1 and sizes["big-baskets"] == 1 and sizes["lapsed"] == 0


def test_absence_timer_fires_from_the_schedule_table(world):
    world.send(event("cart.updated", customer=LENA, value="30.00", items=[{"product_id": "case"}]))
    world.clock.at = T0 + timedelta(minutes=30)
    assert not world.rules.on_schedule().fired
    world.clock.at = T0 + timedelta(hours=2, minutes=6)
    report = world.rules.on_schedule()
    assert len(world.fired("cart-abandoned")) == 1 and report.timers >= 1
    world.clock.at = T0 + timedelta(hours=3)
    world.rules.on_schedule()
    assert len(world.fired("cart-abandoned")) == 1


def test_lapse_by_time_alone_reads_only_due_timers(world):
    world.send(order("o1", "50.00", customer=LENA))
    for day in range(0, 190, 3):
        world.clock.at = T0 + timedelta(days=day)
        world.rules.on_schedule()
    entered = [e.properties.segment for e in world.out.published if e.type == "segment.entered"]
    assert entered.count("lapsed") == 1 and world.rules.segment_sizes("elektro-emma")["lapsed"] == 1


def test_merge_retires_the_merged_profiles_memberships(world):
    world.send(event("product.viewed", customer={"anonymous_id": "anon-1"}, product={"product_id": "x"}))
    world.send(order("o1", "50.00", customer=LENA))
    world.send(event("customer.identified", minutes=1, customer={"anonymous_id": "anon-1", **LENA}))
    sizes = world.rules.segment_sizes("elektro-emma")
    assert sizes["stage-explore"] == 0 and sizes["stage-buy"] == 1


def test_the_prediction_counters_histogram_cells_are_small_items_read_back_whole(world):
    from emma.predict.history import summarise
    from emma.predict.prior import ShopStats, contribution

    world.send(order("o1", "100.00", customer=LENA))
    world.clock.advance(days=20)
    world.send(order("o2", "40.00", customer=LENA, minutes=20 * 24 * 60))
    stats = world.store.shop_stats("elektro-emma")
    purchases = summarise([(T0, 100.0), (T0 + timedelta(days=20), 40.0)])
    expected = {k: v for k, v in contribution(purchases).items() if v}
    assert {k: float(v) for k, v in stats.items() if v} == pytest.approx(expected)
    # the first order's cell was taken back when the second moved the customer to another cell; each cell an item
    items = world.store._client.query(
        TableName=world.store._table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "S#elektro-emma#PSTATS"}},
    )["Items"]
    assert sorted(i["sk"]["S"] for i in items)[-1] == "STATS" and len(items) == 3
    assert ShopStats.from_item(stats).histogram_customers == 1


def _items(world, table, pk):
    return world.store._client.query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pk}}
    )["Items"]


def test_due_timers_are_read_once_and_left_to_expire(world):
    from emma.adapters import keys
    from emma.rules.state import SHARDS

    world.send(event("cart.updated", customer=LENA, value="30.00", items=[{"product_id": "case"}]))
    world.clock.at = T0 + timedelta(hours=2, minutes=6)
    assert world.rules.on_schedule().timers == 1 and len(world.fired("cart-abandoned")) == 1
    schedule = world.store._schedule
    timers = [i for n in range(SHARDS) for i in _items(world, schedule, keys.timer_pk(n))]
    (done,) = [i for i in timers if i["kind"]["S"] == "absence"]  # not deleted: it expires 30 days after due
    assert int(done["expires_at"]["N"]) == int((T0 + timedelta(hours=2) + keys.TIMER_TTL).timestamp())
    world.clock.at = T0 + timedelta(hours=3)
    assert world.rules.on_schedule().timers == 0  # the range starts at the cursor: read once
    pid = world.fired("cart-abandoned")[0].customer.profile_id
    partition = _items(world, world.store._table, keys.profile_pk("elektro-emma", pid))
    assert not [i for i in partition if i["sk"]["S"].startswith(keys.marker_sk("TM#"))]  # timers leave no marker


def test_a_timers_outbox_stays_on_the_derived_state_until_published(world):
    from emma.adapters import keys
    from emma.adapters.rules_store import pending_of

    class Failing(InMemoryPublisher):
        def publish(self, events):
            raise RuntimeError("bus down")

    world.send(event("cart.updated", customer=LENA, value="30.00", items=[{"product_id": "case"}]))
    pid = world.bus.published[0].customer.profile_id
    world.clock.at = T0 + timedelta(hours=2, minutes=6)
    assert RulesService(world.store, Failing(), DEFS, world.clock).on_schedule().failed == 1
    item = world.store._get(keys.profile_pk("elektro-emma", pid), keys.DERIVED_SK)
    assert [e["type"] for e in pending_of(item)] == ["trigger.fired"] and "B" in item["doc"]  # compressed
    world.clock.at = T0 + timedelta(hours=2, minutes=12)  # the timer was put again 5 minutes on
    world.rules.on_schedule()
    assert len(world.fired("cart-abandoned")) == 1
    assert "outbox" not in world.store._get(keys.profile_pk("elektro-emma", pid), keys.DERIVED_SK)


def test_a_derived_state_stored_as_json_text_is_read_and_written_back_compressed(world):
    from emma.adapters import keys
    from emma.rules.state import Derived

    world.send(order("o1", "50.00", customer=LENA))
    pid = world.bus.published[0].customer.profile_id
    derived = world.store.derived("elektro-emma", pid)
    old = {  # as versions before the compression wrote it
        "pk": {"S": keys.profile_pk("elektro-emma", pid)},
        "sk": {"S": keys.DERIVED_SK},
        "version": {"N": str(derived.version)},
        "doc": {"S": derived.model_dump_json()},
    }
    world.store._client.put_item(TableName=world.store._table, Item=old)
    assert world.store.derived("elektro-emma", pid) == derived
    assert Derived.model_validate(world.store.load("elektro-emma", pid, "").derived) == derived
    world.clock.advance(days=1)
    world.send(order("o2", "20.00", customer=LENA, minutes=24 * 60))
    item = world.store._get(keys.profile_pk("elektro-emma", pid), keys.DERIVED_SK)
    assert "B" in item["doc"] and world.store.derived("elektro-emma", pid).version == derived.version + 1


def test_a_cursor_written_before_timers_were_read_by_range_reads_the_kept_ones_again(world):
    from emma.adapters import keys

    world.send(event("cart.updated", customer=LENA, value="30.00", items=[{"product_id": "case"}]))
    # an older version's run at 3 h: it deleted what it did and kept this timer, whose evaluation failed
    old = {"pk": {"S": keys.CURSOR_PK}, "sk": {"S": keys.CURSOR_SK}, "at": {"S": (T0 + timedelta(hours=3)).isoformat()}}
    world.store._client.put_item(TableName=world.store._schedule, Item=old)
    world.clock.at = T0 + timedelta(hours=3, minutes=5)
    assert world.rules.on_schedule().timers == 1 and len(world.fired("cart-abandoned")) == 1
    assert world.store.cursor() == T0 + timedelta(hours=3, minutes=5) - timedelta(seconds=10)
