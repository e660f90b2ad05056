"""The smartphone onboarding for four customers who behave differently, end to end on the local
runtime with time compressed (a week in about a second of wall time):

    Anna   watches the camera tutorial, is happy in the survey
    Ben    ignores everything (every wait for him times out)
    Clara  skips the tutorial and is unhappy in the survey
    David  watches, is happy, and refers a friend who then buys

Each persona reacts to what the journey waits for (as a person would react to the message), over
the tracker API; progress is printed live and each customer's timeline at the end."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from emma_local.runtime import LocalRuntime

JOURNEY = "smartphone-onboarding"
WEEK_PER_SECOND = 7 * 86400.0
SHOP, WRITE_KEY, ADMIN_KEY = "elektro-emma", "wk_local_elektro_emma", "ak_local_elektro_emma"
PHONE = {"product_id": "pixel-9-pro", "price": 999.0, "category": "smartphones", "brand": "Google"}


@dataclass
class Persona:
    user: str
    name: str
    reacts: dict[str, dict[str, Any]]  # awaited event type -> the tracker call this customer makes
    friend: str | None = None  # a referred friend who buys before the referral is reported
    seen: int = 0
    done: set[str] = field(default_factory=set)


WATCH = {"event": "Tutorial Watched", "properties": {"tutorial_id": "camera-101", "topic": "camera"}}
PERSONAS = [
    Persona(
        "demo-anna",
        "Anna",
        {
            "tutorial.watched": {
                "event": "Tutorial Watched",
                "properties": {"tutorial_id": "camera-101", "topic": "camera"},
            },
            "survey.answered": {"event": "Survey Answered", "properties": {"survey_id": "onboarding", "score": 9}},
        },
    ),
    Persona("demo-ben", "Ben", {}),
    Persona(
        "demo-clara",
        "Clara",
        {
            "survey.answered": {"event": "Survey Answered", "properties": {"survey_id": "onboarding", "score": 3}},
        },
    ),
    Persona(
        "demo-david",
        "David",
        {
            "tutorial.watched": {
                "event": "Tutorial Watched",
                "properties": {"tutorial_id": "camera-101", "topic": "camera"},
            },
            "survey.answered": {"event": "Survey Answered", "properties": {"survey_id": "onboarding", "score": 10}},
            "referral.made": {
                "event": "Referral Made",
                "properties": {"referral_code": "DAVID10", "referred_email": "eva@example.com"},
            },
        },
        friend="demo-eva",
    ),
]


class JourneyDemo:
    def __init__(self, runtime: LocalRuntime, timeout: float = 100.0) -> None:
        self.rt, self.timeout = runtime, timeout
        self.http = requests.Session()
        self.states: dict[str, dict[str, Any]] = {}

    def _call(self, path: str, user: str, **fields: Any) -> None:
        body = {"userId": user, "messageId": str(uuid.uuid4()), **fields}
        resp = self.http.post(f"{self.rt.api_url}{path}", json=body, auth=(WRITE_KEY, ""), timeout=10)
        resp.raise_for_status()

    def _track(self, user: str, event: str, properties: dict[str, Any]) -> None:
        self._call("/v1/track", user, event=event, properties=properties)

    def _state(self, user: str) -> dict[str, Any] | None:
        resp = self.http.get(
            f"{self.rt.api_url}/v1/profiles/cid:{user}", headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=10
        )
        if resp.status_code != 200:
            return None
        return next((j for j in resp.json().get("journeys", []) if j["journey"] == JOURNEY), None)

    def run(self) -> int:
        print(f"\n13. Journeys: the smartphone onboarding for {len(PERSONAS)} customers, a week in about a second")
        print("  (journeys/smartphone-onboarding.yaml compiled to a Step Functions state machine; the emulator")
        print("   executes it, its tasks run the journey-steps function, waits run on the compressed local clock)")
        for p in PERSONAS:
            traits = {"email": f"{p.user.removeprefix('demo-')}@example.com", "first_name": p.name}
            self._call("/v1/identify", p.user, type="identify", traits={**traits, "timezone": "Europe/Berlin"})
            self._track(
                p.user,
                "Order Completed",
                {"order_id": f"{p.user}-order", "total": 999.0, "currency": "EUR", "products": [PHONE]},
            )
        self.rt.drain()
        self.rt.set_speedup(WEEK_PER_SECOND)
        started = time.monotonic()
        pool = ThreadPoolExecutor(len(PERSONAS))
        while time.monotonic() - started < self.timeout:
            active = 0
            for p, state in zip(PERSONAS, pool.map(lambda q: self._state(q.user), PERSONAS), strict=True):
                if state is None:
                    active += 1
                    continue
                self.states[p.user] = state
                self._show(p, state)
                self._react(p, state)
                active += state["status"] == "active"
            if not active:
                break
            time.sleep(0.02)
        pool.shutdown()
        self.rt.set_speedup(1.0)
        return self._timelines(time.monotonic() - started)

    def _react(self, p: Persona, state: dict[str, Any]) -> None:
        wanted = state.get("waiting_for")
        key = f"{state['step']}:{wanted}"
        if not wanted or key in p.done or wanted not in p.reacts:
            return
        p.done.add(key)
        # The customer acts: local time runs at normal speed meanwhile, so a reaction a person would
        # make within minutes does not cost days of journey time.
        self.rt.set_speedup(1.0)
        if wanted == "referral.made" and p.friend:
            self._track(
                p.friend,
                "Order Completed",
                {
                    "order_id": f"{p.friend}-order",
                    "total": 49.0,
                    "currency": "EUR",
                    "coupon": "DAVID10",
                    "products": [{"product_id": "case-9", "price": 49.0}],
                },
            )
            print(f"  {'':<10} {'':<7} Eva, referred by David, orders with his code", flush=True)
        call = p.reacts[wanted]
        self._track(p.user, call["event"], call["properties"])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = self._state(p.user)
            if now is None or now.get("waiting_for") != wanted or now["step"] != state["step"]:
                break
            time.sleep(0.05)
        self.rt.set_speedup(WEEK_PER_SECOND)

    def _show(self, p: Persona, state: dict[str, Any]) -> None:
        entries = state["log"]
        for entry in entries[p.seen :]:
            print(f"  {entry['at'][:10]} {p.name:<7} {_describe(entry)}", flush=True)
        p.seen = len(entries)

    def _timelines(self, seconds: float) -> int:
        print(f"\n14. Timelines (local clock; {seconds:.0f} s of wall time for the journey)")
        problems = []
        for p in PERSONAS:
            state = self.states.get(p.user)
            if state is None:
                problems.append(f"{p.name} never entered the journey")
                continue
            start = datetime.fromisoformat(state["entered_at"])
            print(f"  {p.name}: {state['status']} ({state.get('end_reason') or 'at ' + str(state['step'])})")
            for entry in state["log"]:
                day = (datetime.fromisoformat(entry["at"]) - start).days
                if entry["what"] in (
                    "sent",
                    "branched",
                    "arrived",
                    "timed_out",
                    "updated",
                    "emitted",
                    "capped",
                    "split",
                    "completed",
                    "exited",
                    "failed",
                ):
                    print(f"    day {day:>3}  {_describe(entry)}")
            if state["status"] != "completed":
                problems.append(f"{p.name}: journey {state['status']} at {state['step']}")
        for problem in problems:
            print(f"PROBLEM: {problem}")
        return 1 if problems else 0


def _describe(entry: dict[str, Any]) -> str:
    what, detail, step = entry["what"], entry["detail"], entry["step"]
    if what == "sent":
        return f"message: {detail.split(' via ')[0]} ({detail.split(' via ')[1]})"
    if what == "waiting":
        return f"waits for {detail}"
    if what == "arrived":
        return f"{detail} arrived"
    if what == "timed_out":
        return f"no {detail} in time"
    if what == "branched":
        return f"decision at {step}: {detail}"
    return f"{what} {detail}".strip()
