"""Dispatch checks addresses with the module ingest uses and never hands an invalid one to a
provider; a reserved frequency-cap slot is given back on every failure before the provider takes
the message, and every failure is recorded and raised (issue 12)."""

from __future__ import annotations

import email
from email import policy

import pytest

import emma.dispatch.service as dispatch_service
from emma.dispatch.ports import SendError
from emma.errors import StoreError, TransientError
from emma.templates.render import RenderError

from .conftest import World

SHOP = "elektro-emma"


def _legacy(world: World, pid: str, **fields) -> None:
    """A profile written before ingest checked addresses (stored as it was then)."""
    world.repo.profiles[(SHOP, pid)].update(fields)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("abc\n@example.de", "line feed"),
        ("lena@example.de\n", "line feed"),  # the old regex's `$` matched before this newline
        ("abc\x00@example.de", "NUL"),
        ("abc\t@example.de", "tab"),
        ("abc\u202e@example.de", "right-to-left override"),
        ("a@b@c.de", "has 2 @"),
        ("l" * 65 + "@example.de", "65 octets"),
        ("l" * 64 + "@" + ".".join(["d" * 63, "d" * 63, "d" * 59]) + ".de", "255 octets"),
    ],
)
def test_an_invalid_address_on_a_legacy_profile_is_never_sent_and_the_reason_is_recorded(address, reason):
    world = World()
    pid = world.customer()
    _legacy(world, pid, emails=[address])
    report = world.service.dispatch(world.request(pid, channel="email"))
    assert report.outcome == "skipped" and not world.sent("email")
    (skip,) = [d for d in report.decisions if d["stage"] == "address"]
    assert skip["outcome"] == "skip" and "the email address is not valid" in skip["reason"]
    assert reason in skip["reason"]
    record = world.log.get(SHOP, pid, report.key)
    assert record.status == "skipped" and any(d["stage"] == "address" for d in record.decisions)
    assert not world.caps.recent_sends(SHOP, pid)


def test_an_invalid_phone_on_a_legacy_profile_is_never_sent():
    world = World()
    pid = world.customer(sms=True)
    _legacy(world, pid, phones=["+49 151\n1234567"])
    report = world.service.dispatch(world.request(pid, template="cart-last-call", channel="sms"))
    assert report.outcome == "skipped" and not world.sent("sms")
    assert any("the phone number is not valid" in d["reason"] and "line feed" in d["reason"] for d in report.decisions)


def test_an_internationalised_domain_goes_to_the_provider_as_its_a_label():
    world = World()
    pid = world.customer()
    _legacy(world, pid, emails=["kunde@müller.de"])
    assert world.service.dispatch(world.request(pid, channel="email")).outcome == "sent"
    (message,) = world.sent("email")
    assert message.to == "kunde@xn--mller-kva.de"
    assert email.message_from_bytes(message.raw_email, policy=policy.default)["To"] == "kunde@xn--mller-kva.de"


# ---- a failure at each step after the cap slot is reserved -----------------------------------


class Boom(StoreError):
    pass


def _fail_links(world, monkeypatch):
    def save(*args, **kwargs):
        raise Boom("links table unavailable")

    monkeypatch.setattr(world.links, "save", save)


def _fail_mime(world, monkeypatch):
    def build_email(**kwargs):  # what the newline address did: the header refused
        raise ValueError("Header values may not contain linefeed or carriage return characters")

    monkeypatch.setattr(dispatch_service, "build_email", build_email)


def _fail_marking_sending(world, monkeypatch):
    update = world.log.update

    def failing(record, status, *args, **kwargs):
        if status == "sending":
            raise Boom("message log unavailable")
        return update(record, status, *args, **kwargs)

    monkeypatch.setattr(world.log, "update", failing)


def _fail_send(error):
    def inject(world, monkeypatch):
        monkeypatch.setattr(world.senders["email"], "fail", error)
        monkeypatch.setattr(world.senders["sms"], "fail", error)

    return inject


@pytest.mark.parametrize(
    ("channel", "inject", "error", "what"),
    [
        ("sms", _fail_links, Boom, "saving its links"),
        ("email", _fail_mime, ValueError, "building the message"),
        ("email", _fail_marking_sending, Boom, "recording it"),
        ("email", _fail_send(TransientError("SES throttled")), TransientError, "SES throttled"),
        ("email", _fail_send(SendError("MessageRejected: address blacklisted")), SendError, "MessageRejected"),
    ],
)
def test_a_failure_after_the_reservation_releases_the_slot_and_is_reported(channel, inject, error, what, monkeypatch):
    world = World()
    pid = world.customer(sms=True)
    request = world.request(pid, template="cart-last-call", channel=channel)
    reserved = []
    reserve = world.caps.reserve
    monkeypatch.setattr(world.caps, "reserve", lambda *a, **kw: reserved.append(a[2]) or reserve(*a, **kw))
    inject(world, monkeypatch)

    with pytest.raises(error):  # raised: the queue retries it, then parks it in the DLQ
        world.service.dispatch(request)

    assert reserved == [request.key]  # the slot was taken ...
    assert not world.caps.recent_sends(SHOP, pid)  # ... and given back
    assert not world.sent(channel)
    record = world.log.get(SHOP, pid, request.key)
    assert record.status == "failed"  # a retry starts over at once
    failure = record.decisions[-1]
    assert (failure["stage"], failure["outcome"]) == ("send", "fail") and what in failure["reason"]

    monkeypatch.undo()  # the fault is gone: the retry sends, holding one slot
    assert world.service.dispatch(request).outcome == "sent"
    assert list(world.caps.recent_sends(SHOP, pid)) == [request.key]


def test_a_render_failure_comes_before_the_reservation_and_holds_no_slot(world, monkeypatch):
    pid = world.customer()

    def broken(*args, **kwargs):
        raise RenderError("cart-reminder (de, html): UndefinedError")

    monkeypatch.setattr(world.service._renderer, "render", broken)
    with pytest.raises(RenderError):
        world.service.dispatch(world.request(pid))
    assert not world.caps.recent_sends(SHOP, pid)


@pytest.mark.parametrize("step", ["marking it sent", "recording the send on the profile"])
def test_a_failure_after_the_provider_took_the_message_keeps_the_slot_and_is_reported(world, monkeypatch, step):
    """The customer has the message: the cap must count it. The failure still travels up, and the
    retry finds the message sent and only finishes recording it (nothing is sent twice)."""
    pid = world.customer()
    request = world.request(pid)
    if step == "marking it sent":
        update = world.log.update

        def failing(record, status, *args, **kwargs):
            if status == "sent":
                raise Boom("message log unavailable")
            return update(record, status, *args, **kwargs)

        monkeypatch.setattr(world.log, "update", failing)
    else:
        monkeypatch.setattr(world.service._recorder, "record_sent", lambda *a, **kw: (_ for _ in ()).throw(Boom("x")))
    with pytest.raises(Boom):
        world.service.dispatch(request)
    assert len(world.sent("email")) == 1
    assert list(world.caps.recent_sends(SHOP, pid)) == [request.key]
    monkeypatch.undo()
    world.clock.advance(minutes=10)  # the lease of the crashed attempt has lapsed
    world.service.dispatch(request)
    assert len(world.sent("email")) == 1 and list(world.caps.recent_sends(SHOP, pid)) == [request.key]
