"""The loyalty welcome (journeys/loyalty-welcome.yaml): a customer's third order lifts them to silver, the rules
fire loyalty-tier-reached, the journey starts beside a running cross-sell (it allows it), and its compiled
state machine, walked here task by task, sends loyalty-welcome, waits 14 days and sends loyalty-thanks."""

from datetime import datetime, timedelta
from pathlib import Path

from emma.ingest.service import IngestService
from emma.journeys.compile import compile_journey
from emma.journeys.loader import load_journeys
from emma.journeys.service import JourneyService
from emma.rules.loader import load_definitions
from emma.rules.service import RulesService
from emma_local.fakes import (
    FixedClock,
    InMemoryCatalog,
    InMemoryJourneyStore,
    InMemoryProfileRepository,
    InMemoryPublisher,
    InMemoryRulesStore,
)
from tests.factories import T0, order
from tests.unit.journeys.test_service import FakeExecutions, FakeMessages

ROOT = Path(__file__).resolve().parents[3]
DEFS = load_definitions(ROOT)
SHIPPED = load_journeys(ROOT, DEFS)
JOURNEYS = {j.id: j for j in SHIPPED}
CUSTOMER = {"customer_id": "c-1", "email": "anna@example.com"}


class World:
    def __init__(self) -> None:
        self.clock = FixedClock(T0)
        profiles = InMemoryProfileRepository()
        self.bus = InMemoryPublisher()
        self.ingest = IngestService(profiles, InMemoryCatalog(profiles), self.bus, self.clock, parallel_customers=1)
        self.rules_store = InMemoryRulesStore(profiles)
        self.concluded = InMemoryPublisher()
        self.rules = RulesService(self.rules_store, self.concluded, DEFS, self.clock, sleep=lambda s: None)
        self.store, self.executions, self.messages = InMemoryJourneyStore(), FakeExecutions(), FakeMessages()
        self.journeys = JourneyService(
            SHIPPED,
            self.store,
            self.executions,
            self.messages,
            self.ingest,
            self.rules_store,
            self.clock,
            publisher=InMemoryPublisher(),
        )

    def order(self, order_id: str, days: int) -> list[str]:
        """An order on day ``days``: ingest, the rules, and the journeys seeing what the rules published."""
        self.clock.at = T0 + timedelta(days=days)
        before_bus, before_rules = len(self.bus.published), len(self.concluded.published)
        self.ingest.ingest([order(order_id, "40.00", customer=CUSTOMER, at=self.clock.at)])
        for published in self.bus.published[before_bus:]:
            self.rules.on_event(published)
        done = []
        for concluded in self.concluded.published[before_rules:]:
            done += self.journeys.on_event(concluded)
        return done

    def run(self, journey: str, pid: str) -> list[tuple[str, datetime]]:
        """Walk the journey's compiled ASL as Step Functions would (Tasks call the steps function, Waits pass
        on the clock) and return the templates requested with when."""
        asl = compile_journey(JOURNEYS[journey])
        execution = self.store.get("elektro-emma", pid, journey).execution
        at, sent = asl["StartAt"], []
        while at is not None:
            state = asl["States"][at]
            if state["Type"] == "Wait":
                self.clock.advance(seconds=state["Seconds"])
            elif state["Type"] == "Task":
                runtime = {
                    "$.shop": "elektro-emma",
                    "$.profile_id": pid,
                    "$$.Execution.Name": execution,
                    "$$.State.EnteredTime": self.clock.now().isoformat(),
                }
                payload = state["Parameters"]["Payload"]
                before = len(self.messages.requests)
                self.journeys.step(
                    {k.removesuffix(".$"): runtime.get(v, v) if k.endswith(".$") else v for k, v in payload.items()}
                )
                sent += [(m["template"], self.clock.now()) for m in self.messages.requests[before:]]
            else:
                raise AssertionError(f"unexpected state {at}: {state['Type']}")
            at = None if state.get("End") else state["Next"]
        return sent


def test_reaching_silver_starts_the_welcome_which_sends_both_mails_in_order():
    w = World()
    assert not any("loyalty-welcome" in d for d in w.order("o1", 0) + w.order("o2", 10))
    done = w.order("o3", 20)  # the third order in a year: silver
    assert any(d.startswith("loyalty-welcome: started") for d in done), done
    pid = w.ingest.resolve("elektro-emma", "cid:c-1").profile_id
    # entered although the cross-sell (same exclusive group, higher priority) is active: it allows it
    assert w.store.get("elektro-emma", pid, "post-purchase-cross-sell").status == "active"
    assert w.rules_store.derived("elektro-emma", pid).loyalty_tier == "tier-silver"
    entered_at = w.clock.now()
    sent = w.run("loyalty-welcome", pid)
    assert [t for t, _ in sent] == ["loyalty-welcome", "loyalty-thanks"]
    assert sent[0][1] == entered_at and sent[1][1] - sent[0][1] == timedelta(days=14)
    state = w.store.get("elektro-emma", pid, "loyalty-welcome")
    assert state.status == "completed" and state.messages == 2
    requests = [m for m in w.messages.requests if m["journey"] == "loyalty-welcome"]
    assert all(not m["transactional"] for m in requests)  # marketing: consent, topic and caps apply


def test_an_order_that_keeps_the_tier_starts_no_second_welcome():
    w = World()
    for n, day in enumerate((0, 10, 20)):
        w.order(f"o{n}", day)
    assert not any("loyalty-welcome" in d for d in w.order("o4", 30))  # still silver: nothing entered
