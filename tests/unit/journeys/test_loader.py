from pathlib import Path

import pytest

from emma.journeys.definitions import BranchStep, SendStep, WaitStep
from emma.journeys.loader import load_journeys
from emma.rules.loader import DefinitionError, load_definitions

ROOT = Path(__file__).resolve().parents[3]
RULES = load_definitions(ROOT)
HEAD = "id: jj\nentry: {trigger: first-order}\nsteps:\n"


def problems(tmp_path, body, name="jj"):
    (tmp_path / "journeys").mkdir(exist_ok=True)
    (tmp_path / "journeys" / f"{name}.yaml").write_text(body)
    with pytest.raises(DefinitionError) as info:
        load_journeys(tmp_path, RULES)
    return "\n".join(info.value.problems)


def test_the_smartphone_onboarding_journey_is_valid_and_shaped_as_the_seed_describes():
    journey = next(j for j in load_journeys(ROOT, RULES) if j.id == "smartphone-onboarding")
    assert journey.entry.trigger == "smartphone-purchased" and journey.exit_on == ["order.cancelled"]
    kinds = [type(s).__name__ for s in journey.steps]
    assert kinds.count("SendStep") == 11 and "BranchStep" in kinds
    tutorials = [s for s in journey.steps if isinstance(s, SendStep) and s.send.template == "tutorial-next"]
    assert [s.id for s in tutorials] == ["tutorial-1", "tutorial-2", "tutorial-3"]  # the weekly series
    answer = journey.step("survey-answer")
    assert isinstance(answer, WaitStep) and answer.wait.until_event == "survey.answered"
    assert isinstance(journey.step("satisfied"), BranchStep)


def test_an_unknown_target_names_its_line(tmp_path):
    found = problems(tmp_path, HEAD + "  - id: one\n    send: {template: hello}\n    next: nowhere\n")
    assert "jj.yaml:6: no step 'nowhere'" in found


def test_unreachable_steps_are_refused(tmp_path):
    body = (
        HEAD
        + "  - id: one\n    send: {template: hello}\n  - id: stop\n    exit: {}\n"
        + "  - id: orphan\n    send: {template: xx}\n"
    )
    assert "jj.yaml:8: step 'orphan' can never be reached" in problems(tmp_path, body)


def test_a_cycle_without_a_wait_is_refused_and_one_with_a_wait_is_fine(tmp_path):
    spin = HEAD + "  - id: one\n    send: {template: hello}\n  - id: two\n    send: {template: again}\n    next: one\n"
    assert "cycle without a wait: one -> two -> one" in problems(tmp_path, spin)
    (tmp_path / "journeys" / "jj.yaml").write_text(
        HEAD + "  - id: one\n    send: {template: hello}\n  - id: pause\n    wait: {for: 30d}\n"
        "  - id: again\n    exit: {}\n"
    )
    assert load_journeys(tmp_path, RULES)[0].id == "jj"


def test_waits_beyond_one_year_are_refused(tmp_path):
    one = problems(tmp_path, HEAD + "  - id: long\n    wait: {for: 400d}\n")
    assert "jj.yaml:5:" in one and "365 days" in one
    body = HEAD + "  - id: wa\n    wait: {for: 200d}\n  - id: wb\n    wait: {for: 200d}\n"
    assert "add up to 400 days" in problems(tmp_path, body)


def test_unknown_events_entries_and_step_kinds(tmp_path):
    body = (
        "id: jj\nentry: {trigger: no-such-trigger}\nexit_on: [order.exploded]\nsteps:\n"
        "  - id: one\n    wait: {until_event: tutorial.watched}\n  - id: two\n    teleport: {}\n"
    )
    found = problems(tmp_path, body)
    assert "jj.yaml:3: exit_on.0" in found and "order.exploded" in found
    assert "jj.yaml:6: steps.0: Value error, waiting for an event needs a timeout" in found
    assert "jj.yaml:7: steps.1: a step needs exactly one of" in found
    (tmp_path / "journeys" / "jj.yaml").write_text("id: jj\nentry: {segment: nope}\nsteps:\n  - id: xx\n    exit: {}\n")
    with pytest.raises(DefinitionError) as info:
        load_journeys(tmp_path, RULES)
    assert "jj.yaml:2: entry segment 'nope' is not defined" in info.value.problems[0]


def test_branches_need_a_final_otherwise_and_splits_unique_names(tmp_path):
    body = HEAD + (
        "  - id: bb\n    branch:\n      - when: [{field: profile.orders.count, gte: 1}]\n        goto: bb\n"
        "  - id: ss\n    split:\n      - {name: va, weight: 1, goto: ss}\n      - {name: va, weight: 1, goto: ss}\n"
    )
    found = problems(tmp_path, body)
    assert "exactly one `otherwise:` arm" in found and "split variant names must be unique" in found
