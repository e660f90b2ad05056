"""The shipped segments behind the shop's KPIs (segments/known-customers.yaml, reachable-*.yaml,
active-*.yaml, new-30d.yaml, never-opens.yaml): who is in them, and that the time-based ones are left
with no event at all (the rules function's review timers)."""

from datetime import timedelta
from pathlib import Path

import pytest

from emma.events.model import Channel, ConsentProof
from emma.profiles.model import ChannelStats, ConsentState, Suppression, Trait, new_profile
from emma.rules.engine import evaluate_segments
from emma.rules.loader import load_definitions
from factories import T0, event
from tests.unit.rules.test_service import World

DEFS = load_definitions(Path(__file__).resolve().parents[3])
KPI_SEGMENTS = {
    "known-customers",
    "reachable-email",
    "reachable-email-confirmed",
    "reachable-sms",
    "reachable-push",
    "active-30d",
    "active-90d",
    "new-30d",
    "never-opens",
    "lapsed",
}
DAY = timedelta(days=1)


def consent(granted=True, *, doi=False, confirm_required=False):
    proof = ConsentProof(source="test", at=T0, double_opt_in=doi)
    return ConsentState(granted=granted, proof=proof, confirm_required=confirm_required)


def customer(**fields):
    p = new_profile("elektro-emma", "p_1", T0)
    p.emails = ["lena@example.de"]
    p.first_seen_at = p.last_seen_at = p.last_active_at = T0
    for name, value in fields.items():
        setattr(p, name, value)
    return p


def segments(p, now=T0):
    return evaluate_segments(DEFS, p, now, set()).segments


def test_the_kpi_segments_are_shipped_and_none_is_a_lifecycle_stage():
    shipped = {s.id: s for s in DEFS.segments}
    assert set(shipped) >= KPI_SEGMENTS
    assert all(shipped[s].kind != "lifecycle" for s in KPI_SEGMENTS)


def test_known_customers_have_an_email_or_a_customer_id():
    assert "known-customers" in segments(customer())
    assert "known-customers" in segments(customer(emails=[], customer_ids=["7008001"]))
    anonymous = customer(emails=[], anonymous_ids=["anon-1"])
    found = segments(anonymous)
    assert not found & {"known-customers", "active-30d", "active-90d", "new-30d"}


@pytest.mark.parametrize(
    ("state", "reachable", "confirmed"),
    [
        (consent(), True, False),  # single opt-in: reachable where the shop does not require double opt-in
        (consent(doi=True), True, True),
        (consent(granted=False, doi=True), False, False),  # withdrawn
        (consent(confirm_required=True), False, False),  # the address of an erased customer, unconfirmed
        (consent(confirm_required=True, doi=True), True, True),
        (None, False, False),  # no consent on record
    ],
)
def test_reachable_by_email_is_consent_granted_and_confirmed_where_needed(state, reachable, confirmed):
    p = customer(consent={Channel.EMAIL: state} if state else {})
    found = segments(p)
    assert ("reachable-email" in found) is reachable
    assert ("reachable-email-confirmed" in found) is confirmed


@pytest.mark.parametrize("reason", ["hard_bounce", "complaint", "unsubscribe"])
def test_a_suppressed_address_is_not_reachable(reason):
    p = customer(
        consent={Channel.EMAIL: consent(doi=True)},
        suppressions={Channel.EMAIL: Suppression(reason=reason, at=T0)},
    )
    assert not segments(p) & {"reachable-email", "reachable-email-confirmed"}


def test_reachable_by_email_needs_an_address():
    p = customer(emails=[], customer_ids=["7008001"], consent={Channel.EMAIL: consent(doi=True)})
    assert "reachable-email" not in segments(p)


def test_reachable_by_sms_and_push_per_channel():
    sms = customer(phones=["+491511234567"], consent={Channel.SMS: consent()})
    assert segments(sms) & {"reachable-sms", "reachable-push", "reachable-email"} == {"reachable-sms"}
    assert "reachable-sms" not in segments(customer(consent={Channel.SMS: consent()}))  # no number
    sms.suppressions = {Channel.SMS: Suppression(reason="unsubscribe", at=T0)}
    assert "reachable-sms" not in segments(sms)
    push = customer(
        traits={"push_token": Trait(value="tok-1", at=T0)},
        consent={Channel.PUSH: consent()},
    )
    assert segments(push) & {"reachable-sms", "reachable-push", "reachable-email"} == {"reachable-push"}
    push.consent = {Channel.PUSH: consent(granted=False)}
    assert "reachable-push" not in segments(push)
    push.consent = {Channel.PUSH: consent()}
    push.traits = {}
    assert "reachable-push" not in segments(push)  # no token


def test_active_and_new_by_days_since():
    p = customer()
    assert {"active-30d", "active-90d", "new-30d"} <= segments(p, T0 + 30 * DAY)
    later = segments(p, T0 + 31 * DAY)
    assert "active-90d" in later and not later & {"active-30d", "new-30d"}
    assert not segments(p, T0 + 91 * DAY) & {"active-30d", "active-90d", "new-30d"}
    p.last_active_at = T0 + 80 * DAY  # active again, but not new
    found = segments(p, T0 + 91 * DAY)
    assert {"active-30d", "active-90d"} <= found and "new-30d" not in found
    assert not segments(customer(last_active_at=None)) & {"active-30d", "active-90d"}  # no activity recorded


def test_the_next_review_is_when_a_time_based_kpi_segment_is_left():
    p = customer(first_seen_at=T0 - 100 * DAY, last_active_at=T0)
    out = evaluate_segments(DEFS, p, T0, set())
    assert out.next_review_at == T0 + 30 * DAY + timedelta(seconds=1)  # active-30d ends first


def test_never_opens_received_three_and_opened_or_clicked_none():
    def emailed(**stats):
        return customer(consent={Channel.EMAIL: consent(doi=True)}, channels={Channel.EMAIL: ChannelStats(**stats)})

    assert "never-opens" in segments(emailed(sent=3, delivered=3))
    assert "never-opens" not in segments(emailed(sent=2, delivered=2))  # too few to tell
    assert "never-opens" not in segments(emailed(delivered=5, opened=1))
    assert "never-opens" not in segments(emailed(delivered=5, clicked=1))  # a click proves an open
    unsubscribed = emailed(delivered=5)
    unsubscribed.suppressions = {Channel.EMAIL: Suppression(reason="unsubscribe", at=T0)}
    assert "never-opens" not in segments(unsubscribed)  # no longer a recipient
    assert "never-opens" not in segments(customer(channels={Channel.EMAIL: ChannelStats(delivered=5)}))  # no consent


# ---- through the rules service: entered on events, left by the scheduled job alone ---------------------


def test_a_customer_leaves_the_active_and_new_segments_by_time_alone():
    world = World()
    lena = {"customer_id": "7008001", "email": "lena@example.de"}
    world.send(event("page.viewed", customer=lena, path="/"))
    entered = {e.properties.segment for e in world.types("segment.entered")}
    assert {"known-customers", "active-30d", "active-90d", "new-30d"} <= entered
    sizes = world.rules.segment_sizes("elektro-emma")
    assert sizes["active-30d"] == sizes["active-90d"] == sizes["new-30d"] == sizes["known-customers"] == 1
    for day in range(0, 100, 5):  # the schedule runs; no event arrives
        world.at(days=day, minutes=1)
        world.rules.on_schedule()
    left = [e.properties.segment for e in world.types("segment.left")]
    assert left.count("active-30d") == left.count("active-90d") == left.count("new-30d") == 1
    sizes = world.rules.segment_sizes("elektro-emma")
    assert sizes["active-30d"] == sizes["active-90d"] == sizes["new-30d"] == 0
    assert sizes["known-customers"] == 1


def test_consent_and_deliveries_move_the_reachable_and_never_opens_segments():
    world = World()
    lena = {"customer_id": "7008001", "email": "lena@example.de"}
    proof = {"source": "test", "at": T0.isoformat(), "double_opt_in": True}
    world.send(event("consent.changed", customer=lena, channel="email", granted=True, proof=proof))
    assert world.rules.segment_sizes("elektro-emma")["reachable-email-confirmed"] == 1
    for n in range(3):
        world.send(event("email.delivered", customer=lena, source="ses", minutes=n + 1, message_id=f"m-{n}"))
    assert world.rules.segment_sizes("elektro-emma")["never-opens"] == 1
    world.send(event("email.opened", customer=lena, source="ses", minutes=10, message_id="m-0"))
    sizes = world.rules.segment_sizes("elektro-emma")
    assert sizes["never-opens"] == 0 and sizes["reachable-email"] == 1
