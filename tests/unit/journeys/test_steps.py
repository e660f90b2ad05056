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
    SequencePayload,
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
# A branch after a duration wait runs as a task of its own (after an event wait the arrival decides it,
# and a branch that checks again later through a wait is a poll).
BRANCH_AFTER_A_WAIT = Journey.model_validate(
    {
        "id": "branch-after-a-wait",
        "entry": {"trigger": "cart-abandoned"},
        "steps": [
            {"id": "pause", "wait": {"for": "1d"}},
            {
                "id": "which",
                "branch": [
                    {"when": {"all": [{"field": "profile.orders.count", "gte": 1}]}, "goto": "hello"},
                    {"otherwise": "done"},
                ],
            },
            {"id": "hello", "send": {"template": "cart-reminder"}},
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


COMPILED = [p for j in [*SHIPPED, EVERY_KIND, BRANCH_AFTER_A_WAIT] for p in task_payloads(j)]
A_SEND = next(p for p in COMPILED if p["action"] == "send")  # a send task on its own
SHIPPED_BY_ID = {j.id: j for j in SHIPPED}


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


def actions_of(compiled: dict[str, Any]) -> list[Any]:
    """The typed actions a compiled task runs (a sequence's in order)."""
    payload = parse_step(as_run(compiled))
    return payload.actions() if isinstance(payload, SequencePayload) else [payload]


def test_the_compiled_journeys_use_every_action():
    models = get_args(get_args(StepPayload)[0])
    actions = {m.model_fields["action"].default for m in models}
    done = {a.action for p in COMPILED for a in actions_of(p)}
    assert (
        {p["action"] for p in COMPILED} | done
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
            "poll",
            "sequence",
        }
    )
    assert done == actions - {"sequence"}  # every action also runs on its own (none of them in a sequence)


def test_a_sequence_runs_its_actions_as_their_own_tasks_would_keyed_on_their_own_steps():
    (first,) = [p for p in task_payloads(EVERY_KIND) if p["step"] == "hello"]
    assert first["action"] == "sequence" and "token.$" not in first
    actions = actions_of(first)
    assert [(a.action, a.step, a.then) for a in actions] == [
        ("send", "hello", "mark"),
        ("update", "mark", "tell"),
        ("emit", "tell", "pause"),
    ]
    received = as_run(first)
    assert [a.key for a in actions] == [
        f"{received['execution']}:{s}:{received['entered']}" for s in ("hello", "mark", "tell")
    ]
    # what each would pass on its own, with the task's execution and entered time
    alone = SendPayload.task(
        "every-kind", "hello", "mark", SendSpec(template="cart-reminder", channel="email", transactional=True)
    )
    assert actions[0] == parse_step(as_run(alone))
    # the last action may park the token: the task is a callback then, and passes the token
    (parks,) = [p for p in task_payloads(SHIPPED_BY_ID["winback"]) if p["step"] == "miss-you"]
    assert [a.action for a in actions_of(parks)] == ["send", "await"] and parks["token.$"] == "$$.Task.Token"
    assert actions_of(parks)[-1].token == "token-1"


@pytest.mark.parametrize(
    "spec",
    [
        [{"action": "send", "step": "a", "then": "b", "spec": {"template": "t"}}],  # one action: no sequence
        [
            {"action": "sequence", "step": "a", "then": "b", "spec": []},
            {"action": "finish", "step": "b", "then": None, "spec": {"reason": "r"}},
        ],
        [
            {"action": "failed", "step": "a", "then": "b", "spec": None},
            {"action": "finish", "step": "b", "then": None, "spec": {"reason": "r"}},
        ],
    ],
)
def test_a_sequence_holds_two_or_more_plain_actions(spec):
    with pytest.raises(ValueError):
        SequencePayload.task("j", spec[0]["step"], spec[-1]["then"], spec)


def test_a_sequence_action_that_does_not_fit_is_refused_naming_it():
    (first,) = [p for p in task_payloads(EVERY_KIND) if p["step"] == "hello"]
    received = as_run(first)
    received["spec"] = [{**received["spec"][0], "spec": {"channel": "email"}}, *received["spec"][1:]]
    payload = parse_step(received)
    with pytest.raises(InvalidStepPayload, match="journey step 'send'"):
        payload.actions()
    received["spec"] = [{**received["spec"][1], "action": "sequence"}, *received["spec"][1:]]
    with pytest.raises(UnknownAction):
        parse_step(received).actions()


def test_the_payloads_are_typed():
    payloads = [a for p in task_payloads(EVERY_KIND) for a in actions_of(p)]
    sends = [p for p in payloads if isinstance(p, SendPayload)]
    assert [(s.spec.template, s.spec.channel, s.spec.transactional, s.spec.max_messages) for s in sends] == [
        ("cart-reminder", "email", True, None),
        ("cart-coupon", "best", False, None),
        ("cart-last-call", "best", False, None),
    ]
    assert not [p for p in payloads if isinstance(p, BranchPayload)]  # decided when order.placed arrives
    (branch,) = [p for t in task_payloads(BRANCH_AFTER_A_WAIT) for p in actions_of(t) if isinstance(p, BranchPayload)]
    assert [arm.target for arm in branch.spec] == ["hello", "done"]
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
    received = as_run(A_SEND)
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
    received = {**as_run(A_SEND), **change}
    with pytest.raises(InvalidStepPayload, match="journey step 'send'"):
        parse_step(received)
    with pytest.raises(UnknownAction):  # the error type callers have always caught
        parse_step(received)
