"""Journey control and steps with in-memory ports: entry, re-entry, duplicates, exits, awaited
events, caps, branches, splits, time-of-day waits and failures."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from emma.ingest.service import IngestService
from emma.journeys.definitions import Journey, Variant
from emma.journeys.loader import load_journeys
from emma.journeys.service import JourneyService, UnknownAction, execution_name, next_time_of_day, split_variant
from emma.rules.loader import load_definitions
from emma.rules.state import Derived
from emma_local.fakes import (
    FixedClock,
    InMemoryCatalog,
    InMemoryJourneyStore,
    InMemoryProfileRepository,
    InMemoryPublisher,
    InMemoryRulesStore,
)
from tests.factories import T0, event, order

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = load_journeys(ROOT, load_definitions(ROOT))  # with their groups (journeys/_groups.yaml)
JOURNEYS = {j.id: j for j in SHIPPED}
CUSTOMER = {"customer_id": "c-1", "email": "anna@example.com"}


class FakeExecutions:
    def __init__(self):
        self.started, self.stopped, self.resumed, self.expired = {}, [], [], set()

    def arn(self, journey, name):
        return f"arn:aws:states:eu-central-1:1:execution:emma-journey-{journey}:{name}"

    def start(self, journey, name, payload):
        if name in self.started and self.started[name] != payload:
            raise AssertionError("same name, different input")
        self.started[name] = payload

    def stop(self, arn, cause):
        self.stopped.append((arn, cause))

    def resume(self, token, output):
        if token in self.expired:
            return False
        self.resumed.append((token, output))
        return True


class FakeMessages:
    def __init__(self):
        self.requests = []

    def request(self, message):
        self.requests.append(message.model_dump(mode="json"))  # as the queue carries it


@pytest.fixture
def world():
    clock = FixedClock(T0)
    profiles = InMemoryProfileRepository()
    publisher = InMemoryPublisher()
    ingest = IngestService(profiles, InMemoryCatalog(profiles), publisher, clock, parallel_customers=1)
    rules = InMemoryRulesStore(profiles)
    store, executions, messages = InMemoryJourneyStore(), FakeExecutions(), FakeMessages()
    announced = InMemoryPublisher()  # the journeys' progress for analytics (source emma.journeys)
    service = JourneyService(SHIPPED, store, executions, messages, ingest, rules, clock, publisher=announced)

    class World:
        pass

    w = World()
    w.clock, w.ingest, w.rules, w.store, w.executions, w.messages, w.service, w.publisher = (
        clock,
        ingest,
        rules,
        store,
        executions,
        messages,
        service,
        publisher,
    )
    w.announced = announced
    return w


def customer(w, *events):
    w.ingest.ingest(list(events) or [event("customer.registered", customer=CUSTOMER)])
    return w.ingest.resolve("elektro-emma", "cid:c-1").profile_id


def fired(w, pid, trigger, id_="fire-1"):
    return event(
        "trigger.fired", id=id_, source="emma", customer={"profile_id": pid}, trigger=trigger, at=w.clock.now()
    )


def payload(w, pid, journey, step, action, spec=None, then=None, **extra):
    state = w.store.get("elektro-emma", pid, journey)
    return {
        "action": action,
        "journey": journey,
        "step": step,
        "then": then,
        "spec": spec,
        "shop": "elektro-emma",
        "profile_id": pid,
        "execution": state.execution,
        "entered": w.clock.now().isoformat(),
        **extra,
    }


def test_an_entry_trigger_starts_one_named_execution_and_a_redelivery_starts_nothing_new(world):
    pid = customer(world)
    done = world.service.on_event(fired(world, pid, "smartphone-purchased"))
    assert done == [f"smartphone-onboarding: started {execution_name(pid, 'smartphone-onboarding:fire-1')}"]
    state = world.store.get("elektro-emma", pid, "smartphone-onboarding")
    assert state.status == "active" and state.step == "grant-warranty" and state.log[0].what == "entered"
    world.service.on_event(fired(world, pid, "smartphone-purchased"))  # SQS delivers it again
    assert len(world.executions.started) == 1
    # A second, different purchase while the journey runs: refused, and the refusal is on record.
    done = world.service.on_event(fired(world, pid, "smartphone-purchased", id_="fire-2"))
    assert "not entered (already in this journey" in done[0] and len(world.executions.started) == 1
    assert world.store.get("elektro-emma", pid, "smartphone-onboarding").log[-1].what == "refused"


def test_reentry_follows_the_journey_policy(world):
    pid = customer(world)
    world.service.on_event(fired(world, pid, "cart-abandoned"))
    name = next(iter(world.executions.started))
    world.service.step({**payload(world, pid, "abandoned-cart", "done", "finish", {"reason": "exit step"})})
    world.clock.advance(days=2)
    assert "re-entry only 7 days" in world.service.on_event(fired(world, pid, "cart-abandoned", "fire-2"))[0]
    world.clock.advance(days=6)
    assert "started" in world.service.on_event(fired(world, pid, "cart-abandoned", "fire-3"))[0]
    state = world.store.get("elektro-emma", pid, "abandoned-cart")
    assert state.entries == 2 and state.execution != name
    # never: smartphone onboarding runs once... per 365 days (reentry after 365d)
    assert JOURNEYS["smartphone-onboarding"].reentry.after == timedelta(days=365)


def test_an_exit_event_stops_the_execution_in_the_middle_of_a_wait(world):
    pid = customer(world)
    world.service.on_event(fired(world, pid, "cart-abandoned"))
    arn = world.store.get("elektro-emma", pid, "abandoned-cart").execution_arn
    placed = order("o-9", "50.00", customer={**CUSTOMER, "profile_id": pid})
    assert world.service.on_event(placed) == ["abandoned-cart: exited (exit event order.placed)"]
    assert world.executions.stopped == [(arn, "exit event order.placed")]
    state = world.store.get("elektro-emma", pid, "abandoned-cart")
    assert state.status == "exited" and state.end_reason == "exit event order.placed"
    world.service.on_event(placed)  # again: nothing more to stop
    assert len(world.executions.stopped) == 1


def test_a_repeated_order_exits_nothing(world):
    """An old order delivered again under a new delivery id (ingest marks it ``repeat``) is not the
    purchase that ends an abandoned-cart journey started after it."""
    pid = customer(world)
    world.service.on_event(fired(world, pid, "cart-abandoned"))
    repeated = order("o-1", "50.00", customer={**CUSTOMER, "profile_id": pid}).model_copy(update={"repeat": True})
    assert world.service.on_event(repeated) == []
    assert world.store.get("elektro-emma", pid, "abandoned-cart").status == "active" and not world.executions.stopped


def test_an_awaited_event_hands_the_token_back_once(world):
    pid = customer(world)
    world.service.on_event(fired(world, pid, "smartphone-purchased"))
    p = payload(
        world,
        pid,
        "smartphone-onboarding",
        "survey-answer",
        "await",
        {"event": "survey.answered"},
        then="satisfied",
        token="tok-1",
    )
    world.service.step(p)
    state = world.store.get("elektro-emma", pid, "smartphone-onboarding")
    assert state.waiting_for == "survey.answered" and state.step == "survey-answer"
    assert "token" not in state.view()
    watched = event(
        "survey.answered",
        customer={**CUSTOMER, "profile_id": pid},
        survey_id="satisfaction",
        score=9,
        at=world.clock.now(),
    )
    world.ingest.ingest([watched])  # on the profile before the bus delivers it
    assert world.service.on_event(watched) == ["smartphone-onboarding: survey.answered arrived"]
    # The branch right after the wait (satisfied) is decided here: the output carries the route for its Choice.
    route = {"route": "invite-review-and-referral", "until": None}
    assert world.executions.resumed == [("tok-1", {"event_id": watched.id, "type": "survey.answered", **route})]
    state = world.store.get("elektro-emma", pid, "smartphone-onboarding")
    assert state.waiting_for is None and state.step == "invite-review-and-referral"
    assert [(e.what, e.step, e.detail) for e in state.log[-2:]] == [
        ("arrived", "survey-answer", "survey.answered"),
        ("branched", "satisfied", "-> invite-review-and-referral (condition 1 holds)"),
    ]
    steps = [e for e in world.announced.published if e.type.value == "journey.step"]
    assert [e.properties.step for e in steps] == ["survey-answer", "satisfied"]  # the branch was reached
    world.service.on_event(watched)
    assert len(world.executions.resumed) == 1 and len(
        world.store.get("elektro-emma", pid, "smartphone-onboarding").log
    ) == len(state.log)
    # A wait with no branch after it hands the bare event back.
    world.service.step(
        payload(
            world,
            pid,
            "smartphone-onboarding",
            "friend-buys",
            "await",
            {"event": "referral.made"},
            then="reward-referrer",
            token="tok-2",
        )
    )
    made = event("referral.made", customer={**CUSTOMER, "profile_id": pid}, referral_code="ABC", at=world.clock.now())
    world.service.on_event(made)
    assert world.executions.resumed[-1] == ("tok-2", {"event_id": made.id, "type": "referral.made"})


def test_an_event_that_arrived_before_the_token_was_parked_still_counts(world):
    pid = customer(world)
    world.service.on_event(fired(world, pid, "smartphone-purchased"))
    p = payload(
        world, pid, "smartphone-onboarding", "survey-answer", "await", {"event": "survey.answered"}, token="tok-2"
    )
    world.clock.advance(seconds=2)
    world.ingest.ingest(
        [event("survey.answered", customer=CUSTOMER, survey_id="satisfaction", score=9, at=world.clock.now())]
    )
    world.service.step(p)
    assert world.executions.resumed[0][0] == "tok-2"
    assert world.executions.resumed[0][1]["route"] == "invite-review-and-referral"  # score 9: the branch after it
    log = world.store.get("elektro-emma", pid, "smartphone-onboarding").log
    assert [e.what for e in log[-2:]] == ["arrived", "branched"]


def test_an_event_from_before_the_wait_does_not_count(world):
    pid = customer(
        world, event("survey.answered", customer=CUSTOMER, survey_id="satisfaction", score=9, at=T0 - timedelta(days=3))
    )
    world.service.on_event(fired(world, pid, "smartphone-purchased"))
    world.service.step(
        payload(
            world, pid, "smartphone-onboarding", "survey-answer", "await", {"event": "survey.answered"}, token="tok-3"
        )
    )
    assert world.executions.resumed == []


def test_send_requests_a_message_once_excluding_what_was_just_bought_and_respects_the_cap(world):
    pid = customer(world, order("o-1", "700.00", customer=CUSTOMER, at=T0))
    world.service.on_event(fired(world, pid, "cart-abandoned"))
    spec = {"template": "cart-reminder", "channel": "best", "transactional": False, "max_messages": 2}
    p = payload(world, pid, "abandoned-cart", "reminder", "send", spec, then="give-it-a-day")
    world.service.step(p)
    world.service.step(p)  # Step Functions retried the task: the same key, no second request
    assert len(world.messages.requests) == 1
    request = world.messages.requests[0]
    assert request["exclude_products"] == ["pixel-9"] and request["key"].endswith(f":reminder:{p['entered']}")
    state = world.store.get("elektro-emma", pid, "abandoned-cart")
    assert state.messages == 1 and state.step == "give-it-a-day"
    world.clock.advance(hours=1)
    world.service.step(payload(world, pid, "abandoned-cart", "coupon", "send", {**spec, "template": "cart-coupon"}))
    world.clock.advance(hours=1)
    world.service.step(payload(world, pid, "abandoned-cart", "coupon", "send", {**spec, "template": "x"}))
    assert [m["template"] for m in world.messages.requests] == ["cart-reminder", "cart-coupon"]
    assert world.store.get("elektro-emma", pid, "abandoned-cart").log[-1].what == "capped"
    # transactional messages are not capped
    world.service.step(payload(world, pid, "abandoned-cart", "x", "send", {**spec, "transactional": True}))
    assert len(world.messages.requests) == 3


def test_a_branch_reads_profile_and_predictions(world):
    pid = customer(world)
    world.service.on_event(fired(world, pid, "cart-abandoned"))
    spec = [
        {
            "when": {"all": [{"field": "profile.predictions.would_buy_without_incentive", "eq": True}]},
            "goto": "last-call",
        },
        {"otherwise": "coupon"},
    ]
    p = payload(world, pid, "abandoned-cart", "needs-incentive", "branch", spec)
    assert world.service.step(p) == {"route": "coupon", "until": None}
    world.rules.derived_states[("elektro-emma", pid)] = Derived(
        profile_id=pid, predictions={"would_buy_without_incentive": True}
    )
    world.clock.advance(seconds=1)
    p = payload(world, pid, "abandoned-cart", "needs-incentive", "branch", spec)
    assert world.service.step(p)["route"] == "last-call"
    assert world.store.get("elektro-emma", pid, "abandoned-cart").log[-1].detail == "-> last-call (condition 1 holds)"


def test_update_and_emit_go_through_ingest_onto_the_profile_and_the_bus(world):
    pid = customer(world)
    world.service.on_event(fired(world, pid, "smartphone-purchased"))
    p = payload(world, pid, "smartphone-onboarding", "grant-warranty", "update", {"set": {"warranty_extension": True}})
    world.service.step(p)
    world.service.step(p)  # retried: one event
    assert world.ingest.resolve("elektro-emma", pid).traits["warranty_extension"].value is True
    world.service.step(
        payload(world, pid, "smartphone-onboarding", "reward-friend", "emit", {"event": "referral-rewarded"})
    )
    published = [e for e in world.publisher.published if e.source.kind == "emma"]
    assert [e.type.value for e in published] == ["customer.updated", "custom"]
    assert published[1].properties.name == "journey.referral-rewarded"


def test_a_split_is_stable_per_customer_and_follows_the_weights():
    variants = [
        Variant(name="aa", weight=45, goto="xx"),
        Variant(name="bb", weight=45, goto="yy"),
        Variant(name="hold", weight=10, goto="zz", holdout=True),
    ]
    picks = [split_variant(variants, f"p_{n}", "j:s").name for n in range(5000)]
    assert split_variant(variants, "p_1", "j:s").name == picks[1]
    assert 0.08 < picks.count("hold") / 5000 < 0.12 and 0.42 < picks.count("aa") / 5000 < 0.48


def test_the_next_time_of_day_is_in_the_customers_timezone():
    now = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # 08:00 in Berlin, 02:00 in New York
    assert next_time_of_day(now, "09:30", "Europe/Berlin") == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    assert next_time_of_day(now, "07:00", "Europe/Berlin") == datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
    assert next_time_of_day(now, "09:30", "America/New_York") == datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    assert next_time_of_day(now, "09:30", "Not/AZone") == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def test_failure_and_finish_are_recorded_and_unknown_actions_refused(world):
    pid = customer(world)
    world.service.on_event(fired(world, pid, "smartphone-purchased"))
    p = payload(
        world,
        pid,
        "smartphone-onboarding",
        "journey.failed",
        "failed",
        error={"Error": "ProfileNotFound", "Cause": "gone"},
    )
    world.service.step(p)
    state = world.store.get("elektro-emma", pid, "smartphone-onboarding")
    assert state.status == "failed" and state.end_reason == "ProfileNotFound: gone"
    with pytest.raises(UnknownAction):
        world.service.step({**p, "action": "__class__"})


def test_journeys_only_enter_in_their_shops(world):
    pid = customer(world)
    only_other = Journey.model_validate(
        {**JOURNEYS["winback"].model_dump(by_alias=True, exclude_none=True), "shops": ["fahrrad-franz"]}
    )
    service = JourneyService(
        [only_other], world.store, world.executions, world.messages, world.ingest, world.rules, world.clock
    )
    entered = event("segment.entered", source="emma", customer={"profile_id": pid}, segment="lapsed")
    assert service.on_event(entered) == []


def test_a_wait_that_timed_out_is_recorded_and_a_late_event_resumes_nothing(world):
    pid = customer(world)
    world.service.on_event(fired(world, pid, "smartphone-purchased"))
    world.service.step(
        payload(
            world, pid, "smartphone-onboarding", "survey-answer", "await", {"event": "survey.answered"}, token="tok-4"
        )
    )
    world.clock.advance(days=7)  # States.Timeout: the execution goes on to the newsletter
    spec = {"template": "personalised-newsletter", "channel": "best", "transactional": False, "max_messages": 12}
    world.service.step(payload(world, pid, "smartphone-onboarding", "newsletter", "send", spec, then="device-ageing"))
    state = world.store.get("elektro-emma", pid, "smartphone-onboarding")
    assert [e.what for e in state.log][-2:] == ["timed_out", "sent"] and state.waiting_for is None
    late = event(
        "survey.answered",
        customer={**CUSTOMER, "profile_id": pid},
        survey_id="satisfaction",
        score=9,
        at=world.clock.now(),
    )
    assert world.service.on_event(late) == [] and world.executions.resumed == []


def test_progress_is_announced_for_analytics_under_ids_a_retry_repeats(world):
    pid = customer(world)
    world.service.on_event(fired(world, pid, "cart-abandoned"))
    spec = [{"otherwise": "coupon"}]
    p = payload(world, pid, "abandoned-cart", "needs-incentive", "branch", spec)
    world.service.step(p)
    world.service.step(p)  # Step Functions retried the task
    world.service.step({**payload(world, pid, "abandoned-cart", "done", "finish", {"reason": "exit step"})})
    types = [(e.type.value, e.properties.step) for e in world.announced.published]
    # entered at the first step; the branch reached (twice: the retry); ended where the branch sent it
    assert types == [
        ("journey.entered", "reminder"),
        ("journey.step", "needs-incentive"),
        ("journey.step", "needs-incentive"),
        ("journey.ended", "coupon"),
    ]
    steps = [e for e in world.announced.published if e.type.value == "journey.step"]
    assert len({e.id for e in steps}) == 1  # the retry repeats the id: analytics counts it once
    (ended,) = [e for e in world.announced.published if e.type.value == "journey.ended"]
    assert ended.properties.status == "completed" and ended.customer.profile_id == pid


def test_a_journey_never_fails_for_its_measurement(world):
    from emma.errors import PublishError

    def broken(events):
        raise PublishError("EventBridge is down")

    world.announced.publish = broken
    pid = customer(world)
    assert "started" in world.service.on_event(fired(world, pid, "cart-abandoned"))[0]
    p = payload(world, pid, "abandoned-cart", "needs-incentive", "branch", [{"otherwise": "coupon"}])
    assert world.service.step(p)["route"] == "coupon"


def test_a_smartphone_owner_registering_enters_once_whichever_came_first(world):
    """The flagship's second way in (seed 000): registering after a guest purchase starts the onboarding; the
    purchase's own trigger after that (or the registration after the purchase) starts nothing more."""
    pid = customer(world)
    done = world.service.on_event(fired(world, pid, "smartphone-owner-registered", id_="reg-1"))
    assert done[0].startswith("smartphone-onboarding: started") and len(world.executions.started) == 1
    done = world.service.on_event(fired(world, pid, "smartphone-purchased", id_="fire-9"))
    assert "not entered (already in this journey" in done[0] and len(world.executions.started) == 1


def compiled(w, pid, journey, state_name, token=None):
    """The Payload of a compiled task state as the steps function receives it (Step Functions fills in the
    JSONPath fields)."""
    from emma.journeys.compile import compile_journey

    task = compile_journey(JOURNEYS[journey])["States"][state_name]["Parameters"]["Payload"]
    state = w.store.get("elektro-emma", pid, journey)
    runtime = {
        "$.shop": "elektro-emma",
        "$.profile_id": pid,
        "$$.Execution.Name": state.execution,
        "$$.State.EnteredTime": w.clock.now().isoformat(),
        "$$.Task.Token": token,
    }
    return {k.removesuffix(".$"): runtime[v] if k.endswith(".$") else v for k, v in task.items()}


def test_a_sequence_does_each_action_once_in_order_and_a_retry_repeats_none(world):
    pid = customer(world)
    world.service.on_event(fired(world, pid, "smartphone-purchased"))
    p = compiled(world, pid, "smartphone-onboarding", "reward-referrer")  # reward, its mail, the newsletter
    assert [a["step"] for a in p["spec"]] == ["reward-referrer", "reward-mail", "newsletter"]
    assert world.service.step(p) == {"route": None, "until": None}
    world.service.step(p)  # Step Functions retried the task (a timeout after the work was done): nothing twice
    assert [m["template"] for m in world.messages.requests] == ["referral-reward", "personalised-newsletter"]
    keys = [m["key"] for m in world.messages.requests]
    assert keys == [f"{p['execution']}:{s}:{p['entered']}" for s in ("reward-mail", "newsletter")]  # one per action
    updated = [e for e in world.publisher.published if e.type.value == "customer.updated" and e.source.kind == "emma"]
    assert len(updated) == 1 and world.ingest.resolve("elektro-emma", pid).traits["referral_reward"].value == "granted"
    state = world.store.get("elektro-emma", pid, "smartphone-onboarding")
    assert [(e.step, e.what) for e in state.log[1:]] == [
        ("reward-referrer", "updated"),
        ("reward-mail", "sent"),
        ("newsletter", "sent"),
    ]
    assert state.step == "device-ageing" and state.messages == 1  # the reward mail is transactional
    steps = {e.id: e.properties.step for e in world.announced.published if e.type.value == "journey.step"}
    assert list(steps.values()) == ["reward-referrer", "reward-mail", "newsletter"]  # the retry: the same ids


def test_a_sequence_ending_the_journey_records_completion_in_the_same_task(world):
    pid = customer(world)
    world.service.on_event(fired(world, pid, "smartphone-purchased"))
    p = compiled(world, pid, "smartphone-onboarding", "upgrade-offer")
    assert [a["action"] for a in p["spec"]] == ["send", "finish"]
    world.service.step(p)
    state = world.store.get("elektro-emma", pid, "smartphone-onboarding")
    assert state.status == "completed" and state.end_reason == "exit step"
    assert [m["template"] for m in world.messages.requests] == ["upgrade-offer"]


def test_a_sequence_stops_where_the_journey_ended(world):
    pid = customer(world)
    world.service.on_event(fired(world, pid, "smartphone-purchased"))
    p = compiled(world, pid, "smartphone-onboarding", "service-follow-up")  # two sends
    cancelled = event(
        "order.cancelled",
        customer={**CUSTOMER, "profile_id": pid},
        order_id="o-1",
        total=50.0,
        currency="EUR",
        at=world.clock.now(),
    )
    assert world.service.on_event(cancelled) == ["smartphone-onboarding: exited (exit event order.cancelled)"]
    world.service.step(p)  # the task had started before the stop reached it
    assert world.messages.requests == []


def test_a_branch_that_checks_again_later_waits_on_its_own_token_or_hands_it_back_with_the_route(world):
    pid = customer(world, order("o-1", "700.00", customer=CUSTOMER, at=T0))  # a smartphone: not due for long
    world.service.on_event(fired(world, pid, "smartphone-purchased"))
    p = compiled(world, pid, "smartphone-onboarding", "upgrade-check", token="tok-1")
    assert p["action"] == "poll" and p["spec"]["wait"] == "a-month-later"
    assert world.service.step(p)["route"] == "a-month-later"
    assert world.executions.resumed == []  # the token stays parked: the task's timeout is the month's wait
    state = world.store.get("elektro-emma", pid, "smartphone-onboarding")
    assert state.step == "a-month-later" and state.log[-1].detail == "-> a-month-later (otherwise)"
    world.clock.advance(days=331)  # the journey's year is nearly over
    p = compiled(world, pid, "smartphone-onboarding", "upgrade-check", token="tok-2")
    assert world.service.step(p)["route"] == "done"
    assert world.executions.resumed == [("tok-2", {"route": "done", "until": None})]
    checks = [e for e in world.store.get("elektro-emma", pid, "smartphone-onboarding").log if e.what == "branched"]
    assert len(checks) == 2
