import json
from pathlib import Path

import pytest

from emma.journeys.definitions import (
    BranchStep,
    Excludes,
    Journey,
    JourneyGroup,
    JourneySet,
    SendStep,
    WaitStep,
)
from emma.journeys.loader import collisions, definitions_json, load_journeys
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


# ---- journeys that know each other (issue 18) ----------------------------------------------------

SEND = "  - id: hello\n    send: {template: hello}\n"


def write(tmp_path, name, body):
    (tmp_path / "journeys").mkdir(exist_ok=True)
    (tmp_path / "journeys" / name).write_text(body)


def test_the_groups_file_is_not_a_journey_and_the_set_carries_its_groups(tmp_path):
    write(tmp_path, "_groups.yaml", "groups:\n  - id: marketing\n    exclusive: true\n    description: one at a time\n")
    write(tmp_path, "jj.yaml", "id: jj\nentry: {trigger: first-order}\ngroup: marketing\npriority: 3\nsteps:\n" + SEND)
    loaded = load_journeys(tmp_path, RULES)
    assert [j.id for j in loaded] == ["jj"] and loaded.groups["marketing"].exclusive is True
    assert loaded[0].group == "marketing" and loaded[0].rank == 3
    # definitions.json, as the definitions layer holds it, carries the groups: the deployed functions know them
    data = json.loads(definitions_json(RULES, loaded))
    assert data["journey_groups"] == [{"id": "marketing", "exclusive": True, "description": "one at a time"}]
    again = JourneySet.from_json(data)
    assert again == loaded and again.groups == loaded.groups


def test_the_shipped_definitions_round_trip_through_definitions_json():
    shipped = load_journeys(ROOT, RULES)
    again = JourneySet.from_json(json.loads(definitions_json(RULES, shipped)))
    assert again == shipped and again.groups == shipped.groups and "marketing" in again.groups
    assert next(j for j in again if j.id == "winback").excludes.journeys == ["smartphone-onboarding"]


def test_an_unknown_group_journey_or_condition_is_refused_with_file_and_line(tmp_path):
    write(tmp_path, "_groups.yaml", "groups:\n  - {id: marketing, exclusive: true}\n  - {id: marketing}\n")
    write(tmp_path, "other.yaml", "id: other\nentry: {trigger: first-order}\nsteps:\n" + SEND)
    write(
        tmp_path,
        "jj.yaml",
        "id: jj\nentry: {trigger: first-order}\n"
        "group: promos\n"  # 3
        "excludes:\n"
        "  journeys: [other, nowhere]\n"  # 5
        "  when:\n"
        "    - days_since: profile.orders.last_order_at\n"  # 7
        "      lt: 30\n"
        "    - field: profile.no_such_thing\n"  # 9
        "      eq: 1\n"
        "    - segment: no-such-segment\n"  # 11
        "    - field: event.properties.total\n"  # 12
        "      gt: 5\n"
        "allows:\n"
        "  - other\n"  # 15
        "  - jj\n"  # 16
        "steps:\n" + SEND,
    )
    found = problems(tmp_path, "", name="_unused")  # the journeys above; this file is skipped like _groups.yaml
    groups, jj = tmp_path / "journeys" / "_groups.yaml", tmp_path / "journeys" / "jj.yaml"
    assert f"{groups}:3: group 'marketing' is declared twice" in found
    assert f"{jj}:3: unknown group 'promos' (declared in journeys/_groups.yaml: marketing)" in found
    assert f"{jj}:5: excludes: no journey 'nowhere' (journeys: jj, other)" in found
    assert f"{jj}:9: excludes.when: profile.no_such_thing: unknown profile field 'no_such_thing'" in found
    assert f"{jj}:11: excludes.when: segment 'no-such-segment' is not defined" in found
    assert f"{jj}:12: excludes.when: event.properties.total: an exclusion has no triggering event" in found
    assert f"{jj}:15: allows: 'other' is excluded as well; say one of the two" in found
    assert f"{jj}:16: allows: a journey cannot name itself" in found
    assert f"{jj}:7" not in found  # a valid condition


def test_an_invalid_condition_or_setting_names_its_line(tmp_path):
    body = (
        "id: jj\nentry: {trigger: first-order}\npriority: 5\non_conflict: shout\n"
        "excludes:\n  when:\n    - days_since: profile.orders.last_order_at\n      lt: 30\n      gt: 2\n"
        "steps:\n" + SEND
    )
    found = problems(tmp_path, body)
    assert "jj.yaml:4: on_conflict: Input should be 'skip' or 'exit'" in found
    assert "jj.yaml:7: excludes.when.0: Value error, give exactly one operator" in found
    found = problems(tmp_path, "id: jj\nentry: {trigger: first-order}\npriority: 5\nsteps:\n" + SEND)
    assert "jj.yaml:3: priority orders the journeys of a group; give the journey a group too" in found
    found = problems(tmp_path, "id: jj\nentry: {trigger: first-order}\ngroup: marketing\nsteps:\n" + SEND)
    assert "jj.yaml:3: unknown group 'marketing' (declared in journeys/_groups.yaml: none" in found


def _journey(id_, *, transactional=False, shops=None, **settings):
    send = {"template": "hello", "transactional": transactional}
    data = {"id": id_, "entry": {"trigger": "first-order"}, "steps": [{"id": "hello", "send": send}], **settings}
    if shops:
        data["shops"] = shops
    return Journey.model_validate(data)


def test_collisions_name_pairs_that_can_message_a_customer_at_once_with_no_rule_between_them():
    marketing = JourneyGroup(id="marketing", exclusive=True)
    loose = JourneyGroup(id="loose", exclusive=False)
    journeys = JourneySet(
        [
            _journey("aa"),
            _journey("bb"),
            _journey("cc", group="marketing"),
            _journey("dd", group="marketing", priority=2),
            _journey("ee", excludes={"journeys": ["aa"]}),
            _journey("ff", allows=["bb"], group="loose"),
            _journey("gg", transactional=True),  # only transactional mail: ignored
            _journey("hh", shops=["fahrrad-franz"]),
            _journey("ii", shops=["elektro-emma"], group="loose"),
        ],
        [marketing, loose],
    )
    found = collisions(journeys)
    pairs = {line.split(":")[0] for line in found}
    assert "aa + bb" in pairs and "cc + dd" not in pairs  # an exclusive group
    assert "aa + ee" not in pairs and "bb + ff" not in pairs  # an exclusion, an allowance
    assert not any("gg" in p for p in pairs)  # transactional only
    assert "hh + ii" not in pairs and "aa + hh" in pairs  # no shop in common; all shops and one
    assert "ff + ii" in pairs  # a group that is not exclusive is no rule between them
    assert found[0] == "aa + bb: can message the same customer at once (no group, exclusion or allowance)"


def test_the_shipped_journeys_have_no_collisions_the_winback_the_onboarding_least_of_all():
    shipped = load_journeys(ROOT, RULES)
    assert collisions(shipped) == []
    bare = JourneySet(
        [
            j.model_copy(update={"excludes": Excludes()}) if j.id == "winback" else j
            for j in shipped
            if j.id in ("winback", "smartphone-onboarding")
        ],
        shipped.groups.values(),
    )
    assert collisions(bare) == [
        "smartphone-onboarding + winback: can message the same customer at once (no group, exclusion or allowance)"
    ]
