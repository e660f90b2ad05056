"""The preference centre and the double opt-in confirmation through the ingest handler, with in-memory
ports: what each page shows, what a submission records (consent statements with proof), and bad
links (tampered, expired, another shop's) answering an HTML page with nothing changed."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest

from emma.dispatch.tokens import ConfirmToken, PreferenceToken, sign_confirmation, sign_preferences
from emma.ingest.service import IngestService
from emma.shops import ShopConfig
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

SHOP = ShopConfig(shop="elektro-emma", name="Elektro Emma", signing_secret="sig-1")
OTHER = ShopConfig(shop="fahrrad-franz", name="Fahrrad Franz", signing_secret="sig-2")
NOW = T0 + timedelta(days=30)
REFS = {"customer_id": "c-1", "email": "anna@example.com"}
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120"


@pytest.fixture
def world(monkeypatch):
    from ingest import deps
    from ingest.routes import preferences

    repo = InMemoryProfileRepository()
    service = IngestService(repo, InMemoryCatalog(repo), InMemoryPublisher(), FixedClock(NOW), sleep=lambda s: None)
    intake = Intake(service, StaticShopDirectory([SHOP, OTHER]))
    monkeypatch.setattr(deps, "intake", lambda: intake)
    monkeypatch.setattr(preferences, "received_at", lambda _: NOW)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    doi = {"source": "shop:signup", "at": T0.isoformat(), "double_opt_in": True}
    service.ingest(
        [
            event("customer.registered", customer=REFS, locale="de-DE", first_name="Anna"),
            event("consent.changed", customer=REFS, channel="email", granted=True, proof=doi),
            event("consent.changed", customer=REFS, channel="sms", granted=True, proof=doi),
        ]
    )
    return service


def profile(service):
    return service.resolve("elektro-emma", "cid:c-1")


def call(method, path, token, form=None, headers=None):
    from ingest.handler import lambda_handler

    body = urlencode(form or {}, doseq=True).encode()
    base = {"content-type": "application/x-www-form-urlencoded", "user-agent": BROWSER}
    event_ = api_event(method, path, urlencode({"t": token}), {**base, **(headers or {})}, body, "203.0.113.7")
    result = lambda_handler(event_, LambdaContext("ingest"))
    return result["statusCode"], response_body(result).decode()


def pref_token(service, *, secret="sig-1", shop="elektro-emma", expires=NOW + timedelta(days=180)):
    return sign_preferences(secret, PreferenceToken(shop, profile(service).profile_id, "m1", expires))


def confirm_token(service, *, expires=NOW + timedelta(days=7), secret="sig-1"):
    grant = profile(service).consent["email"].started
    return sign_confirmation(
        secret, ConfirmToken("elektro-emma", profile(service).profile_id, grant, "doi-confirmation@abc/de", expires)
    )


def regrant_without_doi(service, at=T0 + timedelta(days=1)):
    proof = {"source": "tracker:identify", "at": at.isoformat()}
    service.ingest([event("consent.changed", customer=REFS, at=at, channel="email", granted=False, proof=proof)])
    later = at + timedelta(minutes=1)
    proof = {"source": "tracker:identify", "at": later.isoformat()}
    service.ingest([event("consent.changed", customer=REFS, at=later, channel="email", granted=True, proof=proof)])


# ---- the preference centre ----------------------------------------------------------------------


def test_the_page_shows_channels_topics_and_a_pause_in_the_customers_language(world):
    status, body = call("GET", "/v1/preferences", pref_token(world))
    assert status == 200 and '<html lang="de">' in body and "Deine Einstellungen" in body
    assert 'name="channel" value="email" checked' in body and 'name="channel" value="sms" checked' in body
    assert 'name="channel" value="push">' in body  # no push consent
    for topic in ("newsletter", "tutorials", "offers"):
        assert f'name="topic" value="{topic}" checked' in body
    assert "Angebote" in body and 'name="pause" value="30"' in body and 'name="pause" value="90"' in body
    assert "<script" not in body  # works without JavaScript
    assert profile(world).topic_consent == {}  # looking changes nothing


def test_saving_records_each_change_as_a_consent_statement_with_proof(world):
    form = {"form": "preferences", "channel": ["sms"], "topic": ["newsletter", "tutorials"], "pause": "none"}
    status, body = call("POST", "/v1/preferences", pref_token(world), form)
    assert status == 200 and "Gespeichert." in body
    after = profile(world)
    email, offers = after.consent["email"], after.topic_consent["offers"]
    assert not email.granted and offers.granted is False and after.consent["sms"].granted
    assert set(after.topic_consent) == {"offers"}  # only what changed is stated
    for proof in (email.proof, offers.proof):
        assert proof.source == "emma:preferences:m1" and proof.at == NOW and not proof.double_opt_in
        assert proof.ip == "203.0.113.7" and proof.user_agent == BROWSER
        assert proof.wording_version == "preferences@1/de"
    assert offers.proof.wording == "Themen: Angebote aus" and email.proof.wording == "Kanäle: E-Mail aus"
    assert 'name="topic" value="offers">' in body and 'name="channel" value="email">' in body  # shown as saved
    # the same form again changes nothing
    assert "Nichts geändert." in call("POST", "/v1/preferences", pref_token(world), form)[1]


def test_a_pause_for_30_days_and_ending_it_early(world):
    status, body = call("POST", "/v1/preferences", pref_token(world), {"form": "preferences", "pause": "30"})
    after = profile(world)
    assert status == 200 and after.pause.until == NOW + timedelta(days=30)
    assert after.pause.proof.wording == "Weniger Nachrichten: 30 Tage lang keine Werbung"
    assert 'value="keep" checked' in body and (NOW + timedelta(days=30)).date().isoformat() in body
    # the form keeps channels and topics as they are: unchanged boxes are sent checked
    keep = {"form": "preferences", "channel": ["email", "sms"], "topic": ["newsletter", "tutorials", "offers"]}
    call("POST", "/v1/preferences", pref_token(world), {**keep, "pause": "keep"})
    assert profile(world).pause.until == NOW + timedelta(days=30)
    call("POST", "/v1/preferences", pref_token(world), {**keep, "pause": "none"})
    assert profile(world).pause.until == NOW  # ended now, with its proof


def test_switching_email_back_on_is_a_grant_awaiting_double_opt_in(world):
    form = {"form": "preferences", "channel": ["sms"], "topic": ["newsletter", "tutorials", "offers"]}
    call("POST", "/v1/preferences", pref_token(world), form)
    status, body = call("POST", "/v1/preferences", pref_token(world), {**form, "channel": ["sms", "email"]})
    email = profile(world).consent["email"]
    assert status == 200 and email.granted and not email.proof.double_opt_in and email.since == NOW
    assert "bestätige" in body and "wartet auf deine Bestätigung" in body


@pytest.mark.parametrize(
    ("kind", "status", "says"),
    [
        ("tampered", 400, "ungültig"),
        ("signed with another shop's secret", 400, "ungültig"),
        ("another shop's own link", 404, "keine Daten"),
        ("expired", 410, "abgelaufen"),
        ("a confirmation token", 400, "ungültig"),
    ],
)
def test_a_bad_preference_link_answers_a_page_and_changes_nothing(world, kind, status, says):
    good = pref_token(world)
    pid = profile(world).profile_id
    token = {
        "tampered": good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),
        "signed with another shop's secret": pref_token(world, secret="sig-2"),
        # valid for fahrrad-franz, naming a profile of elektro-emma: it reaches no profile of another shop
        "another shop's own link": sign_preferences(
            "sig-2", PreferenceToken("fahrrad-franz", pid, "m1", NOW + timedelta(days=1))
        ),
        "expired": pref_token(world, expires=NOW - timedelta(seconds=1)),
        "a confirmation token": confirm_token(world),
    }[kind]
    before = profile(world)
    form = {"form": "preferences", "channel": [], "topic": [], "pause": "90"}
    for method in ("GET", "POST"):
        got, body = call(method, "/v1/preferences", token, form, {"accept-language": "de-DE"})
        assert got == status and body.startswith("<!DOCTYPE html>") and says in body, (kind, method, body)
    after = profile(world)
    assert after.consent == before.consent and after.topic_consent == {} and after.pause is None


# ---- the double opt-in confirmation -------------------------------------------------------------


def test_the_confirmation_records_proof_once_and_a_second_click_is_harmless(world):
    regrant_without_doi(world)
    pending = profile(world).consent["email"]
    token = confirm_token(world)
    status, body = call("GET", "/v1/confirm", token)
    assert status == 200 and "<form" in body and "Ja, ich möchte E-Mails erhalten" in body
    assert profile(world).consent["email"] == pending  # opening the link (or a mail scanner) confirms nothing
    status, body = call("POST", "/v1/confirm", token, {"form": "confirm"})
    assert status == 200 and "bestätigt" in body
    email = profile(world).consent["email"]
    assert email.granted and email.proof.double_opt_in and email.proof.source == "emma:doi"
    assert email.proof.at == NOW and email.proof.ip == "203.0.113.7" and email.proof.user_agent == BROWSER
    assert email.proof.wording_version == "doi-confirmation@abc/de" and "Ja, ich möchte" in email.proof.wording
    assert email.since == pending.since  # the same grant, now confirmed
    status, body = call("POST", "/v1/confirm", token, {"form": "confirm"})
    assert status == 200 and "bereits bestätigt" in body
    assert profile(world).consent["email"] == email


def test_an_expired_or_tampered_confirmation_changes_nothing(world):
    regrant_without_doi(world)
    pending = profile(world).consent["email"]
    expired = confirm_token(world, expires=NOW)
    status, body = call("POST", "/v1/confirm", expired, {"form": "confirm"})
    assert status == 410 and "expired" in body  # the link names nobody yet: the browser's language (en)
    german = {"accept-language": "de-DE,de;q=0.9"}
    status, body = call("POST", "/v1/confirm", confirm_token(world, secret="sig-2"), {"form": "confirm"}, german)
    assert status == 400 and "ungültig" in body
    status, body = call("POST", "/v1/confirm", pref_token(world), {"form": "confirm"})
    assert status == 400
    assert profile(world).consent["email"] == pending


def test_a_confirmation_after_the_customer_withdrew_changes_nothing(world):
    regrant_without_doi(world)
    token = confirm_token(world)
    form = {"form": "preferences", "channel": ["sms"], "topic": ["newsletter", "tutorials", "offers"]}
    call("POST", "/v1/preferences", pref_token(world), form)
    status, body = call("POST", "/v1/confirm", token, {"form": "confirm"})
    assert status == 409 and "zurückgezogen" in body
    assert not profile(world).consent["email"].granted


def test_the_link_of_an_earlier_grant_does_not_confirm_a_later_one(world):
    regrant_without_doi(world)
    old_link = confirm_token(world)
    regrant_without_doi(world, at=T0 + timedelta(days=2))  # withdrawn and granted again: a new grant
    pending = profile(world).consent["email"]
    status, body = call("POST", "/v1/confirm", old_link, {"form": "confirm"})
    assert status == 409 and "früheren Anmeldung" in body
    assert profile(world).consent["email"] == pending
    status, _ = call("POST", "/v1/confirm", confirm_token(world), {"form": "confirm"})  # the newest mail's link
    assert status == 200 and profile(world).consent["email"].proof.double_opt_in


def test_an_erased_customers_grant_is_confirmed_even_where_the_shop_does_not_require_it(world, monkeypatch):
    from ingest import deps

    single = SHOP.model_copy(update={"dispatch": SHOP.dispatch.model_copy(update={"double_opt_in": False})})
    intake = deps.intake()
    monkeypatch.setattr(deps, "intake", lambda: Intake(intake.service, StaticShopDirectory([single, OTHER])))
    regrant_without_doi(world)
    current = profile(world)
    current.consent["email"] = current.consent["email"].model_copy(update={"confirm_required": True})
    monkeypatch.setattr(world, "resolve", lambda shop, ref: current)  # as ingest marks an erased address's grant
    status, body = call("POST", "/v1/confirm", confirm_token(world), {"form": "confirm"})
    assert status == 200 and "bestätigt" in body
    monkeypatch.undo()
    assert profile(world).consent["email"].proof.double_opt_in
