"""The preference centre and double opt-in in a real browser, on the local runtime over real HTTP:
a customer opens the preference centre from an email in the local outbox (Debian's Chromium, driven
by Playwright), declines a topic and switches email off; the next message of that topic is skipped
with the reason, the next one of another topic goes by SMS. Switching email on again sends the
double opt-in mail (trigger -> journey -> dispatch); its link, clicked in the browser, records the
proof, and only then does marketing email go out again."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from emma.dispatch.request import MessageRequest
from emma.resources import MESSAGES_QUEUE
from emma_local.config import load_config
from emma_local.runtime import LocalRuntime

pytestmark = pytest.mark.e2e
ADMIN = {"authorization": "Bearer ak_local_elektro_emma"}
KEY = ("wk_local_elektro_emma", "")
USER = "pc-1"


@pytest.fixture(scope="module")
def rt():
    runtime = LocalRuntime(load_config(), port=0, log_level="ERROR", environments=0, schedule=False).start()
    yield runtime
    runtime.stop()


def daytime(rt):
    """Move the local clock to 10:00 in Berlin when it is near the quiet hours (21:00-08:00)."""
    local = rt.now().astimezone(ZoneInfo("Europe/Berlin"))
    if not 9 <= local.hour < 18:
        target = local.replace(hour=10, minute=0, second=0, microsecond=0)
        if target <= local:
            target += timedelta(days=1)
        rt.advance(seconds=(target - local).total_seconds())


def profile(rt):
    resp = requests.get(f"{rt.api_url}/v1/profiles/cid:{USER}", headers=ADMIN, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def request_message(rt, template, channel="best"):
    """What a journey's send step does: a message request on the messages queue; the dispatcher's
    decisions, as the profile's message log shows them."""
    key = f"e2e-{uuid.uuid4().hex[:8]}:{template}"
    message = MessageRequest(
        key=key,
        shop="elektro-emma",
        profile_id=profile(rt)["profile_id"],
        template=template,
        channel=channel,
        requested_at=rt.now(),
        journey="e2e",
    )
    sqs = rt.emulator.session().client("sqs")
    sqs.send_message(QueueUrl=rt.resources.queue_urls[MESSAGES_QUEUE.logical_id], MessageBody=message.model_dump_json())
    rt.drain()
    return next(m for m in profile(rt)["messages"] if m["key"] == key)


def outbox(rt, template, channel="email", count=1, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        rt.drain()
        found = [m for m in rt.outbox.messages if m.template == template and m.channel == channel]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            pytest.fail(
                f"no {channel} {template} in the outbox: {[(m.channel, m.template) for m in rt.outbox.messages]}"
            )
        time.sleep(0.2)


def test_the_preference_centre_from_an_email_changes_what_the_next_messages_do(rt, chromium):
    daytime(rt)
    identify = {
        "type": "identify",
        "userId": USER,
        "messageId": str(uuid.uuid4()),
        "traits": {"email": "pia@example.de", "first_name": "Pia", "phone": "+4915112345678", "locale": "de-DE"},
        "context": {
            "consent": {
                "email": {"granted": True, "double_opt_in": True, "wording": "Newsletter (bestätigt)"},
                "sms": {"granted": True, "wording": "SMS-Angebote"},
            }
        },
    }
    assert requests.post(f"{rt.api_url}/v1/identify", json=identify, auth=KEY, timeout=10).status_code == 200
    rt.drain()
    first = request_message(rt, "cart-reminder", channel="email")  # topic: offers
    assert first["status"] == "sent", first
    (mail,) = outbox(rt, "cart-reminder")

    context = chromium.new_context(locale="de-DE")
    try:
        page = context.new_page()
        page.goto(mail.html_path.as_uri())
        with page.expect_navigation():
            page.click("a:has-text('Einstellungen')")  # the footer's preference-centre link
        assert page.url.startswith(f"{rt.api_url}/v1/preferences?t=")
        assert page.locator("h1").inner_text() == "Deine Einstellungen"
        assert page.is_checked("input[name=channel][value=email]") and page.is_checked(
            "input[name=topic][value=offers]"
        )
        page.uncheck("input[name=topic][value=offers]")  # a topic
        page.uncheck("input[name=channel][value=email]")  # and a channel
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert "Gespeichert." in page.content()
        assert not page.is_checked("input[name=topic][value=offers]")
        assert not page.is_checked("input[name=channel][value=email]")

        saved = profile(rt)
        assert saved["topic_consent"]["offers"]["granted"] is False
        proof = saved["consent"]["email"]["proof"]
        assert saved["consent"]["email"]["granted"] is False and proof["source"].startswith("emma:preferences:")
        assert "Chrome" in proof["user_agent"] and proof["ip"] and proof["wording"] == "Kanäle: E-Mail aus"

        # The next message of the declined topic is skipped, with the reason.
        skipped = request_message(rt, "cart-reminder")
        assert skipped["status"] == "skipped"
        reasons = [d["reason"] for d in skipped["decisions"] if d["stage"] == "preferences"]
        assert reasons and "topic 'offers' (Offers) declined by the customer" in reasons[0]
        # One of another topic goes out, but no longer by email: by SMS.
        sms = request_message(rt, "service-follow-up")  # topic: newsletter
        assert sms["status"] == "sent" and sms["channel"] == "sms", sms
        assert any(
            d["stage"] == "consent" and d["outcome"] == "skip" and d.get("channel") == "email" for d in sms["decisions"]
        )
        (text,) = outbox(rt, "sms", channel="sms")  # SNS knows no template: the outbox names SMS "sms"
        assert text.to == "+4915112345678" and "Danke für dein Feedback" in text.text

        # Email on again: a grant without double opt-in. Marketing email waits; the confirmation mail comes.
        page.check("input[name=channel][value=email]")
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert "Bitte bestätige darin" in page.content()
        assert request_message(rt, "service-follow-up", channel="email")["status"] == "skipped"
        assert rt.settle(60)
        (confirmation,) = outbox(rt, "doi-confirmation")
        assert confirmation.to == "pia@example.de"
        page.goto(confirmation.html_path.as_uri())
        with page.expect_navigation():
            page.click("a:has-text('Anmeldung bestätigen')")
        assert profile(rt)["consent"]["email"]["proof"]["double_opt_in"] is False  # opening confirms nothing
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert "Deine Anmeldung ist bestätigt" in page.content()
        email = profile(rt)["consent"]["email"]
        assert email["granted"] is True and email["proof"]["double_opt_in"] is True
        assert email["proof"]["source"] == "emma:doi" and "Chrome" in email["proof"]["user_agent"]
        assert email["proof"]["wording_version"].startswith("doi-confirmation@")
        confirm_url = page.url
        page.goto(confirmation.html_path.as_uri())  # a second click on the link changes nothing
        with page.expect_navigation():
            page.click("a:has-text('Anmeldung bestätigen')")
        assert "bereits bestätigt" in page.content() and page.locator("button").count() == 0
        resent = context.request.post(confirm_url, form={"form": "confirm"})  # nor does the form sent again
        assert resent.status == 200 and "bereits bestätigt" in resent.text()
        assert profile(rt)["consent"]["email"] == email
    finally:
        context.close()
    # Only now does marketing email go out again, once: one confirmation mail for the grant.
    again = request_message(rt, "service-follow-up", channel="email")
    assert again["status"] == "sent", again
    assert len(outbox(rt, "doi-confirmation")) == 1
