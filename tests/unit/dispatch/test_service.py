"""The dispatcher with in-memory ports: the decision order, deferral and release, duplicates, caps,
channel choice, relevance, failures and what reaches the provider."""

from __future__ import annotations

import email
from datetime import timedelta
from email import policy

import pytest

from emma.dispatch.ports import SendError
from emma.dispatch.service import release_due
from emma.dispatch.tokens import message_ref
from emma.errors import TransientError
from emma.templates.render import RenderError
from tests.factories import T0, event, order

from .conftest import SHOP, World


def stages(report):
    return [(d["stage"], d["outcome"]) for d in report.decisions]


def test_a_consented_customer_gets_one_email_with_one_click_unsubscribe_headers(world):
    pid = world.customer()
    report = world.service.dispatch(world.request(pid))
    assert report.outcome == "sent" and report.channel == "email"
    (message,) = world.sent("email")
    parsed = email.message_from_bytes(message.raw_email, policy=policy.default)
    assert parsed["To"] == "c-1@example.com" and parsed["Subject"] == "Anna, dein Warenkorb wartet noch"
    assert parsed["List-Unsubscribe"].startswith("<https://api.example/v1/unsubscribe?t=")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "emma-shop=elektro-emma" in parsed["X-SES-MESSAGE-TAGS"]
    assert parsed.get_body(("plain",)) is not None and 'style="' in parsed.get_body(("html",)).get_content()
    record = world.log.get("elektro-emma", pid, report.key)
    assert record.status == "sent" and record.provider_id == "provider-1"
    order_of_stages = [d["stage"] for d in record.decisions if d["outcome"] in ("pass", "send")]
    assert order_of_stages == [
        "consent",
        "preferences",
        "frequency",
        "timing",
        "channel",
        "relevance",
        "render",
        "send",
    ]
    assert ("consent", "skip") in stages(report)  # no sms or push consent: recorded with the reason
    profile = world.ingest.resolve("elektro-emma", pid)
    assert profile.channels["email"].sent == 1  # recorded through ingest


def test_a_duplicate_request_sends_once(world):
    pid = world.customer()
    request = world.request(pid)
    assert world.service.dispatch(request).outcome == "sent"
    again = world.service.dispatch(request)
    assert again.outcome == "duplicate" and len(world.sent("email")) == 1
    assert world.ingest.resolve("elektro-emma", pid).channels["email"].sent == 1


def test_no_consent_no_message_and_the_reason_is_recorded(world):
    pid = world.customer(email=False)
    report = world.service.dispatch(world.request(pid))
    assert report.outcome == "skipped" and not world.sent("email")
    assert ("consent", "skip") in stages(report)
    assert "no channel left" in report.reason


def test_email_without_double_opt_in_is_not_sent_where_the_shop_requires_it(world):
    pid = world.customer(doi=False)
    report = world.service.dispatch(world.request(pid, channel="email"))
    assert report.outcome == "skipped"
    assert any("double opt-in" in d["reason"] for d in report.decisions)


def test_a_hard_bounce_suppresses_the_channel(world):
    pid = world.customer()
    world.ingest.ingest(
        [event("email.bounced", customer={"customer_id": "c-1"}, source="ses", bounce_type="Permanent")]
    )
    report = world.service.dispatch(world.request(pid))
    assert report.outcome == "skipped" and ("suppression", "skip") in stages(report)


def test_an_unsubscribe_stops_the_next_message(world):
    pid = world.customer()
    assert world.service.dispatch(world.request(pid)).outcome == "sent"
    world.ingest.ingest([event("email.unsubscribed", customer={"customer_id": "c-1"}, source="emma", at=NOW_PLUS())])
    report = world.service.dispatch(world.request(pid))
    assert report.outcome == "skipped" and len(world.sent("email")) == 1


def NOW_PLUS():
    return T0 + timedelta(hours=1, minutes=1)


def test_marketing_is_capped_at_three_a_week_and_transactional_is_not(world):
    pid = world.customer()
    outcomes = []
    for _ in range(5):
        outcomes.append(world.service.dispatch(world.request(pid)).outcome)
        world.clock.advance(hours=1)
    assert outcomes == ["sent", "sent", "sent", "skipped", "skipped"]
    assert world.service.dispatch(world.request(pid, template="warranty-extension", transactional=True)).outcome == (
        "sent"
    )
    world.clock.advance(days=7)
    assert world.service.dispatch(world.request(pid)).outcome == "sent"  # the window moved on


def test_quiet_hours_defer_and_the_released_request_is_delivered_in_the_morning(world):
    pid = world.customer()
    world.clock.at = T0.replace(hour=21, minute=30)  # 22:30 in Berlin
    report = world.service.dispatch(world.request(pid))
    assert report.outcome == "deferred" and not world.sent("email")
    ((due, _request),) = world.deferrals.timers.values()
    assert due == T0.replace(day=T0.day + 1, hour=7)  # 08:00 Berlin (UTC+1 in March)
    queue = []

    class Q:
        def request(self, message):
            queue.append(message)

    assert release_due(world.deferrals, Q(), world.clock.now()) == 0  # not yet
    world.clock.at = due + timedelta(minutes=3)
    assert release_due(world.deferrals, Q(), world.clock.now()) == 1 and not world.deferrals.timers
    from emma.dispatch.request import MessageRequest

    released = MessageRequest.model_validate(queue[0])
    assert released.released and released.key == report.key
    assert world.service.dispatch(released).outcome == "sent" and len(world.sent("email")) == 1


def test_a_deferred_request_delivered_again_early_waits(world):
    pid = world.customer()
    world.clock.at = T0.replace(hour=22)
    request = world.request(pid)
    assert world.service.dispatch(request).outcome == "deferred"
    assert world.service.dispatch(request).outcome == "duplicate" and not world.sent("email")


def test_send_time_optimisation_waits_for_the_customers_own_hour(world):
    pid = world.customer()
    for day in range(4):  # opens at 18:xx UTC
        world.ingest.ingest(
            [
                event(
                    "email.opened",
                    customer={"customer_id": "c-1"},
                    source="ses",
                    at=T0.replace(hour=18) - timedelta(days=day + 1),
                )
            ]
        )
    report = world.service.dispatch(world.request(pid, template="newsletter-digest"))
    assert report.outcome == "deferred" and "18:00 UTC" in report.reason
    ((due, _),) = world.deferrals.timers.values()
    assert due == T0.replace(hour=18)


def test_best_channel_follows_responsiveness(world):
    pid = world.customer(sms=True)
    world.ingest.ingest(
        [event("email.sent", customer={"customer_id": "c-1"}, source="emma", id=f"s{n}") for n in range(6)]
        + [event("sms.sent", customer={"customer_id": "c-1"}, source="emma", id=f"m{n}") for n in range(3)]
        + [event("sms.clicked", customer={"customer_id": "c-1"}, source="emma", id=f"k{n}") for n in range(3)]
    )
    report = world.service.dispatch(world.request(pid, template="cart-last-call"))
    assert report.outcome == "sent" and report.channel == "sms"
    (sms,) = world.sent("sms")
    assert sms.to == "+491511234567" and "https://api.example/v1/r/elektro-emma/" in sms.sms
    code = sms.sms.rsplit("/", 1)[1]
    assert world.links.get("elektro-emma", code)["channel"] == "sms"


def test_a_new_customer_gets_the_shops_preferred_channel(world):
    pid = world.customer(sms=True)
    assert world.service.dispatch(world.request(pid, template="cart-last-call")).channel == "email"


def test_an_offer_of_a_category_just_bought_is_skipped(world):
    pid = world.customer()
    world.ingest.ingest([order("o-1", "699.00", customer={"customer_id": "c-1"}, at=NOW_PLUS() - timedelta(days=3))])
    report = world.service.dispatch(world.request(pid, template="upgrade-offer"))
    assert report.outcome == "skipped" and ("relevance", "skip") in stages(report)
    assert "pixel-9" in report.reason


def test_recommendations_never_include_what_was_just_bought(world):
    pid = world.customer()
    for pid_, name in (("pixel-9", "Pixel 9"), ("case-1", "Case"), ("charger-1", "Charger")):
        world.catalog.upsert_product(
            event(
                "catalog.product_upserted",
                customer={},
                source="shopify",
                id=f"p-{pid_}",
                product={
                    "product_id": pid_,
                    "name": name,
                    "price": "19.99",
                    "currency": "EUR",
                    "url": f"https://shop.example/{pid_}",
                },
            )
        )
    # Others bought the phone with a case (and the charger alone): the model learns "bought together".
    phone, case = {"product_id": "pixel-9", "price": "699.00"}, {"product_id": "case-1", "price": "19.99"}
    for n in range(3):
        world.ingest.ingest([order(f"o-x{n}", "718.99", customer={"customer_id": f"x-{n}"}, items=[phone, case])])
    world.ingest.ingest([order("o-y", "19.99", customer={"customer_id": "y-1"}, items=[{"product_id": "charger-1"}])])
    world.ingest.ingest([order("o-2", "699.00", customer={"customer_id": "c-1"}, at=NOW_PLUS(), items=[phone])])
    world.build_model()
    world.service.dispatch(world.request(pid, template="cross-sell", channel="email", exclude_products=["pixel-9"]))
    (message,) = world.sent("email")
    assert "https://shop.example/case-1" in message.html and "https://shop.example/pixel-9" not in message.html
    assert "Wird oft zusammen mit Pixel 9 gekauft" in message.text
    # the message log and the profile remember what was recommended (a later click is matched to it)
    assert world.log.recent("elektro-emma", pid, 1)[0].recommended[0]["product_id"] == "case-1"
    assert "case-1" in world.ingest.resolve("elektro-emma", pid).recommended


def test_invalid_addresses_are_rejected_before_any_send():
    world = World()
    world.ingest.ingest(
        [
            event("customer.registered", customer={"customer_id": "c-9"}, phone="12"),
            event(
                "consent.changed",
                customer={"customer_id": "c-9"},
                channel="sms",
                granted=True,
                proof={"source": "x", "at": T0.isoformat()},
            ),
        ]
    )
    pid = world.ingest.resolve("elektro-emma", "cid:c-9").profile_id
    report = world.service.dispatch(world.request(pid, template="cart-last-call", channel="sms"))
    assert report.outcome == "skipped" and any("the phone number is not valid" in d["reason"] for d in report.decisions)


def test_a_render_error_sends_nothing_records_the_failure_and_raises_for_the_dlq(world, monkeypatch):
    pid = world.customer()
    request = world.request(pid)

    def broken(*args, **kwargs):
        raise RenderError("cart-reminder (de, html): UndefinedError: 'x' is undefined")

    monkeypatch.setattr(world.service._renderer, "render", broken)
    with pytest.raises(RenderError):
        world.service.dispatch(request)
    record = world.log.get("elektro-emma", pid, request.key)
    assert record.status == "failed" and record.decisions[-1]["stage"] == "render"
    assert not world.sent("email") and not world.caps.recent_sends("elektro-emma", pid)
    monkeypatch.undo()
    assert world.service.dispatch(request).outcome == "sent"  # the retry after a fix goes out


def test_a_provider_failure_releases_the_cap_slot_and_retries(world):
    pid = world.customer()
    world.senders["email"].fail = TransientError("SES throttled")
    request = world.request(pid)
    with pytest.raises(TransientError):
        world.service.dispatch(request)
    assert not world.caps.recent_sends("elektro-emma", pid)
    world.senders["email"].fail = None
    assert world.service.dispatch(request).outcome == "sent"
    world.senders["email"].fail = SendError("MessageRejected")
    with pytest.raises(SendError):
        world.service.dispatch(world.request(pid))


def test_a_crash_during_the_provider_call_is_never_resent(world):
    pid = world.customer()
    request = world.request(pid)

    class Crash(Exception):
        pass

    world.senders["email"].fail = Crash()
    with pytest.raises(Crash):
        world.service.dispatch(request)
    world.senders["email"].fail = None
    world.clock.advance(minutes=10)  # the lease lapsed
    assert world.service.dispatch(request).outcome == "duplicate"
    assert world.log.get("elektro-emma", pid, request.key).status == "unknown" and not world.sent("email")


def test_unknown_profile_or_template_is_skipped_not_retried(world):
    report = world.service.dispatch(world.request("p_missing"))
    assert report.outcome == "skipped" and "no profile" in report.reason


def test_a_coupon_is_the_same_on_a_retry_and_rendered(world):
    pid = world.customer()
    request = world.request(pid, template="cart-coupon", channel="email")
    world.senders["email"].fail = TransientError("x")
    with pytest.raises(TransientError):
        world.service.dispatch(request)
    world.senders["email"].fail = None
    world.service.dispatch(request)
    record = world.log.get("elektro-emma", pid, request.key)
    assert record.coupon and record.coupon.startswith("EMMA-") and record.coupon in world.sent("email")[0].html


def test_the_sent_event_tells_analytics_the_message_its_step_variant_and_coupon(world):
    pid = world.customer()
    request = world.request(pid, template="cart-coupon", channel="email").model_copy(
        update={"step": "coupon", "variant": "b"}
    )
    world.service.dispatch(request)
    record = world.log.get("elektro-emma", pid, request.key)
    (sent,) = [e for e in world.publisher.published if e.type == "email.sent"]
    assert sent.properties.coupon == record.coupon and record.coupon.startswith("EMMA-")
    assert (sent.properties.message, sent.properties.step, sent.properties.variant) == (
        message_ref(request.key),
        "coupon",
        "b",
    )
    assert world.sent("email")[0].tags["emma-step"] == "coupon" and world.sent("email")[0].tags["emma-variant"] == "b"


def test_a_skipped_message_is_published_for_analytics_with_the_stage_that_skipped_it(world):
    pid = world.customer(email=False)  # no email consent on record
    request = world.request(pid, channel="email")
    assert world.service.dispatch(request).outcome == "skipped"
    world.service.dispatch(request)  # a redelivery: settled, nothing published again
    skipped = [e for e in world.publisher.published if e.type == "message.skipped"]
    assert len(skipped) == 1 and skipped[0].properties.reason == "consent"
    assert skipped[0].properties.message == message_ref(request.key)


def test_english_customers_get_english(world):
    pid = world.customer(locale="en-GB")
    world.service.dispatch(world.request(pid))
    assert world.sent("email")[0].subject == "Anna, your cart is still waiting"


def test_a_shop_without_a_signing_secret_fails_loudly():
    world = World(SHOP.model_copy(update={"signing_secret": None}))
    pid = world.customer()
    with pytest.raises(Exception, match="signing_secret"):
        world.service.dispatch(world.request(pid))
