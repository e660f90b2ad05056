"""The survey Emma hosts, through the ingest handler with in-memory ports: the page a score link opens
(nothing stored: mail scanners open every link), what sending records (survey.answered through
ingest, the profile's last_survey the flagship journey branches on), repeated and changed answers, and
bad input (damaged, forged, expired links, an erased customer, a score or comment out of bounds)
answering an HTML page with nothing stored."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest

from emma.dispatch.tokens import PreferenceToken, SurveyToken, sign_preferences, sign_survey
from emma.ingest.service import IngestService
from emma.journeys.definitions import BranchStep
from emma.rules.evaluate import Facts, holds
from emma.shops import ShopConfig
from emma.wiring.definitions import read_journeys
from emma.wiring.ingest import Intake
from emma_local.fakes import (
    FixedClock,
    InMemoryCatalog,
    InMemoryProfileRepository,
    InMemoryPublisher,
    StaticShopDirectory,
)
from emma_local.lambdas import LambdaContext, api_event, response_body
from factories import T0, event

ROOT = Path(__file__).resolve().parents[3]
SHOP = ShopConfig(shop="elektro-emma", name="Elektro Emma", signing_secret="sig-1")
OTHER = ShopConfig(shop="fahrrad-franz", name="Fahrrad Franz", signing_secret="sig-2")
SENT = T0 + timedelta(days=28)  # the survey mail went out
NOW = SENT + timedelta(days=2)
REFS = {"customer_id": "c-1", "email": "anna@example.com"}
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120"


class Clock:
    """The time requests arrive at (the route reads API Gateway's request time)."""

    now = NOW


@pytest.fixture
def publisher():
    return InMemoryPublisher()


@pytest.fixture
def world(monkeypatch, publisher):
    from ingest import deps
    from ingest.routes import survey

    repo = InMemoryProfileRepository()
    service = IngestService(repo, InMemoryCatalog(repo), publisher, FixedClock(NOW), sleep=lambda s: None)
    intake = Intake(service, StaticShopDirectory([SHOP, OTHER]))
    monkeypatch.setattr(deps, "intake", lambda: intake)
    monkeypatch.setattr(survey, "received_at", lambda _: Clock.now)
    monkeypatch.setattr(Clock, "now", NOW)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    service.ingest([event("customer.registered", customer=REFS, locale="de-DE", first_name="Anna")])
    return service


def profile(service):
    return service.resolve("elektro-emma", "cid:c-1")


def survey_events(service):
    return [e for e in service.history(profile(service)) if e["type"] == "survey.answered"]


def token(service, *, secret="sig-1", shop="elektro-emma", locale="de", issued=SENT, pid=None, message="m1"):
    pid = pid or profile(service).profile_id
    found = SurveyToken(shop, pid, message, "satisfaction", locale, issued, issued + timedelta(days=30))
    return sign_survey(secret, found)


def call(method, token_, *, score=None, form=None, headers=None):
    from ingest.handler import lambda_handler

    query = {"t": token_, **({"score": score} if score is not None else {})}
    body = urlencode(form or {}, doseq=True).encode()
    base = {"content-type": "application/x-www-form-urlencoded", "user-agent": BROWSER}
    event_ = api_event(method, "/v1/survey", urlencode(query), {**base, **(headers or {})}, body, "203.0.113.7")
    result = lambda_handler(event_, LambdaContext("ingest"))
    return result["statusCode"], response_body(result).decode(), result.get("headers") or {}


def answer(service, score, comment="", token_=None):
    form = {"form": "survey", "score": str(score), **({"comment": comment} if comment else {})}
    return call("POST", token_ or token(service), form=form)


def branch_target(service):
    """Where the flagship journey's satisfied branch goes for this customer now."""
    journey = next(j for j in read_journeys(ROOT) if j.id == "smartphone-onboarding")
    step = journey.step("satisfied")
    assert isinstance(step, BranchStep)
    facts = Facts(profile=profile(service), now=NOW)
    return next(arm.goto or arm.otherwise for arm in step.branch if arm.when is None or holds(arm.when, facts, NOW))


# ---- the page -----------------------------------------------------------------------------------


def test_the_link_opens_the_question_with_its_score_chosen_and_stores_nothing(world):
    status, body, headers = call("GET", token(world), score="9")
    assert status == 200 and '<html lang="de">' in body and "<script" not in body
    assert "Wie wahrscheinlich ist es, dass du uns weiterempfiehlst?" in body
    assert "0 = gar nicht wahrscheinlich ... 10 = äußerst wahrscheinlich" in body
    assert 'name="score" value="9" required checked' in body and body.count(" checked") == 1
    assert body.count('type="radio" name="score"') == 11 and 'name="comment"' in body and 'maxlength="1000"' in body
    assert '<button type="submit">Senden</button>' in body and 'method="post"' in body
    assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'none' covers scripts
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "form-action 'self'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store" and headers["Referrer-Policy"] == "no-referrer"
    # every link of the mail opened, as a mail scanner does: nothing is stored
    for n in range(11):
        assert call("GET", token(world), score=str(n))[0] == 200
    assert profile(world).last_survey is None and survey_events(world) == []


def test_the_page_is_in_the_language_of_the_mail(world):
    status, body, _ = call("GET", token(world, locale="en"), score="3", headers={"accept-language": "de-DE"})
    assert status == 200 and '<html lang="en">' in body and "How likely are you to recommend us" in body
    assert "0 = not at all likely ... 10 = extremely likely" in body and ">Send</button>" in body
    assert 'value="3" required checked' in body


def test_without_a_score_nothing_is_chosen(world):
    status, body, _ = call("GET", token(world))
    assert status == 200 and " checked" not in body


# ---- answering ------------------------------------------------------------------------------------


def test_sending_records_the_answer_the_journey_branches_on(world, publisher):
    status, body, _ = answer(world, 9, "Tolles Gerät,\r\nschnelle Lieferung!")
    assert status == 200 and "Vielen Dank!" in body and "Danke für deine Antwort (9 von 10)" in body
    after = profile(world)
    assert after.last_survey == {"survey_id": "satisfaction", "score": 9, "at": NOW.isoformat()}
    assert after.last_active_at == NOW  # the customer's own action
    (stored,) = survey_events(world)
    props = stored["properties"]
    assert props == {
        "survey_id": "satisfaction",
        "score": 9,
        "answers": {"locale": "de", "comment": "Tolles Gerät,\nschnelle Lieferung!"},
    }
    assert stored["source"]["kind"] == "emma" and stored["source"]["name"] == "survey"
    assert branch_target(world) == "invite-review-and-referral"  # profile.last_survey.score >= 8
    # published for the journeys (the wait on survey.answered), once
    published = [e for e in publisher.published if str(e.type) == "survey.answered"]
    assert len(published) == 1 and published[0].properties.score == 9


def test_a_low_score_takes_the_service_branch_and_a_comment_is_optional(world):
    status, _, _ = answer(world, 3)
    assert status == 200 and profile(world).last_survey["score"] == 3
    (stored,) = survey_events(world)
    assert stored["properties"]["answers"] == {"locale": "de"}
    assert branch_target(world) == "service-follow-up"


def test_the_same_answer_again_changes_nothing(world):
    answer(world, 9, "erste Antwort")
    first = profile(world).last_survey
    Clock.now = NOW + timedelta(minutes=5)
    status, body, _ = answer(world, 9, "noch ein Kommentar")  # the form sent again, the back button
    assert status == 200 and "hatten wir schon" in body
    assert profile(world).last_survey == first and len(survey_events(world)) == 1
    # the page says so when the link is opened again
    assert "Du hast schon geantwortet (9 von 10)" in call("GET", token(world), score="9")[1]


def test_two_submissions_racing_are_stored_once(world):
    """Both read the profile before either is stored: they carry the same event id."""
    seen = profile(world)
    real = world.resolve
    world.resolve = lambda shop, ref: seen  # each request sees the profile as it was before both
    try:
        answer(world, 9)
        Clock.now = NOW + timedelta(seconds=1)
        answer(world, 9)
    finally:
        world.resolve = real
    assert len(survey_events(world)) == 1


def test_a_different_score_later_replaces_the_answer_and_back_again(world):
    answer(world, 9)
    Clock.now = NOW + timedelta(hours=1)
    answer(world, 3)
    assert profile(world).last_survey["score"] == 3 and branch_target(world) == "service-follow-up"
    Clock.now = NOW + timedelta(hours=2)
    status, body, _ = answer(world, 9)  # changed back: a new answer, not the first one's duplicate
    assert status == 200 and "Danke für deine Antwort (9 von 10)" in body
    assert profile(world).last_survey == {
        "survey_id": "satisfaction",
        "score": 9,
        "at": (NOW + timedelta(hours=2)).isoformat(),
    }
    assert [e["properties"]["score"] for e in survey_events(world)] == [9, 3, 9]


def test_an_answer_before_this_mail_does_not_count_as_the_answer_to_it(world):
    """A score given to an earlier survey mail: the same score for a new mail is still recorded (the
    journey waiting on this mail needs its survey.answered)."""
    Clock.now = SENT - timedelta(days=190)
    answer(world, 9, token_=token(world, issued=SENT - timedelta(days=200), message="m0"))
    assert profile(world).last_survey["at"] == Clock.now.isoformat()
    Clock.now = NOW
    assert "schon geantwortet" not in call("GET", token(world), score="9")[1]
    status, body, _ = answer(world, 9)
    assert status == 200 and "hatten wir schon" not in body and len(survey_events(world)) == 2
    assert profile(world).last_survey["at"] == NOW.isoformat()


# ---- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "says"),
    [
        ("tampered", 400, "ungültig"),
        ("signed with another shop's secret", 400, "ungültig"),
        ("another shop's own link", 404, "keine Daten"),
        ("a preference-centre token", 400, "ungültig"),
        ("expired", 410, "abgelaufen"),
        ("no token", 400, "ungültig"),
    ],
)
def test_a_bad_link_answers_a_page_and_stores_nothing(world, kind, status, says):
    good = token(world)
    pid = profile(world).profile_id
    bad = {
        "tampered": good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),
        "signed with another shop's secret": token(world, secret="sig-2"),
        # valid for fahrrad-franz, naming a profile of elektro-emma: it reaches no profile of another shop
        "another shop's own link": token(world, secret="sig-2", shop="fahrrad-franz", pid=pid),
        "a preference-centre token": sign_preferences(
            "sig-1", PreferenceToken("elektro-emma", pid, "m1", NOW + timedelta(days=1))
        ),
        "expired": token(world, issued=NOW - timedelta(days=30)),
        "no token": "",
    }[kind]
    for method in ("GET", "POST"):
        got, body, _ = call(
            method, bad, score="9", form={"form": "survey", "score": "9"}, headers={"accept-language": "de-DE"}
        )
        assert got == status and body.startswith("<!DOCTYPE html>") and says in body, (kind, method, body)
    assert profile(world).last_survey is None and survey_events(world) == []


def test_an_erased_customer_answers_404(world):
    text = token(world, pid="p_gone")
    for method in ("GET", "POST"):
        got, body, _ = call(method, text, score="9", form={"form": "survey", "score": "9"})
        assert got == 404 and "Zu diesem Link haben wir keine Daten mehr" in body
    assert survey_events(world) == []


@pytest.mark.parametrize("score", ["11", "-1", "abc", "7.5", "", " ", "\uff11"])
def test_a_score_outside_0_to_10_answers_400_and_stores_nothing(world, score):
    """Digits only, 0 to 10 (a fullwidth digit one is not a score)."""
    status, body, _ = answer(world, score)
    assert status == 400 and "Bitte wähle eine Zahl von 0 bis 10" in body and "<form" in body
    if score.strip():
        got, body, _ = call("GET", token(world), score=score)
        assert got == 400 and "Bitte wähle eine Zahl von 0 bis 10" in body and " checked" not in body
    assert profile(world).last_survey is None and survey_events(world) == []


def test_a_comment_over_1000_characters_answers_400_and_stores_nothing(world):
    long = "ä" * 1001
    status, body, _ = answer(world, 8, long)
    assert status == 400 and "länger als 1.000 Zeichen" in body
    assert long in body and 'value="8" required checked' in body  # kept, to shorten
    assert profile(world).last_survey is None and survey_events(world) == []
    status, _, _ = answer(world, 8, "ä" * 500 + "\r\n" * 499 + "ä")  # line breaks count once, as typed
    assert status == 200 and profile(world).last_survey["score"] == 8


def test_a_foreign_or_empty_post_stores_nothing(world):
    for form in ({}, {"score": "9"}, {"form": "preferences", "score": "9"}):
        status, body, _ = call("POST", token(world), form=form)
        assert status == 400 and "ungültig" in body
    assert survey_events(world) == []
