"""One-click unsubscribe and tracked links through the ingest handler, with in-memory ports."""

from __future__ import annotations

import pytest

from emma.dispatch.tokens import UnsubscribeToken, sign_unsubscribe
from emma.ingest.service import IngestService
from emma.shops import ShopConfig
from emma.wiring.ingest import Intake
from emma_local.fakes import (
    FixedClock,
    InMemoryCatalog,
    InMemoryLinks,
    InMemoryProfileRepository,
    InMemoryPublisher,
    StaticShopDirectory,
)
from emma_local.lambdas import LambdaContext, api_event, response_body
from factories import T0, event

SHOP = ShopConfig(shop="elektro-emma", name="Elektro Emma", signing_secret="sig-1")
PROOF = {"source": "shop:signup", "at": T0.isoformat(), "double_opt_in": True}


@pytest.fixture
def world(monkeypatch):
    from ingest import deps

    repo = InMemoryProfileRepository()
    service = IngestService(repo, InMemoryCatalog(repo), InMemoryPublisher(), FixedClock(T0), sleep=lambda s: None)
    links = InMemoryLinks()
    intake = Intake(service, StaticShopDirectory([SHOP]))
    monkeypatch.setattr(deps, "intake", lambda: intake)
    monkeypatch.setattr(deps, "links", lambda: links)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    refs = {"customer_id": "c-1", "email": "anna@example.com"}
    service.ingest(
        [
            event("consent.changed", customer=refs, channel="email", granted=True, proof=PROOF),
            event("consent.changed", customer=refs, channel="sms", granted=True, proof=PROOF),
        ]
    )
    profile = service.resolve("elektro-emma", "cid:c-1")
    return service, links, profile


def call(method, path, query="", body=b"", headers=None):
    from ingest.handler import lambda_handler

    result = lambda_handler(
        api_event(method, path, query, {"content-type": "application/x-www-form-urlencoded", **(headers or {})}, body),
        LambdaContext("ingest"),
    )
    return result["statusCode"], response_body(result).decode(), result.get("headers", {})


def token(profile, channel="email", secret="sig-1"):
    return sign_unsubscribe(secret, UnsubscribeToken("elektro-emma", profile.profile_id, channel, "m1"))


def test_one_click_post_withdraws_consent_with_proof_and_suppresses(world):
    service, _, profile = world
    status, body, _ = call("POST", "/v1/unsubscribe", f"t={token(profile)}", b"List-Unsubscribe=One-Click")
    assert status == 200 and "abgemeldet" not in body and "unsubscribed" in body
    after = service.resolve("elektro-emma", "cid:c-1")
    assert after.consent["email"].granted is False
    assert after.consent["email"].proof.wording == "one-click unsubscribe (List-Unsubscribe-Post)"
    assert after.suppressions["email"].reason == "unsubscribe"
    assert after.consent["sms"].granted is True  # only the channel the message came on
    again = call("POST", "/v1/unsubscribe", f"t={token(profile)}", b"List-Unsubscribe=One-Click")
    assert again[0] == 200  # idempotent


def test_get_shows_a_page_and_changes_nothing(world):
    service, _, profile = world
    status, body, _ = call("GET", "/v1/unsubscribe", f"t={token(profile)}", headers={"accept-language": "de-DE"})
    assert status == 200 and '<form method="post"' in body and "Abmelden" in body
    assert service.resolve("elektro-emma", "cid:c-1").consent["email"].granted is True


def test_a_forged_or_damaged_token_is_refused(world):
    _, _, profile = world
    assert call("POST", "/v1/unsubscribe", f"t={token(profile, secret='other')}")[0] == 400
    assert call("POST", "/v1/unsubscribe", "t=garbage")[0] == 400
    assert call("GET", "/v1/unsubscribe", "")[0] == 400


def test_a_tracked_link_counts_the_click_and_redirects(world):
    service, links, profile = world
    links.save(
        "elektro-emma",
        "AbC",
        {
            "url": "https://shop.example/cart",
            "profile_id": profile.profile_id,
            "channel": "sms",
            "template": "cart-last-call",
            "message": "m1",
        },
    )
    status, _, headers = call("GET", "/v1/r/elektro-emma/AbC")
    assert status == 302 and headers["Location"] == "https://shop.example/cart"
    assert service.resolve("elektro-emma", "cid:c-1").channels["sms"].clicked == 1
    assert call("GET", "/v1/r/elektro-emma/nope")[0] == 404
