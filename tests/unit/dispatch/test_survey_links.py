"""The survey's signed links: survey tokens refuse tampering, expiry, another shop and every other kind
of token (nor does a survey token pass for one of them); a survey mail carries eleven score links,
one token for the message, valid for SURVEY_LINK_DAYS from the send, in the mail's language."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from emma.dispatch.context import SURVEY_ID, SURVEY_LINK_DAYS
from emma.dispatch.tokens import (
    ConfirmToken,
    ExpiredToken,
    InvalidToken,
    PreferenceToken,
    SurveyToken,
    UnsubscribeToken,
    message_ref,
    sign_confirmation,
    sign_preferences,
    sign_survey,
    sign_unsubscribe,
    token_locale,
    token_shop,
    verify_confirmation,
    verify_preferences,
    verify_survey,
    verify_unsubscribe,
)

from .conftest import NOW as SEND_TIME

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SURVEY = SurveyToken("elektro-emma", "p_1", "m1", "satisfaction", "de", NOW, NOW + timedelta(days=30))


def test_a_survey_token_round_trips_and_names_its_shop_and_locale():
    text = sign_survey("s1", SURVEY)
    assert verify_survey("s1", text, "elektro-emma", NOW) == SURVEY
    assert token_shop(text) == "elektro-emma" and token_locale(text) == "de"
    assert token_locale("garbage") is None and token_locale("") is None
    assert token_locale(sign_preferences("s1", PreferenceToken("elektro-emma", "p_1", "m1", NOW))) is None


def test_a_tampered_survey_token_is_refused():
    text = sign_survey("s1", SURVEY)
    payload, mac = text.split(".")
    other = SurveyToken("elektro-emma", "p_2", "m1", "satisfaction", "de", NOW, SURVEY.expires)
    forged = sign_survey("s1", other).split(".")[0]
    for bad in (f"{forged}.{mac}", f"{payload}.{mac[:-2]}xx", payload, "", "....", f"{payload}.", "x" * 40):
        with pytest.raises(InvalidToken) as caught:
            verify_survey("s1", bad, "elektro-emma", NOW)
        assert not isinstance(caught.value, ExpiredToken) and caught.value.status == 400


def test_an_expired_survey_token_is_refused_as_expired():
    for when in (SURVEY.expires, SURVEY.expires + timedelta(days=1)):
        with pytest.raises(ExpiredToken) as caught:
            verify_survey("s1", sign_survey("s1", SURVEY), "elektro-emma", when)
        assert caught.value.status == 410
    assert verify_survey("s1", sign_survey("s1", SURVEY), "elektro-emma", SURVEY.expires - timedelta(seconds=1))


def test_a_survey_token_of_another_shop_is_refused():
    text = sign_survey("s1", SURVEY)
    with pytest.raises(InvalidToken):  # another shop's secret
        verify_survey("s2", text, "elektro-emma", NOW)
    with pytest.raises(InvalidToken, match="another shop"):  # signed right, but for another shop
        verify_survey("s1", text, "fahrrad-franz", NOW)


def test_a_survey_token_never_passes_for_another_kind_nor_the_reverse():
    survey = sign_survey("s1", SURVEY)
    pref = sign_preferences("s1", PreferenceToken("elektro-emma", "p_1", "m1", NOW + timedelta(days=1)))
    confirm = sign_confirmation(
        "s1", ConfirmToken("elektro-emma", "p_1", NOW, "doi-confirmation@x/de", NOW + timedelta(days=1))
    )
    unsubscribe = sign_unsubscribe("s1", UnsubscribeToken("elektro-emma", "p_1", "email", "m1"))
    for other in (pref, confirm, unsubscribe):
        with pytest.raises(InvalidToken):
            verify_survey("s1", other, "elektro-emma", NOW)
    with pytest.raises(InvalidToken):
        verify_preferences("s1", survey, "elektro-emma", NOW)
    with pytest.raises(InvalidToken):
        verify_confirmation("s1", survey, "elektro-emma", NOW)
    with pytest.raises(InvalidToken):
        verify_unsubscribe("s1", survey)


def test_the_survey_mail_carries_eleven_signed_score_links(world):
    pid = world.customer()
    request = world.request(pid, template="satisfaction-survey", journey="smartphone-onboarding")
    report = world.service.dispatch(request)
    assert report.outcome == "sent", report
    (mail,) = world.sent()
    urls = [unescape(u) for u in re.findall(r'href="(https://api\.example/v1/survey\?[^"]+)"', mail.html)]
    assert [parse_qs(urlsplit(u).query)["score"] for u in urls] == [[str(n)] for n in range(11)]
    (token,) = {parse_qs(urlsplit(u).query)["t"][0] for u in urls}  # one token for the message
    found = verify_survey("sig-test", token, "elektro-emma", SEND_TIME)
    assert found == SurveyToken(
        "elektro-emma",
        pid,
        message_ref(request.key),
        SURVEY_ID,
        "de",
        SEND_TIME,
        SEND_TIME + timedelta(days=SURVEY_LINK_DAYS),
    )
    assert "Wie wahrscheinlich ist es, dass du uns weiterempfiehlst?" in mail.html
    assert "0 = gar nicht wahrscheinlich ... 10 = äußerst wahrscheinlich" in mail.html
    for n in (0, 10):  # the plain-text part lists each score with its link
        assert re.search(rf"^{n}: https://api\.example/v1/survey\?t=[^&\s]+&score={n}$", mail.text, re.M)
    assert "/survey\n" not in mail.text and "shop.example/survey" not in mail.html  # no shop-hosted survey


def test_an_english_survey_mail_has_english_links_and_wording(world):
    pid = world.customer("c-2", locale="en-GB")
    world.service.dispatch(world.request(pid, template="satisfaction-survey"))
    (mail,) = world.sent()
    token = parse_qs(
        urlsplit(unescape(re.findall(r'href="(https://api\.example/v1/survey\?[^"]+)"', mail.html)[0])).query
    )
    assert verify_survey("sig-test", token["t"][0], "elektro-emma", SEND_TIME).locale == "en"
    assert "How likely are you to recommend us" in mail.html and "10 = extremely likely" in mail.html
