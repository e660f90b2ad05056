"""SES feedback -> canonical message events.

Emma sends through SES (``SendRawEmail``) with a configuration set whose event destination is the
account's default EventBridge bus; SES publishes one EventBridge event per sending event there
(``source: aws.ses``, ``detail-type`` such as ``Email Delivered``, ``detail`` = the event publishing
record: ``eventType``, ``mail`` and one object named after the type: ``delivery``, ``open``...).

What is recorded
    Delivery -> ``email.delivered``, Open -> ``email.opened``, Click -> ``email.clicked`` (``url`` =
    the link), Bounce -> ``email.bounced`` (``bounce_type`` Permanent / Transient / Undetermined),
    Complaint -> ``email.complained``. Send, DeliveryDelay, Reject, Rendering Failure and
    Subscription carry nothing a profile needs: they map to no event. A complaint whose feedback
    type is ``not-spam`` (a mailbox provider taking back a spam verdict) is not a complaint either.

Whose event it is
    Emma's dispatcher tags every message: ``emma-shop`` (required), ``emma-profile``,
    ``emma-template``, ``emma-journey``, ``emma-step`` and ``emma-variant`` (journeys only) and
    ``emma-message`` (the message's reference, which analytics counts it by: ``properties.message``). A message without
    ``emma-shop`` was not sent by Emma: it is refused with ``NotEmmaMessage`` (the EventBridge rule
    forwards only tagged events, so the feedback function acknowledges one arriving anyway and never
    retries it). The customer is found by the recipient's address: ``delivery.recipients``,
    ``bounce.bouncedRecipients``, ``complaint.complainedRecipients``, else ``mail.destination``
    (opens and clicks name no recipient; Emma sends one recipient per message). The profile tag is
    kept in the context only: ingest resolves the profile from the references and sets
    ``customer.profile_id`` itself.

Idempotency
    ``ses:<messageId>:<eventType>:<n>:<timestamp>``: an EventBridge or SQS re-delivery maps to the
    same id, while two clicks on the same message at different times stay two events. ``n`` is the
    recipient's place among the event's recipients (0 for Emma's one-recipient messages): never the
    address, so that the id, kept as an idempotency record after an erasure, names nobody. The
    timestamp is the type's own (``click.timestamp``...), else ``mail.timestamp`` (the send time).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any

from pydantic import ValidationError

from emma.addresses import check_email, shown
from emma.errors import InvalidPayload
from emma.events.model import EVENT_ADAPTER, CanonicalEvent, EventType, SourceKind
from emma.sources.common import describe_validation_error, ensure_publishable, obj, timestamp

SES_SOURCE = "aws.ses"

TAG_SHOP = "emma-shop"
TAG_PROFILE = "emma-profile"
TAG_TEMPLATE = "emma-template"
TAG_JOURNEY = "emma-journey"
TAG_MESSAGE = "emma-message"
TAG_STEP = "emma-step"
TAG_VARIANT = "emma-variant"

# eventType -> (canonical type, the record's object describing it)
_RECORDED: dict[str, tuple[EventType, str]] = {
    "Delivery": (EventType.EMAIL_DELIVERED, "delivery"),
    "Open": (EventType.EMAIL_OPENED, "open"),
    "Click": (EventType.EMAIL_CLICKED, "click"),
    "Bounce": (EventType.EMAIL_BOUNCED, "bounce"),
    "Complaint": (EventType.EMAIL_COMPLAINED, "complaint"),
}
IGNORED_TYPES = frozenset({"Send", "DeliveryDelay", "Reject", "Rendering Failure", "RenderingFailure", "Subscription"})
EVENT_TYPES = frozenset(_RECORDED) | IGNORED_TYPES


class NotEmmaMessage(InvalidPayload):
    """An SES event of a message Emma did not send (no ``emma-shop`` tag): nothing of Emma's to record.
    Retrying it cannot change that, so the feedback function acknowledges it instead of failing it."""

    code = "not_an_emma_message"


def map_eventbridge_event(envelope: Any, now: datetime) -> list[CanonicalEvent]:
    """Map one SES event as the feedback queue delivers it (the EventBridge event, read from JSON):
    received when EventBridge received it (its ``time``), else ``now``."""
    if not isinstance(envelope, dict):
        raise InvalidPayload(f"SES event: expected an EventBridge event object, got {type(envelope).__name__}")
    return map_ses_event(envelope, timestamp(envelope.get("time"), "time") or now)


def map_ses_event(envelope: dict[str, Any], received_at: datetime) -> list[CanonicalEvent]:
    """Map one EventBridge event published by SES: one canonical event per recipient, or none for
    the event types Emma does not record. Anything malformed raises InvalidPayload."""
    if not isinstance(envelope, dict):
        raise InvalidPayload(f"SES event: expected an EventBridge event object, got {type(envelope).__name__}")
    source = envelope.get("source")
    if source is not None and source != SES_SOURCE:
        raise InvalidPayload(f"not an SES event: source is {_short(source)}, expected {SES_SOURCE!r}")
    detail = envelope.get("detail")
    if not isinstance(detail, dict):
        raise InvalidPayload("SES event: detail is missing or not an object")
    # Event publishing records name the type in eventType; SES's older identity notifications (the
    # same record, forwarded by hand) in notificationType.
    event_type = detail.get("eventType") if "eventType" in detail else detail.get("notificationType")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidPayload("SES event: detail.eventType is missing or not a string")
    if event_type in IGNORED_TYPES:
        return []
    if event_type not in _RECORDED:
        raise InvalidPayload(
            f"SES event: detail.eventType {_short(event_type)} is not an SES sending event; "
            f"known: {', '.join(sorted(EVENT_TYPES))}"
        )
    type_, section_name = _RECORDED[event_type]
    if section_name not in detail:
        raise InvalidPayload(f"SES {event_type} event: detail.{section_name} is missing")
    section = obj(detail[section_name], f"detail.{section_name}")
    if "mail" not in detail:
        raise InvalidPayload(f"SES {event_type} event: detail.mail is missing")
    mail = obj(detail["mail"], "detail.mail")

    tags = _tags(mail.get("tags"))
    shop = tags.get(TAG_SHOP)
    if shop is None:
        raise NotEmmaMessage(f"SES {event_type} event: not an Emma message (detail.mail.tags has no {TAG_SHOP} tag)")
    message_id = _string(mail.get("messageId"), "detail.mail.messageId")
    occurred_at = _occurred_at(section, section_name, mail)
    complaint_type = None
    if type_ is EventType.EMAIL_COMPLAINED:
        complaint_type = _optional_string(
            section.get("complaintFeedbackType"), "detail.complaint.complaintFeedbackType"
        )
        if complaint_type == "not-spam":  # the mailbox provider takes a spam verdict back
            return []

    properties: dict[str, Any] = {
        "message_id": message_id,
        "message": tags.get(TAG_MESSAGE),
        "template": tags.get(TAG_TEMPLATE),
        "journey": tags.get(TAG_JOURNEY),
        "step": tags.get(TAG_STEP),
        "variant": tags.get(TAG_VARIANT),
    }
    context: dict[str, Any] = {"emma_profile": tags.get(TAG_PROFILE), "emma_message": tags.get(TAG_MESSAGE)}
    if type_ in (EventType.EMAIL_OPENED, EventType.EMAIL_CLICKED):
        context["ip"] = _optional_string(section.get("ipAddress"), f"detail.{section_name}.ipAddress")
        context["user_agent"] = _optional_string(section.get("userAgent"), f"detail.{section_name}.userAgent")
    if type_ is EventType.EMAIL_CLICKED:
        properties["url"] = _optional_string(section.get("link"), "detail.click.link")
    elif type_ is EventType.EMAIL_BOUNCED:
        properties["bounce_type"] = _string(section.get("bounceType"), "detail.bounce.bounceType")
        context["bounce_sub_type"] = _optional_string(section.get("bounceSubType"), "detail.bounce.bounceSubType")
    elif type_ is EventType.EMAIL_COMPLAINED:
        context["complaint_type"] = complaint_type

    name = _optional_string(envelope.get("detail-type"), "detail-type") or event_type
    base = {
        "shop": shop,
        "type": type_,
        "occurred_at": occurred_at,
        "received_at": received_at,
        "source": {"kind": SourceKind.SES, "name": name, "delivery_id": message_id},
        "properties": {k: v for k, v in properties.items() if v is not None},
        "context": {k: v for k, v in context.items() if v is not None},
    }
    stamp = occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return [
        _event(base, f"SES {event_type} event", _event_id(message_id, event_type, n, stamp), recipient)
        for n, recipient in enumerate(_recipients(type_, section, mail))
    ]


# ---- the parts of the record ------------------------------------------------------------------


def _short(value: Any) -> str:
    return repr(value)[:80]


def _string(value: Any, field: str) -> str:
    found = _optional_string(value, field)
    if found is None:
        raise InvalidPayload(f"{field}: required field is missing")
    return found


def _optional_string(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"{field}: expected a string, got {type(value).__name__}")
    return value.strip() or None


def _tags(value: Any) -> dict[str, str]:
    """SES message tags: {name: [values]}; the first value counts (Emma sets one per tag)."""
    tags = obj(value, "detail.mail.tags")
    found: dict[str, str] = {}
    for name, values in tags.items():
        field = f"detail.mail.tags.{str(name)[:40]}"
        if isinstance(values, list):
            first = values[0] if values else None
            tag = _optional_string(first, f"{field}[0]")
        else:
            tag = _optional_string(values, field)
        if tag is not None:
            found[str(name)] = tag
    return found


def _occurred_at(section: dict[str, Any], section_name: str, mail: dict[str, Any]) -> datetime:
    at = timestamp(section.get("timestamp"), f"detail.{section_name}.timestamp") or timestamp(
        mail.get("timestamp"), "detail.mail.timestamp"
    )
    if at is None:
        raise InvalidPayload(
            f"detail.{section_name}.timestamp: required field is missing (and so is detail.mail.timestamp)"
        )
    try:
        return at.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise InvalidPayload(f"detail.{section_name}.timestamp: {at.isoformat()} is out of range") from exc


def _address(value: Any, field: str) -> str:
    """A bare address from ``lena@example.de`` or ``Lena Schmidt <lena@example.de>``."""
    raw = _string(value, field)
    address = parseaddr(raw)[1] if "<" in raw else raw
    if not address:
        raise InvalidPayload(f"{field}: {_short(raw)} is not an email address")
    # SES reports addresses Emma sent to, which dispatch checked: one that is not valid is a
    # malformed record, refused (not a customer's typo to keep on the profile).
    checked = check_email(address)
    if not checked.ok:
        raise InvalidPayload(f"{field}: {_short(shown(raw))} is not an email address ({checked.problem})")
    return address.lower()


def _addresses(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidPayload(f"{field}: expected a list, got {type(value).__name__}")
    return [_address(item, f"{field}[{i}]") for i, item in enumerate(value)]


def _recipient_objects(section: dict[str, Any], field: str, path: str) -> list[str]:
    value = section.get(field)
    if not isinstance(value, list) or not value:
        raise InvalidPayload(f"{path}.{field}: expected a non-empty list of recipients")
    return [
        _address(obj(item, f"{path}.{field}[{i}]").get("emailAddress"), f"{path}.{field}[{i}].emailAddress")
        for i, item in enumerate(value)
    ]


def _recipients(type_: EventType, section: dict[str, Any], mail: dict[str, Any]) -> list[str]:
    if type_ is EventType.EMAIL_BOUNCED:
        found = _recipient_objects(section, "bouncedRecipients", "detail.bounce")
    elif type_ is EventType.EMAIL_COMPLAINED:
        found = _recipient_objects(section, "complainedRecipients", "detail.complaint")
    else:
        found = []
        if type_ is EventType.EMAIL_DELIVERED:
            found = _addresses(section.get("recipients"), "detail.delivery.recipients")
        found = found or _addresses(mail.get("destination"), "detail.mail.destination")
        if not found:
            raise InvalidPayload("detail.mail.destination: no recipient to attribute the event to")
    return list(dict.fromkeys(found))  # unique, in order


# ---- the events -------------------------------------------------------------------------------


def _event_id(message_id: str, event_type: str, n: int, stamp: str) -> str:
    return f"ses:{message_id}:{event_type}:{n}:{stamp}"


def _event(base: dict[str, Any], what: str, event_id: str, recipient: str) -> CanonicalEvent:
    data = {**base, "id": event_id, "customer": {"email": recipient}}
    try:
        event = EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise InvalidPayload(f"{what}: {describe_validation_error(exc)}") from exc
    ensure_publishable(event, what)
    return event
