"""Every shipped journey end to end on the local runtime: ingest over HTTP -> bus -> triggers ->
journeys function -> Step Functions (moto executing the compiled ASL) -> journey-steps function,
with the local clock moved forward instead of waiting (waits end as soon as the clock passes them)."""

import json
import time
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from emma.resources import EVENT_BUS, EVENT_SOURCE, JOURNEYS_QUEUE, RULES_SOURCE
from emma.sources.signatures import sign_base64
from emma_local.config import load_config
from emma_local.runtime import LocalRuntime

pytestmark = pytest.mark.e2e
ADMIN = {"authorization": "Bearer ak_local_elektro_emma"}
KEY = ("wk_local_elektro_emma", "")
PHONE = {"product_id": "pixel-9", "price": 700.0, "category": "smartphones"}


@pytest.fixture(scope="module")
def rt():
    runtime = LocalRuntime(load_config(), port=0, log_level="ERROR", environments=0, schedule=False).start()
    yield runtime
    runtime.stop()


def track(rt, user, event, **properties):
    body = {"userId": user, "messageId": str(uuid.uuid4()), "event": event, "properties": properties}
    resp = requests.post(f"{rt.api_url}/v1/track", json=body, auth=KEY, timeout=10)
    assert resp.status_code == 200, resp.text
    rt.drain()


def morning(rt):
    """Move the local clock to the next 10:00 in Berlin: whole days later the series' mails go out at once
    instead of waiting out the quiet hours (21:00-08:00)."""
    rt.settle(timeout=60)
    local = rt.now().astimezone(ZoneInfo("Europe/Berlin"))
    target = local.replace(hour=10, minute=0, second=0, microsecond=0)
    if target <= local:
        target += timedelta(days=1)
    rt.advance(seconds=(target - local).total_seconds())


def subscribe(rt, user):
    """The customer signs up with email consent confirmed by double opt-in: the journey's messages go out."""
    body = {
        "userId": user,
        "messageId": str(uuid.uuid4()),
        "traits": {"email": f"{user}@example.com", "first_name": user.upper()},
        "context": {"consent": {"email": {"granted": True, "double_opt_in": True, "wording": "Tipps per E-Mail"}}},
    }
    resp = requests.post(f"{rt.api_url}/v1/identify", json=body, auth=KEY, timeout=10)
    assert resp.status_code == 200, resp.text
    rt.drain()


def journey(rt, user, journey_id):
    profile = requests.get(f"{rt.api_url}/v1/profiles/cid:{user}", headers=ADMIN, timeout=10).json()
    return next((j for j in profile.get("journeys", []) if j["journey"] == journey_id), None)


def advance(rt, **delta):
    """Move the local clock once the runtime has settled: a step's journey state is written before its task
    returns and the state machine enters the next Wait; moved before that, the clock would leave the Wait to
    start afterwards and wait a whole period on a clock that stands still."""
    rt.settle(timeout=60)
    rt.advance(**delta)


def until(rt, user, journey_id, check, timeout=90.0):
    deadline = time.monotonic() + timeout
    while True:
        state = journey(rt, user, journey_id)
        if state is not None and check(state):
            return state
        if time.monotonic() > deadline:
            pytest.fail(f"{journey_id} of {user} never got there: {json.dumps(state, indent=1)[:3000]}")
        time.sleep(0.1)


def upgrade_checks(state):
    return sum(1 for e in state["log"] if e["step"] == "upgrade-check" and e["what"] == "branched")


def sent(state):
    return [e["detail"].split(" via ")[0] for e in state["log"] if e["what"] == "sent"]


def at(step, waiting=None):
    return lambda s: s["step"] == step and (waiting is None or s.get("waiting_for") == waiting)


def requests_for(rt, user, execution):
    """The message requests of one execution, as the dispatcher logged them on the profile."""
    rt.drain()
    profile = requests.get(f"{rt.api_url}/v1/profiles/cid:{user}", headers=ADMIN, timeout=10).json()
    return [m for m in profile["messages"] if m["key"].startswith(f"{execution}:")]


def tutorials(rt, user, execution):
    """The tutorials the series sent this customer, in order (the content block each message carried)."""
    found = sorted(requests_for(rt, user, execution), key=lambda m: m["requested_at"])
    return [m["content"][0]["block_id"] for m in found if m["template"] == "tutorial-next" and m["status"] == "sent"]


def shopify_order(rt, order):
    """The shop's orders/create webhook for an order of its checkout, signed as Shopify signs it (a new delivery
    id each time: a second call is the shop delivering the same order again)."""
    body = json.dumps(order).encode()
    secret = next(s for s in load_config().shops if s.shop == "elektro-emma").webhook_secrets["shopify"]
    resp = requests.post(
        f"{rt.api_url}/webhooks/shopify/elektro-emma",
        data=body,
        headers={
            "content-type": "application/json",
            "x-shopify-topic": "orders/create",
            "x-shopify-webhook-id": str(uuid.uuid4()),
            "x-shopify-hmac-sha256": sign_base64(secret, body),
        },
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    rt.drain()


def profile_of(rt, user, **params):
    resp = requests.get(f"{rt.api_url}/v1/profiles/cid:{user}", headers=ADMIN, params=params, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def sent_message(rt, user, template, timeout=90.0):
    deadline = time.monotonic() + timeout
    while True:
        rt.drain()
        found = [m for m in profile_of(rt, user)["messages"] if m["template"] == template and m["status"] == "sent"]
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"no {template} sent to {user}: {json.dumps(profile_of(rt, user)['messages'])[:3000]}")
        time.sleep(0.1)


def refer_a_friend(rt, user, friend):
    """The referral programme end to end (docs/offers.md#referrals): the invitation issued the customer's referral
    code in the shop (the Shopify stand-in); a friend signs up and places a first order with it at the shop's
    checkout, as a guest; Emma sees the code in the order and records referral.made on the referrer (no call from
    the shop) and referral.converted on the friend, whose reward journey sends a coupon. Both rewards are codes
    that exist in the shop."""
    shopify = rt.shop_apis.stand_ins["elektro-emma"]
    code = profile_of(rt, user)["traits"]["referral_code"]
    issued = shopify.codes[code]  # created in the shop before the invitation named it: many friends, once each
    assert issued.usage_limit is None and issued.applies_once_per_customer and issued.ends_at is None
    subscribe(rt, friend)
    order_id = 820982911946150000 + uuid.uuid4().int % 10_000
    case = {"id": 1, "product_id": "case-9", "title": "Pixel 9 Case", "price": "49.00", "quantity": 1}
    order = shopify.redeem(code, order_id, f"{friend}@example.com", "49.00", line_items=[case])  # as a guest
    assert order["customer"] is None
    shopify_order(rt, order)
    assert shopify.codes[code].uses == 1
    rewarded = until(rt, friend, "referral-friend-reward", lambda s: s["status"] == "completed")
    assert sent(rewarded) == ["referral-friend-reward"]
    referrer = profile_of(rt, user, history=100)
    (made,) = [e for e in referrer["history"] if e["type"] == "referral.made"]  # Emma's, from the order
    assert made["id"] == f"referral:{order_id}:{code}" and made["source"]["kind"] == "emma"
    assert (
        made["properties"]["referral_code"] == code and made["properties"].get("referred_email") is None
    )  # not theirs
    assert referrer["referrals"] == 1
    (reward,) = sent_message(rt, user, "referral-reward")
    (welcome,) = sent_message(rt, friend, "referral-friend-reward")
    assert profile_of(rt, friend)["traits"]["referral_friend_reward"] == "granted"
    for message in (reward, welcome):  # each with a single-use code that exists in the shop
        assert message["coupon"] in shopify.codes and shopify.codes[message["coupon"]].usage_limit == 1, message
        assert message["incentive"]["arm"] == "coupon"  # a promised reward is never withheld
    assert len({reward["coupon"], welcome["coupon"], code}) == 3
    # The shop delivers the same order again (a new delivery id): no second referral, no second reward.
    shopify_order(rt, order)
    rt.settle(timeout=60)
    assert profile_of(rt, user)["referrals"] == 1
    assert len([m for m in profile_of(rt, friend)["messages"] if m["template"] == "referral-friend-reward"]) == 1


def test_smartphone_onboarding_follows_a_customer_who_watches_is_happy_and_refers_a_friend(rt):
    morning(rt)
    subscribe(rt, "sp-1")
    track(rt, "sp-1", "Order Completed", order_id="sp-1-o", total=700.0, currency="EUR", products=[PHONE])
    state = until(rt, "sp-1", "smartphone-onboarding", at("first-week"))
    assert sent(state) == ["warranty-extension"]
    profile = requests.get(f"{rt.api_url}/v1/profiles/cid:sp-1", headers=ADMIN, timeout=10).json()
    assert profile["traits"]["warranty_extension"] is True
    advance(rt, days=7)
    until(rt, "sp-1", "smartphone-onboarding", at("second-week"))
    # the customer opens the first tutorial's mail and follows its link, then watches the camera tutorial on the
    # shop's site: the series follows that interest (and an engaged customer is in the market sooner)
    rt.drain()
    (mail,) = [m for m in rt.outbox.messages if m.to == "sp-1@example.com" and m.template == "tutorial-next"]
    rt.outbox.ses_event(mail, "Open", user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0")
    rt.outbox.ses_event(mail, "Click", link="https://www.elektro-emma.example/tutorials/smartphone-setup")
    track(rt, "sp-1", "Tutorial Watched", tutorial_id="smartphone-camera", topic="camera")
    advance(rt, days=7)
    until(rt, "sp-1", "smartphone-onboarding", at("third-week"))
    advance(rt, days=7)
    until(rt, "sp-1", "smartphone-onboarding", at("fourth-week"))
    advance(rt, days=7)
    until(rt, "sp-1", "smartphone-onboarding", at("settle-in"))
    advance(rt, days=7)
    until(rt, "sp-1", "smartphone-onboarding", at("survey-answer", "survey.answered"))
    track(rt, "sp-1", "Survey Answered", survey_id="onboarding", score=9)
    until(rt, "sp-1", "smartphone-onboarding", at("friend-buys", "referral.made"))
    refer_a_friend(rt, "sp-1", "sp-1-friend")
    early = until(rt, "sp-1", "smartphone-onboarding", at("device-ageing"))
    whats = [e["what"] for e in early["log"]]
    assert whats.count("arrived") == 2 and "branched" in whats and "emitted" not in whats
    advance(rt, days=180)
    # Not due yet (a smartphone lasts about two years): the journey checks again a month later.
    until(rt, "sp-1", "smartphone-onboarding", at("a-month-later"))
    # Over 180 days since the phone: the segment review finds the customer lapsed, but winback excludes the
    # onboarding they are still in. No "wir vermissen dich", no coupon; the refusal is on the profile.
    rt.run_schedule()
    rt.drain()
    winback = until(rt, "sp-1", "winback", lambda s: s["status"] == "never")
    refused = [e for e in winback["log"] if e["what"] == "refused"]
    assert refused and refused[0]["detail"].startswith("smartphone-onboarding active since ")
    assert winback["entered_at"] is None and winback["entries"] == 0
    # The customer browses new phones again: profile.upgrade moves forward, a later check finds them due.
    for n in range(6):
        track(rt, "sp-1", "Product Viewed", product_id=f"phone-{n}", category="smartphones")
    checks = 1
    for _ in range(6):  # due at about day 292: the third or fourth monthly check finds it
        advance(rt, days=30)
        state = until(
            rt,
            "sp-1",
            "smartphone-onboarding",
            lambda s, seen=checks: upgrade_checks(s) > seen or s["status"] != "active",
        )
        checks = upgrade_checks(state)
        if state["status"] != "active":
            break
    if state["status"] != "completed":
        upgrade = requests.get(f"{rt.api_url}/v1/profiles/cid:sp-1", headers=ADMIN, timeout=10).json().get("upgrade")
        pytest.fail(f"not completed: {json.dumps(state['log'][-8:], indent=0)}\nupgrade: {upgrade}\nnow {rt.now()}")
    assert sent(state)[-2:] == ["personalised-newsletter", "upgrade-offer"]  # the state keeps its newest entries
    messages = sorted(requests_for(rt, "sp-1", state["execution"]), key=lambda m: m["requested_at"])
    assert [m["template"] for m in messages] == [
        "warranty-extension",
        "tutorial-next",
        "tutorial-next",
        "accessory-offer",
        "tutorial-next",
        "satisfaction-survey",
        "review-and-referral-invite",
        "referral-reward",
        "personalised-newsletter",
        "upgrade-offer",
    ]
    first, second, third = tutorials(rt, "sp-1", state["execution"])
    assert first == "smartphone-setup"  # the series' first: nothing watched yet
    assert {second, third} <= {"smartphone-night-photos", "smartphone-video"}  # camera, as watched
    assert state["end_reason"] == "exit step" and "token" not in state
    (execution,) = rt.executions("smartphone-onboarding")
    assert execution["status"] == "SUCCEEDED" and execution["name"] == state["execution"]
    assert len(messages) == 10  # one request per message, retries or not
    profile = requests.get(f"{rt.api_url}/v1/profiles/cid:sp-1", headers=ADMIN, timeout=10).json()
    assert not [m for m in profile["messages"] if m["template"].startswith("winback-")]  # no winback mail at all
    assert journey(rt, "sp-1", "winback")["status"] == "never"


def test_an_unhappy_customer_who_ignores_the_tutorials_gets_the_series_in_order_and_a_service_follow_up(rt):
    morning(rt)
    subscribe(rt, "sp-2")
    track(rt, "sp-2", "Order Completed", order_id="sp-2-o", total=650.0, currency="EUR", products=[PHONE])
    until(rt, "sp-2", "smartphone-onboarding", at("first-week"))
    for step in ("second-week", "third-week", "fourth-week", "settle-in"):
        advance(rt, days=7)
        until(rt, "sp-2", "smartphone-onboarding", at(step))
    advance(rt, days=7)
    until(rt, "sp-2", "smartphone-onboarding", at("survey-answer", "survey.answered"))
    track(rt, "sp-2", "Survey Answered", survey_id="onboarding", score=3)
    state = until(rt, "sp-2", "smartphone-onboarding", at("device-ageing"))
    assert sent(state)[1:] == [
        "tutorial-next",
        "tutorial-next",
        "accessory-offer",
        "tutorial-next",
        "satisfaction-survey",
        "service-follow-up",
        "personalised-newsletter",
    ]
    assert tutorials(rt, "sp-2", state["execution"])[:2] == ["smartphone-setup", "smartphone-camera"]
    # A cancelled purchase ends the journey at once, in the middle of a 180-day wait.
    track(rt, "sp-2", "Order Cancelled", order_id="sp-2-o", total=650.0, currency="EUR")
    state = until(rt, "sp-2", "smartphone-onboarding", lambda s: s["status"] == "exited")
    assert state["end_reason"] == "exit event order.cancelled"
    arn = next(e["executionArn"] for e in rt.executions("smartphone-onboarding") if e["name"] == state["execution"])
    sfn = rt.emulator.session().client("stepfunctions")
    for _ in range(50):
        if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING":
            break
        time.sleep(0.1)
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"


def test_abandoned_cart_exits_mid_wait_on_an_order_and_a_duplicate_trigger_starts_nothing(rt):
    rt.published()
    track(rt, "ac-1", "Product Added", product_id="case-1", price=19.0, currency="EUR")
    advance(rt, hours=3)
    rt.run_schedule()  # the absence trigger fires on the local clock
    rt.drain()
    state = until(rt, "ac-1", "abandoned-cart", at("give-it-a-day"))
    assert sent(state) == ["cart-reminder"]
    # The same trigger.fired delivered again to the journeys queue: still one execution.
    fired = [
        e
        for e in rt.published()
        if e["detail-type"] == "trigger.fired" and e["detail"]["properties"]["trigger"] == "cart-abandoned"
    ]
    assert fired
    sqs = rt.emulator.session().client("sqs")
    sqs.send_message(QueueUrl=rt.resources.queue_urls[JOURNEYS_QUEUE.logical_id], MessageBody=json.dumps(fired[-1]))
    rt.drain()
    assert [e["name"] for e in rt.executions("abandoned-cart")].count(state["execution"]) == 1
    assert len(rt.executions("abandoned-cart")) == 1
    track(
        rt,
        "ac-1",
        "Order Completed",
        order_id="ac-1-o",
        total=19.0,
        currency="EUR",
        products=[{"product_id": "case-1", "price": 19.0}],
    )
    state = until(rt, "ac-1", "abandoned-cart", lambda s: s["status"] == "exited")
    assert state["end_reason"] == "exit event order.placed" and sent(state) == ["cart-reminder"]


def test_abandoned_cart_offers_a_coupon_to_a_customer_predicted_not_to_buy_without_one(rt):
    track(rt, "ac-2", "Product Added", product_id="case-2", price=29.0, currency="EUR")
    advance(rt, hours=3)
    rt.run_schedule()
    rt.drain()
    until(rt, "ac-2", "abandoned-cart", at("give-it-a-day"))
    advance(rt, days=1)
    state = until(rt, "ac-2", "abandoned-cart", lambda s: s["status"] == "completed")
    assert sent(state) == ["cart-reminder", "cart-coupon"]  # the code itself: cart-coupon's incentive policy


def test_cross_sell_waits_for_the_morning_and_never_offers_what_was_just_bought(rt):
    track(rt, "cs-1", "Identify-less order", order_id="x")  # a custom event: no journey
    assert journey(rt, "cs-1", "post-purchase-cross-sell") is None
    track(
        rt,
        "cs-1",
        "Order Completed",
        order_id="cs-1-o",
        total=89.0,
        currency="EUR",
        products=[{"product_id": "earbuds-2", "price": 89.0, "category": "audio"}],
    )
    until(rt, "cs-1", "post-purchase-cross-sell", at("let-it-arrive"))
    advance(rt, days=3)
    state = until(rt, "cs-1", "post-purchase-cross-sell", at("morning"))
    assert any(e["what"] == "waiting" and "09:30" in e["detail"] for e in state["log"])
    advance(rt, days=1)
    state = until(rt, "cs-1", "post-purchase-cross-sell", lambda s: s["status"] == "completed")
    (request,) = requests_for(rt, "cs-1", state["execution"])
    assert request["template"] == "cross-sell" and request["exclude_products"] == ["earbuds-2"]


def test_winback_starts_when_a_customer_lapses_and_sends_a_coupon_after_two_silent_weeks(rt):
    track(
        rt,
        "wb-1",
        "Order Completed",
        order_id="wb-1-o",
        total=40.0,
        currency="EUR",
        products=[{"product_id": "cable-1", "price": 40.0}],
    )
    # The order's cross-sell (group marketing, above winback) ends first, as it would long before anyone lapses:
    # jumped over at once, its morning wait would still hold the customer when the segment review runs.
    until(rt, "wb-1", "post-purchase-cross-sell", at("let-it-arrive"))
    advance(rt, days=3)
    until(rt, "wb-1", "post-purchase-cross-sell", at("morning"))
    advance(rt, days=1)
    until(rt, "wb-1", "post-purchase-cross-sell", lambda s: s["status"] == "completed")
    advance(rt, days=177)
    rt.run_schedule()  # the segment review moves the customer into `lapsed`
    rt.drain()
    until(rt, "wb-1", "winback", at("interested", "email.clicked"))
    advance(rt, days=14)
    state = until(rt, "wb-1", "winback", lambda s: s["status"] == "completed")
    assert sent(state) == ["winback-miss-you", "winback-coupon"]


def test_newsletter_interest_moves_clickers_to_weekly_and_splits_them(rt):
    # SES feedback reaches ingest with issue 5; until then the bus gets the events as ingest and the
    # rules function would publish them.
    track(rt, "nl-1", "Signed Up")
    pid = requests.get(f"{rt.api_url}/v1/profiles/cid:nl-1", headers=ADMIN, timeout=10).json()["profile_id"]
    events = rt.emulator.session().client("events")

    def put(source, type_, **properties):
        detail = {
            "schema_version": "1",
            "id": str(uuid.uuid4()),
            "type": type_,
            "shop": "elektro-emma",
            "occurred_at": "2030-01-01T00:00:00+00:00",
            "received_at": "2030-01-01T00:00:00+00:00",
            "source": {"kind": "emma" if source == RULES_SOURCE else "ses", "name": type_},
            "customer": {"profile_id": pid, "customer_id": "nl-1"},
            "properties": properties,
        }
        events.put_events(
            Entries=[
                {"Source": source, "DetailType": type_, "Detail": json.dumps(detail), "EventBusName": EVENT_BUS.name}
            ]
        )
        rt.drain()

    put(RULES_SOURCE, "trigger.fired", trigger="newsletter-opened")
    until(rt, "nl-1", "newsletter-interest", at("clicked", "email.clicked"))
    put(EVENT_SOURCE, "email.clicked", url="https://shop.example/cameras")
    state = until(rt, "nl-1", "newsletter-interest", lambda s: s["status"] == "completed")
    assert state["variant"] in ("interests", "digest", "holdout")
    assert [e["what"] for e in state["log"]][:4] == ["entered", "waiting", "arrived", "updated"]
    profile = requests.get(f"{rt.api_url}/v1/profiles/cid:nl-1", headers=ADMIN, timeout=10).json()
    assert profile["traits"]["newsletter_cadence"] == "weekly"


def test_settle_returns_once_every_execution_is_parked_so_no_polling_is_needed(rt):
    """rt.settle(): queues dry and every running execution parked on a wait the clock has not reached
    or on an event that has not come; right after it, the journey state is final (no polling)."""
    from emma_local import stepfunctions

    body = {"userId": "st-1", "messageId": str(uuid.uuid4()), "event": "Order Completed"}
    body["properties"] = {"order_id": "st-1-o", "total": 700.0, "currency": "EUR", "products": [PHONE]}
    assert requests.post(f"{rt.api_url}/v1/track", json=body, auth=KEY, timeout=10).status_code == 200
    assert rt.settle(timeout=60)
    assert at("first-week")(journey(rt, "st-1", "smartphone-onboarding"))  # parked on its 7-day wait
    assert stepfunctions.idle_executions() == rt.running_executions() >= 1
    advance(rt, days=7)
    assert rt.settle(timeout=60)  # the wait ended, the first tutorial went out, the execution waits a week
    assert at("second-week")(journey(rt, "st-1", "smartphone-onboarding"))
    advance(rt, days=7)
    assert rt.settle(timeout=60)
    assert at("third-week")(journey(rt, "st-1", "smartphone-onboarding"))
