"""Segment-spec tracker calls (track, identify, page, screen, alias, group and batches) to canonical events.

A client written for Segment's HTTP Tracking API (analytics.js, analytics-python, analytics-node,
RudderStack's SDKs) works with Emma by changing only its host; this module is the pure part of that:
dicts in, canonical events out.

What is refused, and what is kept
    A call is refused (``InvalidPayload``, with the reason) only when it is not a valid Segment call:
    no ``userId`` and no ``anonymousId``, an unknown ``type``, a ``track`` without an ``event`` name,
    a spec field of the wrong type (``properties``, ``traits``, ``context`` not objects; ``timestamp``,
    ``sentAt`` not ISO 8601; ids not strings or integers), over 128 KB, or text that is not valid
    Unicode. Every other call is stored, whatever its event name and properties:
    - a name Emma knows (below; Segment's e-commerce spec v2, its v1 names and common aliases) is
      mapped to its canonical type, taking the properties it understands (under the spec's names
      and common aliases); the properties it does not use are kept in the event's ``extra``, as sent;
      a value it cannot use (a price that is not a number, a rating of 7 where 0..5 is meant, a currency
      that is no ISO 4217 code, an integer beyond 64 bits anywhere in the call, a named trait such as
      ``email`` that is a list or an object) is left out of the typed properties and kept in
      ``extra["_ignored"]`` with the reason;
    - where a field that the canonical type needs is missing (an Order Completed without
      ``order_id``, a Tutorial Watched naming no tutorial), the call is stored as a ``custom`` event
      with all its properties and ``reason`` saying what was missing;
    - any other name is a ``custom`` event, name and properties kept as sent.

Call types
    ``identify``           -> customer.identified, plus one consent.changed per channel with consent
    ``page`` / ``screen``  -> page.viewed
    ``track``              -> by event name, below
    ``alias``              -> customer.identified linking ``previousId`` (anonymous id) to ``userId``
    ``group``              -> custom (name "group", groupId and traits kept; groupId a string or integer)

Track events (names match without regard to case, spaces, ``_``/``-`` or camelCase: ``Order Completed``,
``order_completed``, ``orderCompleted`` are one name)
    product.viewed     Product Viewed, Viewed Product, view_item
    search.performed   Products Searched, Searched Products, Search, view_search_results
    cart.updated       Product Added (add), Added Product, Add to Cart, Added to Cart,
                       Wishlist Product Added to Cart; Product Removed (remove), Removed Product,
                       Remove from Cart; Cart Viewed (replace), Viewed Cart, view_cart
    checkout.started   Checkout Started, Started Checkout, begin_checkout, Initiate Checkout
    order.placed       Order Completed, Completed Order, Order Placed, Placed Order, Purchase (the total:
                       total / revenue / value, else the sum of the products' price x quantity)
    order.cancelled    Order Cancelled, Order Canceled; Order Refunded, Refund, Refunded Order for a
                       refund of the whole order (order_id without total, revenue, value, amount,
                       products or items). A cancellation without a total takes 0 and says so in
                       ``extra["_assumed"]``
    order.refunded     Order Refunded, Refund, Refunded Order naming an amount (total, revenue, value,
                       amount; else the refunded products' price x quantity) or products: the profile
                       takes the amount off the order (the whole of it: the order is cancelled)
    coupon.redeemed    Coupon Applied, Applied Coupon, Coupon Redeemed
    review.submitted   Product Reviewed, Review Submitted
    customer.registered  Signed Up, Sign Up, Account Created (+ consent.changed)
    push.clicked       Push Notification Tapped, Push Notification Opened, Push Opened
    push.delivered     Push Notification Received
    Emma's own events (not in any Segment spec):
    tutorial.watched   Tutorial Watched / Viewed / Completed: tutorial_id (or tutorial, tutorial_name,
                       video_id), topic, product_id, category, completion (0..1; 1..100 read as percent)
    survey.answered    Survey Answered / Submitted / Completed: survey_id (or survey), score (or
                       rating, nps), answers (object)
    referral.made      Referral Made / Sent, Friend Referred: referral_code (or code), referred_email

Property aliases: product ``product_id`` / ``productId`` / ``id`` / ``sku`` / ``item_id``; products
``products`` or ``items`` (GA4); ``name`` / ``item_name``; ``category`` / ``item_category``; ``brand`` /
``item_brand``; order ``order_id`` / ``orderId`` / ``transaction_id``; order total ``total`` / ``revenue`` /
``value``. Product Added / Removed carry the one product the call is about at the top level of
``properties``; Cart Viewed replaces the cart.

Ids
    ``messageId`` is the idempotency key (``make_event`` namespaces it: ``tracker:<messageId>``);
    derived events get a suffix (``:consent:email``). A message without one gets ``"sha256:" +
    sha256(canonical JSON of the message)``, so exact retries from such clients are still
    deduplicated. ``sentAt`` (reset by clients on every attempt) and ``writeKey`` (a credential, not
    part of the event) are left out of that hash.

Time
    ISO 8601 / RFC 3339 (``T``/``Z`` in either case; a leap second ``:60`` is read as ``:59.999999``);
    a time outside years 1-9999 once in UTC refuses the call, naming the field.
    Segment's clock-skew correction: with a client time (``timestamp``, else ``originalTimestamp``)
    and a ``sentAt`` (the message's, else the batch's), ``occurred_at = client time + (received_at -
    sentAt)``; with a client time only, that time; with neither, ``received_at``. ``occurred_at`` is
    never later than ``received_at``.

Customer
    ``userId`` -> ``customer_id``, ``anonymousId`` -> ``anonymous_id`` (one of them is required), email
    from ``traits.email``, else ``context.traits.email``, else (buyer events only) ``properties.email``.
    An email that is not a valid address is passed on as sent, as webhooks' are: the event model keeps
    it in ``customer.invalid`` with the reason (``emma.addresses``) and the call still lands; one that
    is not text at all (a list, an object, true) is kept in ``extra["_ignored"]`` with the reason.

Traits (identify, Signed Up)
    First and last name, phone, locale and timezone are named fields; every other trait is kept whole
    in ``traits``, nested objects included (Segment's ``address`` with street, city, state,
    postalCode, country; ``company``; custom traits). ``address.city`` / ``address.country`` are
    named fields too.

Context kept on the event (flat; everything else in Segment's context is dropped)
    ``ip``, ``user_agent``, ``locale``, ``timezone``, ``page_url`` (``context.page.url``), ``library``
    (name/version) and ``utm_source``, ``utm_medium``, ``utm_campaign``, ``utm_term``, ``utm_content``
    (``context.campaign``). A batch's ``context`` is merged under each message's context.

Consent (identify and Signed Up)
    ``traits.email_opt_in`` / ``sms_opt_in`` / ``push_opt_in`` (booleans) or ``context.consent`` =
    ``{"email": {"granted": bool, "wording": str, "double_opt_in": bool}, "sms": {...}, "push": {...}}``;
    ``context.consent`` wins per channel. A statement that is not a boolean records no consent (consent
    is never guessed) and is noted in ``extra["_ignored"]``. Segment's own
    ``context.consent.categoryPreferences`` is about cookie categories, not marketing channels: it
    records no channel consent, but a call whose categories deny marketing gives no opt-in (below).

Consent categories (``map_consented_call``; docs/tracking.md#consent-categories)
    A call carrying the visitor's cookie-consent choices (Segment's ``context.consent.categoryPreferences``,
    RudderStack's ``context.consentManagement``) is held to them with the shop's categories
    (``ShopConfig.tracker_consent``): analytics denied, no browsing behaviour is kept; marketing
    denied, no marketing signal (interest, cart, checkout, an opt-in). Withheld events are reported,
    never refused. A call without such an object is mapped as before.

Currency
    Orders need a currency; when ``currency`` is absent or no ISO 4217 code ("Euro"), the shop's currency
    (``currency=``) is assumed (the unreadable one is kept in ``extra["_ignored"]``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from emma.errors import EmmaError, InvalidPayload, PayloadTooLarge
from emma.events.model import MAX_IDENTITY_CHARS, CanonicalEvent, Channel, EventType, SourceKind
from emma.shops import TrackerConsent
from emma.sources.common import INT64, Envelope, make_event, obj, text, timestamp

CALL_TYPES = frozenset({"track", "identify", "page", "screen", "alias", "group"})
# Segment's limit is 32 KB a call, RudderStack's 4 MB; 128 KB keeps every canonical event within
# EventBridge's 256 KB while no call a real client sends is refused for its size.
MAX_MESSAGE_BYTES = 128 * 1024
MAX_BATCH_ITEMS = 2500
MAX_MESSAGE_ID_CHARS = 200  # leaves room for the source prefix and suffixes within the id's 256 characters
MAX_EVENT_NAME_CHARS = 512
DEFAULT_CURRENCY = "EUR"
IGNORED = "_ignored"  # extra[IGNORED]: values Emma could not use, with the reason
ASSUMED = "_assumed"  # extra[ASSUMED]: fields Emma filled in because the call did not send them, and how
_ISO_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_MAX_FIXES = 20

_CONSENT_TRAITS = {channel: f"{channel}_opt_in" for channel in Channel}
# Traits carried by the refs or the named customer fields, not in ``traits``.
_NAMED_TRAITS = frozenset({"email", "firstName", "first_name", "lastName", "last_name", "phone", "locale", "timezone"})
_UTM_KEYS = {
    "utm_source": "source",
    "utm_medium": "medium",
    "utm_campaign": "name",
    "utm_term": "term",
    "utm_content": "content",
}


@dataclass(frozen=True)
class Rejection:
    """One batch item that could not be mapped; the rest of the batch still is."""

    index: int
    message_id: str | None
    error: str
    status: int = 400
    shop: str | None = None  # whose call it was, when its write key was known


@dataclass(frozen=True)
class Withheld:
    """An event a call would have given, not stored because the call's consent object denies its use."""

    event_id: str
    message_id: str
    type: str  # the canonical type it would have had
    call: str  # the call as sent: "page", "track Product Viewed"
    reason: str
    shop: str
    index: int | None = None  # its call's position in a batch

    def as_dict(self) -> dict[str, Any]:
        """What the sender is told (its own call's id and name, the canonical type and why)."""
        shown = {"messageId": self.message_id, "call": self.call, "type": self.type, "reason": self.reason}
        return shown if self.index is None else {"index": self.index, **shown}


@dataclass(frozen=True)
class MappedCall:
    events: list[CanonicalEvent]
    withheld: list[Withheld] = field(default_factory=list)


@dataclass(frozen=True)
class MappedBatch:
    events: list[CanonicalEvent]
    rejected: list[Rejection]
    shops: dict[str, int] = field(default_factory=dict)  # shop -> calls accepted for it
    withheld: list[Withheld] = field(default_factory=list)  # events the calls' consent objects kept out


@dataclass(frozen=True)
class TrackerShop:
    """Whose call it is: the shop, its currency (assumed for orders that name none) and which consent
    categories gate what its tracker calls build (``ShopConfig.tracker_consent``)."""

    shop: str
    currency: str = DEFAULT_CURRENCY
    consent: TrackerConsent = field(default_factory=TrackerConsent)


def write_key_from_body(body: dict[str, Any]) -> str | None:
    """Segment accepts the write key in the body as well as in Basic auth (analytics.js puts it in
    every call, batched or not)."""
    key = body.get("writeKey")
    return key.strip() if isinstance(key, str) and key.strip() else None


def map_batch(
    shop: str | TrackerShop | None,
    body: dict[str, Any],
    received_at: datetime,
    *,
    shop_of: Callable[[dict[str, Any]], TrackerShop] | None = None,
) -> MappedBatch:
    """Map a /v1/batch body; invalid items become rejections, valid ones are still mapped.

    ``shop_of(item)`` names the shop of an item (from its own ``writeKey``) and raises an EmmaError
    (401 for an unknown key) to reject it; without it every item is ``shop``'s. A failure that is not
    the item's fault (a 5xx: the shop directory could not be read) is raised, not listed: the whole
    request then fails with 503 and the sender retries it, instead of dropping a call it was told
    was refused."""
    items = body.get("batch")
    if not isinstance(items, list):
        raise InvalidPayload('batch: body must have a "batch" list')
    if len(items) > MAX_BATCH_ITEMS:
        raise PayloadTooLarge(f"batch: {len(items)} calls; the limit is {MAX_BATCH_ITEMS} calls a batch")
    batch_context = obj(body.get("context"), "batch context")
    sent_at = _batch_sent_at(body.get("sentAt"))
    default = _tracker_shop(shop)
    events: list[CanonicalEvent] = []
    rejected: list[Rejection] = []
    withheld: list[Withheld] = []
    shops: dict[str, int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            rejected.append(Rejection(index, None, f"message must be an object, got {type(item).__name__}"))
            continue
        owner = None
        try:
            owner = shop_of(item) if shop_of is not None else default
            if owner is None:
                raise InvalidPayload("no write key for this message")
            mapped = map_consented_call(
                owner, item.get("type"), item, received_at, batch_context=batch_context, sent_at=sent_at, index=index
            )
            events += mapped.events
            withheld += mapped.withheld
            shops[owner.shop] = shops.get(owner.shop, 0) + 1
        except EmmaError as exc:
            if exc.status >= 500:
                raise
            shop_name = owner.shop if owner is not None else None
            rejected.append(Rejection(index, _message_id_of(item), exc.message, exc.status, shop_name))
    return MappedBatch(events, rejected, shops, withheld)


def map_call(
    shop: str,
    call_type: Any,
    message: dict[str, Any],
    received_at: datetime,
    *,
    batch_context: dict[str, Any] | None = None,
    sent_at: datetime | None = None,
    currency: str = DEFAULT_CURRENCY,
) -> list[CanonicalEvent]:
    """Map one call (the body of /v1/<type>, or one batch item) to its canonical events.

    ``batch_context`` is merged under the message's context: a handler can pass the request's
    source address as ``{"ip": ...}`` there, as Segment fills in ``context.ip`` when it is absent.
    """
    if not isinstance(call_type, str) or call_type not in CALL_TYPES:
        raise InvalidPayload(f"unknown call type {call_type!r}, expected one of {sorted(CALL_TYPES)}")
    size = len(_canonical_json(message))
    if size > MAX_MESSAGE_BYTES:
        limit = f"{MAX_MESSAGE_BYTES // 1024} KB ({MAX_MESSAGE_BYTES} bytes)"
        raise PayloadTooLarge(f"the call is {size} bytes of JSON; the limit is {limit} a call")
    call = _read_call(shop, call_type, message, received_at, batch_context or {}, sent_at, currency)
    if call_type == "identify":
        return _identify(call)
    if call_type == "track":
        return _track(call)
    if call_type == "alias":  # links previousId to userId: an identity statement, nothing more
        return [call.event(EventType.CUSTOMER_IDENTIFIED, {}, extra=_extra({}, call.ignored))]
    if call_type == "group":  # B2B accounts: kept as a custom event until Emma models accounts
        traits = _within_64_bits(obj(message.get("traits"), "traits"), "traits", call.ignored)
        group = {"group_id": _identity(message, "groupId"), "traits": traits}
        return [call.custom("group", _without_none(group))]
    return [_page(call, message)]


def map_consented_call(
    shop: TrackerShop,
    call_type: Any,
    message: dict[str, Any],
    received_at: datetime,
    *,
    batch_context: dict[str, Any] | None = None,
    sent_at: datetime | None = None,
    index: int | None = None,
) -> MappedCall:
    """``map_call``, then the call's consent object (``read_consent``) applied with the shop's
    categories (``apply_consent``): the events its consent allows, and those it withholds."""
    events = map_call(
        shop.shop,
        call_type,
        message,
        received_at,
        batch_context=batch_context,
        sent_at=sent_at,
        currency=shop.currency,
    )
    verdict = read_consent(message, batch_context, shop.consent)
    return apply_consent(verdict, call_type, events, shop.consent, index=index)


# ---- consent categories ----------------------------------------------------------------------
#
# Segment's consent object, as @segment/analytics-consent-tools stamps it on every call (a source
# middleware: ``payload.obj.context.consent = {...context.consent, categoryPreferences}``) and the
# OneTrust wrapper fills it (every OneTrust group id, true if active, else false):
#     "context": {"consent": {"categoryPreferences": {"C0001": true, "C0002": false, "C0004": true}}}
# Segment's retired consent-manager stamps ``{defaultDestinationBehavior, categoryPreferences,
# destinationPreferences}`` there (categoryPreferences null until the visitor chose). RudderStack's
# SDKs send ``context.consentManagement = {allowedConsentIds, deniedConsentIds, provider, ...}``.

GRANTED, DENIED, NOT_STATED = "granted", "denied", "not stated"
CONSENT_NOTE = "_consent"  # extra[CONSENT_NOTE]: the purposes' states a call's consent object gave
# A consent choice itself (consent-tools sends one whenever the visitor changes it) is the record of
# that choice, not behaviour: it is kept whatever it says.
_CONSENT_CHOICE_EVENTS = frozenset({"segment consent preference updated", "segment consent preference"})
_BEHAVIOUR = frozenset(
    {
        EventType.PAGE_VIEWED,
        EventType.PRODUCT_VIEWED,
        EventType.SEARCH_PERFORMED,
        EventType.CART_UPDATED,
        EventType.CHECKOUT_STARTED,
        EventType.TUTORIAL_WATCHED,
        EventType.PUSH_DELIVERED,
        EventType.PUSH_CLICKED,
    }
)  # and custom track events (below)
# Behaviour whose use is marketing: interest scores (views, searches, tutorials, carts), the cart and
# checkout behind abandonment journeys, what the onboarding journey follows (tutorials watched).
_MARKETING_SIGNALS = frozenset(
    {
        EventType.PRODUCT_VIEWED,
        EventType.SEARCH_PERFORMED,
        EventType.CART_UPDATED,
        EventType.CHECKOUT_STARTED,
        EventType.TUTORIAL_WATCHED,
    }
)


@dataclass(frozen=True)
class Purpose:
    state: str  # GRANTED, DENIED or NOT_STATED
    evidence: str = ""  # what said so: "context.consent.categoryPreferences.C0002 is false"


@dataclass(frozen=True)
class ConsentVerdict:
    """What a call's consent object says about the shop's analytics and marketing categories."""

    stated: bool  # the call carries a consent object at all
    analytics: Purpose = Purpose(NOT_STATED)
    marketing: Purpose = Purpose(NOT_STATED)

    def note(self) -> dict[str, str]:
        return {"analytics": self.analytics.state, "marketing": self.marketing.state}


def read_consent(
    message: dict[str, Any], batch_context: dict[str, Any] | None, policy: TrackerConsent
) -> ConsentVerdict:
    """The call's consent, for the shop's categories (``policy``). The message's own
    ``context.consent`` / ``context.consentManagement`` counts; the batch's only where the message
    has none. A category is denied when named with ``false`` (or in ``deniedConsentIds``) and granted
    when named with ``true`` (or in ``allowedConsentIds``); one of a purpose's categories denied
    denies the purpose, as Segment requires every category of a destination to be consented. An
    empty ``categoryPreferences`` object denies every category (Segment: "consent is considered to
    be false for all categories"). A category not named is not stated (the shop's own legal basis
    applies), unless ``policy.unlisted_denies``. A value that is not true or false states nothing."""
    own = message.get("context") if isinstance(message.get("context"), dict) else {}
    batch = batch_context or {}
    consent = own["consent"] if "consent" in own else batch.get("consent")
    managed = own["consentManagement"] if "consentManagement" in own else batch.get("consentManagement")
    said: dict[str, tuple[bool, str]] = {}  # casefolded category -> (its value, where it was said)
    empty = False
    preferences = consent.get("categoryPreferences") if isinstance(consent, dict) else None
    if isinstance(preferences, dict):
        empty = not preferences
        for key, value in preferences.items():
            if isinstance(key, str) and isinstance(value, bool):
                _say(said, key, value, f"context.consent.categoryPreferences.{key} is {str(value).lower()}")
    if isinstance(managed, dict):
        allowed, denied = managed.get("allowedConsentIds"), managed.get("deniedConsentIds")
        names = [*allowed, *allowed.values()] if isinstance(allowed, dict) else allowed
        for key in names if isinstance(names, list) else ():
            if isinstance(key, str) and key.strip():
                _say(said, key, True, f"context.consentManagement.allowedConsentIds has {key}")
        for key in denied if isinstance(denied, list) else ():
            if isinstance(key, str) and key.strip():
                _say(said, key, False, f"context.consentManagement.deniedConsentIds has {key}")
    if not said and not empty:
        return ConsentVerdict(stated=False)
    return ConsentVerdict(
        stated=True,
        analytics=_purpose(said, empty, policy.analytics, policy.unlisted_denies),
        marketing=_purpose(said, empty, policy.marketing, policy.unlisted_denies),
    )


def _say(said: dict[str, tuple[bool, str]], key: str, value: bool, where: str) -> None:
    folded = key.strip().casefold()
    if said.get(folded, (True, ""))[0]:  # a denial is never overruled by a grant of the same name
        said[folded] = (value, where)


def _purpose(said: dict[str, tuple[bool, str]], empty: bool, names: tuple[str, ...], unlisted: bool) -> Purpose:
    if not names:
        return Purpose(NOT_STATED)
    folded = [name.casefold() for name in names]
    if empty:
        return Purpose(DENIED, "context.consent.categoryPreferences is empty: no category is consented")
    found = [said[name] for name in folded if name in said]
    denied = next((where for value, where in found if not value), None)
    if denied:
        return Purpose(DENIED, denied)
    if found:
        return Purpose(GRANTED, found[0][1])
    if unlisted:
        return Purpose(DENIED, f"none of {', '.join(names)} is named (unlisted categories count as denied)")
    return Purpose(NOT_STATED)


def apply_consent(
    verdict: ConsentVerdict,
    call_type: Any,
    events: list[CanonicalEvent],
    policy: TrackerConsent,
    *,
    index: int | None = None,
) -> MappedCall:
    """Keep the events the verdict allows (docs/tracking.md#consent-categories):

    - analytics denied: no browsing behaviour (page/screen views, product views, searches, carts,
      checkouts, tutorials, push receipts and taps, custom track events);
    - marketing denied: no marketing signal (product views, searches, carts, checkouts, tutorials,
      the shop's ``marketing_events``), no channel opt-in (a ``consent.changed`` granting), and a
      page view without its ``category`` (it would add to interest scores);
    - never withheld: identities (identify, alias, group, Signed Up), orders, cancellations, refunds,
      coupons, reviews, surveys, referrals, withdrawals of consent, the visitor's consent choice.

    A kept event of a call that stated consent notes the states in ``extra["_consent"]``."""
    if not verdict.stated:
        return MappedCall(events)
    kept: list[CanonicalEvent] = []
    withheld: list[Withheld] = []
    note = verdict.note()
    marketing_events = {_normal(name) for name in policy.marketing_events}
    for event in events:
        reason = _withheld_because(verdict, call_type, event, marketing_events)
        if reason:
            call = f"track {event.source.name}" if call_type == "track" else str(call_type)
            message_id = event.source.delivery_id or event.id.split(":", 1)[-1]
            withheld.append(Withheld(event.id, message_id, str(event.type), call, reason, event.shop, index))
            continue
        extra = {**event.extra, CONSENT_NOTE: note}
        update: dict[str, Any] = {"extra": extra}
        if event.type is EventType.PAGE_VIEWED and verdict.marketing.state == DENIED and event.properties.category:
            update["properties"] = event.properties.model_copy(update={"category": None})
            extra[CONSENT_NOTE] = {**note, "left_out": ["properties.category: interest in it is a marketing signal"]}
        kept.append(event.model_copy(update=update))
    return MappedCall(kept, withheld)


def _withheld_because(
    verdict: ConsentVerdict, call_type: Any, event: CanonicalEvent, marketing_events: set[str]
) -> str | None:
    analytics, marketing = verdict.analytics, verdict.marketing
    if event.type is EventType.CONSENT_CHANGED:
        if event.properties.granted and marketing.state == DENIED:
            return f"marketing consent denied ({marketing.evidence}): no opt-in is taken from this call"
        return None
    kind, custom_name = event.type, None
    if kind is EventType.CUSTOM and call_type == "track":
        custom_name = _normal(event.properties.name)
        # a known name kept as custom for a missing field (an Order Completed without order_id) is
        # judged as what it is; any other custom track event is behaviour
        kind = _TRACK.get(custom_name, (EventType.CUSTOM,))[0]
    behaviour = kind in _BEHAVIOUR or (
        kind is EventType.CUSTOM and custom_name is not None and custom_name not in _CONSENT_CHOICE_EVENTS
    )
    if behaviour and analytics.state == DENIED:
        return f"analytics consent denied ({analytics.evidence}): {event.type} is browsing behaviour"
    signal = kind in _MARKETING_SIGNALS or custom_name in marketing_events
    if signal and marketing.state == DENIED:
        return f"marketing consent denied ({marketing.evidence}): {event.type} is a marketing signal"
    return None


# ---- reading properties ----------------------------------------------------------------------


class _Props:
    """A call's properties (or one product of them) as read by a mapper: what it takes is marked,
    the rest is kept (``rest()``) in the event's ``extra``. A value of the wrong kind is not taken."""

    def __init__(self, data: dict[str, Any], ignored: dict[str, Any], where: str = "") -> None:
        self.data = data
        self.used: set[str] = set()
        self.ignored = ignored  # the call's extra["_ignored"]
        self.where = where
        self.products_rest: list[Any] | None = None  # each product's unused fields (see _line_items)

    def _candidates(self, keys: tuple[str, ...]):
        for key in keys:
            value = self.data.get(key)
            if value is not None and value != "":
                yield key, value

    def text(self, *keys: str) -> str | None:
        """The first of ``keys`` holding a string or a number (ids are sent as either)."""
        for key, value in self._candidates(keys):
            if _scalar(value) is not None:
                self.used.add(key)
                return str(value).strip()
        return None

    def number(self, *keys: str) -> Decimal | None:
        """The first of ``keys`` holding a number, or a string that is one ("12.50", "12,50")."""
        for key, value in self._candidates(keys):
            found = _decimal(value)
            if found is not None:
                self.used.add(key)
                return found
            self.note(key, f"{_short(value)} is not a number")
        return None

    def raw(self, *keys: str, kind: type | tuple[type, ...] = object) -> Any:
        for key, value in self._candidates(keys):
            if isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool):
                self.used.add(key)
                return value
        return None

    def flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if isinstance(value, bool):
            self.used.add(key)
            return value
        return None

    def note(self, key: str, reason: str) -> None:
        self.ignored[f"{self.where}{key}"] = reason

    def ignore(self, key: str, value: Any, reason: str) -> None:
        """``value`` (taken from ``key``) is not used: recorded with the reason, kept out of ``extra``'s top level."""
        self.used.add(key)
        self.ignored[f"properties.{self.where}{key}"] = {"value": value, "reason": reason}

    def rest(self) -> dict[str, Any]:
        rest = {k: v for k, v in self.data.items() if k not in self.used}
        if self.products_rest is not None and any(self.products_rest):
            key = "items" if "items" in self.used and "products" not in self.used else "products"
            rest[key] = self.products_rest
        return rest


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    raw = str(value).strip()
    if isinstance(value, str) and "," in raw and "." not in raw:
        raw = raw.replace(",", ".")  # "12,50" from a German shop's data layer
    try:
        number = Decimal(raw)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return number.quantize(Decimal("0.0001")) if abs(number) < Decimal(10) ** 10 else number


# ---- one call --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    """What every event of one call shares."""

    env: Envelope
    occurred_at: datetime
    customer: dict[str, Any]
    context: dict[str, Any]  # the message's context over the batch's, as sent
    props: _Props
    traits: dict[str, Any]  # identify: traits over context.traits; otherwise context.traits
    currency: str
    ignored: dict[str, Any] = field(default_factory=dict)

    @property
    def properties(self) -> dict[str, Any]:
        return self.props.data

    def event(
        self,
        type_: EventType,
        properties: dict[str, Any],
        suffix: str = "",
        extra: dict[str, Any] | None = None,
        customer: dict[str, Any] | None = None,
    ) -> CanonicalEvent:
        return make_event(
            self.env,
            type_,
            occurred_at=self.occurred_at,
            customer=self.customer if customer is None else customer,
            properties=_without_none(properties),
            context=_kept_context(self.context),
            suffix=suffix,
            extra=extra,
        )

    def custom(self, name: str, properties: dict[str, Any], reason: str | None = None) -> CanonicalEvent:
        """A custom event: the call's name and properties as sent (less what ``_ignored`` records)."""
        props = {"name": name, "properties": properties, "reason": reason[:1000] if reason else None}
        return self.event(EventType.CUSTOM, props, extra=_extra({}, self.ignored))

    def lenient_event(
        self, type_: EventType, properties: dict[str, Any], extra: dict[str, Any], suffix: str = ""
    ) -> CanonicalEvent:
        """The event, leaving out (into ``extra["_ignored"]``) each value the canonical model refuses.
        A required field that is missing still raises: the caller keeps the call as a custom event."""
        properties = _without_none(properties)
        customer = dict(self.customer)
        root = {"properties": properties, "customer": customer}
        ignored = dict(self.ignored)
        for _ in range(_MAX_FIXES):
            try:
                return self.event(type_, properties, suffix, _extra(extra, ignored), customer)
            except InvalidPayload as exc:
                cause = exc.__cause__
                if not isinstance(cause, ValidationError):
                    raise
                for error in cause.errors():
                    path = error["loc"][1:]  # the first part is the discriminator (the type)
                    if error["type"] == "missing" or not _pop(root, path, ignored, error["msg"]):
                        raise InvalidPayload(_describe(error)) from None
        raise InvalidPayload("too many unusable values")


def _pop(root: dict[str, Any], path: tuple[Any, ...], ignored: dict[str, Any], reason: str) -> bool:
    """Remove the value at ``path`` (recorded in ``ignored``); False if there is nothing to remove."""
    container: Any = root
    for step in path[:-1]:
        try:
            container = container[step]
        except (KeyError, IndexError, TypeError):
            return False
    last = path[-1] if path else None
    in_dict = isinstance(container, dict) and last in container
    in_list = isinstance(container, list) and isinstance(last, int) and 0 <= last < len(container)
    if not (in_dict or in_list):
        return False
    value = container.pop(last)
    ignored[".".join(str(p) for p in path)] = {"value": value, "reason": reason}
    return True


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error["loc"][1:])
    if error["type"] == "missing":
        return f"{where} is required for {error['loc'][0]}"
    return f"{where}: {error['msg']}"


def _extra(rest: dict[str, Any], ignored: dict[str, Any]) -> dict[str, Any]:
    extra = {k: v for k, v in rest.items() if v not in (None, [], {})}
    if ignored:
        extra[IGNORED] = ignored
    return extra


def _tracker_shop(shop: str | TrackerShop | None) -> TrackerShop | None:
    if shop is None or isinstance(shop, TrackerShop):
        return shop
    return TrackerShop(shop)


def _read_call(
    shop: str,
    call_type: str,
    message: dict[str, Any],
    received_at: datetime,
    batch_context: dict[str, Any],
    batch_sent_at: datetime | None,
    currency: str,
) -> _Call:
    user_id, anonymous_id = _identity(message, "userId"), _identity(message, "anonymousId")
    if call_type == "alias":
        anonymous_id = _identity(message, "previousId")
        if not (user_id and anonymous_id):
            raise InvalidPayload("alias: previousId and userId are required")
    if not (user_id or anonymous_id):
        raise InvalidPayload("anonymousId or userId is required")
    ignored: dict[str, Any] = {}
    context = _merge(batch_context, obj(message.get("context"), "context"))
    traits = _within_64_bits(obj(context.get("traits"), "context.traits"), "context.traits", ignored)
    if call_type == "identify":
        traits = {**traits, **_within_64_bits(obj(message.get("traits"), "traits"), "traits", ignored)}
    props = _Props(_within_64_bits(obj(message.get("properties"), "properties"), "properties", ignored), ignored)
    name = call_type
    if call_type == "track":
        event = message.get("event")
        if event is None or event == "" or (isinstance(event, str) and not event.strip()):
            raise InvalidPayload("track: event is required")
        if not isinstance(event, str):
            raise InvalidPayload(f"track: event must be a string, got {type(event).__name__}")
        name = event.strip()
        if len(name) > MAX_EVENT_NAME_CHARS:
            raise InvalidPayload(f"track: the event name is longer than {MAX_EVENT_NAME_CHARS} characters")
    env = Envelope(shop, SourceKind.TRACKER, name, _message_id(message), received_at)
    email = text(traits.get("email")) if isinstance(traits.get("email"), str) else None
    if email is None and traits.get("email") not in (None, ""):
        ignored["traits.email"] = {"value": traits["email"], "reason": "an email address must be a string"}
    if email is None and call_type == "track" and _TRACK.get(_normal(name), (None,))[0] in _BUYER_TYPES:
        # A track call's properties.email is usually someone else's (a shared product, a referral);
        # only the e-commerce events where the caller is the buyer name the caller by it.
        email = props.text("email")
        if email is None and props.data.get("email") not in (None, ""):
            props.ignore("email", props.data["email"], "an email address must be a string")
    customer = {"customer_id": user_id, "anonymous_id": anonymous_id, "email": _email(email)}
    occurred_at = _occurred_at(message, received_at, batch_sent_at, ignored)
    return _Call(env, occurred_at, customer, context, props, traits, currency, ignored)


def _within_64_bits(value: Any, path: str, ignored: dict[str, Any]) -> Any:
    """``value`` without the integers that do not fit 64 bits (EventBridge and most JSON readers cannot
    hold them): each is recorded in ``ignored`` under its path, as text, with the reason. In a list it
    leaves a null, so the other entries keep their places. Unchanged values are returned as they are."""
    if _huge(value):
        ignored[path] = {"value": str(value), "reason": _HUGE_REASON}
        return None
    if isinstance(value, dict):
        if not any(_huge(v) or isinstance(v, dict | list) for v in value.values()):
            return value
        kept = {}
        for key, item in value.items():
            tamed = _within_64_bits(item, f"{path}.{key}", ignored)
            if tamed is not None or item is None:
                kept[key] = tamed
        return kept
    if isinstance(value, list):
        if not any(_huge(v) or isinstance(v, dict | list) for v in value):
            return value
        return [_within_64_bits(item, f"{path}.{index}", ignored) for index, item in enumerate(value)]
    return value


_HUGE_REASON = "an integer beyond 64 bits cannot be stored; send it as a string"


def _huge(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and not -INT64 <= value < INT64


def _email(value: str | None) -> str | None:
    """The email as sent, for ``CustomerRefs`` to check (``emma.addresses``), as webhooks' are: an
    invalid one ("lena at example", no ``@``, no dot in the domain, a line break) is kept in the
    event's ``customer.invalid`` with the reason and lands on the profile's ``invalid_addresses``,
    never as its email or an alias. Blank is no email at all."""
    if value is None or not value.strip():
        return None
    return value


def _identity(message: dict[str, Any], key: str) -> str | None:
    """Ids are strings or integers; true/false or objects would merge unrelated visitors."""
    value = message.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidPayload(f"{key}: expected a string or an integer, got {type(value).__name__}")
    value = str(value).strip()
    if len(value) > MAX_IDENTITY_CHARS:
        raise InvalidPayload(f"{key}: at most {MAX_IDENTITY_CHARS} characters")
    return value or None


def _message_id_of(message: dict[str, Any]) -> str | None:
    value = message.get("messageId")
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def _message_id(message: dict[str, Any]) -> str:
    value = message.get("messageId")
    if value is None or value == "":
        unsigned = {k: v for k, v in message.items() if k not in ("sentAt", "writeKey")}
        return "sha256:" + hashlib.sha256(_canonical_json(unsigned)).hexdigest()
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidPayload(f"messageId: expected a string, got {type(value).__name__}")
    message_id = str(value)
    if len(message_id) > MAX_MESSAGE_ID_CHARS:
        raise InvalidPayload(f"messageId is longer than {MAX_MESSAGE_ID_CHARS} characters")
    return message_id


def _occurred_at(
    message: dict[str, Any], received_at: datetime, batch_sent_at: datetime | None, ignored: dict[str, Any]
) -> datetime:
    """When the call happened: the client's ``timestamp`` (else ``originalTimestamp``), corrected by the
    client's clock skew (``sentAt`` against our receipt), never later than its receipt. A time that is
    well-formed but cannot be placed in years 1-9999 UTC, or a skew correction that would leave them,
    is not a reason to lose the call: the call keeps the time it was received, and ``ignored`` says why.
    A time that is not ISO 8601 at all still refuses the call (the field is of the wrong type)."""
    client_time = _time(message, "timestamp", ignored) or _time(message, "originalTimestamp", ignored)
    sent_at = _time(message, "sentAt", ignored) or batch_sent_at
    if client_time is None:
        return received_at
    if sent_at is not None:
        try:
            client_time += received_at - sent_at
        except OverflowError:
            ignored["timestamp"] = {
                "value": message.get("timestamp") or message.get("originalTimestamp"),
                "reason": "timestamp and sentAt are too far apart to correct the clock skew; the time received is used",
            }
            return received_at
    return min(client_time, received_at)


def _time(message: dict[str, Any], field: str, ignored: dict[str, Any]) -> datetime | None:
    try:
        return timestamp(message.get(field), field)
    except InvalidPayload as exc:
        if not isinstance(exc.__cause__, OverflowError):
            raise
        ignored[field] = {"value": message.get(field), "reason": f"{exc.message}; the time received is used"}
        return None


def _batch_sent_at(value: Any) -> datetime | None:
    """A batch's ``sentAt``: out of years 1-9999 UTC it corrects no call's clock (nothing is refused for it)."""
    try:
        return timestamp(value, "sentAt")
    except InvalidPayload as exc:
        if isinstance(exc.__cause__, OverflowError):
            return None
        raise


def _kept_context(context: dict[str, Any]) -> dict[str, Any]:
    page = context.get("page") if isinstance(context.get("page"), dict) else {}
    campaign = context.get("campaign") if isinstance(context.get("campaign"), dict) else {}
    library = context.get("library") if isinstance(context.get("library"), dict) else {}
    kept = {
        "ip": _scalar(context.get("ip")),
        "user_agent": _scalar(context.get("userAgent")),
        "locale": _scalar(context.get("locale")),
        "timezone": _scalar(context.get("timezone")),
        "page_url": _scalar(page.get("url")),
        "library": " ".join(filter(None, (_scalar(library.get("name")), _scalar(library.get("version"))))) or None,
        **{key: _scalar(campaign.get(field)) for key, field in _UTM_KEYS.items()},
    }
    return {key: value[:2048] for key, value in kept.items() if value is not None}


def _scalar(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


# ---- identify and customers ------------------------------------------------------------------


def _identify(call: _Call) -> list[CanonicalEvent]:
    consents = _consent_events(call, call.traits, "tracker:identify")
    props = _customer_props(call.traits, call.context, call.ignored)
    return [call.lenient_event(EventType.CUSTOMER_IDENTIFIED, props, {}), *consents]


def _customer_props(traits: dict[str, Any], context: dict[str, Any], ignored: dict[str, Any]) -> dict[str, Any]:
    """The named fields and the other traits. A named trait that is no string or number (a list, an
    object, true/false) is recorded in ``ignored`` with the reason (email: see ``_read_call``)."""
    for key in sorted(_NAMED_TRAITS - {"email"}):
        value = traits.get(key)
        if value not in (None, "") and not isinstance(value, str) and _scalar(value) is None:
            ignored[f"traits.{key}"] = {"value": value, "reason": "expected a string"}
    address = traits.get("address") if isinstance(traits.get("address"), dict) else {}
    return {
        "first_name": _scalar(_first(traits, "firstName", "first_name")),
        "last_name": _scalar(_first(traits, "lastName", "last_name")),
        "phone": _scalar(traits.get("phone")),
        "locale": _scalar(traits.get("locale")) or _scalar(context.get("locale")),
        "timezone": _scalar(traits.get("timezone")) or _scalar(context.get("timezone")),
        "country": _scalar(address.get("country")),
        "city": _scalar(address.get("city")),
        "traits": {k: v for k, v in traits.items() if k not in _NAMED_TRAITS and not _is_consent_trait(k, v)},
    }


def _is_consent_trait(key: str, value: Any) -> bool:
    """Boolean opt-in traits become consent events; anything else under those names stays a trait."""
    return key in _CONSENT_TRAITS.values() and isinstance(value, bool)


def _consent_events(call: _Call, traits: dict[str, Any], source: str) -> list[CanonicalEvent]:
    given = call.context.get("consent") if isinstance(call.context.get("consent"), dict) else {}
    events = []
    for channel, trait in _CONSENT_TRAITS.items():
        entry = given.get(channel) if isinstance(given.get(channel), dict) else {}
        granted = entry.get("granted", traits.get(trait))
        if granted is None:
            continue
        double_opt_in = entry.get("double_opt_in", False)
        if not isinstance(granted, bool) or not isinstance(double_opt_in, bool):
            call.ignored[f"consent.{channel}"] = {
                "value": {"granted": granted, "double_opt_in": double_opt_in},
                "reason": "granted and double_opt_in must be true or false: no consent was recorded",
            }
            continue
        wording = entry.get("wording")
        proof = {
            "source": source,
            "at": call.occurred_at,
            "wording": wording[:2000] if isinstance(wording, str) else None,
            "double_opt_in": double_opt_in,
            "ip": _scalar(call.context.get("ip")),
        }
        props = {"channel": channel, "granted": granted, "proof": proof}
        events.append(call.event(EventType.CONSENT_CHANGED, props, suffix=f":consent:{channel}"))
    return events


# ---- page and screen -------------------------------------------------------------------------


def _page(call: _Call, message: dict[str, Any]) -> CanonicalEvent:
    page = call.context.get("page") if isinstance(call.context.get("page"), dict) else {}
    p = call.props

    def pick(key: str) -> str | None:
        return p.text(key) or _scalar(page.get(key))

    props = {
        "url": pick("url"),
        "path": pick("path"),
        "title": pick("title"),
        "referrer": pick("referrer"),
        "name": _scalar(message.get("name")) or p.text("name"),
        "category": _scalar(message.get("category")) or p.text("category"),
    }
    return call.lenient_event(EventType.PAGE_VIEWED, props, p.rest())


# ---- track -----------------------------------------------------------------------------------


def _normal(name: str) -> str:
    """``Order Completed``, ``order_completed``, ``orderCompleted``, `` ORDER-COMPLETED `` -> ``order completed``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return " ".join(re.sub(r"[_\-.:/]+", " ", spaced).lower().split())


def _track(call: _Call) -> list[CanonicalEvent]:
    name = call.env.name
    known = _TRACK.get(_normal(name))
    if known is None:
        return [call.custom(name, call.properties)]
    type_, build = known
    if build is _refund and _whole_order_refund(call):
        type_, build = EventType.ORDER_CANCELLED, _cancellation
    noted = dict(call.ignored)  # what reading the call noted; the builder's notes go with its event
    try:
        consents = (
            _consent_events(call, {**call.traits, **call.properties}, f"tracker:{name}")
            if type_ is EventType.CUSTOMER_REGISTERED
            else []
        )
        props, rest = build(call)
        return [call.lenient_event(type_, props, rest), *consents]
    except InvalidPayload as exc:
        call.ignored.clear()  # the custom event keeps the properties as sent, the reason says why
        call.ignored.update(noted)
        return [call.custom(name, call.properties, f"not stored as {type_}: {exc.message}")]


_Mapped = tuple[dict[str, Any], dict[str, Any]]  # (canonical properties, what is kept in extra)


def _product_viewed(call: _Call) -> _Mapped:
    """The product at the top level of ``properties`` (Segment), else the first of ``products`` /
    ``items`` (GA4's view_item); the other fields come from wherever they are."""
    p = call.props
    product = {**_product_fields(p), "price": p.number("price"), "url": p.text("url")}
    listed = p.raw("products", "items", kind=list) if not product["product_id"] else None
    if listed and isinstance(listed[0], dict):
        first = _Props(listed[0], p.ignored, "products.0.")
        found = {**_product_fields(first), "price": first.number("price"), "url": first.text("url")}
        product = {key: found.get(key) or value for key, value in product.items()}
        p.products_rest = [first.rest(), *listed[1:]]
    elif listed is not None:
        p.used -= {"products", "items"}
    product["currency"] = _currency(p)
    return {"product": _without_none(product)}, p.rest()


def _products_searched(call: _Call) -> _Mapped:
    p = call.props
    return {"query": p.text("query", "search_term", "searchTerm", "keywords", "q"), "category": p.text("category")}, (
        p.rest()
    )


_ADD = frozenset({"product added", "added product", "add to cart", "added to cart", "product added to cart"})
_ADD |= {"wishlist product added to cart"}
_REMOVE = frozenset({"product removed", "removed product", "remove from cart", "removed from cart"})
_REMOVE |= {"product removed from cart"}


def _cart(call: _Call) -> _Mapped:
    p = call.props
    normal = _normal(call.env.name)
    action = "add" if normal in _ADD else "remove" if normal in _REMOVE else "replace"
    props = {
        "action": action,
        "cart_id": p.text("cart_id", "cartId"),
        "items": _line_items(p),
        "value": p.number("value", "revenue", "total"),
        "currency": _currency(p),
    }
    return props, p.rest()


def _checkout_started(call: _Call) -> _Mapped:
    """The checkout's id (``checkout_id``, else ``order_id``) is the event's ``cart_id``, as Shopify's
    checkouts carry their own token; a ``cart_id`` sent beside it stays in ``extra`` (it links the
    cart to this checkout). Without a checkout id, the cart's id is used."""
    p = call.props
    props, _ = _cart(call)
    checkout_id = p.text("checkout_id", "checkoutId", "order_id", "orderId")
    if checkout_id is not None:
        p.used -= {"cart_id", "cartId"}
        props["cart_id"] = checkout_id
    return {**props, "action": "replace"}, p.rest()


def _order(call: _Call) -> _Mapped:
    """An order; without ``total`` / ``revenue`` / ``value``, the total is the sum of its products'
    price x quantity (quantity 1 when absent), provided every product states a price."""
    p = call.props
    coupon = p.text("coupon", "coupon_code", "coupon_id")
    total = p.number("total", "revenue", "value")
    props = {
        "order_id": p.text("order_id", "orderId", "transaction_id", "transactionId", "checkout_id"),
        "order_number": p.text("order_number", "orderNumber"),
        "currency": _currency(p, call.currency),
        "subtotal": p.number("subtotal"),
        "discount_total": p.number("discount"),
        "items": _line_items(p),
        "discount_codes": [coupon] if coupon else [],
    }
    props["total"] = total if total is not None else _products_total(p)
    return props, p.rest()


def _cancellation(call: _Call) -> _Mapped:
    """Order Cancelled, and a refund of the whole order: the order stops counting. Cancelling needs
    the order's id only (the profile's record of the order knows its total): without a total, 0
    stands in for it, said in ``extra["_assumed"]``."""
    props, rest = _order(call)
    if props["total"] is None and props["order_id"]:
        props["total"] = Decimal(0)
        rest[ASSUMED] = {"total": "no total was sent: 0 stands in; the order's own recorded total stops counting"}
    return props, rest


_REFUND_EXTENT = ("total", "revenue", "value", "amount", "products", "items")


def _whole_order_refund(call: _Call) -> bool:
    """A refund naming no amount and no products (the spec's order_id alone, GA4's refund without
    items) refunds the whole order: it is the order's cancellation (``order.cancelled``), so whatever
    listens for cancellations (journeys that exit on one) hears it."""
    return not any(call.properties.get(key) not in (None, "", [], {}) for key in _REFUND_EXTENT)


def _refund(call: _Call) -> _Mapped:
    """Order Refunded naming an amount or products: ``order.refunded``. The amount is ``total`` /
    ``revenue`` / ``value`` / ``amount`` (a negative one, as data layers send refunds, read as its
    size), else the sum of the refunded products' price x quantity. Whether it covers the whole order
    is for the profile to decide (it knows the order's total). ``refund_id`` tells two refunds of one
    order apart (without it, two refunds of equal amount and products are taken for one)."""
    p = call.props
    amount = p.number("total", "revenue", "value", "amount")
    props = {
        "order_id": p.text("order_id", "orderId", "transaction_id", "transactionId", "checkout_id"),
        "refund_id": p.text("refund_id", "refundId"),
        "currency": _currency(p, call.currency),
        "items": _line_items(p),
    }
    props["amount"] = abs(amount) if amount is not None else _products_total(p)
    return props, p.rest()


def _coupon_applied(call: _Call) -> _Mapped:
    p = call.props
    props = {
        "code": p.text("coupon_id", "coupon_name", "coupon", "coupon_code", "code"),
        "order_id": p.text("order_id", "orderId"),
        "amount": p.number("discount"),
        "currency": _currency(p),
    }
    return props, p.rest()


def _signed_up(call: _Call) -> _Mapped:
    """Signed Up's properties describe the person who signed up: they are taken as traits."""
    p = call.props
    p.used |= set(p.data)
    return _customer_props({**call.traits, **p.data}, call.context, call.ignored), {}


def _product_reviewed(call: _Call) -> _Mapped:
    p = call.props
    return {"product_id": p.text("product_id", "productId", "id", "sku"), "rating": p.number("rating")}, p.rest()


def _push(call: _Call) -> _Mapped:
    p = call.props
    props = {
        "message_id": p.text("message_id", "messageId", "campaign_id"),
        "journey": p.text("journey"),
        "template": p.text("template"),
        "url": p.text("url", "deep_link", "link"),
    }
    return props, p.rest()


def _tutorial(call: _Call) -> _Mapped:
    p = call.props
    completion = p.number("completion", "progress", "percent_complete")
    if completion is not None and 1 < completion <= 100:
        completion = completion / 100  # sent as a percentage
    props = {
        "tutorial_id": p.text("tutorial_id", "tutorialId", "tutorial", "tutorial_name", "video_id", "id", "name"),
        "topic": p.text("topic"),
        "product_id": p.text("product_id", "productId"),
        "category": p.text("category"),
        "completion": float(completion) if completion is not None else None,
    }
    return props, p.rest()


def _survey_answered(call: _Call) -> _Mapped:
    p = call.props
    props = {
        "survey_id": p.text("survey_id", "surveyId", "survey", "survey_name", "id", "name"),
        "score": _float(p.number("score", "rating", "nps")),
        "answers": p.raw("answers", "responses", kind=dict),
    }
    return props, p.rest()


def _referral_made(call: _Call) -> _Mapped:
    p = call.props
    referred = p.text("referred_email", "referredEmail", "friend_email", "email")
    props = {
        "referral_code": p.text("referral_code", "referralCode", "code"),
        "referred_email": referred.lower() if referred else None,
    }
    return props, p.rest()


_Builder = Callable[[_Call], _Mapped]


def _names(*names: str) -> tuple[str, ...]:
    return tuple(_normal(n) for n in names)


_EVENT_NAMES: list[tuple[tuple[str, ...], EventType, _Builder]] = [
    (
        _names("Product Viewed", "Viewed Product", "view_item"),
        EventType.PRODUCT_VIEWED,
        _product_viewed,
    ),
    (
        _names("Products Searched", "Searched Products", "Product Searched", "Search", "view_search_results"),
        EventType.SEARCH_PERFORMED,
        _products_searched,
    ),
    (tuple(_ADD | _REMOVE) + _names("Cart Viewed", "Viewed Cart", "view_cart"), EventType.CART_UPDATED, _cart),
    (
        _names("Checkout Started", "Started Checkout", "begin_checkout", "Initiate Checkout", "Checkout Initiated"),
        EventType.CHECKOUT_STARTED,
        _checkout_started,
    ),
    (
        _names("Order Completed", "Completed Order", "Order Placed", "Placed Order", "Purchase", "Purchased"),
        EventType.ORDER_PLACED,
        _order,
    ),
    (_names("Order Cancelled", "Order Canceled"), EventType.ORDER_CANCELLED, _cancellation),
    (_names("Order Refunded", "Refund", "Refunded Order"), EventType.ORDER_REFUNDED, _refund),
    (_names("Coupon Applied", "Applied Coupon", "Coupon Redeemed"), EventType.COUPON_REDEEMED, _coupon_applied),
    (_names("Signed Up", "Sign Up", "Account Created"), EventType.CUSTOMER_REGISTERED, _signed_up),
    (_names("Product Reviewed", "Review Submitted", "Reviewed Product"), EventType.REVIEW_SUBMITTED, _product_reviewed),
    (
        _names("Tutorial Watched", "Tutorial Viewed", "Tutorial Completed"),
        EventType.TUTORIAL_WATCHED,
        _tutorial,
    ),
    (_names("Survey Answered", "Survey Submitted", "Survey Completed"), EventType.SURVEY_ANSWERED, _survey_answered),
    (_names("Referral Made", "Referral Sent", "Friend Referred"), EventType.REFERRAL_MADE, _referral_made),
    (
        _names("Push Notification Tapped", "Push Notification Opened", "Push Opened"),
        EventType.PUSH_CLICKED,
        _push,
    ),
    (_names("Push Notification Received"), EventType.PUSH_DELIVERED, _push),
]
_TRACK: dict[str, tuple[EventType, _Builder]] = {
    name: (type_, build) for names, type_, build in _EVENT_NAMES for name in names
}
_BUYER_TYPES = frozenset(
    {
        EventType.ORDER_PLACED,
        EventType.CHECKOUT_STARTED,
        EventType.CUSTOMER_REGISTERED,
        EventType.ORDER_CANCELLED,
        EventType.ORDER_REFUNDED,
    }
)


# ---- products --------------------------------------------------------------------------------


def _product_fields(p: _Props) -> dict[str, Any]:
    return {
        "product_id": p.text("product_id", "productId", "item_id", "id", "sku"),
        "sku": p.text("sku"),
        "name": p.text("name", "item_name", "product_name"),
        "category": p.text("category", "item_category"),
        "brand": p.text("brand", "item_brand"),
    }


def _line_items(p: _Props) -> list[dict[str, Any]]:
    """``products[]`` (or GA4's ``items[]``), else the single product at the top level (Product
    Added / Removed). Each product's unused fields are kept (``p.rest()["products"]``, one entry per
    product, in order); a product without any id is kept there whole."""
    products = p.raw("products", "items", kind=list)
    if products is None:
        item = _line_item(p)
        return [item] if item.get("product_id") else []
    items: list[dict[str, Any]] = []
    leftovers: list[Any] = []
    for index, product in enumerate(products):
        if not isinstance(product, dict):
            leftovers.append(product)
            continue
        reader = _Props(product, p.ignored, f"products.{index}.")
        item = _line_item(reader)
        if item.get("product_id"):
            items.append(item)
            leftovers.append(reader.rest())
        else:
            leftovers.append(product)
    p.products_rest = leftovers
    return items


def _line_item(p: _Props) -> dict[str, Any]:
    quantity = p.number("quantity", "qty")
    item = {
        **_product_fields(p),
        "variant_id": p.text("variant_id", "variantId"),
        "quantity": int(quantity) if quantity is not None and quantity == quantity.to_integral_value() else None,
        "price": p.number("price"),
    }
    if quantity is not None and item["quantity"] is None:
        p.used.discard("quantity")
        p.used.discard("qty")
    return _without_none(item)


def _currency(p: _Props, fallback: str | None = None) -> str | None:
    """An ISO 4217 code (any case); anything else ("Euro", "€") is recorded in ``extra["_ignored"]``
    and ``fallback`` (orders: the shop's currency) is used, as for a missing one."""
    currency = p.text("currency")
    if currency is None:
        return fallback
    if _ISO_CURRENCY.match(currency):
        return currency.upper()
    instead = f"the shop's currency {fallback} was assumed" if fallback else "left out"
    p.ignore("currency", p.data.get("currency"), f"not an ISO 4217 currency code (three letters); {instead}")
    return fallback


def _products_total(p: _Props) -> Decimal | None:
    """The sum of the products' price x quantity, or None unless every product states a price (and a
    whole quantity, 1 when absent)."""
    key = "products" if "products" in p.used else "items" if "items" in p.used else None
    products = p.data.get(key) if key else None
    if not products:
        return None
    total = Decimal(0)
    try:
        for product in products:
            if not isinstance(product, dict):
                return None
            price = _decimal(product.get("price"))
            quantity = _decimal(_first(product, "quantity", "qty") or 1)
            if price is None or quantity is None or quantity < 0 or quantity != quantity.to_integral_value():
                return None
            total += price * quantity
        # An amount beyond what money holds is left to the event model, which refuses it as a value.
        return total.quantize(Decimal("0.0001")) if abs(total) < Decimal(10) ** 10 else total
    except ArithmeticError:  # decimal overflow (prices like 1e999999) is no amount at all
        return None


def _float(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


# ---- small helpers ---------------------------------------------------------------------------


def _merge(under: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of two JSON objects; ``over`` wins."""
    merged = dict(under)
    for key, value in over.items():
        below = merged.get(key)
        merged[key] = _merge(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return merged


def _first(values: dict[str, Any], *keys: str) -> Any:
    """The first of ``keys`` with a value (0 and False count)."""
    return next((values[key] for key in keys if values.get(key) not in (None, "")), None)


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _canonical_json(value: Any) -> bytes:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidPayload(f"message has text that is not valid Unicode ({exc.reason})") from exc
