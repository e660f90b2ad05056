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
        ingest = IngestService(
            repo,
            DynamoCatalog(ddb, res.tables["CatalogTable"], res.tables["ProfilesTable"]),
            bus,
            clock,
            parallel_customers=1,  # mock_aws is not thread-safe in-process
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
