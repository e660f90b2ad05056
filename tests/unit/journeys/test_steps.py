"""The typed step payloads: every Payload the compiler writes, filled in as Step Functions does, parses
into its model and serialises back key for key; unknown actions and bad payloads are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest

from emma.journeys.compile import compile_journey
from emma.journeys.definitions import Journey
from emma.journeys.loader import load_journeys
from emma.journeys.steps import (
    AwaitPayload,
    BranchPayload,
    FailedPayload,
    InvalidStepPayload,
    SendPayload,
    SendSpec,
    StepPayload,
    UnknownAction,
    parse_step,
)
from emma.rules.loader import load_definitions

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = load_journeys(ROOT, load_definitions(ROOT))
EVERY_KIND = Journey.model_validate(
    {
        "id": "every-kind",
        "entry": {"trigger": "cart-abandoned"},
        "steps": [
            {"id": "hello", "send": {"template": "cart-reminder", "channel": "email", "transactional": True}},
            {"id": "mark", "update": {"set": {"flag": True, "count": 3, "share": 1.5, "plan": "plus"}}},
            {"id": "tell", "emit": {"event": "hello-world"}},
            {"id": "pause", "wait": {"for": "2d"}},
            {"id": "morning", "wait": {"until_time": "09:30"}},
            {"id": "bought", "wait": {"until_event": "order.placed", "timeout": "3d", "on_timeout": "ab"}},
            {
                "id": "which",
                "branch": [
                    {"when": {"all": [{"field": "profile.orders.count", "gte": 1}]}, "goto": "ab"},
                    {"otherwise": "again"},
                ],
            },
            {"id": "again", "send": {"template": "cart-coupon"}},
            {
                "id": "ab",
                "split": [
                    {"name": "aa", "weight": 50, "goto": "last"},
                    {"name": "hold", "weight": 50.5, "goto": "done", "holdout": True},
                ],
            },
            {"id": "last", "send": {"template": "cart-last-call", "channel": "best"}},
            {"id": "done", "exit": {}},
        ],
    }
)
# What Step Functions puts where the compiled Payload has JSONPath
RUNTIME = {
    "$.shop": "elektro-emma",
    "$.profile_id": "p_1",
    "$$.Execution.Name": "p_1-0123456789abcdef",
    "$$.State.EnteredTime": "2026-03-02T09:00:00.123Z",
    "$$.Task.Token": "token-1",
    "$.error": {"Error": "ProfileNotFound", "Cause": "gone"},
}


def task_payloads(journey: Journey) -> list[dict[str, Any]]:
    states = compile_journey(journey)["States"].values()
    return [s["Parameters"]["Payload"] for s in states if s["Type"] == "Task"]


def as_run(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload the steps function receives: JSONPath fields filled in, ``.$`` dropped."""
    return {k.removesuffix(".$"): RUNTIME[v] if k.endswith(".$") else v for k, v in payload.items()}


COMPILED = [p for j in [*SHIPPED, EVERY_KIND] for p in task_payloads(j)]


@pytest.mark.parametrize("compiled", COMPILED, ids=lambda p: f"{p['journey']}:{p['step']}")
def test_every_compiled_payload_parses_into_its_model_and_serialises_back(compiled):
    received = as_run(compiled)
    payload = parse_step(received)
    assert payload.action == compiled["action"]
    assert payload.model_dump(mode="json") == received  # every key, every value, nothing added
    # the model writes the same Payload the compiler did (keys in the same order)
    rewritten = type(payload).task(payload.journey, payload.step, payload.then, payload.spec)
    assert list(rewritten.items()) == list(compiled.items())
    assert payload.key == f"{received['execution']}:{received['step']}:{received['entered']}"


def test_the_compiled_journeys_use_every_action():
    models = get_args(get_args(StepPayload)[0])
    actions = {m.model_fields["action"].default for m in models}
    assert (
        {p["action"] for p in COMPILED}
        == actions
        == {
            "send",
            "update",
            "emit",
            "branch",
            "split",
            "until",
            "await",
            "finish",
            "failed",
        }
    )


def test_the_payloads_are_typed():
    payloads = [parse_step(as_run(p)) for p in task_payloads(EVERY_KIND)]
    sends = [p for p in payloads if isinstance(p, SendPayload)]
    assert [(s.spec.template, s.spec.channel, s.spec.transactional, s.spec.max_messages) for s in sends] == [
        ("cart-reminder", "email", True, None),
        ("cart-coupon", "best", False, None),
        ("cart-last-call", "best", False, None),
    ]
    (branch,) = [p for p in payloads if isinstance(p, BranchPayload)]
    assert [arm.target for arm in branch.spec] == ["ab", "again"]
    (waiting,) = [p for p in payloads if isinstance(p, AwaitPayload)]
    assert (waiting.spec.event, waiting.token, waiting.then) == ("order.placed", "token-1", "which")
    (failed,) = [p for p in payloads if isinstance(p, FailedPayload)]
    assert failed.error == {"Error": "ProfileNotFound", "Cause": "gone"} and failed.spec is None


def test_a_send_spec_keeps_a_null_cap_in_the_asl():
    compiled = SendPayload.task("j", "s", "t", SendSpec(template="cart-reminder"))
    assert compiled["spec"] == {
        "template": "cart-reminder",
        "channel": "best",
        "transactional": False,
        "max_messages": None,
    }


@pytest.mark.parametrize("action", [None, "__class__", "send_later", 5])
def test_an_unknown_action_is_refused(action):
    received = as_run(task_payloads(EVERY_KIND)[0])
    if action is None:
        del received["action"]
    else:
        received["action"] = action
    with pytest.raises(UnknownAction, match="unknown journey step action") as exc:
        parse_step(received)
    assert not isinstance(exc.value, InvalidStepPayload)


@pytest.mark.parametrize(
    "change",
    [
        {"spec": None},
        {"spec": {"channel": "email"}},  # no template
        {"spec": {"template": "t", "channel": "fax"}},
        {"execution": None},
    ],
)
def test_a_payload_that_does_not_fit_its_action_is_refused(change):
    received = {**as_run(task_payloads(EVERY_KIND)[0]), **change}
    with pytest.raises(InvalidStepPayload, match="journey step 'send'"):
        parse_step(received)
    with pytest.raises(UnknownAction):  # the error type callers have always caught
        parse_step(received)
