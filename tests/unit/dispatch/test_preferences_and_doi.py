"""Dispatch honours the preference centre (declined topics, a pause, a channel switched off) and sends
the double opt-in confirmation once per grant, with a link that records the proof."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email import policy
from html import unescape

from emma.dispatch.service import confirmation_key
from emma.dispatch.tokens import verify_confirmation, verify_preferences
from emma.shops import DispatchConfig, ShopConfig
from tests.factories import T0, event

from .conftest import NOW, SHOP, World

REFS = {"customer_id": "c-1", "email": "c-1@example.com"}


def stages(report):
    return [(d["stage"], d["outcome"]) for d in report.decisions]


def state(world, channel="email", *, granted=True, at=NOW - timedelta(days=1), doi=False, source="tracker:identify"):
    proof = {"source": source, "at": at.isoformat(), "double_opt_in": doi}
    world.ingest.ingest([event("consent.changed", customer=REFS, at=at, channel=channel, granted=granted, proof=proof)])


def prefer(world, *, at=NOW - timedelta(hours=1), **properties):
    proof = {"source": "emma:preferences:m1", "at": at.isoformat(), "wording": "Themen: Angebote aus"}
    world.ingest.ingest([event("consent.changed", customer=REFS, at=at, proof=proof, **properties)])


def html_of(message):
    parsed = email.message_from_bytes(message.raw_email, policy=policy.default)
    return parsed.get_body(("html",)).get_content()


def link(html, path):
    found = re.search(rf'href="([^"]*{re.escape(path)}\?t=[^"]+)"', html)
    assert found, f"no {path} link"
    return unescape(found.group(1))


# ---- the preference centre's choices ------------------------------------------------------------


def test_every_marketing_email_links_the_preference_centre_with_a_signed_expiring_token(world):
    pid = world.customer()
    assert world.service.dispatch(world.request(pid)).outcome == "sent"
    url = link(html_of(world.sent()[0]), "/v1/preferences")
    assert url.startswith("https://api.example/v1/preferences?t=")
    token = verify_preferences("sig-test", url.split("t=", 1)[1], "elektro-emma", NOW)
    assert token.profile_id == pid and token.expires == NOW + timedelta(days=180)


def test_a_declined_topic_skips_its_messages_with_the_reason_and_others_still_go(world):
    pid = world.customer()
    prefer(world, topic="offers", granted=False)
    report = world.service.dispatch(world.request(pid, "cart-reminder"))  # topic: offers
    assert report.outcome == "skipped" and ("preferences", "skip") in stages(report)
    assert "topic 'offers' (Offers) declined by the customer" in report.reason
    assert "emma:preferences:m1" in report.reason
    assert world.service.dispatch(world.request(pid, "newsletter-digest")).outcome == "sent"  # topic: newsletter
    assert len(world.sent()) == 1
    prefer(world, topic="offers", granted=True, at=NOW - timedelta(minutes=5))  # wanted again
    assert world.service.dispatch(world.request(pid, "cart-reminder")).outcome == "sent"


def test_a_pause_holds_back_marketing_until_it_ends_but_not_transactional_messages(world):
    pid = world.customer()
    prefer(world, paused_until=(NOW + timedelta(days=30)).isoformat(), granted=False)
    report = world.service.dispatch(world.request(pid, "newsletter-digest"))
    assert report.outcome == "skipped" and "marketing paused by the customer until" in report.reason
    assert world.service.dispatch(world.request(pid, "warranty-extension", transactional=True)).outcome == "sent"
    world.clock.advance(days=30, hours=1)  # the pause is over (midday in Berlin: no quiet hours)
    assert world.service.dispatch(world.request(pid, "newsletter-digest")).outcome == "sent"


def test_a_pause_ended_early_lets_marketing_through_again(world):
    pid = world.customer()
    prefer(world, paused_until=(NOW + timedelta(days=90)).isoformat(), granted=False, at=NOW - timedelta(hours=2))
    prefer(world, paused_until=(NOW - timedelta(hours=1)).isoformat(), granted=True)
    assert world.service.dispatch(world.request(pid, "newsletter-digest")).outcome == "sent"


def test_a_channel_switched_off_is_no_longer_used(world):
    pid = world.customer(sms=True)
    request = world.request(pid, "cart-reminder", channel="best")
    assert world.service.dispatch(request).channel == "email"
    state(world, "email", granted=False, at=NOW - timedelta(minutes=30), source="emma:preferences:m1")
    report = world.service.dispatch(world.request(pid, "cart-reminder", channel="best"))
    assert report.outcome == "sent" and report.channel == "sms"
    assert ("consent", "skip") in stages(report) and len(world.sent("email")) == 1


# ---- double opt-in -------------------------------------------------------------------------------


def doi_request(world, pid, n):
    return world.request(
        pid,
        "doi-confirmation",
        channel="email",
        transactional=True,
        journey="double-opt-in",
        key=f"doi-exec-{n}:confirm",
    )


def test_marketing_email_waits_for_the_confirmation_which_goes_once_per_grant(world):
    pid = world.customer(doi=False)
    assert world.service.dispatch(world.request(pid, "newsletter-digest")).outcome == "skipped"
    first = world.service.dispatch(doi_request(world, pid, 1))
    grant = world.ingest.resolve("elektro-emma", pid).consent["email"].started
    assert first.outcome == "sent" and first.key == confirmation_key(pid, grant)
    assert ("dispatch", "skip") in stages(first)  # the journey's own request is handed on
    # The source restates the grant (another identify call, a shop webhook): the same grant, no new mail.
    state(world, at=NOW - timedelta(minutes=10))
    assert world.ingest.resolve("elektro-emma", pid).consent["email"].started == grant
    second = world.service.dispatch(doi_request(world, pid, 2))
    assert second.outcome == "duplicate" and len(world.sent()) == 1
    journey_record = world.log.get("elektro-emma", pid, "doi-exec-2:confirm")
    assert journey_record.status == "skipped" and "handed on as doi:" in journey_record.decisions[-1]["reason"]
    # The mail: transactional, German, with the confirmation link naming the grant and the wording version.
    (message,) = world.sent()
    assert message.transactional and message.template == "doi-confirmation"
    html = html_of(message)
    assert "Bitte bestätige" in message.subject and "Anmeldung bestätigen" in html
    token = verify_confirmation("sig-test", link(html, "/v1/confirm").split("t=", 1)[1], "elektro-emma", NOW)
    assert token.profile_id == pid and token.grant == grant and token.expires == NOW + timedelta(days=7)
    assert re.fullmatch(r"doi-confirmation@[0-9a-f]{10}/de", token.wording)


def test_a_new_grant_after_a_withdrawal_gets_its_own_confirmation(world):
    pid = world.customer(doi=False)
    assert world.service.dispatch(doi_request(world, pid, 1)).outcome == "sent"
    state(world, granted=False, at=NOW - timedelta(minutes=20))
    state(world, granted=True, at=NOW - timedelta(minutes=10))
    assert world.service.dispatch(doi_request(world, pid, 2)).outcome == "sent"
    assert len(world.sent()) == 2


def test_no_confirmation_when_confirmed_withdrawn_not_required_or_suppressed(world):
    confirmed = world.customer("c-ok", doi=True)
    report = world.service.dispatch(doi_request(world, confirmed, 1))
    assert report.outcome == "skipped" and "already confirmed" in report.reason
    pid = world.customer(doi=False)
    state(world, granted=False, at=NOW - timedelta(minutes=5))
    report = world.service.dispatch(doi_request(world, pid, 2))
    assert report.outcome == "skipped" and "nothing to confirm" in report.reason
    single = World(
        ShopConfig(
            **{
                **SHOP.model_dump(),
                "dispatch": DispatchConfig(**{**SHOP.dispatch.model_dump(), "double_opt_in": False}),
            }
        )
    )
    pid = single.customer(doi=False)
    report = single.service.dispatch(doi_request(single, pid, 3))
    assert report.outcome == "skipped" and "does not require double opt-in" in report.reason
    assert single.service.dispatch(single.request(pid, "newsletter-digest")).outcome == "sent"  # single opt-in
    assert world.sent() == [] and len(single.sent()) == 1


def test_a_confirmed_grant_is_not_undone_by_a_source_restating_it_without_proof(world):
    pid = world.customer(doi=True)
    state(world, at=NOW - timedelta(minutes=5), source="shopify:customers/update")
    email_state = world.ingest.resolve("elektro-emma", pid).consent["email"]
    assert email_state.proof.double_opt_in and email_state.proof.at == T0  # the confirmed proof stays
    assert world.service.dispatch(world.request(pid, "newsletter-digest")).outcome == "sent"


class ErasedAddresses:
    """emma.ingest.ports.Suppressions: the addresses of customers erased before (emma.privacy)."""

    def __init__(self, *emails: str) -> None:
        self.emails = set(emails)
        self.asked: list[tuple[str, ...]] = []

    def suppressed(self, shop, emails, phones):
        self.asked.append(tuple(emails))
        return bool(self.emails & set(emails))

    def erased_addresses(self, shop, emails, phones):
        return self.emails & set(emails)


def test_an_erased_customers_address_needs_double_opt_in_even_where_the_shop_does_not_require_it():
    single_opt_in = ShopConfig(
        **{**SHOP.model_dump(), "dispatch": DispatchConfig(**{**SHOP.dispatch.model_dump(), "double_opt_in": False})}
    )
    erased = ErasedAddresses("c-1@example.com")
    shop = World(single_opt_in, suppressions=erased)
    pid = shop.customer(doi=False)  # the shop re-sends the old "subscribed"
    email_state = shop.ingest.resolve("elektro-emma", pid).consent["email"]
    assert email_state.granted and email_state.confirm_required
    report = shop.service.dispatch(shop.request(pid, "newsletter-digest"))
    assert report.outcome == "skipped" and ("consent", "skip") in stages(report)
    assert any("belonged to an erased customer" in d["reason"] for d in report.decisions)
    assert shop.service.dispatch(doi_request(shop, pid, 1)).outcome == "sent"  # Emma asks for the confirmation
    state(shop, at=NOW - timedelta(minutes=10))  # restated without proof: still needs it
    assert shop.ingest.resolve("elektro-emma", pid).consent["email"].confirm_required
    state(shop, at=NOW - timedelta(minutes=5), doi=True)  # confirmed: marketing may go
    assert shop.service.dispatch(shop.request(pid, "newsletter-digest")).outcome == "sent"
    other = shop.customer("c-2", doi=False)  # an address never erased: single opt-in as the shop wants
    assert not shop.ingest.resolve("elektro-emma", other).consent["email"].confirm_required
    assert shop.service.dispatch(shop.request(other, "newsletter-digest")).outcome == "sent"


def test_runs_without_a_grant_never_ask_about_suppressions():
    erased = ErasedAddresses("c-1@example.com")
    shop = World(suppressions=erased)
    shop.customer(email=False)  # a registration without any consent statement
    assert erased.asked == []
