"""Consent statements folded into the profile: when a grant began (one grant however often restated),
a confirmed grant kept against a restatement without proof, topics and pauses from the preference
centre, and merges."""

from datetime import timedelta

import pytest
from pydantic import ValidationError

from emma.profiles.apply import apply_event, merge_profiles
from emma.profiles.model import new_profile
from factories import T0, event


def consent(minutes, granted=True, doi=False, channel="email", **more):
    at = T0 + timedelta(minutes=minutes)
    proof = {"source": "tracker:identify", "at": at.isoformat(), "double_opt_in": doi}
    if channel:
        more["channel"] = channel
    return event("consent.changed", at=at, granted=granted, proof=proof, **more)


def fold(*events):
    profile = new_profile("elektro-emma", "p_1", T0)
    for e in events:
        apply_event(profile, e)
    return profile


def test_a_restated_grant_keeps_when_it_began():
    profile = fold(consent(0), consent(10), consent(20))
    state = profile.consent["email"]
    assert state.granted and state.since == T0 and state.proof.at == T0 + timedelta(minutes=20)
    profile = fold(consent(0), consent(10, granted=False), consent(20))
    assert profile.consent["email"].since == T0 + timedelta(minutes=20)  # a new grant


def test_a_grant_without_proof_does_not_undo_a_confirmed_one_but_a_withdrawal_does():
    profile = fold(consent(0), consent(5, doi=True), consent(10))
    state = profile.consent["email"]
    assert state.proof.double_opt_in and state.proof.at == T0 + timedelta(minutes=5) and state.since == T0
    profile = fold(consent(0, doi=True), consent(10, granted=False), consent(20))
    assert not profile.consent["email"].proof.double_opt_in


def test_topics_and_pauses_are_stated_with_proof():
    until = T0 + timedelta(days=30)
    profile = fold(
        consent(0, channel=None, topic="offers", granted=False),
        consent(1, channel=None, paused_until=until.isoformat(), granted=False),
    )
    assert not profile.topic_consent["offers"].granted and profile.pause.until == until
    assert profile.consent == {}  # neither is a channel
    older = consent(-5, channel=None, topic="offers", granted=True)
    apply_event(profile, older)
    assert not profile.topic_consent["offers"].granted  # an older statement changes nothing
    view = profile.view()
    assert view["topic_consent"]["offers"]["proof"]["source"] == "tracker:identify"
    assert view["pause"]["until"].startswith(until.date().isoformat())


def test_a_statement_is_about_exactly_one_thing():
    proof = {"source": "x", "at": T0.isoformat()}
    for props in ({}, {"channel": "email", "topic": "offers"}, {"topic": "offers", "paused_until": T0.isoformat()}):
        with pytest.raises(ValidationError, match="exactly one of channel, topic or paused_until"):
            event("consent.changed", granted=True, proof=proof, **props)


def test_a_merge_keeps_the_newest_topic_and_pause_statements():
    a = fold(consent(0, channel=None, topic="offers", granted=False))
    b = fold(
        consent(5, channel=None, topic="offers", granted=True),
        consent(6, channel=None, topic="tutorials", granted=False),
        consent(7, channel=None, paused_until=(T0 + timedelta(days=90)).isoformat(), granted=False),
    )
    merged = merge_profiles(a, b)
    assert merged.topic_consent["offers"].granted and not merged.topic_consent["tutorials"].granted
    assert merged.pause is not None and merged.pause.until == T0 + timedelta(days=90)
