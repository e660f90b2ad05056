"""Signed links: preference-centre and double opt-in tokens refuse tampering, expiry, another shop and
another kind of token; unsubscribe tokens keep their format (links in sent mails keep working)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emma.dispatch.tokens import (
    ConfirmToken,
    ExpiredToken,
    InvalidToken,
    PreferenceToken,
    UnsubscribeToken,
    sign_confirmation,
    sign_preferences,
    sign_unsubscribe,
    token_shop,
    verify_confirmation,
    verify_preferences,
    verify_unsubscribe,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PREF = PreferenceToken("elektro-emma", "p_1", "m1", NOW + timedelta(days=180))
GRANT = datetime(2026, 11, 20, 8, 30, 15, 250000, tzinfo=UTC)
CONFIRM = ConfirmToken("elektro-emma", "p_1", GRANT, "doi-confirmation@0123456789/de", NOW + timedelta(days=7))


def test_round_trips():
    assert verify_preferences("s1", sign_preferences("s1", PREF), "elektro-emma", NOW) == PREF
    assert verify_confirmation("s1", sign_confirmation("s1", CONFIRM), "elektro-emma", NOW) == CONFIRM
    assert token_shop(sign_preferences("s1", PREF)) == "elektro-emma"
    assert token_shop(sign_confirmation("s1", CONFIRM)) == "elektro-emma"


def test_a_tampered_token_is_refused():
    text = sign_preferences("s1", PREF)
    payload, mac = text.split(".")
    forged = sign_preferences("s1", PreferenceToken("elektro-emma", "p_2", "m1", PREF.expires)).split(".")[0]
    for bad in (f"{forged}.{mac}", f"{payload}.{mac[:-2]}xx", payload, "", "....", f"{payload}.", "x" * 40):
        with pytest.raises(InvalidToken) as caught:
            verify_preferences("s1", bad, "elektro-emma", NOW)
        assert not isinstance(caught.value, ExpiredToken)


def test_an_expired_token_is_refused_as_expired():
    for when in (PREF.expires, PREF.expires + timedelta(days=1)):
        with pytest.raises(ExpiredToken) as caught:
            verify_preferences("s1", sign_preferences("s1", PREF), "elektro-emma", when)
        assert caught.value.status == 410
    with pytest.raises(ExpiredToken):
        verify_confirmation("s1", sign_confirmation("s1", CONFIRM), "elektro-emma", NOW + timedelta(days=7))
    later = PREF.expires - timedelta(seconds=1)
    assert verify_preferences("s1", sign_preferences("s1", PREF), "elektro-emma", later) == PREF


def test_a_token_of_another_shop_is_refused():
    text = sign_preferences("s1", PREF)
    with pytest.raises(InvalidToken):  # another shop's secret
        verify_preferences("s2", text, "elektro-emma", NOW)
    with pytest.raises(InvalidToken, match="another shop"):  # signed right, but for another shop
        verify_preferences("s1", text, "fahrrad-franz", NOW)


def test_one_kind_of_token_never_passes_for_another():
    pref, confirm = sign_preferences("s1", PREF), sign_confirmation("s1", CONFIRM)
    unsubscribe = sign_unsubscribe("s1", UnsubscribeToken("elektro-emma", "p_1", "email", "m1"))
    with pytest.raises(InvalidToken):
        verify_confirmation("s1", pref, "elektro-emma", NOW)
    with pytest.raises(InvalidToken):
        verify_preferences("s1", confirm, "elektro-emma", NOW)
    for other in (pref, confirm):
        with pytest.raises(InvalidToken):
            verify_unsubscribe("s1", other)
    with pytest.raises(InvalidToken):
        verify_preferences("s1", unsubscribe, "elektro-emma", NOW)


def test_unsubscribe_tokens_keep_their_format():
    token = UnsubscribeToken("elektro-emma", "p_1", "email", "m1")
    text = sign_unsubscribe("s1", token)
    assert text == "WyJlbGVrdHJvLWVtbWEiLCAicF8xIiwgImVtYWlsIiwgIm0xIl0.wFRbm4pO8nIaV2K4dx1IPQ"
    assert verify_unsubscribe("s1", text) == token and token_shop(text) == "elektro-emma"
