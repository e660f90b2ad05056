"""The ASL of every shipped journey, pinned by golden files (EMMA_UPDATE_GOLDEN=1 rewrites them after a
deliberate change: review the diff), plus structural checks and moto's own ASL parser."""

import json
import os
from pathlib import Path

import pytest
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from emma.journeys.compile import FAILED, FINISH, STEPS_FUNCTION, compile_journey, substitute
from emma.journeys.loader import load_journeys
from emma.rules.loader import load_definitions
from emma_local.journey_graph import mermaid

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = Path(__file__).parent / "golden"
JOURNEYS = {j.id: j for j in load_journeys(ROOT, load_definitions(ROOT))}


@pytest.mark.parametrize("journey_id", sorted(JOURNEYS))
def test_the_asl_matches_its_golden_file(journey_id):
    asl = json.dumps(compile_journey(JOURNEYS[journey_id]), indent=2, sort_keys=True) + "\n"
    golden = GOLDEN / f"{journey_id}.asl.json"
    if os.environ.get("EMMA_UPDATE_GOLDEN") == "1":
        golden.write_text(asl)
    assert golden.exists(), f"no golden file for {journey_id}: run with EMMA_UPDATE_GOLDEN=1 and review it"
    assert asl == golden.read_text(), f"{journey_id}: compiled ASL differs from {golden.name}"


@pytest.mark.parametrize("journey_id", sorted(JOURNEYS))
def test_the_asl_is_well_formed(journey_id):
    asl = compile_journey(JOURNEYS[journey_id])
    states = asl["States"]
    targets = {asl["StartAt"]}
    for name, state in states.items():
        for key in ("Next", "Default"):
            if key in state:
                targets.add(state[key])
        targets |= {c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])}
        assert state.get("End") or "Next" in state or state["Type"] in ("Choice", "Fail", "Succeed"), name
    assert targets <= set(states), targets - set(states)
    assert set(states) - targets <= {FAILED}  # every state can be reached (journey.failed by Catch)
    assert FINISH in states or any(s.get("End") for s in states.values())
    # moto's ASL parser (the interpreter the local runtime uses) accepts it
    AmazonStateLanguageParser.parse(substitute(asl, "arn:aws:lambda:eu-central-1:123456789012:function:steps"))


def test_every_task_retries_with_backoff_then_records_the_failure():
    asl = compile_journey(JOURNEYS["smartphone-onboarding"])
    tasks = {n: s for n, s in asl["States"].items() if s["Type"] == "Task"}
    assert tasks and all(s["Parameters"]["FunctionName"] == STEPS_FUNCTION for s in tasks.values())
    for name, task in tasks.items():
        assert any(r["BackoffRate"] > 1 and "States.TaskFailed" in r["ErrorEquals"] for r in task["Retry"]), name
        if name != FAILED:
            assert task["Catch"][-1] == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FAILED}
    assert asl["States"][FAILED]["Next"] == "journey.failed.end"


def test_an_event_wait_parks_a_task_token_with_the_timeout_leading_to_on_timeout():
    states = compile_journey(JOURNEYS["smartphone-onboarding"])["States"]
    state = states["survey"]  # the survey's send and the wait for its answer: one task
    assert state["Resource"].endswith("lambda:invoke.waitForTaskToken")
    payload = state["Parameters"]["Payload"]
    assert state["TimeoutSeconds"] == 7 * 86400 and payload["token.$"] == "$$.Task.Token"
    assert [(a["action"], a["step"]) for a in payload["spec"]] == [("send", "survey"), ("await", "survey-answer")]
    assert state["Catch"][0] == {
        "ErrorEquals": ["States.Timeout"],
        "ResultPath": "$.timeout",
        "Next": "newsletter",
    }
    # The branch after it (satisfied) is decided by whoever hands the token back: only its Choice runs.
    assert state["Next"] == "satisfied.route" and state["ResultPath"] == "$.last"
    assert "satisfied" not in states and "survey-answer" not in states
    # A wait with no branch after it: the event goes to $.awaited, the next step's task follows.
    friend = states["invite-review-and-referral"]
    assert friend["Next"] == "reward-referrer" and friend["ResultPath"] == "$.awaited"
    assert friend["Catch"][0]["Next"] == "newsletter"


def test_consecutive_tasks_fold_into_one_and_the_last_task_finishes_the_journey():
    states = compile_journey(JOURNEYS["smartphone-onboarding"])["States"]
    grant = states["grant-warranty"]["Parameters"]["Payload"]
    assert grant["action"] == "sequence" and grant["then"] == "first-week"
    assert [(a["action"], a["step"], a["then"]) for a in grant["spec"]] == [
        ("update", "grant-warranty", "warranty-mail"),
        ("send", "warranty-mail", "first-week"),
    ]
    assert states["grant-warranty"]["Next"] == "first-week" and "warranty-mail" not in states
    # A step reached from several places keeps its own task and is folded into each task that leads to it.
    reward = states["reward-referrer"]["Parameters"]["Payload"]["spec"]
    assert [a["step"] for a in reward] == ["reward-referrer", "reward-mail", "newsletter"]
    assert [a["step"] for a in states["service-follow-up"]["Parameters"]["Payload"]["spec"]] == [
        "service-follow-up",
        "newsletter",
    ]
    assert states["newsletter"]["Parameters"]["Payload"]["action"] == "send"  # after a timed-out wait
    # The last task records the end: no journey.finish task after it (an exit step reached by a Choice stays).
    offer = states["upgrade-offer"]
    assert [a["action"] for a in offer["Parameters"]["Payload"]["spec"]] == ["send", "finish"] and offer["End"]
    assert offer["Parameters"]["Payload"]["spec"][-1] == {
        "action": "finish",
        "step": "done",
        "then": None,
        "spec": {"reason": "exit step"},
    }
    assert states["done"]["Parameters"]["Payload"]["action"] == "finish" and FINISH not in states
    cart = compile_journey(JOURNEYS["abandoned-cart"])["States"]
    assert cart["coupon"]["Parameters"]["Payload"]["spec"][-1]["step"] == FINISH and cart["coupon"]["End"]


def test_a_branch_that_checks_again_later_is_one_callback_task_whose_timeout_is_the_wait():
    states = compile_journey(JOURNEYS["smartphone-onboarding"])["States"]
    check, again = states["upgrade-check"], states["upgrade-check.again"]
    assert "a-month-later" not in states  # the wait is the task's timeout
    for state, other in ((check, "upgrade-check.again"), (again, "upgrade-check")):
        assert state["Resource"].endswith("lambda:invoke.waitForTaskToken") and state["TimeoutSeconds"] == 30 * 86400
        assert state["Catch"][0] == {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.timeout", "Next": other}
        assert state["Next"] == "upgrade-check.route" and state["ResultPath"] == "$.last"
        payload = state["Parameters"]["Payload"]
        assert payload["action"] == "poll" and payload["step"] == "upgrade-check"
        assert payload["spec"]["wait"] == "a-month-later" and payload["token.$"] == "$$.Task.Token"
    assert check["Parameters"] == again["Parameters"]
    route = states["upgrade-check.route"]
    assert [c["Next"] for c in route["Choices"]] == ["upgrade-offer"] and route["Default"] == "done"
    assert states["device-ageing"]["Next"] == "upgrade-check"


def test_a_duration_wait_is_one_wait_state_and_a_time_of_day_wait_asks_for_the_timestamp():
    states = compile_journey(JOURNEYS["post-purchase-cross-sell"])["States"]
    assert states["let-it-arrive"] == {"Type": "Wait", "Seconds": 3 * 86400, "Next": "morning"}
    assert states["morning"]["Parameters"]["Payload"]["action"] == "until"
    assert states["morning.wait"] == {"Type": "Wait", "TimestampPath": "$.last.until", "Next": "cross-sell"}


def test_branches_and_splits_route_on_what_the_function_decided():
    states = compile_journey(JOURNEYS["newsletter-interest"])["States"]
    choice = states["which-content.route"]
    assert [c["Next"] for c in choice["Choices"]] == ["interest-picks", "digest"] and choice["Default"] == "done"
    assert all(c["Variable"] == "$.last.route" for c in choice["Choices"])


def test_the_graph_shows_every_step_and_every_edge():
    text = mermaid(JOURNEYS["smartphone-onboarding"])
    assert text.startswith("flowchart TD")
    for step in JOURNEYS["smartphone-onboarding"].steps:
        assert f"s_{step.id.replace('-', '_')}" in text
    assert '-->|"profile.last_survey.score ≥ 8.0"| s_invite_review_and_referral' in text
    assert '-.->|"timeout"| s_newsletter' in text
    assert "exits at once on: order.cancelled" in text
