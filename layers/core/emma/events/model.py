"""Canonical events: every input (webhook, tracker call, SES feedback) becomes one or more of these.

The model is versioned (``schema_version``); a breaking change adds a new version instead of
editing this one. ``id`` is the idempotency key: the platform's delivery/event id, the tracker's
messageId or SES's message/event id, made unique per derived event with a suffix (``:consent:email``).
The JSON Schema in docs/canonical-event.schema.json is generated from this module
(``emma schema``) and a test keeps it in sync.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from emma.addresses import check_email, check_phone, shown

SCHEMA_VERSION: Literal["1"] = "1"

# Shop ids are used in keys, secret names and metrics: keep them boring.
SHOP_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
ShopId = Annotated[str, Field(pattern=SHOP_ID_PATTERN, description="Emma's id of the shop (tenant)")]
Money = Annotated[Decimal, Field(max_digits=14, decimal_places=4)]
ShortStr = Annotated[str, Field(max_length=512)]
MAX_IDENTITY_CHARS = 256  # at most 1 KB of UTF-8: well within DynamoDB's 2 KB partition keys


class EventType(StrEnum):
    CUSTOMER_REGISTERED = "customer.registered"
    CUSTOMER_UPDATED = "customer.updated"
    CUSTOMER_IDENTIFIED = "customer.identified"
    CONSENT_CHANGED = "consent.changed"
    PAGE_VIEWED = "page.viewed"
    PRODUCT_VIEWED = "product.viewed"
    SEARCH_PERFORMED = "search.performed"
    CART_UPDATED = "cart.updated"
    CHECKOUT_STARTED = "checkout.started"
    ORDER_PLACED = "order.placed"
    ORDER_PAID = "order.paid"
    ORDER_CANCELLED = "order.cancelled"
    ORDER_REFUNDED = "order.refunded"  # money given back for (part of) an order; the profile decides if it is all
    ORDER_FULFILLED = "order.fulfilled"
    COUPON_REDEEMED = "coupon.redeemed"
    EMAIL_SENT = "email.sent"  # Emma's dispatcher handed the message to the provider
    EMAIL_DELIVERED = "email.delivered"
    EMAIL_OPENED = "email.opened"
    EMAIL_CLICKED = "email.clicked"
    EMAIL_BOUNCED = "email.bounced"
    EMAIL_COMPLAINED = "email.complained"
    EMAIL_UNSUBSCRIBED = "email.unsubscribed"
    SMS_SENT = "sms.sent"
    SMS_DELIVERED = "sms.delivered"
    SMS_CLICKED = "sms.clicked"
    PUSH_SENT = "push.sent"
    PUSH_DELIVERED = "push.delivered"
    PUSH_CLICKED = "push.clicked"
    TUTORIAL_WATCHED = "tutorial.watched"
    SURVEY_ANSWERED = "survey.answered"
    REVIEW_SUBMITTED = "review.submitted"
    REFERRAL_MADE = "referral.made"
    PRODUCT_UPSERTED = "catalog.product_upserted"
    CUSTOM = "custom"
    # Emma's own conclusions, published by the rules function (source emma.rules)
    TRIGGER_FIRED = "trigger.fired"
    SEGMENT_ENTERED = "segment.entered"
    SEGMENT_LEFT = "segment.left"
    LIFECYCLE_CHANGED = "lifecycle.changed"
    # Emma's own activity, published for analytics and never stored on the profile: the dispatcher's
    # skipped messages (source emma.dispatch), journey progress (source emma.journeys)
    MESSAGE_SKIPPED = "message.skipped"
    JOURNEY_ENTERED = "journey.entered"
    JOURNEY_REFUSED = "journey.refused"  # an entry refused: another journey or an exclusion stood in the way
    JOURNEY_STEP = "journey.step"  # the customer reached a step
    JOURNEY_WAITING = "journey.waiting"  # ... and waits there for an event or a time
    JOURNEY_SPLIT = "journey.split"  # ... and was assigned a variant of an experiment
    JOURNEY_ENDED = "journey.ended"  # completed, exited or failed


class SourceKind(StrEnum):
    SHOPIFY = "shopify"
    WOOCOMMERCE = "woocommerce"
    SHOPWARE = "shopware"
    TRACKER = "tracker"
    SES = "ses"
    EMMA = "emma"
    IMPORT = "import"  # a shop's history brought in by `emma import` (backfill: stored, never published)


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"


def to_utc(value: datetime) -> datetime:
    """The time in UTC; a time whose UTC equivalent falls outside years 1-9999 (0001-01-01T00:00:00+01:00)
    is a ValueError, which pydantic reports as a validation error (OverflowError would escape it)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is out of range once converted to UTC (years 1-9999)") from None


class _Strict(BaseModel):
    # defer_build: each model's validator and serializer are built on its first use, not at import. A
    # webhook's first request builds the few event types it maps (``event_adapter``), not all of them.
    # Threads may be first at once: pydantic (2.14, requirements/lambda.lock) rebuilds a model under a lock.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, defer_build=True)


class Source(_Strict):
    kind: SourceKind
    name: ShortStr = Field(description="Topic, call type or event name as the source called it")
    delivery_id: ShortStr | None = Field(None, description="The source's own delivery/message id")


class InvalidAddress(_Strict):
    """An email address or phone number a source sent that is not valid: kept with the reason, never
    used to identify or reach the customer (``emma.addresses`` has the rules)."""

    kind: Literal["email", "phone"]
    value: ShortStr = Field(description="as sent, control and formatting characters escaped (\\n, \\u202e), cut")
    reason: ShortStr


class CustomerRefs(_Strict):
    """The customer references an event carries; the profile store resolves them to one profile.

    ``email`` and ``phone`` are checked here (``emma.addresses``): a valid email is stored lower case
    with its domain in Unicode, a valid phone in E.164. An invalid one does not refuse the event: it
    moves to ``invalid`` with the reason, and is neither an identity nor an address to send to."""

    customer_id: ShortStr | None = Field(None, description="The shop's customer id (or tracker userId)")
    email: ShortStr | None = None
    anonymous_id: ShortStr | None = Field(None, description="Tracker anonymousId / device id")
    phone: ShortStr | None = Field(None, description="E.164 (+491511234567)")
    profile_id: ShortStr | None = Field(
        None, description="Emma's profile id, set by ingest once the references are resolved"
    )
    invalid: tuple[InvalidAddress, ...] | None = Field(
        None, max_length=4, description="addresses sent with the event that are not valid, with the reason"
    )

    @model_validator(mode="before")
    @classmethod
    def _check_addresses(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        invalid = list(out.get("invalid") or ())
        for kind, check in (("email", check_email), ("phone", check_phone)):
            value = out.get(kind)
            if value is None or value == "":
                out[kind] = None
                continue
            checked = check(value)
            out[kind] = checked.address
            if not checked.ok:
                invalid.append({"kind": kind, "value": shown(value), "reason": checked.problem})
        if invalid:
            out["invalid"] = invalid
        return out

    @field_validator("customer_id", "anonymous_id", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> str | None:
        if value is None or value == "":
            return None
        return str(value)

    @field_validator("customer_id", "email", "anonymous_id", "phone")
    @classmethod
    def _short(cls, value: str | None) -> str | None:
        """Identities become DynamoDB keys (2 KB at most): 256 characters are at most 1 KB of UTF-8."""
        if value is not None and len(value) > MAX_IDENTITY_CHARS:
            raise ValueError(f"at most {MAX_IDENTITY_CHARS} characters")
        return value

    def is_empty(self) -> bool:
        return not (self.customer_id or self.email or self.anonymous_id)


class LineItem(_Strict):
    product_id: ShortStr
    variant_id: ShortStr | None = None
    sku: ShortStr | None = None
    name: ShortStr | None = None
    category: ShortStr | None = None
    brand: ShortStr | None = None
    quantity: int = Field(1, ge=0)
    price: Money | None = None


class ProductInfo(_Strict):
    product_id: ShortStr
    sku: ShortStr | None = None
    name: ShortStr | None = None
    category: ShortStr | None = None
    brand: ShortStr | None = None
    price: Money | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    url: Annotated[str, Field(max_length=2048)] | None = None
    in_stock: bool | None = None
    tags: tuple[ShortStr, ...] = ()
    compatible_with: tuple[ShortStr, ...] = Field(
        (), max_length=200, description="accessories: the device product ids it fits (tags 'fits:<id>' count too)"
    )
    partner: ShortStr | None = Field(None, description="a partner's offer sold through the shop (tag 'partner:<name>')")


class ConsentProof(_Strict):
    """Where and how consent was given or withdrawn: enough to show an auditor."""

    source: ShortStr = Field(description="Which system recorded it, e.g. shopify:customers/update")
    at: AwareDatetime
    wording: Annotated[str, Field(max_length=2000)] | None = None
    wording_version: ShortStr | None = Field(
        None, description="Which version of the wording the customer saw, e.g. doi-confirmation@1/de"
    )
    double_opt_in: bool = Field(
        False,
        description="Confirmed by double opt-in (the customer clicked a confirmation sent to the address): "
        "an explicit (re-)subscription",
    )
    ip: ShortStr | None = None
    user_agent: Annotated[str, Field(max_length=1000)] | None = None

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return to_utc(value)


# ---- properties per event family -------------------------------------------------------------


class CustomerProps(_Strict):
    first_name: ShortStr | None = None
    last_name: ShortStr | None = None
    phone: ShortStr | None = None
    locale: ShortStr | None = None
    timezone: ShortStr | None = None
    country: ShortStr | None = None
    city: ShortStr | None = None
    traits: dict[str, Any] = Field(default_factory=dict, description="Other traits, kept as given")


TOPIC_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"


class ConsentProps(_Strict):
    """One consent statement with its proof, about exactly one of:

    - a channel (``channel``): may Emma send on it at all (``granted``);
    - a topic of marketing messages (``topic``, every channel): does the customer want it (``granted``);
    - a pause of marketing messages (``paused_until``): ``granted`` false pauses them until then,
      ``granted`` true ends a pause early (``paused_until`` is then the moment it ended).

    Topics and pauses come from Emma's preference centre; sources state channels."""

    channel: Channel | None = None
    topic: Annotated[str, Field(pattern=TOPIC_PATTERN)] | None = None
    paused_until: AwareDatetime | None = None
    granted: bool
    proof: ConsentProof

    @field_validator("paused_until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return to_utc(value) if value is not None else None

    @model_validator(mode="after")
    def _one_subject(self) -> ConsentProps:
        given = [name for name in ("channel", "topic", "paused_until") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "a consent statement is about exactly one of channel, topic or paused_until"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class PageProps(_Strict):
    url: Annotated[str, Field(max_length=2048)] | None = None
    path: Annotated[str, Field(max_length=2048)] | None = None
    title: ShortStr | None = None
    referrer: Annotated[str, Field(max_length=2048)] | None = None
    name: ShortStr | None = None
    category: ShortStr | None = None


class ProductViewProps(_Strict):
    product: ProductInfo


class SearchProps(_Strict):
    query: ShortStr
    category: ShortStr | None = None


class CartProps(_Strict):
    action: Literal["replace", "add", "remove"] = Field(
        "replace", description="replace: items is the whole cart; add/remove: items changed by this event"
    )
    cart_id: ShortStr | None = None
    items: tuple[LineItem, ...] = ()
    value: Money | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    recovery_url: Annotated[str, Field(max_length=2048)] | None = None


class OrderProps(_Strict):
    order_id: ShortStr
    order_number: ShortStr | None = None
    total: Money
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    subtotal: Money | None = None
    discount_total: Money | None = None
    items: tuple[LineItem, ...] = ()
    discount_codes: tuple[ShortStr, ...] = ()
    test: bool = Field(False, description="a test order (Shopify's test: true): recorded, never counted as revenue")


class RefundProps(_Strict):
    """A refund of (part of) an order: the amount given back and, where the source names them, the
    products. Whether it covers the whole order is for the profile to decide (it knows the order's
    total): a refund reaching the total ends the order as ``order.cancelled`` does, a smaller one
    takes its amount off the revenue and the order keeps counting."""

    order_id: ShortStr
    refund_id: ShortStr | None = Field(
        None,
        description="the source's id of this refund (Shopify's and WooCommerce's refund id); without one, "
        "two refunds of an order are told apart by amount and products",
    )
    amount: Annotated[Decimal, Field(max_digits=14, decimal_places=4, ge=0)] = Field(
        description="the amount refunded by this refund (not the order's total)"
    )
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    items: tuple[LineItem, ...] = Field((), description="the products refunded, with the quantity refunded")


class CouponProps(_Strict):
    code: ShortStr
    order_id: ShortStr | None = None
    amount: Money | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None


class RecommendedRef(_Strict):
    product_id: ShortStr
    url: Annotated[str, Field(max_length=2048)] | None = None


class ContentRef(_Strict):
    block_id: ShortStr
    url: Annotated[str, Field(max_length=2048)]
    topics: tuple[ShortStr, ...] = Field((), max_length=8)


class IncentiveRef(_Strict):
    """The incentive policy's decision for a message whose template carries a coupon (emma.offers.policy)."""

    policy: Literal["always", "predicted"]
    arm: Literal["coupon", "control", "withheld", "explore", "unavailable"]
    p: Annotated[float, Field(ge=0, le=1)] | None = Field(None, description="P(order within the horizon) it saw")
    band: Annotated[int, Field(ge=0, le=20)] | None = Field(None, description="index of p's band (BAND_EDGES)")
    method: ShortStr | None = Field(None, description="how the prediction was decided: propensity or uplift")


class MessageProps(_Strict):
    message_id: ShortStr | None = None
    message: ShortStr | None = Field(
        None, description="Emma's reference of the message (a hash of its request key): what analytics counts it by"
    )
    journey: ShortStr | None = None
    step: ShortStr | None = Field(None, description="the journey step that asked for the message")
    variant: ShortStr | None = Field(None, description="the experiment variant the customer was in")
    template: ShortStr | None = None
    channel: Channel | None = Field(None, description="message.skipped: the channel asked for, or decided on")
    coupon: ShortStr | None = Field(None, description="sent events: the coupon code the message carried")
    incentive: IncentiveRef | None = Field(
        None, description="sent events of a template with a coupon: who got it and why (docs/offers.md)"
    )
    reason: ShortStr | None = Field(None, description="message.skipped: the dispatch stage that skipped it")
    detail: Annotated[str, Field(max_length=1000)] | None = Field(None, description="message.skipped: why")
    url: Annotated[str, Field(max_length=2048)] | None = None
    bounce_type: ShortStr | None = Field(None, description="Permanent / Transient for bounces")
    recommended: tuple[RecommendedRef, ...] = Field(
        (), max_length=12, description="sent events: the products the message recommended (and their links)"
    )
    content: tuple[ContentRef, ...] = Field(
        (), max_length=12, description="sent events: the content blocks the message carried (links and topics)"
    )


class TutorialProps(_Strict):
    tutorial_id: ShortStr
    topic: ShortStr | None = None
    product_id: ShortStr | None = None
    category: ShortStr | None = None
    completion: float | None = Field(None, ge=0, le=1)


class SurveyProps(_Strict):
    survey_id: ShortStr
    score: float | None = None
    answers: dict[str, Any] = Field(default_factory=dict)


class ReviewProps(_Strict):
    product_id: ShortStr | None = None
    rating: float | None = Field(None, ge=0, le=5)


class ReferralProps(_Strict):
    referral_code: ShortStr | None = None
    referred_email: ShortStr | None = None


class CatalogProps(_Strict):
    product: ProductInfo
    variants: tuple[ShortStr, ...] = ()


class CustomProps(_Strict):
    name: ShortStr
    properties: dict[str, Any] = Field(default_factory=dict)
    reason: Annotated[str, Field(max_length=1000)] | None = Field(
        None, description="why a call with a name Emma knows was kept as a custom event (the field its meaning lacks)"
    )


# ---- the events ------------------------------------------------------------------------------


class TriggerFiredProps(_Strict):
    trigger: ShortStr
    cause_event_id: ShortStr | None = Field(None, description="the event that fired it (or armed it)")
    cause_event_type: ShortStr | None = None
    kind: Literal["event", "absence"] = "event"
    armed_at: AwareDatetime | None = None


class SegmentProps(_Strict):
    segment: ShortStr
    kind: ShortStr | None = None
    cause_event_id: ShortStr | None = None


class LifecycleProps(_Strict):
    stage: ShortStr | None
    previous: ShortStr | None = None
    cause_event_id: ShortStr | None = None


class JourneyProps(_Strict):
    journey: ShortStr
    execution: ShortStr
    step: ShortStr | None = None
    variant: ShortStr | None = Field(None, description="journey.split: the variant assigned")
    holdout: bool = Field(False, description="journey.split: the variant is a holdout (gets no messages)")
    status: Literal["completed", "exited", "failed"] | None = Field(None, description="journey.ended")
    reason: Annotated[str, Field(max_length=1000)] | None = Field(
        None, description="journey.entered: the entry event's type; journey.ended and journey.refused: why"
    )


class _EventBase(_Strict):
    schema_version: Literal["1"] = SCHEMA_VERSION
    id: Annotated[str, Field(min_length=1, max_length=256)] = Field(
        description="Idempotency key: unique per shop for each distinct event"
    )
    shop: ShopId
    occurred_at: AwareDatetime
    received_at: AwareDatetime
    source: Source
    customer: CustomerRefs = Field(default_factory=CustomerRefs)
    context: dict[str, Any] = Field(default_factory=dict, description="ip, user agent, locale, page...")
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="What the source sent that this event type does not model (a tracker call's other "
        "properties, as sent): kept, not interpreted",
    )
    repeat: bool = Field(
        False,
        description="Set by ingest: the event repeats a thing the profile already counted (the same order, "
        "coupon redemption or message under a new delivery id). Stored and published, counted once; "
        "triggers and journeys act on the first only",
    )

    @field_validator("occurred_at", "received_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return to_utc(value)

    def detail_type(self) -> str:
        return str(self.type)  # type: ignore[attr-defined]


class CustomerEvent(_EventBase):
    type: Literal[EventType.CUSTOMER_REGISTERED, EventType.CUSTOMER_UPDATED, EventType.CUSTOMER_IDENTIFIED]
    properties: CustomerProps = Field(default_factory=CustomerProps)


class ConsentEvent(_EventBase):
    type: Literal[EventType.CONSENT_CHANGED]
    properties: ConsentProps


class PageEvent(_EventBase):
    type: Literal[EventType.PAGE_VIEWED]
    properties: PageProps = Field(default_factory=PageProps)


class ProductViewEvent(_EventBase):
    type: Literal[EventType.PRODUCT_VIEWED]
    properties: ProductViewProps


class SearchEvent(_EventBase):
    type: Literal[EventType.SEARCH_PERFORMED]
    properties: SearchProps


class CartEvent(_EventBase):
    type: Literal[EventType.CART_UPDATED, EventType.CHECKOUT_STARTED]
    properties: CartProps = Field(default_factory=CartProps)


class OrderEvent(_EventBase):
    type: Literal[EventType.ORDER_PLACED, EventType.ORDER_PAID, EventType.ORDER_CANCELLED, EventType.ORDER_FULFILLED]
    properties: OrderProps


class RefundEvent(_EventBase):
    type: Literal[EventType.ORDER_REFUNDED]
    properties: RefundProps


class CouponEvent(_EventBase):
    type: Literal[EventType.COUPON_REDEEMED]
    properties: CouponProps


class MessageEvent(_EventBase):
    type: Literal[
        EventType.EMAIL_SENT,
        EventType.EMAIL_DELIVERED,
        EventType.EMAIL_OPENED,
        EventType.EMAIL_CLICKED,
        EventType.EMAIL_BOUNCED,
        EventType.EMAIL_COMPLAINED,
        EventType.EMAIL_UNSUBSCRIBED,
        EventType.SMS_SENT,
        EventType.SMS_DELIVERED,
        EventType.SMS_CLICKED,
        EventType.PUSH_SENT,
        EventType.PUSH_DELIVERED,
        EventType.PUSH_CLICKED,
        EventType.MESSAGE_SKIPPED,
    ]
    properties: MessageProps = Field(default_factory=MessageProps)


class TutorialEvent(_EventBase):
    type: Literal[EventType.TUTORIAL_WATCHED]
    properties: TutorialProps


class SurveyEvent(_EventBase):
    type: Literal[EventType.SURVEY_ANSWERED]
    properties: SurveyProps


class ReviewEvent(_EventBase):
    type: Literal[EventType.REVIEW_SUBMITTED]
    properties: ReviewProps = Field(default_factory=ReviewProps)


class ReferralEvent(_EventBase):
    type: Literal[EventType.REFERRAL_MADE]
    properties: ReferralProps = Field(default_factory=ReferralProps)


class CatalogEvent(_EventBase):
    type: Literal[EventType.PRODUCT_UPSERTED]
    properties: CatalogProps


class CustomEvent(_EventBase):
    type: Literal[EventType.CUSTOM]
    properties: CustomProps


class TriggerFiredEvent(_EventBase):
    type: Literal[EventType.TRIGGER_FIRED]
    properties: TriggerFiredProps


class SegmentEvent(_EventBase):
    type: Literal[EventType.SEGMENT_ENTERED, EventType.SEGMENT_LEFT]
    properties: SegmentProps


class LifecycleEvent(_EventBase):
    type: Literal[EventType.LIFECYCLE_CHANGED]
    properties: LifecycleProps


class JourneyEvent(_EventBase):
    type: Literal[
        EventType.JOURNEY_ENTERED,
        EventType.JOURNEY_REFUSED,
        EventType.JOURNEY_STEP,
        EventType.JOURNEY_WAITING,
        EventType.JOURNEY_SPLIT,
        EventType.JOURNEY_ENDED,
    ]
    properties: JourneyProps


CanonicalEvent = Annotated[
    CustomerEvent
    | ConsentEvent
    | PageEvent
    | ProductViewEvent
    | SearchEvent
    | CartEvent
    | OrderEvent
    | RefundEvent
    | CouponEvent
    | MessageEvent
    | TutorialEvent
    | SurveyEvent
    | ReviewEvent
    | ReferralEvent
    | CatalogEvent
    | CustomEvent
    | TriggerFiredEvent
    | SegmentEvent
    | LifecycleEvent
    | JourneyEvent,
    Field(discriminator="type"),
]

# Built on its first use (the whole union: every event model), not at import.
EVENT_ADAPTER: TypeAdapter[CanonicalEvent] = TypeAdapter(CanonicalEvent, config=ConfigDict(defer_build=True))

_MODEL_OF_TYPE: dict[str, type[_EventBase]] = {
    str(tag): member
    for member in get_args(get_args(CanonicalEvent)[0])
    for tag in get_args(member.model_fields["type"].annotation)
}


@functools.cache
def _one_model_adapter(model: type[_EventBase]) -> TypeAdapter[CanonicalEvent]:
    # The model's own validator and serializer first (its events' model_dump_json needs them anyway): the
    # adapter then reuses its schema instead of generating it a second time.
    model.model_rebuild()
    return TypeAdapter(Annotated[model, Field(discriminator="type")])  # type: ignore[arg-type]


def event_adapter(type_: str) -> TypeAdapter[CanonicalEvent]:
    """EVENT_ADAPTER for events of one type: the union cut down to that type's model, so that validating
    one kind of event builds one model, not all of them. Results and errors are EVENT_ADAPTER's (a
    discriminated union of one member: an error's location starts with the type, a wrong type is refused
    the same way); an unknown type gets EVENT_ADAPTER itself."""
    model = _MODEL_OF_TYPE.get(str(type_))
    return EVENT_ADAPTER if model is None else _one_model_adapter(model)


# Events about a person (everything but catalog updates) must carry at least one customer reference.
CUSTOMERLESS_TYPES = frozenset({EventType.PRODUCT_UPSERTED})


def parse_event(data: dict[str, Any] | str | bytes) -> CanonicalEvent:
    """Validate a canonical event from a dict or its JSON (as published on the bus)."""
    if isinstance(data, str | bytes):
        return EVENT_ADAPTER.validate_json(data)
    return EVENT_ADAPTER.validate_python(data)


def event_json_schema() -> dict[str, Any]:
    schema = EVENT_ADAPTER.json_schema(mode="serialization")
    schema["title"] = f"Emma canonical event v{SCHEMA_VERSION}"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def now_utc() -> datetime:
    return datetime.now(UTC)
