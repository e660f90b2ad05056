"""The decision order as a pure function, and a property: whatever the profile and the request, a
message only goes out on a channel with granted consent (confirmed by double opt-in for email where
the shop requires it; the confirmation mail itself goes exactly while that confirmation is missing),
no suppression and a valid address."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from emma.addresses import email_problem, normalise_phone
from emma.dispatch.policy import plan
from emma.dispatch.request import MessageRequest
from emma.events.model import Channel, ConsentProof
from emma.profiles.model import ChannelStats, ConsentState, Profile, Suppression, Trait
from emma.shops import DispatchConfig, QuietHours, ShopConfig
from tests.unit.dispatch.conftest import TEMPLATES

NOW = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
CHANNELS = list(Channel)

consents = st.dictionaries(
    st.sampled_from(CHANNELS),
    st.builds(
        lambda granted, doi: ConsentState(granted=granted, proof=ConsentProof(source="t", at=NOW, double_opt_in=doi)),
        st.booleans(),
        st.booleans(),
    ),
)
suppressions = st.dictionaries(
    st.sampled_from(CHANNELS),
    st.builds(lambda r: Suppression(reason=r, at=NOW), st.sampled_from(["hard_bounce", "complaint", "unsubscribe"])),
)
# Mostly reachable customers, so that many examples get as far as a send.
emails = st.sampled_from([["anna@example.com"]] * 4 + [[], ["not-an-email@"], ["a@b"]])
phones = st.sampled_from([["+4915112345678"]] * 3 + [[], ["12"]])
stats = st.dictionaries(
    st.sampled_from(CHANNELS),
    st.builds(
        lambda s, o, c: ChannelStats(sent=s, opened=o, clicked=c),
        st.integers(0, 50),
        st.integers(0, 50),
        st.integers(0, 50),
    ),
)


@settings(max_examples=600, deadline=None)
@given(
    consent=consents,
    suppressed=suppressions,
    email=emails,
    phone=phones,
    push=st.booleans(),
    channels=stats,
    requested=st.sampled_from(["best", "email", "sms", "push"]),
    template=st.sampled_from(sorted(TEMPLATES.names())),
    transactional=st.booleans(),
    doi_required=st.booleans(),
    hour=st.one_of(st.integers(8, 18), st.integers(0, 23)),
)
def test_no_send_without_consent(
    consent, suppressed, email, phone, push, channels, requested, template, transactional, doi_required, hour
):
    profile = Profile(
        shop="s1",
        profile_id="p_1",
        created_at=NOW,
        updated_at=NOW,
        emails=email,
        phones=phone,
        consent=consent,
        suppressions=suppressed,
        channels=channels,
        traits={"push_token": Trait(value="tok", at=NOW)} if push else {},
    )
    shop = ShopConfig(shop="s1", dispatch=DispatchConfig(double_opt_in=doi_required))
    request = MessageRequest(
        key="k",
        shop="s1",
        profile_id="p_1",
        template=template,
        channel=requested,
        transactional=transactional,
        requested_at=NOW,
    )
    result = plan(request, profile, TEMPLATES.get("s1", template), shop, NOW.replace(hour=hour), [], push_ready=True)
    if result.outcome != "send":
        return
    channel = result.channel
    state = consent.get(channel)
    assert state is not None and state.granted
    if TEMPLATES.get("s1", template).confirmation:  # the double opt-in mail: exactly while a grant awaits it
        assert channel == Channel.EMAIL and doi_required and not state.proof.double_opt_in
    else:
        assert not (channel == Channel.EMAIL and doi_required and not state.proof.double_opt_in)
    assert channel not in suppressed
    assert requested in ("best", channel)
    if channel == Channel.EMAIL:
        assert email_problem(result.address) is None
    if channel == Channel.SMS:
        assert normalise_phone(result.address) == result.address


def test_quiet_hours_span_midnight():
    quiet = QuietHours(start=time(21), end=time(8))
    assert quiet.contains(time(23)) and quiet.contains(time(7, 59)) and not quiet.contains(time(8))
    assert QuietHours(start=time(1), end=time(5)).contains(time(3))


def test_addresses():
    assert email_problem("anna@example.com") is None
    for bad in ("anna", "@x.de", "anna@localhost", "an na@x.de", "a@b..de", "a@-x.de", "a@x.d3"):
        assert email_problem(bad), bad
    assert normalise_phone("0049 (151) 123-4567") == "+491511234567"
    assert normalise_phone("0151 1234567") is None  # no country code: not E.164


def test_the_cap_reason_says_when_the_next_message_is_possible():
    from emma.dispatch.policy import recent_sends_problem
    from emma.shops import FrequencyCap

    sends = [NOW - timedelta(days=d) for d in (1, 2, 3)]
    reason = recent_sends_problem((FrequencyCap(messages=3, days=7),), sends, NOW)
    assert reason and (NOW - timedelta(days=3) + timedelta(days=7)).isoformat() in reason
    assert recent_sends_problem((FrequencyCap(messages=3, days=2),), sends, NOW) is None
