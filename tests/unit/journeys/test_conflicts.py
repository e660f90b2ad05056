"""Journeys that know each other (issue 18): entries refused by the journeys a customer is in and by exclusions,
recorded on the profile (status never) and announced; sends held (or the journey ended) when a conflict arose
after the entry; priorities within an exclusive group; explicit allowances."""

from datetime import timedelta

import pytest

from emma.ingest.service import IngestService
from emma.journeys.conflicts import conflict, describe
from emma.journeys.definitions import Journey, JourneyGroup, JourneySet
from emma.journeys.service import JourneyService, execution_name
from emma.rules.evaluate import Facts
from emma_local.fakes import (
    FixedClock,
    InMemoryCatalog,
    InMemoryJourneyStore,
    InMemoryProfileRepository,
    InMemoryPublisher,
    InMemoryRulesStore,
)
from tests.factories import T0, event, order
from tests.unit.journeys.test_service import CUSTOMER, SHIPPED, FakeExecutions, FakeMessages, customer, fired, payload

SHOP = "elektro-emma"
MARKETING = JourneyGroup(id="marketing", exclusive=True)


def variant(journey_id, **changes):
    """A shipped journey with some settings changed."""
    base = next(j for j in SHIPPED if j.id == journey_id)
    return Journey.model_validate({**base.model_dump(by_alias=True, exclude_none=True), **changes})


class World:
    def __init__(self, journeys):
        self.clock = FixedClock(T0)
        profiles = InMemoryProfileRepository()
        self.publisher = InMemoryPublisher()
        self.ingest = IngestService(
            profiles, InMemoryCatalog(profiles), self.publisher, self.clock, parallel_customers=1
        )
        self.rules = InMemoryRulesStore(profiles)
        self.store, self.executions, self.messages = InMemoryJourneyStore(), FakeExecutions(), FakeMessages()
        self.announced = InMemoryPublisher()
        self.service = JourneyService(
            journeys,
            self.store,
            self.executions,
            self.messages,
            self.ingest,
            self.rules,
            self.clock,
            publisher=self.announced,
        )

    def state(self, pid, journey):
        return self.store.get(SHOP, pid, journey)

    def lapsed(self, pid, id_="lapsed-1"):
        return event(
            "segment.entered",
            id=id_,
            source="emma",
            customer={"profile_id": pid},
            segment="lapsed",
            at=self.clock.now(),
        )

    def refused(self):
        return [e for e in self.announced.published if e.type.value == "journey.refused"]


@pytest.fixture
def w():
    return World(SHIPPED)


def test_winback_during_the_onboarding_is_refused_recorded_as_never_entered_and_announced(w):
    pid = customer(w)
    w.service.on_event(fired(w, pid, "smartphone-purchased"))
    w.clock.advance(days=188)  # the demo's case: still in the ~11 months of onboarding when the customer lapses
    done = w.service.on_event(w.lapsed(pid))
    assert done == [f"winback: not entered (smartphone-onboarding active since {T0.date().isoformat()})"]
    state = w.state(pid, "winback")
    assert state.status == "never" and state.execution == "" and state.entries == 0
    (entry,) = state.log
    assert entry.what == "refused" and entry.detail == f"smartphone-onboarding active since {T0.date().isoformat()}"
    assert state.view()["entered_at"] is None and state.view()["status"] == "never"
    (announced,) = w.refused()
    assert announced.properties.journey == "winback" and announced.properties.reason == entry.detail
    assert announced.source.name == "journey:winback" and announced.customer.profile_id == pid
    w.service.on_event(w.lapsed(pid))  # the same segment entry delivered again: recorded once
    assert len(w.state(pid, "winback").log) == 1 and len({e.id for e in w.refused()}) == 1
    assert list(w.executions.started) == [execution_name(pid, "smartphone-onboarding:fire-1")]


def test_a_journey_only_ever_refused_counts_as_never_entered(w):
    """Re-entry rules read status never as "never entered": once the onboarding is over, the next lapse enters."""
    pid = customer(w)
    w.service.on_event(fired(w, pid, "smartphone-purchased"))
    w.service.on_event(w.lapsed(pid))
    onboarding = w.state(pid, "smartphone-onboarding")
    w.service.step(payload(w, pid, "smartphone-onboarding", "done", "finish", {"reason": "exit step"}))
    assert w.state(pid, "smartphone-onboarding").status == "completed" != onboarding.status
    w.clock.advance(days=1)
    (done,) = w.service.on_event(w.lapsed(pid, "lapsed-2"))
    assert done.startswith("winback: started")
    state = w.state(pid, "winback")
    assert state.status == "active" and state.entries == 1 and [e.what for e in state.log] == ["refused", "entered"]


def test_an_exclusion_condition_refuses_with_what_held(w):
    pid = customer(w, order("o-1", "40.00", customer=CUSTOMER, at=T0))
    w.clock.advance(days=12)
    (done,) = w.service.on_event(w.lapsed(pid))
    assert done == "winback: not entered (excluded: last order 12 days ago (condition 1))"
    assert w.state(pid, "winback").status == "never"
    w.clock.advance(days=30)
    assert w.service.on_event(w.lapsed(pid, "lapsed-2"))[0].startswith("winback: started")


def test_within_an_exclusive_group_the_higher_priority_wins_and_the_lower_one_holds_its_sends(w):
    pid = customer(w)
    assert w.service.on_event(w.lapsed(pid))[0].startswith("winback: started")  # marketing, priority 20
    w.clock.advance(hours=1)
    # newsletter picks (priority 10) wait for the winback: refused
    (done,) = w.service.on_event(fired(w, pid, "newsletter-opened", "nl-1"))
    assert done == "newsletter-interest: not entered (winback (group marketing, priority 20) active)"
    # a cart left now (priority 40) goes first
    assert w.service.on_event(fired(w, pid, "cart-abandoned", "cart-1"))[0].startswith("abandoned-cart: started")
    # the winback's next mail is held while the cart journey runs, and the winback goes on
    spec = {"template": "winback-coupon", "channel": "best", "transactional": False, "max_messages": 2}
    w.service.step(payload(w, pid, "winback", "coupon", "send", spec, then="done"))
    assert w.messages.requests == []
    state = w.state(pid, "winback")
    assert state.status == "active" and state.step == "done" and state.messages == 0
    held = state.log[-1]
    assert held.what == "held" and held.detail == "winback-coupon: abandoned-cart (group marketing, priority 40) active"
    # the cart journey's own mails go out
    cart = {"template": "cart-reminder", "channel": "best", "transactional": False, "max_messages": 2}
    w.service.step(payload(w, pid, "abandoned-cart", "reminder", "send", cart, then="give-it-a-day"))
    assert [m["template"] for m in w.messages.requests] == ["cart-reminder"]
    # once the cart journey is over, the winback sends again
    w.service.step(payload(w, pid, "abandoned-cart", "done", "finish", {"reason": "exit step"}))
    w.clock.advance(hours=1)
    w.service.step(payload(w, pid, "winback", "miss-you", "send", {**spec, "template": "winback-miss-you"}))
    assert [m["template"] for m in w.messages.requests] == ["cart-reminder", "winback-miss-you"]


def test_equal_priority_the_journey_already_active_keeps_the_customer():
    first = variant("winback", priority=5, excludes={})
    second = variant("newsletter-interest", priority=5)
    w = World(JourneySet([first, second], [MARKETING]))
    pid = customer(w)
    w.service.on_event(w.lapsed(pid))
    (done,) = w.service.on_event(fired(w, pid, "newsletter-opened"))
    assert done == "newsletter-interest: not entered (winback (group marketing, priority 5) active)"
    # at a send, of two running at equal priority (a race at entry) the one that entered first keeps sending
    running = {s.journey: s for s in w.store.list(SHOP, pid)}
    later = running["winback"].model_copy(update={"journey": "newsletter-interest", "status": "active"})
    later.entered_at = running["winback"].entered_at + timedelta(seconds=1)
    journeys = {j.id: j for j in (first, second)}
    groups = {"marketing": MARKETING}
    facts = lambda: pytest.fail("no exclusion conditions: no facts needed")  # noqa: E731
    states = [running["winback"], later]
    assert conflict(second, states, journeys, groups, facts, later.entered_at) == (
        "winback (group marketing, priority 5) active"
    )
    assert conflict(first, states, journeys, groups, facts, running["winback"].entered_at) is None


def test_an_allowance_or_a_non_exclusive_group_lets_journeys_run_side_by_side():
    cart = variant("abandoned-cart", allows=["winback"])
    winback = variant("winback", excludes={})
    w = World(JourneySet([cart, winback], [MARKETING]))
    pid_allowed = customer(w)
    w.service.on_event(fired(w, pid_allowed, "cart-abandoned"))
    assert w.service.on_event(w.lapsed(pid_allowed))[0].startswith("winback: started")
    loose = World(JourneySet([variant("abandoned-cart"), winback], [MARKETING.model_copy(update={"exclusive": False})]))
    pid = customer(loose)
    loose.service.on_event(fired(loose, pid, "cart-abandoned"))
    assert loose.service.on_event(loose.lapsed(pid))[0].startswith("winback: started")


def test_an_excluding_journey_yields_to_the_one_it_excludes_at_entry_and_before_each_send(w):
    """winback excludes the onboarding: a smartphone bought during a winback starts the onboarding all the same;
    the winback, still running, holds its mails."""
    pid = customer(w)
    w.service.on_event(w.lapsed(pid))
    assert w.service.on_event(fired(w, pid, "smartphone-purchased"))[0].startswith("smartphone-onboarding: started")
    spec = {"template": "winback-miss-you", "channel": "best", "transactional": False, "max_messages": 2}
    w.service.step(payload(w, pid, "winback", "miss-you", "send", spec, then="interested"))
    assert w.messages.requests == []
    assert w.state(pid, "winback").log[-1].detail == (
        f"winback-miss-you: smartphone-onboarding active since {T0.date().isoformat()}"
    )
    # the onboarding's own mails are not held by the winback
    tutorial = {"template": "tutorial-next", "channel": "best", "transactional": False, "max_messages": 12}
    w.service.step(payload(w, pid, "smartphone-onboarding", "tutorial-1", "send", tutorial, then="second-week"))
    assert [m["template"] for m in w.messages.requests] == ["tutorial-next"]


def test_on_conflict_exit_ends_the_journey_before_the_send():
    winback = variant("winback", on_conflict="exit")
    w = World(JourneySet([winback, variant("smartphone-onboarding")], [MARKETING]))
    pid = customer(w)
    w.service.on_event(w.lapsed(pid))
    arn = w.state(pid, "winback").execution_arn
    w.service.on_event(fired(w, pid, "smartphone-purchased"))
    spec = {"template": "winback-miss-you", "channel": "best", "transactional": False, "max_messages": 2}
    w.service.step(payload(w, pid, "winback", "miss-you", "send", spec, then="interested"))
    reason = f"conflict: smartphone-onboarding active since {T0.date().isoformat()}"
    assert w.messages.requests == [] and w.executions.stopped == [(arn, reason)]
    state = w.state(pid, "winback")
    assert state.status == "exited" and state.end_reason == reason
    (ended,) = [e for e in w.announced.published if e.type.value == "journey.ended"]
    assert ended.properties.status == "exited"


def test_transactional_messages_are_never_held(w):
    pid = customer(w)
    w.service.on_event(w.lapsed(pid))
    w.service.on_event(fired(w, pid, "smartphone-purchased"))
    spec = {"template": "winback-miss-you", "channel": "email", "transactional": True, "max_messages": 2}
    w.service.step(payload(w, pid, "winback", "miss-you", "send", spec, then="interested"))
    assert [m["template"] for m in w.messages.requests] == ["winback-miss-you"]


def test_conditions_are_described_by_what_made_them_hold(w):
    pid = customer(w, order("o-1", "40.00", customer=CUSTOMER, at=T0))
    profile = w.ingest.resolve(SHOP, pid)
    facts = Facts(profile=profile, now=T0 + timedelta(days=1), segments={"vip"})
    when = variant(
        "winback",
        excludes={
            "when": [
                {"days_since": "profile.orders.last_order_at", "lt": 30},
                {"segment": "vip"},
                {"orders": {"within": "30d"}, "gte": 1},
                [{"field": "profile.orders.count", "gte": 1}, {"not": {"segment": "lapsed"}}],
            ]
        },
    ).excludes.when
    assert [describe(c, facts) for c in when] == [
        "last order 1 day ago",
        "in segment vip",
        "1 orders within 30 days",
        "orders.count = 1 and not (in segment lapsed)",
    ]
