from pathlib import Path

import pytest

from emma.rules.loader import DefinitionError, Definitions, load_definitions

ROOT = Path(__file__).resolve().parents[3]


def write(tmp_path, folder, name, text):
    (tmp_path / folder).mkdir(exist_ok=True)
    (tmp_path / folder / name).write_text(text)


def problems(tmp_path):
    with pytest.raises(DefinitionError) as info:
        load_definitions(tmp_path)
    return info.value.problems


def test_the_shipped_definitions_load_and_round_trip_as_json():
    defs = load_definitions(ROOT)
    assert {t.id for t in defs.triggers} >= {
        "repeat-purchase",
        "big-basket",
        "coupon-redeemed",
        "cart-abandoned",
        "newsletter-opened",
        "newsletter-not-opened",
    }
    again = Definitions.from_json(defs.to_json())
    assert again.to_json() == defs.to_json()


def test_on_is_a_key_not_a_yaml_11_boolean(tmp_path):
    write(tmp_path, "triggers", "t-1.yaml", "id: t-1\non: order.placed\n")
    assert load_definitions(tmp_path).triggers[0].on == ["order.placed"]


def test_an_unknown_operator_names_file_and_line(tmp_path):
    write(
        tmp_path,
        "triggers",
        "t-1.yaml",
        "id: t-1\non: order.placed\nwhen:\n  - field: event.properties.total\n    gt: 1\n    lt: 2\n",
    )
    (problem,) = problems(tmp_path)
    assert problem.startswith(f"{tmp_path / 'triggers' / 't-1.yaml'}:4:") and "exactly one operator" in problem


def test_an_unknown_event_type_names_its_line(tmp_path):
    write(tmp_path, "triggers", "t-1.yaml", "id: t-1\ndescription: x\non: order.exploded\n")
    (problem,) = problems(tmp_path)
    assert ":3:" in problem and "order.exploded" in problem


def test_unknown_fields_segments_and_cycles_are_reported(tmp_path):
    write(tmp_path, "segments", "sa.yaml", "id: sa\nwhen:\n  - segment: sb\n")
    write(tmp_path, "segments", "sb.yaml", "id: sb\nwhen:\n  - segment: sa\n")
    write(tmp_path, "segments", "sc.yaml", "id: sc\nwhen:\n  - field: profile.shoe_size\n    gt: 40\n")
    write(tmp_path, "segments", "sd.yaml", "id: sd\nwhen:\n\n  - field: event.properties.total\n    gt: 4\n")
    write(tmp_path, "triggers", "tt.yaml", "id: tt\non: order.placed\nwhen:\n  - segment: nope\n")
    found = "\n".join(problems(tmp_path))
    assert "sc.yaml:3: profile.shoe_size: unknown profile field 'shoe_size'" in found
    assert "sd.yaml:4: event.properties.total: segments have no triggering event" in found
    assert "tt.yaml:4: segment 'nope' is not defined" in found
    assert "depends on itself: sa -> sb -> sa" in found


def test_windowed_counts_are_bounded_by_what_profiles_keep(tmp_path):
    write(tmp_path, "segments", "ss.yaml", "id: ss\nwhen:\n  - count: email.opened\n    within: 30d\n    gte: 25\n")
    (problem,) = problems(tmp_path)
    assert ":3:" in problem and "up to 20 occurrences" in problem


def test_durations_ids_and_file_names(tmp_path):
    write(tmp_path, "triggers", "tt.yaml", "id: tt\non: cart.updated\nabsent: {event: order.placed, within: 2 days}\n")
    write(tmp_path, "triggers", "other.yaml", "id: Not_A_Slug\non: cart.updated\n")
    write(tmp_path, "triggers", "xx.yaml", "id: yy\non: cart.updated\n")
    write(tmp_path, "triggers", "broken.yaml", "id: broken\non: [cart.updated\n")
    found = "\n".join(problems(tmp_path))
    assert "tt.yaml:3: absent.within" in found and "is not a duration like 30m" in found
    assert "other.yaml:1: id" in found
    assert "xx.yaml:1: the file is named 'xx' but defines 'yy'" in found
    assert "broken.yaml:" in found and "not valid YAML" in found


def test_segments_cannot_depend_on_the_lifecycle_stage(tmp_path):
    write(tmp_path, "segments", "stage-x.yaml", "id: stage-x\nkind: lifecycle\nwhen:\n  - orders: {}\n    gte: 1\n")
    write(tmp_path, "segments", "sy.yaml", "id: sy\nwhen:\n  - segment: stage-x\n")
    write(tmp_path, "segments", "sz.yaml", "id: sz\nwhen:\n  - field: profile.lifecycle_stage\n    eq: stage-x\n")
    write(tmp_path, "triggers", "tt.yaml", "id: tt\non: order.placed\nwhen:\n  - segment: stage-x\n")
    found = "\n".join(problems(tmp_path))
    assert "sy.yaml:3: segment 'stage-x' is a lifecycle stage" in found
    assert "sz.yaml:3: profile.lifecycle_stage: a segment cannot read this" in found
    assert "tt.yaml" not in found  # triggers may
