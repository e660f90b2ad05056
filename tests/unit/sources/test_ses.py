"""SES feedback (EventBridge events of the configuration set) to canonical message events."""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emma.errors import InvalidPayload
from emma.events.model import EventType, SourceKind
from emma.profiles.apply import apply_event
from emma.profiles.model import new_profile
from emma.sources.ses import NotEmmaMessage, map_ses_event

SAMPLES = Path(__file__).parents[3] / "events" / "ses"
RECEIVED = datetime(2024, 11, 20, 8, 0, tzinfo=UTC)
LENA = "lena.schmidt@example.de"
LENA_MESSAGE = "010701933f6b2a4c-5e8d7c1b-2a9f-4e6d-8c3b-1f0e9d8c7b6a-000000"
ALL_SAMPLES = ("delivery", "open", "click", "bounce_permanent", "complaint", "send")


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def run(envelope: dict[str, Any]) -> list[Any]:
    return map_ses_event(envelope, RECEIVED)


def one(envelope: dict[str, Any]) -> Any:
    events = run(envelope)
    assert len(events) == 1
    return events[0]


# ---- the samples ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_samples_are_eventbridge_events_from_ses_tagged_by_emma(name: str) -> None:
    envelope = sample(name)
    assert envelope["source"] == "aws.ses" and envelope["detail-type"].startswith("Email ")
    tags = envelope["detail"]["mail"]["tags"]
    assert tags["emma-shop"] == ["elektro-emma"] and tags["emma-template"] == ["cart-reminder"]
    assert tags["emma-journey"] == ["abandoned-cart"] and tags["emma-profile"] and tags["emma-message"]


def test_delivery() -> None:
    e = one(sample("delivery"))
    assert e.type == EventType.EMAIL_DELIVERED and e.shop == "elektro-emma"
    assert e.id == f"ses:{LENA_MESSAGE}:Delivery:0:2024-11-18T10:05:53.104000Z"  # the address is not in the id
    assert e.occurred_at == datetime(2024, 11, 18, 10, 5, 53, 104000, tzinfo=UTC)
    assert e.received_at == RECEIVED
    assert e.customer.email == LENA and e.customer.profile_id is None and e.customer.customer_id is None
    assert e.source.kind == SourceKind.SES and e.source.name == "Email Delivered"
    assert e.source.delivery_id == LENA_MESSAGE
    props = e.properties
    assert (props.message_id, props.template, props.journey) == (LENA_MESSAGE, "cart-reminder", "abandoned-cart")
    assert props.url is None and props.bounce_type is None
    assert e.context == {"emma_profile": "p_3f9c2a7e1b5d4c8a9e6f0d2b7a1c5e3f", "emma_message": "m_9b41c7e2d05a"}


def test_open_keeps_ip_and_user_agent() -> None:
    e = one(sample("open"))
    assert e.type == EventType.EMAIL_OPENED and e.customer.email == LENA
    assert e.occurred_at == datetime(2024, 11, 18, 19, 42, 7, 618000, tzinfo=UTC)
    assert e.context["ip"] == "84.150.23.17" and e.context["user_agent"].startswith("Mozilla/5.0 (iPhone")
    assert e.source.name == "Email Opened"


def test_click_carries_the_link() -> None:
    e = one(sample("click"))
    assert e.type == EventType.EMAIL_CLICKED and e.customer.email == LENA
    assert e.properties.url == sample("click")["detail"]["click"]["link"]
    assert e.occurred_at == datetime(2024, 11, 18, 19, 43, 25, 930000, tzinfo=UTC)


def test_permanent_bounce() -> None:
    e = one(sample("bounce_permanent"))
    assert e.type == EventType.EMAIL_BOUNCED and e.customer.email == "max.mueller@example.de"
    assert e.properties.bounce_type == "Permanent" and e.context["bounce_sub_type"] == "General"
    assert e.occurred_at == datetime(2024, 11, 18, 10, 12, 4, 981000, tzinfo=UTC)


def test_complaint() -> None:
    e = one(sample("complaint"))
    assert e.type == EventType.EMAIL_COMPLAINED and e.customer.email == "jonas.weber@example.de"
    assert e.context["complaint_type"] == "abuse" and e.source.name == "Email Complaint Received"


# ---- ids --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_mapping_is_deterministic(name: str) -> None:
    first = run(sample(name))
    again = map_ses_event(sample(name), datetime(2025, 1, 1, tzinfo=UTC))  # a re-delivery, later
    assert [e.id for e in first] == [e.id for e in again]


def test_ids_differ_per_occurrence_type_and_message() -> None:
    ids = [e.id for name in ALL_SAMPLES for e in run(sample(name))]
    assert len(ids) == len(set(ids)) == 5
    later = sample("click")
    later["detail"]["click"]["timestamp"] = "2024-11-18T19:50:02.114Z"
    assert one(later).id != one(sample("click")).id  # a second click on the same message is another event


def test_a_very_long_address_still_gives_a_valid_unique_id() -> None:
    envelope = sample("delivery")
    local = "x" * 60
    addresses = [f"{local}.{i}@{'d' * 60}.{'e' * 60}.example.de" for i in range(2)]
    envelope["detail"]["delivery"]["recipients"] = addresses
    events = run(envelope)
    assert [e.customer.email for e in events] == addresses
    assert all(len(e.id) <= 256 for e in events) and events[0].id != events[1].id


# ---- recipients -------------------------------------------------------------------------------


def test_one_bounce_event_per_bounced_recipient() -> None:
    envelope = sample("bounce_permanent")
    bounce = envelope["detail"]["bounce"]
    bounce["bouncedRecipients"].append({"emailAddress": "Max.Mueller@Example.DE"})  # the same, case aside
    bounce["bouncedRecipients"].append({"emailAddress": "info@mueller-family.example.de", "status": "5.1.1"})
    events = run(envelope)
    assert [e.customer.email for e in events] == ["max.mueller@example.de", "info@mueller-family.example.de"]
    assert len({e.id for e in events}) == 2
    assert all(e.properties.bounce_type == "Permanent" for e in events)


def test_delivery_falls_back_to_the_destination_and_strips_display_names() -> None:
    envelope = sample("delivery")
    del envelope["detail"]["delivery"]["recipients"]
    envelope["detail"]["mail"]["destination"] = ["Lena Schmidt <Lena.Schmidt@example.de>"]
    assert one(envelope).customer.email == LENA


def test_time_falls_back_to_the_send_time() -> None:
    envelope = sample("open")
    del envelope["detail"]["open"]["timestamp"]
    e = one(envelope)
    assert e.occurred_at == datetime(2024, 11, 18, 10, 5, 51, 219000, tzinfo=UTC)
    assert e.id.endswith(":2024-11-18T10:05:51.219000Z")


def test_journey_tag_is_optional() -> None:
    envelope = sample("click")
    del envelope["detail"]["mail"]["tags"]["emma-journey"]
    e = one(envelope)
    assert e.properties.journey is None and e.properties.template == "cart-reminder"


def test_detail_type_falls_back_to_the_event_type() -> None:
    envelope = sample("open")
    del envelope["detail-type"]
    assert one(envelope).source.name == "Open"


# ---- what changes on the profile --------------------------------------------------------------


def profile_after(*events: Any) -> Any:
    profile = new_profile("elektro-emma", "p_1", datetime(2024, 11, 1, tzinfo=UTC))
    for e in events:
        apply_event(profile, e)
    return profile


def test_transient_bounce_does_not_suppress() -> None:
    envelope = sample("bounce_permanent")
    envelope["detail"]["bounce"]["bounceType"] = "Transient"
    envelope["detail"]["bounce"]["bounceSubType"] = "MailboxFull"
    e = one(envelope)
    assert e.properties.bounce_type == "Transient"
    profile = profile_after(e)
    assert profile.channels["email"].bounced == 1 and "email" not in profile.suppressions


def test_permanent_bounce_suppresses_and_complaint_withdraws_consent() -> None:
    profile = profile_after(one(sample("bounce_permanent")))
    assert profile.suppressions["email"].reason == "hard_bounce"
    profile = profile_after(one(sample("complaint")))
    assert profile.suppressions["email"].reason == "complaint" and profile.consent["email"].granted is False
    assert profile.consent["email"].proof.source == "ses:Email Complaint Received"


def test_engagement_counts() -> None:
    profile = profile_after(*(e for name in ("delivery", "open", "click") for e in run(sample(name))))
    stats = profile.channels["email"]
    assert (stats.delivered, stats.opened, stats.clicked) == (1, 1, 1)
    assert stats.last_click_at == datetime(2024, 11, 18, 19, 43, 25, 930000, tzinfo=UTC)


# ---- ignored types ----------------------------------------------------------------------------


def test_send_maps_to_nothing() -> None:
    assert run(sample("send")) == []


@pytest.mark.parametrize(
    ("event_type", "section"),
    [
        ("Send", "send"),
        ("DeliveryDelay", "deliveryDelay"),
        ("Reject", "reject"),
        ("Rendering Failure", "failure"),
        ("Subscription", "subscription"),
    ],
)
def test_types_emma_does_not_record_map_to_nothing(event_type: str, section: str) -> None:
    envelope = sample("send")
    envelope["detail"] = {"eventType": event_type, "mail": envelope["detail"]["mail"], section: {}}
    assert run(envelope) == []


def test_not_spam_feedback_is_not_a_complaint() -> None:
    envelope = sample("complaint")
    envelope["detail"]["complaint"]["complaintFeedbackType"] = "not-spam"
    assert run(envelope) == []


# ---- malformed input --------------------------------------------------------------------------


def without(name: str, *path: str) -> dict[str, Any]:
    envelope = sample(name)
    node = envelope
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return envelope


def replaced(name: str, value: Any, *path: str) -> dict[str, Any]:
    envelope = sample(name)
    node = envelope
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return envelope


@pytest.mark.parametrize(
    ("envelope", "problem"),
    [
        (without("delivery", "detail", "mail", "tags", "emma-shop"), "not an Emma message"),
        (without("delivery", "detail", "mail", "tags"), "not an Emma message"),
        (replaced("delivery", {"ses:configuration-set": ["emma-messages"]}, "detail", "mail", "tags"), "emma-shop"),
        (without("delivery", "detail"), "detail is missing"),
        (replaced("delivery", [], "detail"), "detail is missing or not an object"),
        (without("delivery", "detail", "eventType"), "detail.eventType"),
        (replaced("delivery", "Teleport", "detail", "eventType"), "'Teleport' is not an SES sending event"),
        (replaced("delivery", "aws.sns", "source"), "not an SES event"),
        (without("delivery", "detail", "mail"), "detail.mail is missing"),
        (without("click", "detail", "click"), "detail.click is missing"),
        (replaced("open", "yesterday", "detail", "open"), "detail.open: expected an object"),
        (without("delivery", "detail", "mail", "messageId"), "detail.mail.messageId"),
        (replaced("delivery", 42, "detail", "mail", "messageId"), "detail.mail.messageId: expected a string"),
        (replaced("delivery", "soon", "detail", "delivery", "timestamp"), "detail.delivery.timestamp"),
        (replaced("open", "not-an-address", "detail", "mail", "destination", 0), "not an email address"),
        (replaced("open", [], "detail", "mail", "destination"), "no recipient"),
        (replaced("open", "lena@example.de", "detail", "mail", "destination"), "detail.mail.destination"),
        (replaced("bounce_permanent", [], "detail", "bounce", "bouncedRecipients"), "bouncedRecipients"),
        (without("bounce_permanent", "detail", "bounce", "bouncedRecipients", 0, "emailAddress"), "emailAddress"),
        (without("bounce_permanent", "detail", "bounce", "bounceType"), "detail.bounce.bounceType"),
        (replaced("complaint", None, "detail", "complaint", "complainedRecipients"), "complainedRecipients"),
        (replaced("delivery", "Elektro Emma", "detail", "mail", "tags", "emma-shop"), "shop"),
        (replaced("delivery", [7], "detail", "mail", "tags", "emma-template"), "emma-template[0]: expected a string"),
        (replaced("click", {"href": "x"}, "detail", "click", "link"), "detail.click.link"),
    ],
)
def test_malformed_input_is_an_invalid_payload_naming_the_problem(envelope: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidPayload, match=problem.replace("[", r"\[").replace("]", r"\]")):
        run(envelope)


def test_timestamps_without_any_time_are_refused() -> None:
    envelope = without("open", "detail", "open", "timestamp")
    del envelope["detail"]["mail"]["timestamp"]
    with pytest.raises(InvalidPayload, match="timestamp: required"):
        run(envelope)


@pytest.mark.parametrize("value", [None, [], "aws.ses", 3])
def test_non_objects_are_refused(value: Any) -> None:
    with pytest.raises(InvalidPayload, match="expected an EventBridge event object"):
        map_ses_event(value, RECEIVED)  # type: ignore[arg-type]


# ---- properties -------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "source",
        "detail-type",
        "detail",
        "eventType",
        "mail",
        "tags",
        "messageId",
        "timestamp",
        "destination",
        "delivery",
        "open",
        "click",
        "bounce",
        "complaint",
        "recipients",
        "bouncedRecipients",
        "complainedRecipients",
        "emailAddress",
        "bounceType",
        "link",
        "emma-shop",
        "complaintFeedbackType",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS | st.text(max_size=10), JSON, max_size=6))
def test_random_dicts_raise_nothing_but_invalid_payload(envelope: dict[str, Any]) -> None:
    with contextlib.suppress(InvalidPayload):
        run(envelope)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _paths(child, (*prefix, i))
    return found


@st.composite
def damaged_samples(draw: st.DrawFn) -> dict[str, Any]:
    """A sample with one value anywhere in it replaced by arbitrary JSON."""
    envelope = copy.deepcopy(sample(draw(st.sampled_from(ALL_SAMPLES))))
    path = draw(st.sampled_from(_paths(envelope)))
    node = envelope
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = draw(JSON)
    return envelope


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_samples())
def test_damaged_samples_map_or_raise_invalid_payload(envelope: dict[str, Any]) -> None:
    try:
        events = run(envelope)
    except InvalidPayload:
        return
    for e in events:
        assert e.shop == "elektro-emma" and e.customer.email and e.id.startswith("ses:")


# ---- messages Emma did not send, SNS-style records ---------------------------------------------


def test_a_message_without_emmas_shop_tag_is_refused_as_not_emmas() -> None:
    with pytest.raises(NotEmmaMessage, match="not an Emma message") as err:
        run(without("delivery", "detail", "mail", "tags", "emma-shop"))
    assert isinstance(err.value, InvalidPayload)  # still a refusal of the payload
    with pytest.raises(InvalidPayload) as err:  # a tag naming no valid shop is Emma's, malformed: not this
        run(replaced("delivery", "Elektro Emma", "detail", "mail", "tags", "emma-shop"))
    assert not isinstance(err.value, NotEmmaMessage)


def test_a_record_naming_its_type_in_notification_type_maps_the_same() -> None:
    envelope = sample("bounce_permanent")
    envelope["detail"]["notificationType"] = envelope["detail"].pop("eventType")
    assert one(envelope).id == one(sample("bounce_permanent")).id
