"""The survey Emma hosts, in a real browser, on the local runtime over real HTTP: a customer who bought
a smartphone gets the flagship journey's survey mail five weeks later (journeys/smartphone-onboarding.yaml);
a mail scanner opening every score link records nothing; the customer clicks 9 in the mail from the
local outbox (Debian's Chromium, driven by Playwright), adds a comment and sends it, and reads the
thanks in German. The profile's last_survey holds the 9, and the execution waiting at survey-answer
takes the >= 8 branch: the review-and-referral invitation."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
import requests

from emma_local.config import load_config
from emma_local.runtime import LocalRuntime

pytestmark = pytest.mark.e2e
ADMIN = {"authorization": "Bearer ak_local_elektro_emma"}
KEY = ("wk_local_elektro_emma", "")
USER = "sv-1"
JOURNEY = "smartphone-onboarding"
PHONE = {"product_id": "pixel-9", "price": 700.0, "category": "smartphones"}


@pytest.fixture(scope="module")
def rt():
    runtime = LocalRuntime(load_config(), port=0, log_level="ERROR", environments=0, schedule=False).start()
    yield runtime
    runtime.stop()


def daytime(rt):
    """Move the local clock to 10:00 in Berlin when it is near the quiet hours (21:00-08:00): the journey's
    waits are whole days, so every message of the journey then goes out in the daytime."""
    local = rt.now().astimezone(ZoneInfo("Europe/Berlin"))
    if not 9 <= local.hour < 12:
        target = local.replace(hour=10, minute=0, second=0, microsecond=0)
        if target <= local:
            target += timedelta(days=1)
        rt.advance(seconds=(target - local).total_seconds())


def send(rt, path, body):
    resp = requests.post(f"{rt.api_url}{path}", json={"messageId": str(uuid.uuid4()), **body}, auth=KEY, timeout=10)
    assert resp.status_code == 200, resp.text
    rt.drain()


def profile(rt, **params):
    resp = requests.get(f"{rt.api_url}/v1/profiles/cid:{USER}", headers=ADMIN, params=params, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def journey(rt):
    return next((j for j in profile(rt).get("journeys", []) if j["journey"] == JOURNEY), None)


def until(rt, check, timeout=90.0):
    deadline = time.monotonic() + timeout
    while True:
        state = journey(rt)
        if state is not None and check(state):
            return state
        if time.monotonic() > deadline:
            pytest.fail(f"{JOURNEY} never got there: {json.dumps(state, indent=1)[:3000]}")
        time.sleep(0.1)


def at(step, waiting=None):
    return lambda s: s["step"] == step and (waiting is None or s.get("waiting_for") == waiting)


def advance(rt, days):
    rt.settle(timeout=60)  # the next Wait is entered before the clock moves (tests/e2e/test_journeys_runtime.py)
    rt.advance(days=days)


def outbox(rt, template, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        rt.drain()
        found = [m for m in rt.outbox.messages if m.template == template and m.channel == "email"]
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"no {template} in the outbox: {[(m.channel, m.template) for m in rt.outbox.messages]}")
        time.sleep(0.2)


def test_a_customer_answers_the_survey_from_the_mail_and_the_journey_takes_the_happy_branch(rt, chromium):
    daytime(rt)
    send(
        rt,
        "/v1/identify",
        {
            "userId": USER,
            "traits": {"email": "sven@example.de", "first_name": "Sven", "locale": "de-DE"},
            "context": {"consent": {"email": {"granted": True, "double_opt_in": True, "wording": "Newsletter"}}},
        },
    )
    order = {"order_id": "sv-1-o", "total": 700.0, "currency": "EUR", "products": [PHONE]}
    send(rt, "/v1/track", {"userId": USER, "event": "Order Completed", "properties": order})
    # Five weeks: a tutorial a week, accessories, then the survey.
    until(rt, at("first-week"))
    for step in ("second-week", "third-week", "fourth-week", "settle-in"):
        advance(rt, 7)
        until(rt, at(step))
    advance(rt, 7)
    until(rt, at("survey-answer", "survey.answered"))
    (mail,) = outbox(rt, "satisfaction-survey")
    assert mail.to == "sven@example.de" and mail.html_path is not None
    html = mail.html_path.read_text(encoding="utf-8")
    links = [unescape(u) for u in re.findall(r'href="([^"]*/v1/survey\?[^"]+)"', html)]
    assert len(links) == 11 and all(u.startswith(f"{rt.api_url}/v1/survey?t=") for u in links)
    assert "Wie wahrscheinlich ist es, dass du uns weiterempfiehlst?" in html

    # A mail scanner opens every link of the mail: nothing is recorded, the journey keeps waiting.
    for url in links:
        assert requests.get(url, headers={"user-agent": "SafeLinks-Scanner/1.0"}, timeout=10).status_code == 200
    rt.drain()
    assert profile(rt).get("last_survey") is None
    assert at("survey-answer", "survey.answered")(journey(rt))

    context = chromium.new_context(locale="de-DE")
    try:
        page = context.new_page()
        page.goto(mail.html_path.as_uri())
        with page.expect_navigation():
            page.click("a[href$='score=9']")
        assert page.url.startswith(f"{rt.api_url}/v1/survey?t=") and page.url.endswith("&score=9")
        assert page.locator("legend").inner_text() == "Wie wahrscheinlich ist es, dass du uns weiterempfiehlst?"
        assert page.is_checked("input[name=score][value='9']") and not page.is_checked("input[name=score][value='8']")
        assert profile(rt).get("last_survey") is None  # opening the page records nothing
        page.fill("textarea[name=comment]", "Tolles Gerät, schnelle Lieferung!")
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.locator("h1").inner_text() == "Vielen Dank!"
        assert "Danke für deine Antwort (9 von 10)" in page.content()
        assert page.locator("html").get_attribute("lang") == "de"
    finally:
        context.close()

    rt.drain()
    answered = profile(rt, history=50)
    assert answered["last_survey"]["survey_id"] == "satisfaction" and answered["last_survey"]["score"] == 9
    (stored,) = [e for e in answered["history"] if e["type"] == "survey.answered"]
    assert stored["source"] == {"kind": "emma", "name": "survey", "delivery_id": mail.tags["emma-message"]}
    assert stored["properties"]["answers"] == {"locale": "de", "comment": "Tolles Gerät, schnelle Lieferung!"}

    # The execution waiting at survey-answer takes the >= 8 branch: the review and referral invitation.
    state = until(rt, at("friend-buys", "referral.made"))
    branched = [e for e in state["log"] if e["step"] == "satisfied" and e["what"] == "branched"]
    assert branched and "invite-review-and-referral" in branched[0]["detail"], state["log"]
    (invite,) = outbox(rt, "review-and-referral-invite")
    assert invite.to == "sven@example.de"
