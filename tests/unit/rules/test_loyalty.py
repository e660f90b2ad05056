"""The loyalty ladder (segments/tier-*.yaml, kind loyalty): exactly one tier, chosen like the lifecycle stage;
climbing and falling announced as segment.entered/left; the tier on the derived state and in conditions; the
trigger that starts the loyalty welcome (triggers/loyalty-tier-reached.yaml), decided in the evaluation that
concludes the climb."""

from datetime import timedelta
from pathlib import Path

import pytest

from emma.profiles.apply import apply_event
from emma.profiles.model import new_profile
from emma.rules.definitions import Segment, Trigger
from emma.rules.engine import evaluate_event, evaluate_segments
from emma.rules.loader import DefinitionError, Definitions, load_definitions
from factories import T0, event, order
from tests.unit.rules.test_service import LENA, World

ROOT = Path(__file__).resolve().parents[3]
DEFS = load_definitions(ROOT)
TIERS = ("tier-gold", "tier-silver", "tier-member")
DAY = 60 * 24  # minutes


def profile_with(*events):
    p = new_profile("elektro-emma", "p_1", T0)
    for e in events:
        apply_event(p, e)
    return p


def tiers(segments):
    return sorted(s for s in segments if s in TIERS)


# ---- the ladder --------------------------------------------------------------------------------


def test_the_three_tiers_are_shipped_as_a_ladder_gold_first():
    shipped = {s.id: s for s in DEFS.segments}
    assert all(shipped[t].kind == "loyalty" for t in TIERS)
    assert sorted(TIERS, key=lambda t: shipped[t].priority) == list(TIERS)


@pytest.mark.parametrize(
    "orders, tier",
    [
        ([], None),
        ([("o1", "20.00")], "tier-member"),
        ([("o1", "20.00"), ("o2", "20.00"), ("o3", "20.00")], "tier-silver"),  # three orders
        ([("o1", "520.00")], "tier-silver"),  # 500 in revenue
        ([(f"o{n}", "20.00") for n in range(6)], "tier-gold"),  # six orders
        ([("o1", "900.00"), ("o2", "700.00")], "tier-gold"),  # 1,500 in revenue
    ],
)
def test_a_profile_is_in_exactly_one_tier_the_first_matching(orders, tier):
    p = profile_with(*[order(o, total, customer=LENA, minutes=i) for i, (o, total) in enumerate(orders)])
    out = evaluate_segments(DEFS, p, T0 + timedelta(hours=1), set())
    assert out.loyalty_tier == tier
    assert tiers(out.segments) == ([tier] if tier else [])


def test_the_tier_comes_from_the_priority_not_the_file_order():
    defs = Definitions(
        [],
        [
            Segment.model_validate({"id": "low", "kind": "loyalty", "priority": 5, "when": {"orders": {}, "gte": 1}}),
            Segment.model_validate({"id": "high", "kind": "loyalty", "priority": 1, "when": {"orders": {}, "gte": 1}}),
            Segment.model_validate({"id": "stage", "kind": "lifecycle", "when": {"orders": {}, "gte": 1}}),
        ],
    )
    out = evaluate_segments(defs, profile_with(order("o1", "5.00", customer=LENA)), T0, set())
    assert (out.loyalty_tier, out.lifecycle_stage) == ("high", "stage")  # one ladder does not bar the other
    assert out.segments == {"high", "stage"}


def test_the_tier_falls_when_orders_leave_the_365_day_window():
    p = profile_with(*[order(f"o{n}", "20.00", customer=LENA, minutes=n) for n in range(3)])
    assert evaluate_segments(DEFS, p, T0 + timedelta(days=1), set()).loyalty_tier == "tier-silver"
    later = evaluate_segments(DEFS, p, T0 + timedelta(days=366), {"tier-silver"})
    assert later.loyalty_tier == "tier-member"
    assert later.left >= {"tier-silver"} and later.entered >= {"tier-member"}


# ---- the rules service: derived state, announcements, the welcome trigger ----------------------


@pytest.fixture
def world():
    return World()


def entered(world, kind="loyalty"):
    return [e.properties.segment for e in world.types("segment.entered") if e.properties.kind == kind]


def left(world, kind="loyalty"):
    return [e.properties.segment for e in world.types("segment.left") if e.properties.kind == kind]


def derived(world):
    (pid,) = {e.customer.profile_id for e in world.out.published}
    return world.store.derived("elektro-emma", pid)


def test_climbing_from_member_to_silver_to_gold(world):
    world.send(order("o1", "40.00", customer=LENA))
    assert derived(world).loyalty_tier == "tier-member" and entered(world) == ["tier-member"]
    assert not world.fired("loyalty-tier-reached")  # a first order is no tier to welcome to
    for n in (2, 3):
        world.at(days=n)
        world.send(order(f"o{n}", "40.00", customer=LENA, minutes=n * DAY))
    assert derived(world).loyalty_tier == "tier-silver"
    assert (entered(world), left(world)) == (["tier-member", "tier-silver"], ["tier-member"])
    (fired,) = world.fired("loyalty-tier-reached")
    assert fired.properties.cause_event_type == "order.placed"
    for n in (4, 5, 6):
        world.at(days=n)
        world.send(order(f"o{n}", "40.00", customer=LENA, minutes=n * DAY))
    d = derived(world)
    assert d.loyalty_tier == "tier-gold" and tiers(d.segments) == ["tier-gold"]
    assert entered(world)[-1] == "tier-gold" and left(world)[-1] == "tier-silver"
    assert len(world.fired("loyalty-tier-reached")) == 2  # silver, then gold
    assert world.rules.segment_sizes("elektro-emma")["tier-gold"] == 1
    assert world.rules.segment_sizes("elektro-emma")["tier-silver"] == 0


def test_one_big_order_goes_straight_to_gold(world):
    world.send(order("o1", "1600.00", customer=LENA))
    assert derived(world).loyalty_tier == "tier-gold" and entered(world) == ["tier-gold"]
    assert len(world.fired("loyalty-tier-reached")) == 1


def test_a_cancellation_steps_down_without_a_welcome(world):
    world.at(minutes=5)
    world.send(order("o1", "1000.00", customer=LENA), order("o2", "600.00", customer=LENA, minutes=5))
    assert derived(world).loyalty_tier == "tier-gold"
    world.at(days=5)
    world.send(order("o2", "600.00", type_="order.cancelled", customer=LENA, minutes=5 * DAY))
    assert derived(world).loyalty_tier == "tier-silver" and left(world)[-1] == "tier-gold"
    assert len(world.fired("loyalty-tier-reached")) == 1  # gold's only, not "welcome to silver"


def test_time_alone_lowers_the_tier_and_welcomes_nobody(world):
    world.at(minutes=5)
    world.send(*[order(f"o{n}", "40.00", customer=LENA, minutes=n) for n in range(3)])
    assert derived(world).loyalty_tier == "tier-silver"
    world.at(days=366)
    world.rules.on_schedule()
    assert derived(world).loyalty_tier == "tier-member" and left(world)[-1] == "tier-silver"
    assert len(world.fired("loyalty-tier-reached")) == 1


def test_an_old_customer_reaching_a_tier_by_the_first_event_after_the_tiers_shipped_is_not_welcomed(world):
    world.at(minutes=5)
    world.send(*[order(f"o{n}", "40.00", customer=LENA, minutes=n) for n in range(3)])
    pid = derived(world).profile_id
    # as if the tiers were unknown until now: the derived state holds none of them
    world.store.derived("elektro-emma", pid).segments = []
    world.out.published.clear()
    world.at(days=20)
    world.send(event("page.viewed", customer=LENA, minutes=20 * DAY, path="/"))
    assert "tier-silver" in entered(world)
    assert not world.fired("loyalty-tier-reached")  # the last order is 20 days old


# ---- triggers on the rules' own conclusions and on profile.loyalty_tier ------------------------


def test_a_trigger_on_segment_entered_and_left_sees_the_conclusion_of_the_same_evaluation():
    on_enter = Trigger.model_validate(
        {"id": "in", "on": "segment.entered", "when": {"field": "event.properties.kind", "eq": "loyalty"}}
    )
    on_leave = Trigger.model_validate(
        {"id": "out", "on": "segment.left", "when": {"field": "event.properties.segment", "eq": "tier-member"}}
    )
    defs = Definitions([on_enter, on_leave], DEFS.segments)
    first = order("o1", "20.00", customer=LENA)
    assert evaluate_event(defs, profile_with(first), first, T0, set()).fired == ["in"]
    o2, o3 = order("o2", "20.00", customer=LENA, minutes=1), order("o3", "20.00", customer=LENA, minutes=2)
    p = profile_with(first, o2, o3)
    now = T0 + timedelta(minutes=5)
    before = evaluate_segments(defs, profile_with(first, o2), now, set()).segments
    assert evaluate_event(defs, p, o3, now, before).fired == ["in", "out"]  # once each, whatever else changed
    assert evaluate_event(defs, p, o3, now, evaluate_segments(defs, p, now, set()).segments).fired == []


def test_a_trigger_reads_the_tier_as_profile_loyalty_tier():
    gold = Trigger.model_validate(
        {"id": "gold-order", "on": "order.placed", "when": {"field": "profile.loyalty_tier", "eq": "tier-gold"}}
    )
    defs = Definitions([gold], DEFS.segments)
    big, small = order("o1", "1600.00", customer=LENA), order("o1", "20.00", customer=LENA)
    assert evaluate_event(defs, profile_with(big), big, T0, set()).fired == ["gold-order"]
    assert evaluate_event(defs, profile_with(small), small, T0, set()).fired == []


# ---- the loader --------------------------------------------------------------------------------


def write(tmp_path, folder, name, text):
    (tmp_path / folder).mkdir(exist_ok=True)
    (tmp_path / folder / name).write_text(text)


def problems(tmp_path):
    with pytest.raises(DefinitionError) as info:
        load_definitions(tmp_path)
    return "\n".join(info.value.problems)


def test_an_unknown_kind_is_refused_with_file_and_line(tmp_path):
    write(
        tmp_path, "segments", "vip.yaml", "id: vip\ndescription: x\nkind: loyality\nwhen:\n  - orders: {}\n    gte: 1\n"
    )
    found = problems(tmp_path)
    assert "vip.yaml:3: kind:" in found and "'loyalty'" in found and "(got 'loyality')" in found


def test_segments_cannot_depend_on_a_loyalty_tier_but_triggers_may(tmp_path):
    write(tmp_path, "segments", "gold.yaml", "id: gold\nkind: loyalty\nwhen:\n  - orders: {}\n    gte: 6\n")
    write(tmp_path, "segments", "sy.yaml", "id: sy\nwhen:\n  - segment: gold\n")
    write(tmp_path, "segments", "sz.yaml", "id: sz\nwhen:\n  - field: profile.loyalty_tier\n    eq: gold\n")
    write(tmp_path, "triggers", "tt.yaml", "id: tt\non: order.placed\nwhen:\n  - segment: gold\n")
    write(
        tmp_path,
        "triggers",
        "tu.yaml",
        "id: tu\non: segment.entered\nwhen:\n  - field: profile.loyalty_tier\n    eq: gold\n",
    )
    found = problems(tmp_path)
    assert "sy.yaml:3: segment 'gold' is a loyalty tier, decided after the other segments" in found
    assert "sz.yaml:3: profile.loyalty_tier: a segment cannot read this" in found
    assert "tt.yaml" not in found and "tu.yaml" not in found
