"""Helpers every mapper shares: envelopes, event construction, tolerant parsing of source values."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from emma.errors import InvalidPayload, UnknownTopic
from emma.events.model import CanonicalEvent, EventType, SourceKind, event_adapter

# Decoded (decompressed) body size. Segment's clients send batches up to 500 KB, RudderStack's up to
# 4 MB (a 413 makes them drop the whole batch); a Shopify order with a few hundred line items is over
# 256 KB. Lambda takes 6 MB per request, so uncompressed bodies near this limit still arrive.
MAX_BODY_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Envelope:
    """What is known about one delivery before its body is mapped."""

    shop: str
    kind: SourceKind
    name: str  # topic / call type / event name
    delivery_id: str  # the idempotency key of the delivery
    received_at: datetime


def describe_validation_error(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("function-after",))
        parts.append(f"{loc or 'body'}: {err.get('msg')}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def make_event(
    env: Envelope,
    type_: EventType,
    *,
    occurred_at: datetime | None,
    customer: dict[str, Any] | None = None,
    properties: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    suffix: str = "",
    extra: dict[str, Any] | None = None,
) -> CanonicalEvent:
    """Build and validate one canonical event; a validation failure becomes InvalidPayload.

    The id is namespaced by the source kind (``tracker:<messageId>``, ``woocommerce:<delivery id>``):
    a tracker's messageId that happens to equal a webhook's delivery id in the same shop is another
    event, not a duplicate."""
    data: dict[str, Any] = {
        "id": event_id(env, suffix),
        "shop": env.shop,
        "type": type_,
        "occurred_at": occurred_at or env.received_at,
        "received_at": env.received_at,
        "source": {"kind": env.kind, "name": env.name, "delivery_id": env.delivery_id},
        "customer": {k: v for k, v in (customer or {}).items() if v not in (None, "")},
        "context": context or {},
    }
    if properties is not None:
        data["properties"] = properties
    if extra:
        data["extra"] = extra
    try:
        # the canonical union's validation for this type alone: a mapper's first event builds its own model only
        event = event_adapter(type_).validate_python(data)
    except ValidationError as exc:
        raise InvalidPayload(f"{env.kind} {env.name}: {describe_validation_error(exc)}") from exc
    ensure_publishable(event, f"{env.kind} {env.name}")
    return event


def event_id(env: Envelope, suffix: str = "") -> str:
    """The idempotency key of an event mapped from ``env``: unique per shop across sources."""
    return f"{env.kind}:{env.delivery_id}{suffix}"


MAX_EVENT_BYTES = 200 * 1024  # EventBridge takes 256 KB per PutEvents entry; keep room for the envelope
INT64 = 2**63


def ensure_publishable(event: CanonicalEvent, what: str) -> None:
    """Refuse, before anything is stored, what EventBridge would refuse on every attempt: oversized
    events, integers beyond 64 bits, text that is not valid Unicode (lone surrogates)."""
    try:
        detail = event.model_dump_json()
        encoded = detail.encode("utf-8")
    except (UnicodeEncodeError, ValueError) as exc:
        raise InvalidPayload(f"{what}: text that is not valid Unicode ({str(exc)[:80]})") from exc
    if len(encoded) > MAX_EVENT_BYTES:
        raise InvalidPayload(f"{what}: the event is {len(encoded)} bytes; at most {MAX_EVENT_BYTES} are accepted")
    _check_numbers(json.loads(detail), what)


def _check_numbers(value: Any, what: str) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not -INT64 <= value < INT64:
        raise InvalidPayload(f"{what}: the number {str(value)[:30]}... does not fit 64 bits")
    if isinstance(value, dict):
        for v in value.values():
            _check_numbers(v, what)
    elif isinstance(value, list):
        for v in value:
            _check_numbers(v, what)


def load_json_object(body: bytes, what: str) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        from emma.errors import PayloadTooLarge

        raise PayloadTooLarge(f"{what}: body is {len(body)} bytes, the limit is {MAX_BODY_BYTES}")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidPayload(f"{what}: body is not valid JSON ({exc})") from exc
    except (ValueError, RecursionError) as exc:  # huge integers, absurdly deep nesting
        raise InvalidPayload(f"{what}: body is not acceptable JSON ({type(exc).__name__}: {str(exc)[:120]})") from exc
    if not isinstance(data, dict):
        raise InvalidPayload(f"{what}: body must be a JSON object, got {type(data).__name__}")
    return data


def money(value: Any, field: str = "amount") -> Decimal | None:
    """Shops send money as strings ("12.50"), numbers or null."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidPayload(f"{field}: expected a number, got a boolean")
    try:
        found = Decimal(str(value).strip())
        if not found.is_finite():
            raise InvalidOperation
        return found.quantize(Decimal("0.0001"))
    except InvalidOperation as exc:
        raise InvalidPayload(f"{field}: {str(value)[:40]!r} is not a number") from exc


# RFC 3339 allows a lowercase "t" and "z" (section 5.6, note) and a leap second (second 60: 23:59:60Z,
# or 00:59:60+01:00 for the same instant).
_LEAP_SECOND = re.compile(r"(?<=[T ]\d\d:\d\d:)60(?:\.\d+)?(?=$|[Z+-])")


def timestamp(value: Any, field: str = "timestamp") -> datetime | None:
    """ISO 8601 / RFC 3339 strings (with Z or an offset, ``t``/``z`` in either case) or epoch seconds,
    returned in UTC; naive times are taken as UTC. A leap second (``23:59:60``) is read as
    ``23:59:59.999999``: Python's datetime has no second 60, and the instant is the same to a
    microsecond. A time whose UTC equivalent leaves years 1-9999 is refused, naming the field."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(float(value), UTC)
        if isinstance(value, str):
            raw = value.strip()
            if len(raw) > 10 and raw[10] == "t":
                raw = raw[:10] + "T" + raw[11:]
            if raw[-1:] in ("Z", "z"):
                raw = raw[:-1] + "+00:00"
            raw = _LEAP_SECOND.sub("59.999999", raw, count=1)
            parsed = datetime.fromisoformat(raw)
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except OverflowError as exc:
        raise InvalidPayload(f"{field}: {value!r} is out of range (years 1-9999 in UTC)") from exc
    except (ValueError, OSError) as exc:
        raise InvalidPayload(f"{field}: {value!r} is not an ISO 8601 timestamp") from exc
    raise InvalidPayload(f"{field}: expected an ISO 8601 timestamp, got {type(value).__name__}")


def text(value: Any, limit: int | None = None) -> str | None:
    """A string as sent (numbers as their digits); empty is None. ``limit`` cuts descriptive text
    (names, labels) to what the event model keeps instead of refusing the whole delivery for it."""
    if value is None or value == "":
        return None
    found = str(value)
    return found[:limit] if limit is not None else found


MAX_EXACT_FLOAT = 2**53  # beyond this a JSON number read as a float has lost digits


def ident(value: Any, field: str) -> str | None:
    """An id as an exact string: shops send ids as integers or strings (``7234590408817`` and
    ``"7234590408817"`` are the same product). Python's JSON reader keeps integers exact; an id that
    is a float, a boolean or a structure is refused rather than guessed (a float id beyond 2**53 has
    already lost digits)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool | dict | list):
        raise InvalidPayload(f"{field}: expected an id (a string or an integer), got {type(value).__name__}")
    if isinstance(value, float):
        if not value.is_integer() or abs(value) >= MAX_EXACT_FLOAT:
            raise InvalidPayload(f"{field}: {value!r} is not an exact id (send it as a string or an integer)")
        return str(int(value))
    found = str(value).strip()
    return found or None


def quantity(value: Any, field: str, default: int = 1) -> int:
    """A count of items: an integer, or a string or float holding one ("2", 2.0); absent is ``default``."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise InvalidPayload(f"{field}: expected a whole number, got a boolean")
    if isinstance(value, int):
        found = value
    else:
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise InvalidPayload(f"{field}: {value!r} is not a whole number") from exc
        if not number.is_finite() or number != number.to_integral_value():
            raise InvalidPayload(f"{field}: {value!r} is not a whole number")
        found = int(number)
    if found < 0:
        raise InvalidPayload(f"{field}: {value!r} is negative")
    return found


_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def flag(value: Any, field: str) -> bool | None:
    """A boolean sent as true/false, or as "true"/"false", 1/0 (PHP and form-encoded sources)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    found = _FLAGS.get(str(value).strip().lower())
    if found is None:
        raise InvalidPayload(f"{field}: expected true or false, got {str(value)[:40]!r}")
    return found


def obj(value: Any, field: str) -> dict[str, Any]:
    """An optional JSON object: absent or null is empty, anything else but an object is invalid.

    An empty list is an empty object too: PHP serialises an empty associative array as ``[]``
    (WooCommerce, Shopware: ``"extensions": []``), and Shopify's checkouts send
    ``"shipping_address": []`` when there is none."""
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise InvalidPayload(f"{field}: expected an object, got {type(value).__name__}")
    return value


def objects(value: Any, field: str) -> list[dict[str, Any]]:
    """An optional list of JSON objects."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidPayload(f"{field}: expected a list, got {type(value).__name__}")
    return [obj(item, f"{field}[{i}]") for i, item in enumerate(value)]


def required(value: Any, field: str) -> str:
    found = text(value)
    if found is None:
        raise InvalidPayload(f"{field}: required field is missing")
    return found


def coupon_events(
    env: Envelope,
    codes: list[tuple[str, Decimal | None]],
    *,
    order_id: str | None,
    currency: str | None,
    customer: dict[str, Any],
    occurred_at: datetime | None,
) -> list[CanonicalEvent]:
    """One coupon.redeemed per discount code of an order (suffix ``:coupon:<code>``)."""
    return [
        make_event(
            env,
            EventType.COUPON_REDEEMED,
            occurred_at=occurred_at,
            customer=customer,
            properties={"code": code, "order_id": order_id, "amount": amount, "currency": currency},
            suffix=f":coupon:{code}",
        )
        for code, amount in codes
    ]


def route_delivery(
    mappers: dict[str, Any],
    kind: SourceKind,
    shop: str,
    topic: str,
    delivery_id: str,
    received_at: datetime,
    noun: str = "topic",
) -> tuple[Any, Envelope]:
    """The mapper for a topic and the delivery's envelope; an unknown topic names the supported ones."""
    mapper = mappers.get(topic)
    if mapper is None:
        raise UnknownTopic(f"{kind} {noun} {topic!r} is not supported; supported: {', '.join(sorted(mappers))}")
    return mapper, Envelope(shop, kind, topic, delivery_id, received_at)
