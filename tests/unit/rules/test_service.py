"""Ingest and rules together, in memory: events in, conclusions out, each exactly once."""

from datetime import timedelta
from pathlib import Path

import pytest

from emma.ingest.service import IngestService
from emma.rules.loader import load_definitions
from emma.rules.service import RulesService
from emma_local.fakes import (
    FixedClock,
    InMemoryCatalog,
    InMemoryProfileRepository,
    InMemoryPublisher,
    InMemoryRulesStore,
)
from factories import T0, event, order

DEFS = load_definitions(Path(__file__).resolve().parents[3])
LENA = {"customer_id": "7008001", "email": "lena@example.de"}


class World:
    def __init__(self):
        self.clock = FixedClock(T0)
        self.repo = InMemoryProfileRepository()
        self.bus = InMemoryPublisher()
        self.ingest = IngestService(self.repo, InMemoryCatalog(self.repo), self.bus, self.clock, sleep=lambda s: None)
        self.store = InMemoryRulesStore(self.repo)
        self.out = InMemoryPublisher()
        self.rules = RulesService(self.store, self.out, DEFS, self.clock, sleep=lambda s: None)

    def send(self, *events):
        before = len(self.bus.published)
        self.ingest.ingest(list(events))
        for published in self.bus.published[before:]:
            self.rules.on_event(published)

    def at(self, **delta):
        self.clock.at = T0 + timedelta(**delta)

    def types(self, type_):
        return [e for e in self.out.published if e.type == type_]

    def fired(self, trigger):
        return [e for e in self.types("trigger.fired") if e.properties.trigger == trigger]


@pytest.fixture
def world():
    return World()


def test_fired_triggers_and_segment_entries_are_published(world):
    world.send(order("o1", "650.00", customer=LENA))
    assert len(world.fired("first-order")) == 1
    entered = {e.properties.segment for e in world.types("segment.entered")}
    assert {"first-time-buyers", "big-baskets", "stage-buy"} <= entered
    (lifecycle,) = world.types("lifecycle.changed")
    assert lifecycle.properties.stage == "stage-buy" and lifecycle.customer.email == "lena@example.de"
    assert world.rules.segment_sizes("elektro-emma")["first-time-buyers"] == 1


def test_a_redelivered_event_never_fires_twice(world):
    world.send(order("o1", "650.00", customer=LENA))
    published = list(world.bus.published)
    count = len(world.out.published)
    for e in published:
        report = world.rules.on_event(e)
        assert report.duplicates == 1 and not report.fired
    assert len(world.out.published) == count


def test_a_crash_before_publishing_is_finished_by_the_redelivery(world):
    class Failing(InMemoryPublisher):
        def publish(self, events):
            raise RuntimeError("bus down")

    world.ingest.ingest([order("o1", "650.00", customer=LENA)])
    e = world.bus.published[0]
    broken = RulesService(world.store, Failing(), DEFS, world.clock)
    with pytest.raises(RuntimeError):
        broken.on_event(e)
    world.rules.on_event(e)  # SQS delivers again
    assert len(world.fired("first-order")) == 1


def test_cooldown_keeps_big_basket_to_once_a_week(world):
    cart = {"items": [{"product_id": "pixel-9", "price": "999.00"}], "value": "999.00"}
    world.send(event("cart.updated", customer=LENA, **cart))
    world.at(days=1)
    world.send(event("cart.updated", customer=LENA, minutes=60 * 24, **cart))
    world.at(days=8)
    world.send(event("cart.updated", customer=LENA, minutes=60 * 24 * 8, **cart))
    assert len(world.fired("big-basket")) == 2


def test_abandoned_cart_fires_from_the_schedule_with_no_further_event(world):
    world.send(event("cart.updated", customer=LENA, value="30.00", items=[{"product_id": "case"}]))
    assert not world.fired("cart-abandoned")
    world.at(hours=1)
    world.rules.on_schedule()
    assert not world.fired("cart-abandoned")  # not due yet
    world.at(hours=2, minutes=5)
    world.rules.on_schedule()
    (fired,) = world.fired("cart-abandoned")
    assert fired.properties.kind == "absence"
    world.at(hours=3)
    world.rules.on_schedule()  # timers are consumed: nothing fires twice
    assert len(world.fired("cart-abandoned")) == 1


def test_an_order_disarms_the_abandoned_cart(world):
    world.send(event("cart.updated", customer=LENA, value="30.00", items=[{"product_id": "case"}]))
    world.at(minutes=30)
    world.send(order("o1", "30.00", customer=LENA, minutes=30))
    world.at(hours=3)
    world.rules.on_schedule()
    assert not world.fired("cart-abandoned")


def test_a_later_cart_change_rearms_and_the_stale_timer_does_nothing(world):
    world.send(event("cart.updated", customer=LENA, value="30.00", items=[{"product_id": "case"}]))
    world.at(hours=1)
    world.send(event("cart.updated", customer=LENA, minutes=60, value="40.00", items=[{"product_id": "film"}]))
    world.at(hours=2, minutes=30)
    world.rules.on_schedule()  # the first timer is stale: the cart changed since
    assert not world.fired("cart-abandoned")
    world.at(hours=3, minutes=30)
    world.rules.on_schedule()
    assert len(world.fired("cart-abandoned")) == 1


def test_a_customer_lapses_by_time_alone(world):
    world.send(order("o1", "50.00", customer=LENA))
    for day in range(0, 200, 5):  # the schedule runs; no event arrives
        world.at(days=day)
        world.rules.on_schedule()
    assert [e.properties.segment for e in world.types("segment.entered")].count("lapsed") == 1
    assert "lapsing" in {e.properties.segment for e in world.types("segment.left")}
    assert world.rules.segment_sizes("elektro-emma")["lapsed"] == 1
    assert world.rules.segment_sizes("elektro-emma")["lapsing"] == 0


def test_merged_profiles_stop_counting_twice(world):
    world.send(event("product.viewed", customer={"anonymous_id": "anon-1"}, product={"product_id": "x"}))
    world.send(order("o1", "50.00", customer=LENA))
    assert world.rules.segment_sizes("elektro-emma")["stage-explore"] == 1
    world.send(event("customer.identified", minutes=1, customer={"anonymous_id": "anon-1", **LENA}))
    sizes = world.rules.segment_sizes("elektro-emma")
    assert sizes["stage-explore"] == 0 and sizes["stage-buy"] == 1 and sizes["first-time-buyers"] == 1


def test_every_evaluated_profile_gets_predictions_and_the_shop_counters_follow_orders(world):
    world.send(order("o1", "50.00", customer=LENA))
    world.at(days=30)
    world.send(order("o2", "50.00", customer=LENA, minutes=60 * 24 * 30))
    (derived,) = world.store.derived_states.values()
    assert derived.predictions["model"].startswith("mbg-nbd-gamma-gamma")
    assert 0 <= derived.predictions["churn_risk"] <= 1
    stats = world.store.shop_stats("elektro-emma")
    assert stats["customers_with_orders"] == 1 and stats["customers_with_repeat"] == 1
    assert stats["intervals_count"] == 1 and abs(stats["intervals_sum_days"] - 30) < 0.01
    world.ingest.ingest([order("o2", "50.00", customer=LENA, type_="order.cancelled", minutes=60 * 24 * 31)])
    world.rules.on_event(world.bus.published[-1])
    stats = world.store.shop_stats("elektro-emma")
    assert stats["customers_with_repeat"] == 0 and stats["intervals_count"] == 0  # cancellation undone


def test_a_lost_customer_drifts_into_likely_to_churn_and_the_prior_is_refit_daily(world):
    world.send(order("o1", "50.00", customer=LENA))
    for day in range(0, 400, 7):
        world.at(days=day)
        world.rules.on_schedule(shops=["elektro-emma"])
    entered = [e.properties.segment for e in world.types("segment.entered")]
    assert "likely-to-churn" in entered
    prior, fitted_at = world.store.prior("elektro-emma")
    assert prior["alpha"] > 0 and fitted_at >= T0 + timedelta(days=390)


def test_a_big_regular_buyer_enters_valuable_next_year_and_leaves_it_when_predictions_fall(world):
    for i in range(3):  # 400 EUR a month: a 12-month value far above 300 with the default prior
        world.at(days=30 * i)
        world.send(order(f"o{i}", "400.00", customer=LENA, minutes=60 * 24 * 30 * i))
    (derived,) = world.store.derived_states.values()
    p = derived.predictions
    assert p["expected_order_value"] == 400.0 and p["clv_12m"] >= 300 and p["p_buy_90d"] >= 0.3
    assert p["clv_12m"] == pytest.approx(p["expected_purchases_12m"] * 400.0, rel=0.01)
    assert "valuable-next-year" in [e.properties.segment for e in world.types("segment.entered")]
    for day in range(60, 800, 7):  # silence: the weekly review sees the predictions fall
        world.at(days=day)
        world.rules.on_schedule(shops=["elektro-emma"])
    assert "valuable-next-year" in [e.properties.segment for e in world.types("segment.left")]


def test_a_rearmed_or_rescheduled_timer_replaces_the_old_one(world):
    cart = {"value": "30.00", "items": [{"product_id": "case"}]}
    world.send(event("cart.updated", customer=LENA, **cart))
    world.at(minutes=30)
    world.send(event("cart.updated", customer=LENA, minutes=30, **cart))
    absence = [t for t in world.store.timers.values() if t.trigger_id == "cart-abandoned"]
    reviews = [t for t in world.store.timers.values() if t.kind == "review"]
    assert len(absence) == 1 and absence[0].armed_at == T0 + timedelta(minutes=30)
    assert len(reviews) <= 1


def test_one_failing_timer_does_not_hold_up_the_others(world, monkeypatch):
    world.send(event("cart.updated", customer=LENA, value="30.00", items=[{"product_id": "case"}]))
    world.send(event("cart.updated", customer={"customer_id": "other"}, value="9.00", items=[{"product_id": "x"}]))
    real = world.rules._decide_timer

    def flaky(timer, loaded, now):
        if loaded.profile.customer_id == "other":
            raise RuntimeError("boom")
        return real(timer, loaded, now)

    monkeypatch.setattr(world.rules, "_decide_timer", flaky)
    world.at(hours=3)
    report = world.rules.on_schedule()
    assert report.failed >= 1 and len(world.fired("cart-abandoned")) == 1
    # the failed one is put again 5 minutes on (one more attempt, its first due time kept), past the cursor
    (retry,) = [t for t in world.store.timers.values() if t.attempt == 1]
    assert retry.due_at == T0 + timedelta(hours=3, minutes=5) and retry.first_due_at == T0 + timedelta(hours=2)
    assert retry.kind == "absence" and world.store.cursor() < retry.due_at
    monkeypatch.setattr(world.rules, "_decide_timer", real)  # it works again
    world.at(hours=3, minutes=6)
    report = world.rules.on_schedule()
    assert report.failed == 0 and report.timers == 1 and len(world.fired("cart-abandoned")) == 2


def test_a_timer_failing_for_two_days_is_given_up_and_one_not_put_again_holds_the_cursor(world, monkeypatch):
    world.send(event("cart.updated", customer=LENA, value="30.00", items=[{"product_id": "case"}]))

    def broken(timer, loaded, now):
        raise RuntimeError("boom")

    monkeypatch.setattr(world.rules, "_decide_timer", broken)
    world.at(hours=3)
    world.rules.on_schedule()
    (retry,) = [t for t in world.store.timers.values() if t.attempt == 1]
    puts = world.store.put_timers

    def unreachable(timers):
        raise RuntimeError("DynamoDB down")

    monkeypatch.setattr(world.store, "put_timers", unreachable)
    world.at(hours=3, minutes=10)
    report = world.rules.on_schedule()  # the retry fails and cannot be put again: the cursor stays before it
    assert report.failed == 1 and world.store.cursor() < retry.due_at
    monkeypatch.setattr(world.store, "put_timers", puts)
    world.at(hours=3, minutes=20)
    assert world.rules.on_schedule().timers == 1  # read again
    (again,) = [t for t in world.store.timers.values() if t.attempt == 2]  # failed again: 10 minutes on
    assert again.due_at == T0 + timedelta(hours=3, minutes=30) and again.first_due_at == T0 + timedelta(hours=2)
    retries = len(world.store.timers)
    world.at(days=3)  # more than two days after it first came due: failing once more, it is given up
    report = world.rules.on_schedule()
    assert report.failed == 1 and len(world.store.timers) == retries
    world.at(days=4)
    assert world.rules.on_schedule().timers == 0


def test_a_timer_evaluated_again_concludes_nothing_new_and_leaves_no_marker(world):
    world.send(event("cart.updated", customer=LENA, value="30.00", items=[{"product_id": "case"}]))
    world.at(hours=2, minutes=5)
    cursor = world.store.cursor()
    world.rules.on_schedule()
    assert len(world.fired("cart-abandoned")) == 1
    (derived,) = world.store.derived_states.values()
    sizes, published = world.rules.segment_sizes("elektro-emma"), len(world.out.published)
    assert not [m for _, m in world.store.markers if m.startswith("TM#")]  # timers leave no marker
    world.store.set_cursor(cursor)  # the run is repeated (it stopped before moving its cursor)
    report = world.rules.on_schedule()
    assert report.timers >= 1 and not report.fired and len(world.out.published) == published
    assert world.rules.segment_sizes("elektro-emma") == sizes
    assert world.store.derived_states[("elektro-emma", derived.profile_id)].version == derived.version  # no write


def test_a_crash_before_publishing_a_timers_conclusions_is_finished_by_the_next_run(world):
    class Failing(InMemoryPublisher):
        def publish(self, events):
            raise RuntimeError("bus down")

    world.send(event("cart.updated", customer=LENA, value="30.00", items=[{"product_id": "case"}]))
    world.at(hours=2, minutes=5)
    report = RulesService(world.store, Failing(), DEFS, world.clock).on_schedule()
    assert report.failed == 1 and not world.fired("cart-abandoned")
    assert world.store.pending  # the outbox is kept on the derived state
    world.at(hours=2, minutes=11)  # the timer was put again 5 minutes on
    world.rules.on_schedule()
    assert len(world.fired("cart-abandoned")) == 1 and not world.store.pending
    world.at(hours=3)
    world.rules.on_schedule()
    assert len(world.fired("cart-abandoned")) == 1


def test_a_run_that_dies_after_committing_is_finished_by_the_next_run_and_by_the_next_event(world):
    class Died(BaseException):  # the process ends (a timeout): not an error the run catches
        pass

    class Dying(InMemoryPublisher):
        def publish(self, events):
            raise Died

    world.send(event("cart.updated", customer=LENA, value="30.00", items=[{"product_id": "case"}]))
    world.at(hours=2, minutes=5)
    cursor = world.store.cursor()
    with pytest.raises(Died):
        RulesService(world.store, Dying(), DEFS, world.clock).on_schedule()
    assert world.store.cursor() == cursor and world.store.pending
    world.rules.on_schedule()  # reads the same timers again
    assert len(world.fired("cart-abandoned")) == 1 and not world.store.pending
    # an event of the customer finishes it just as well, before its own evaluation
    ben = {"customer_id": "7008002", "email": "ben@example.de"}
    world.send(event("cart.updated", customer=ben, minutes=130, value="30.00", items=[{"product_id": "case"}]))
    world.at(hours=4, minutes=15)
    with pytest.raises(Died):
        RulesService(world.store, Dying(), DEFS, world.clock).on_schedule()
    assert world.store.pending and len(world.fired("cart-abandoned")) == 1
    world.send(event("page.viewed", customer=ben, minutes=256))
    assert len(world.fired("cart-abandoned")) == 2 and not world.store.pending
    world.rules.on_schedule()  # and the run, repeated, finds it done
    assert len(world.fired("cart-abandoned")) == 2


def test_a_review_replaced_by_a_later_one_is_superseded_and_writes_nothing(world):
    from emma.rules.state import Timer

    world.send(order("o1", "50.00", customer=LENA))
    (derived,) = world.store.derived_states.values()
    named = derived.next_review_at
    surplus = Timer("elektro-emma", derived.profile_id, "review", named - timedelta(hours=1))
    world.store.put_timers([surplus])  # as a commit that did not happen leaves one
    world.clock.at = named - timedelta(minutes=30)
    timers = len(world.store.timers)
    report = world.rules.on_schedule()
    assert report.superseded == 1 and report.evaluated == 0 and len(world.store.timers) == timers
    assert world.store.derived_states[("elektro-emma", derived.profile_id)].version == derived.version
    world.clock.at = named + timedelta(minutes=1)
    assert world.rules.on_schedule().evaluated == 1  # the named one comes


def test_a_backlog_larger_than_a_run_is_worked_off_by_the_next_runs(world, monkeypatch):
    from emma.rules import service

    monkeypatch.setattr(service, "MAX_TIMERS_PER_RUN", 1)
    ben = {"customer_id": "7008002", "email": "ben@example.de"}
    eva = {"customer_id": "7008003", "email": "eva@example.de"}
    for minutes, customer in ((0, LENA), (1, ben), (1, eva)):
        world.send(
            event("cart.updated", customer=customer, minutes=minutes, value="30.00", items=[{"product_id": "a"}])
        )
    world.at(hours=3)
    due = world.store.due_timers(world.clock.now(), T0 - timedelta(days=1))
    assert len(due) == 3
    runs = [world.rules.on_schedule().timers for _ in range(3)]
    assert runs == [1, 2, 0]  # one a run (those due at the same moment together), each once, none left out
    assert len(world.fired("cart-abandoned")) == 3


def test_an_order_in_the_arming_second_disarms(world):
    from datetime import timedelta as td

    world.send(event("checkout.started", customer=LENA, at=T0 + td(milliseconds=120), items=[{"product_id": "a"}]))
    world.send(order("o1", "10.00", customer=LENA, at=T0 + td(milliseconds=600)))
    world.at(hours=3)
    world.rules.on_schedule()
    assert not world.fired("cart-abandoned")


def test_an_arm_survives_the_merge_of_the_anonymous_profile(world):
    world.send(event("cart.updated", customer={"anonymous_id": "anon-m"}, value="30.00", items=[{"product_id": "a"}]))
    world.send(event("page.viewed", minutes=1, customer={"anonymous_id": "anon-m", **LENA}))
    world.at(hours=3)
    world.rules.on_schedule()
    assert len(world.fired("cart-abandoned")) == 1


def test_a_late_older_event_does_not_move_the_deadline_earlier(world):
    cart = {"value": "30.00", "items": [{"product_id": "a"}]}
    world.send(event("cart.updated", customer=LENA, minutes=60, **cart))
    world.send(event("cart.updated", customer=LENA, minutes=0, **cart))  # arrives late
    world.at(hours=2, minutes=30)
    world.rules.on_schedule()
    assert not world.fired("cart-abandoned")  # due 2 h after the newest change, not the oldest
    world.at(hours=3, minutes=5)
    world.rules.on_schedule()
    assert len(world.fired("cart-abandoned")) == 1


def test_a_smartphone_owner_registering_fires_the_registration_entry(world):
    guest = {"email": "gast@example.de"}
    world.send(event("customer.registered", customer={"customer_id": "c-77", "email": "nobody@example.de"}))
    assert world.fired("smartphone-owner-registered") == []  # no smartphone: no onboarding
    world.send(order("o-77", "649.00", customer=guest, id="shopify:o-77"))
    assert len(world.fired("smartphone-purchased")) == 1
    world.send(event("customer.registered", customer={"customer_id": "c-78", **guest}, minutes=60))
    (fired,) = world.fired("smartphone-owner-registered")
    assert fired.customer.profile_id == world.fired("smartphone-purchased")[0].customer.profile_id
