"""What an import reads from a shop's export, whatever its format: customers and orders as typed
records, each with the line of the file it came from, and the canonical events they become.

Every export format (``emma.imports.formats``) reads its file into these records; ``events_of``
turns a record into the canonical events ingest stores in backfill mode (source kind ``import``). The
events' ids are derived from the record's identity (and, for customers, their content), so importing the
same file again finds only duplicates, and an order is one order however often it is imported.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from emma.errors import InvalidPayload
from emma.events.model import (
    EVENT_ADAPTER,
    CanonicalEvent,
    Channel,
    EventType,
    LineItem,
    Money,
    ShortStr,
    SourceKind,
)


class ImportKind(StrEnum):
    CUSTOMERS = "customers"
    ORDERS = "orders"


class LineError(BaseModel):
    """A problem with one line (or record) of an import file; ``line`` is 1-based, as editors count."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# Record times Emma refuses: the first day a datetime holds (with an offset it may fall before year 1 in UTC:
# 0001-01-01T00:04:00+01:00) and the years from 9000 on (stored history is kept for days after its time and a
# device's replacement is due years after its purchase: such sums leave year 9999). No shop's history is there.
# The OpenAPI document says so with a pattern, so a record the document admits is one Emma stores.
FIRST_REFUSED_YEAR = 9000
ADMITTED_TIME_PATTERN = r"^(?!0001-01-01|9\d{3}-)"
TIME_REFUSED = "a time on 0001-01-01 or in the years 9000-9999 is not accepted (outside what Emma computes with)"


def refused_time(value: datetime) -> bool:
    return value.date() == date.min or value.year >= FIRST_REFUSED_YEAR


def _admitted_time(value: datetime) -> datetime:
    if refused_time(value):
        raise PydanticCustomError("refused_time", TIME_REFUSED)
    return value


RecordTime = Annotated[
    AwareDatetime, AfterValidator(_admitted_time), Field(json_schema_extra={"pattern": ADMITTED_TIME_PATTERN})
]


class ImportedConsent(_Record):
    """Marketing consent the shop holds, with its proof: when it was given and where it was recorded.
    A format that says a customer accepts marketing but not when produces no ImportedConsent (the
    record counts it in ``unproven``): Emma never creates consent without proof, nor invents DOI."""

    channel: Channel
    granted: bool
    at: RecordTime
    source: ShortStr = Field(description="where the shop recorded it, e.g. shopify:customers-export")
    double_opt_in: bool = Field(False, description="only when the export says the opt-in was confirmed")
    wording: ShortStr | None = None
    ip: ShortStr | None = None


class CustomerRecord(_Record):
    line: int = Field(ge=1)
    customer_id: ShortStr | None = None
    email: ShortStr | None = None
    phone: ShortStr | None = None
    first_name: ShortStr | None = None
    last_name: ShortStr | None = None
    locale: ShortStr | None = None
    country: ShortStr | None = None
    city: ShortStr | None = None
    created_at: RecordTime | None = Field(None, description="when the account was created (registration)")
    tags: tuple[ShortStr, ...] = ()
    consents: tuple[ImportedConsent, ...] = ()
    unproven: tuple[Channel, ...] = Field((), description="channels the export says were accepted, without proof")
    traits: dict[str, Any] = Field(default_factory=dict, description="other columns worth keeping (kept as given)")


class OrderRecord(_Record):
    line: int = Field(ge=1, description="the order's first line in the file")
    order_id: ShortStr
    order_number: ShortStr | None = None
    customer_id: ShortStr | None = None
    email: ShortStr | None = None
    phone: ShortStr | None = None
    placed_at: RecordTime
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    total: Money
    subtotal: Money | None = None
    discount_total: Money | None = None
    discount_codes: tuple[ShortStr, ...] = ()
    items: tuple[LineItem, ...] = ()
    cancelled_at: RecordTime | None = None
    refunded: Money | None = Field(None, description="the amount refunded so far (0 or None: none)")
    refunded_at: RecordTime | None = None
    test: bool = False
    first_name: ShortStr | None = None
    last_name: ShortStr | None = None
    country: ShortStr | None = None
    city: ShortStr | None = None
    consents: tuple[ImportedConsent, ...] = ()
    unproven: tuple[Channel, ...] = ()


Record = CustomerRecord | OrderRecord


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _event(
    shop: str,
    id_: str,
    type_: EventType,
    at: datetime,
    received_at: datetime,
    name: str,
    refs: dict[str, Any],
    props: dict[str, Any],
) -> CanonicalEvent:
    return EVENT_ADAPTER.validate_python(
        {
            "id": id_,
            "shop": shop,
            "type": type_,
            "occurred_at": at,
            "received_at": received_at,
            "source": {"kind": SourceKind.IMPORT, "name": name},
            "customer": refs,
            "properties": props,
        }
    )


def _consent_events(
    shop: str, fmt: str, key: str, consents: tuple[ImportedConsent, ...], refs: dict[str, Any], received_at: datetime
) -> list[CanonicalEvent]:
    out = []
    for consent in consents:
        proof: dict[str, Any] = {"source": consent.source, "at": consent.at, "double_opt_in": consent.double_opt_in}
        if consent.wording:
            proof["wording"] = consent.wording
        if consent.ip:
            proof["ip"] = consent.ip
        props = {"channel": consent.channel, "granted": consent.granted, "proof": proof}
        out.append(
            _event(
                shop,
                f"import:{fmt}:consent:{key}:{consent.channel}:{_digest(props)}",
                EventType.CONSENT_CHANGED,
                consent.at,
                received_at,
                f"{fmt}:consent",
                refs,
                props,
            )
        )
    return out


def customer_events(shop: str, fmt: str, record: CustomerRecord, received_at: datetime) -> list[CanonicalEvent]:
    """A customer record: ``customer.registered`` at the account's creation (when the export says when;
    otherwise ``customer.updated`` at the import), then the consents with their own times."""
    refs = {"customer_id": record.customer_id, "email": record.email, "phone": record.phone}
    key = record.customer_id or record.email or record.phone or str(record.line)
    props: dict[str, Any] = {
        "first_name": record.first_name,
        "last_name": record.last_name,
        "phone": record.phone,
        "locale": record.locale,
        "country": record.country,
        "city": record.city,
        "traits": dict(record.traits, **({"tags": list(record.tags)} if record.tags else {})),
    }
    props = {k: v for k, v in props.items() if v not in (None, {}, [])}
    type_ = EventType.CUSTOMER_REGISTERED if record.created_at else EventType.CUSTOMER_UPDATED
    at = record.created_at or received_at
    primary = _event(
        shop,
        f"import:{fmt}:customer:{key}:{_digest([props, refs, record.created_at])}",
        type_,
        at,
        received_at,
        f"{fmt}:customer",
        refs,
        props,
    )
    return [primary, *_consent_events(shop, fmt, key, record.consents, refs, received_at)]


def order_events(shop: str, fmt: str, record: OrderRecord, received_at: datetime) -> list[CanonicalEvent]:
    """An order record: ``order.placed`` at its time, its coupons, then its cancellation or refund where the
    export shows one, and the consent the order's customer gave at checkout."""
    refs = {"customer_id": record.customer_id, "email": record.email, "phone": record.phone}
    base = f"import:{fmt}:order:{record.order_id}"
    props: dict[str, Any] = {
        "order_id": record.order_id,
        "order_number": record.order_number,
        "total": record.total,
        "currency": record.currency,
        "subtotal": record.subtotal,
        "discount_total": record.discount_total,
        "items": [item.model_dump(exclude_none=True) for item in record.items],
        "discount_codes": list(record.discount_codes),
        "test": record.test,
    }
    name = f"{fmt}:order"
    out = [_event(shop, base, EventType.ORDER_PLACED, record.placed_at, received_at, name, refs, props)]
    if record.first_name or record.last_name or record.country or record.city:
        customer = {
            k: v
            for k, v in {
                "first_name": record.first_name,
                "last_name": record.last_name,
                "country": record.country,
                "city": record.city,
            }.items()
            if v
        }
        # The name on an order is the customer's at that time: an update, never a registration.
        out.insert(
            0,
            _event(
                shop,
                f"{base}:customer",
                EventType.CUSTOMER_UPDATED,
                record.placed_at,
                received_at,
                name,
                refs,
                customer,
            ),
        )
    for code in record.discount_codes:
        coupon = {"code": code, "order_id": record.order_id, "currency": record.currency}
        out.append(
            _event(
                shop,
                f"{base}:coupon:{code}",
                EventType.COUPON_REDEEMED,
                record.placed_at,
                received_at,
                name,
                refs,
                coupon,
            )
        )
    if record.cancelled_at is not None:
        cancel = {k: v for k, v in props.items() if k != "test"}
        out.append(
            _event(
                shop,
                f"{base}:cancelled",
                EventType.ORDER_CANCELLED,
                record.cancelled_at,
                received_at,
                name,
                refs,
                cancel,
            )
        )
    elif record.refunded is not None and record.refunded > Decimal(0):
        refund = {"order_id": record.order_id, "amount": record.refunded, "currency": record.currency}
        at = record.refunded_at or record.placed_at
        out.append(_event(shop, f"{base}:refunded", EventType.ORDER_REFUNDED, at, received_at, name, refs, refund))
    out += _consent_events(
        shop, fmt, record.customer_id or record.email or record.order_id, record.consents, refs, received_at
    )
    return out


def events_of(shop: str, fmt: str, record: Record, received_at: datetime) -> list[CanonicalEvent]:
    """The record's canonical events; InvalidPayload (400) for a record whose values a canonical event refuses
    (a time that is out of range once converted to UTC, say), never a server error."""
    try:
        if isinstance(record, CustomerRecord):
            return customer_events(shop, fmt, record, received_at)
        return order_events(shop, fmt, record, received_at)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])
        raise InvalidPayload(f"an imported record makes no valid event: {problems}") from exc


FormatName = Literal["shopify", "woocommerce", "emma"]
