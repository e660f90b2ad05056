"""Folding canonical events into a profile, and merging two profiles. Pure: no I/O, no clock.

Events may arrive out of order (webhook retries, offline trackers): every rule here is written so
the result does not depend on arrival order where that is cheap to guarantee (first/last times are
min/max, consent and traits keep the newest statement, order accounting is keyed by order id).
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from emma.addresses import check_phone, shown
from emma.events.model import (
    CanonicalEvent,
    CartEvent,
    CatalogEvent,
    Channel,
    ConsentEvent,
    ConsentProof,
    CouponEvent,
    CustomerEvent,
    CustomerRefs,
    CustomEvent,
    EventType,
    InvalidAddress,
    LineItem,
    MessageEvent,
    OrderEvent,
    PageEvent,
    ProductViewEvent,
    ReferralEvent,
    RefundEvent,
    RefundProps,
    ReviewEvent,
    SearchEvent,
    SourceKind,
    SurveyEvent,
    TutorialEvent,
)
from emma.predict.history import combine, summarise
from emma.profiles.model import (
    MAX_AFFINITY_KEYS,
    MAX_CONTENT_SENT,
    MAX_COUNTED_IDS,
    MAX_COUPONS,
    MAX_EVENT_TIMES,
    MAX_IDS_PER_KIND,
    MAX_INVALID_ADDRESSES,
    MAX_PRODUCTS_OWNED,
    MAX_RECENT_ORDERS,
    MAX_RECOMMENDED,
    MAX_REFUNDS_PER_ORDER,
    MAX_TOPICS,
    MAX_TRAITS,
    MAX_TUTORIALS,
    Affinity,
    Cart,
    ChannelStats,
    ConsentState,
    ContentSent,
    InvalidAddressSeen,
    OrderRecord,
    OrderStats,
    OwnedProduct,
    PauseState,
    Profile,
    Recommended,
    Suppression,
    Trait,
)
from emma.profiles.upgrade import estimate_upgrade

# Interest weights per signal: a purchase says more than a view.
WEIGHT_VIEW = 1.0
WEIGHT_SEARCH = 1.0
WEIGHT_CLICK = 2.0
WEIGHT_READ = 3.0  # a content block read on the shop's site (its page viewed after Emma sent it)
WEIGHT_TUTORIAL = 2.0
WEIGHT_CART = 3.0
WEIGHT_PURCHASE = 5.0

_STATUS_ORDER = ("placed", "paid", "fulfilled", "cancelled")
MAX_TRAIT_CHARS = 256
# An address is about 150 bytes; 100 traits of 1 KB at most keep the profile far below DynamoDB's 400 KB.
MAX_NESTED_TRAIT_BYTES = 1024
MAX_CART_ITEMS = 100
MAX_ORDER_ITEMS = 50

_MESSAGE_CHANNEL = {
    EventType.EMAIL_SENT: (Channel.EMAIL, "sent"),
    EventType.SMS_SENT: (Channel.SMS, "sent"),
    EventType.PUSH_SENT: (Channel.PUSH, "sent"),
    EventType.EMAIL_DELIVERED: (Channel.EMAIL, "delivered"),
    EventType.EMAIL_OPENED: (Channel.EMAIL, "opened"),
    EventType.EMAIL_CLICKED: (Channel.EMAIL, "clicked"),
    EventType.EMAIL_BOUNCED: (Channel.EMAIL, "bounced"),
    EventType.EMAIL_COMPLAINED: (Channel.EMAIL, "complained"),
    EventType.SMS_DELIVERED: (Channel.SMS, "delivered"),
    EventType.SMS_CLICKED: (Channel.SMS, "clicked"),
    EventType.PUSH_DELIVERED: (Channel.PUSH, "delivered"),
    EventType.PUSH_CLICKED: (Channel.PUSH, "clicked"),
}


# Counters count things, not deliveries: an event of these types counts once per business id (the
# same Shopify order under 50 webhook ids is one order.placed). Kind of id and the letter that marks
# the type counted for that id in ``profile.counted[kind][id]``.
_COUNTED: dict[EventType, tuple[str, str]] = {
    EventType.ORDER_PLACED: ("order", "p"),
    EventType.ORDER_PAID: ("order", "a"),
    EventType.ORDER_FULFILLED: ("order", "f"),
    EventType.ORDER_CANCELLED: ("order", "c"),
    EventType.ORDER_REFUNDED: ("refund", "r"),  # once per refund of an order (see _refund_key)
    EventType.COUPON_REDEEMED: ("coupon", "r"),
    EventType.EMAIL_SENT: ("email", "s"),
    EventType.EMAIL_DELIVERED: ("email", "d"),
    EventType.EMAIL_OPENED: ("email", "o"),
    EventType.EMAIL_CLICKED: ("email", "k"),
    EventType.EMAIL_BOUNCED: ("email", "b"),
    EventType.EMAIL_COMPLAINED: ("email", "c"),
    EventType.EMAIL_UNSUBSCRIBED: ("email", "u"),
    EventType.SMS_SENT: ("sms", "s"),
    EventType.SMS_DELIVERED: ("sms", "d"),
    EventType.SMS_CLICKED: ("sms", "k"),
    EventType.PUSH_SENT: ("push", "s"),
    EventType.PUSH_DELIVERED: ("push", "d"),
    EventType.PUSH_CLICKED: ("push", "k"),
}
_COUNTED_TYPE = {kind_letter: type_ for type_, kind_letter in _COUNTED.items()}
MAX_COUNTED_KEY_CHARS = 40


# ---- small helpers --------------------------------------------------------------------------


def _add_id(ids: list[str], value: str | None) -> None:
    """Keep ids unique; the first one stays the primary, the newest are kept when bounded."""
    if not value or value in ids:
        return
    ids.append(value)
    if len(ids) > MAX_IDS_PER_KIND:
        del ids[1 : len(ids) - MAX_IDS_PER_KIND + 1]


def _remember_time(times: list[int], t: int) -> None:
    """Insert in order, keep the newest MAX_EVENT_TIMES (late events land in their place)."""
    bisect.insort(times, t)
    if len(times) > MAX_EVENT_TIMES:
        del times[: len(times) - MAX_EVENT_TIMES]


def add_identities(profile: Profile, refs: CustomerRefs) -> None:
    """Valid references only: an invalid address never becomes an email or phone of the profile
    (``refs.invalid`` is recorded by ``note_invalid``)."""
    _add_id(profile.customer_ids, refs.customer_id)
    _add_id(profile.emails, refs.email)
    _add_id(profile.anonymous_ids, refs.anonymous_id)
    _add_id(profile.phones, refs.phone)


def note_invalid(profile: Profile, found: InvalidAddress, source: str, at: datetime) -> None:
    """Remember an invalid address with its reason, where and when it was seen (once per value)."""
    _remember_invalid(
        profile.invalid_addresses,
        InvalidAddressSeen(
            kind=found.kind, value=found.value, reason=found.reason, source=source, first_seen_at=at, last_seen_at=at
        ),
    )


def _remember_invalid(known: list[InvalidAddressSeen], found: InvalidAddressSeen) -> None:
    mine = next((a for a in known if a.kind == found.kind and a.value == found.value), None)
    if mine is None:
        known.append(found.model_copy())
    else:
        if found.last_seen_at >= mine.last_seen_at:
            mine.last_seen_at, mine.source, mine.reason = found.last_seen_at, found.source, found.reason
        mine.first_seen_at = min(mine.first_seen_at, found.first_seen_at)
    known.sort(key=lambda a: a.last_seen_at)
    del known[: max(0, len(known) - MAX_INVALID_ADDRESSES)]


def _counting_key(event: CanonicalEvent) -> tuple[str, str, str] | None:
    """(kind, business id, letter) of an event that counts once per business id, else None."""
    found = _COUNTED.get(event.type)
    if found is None:
        return None
    kind, letter = found
    business_id: str | None = None
    match event:
        case OrderEvent():
            business_id = event.properties.order_id
        case RefundEvent():
            business_id = _refund_key(event.properties)
        case CouponEvent():  # once per order and code; a code redeemed without an order counts each time
            if event.properties.order_id:
                business_id = f"{event.properties.order_id}|{event.properties.code}"
        case MessageEvent():
            business_id = event.properties.message_id
    if not business_id:
        return None
    return kind, _short_key(business_id), letter


def _refund_key(props: RefundProps) -> str:
    """What tells one refund of an order from another, so that each is applied once however often it
    is delivered: the order id and the source's refund id (Shopify, WooCommerce); without a refund id
    (tracker calls), the amount and the products refunded with their quantities. Two refunds of one
    order for the same amount and the same products, neither with an id, are therefore one refund:
    a tracker that refunds twice alike sends a ``refund_id``."""
    if props.refund_id:
        return f"{props.order_id}|id:{props.refund_id}"
    items = ",".join(sorted(f"{i.product_id}:{max(i.quantity, 1)}" for i in props.items))
    return f"{props.order_id}|{format(props.amount.normalize(), 'f')}|{items}"


def _short_key(value: str) -> str:
    """The id itself when short, else ``#`` and a 96-bit digest: bounded keys on the profile."""
    if len(value) <= MAX_COUNTED_KEY_CHARS:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()[:12]
    return "#" + base64.urlsafe_b64encode(digest).decode("ascii")


def _counts(profile: Profile, event: CanonicalEvent) -> bool:
    """Whether ``event`` is the first of its type for its business id (so it changes the counters),
    remembering that it was counted. Events without a business id always count."""
    key = _counting_key(event)
    if key is None:
        return True
    kind, business_id, letter = key
    ids = profile.counted.setdefault(kind, {})
    letters = ids.get(business_id, "")
    if letter in letters:
        return False
    ids[business_id] = letters + letter
    if len(ids) > MAX_COUNTED_IDS[kind]:  # the oldest ids go first (dicts keep insertion order)
        del ids[next(iter(ids))]
    return True


def _bump(
    table: dict[str, Affinity], key: str | None, weight: float, at: datetime, via: str | None, *, fold: bool = True
) -> None:
    """Add ``weight`` to the interest in ``key``. Categories, brands and topics are compared without
    case (``fold``); product ids are kept as the shop spells them, so they still name catalog items."""
    if not key:
        return
    key = key.strip()[:128]
    key = key.lower() if fold else key
    if not key:
        return
    current = table.get(key)
    if current is None:
        table[key] = Affinity(score=weight, at=at, via=via)
    elif at >= current.at:
        table[key] = Affinity(score=current.decayed(at) + weight, at=at, via=via or current.via)
    else:  # an older signal arriving late: decay it to the stored time before adding
        late = Affinity(score=weight, at=at).decayed(current.at)
        table[key] = Affinity(score=current.score + late, at=current.at, via=current.via or via)
    if len(table) > MAX_AFFINITY_KEYS:
        weakest = min(table, key=lambda k: table[k].decayed(at))
        del table[weakest]


def _interest(
    profile: Profile,
    weight: float,
    at: datetime,
    *,
    category: str | None = None,
    brand: str | None = None,
    product_id: str | None = None,
    topic: str | None = None,
    via: str | None = None,
) -> None:
    aff = profile.affinities
    _bump(aff.categories, category, weight, at, via)
    _bump(aff.brands, brand, weight, at, via)
    _bump(aff.products, product_id, weight, at, via, fold=False)
    _bump(aff.topics, topic, weight, at, via)


def _items_interest(profile: Profile, items: Iterable[LineItem], weight: float, at: datetime, via: str) -> None:
    for item in items:
        _interest(profile, weight, at, category=item.category, brand=item.brand, product_id=item.product_id, via=via)


def _set_trait(profile: Profile, name: str, value: object, at: datetime) -> None:
    if value is None or value == "":
        return
    if isinstance(value, str) and len(value) > MAX_TRAIT_CHARS:
        value = value[:MAX_TRAIT_CHARS]  # traits are for personalisation, not storage
    current = profile.traits.get(name)
    if current is not None and current.at > at:
        return
    if current is None and len(profile.traits) >= MAX_TRAITS:
        return
    profile.traits[name] = Trait(value=value, at=at)


def _next_consent(current: ConsentState | None, granted: bool, proof: ConsentProof) -> ConsentState | None:
    """The state after a statement, or None when it changes nothing: an older statement than the one
    recorded, or a grant without double opt-in repeating a grant confirmed by it (a shop restating
    "subscribed" does not undo the customer's confirmation). ``since`` carries over while the state
    (granted or not) stays the same."""
    if current is not None and current.proof.at > proof.at:
        return None  # a newer statement is already recorded
    if current is not None and current.granted and granted:
        if current.proof.double_opt_in and not proof.double_opt_in:
            return None
        return ConsentState(granted=True, proof=proof, since=current.started, confirm_required=current.confirm_required)
    if current is not None and not current.granted and not granted:
        return ConsentState(granted=False, proof=proof, since=current.started)
    return ConsentState(granted=granted, proof=proof, since=proof.at)


def _set_consent(profile: Profile, channel: Channel, granted: bool, proof: ConsentProof) -> None:
    state = _next_consent(profile.consent.get(channel), granted, proof)
    if state is not None:
        profile.consent[channel] = state


def _set_topic(profile: Profile, topic: str, granted: bool, proof: ConsentProof) -> None:
    current = profile.topic_consent.get(topic)
    if current is None and len(profile.topic_consent) >= MAX_TOPICS:
        return
    state = _next_consent(current, granted, proof)
    if state is not None:
        profile.topic_consent[topic] = state


def _set_pause(profile: Profile, until: datetime, proof: ConsentProof) -> None:
    if profile.pause is not None and profile.pause.proof.at > proof.at:
        return
    profile.pause = PauseState(until=until, proof=proof)


# ---- per event family -----------------------------------------------------------------------


def _customer(profile: Profile, event: CustomerEvent) -> None:
    props = event.properties
    at = event.occurred_at
    for name in ("first_name", "last_name", "phone", "locale", "timezone", "country", "city"):
        _set_trait(profile, name, getattr(props, name), at)
    for name, value in props.traits.items():
        if isinstance(value, str | int | float | bool) or value is None or _small_json(value):
            _set_trait(profile, str(name)[:64], value, at)  # nested ones whole: address, company, ...
    if props.phone:  # the trait keeps it as stated; the profile's phones only a valid E.164 number
        checked = check_phone(props.phone)
        if checked.ok:
            _add_id(profile.phones, checked.address)
        else:
            found = InvalidAddress(kind="phone", value=shown(props.phone), reason=checked.problem or "")
            note_invalid(profile, found, f"{event.source.kind}:{event.source.name}", at)


def _small_json(value: object) -> bool:
    """A nested trait (an object or a list) is kept whole when its JSON fits MAX_NESTED_TRAIT_BYTES."""
    if not isinstance(value, dict | list):
        return False
    try:
        return len(json.dumps(value, default=str, ensure_ascii=False).encode()) <= MAX_NESTED_TRAIT_BYTES
    except (TypeError, ValueError, UnicodeEncodeError):
        return False


def _consent(profile: Profile, event: ConsentEvent) -> None:
    props = event.properties
    if props.topic is not None:
        _set_topic(profile, props.topic, props.granted, props.proof)
        return
    if props.paused_until is not None:  # granted: the pause ended (at paused_until)
        _set_pause(profile, props.paused_until, props.proof)
        return
    if props.channel is None:  # the model allows no such statement
        return
    _set_consent(profile, props.channel, props.granted, props.proof)
    if props.granted:
        sup = profile.suppressions.get(props.channel)
        if sup is not None and sup.reason == "unsubscribe" and sup.at <= props.proof.at:
            del profile.suppressions[props.channel]


def _orders(profile: Profile, event: OrderEvent) -> None:
    """Order accounting, keyed by order id: the first event of an order counts it (whichever of
    placed/paid/fulfilled arrives first), a cancellation uncounts it once, and a cancellation seen
    first keeps a late "placed" from counting. A test order (``properties.test``) is recorded in the
    recent orders with ``counted=False`` and touches no aggregate: not the count, the revenue, the
    first/last order, the cancellations, the products owned or the interests."""
    props = event.properties
    stats = profile.orders
    at = event.occurred_at
    record = next((r for r in stats.recent if r.order_id == props.order_id), None)
    if event.type == EventType.ORDER_CANCELLED:
        _cancel_order(profile, event, record)
        return
    if record is None:
        status = {EventType.ORDER_PAID: "paid", EventType.ORDER_FULFILLED: "fulfilled"}.get(event.type, "placed")
        record = _order_record(event, status, counted=not props.test)
        _remember_order(stats, record)
        if props.test:
            return
        stats.count += 1
        stats.revenue += props.total
        stats.currency = stats.currency or props.currency
        stats.first_order_at = min(filter(None, (stats.first_order_at, at)))
        stats.last_order_at = max(filter(None, (stats.last_order_at, at)))
        _own(profile, props.items, at)
        _items_interest(profile, props.items, WEIGHT_PURCHASE, at, "bought")
        return
    if record.status == "cancelled":
        return
    # placed -> paid -> fulfilled: keep the furthest status; a paid total may correct the placed one.
    if event.type == EventType.ORDER_PAID and record.total != props.total and record.counted:
        stats.revenue += props.total - record.total
        record.total = props.total
        if record.refunds and record.refunded >= record.total:  # the refunds now cover the corrected total
            _uncount(profile, record, record.test)
            return
    new_status = {EventType.ORDER_PAID: "paid", EventType.ORDER_FULFILLED: "fulfilled"}.get(event.type)
    if new_status and _STATUS_ORDER.index(new_status) > _STATUS_ORDER.index(record.status):
        record.status = new_status  # type: ignore[assignment]


def _order_record(event: OrderEvent, status: str, counted: bool) -> OrderRecord:
    props = event.properties
    return OrderRecord(
        order_id=props.order_id,
        status=status,  # type: ignore[arg-type]
        total=props.total,
        currency=props.currency,
        placed_at=event.occurred_at,
        items=_quantities(props.items),
        counted=counted,
        test=props.test,
    )


def _cancel_order(profile: Profile, event: OrderEvent, record: OrderRecord | None) -> None:
    """A cancellation: the order stops counting (once). A test order's cancellation is recorded too,
    but is not counted among the cancellations either."""
    stats = profile.orders
    test = event.properties.test
    if record is None:
        # Cancelled before we ever saw it (or placed cancelled): remember it so a late "placed" is not counted.
        _remember_order(stats, _order_record(event, "cancelled", counted=False))
        if not test:
            stats.cancelled += 1
        return
    if record.status == "cancelled":
        return
    _uncount(profile, record, test)


def _uncount(profile: Profile, record: OrderRecord, test: bool) -> None:
    """The order stops counting: out of the count, its revenue (what partial refunds left of it) and
    its products owned, and one more cancellation (a test order is no cancellation either)."""
    stats = profile.orders
    if record.counted:
        stats.count -= 1
        stats.revenue -= record.net
        _unown(profile, record.items)
        stats.cancelled += 1
    elif not test:
        stats.cancelled += 1
    record.status = "cancelled"
    record.counted = False


def _refund(profile: Profile, event: RefundEvent, counts: bool) -> None:
    """A refund of (part of) an order the profile knows, applied once (``counts``: the first delivery
    of this refund; ``_refund_key`` says which refund it is, the order record remembers it too).

    A refund reaching what is left of the order's total (in the order's currency) ends the order as
    ``order.cancelled`` does: out of the count and the revenue, its products no longer owned, one
    more cancellation (none for a test order). A smaller one takes its amount off the revenue (not
    for a test order, which never counted) and the order keeps counting; partial refunds add up on
    the record (``refunded``) until they reach the total. The products it names leave the order
    and the products owned by the quantity refunded (all of it: the product is no longer owned).

    Changes nothing: a refund of an order the profile does not know (not seen yet, or older than the
    recent orders it keeps) or of one already cancelled, and the 11th and later refund of one order.
    A refund in another currency than the order's cannot be compared with its total: its products
    leave, its amount changes nothing."""
    if not counts:
        return  # this very refund was applied already (delivered again under a new delivery id)
    props = event.properties
    record = next((r for r in profile.orders.recent if r.order_id == props.order_id), None)
    if record is None or record.status == "cancelled":
        return
    key = _short_key(_refund_key(props))
    if key in record.refunds or len(record.refunds) >= MAX_REFUNDS_PER_ORDER:
        return
    remaining = max(Decimal("0"), record.total - record.refunded)
    same_currency = props.currency == record.currency
    applied = min(props.amount, remaining) if same_currency else Decimal("0")
    record.refunds[key] = applied
    items = _newest({i.product_id: max(i.quantity, 1) for i in props.items}, MAX_ORDER_ITEMS)
    if items:
        record.refund_items[key] = items  # which products this refund took off: a merge applies it exactly
    _refund_items(profile, record, items)
    if same_currency and props.amount >= remaining:
        _uncount(profile, record, record.test)
        record.refunded = record.total
        return
    record.refunded += applied
    if record.counted:
        profile.orders.revenue -= applied


def _refund_items(profile: Profile, record: OrderRecord, refunded: dict[str, int]) -> None:
    """Take refunded quantities off the order's items (and, while it counts, off the products owned),
    at most what the order holds of each."""
    for product_id, quantity in refunded.items():
        have = record.items.get(product_id, 0)
        taken = min(quantity, have)
        if taken <= 0:
            continue
        if have > taken:
            record.items[product_id] = have - taken
        else:
            del record.items[product_id]
        if record.counted:
            _unown(profile, {product_id: taken})


def _quantities(items: Iterable[LineItem], limit: int = MAX_ORDER_ITEMS) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item.product_id] = out.get(item.product_id, 0) + max(item.quantity, 1)
    return _newest(out, limit)


def _newest(items: dict[str, int], limit: int) -> dict[str, int]:
    """The last ``limit`` entries (dicts keep insertion order): bounds what one profile can hold."""
    return items if len(items) <= limit else dict(list(items.items())[-limit:])


def _remember_order(stats: OrderStats, record: OrderRecord) -> None:
    """Keep ``record`` among the recent orders; beyond MAX_RECENT_ORDERS the earliest placed one goes (an
    imported history arrives after the live orders it precedes). A counted order that goes joins the summary
    of the orders no longer kept (``OrderStats.dropped``: the predictions' inputs do not depend on the bound)."""
    stats.recent.append(record)
    if len(stats.recent) > MAX_RECENT_ORDERS:
        oldest = min(range(len(stats.recent)), key=lambda i: stats.recent[i].placed_at)
        gone = stats.recent.pop(oldest)
        if gone.counted:
            stats.dropped = combine(stats.dropped, summarise([(gone.placed_at, float(gone.net))]))


def _own(profile: Profile, items: Iterable[LineItem], at: datetime) -> None:
    for item in items:
        owned = profile.products_owned.get(item.product_id)
        if owned is None:
            owned = OwnedProduct(first_bought_at=at, last_bought_at=at, category=item.category, brand=item.brand)
            profile.products_owned[item.product_id] = owned
        owned.quantity += max(item.quantity, 1)
        owned.first_bought_at = min(owned.first_bought_at, at)
        owned.last_bought_at = max(owned.last_bought_at, at)
        owned.category = owned.category or item.category
        owned.brand = owned.brand or item.brand
    if len(profile.products_owned) > MAX_PRODUCTS_OWNED:
        oldest = sorted(profile.products_owned, key=lambda k: profile.products_owned[k].last_bought_at)
        for key in oldest[: len(profile.products_owned) - MAX_PRODUCTS_OWNED]:
            del profile.products_owned[key]


def _unown(profile: Profile, items: dict[str, int]) -> None:
    for product_id, quantity in items.items():
        owned = profile.products_owned.get(product_id)
        if owned is None:
            continue
        owned.quantity -= quantity
        if owned.quantity <= 0:
            del profile.products_owned[product_id]


def _cart(profile: Profile, event: CartEvent) -> None:
    props = event.properties
    at = event.occurred_at
    current = profile.cart
    if current is not None and current.updated_at > at:
        return
    same_cart = current is not None and (props.cart_id is None or current.cart_id in (None, props.cart_id))
    started = at if event.type == EventType.CHECKOUT_STARTED else None
    if same_cart and started is None:
        started = current.checkout_started_at
    items = _quantities(props.items)
    value = props.value
    if props.action != "replace" and same_cart:
        # A single product added or removed: change the known cart instead of replacing it.
        items = dict(current.items)
        sign = 1 if props.action == "add" else -1
        delta = Decimal("0")
        for item in props.items:
            quantity = items.get(item.product_id, 0) + sign * max(item.quantity, 1)
            items[item.product_id] = quantity
            if quantity <= 0:
                del items[item.product_id]
            delta += (item.price or Decimal("0")) * max(item.quantity, 1) * sign
        value = max(Decimal("0"), (current.value or Decimal("0")) + delta)
    elif props.action == "remove":
        items = {}
    profile.cart = Cart(
        cart_id=props.cart_id or (current.cart_id if same_cart else None),
        value=value,
        currency=props.currency or (current.currency if same_cart else None),
        items=_newest(items, MAX_CART_ITEMS),
        updated_at=at,
        checkout_started_at=started,
        recovery_url=props.recovery_url or (current.recovery_url if same_cart else None),
    )
    if props.action != "remove":
        _items_interest(profile, props.items, WEIGHT_CART, at, "carted")


def _message(profile: Profile, event: MessageEvent, counts: bool) -> None:
    """Channel statistics count each message once per kind of event (``counts``: one open of a
    message however often it is opened, as providers report unique opens); the last open/click
    time, suppressions and consent follow every event."""
    at = event.occurred_at
    if event.type == EventType.EMAIL_UNSUBSCRIBED:
        current = profile.consent.get(Channel.EMAIL)
        if current is not None and not current.granted and current.proof.at >= at:
            # the withdrawal is already recorded, with its proof (Emma's unsubscribe endpoint sends both)
            profile.suppressions[Channel.EMAIL] = Suppression(reason="unsubscribe", at=at)
            return
        _set_consent(
            profile,
            Channel.EMAIL,
            False,
            ConsentProof(source=f"{event.source.kind}:{event.source.name}", at=at),
        )
        profile.suppressions[Channel.EMAIL] = Suppression(reason="unsubscribe", at=at)
        return
    channel, metric = _MESSAGE_CHANNEL[event.type]
    _recommended(profile, event, metric)
    _content(profile, event, metric)
    stats = profile.channels.setdefault(channel, ChannelStats())
    if counts:
        setattr(stats, metric, getattr(stats, metric) + 1)
    if counts and metric in ("opened", "clicked"):
        if len(stats.hours) != 24:
            stats.hours = [0] * 24
        stats.hours[at.hour] += 1  # occurred_at is UTC
    if metric == "opened":
        stats.last_open_at = max(filter(None, (stats.last_open_at, at)))
    elif metric == "clicked":
        stats.last_click_at = max(filter(None, (stats.last_click_at, at)))
    elif metric == "bounced" and (event.properties.bounce_type or "").lower() == "permanent":
        profile.suppressions[channel] = Suppression(reason="hard_bounce", at=at)
    elif metric == "complained":
        profile.suppressions[channel] = Suppression(reason="complaint", at=at)
        _set_consent(profile, channel, False, ConsentProof(source=f"{event.source.kind}:{event.source.name}", at=at))


def _link(url: str) -> str:
    """A link without its query and fragment (tracking parameters), for matching a click."""
    return url.split("#", 1)[0].split("?", 1)[0].rstrip("/")


def _recommended(profile: Profile, event: MessageEvent, metric: str) -> None:
    """Remember what a message recommended; a click on one of those links marks it clicked (and is
    interest in the product)."""
    at = event.occurred_at
    if metric == "sent":
        for ref in event.properties.recommended:
            profile.recommended[ref.product_id] = Recommended(at=at, url=ref.url)
        if len(profile.recommended) > MAX_RECOMMENDED:
            newest = sorted(profile.recommended, key=lambda k: profile.recommended[k].at)[-MAX_RECOMMENDED:]
            profile.recommended = {k: profile.recommended[k] for k in newest}
    elif metric == "clicked" and event.properties.url:
        clicked = _link(event.properties.url)
        for product_id, item in profile.recommended.items():
            if item.url and _link(item.url) == clicked:
                item.clicked_at = max(filter(None, (item.clicked_at, at)))
                _interest(profile, WEIGHT_CLICK, at, product_id=product_id, via="clicked")


def _content(profile: Profile, event: MessageEvent, metric: str) -> None:
    """Remember the content blocks a message carried; a click on one of their links is interest in each of the
    block's topics (what the next newsletter and tutorial are chosen by: emma.content.select)."""
    at = event.occurred_at
    if metric == "sent":
        for ref in event.properties.content:
            profile.content_sent[ref.block_id] = ContentSent(at=at, url=ref.url, topics=list(ref.topics))
        if len(profile.content_sent) > MAX_CONTENT_SENT:
            newest = sorted(profile.content_sent, key=lambda k: profile.content_sent[k].at)[-MAX_CONTENT_SENT:]
            profile.content_sent = {k: profile.content_sent[k] for k in newest}
    elif metric == "clicked" and event.properties.url:
        _content_used(profile, _link(event.properties.url), at, "clicked", WEIGHT_CLICK)


def _content_used(profile: Profile, link: str, at: datetime, via: str, weight: float) -> None:
    for block in profile.content_sent.values():
        if _link(block.url) != link:
            continue
        first = (block.clicked_at if via == "clicked" else block.read_at) is None
        if via == "clicked":
            block.clicked_at = max(filter(None, (block.clicked_at, at)))
        else:
            block.read_at = max(filter(None, (block.read_at, at)))
        if first:  # interest once per block and way (a second click on the same block adds nothing)
            for topic in block.topics:
                _interest(profile, weight, at, topic=topic, via=via)


# What Emma and the providers do to a customer, not what the customer does: no activity for retention.
_NOT_ACTIVITY = frozenset(
    {
        EventType.EMAIL_SENT,
        EventType.EMAIL_DELIVERED,
        EventType.EMAIL_BOUNCED,
        EventType.SMS_SENT,
        EventType.SMS_DELIVERED,
        EventType.PUSH_SENT,
        EventType.PUSH_DELIVERED,
    }
)
# Emma's own sources that carry the customer's actions: a short link followed, a double opt-in confirmed,
# the preference centre, an unsubscribe, a survey answered on Emma's page. Journeys, dispatch, rules and the
# shop's admins are not the customer.
_CUSTOMER_ACTIONS = frozenset({"link", "doi", "preferences", "unsubscribe", "survey"})


def is_customer_activity(event: CanonicalEvent) -> bool:
    if event.type in _NOT_ACTIVITY or not is_sighting(event):
        return False
    return event.source.kind != SourceKind.EMMA or event.source.name in _CUSTOMER_ACTIONS


def is_sighting(event: CanonicalEvent) -> bool:
    """Whether the event shows the customer at its time. An imported customer record (emma.imports) is
    what the shop knew at the export, stamped with the import's time unless the export dated it as a
    registration: it moves no first/last-seen time and is no activity (an old customer base imported
    today is not "new" and not "active")."""
    return not (event.source.kind == SourceKind.IMPORT and event.type == EventType.CUSTOMER_UPDATED)


def apply_event(profile: Profile, event: CanonicalEvent) -> bool:
    """Fold one canonical event into ``profile`` (in place). False when it repeats a thing already
    counted (an order, a coupon redemption or a message under a new delivery id)."""
    at = event.occurred_at
    add_identities(profile, event.customer)
    for found in event.customer.invalid or ():
        note_invalid(profile, found, f"{event.source.kind}:{event.source.name}", at)
    counts = _counts(profile, event)
    if counts:  # a redelivery of a thing already counted changes no counter and no windowed count
        profile.event_counts[event.type] = profile.event_counts.get(event.type, 0) + 1
        _remember_time(profile.event_times.setdefault(str(event.type), []), int(at.timestamp()))
    if is_sighting(event):
        profile.first_seen_at = min(filter(None, (profile.first_seen_at, at)))
        profile.last_seen_at = max(filter(None, (profile.last_seen_at, at)))
        kind = str(event.source.kind)
        profile.last_seen[kind] = max(filter(None, (profile.last_seen.get(kind), at)))
    if is_customer_activity(event):
        profile.last_active_at = max(filter(None, (profile.last_active_at, at)))
    if event.source.kind == SourceKind.IMPORT:
        profile.imported_at = max(filter(None, (profile.imported_at, event.received_at)))
    profile.updated_at = max(profile.updated_at, event.received_at)

    match event:
        case CustomerEvent():
            _customer(profile, event)
        case ConsentEvent():
            _consent(profile, event)
        case OrderEvent():
            _orders(profile, event)
        case RefundEvent():
            _refund(profile, event, counts)
        case CartEvent():
            _cart(profile, event)
        case ProductViewEvent():
            p = event.properties.product
            _interest(
                profile, WEIGHT_VIEW, at, category=p.category, brand=p.brand, product_id=p.product_id, via="viewed"
            )
        case SearchEvent():
            props = event.properties
            _interest(profile, WEIGHT_SEARCH, at, category=props.category, topic=props.query, via="searched")
        case PageEvent():
            _interest(profile, WEIGHT_VIEW, at, category=event.properties.category, via="viewed")
            if event.properties.url and profile.content_sent:  # read on the shop: a block Emma sent
                _content_used(profile, _link(event.properties.url), at, "read", WEIGHT_READ)
        case CouponEvent():
            if event.properties.code not in profile.coupons_redeemed:
                profile.coupons_redeemed.append(event.properties.code)
                del profile.coupons_redeemed[:-MAX_COUPONS]
        case MessageEvent():
            _message(profile, event, counts)
            if event.type in (EventType.EMAIL_CLICKED, EventType.SMS_CLICKED, EventType.PUSH_CLICKED):
                _interest(profile, WEIGHT_CLICK, at, topic=event.properties.template, via="clicked")
        case TutorialEvent():
            props = event.properties
            profile.tutorials_watched[props.tutorial_id] = max(
                filter(None, (profile.tutorials_watched.get(props.tutorial_id), at))
            )
            if len(profile.tutorials_watched) > MAX_TUTORIALS:
                del profile.tutorials_watched[min(profile.tutorials_watched, key=profile.tutorials_watched.get)]
            _interest(
                profile,
                WEIGHT_TUTORIAL,
                at,
                category=props.category,
                product_id=props.product_id,
                topic=props.topic,
                via="watched",
            )
        case SurveyEvent():
            if profile.last_survey is None or str(at.isoformat()) >= profile.last_survey.get("at", ""):
                profile.last_survey = {
                    "survey_id": event.properties.survey_id,
                    "score": event.properties.score,
                    "at": at.isoformat(),
                }
        case ReviewEvent():
            profile.reviews += 1
        case ReferralEvent():
            profile.referrals += 1
        case CustomEvent() | CatalogEvent():
            pass
    profile.upgrade = estimate_upgrade(profile, max(at, profile.updated_at))
    return counts


def merge_profiles(winner: Profile, loser: Profile) -> Profile:
    """Fold ``loser`` into a copy of ``winner``; both histories survive. Pure and order-aware."""
    merged = winner.model_copy(deep=True)
    for ids_name in ("customer_ids", "emails", "anonymous_ids", "phones"):
        for value in getattr(loser, ids_name):
            _add_id(getattr(merged, ids_name), value)
    for found in loser.invalid_addresses:
        _remember_invalid(merged.invalid_addresses, found)
    # Things both profiles counted (the same order seen as a guest and as the account, the same
    # message) are counted once: ``shared`` says how often per event type, to take off the sums.
    shared = _merge_counted(merged, loser)
    for name, trait in loser.traits.items():
        _set_trait(merged, name, trait.value, trait.at)
    for channel, state in loser.consent.items():
        _set_consent(merged, channel, state.granted, state.proof)
    for channel, sup in loser.suppressions.items():
        if channel not in merged.suppressions or merged.suppressions[channel].at < sup.at:
            merged.suppressions[channel] = sup
    for topic, state in loser.topic_consent.items():
        _set_topic(merged, topic, state.granted, state.proof)
    if loser.pause is not None:
        _set_pause(merged, loser.pause.until, loser.pause.proof)
    # Orders: the same order can be known to both (e.g. guest checkout, then account): count it once,
    # keep the furthest status, a cancellation known to either side wins, and so does each refund.
    mine_by_id = {r.order_id: r for r in merged.orders.recent}
    shared_items: dict[str, int] = {}  # what the loser owns through orders the winner already counts
    for record in loser.orders.recent:
        mine = mine_by_id.get(record.order_id)
        if mine is None:
            _remember_order(merged.orders, record.model_copy(deep=True))
            if record.counted:
                merged.orders.count += 1
                merged.orders.revenue += record.net
            if record.status == "cancelled" and not record.test:
                merged.orders.cancelled += 1
            continue
        if record.counted:
            for product_id, quantity in record.items.items():
                shared_items[product_id] = shared_items.get(product_id, 0) + quantity
        if record.status == "cancelled" and mine.status != "cancelled":
            if mine.counted:
                merged.orders.count -= 1
                merged.orders.revenue -= mine.net
                _unown(merged, mine.items)
            mine.status, mine.counted = "cancelled", False
            if not (mine.test or record.test):
                merged.orders.cancelled += 1
            continue
        if mine.status != "cancelled":
            _merge_refunds(merged, mine, record)
        if mine.status != "cancelled" and _STATUS_ORDER.index(record.status) > _STATUS_ORDER.index(mine.status):
            mine.status = record.status
    # Aggregates of orders older than the bounded list are added as they are (their purchase summaries joined:
    # exact when one's dropped orders all came before the other's, else an approximation: emma.predict.history).
    if loser.orders.dropped is not None:
        merged.orders.dropped = combine(merged.orders.dropped, loser.orders.dropped)
    overflow_count = loser.orders.count - sum(1 for r in loser.orders.recent if r.counted)
    if overflow_count > 0:
        merged.orders.count += overflow_count
        merged.orders.revenue += loser.orders.revenue - sum(
            (r.net for r in loser.orders.recent if r.counted), Decimal("0")
        )
    merged.orders.currency = merged.orders.currency or loser.orders.currency
    for attr, pick in (("first_order_at", min), ("last_order_at", max)):
        values = [v for v in (getattr(merged.orders, attr), getattr(loser.orders, attr)) if v]
        setattr(merged.orders, attr, pick(values) if values else None)
    for product_id, owned in loser.products_owned.items():
        quantity = owned.quantity - shared_items.get(product_id, 0)
        if quantity <= 0:
            continue
        owned = owned.model_copy(update={"quantity": quantity})
        mine = merged.products_owned.get(product_id)
        if mine is None:
            merged.products_owned[product_id] = owned
        else:
            mine.quantity += owned.quantity
            mine.first_bought_at = min(mine.first_bought_at, owned.first_bought_at)
            mine.last_bought_at = max(mine.last_bought_at, owned.last_bought_at)
    for dim in ("categories", "brands", "products", "topics"):
        table = getattr(merged.affinities, dim)
        for key, aff in getattr(loser.affinities, dim).items():
            _bump(table, key, aff.score, aff.at, aff.via, fold=dim != "products")
    for channel, stats in loser.channels.items():
        mine_stats = merged.channels.setdefault(channel, ChannelStats())
        for metric in ("sent", "delivered", "opened", "clicked", "bounced", "complained"):
            setattr(mine_stats, metric, getattr(mine_stats, metric) + getattr(stats, metric))
        if stats.hours:
            mine_hours = mine_stats.hours if len(mine_stats.hours) == 24 else [0] * 24
            mine_stats.hours = [a + b for a, b in zip(mine_hours, stats.hours, strict=False)]
        for attr in ("last_open_at", "last_click_at"):
            values = [v for v in (getattr(mine_stats, attr), getattr(stats, attr)) if v]
            setattr(mine_stats, attr, max(values) if values else None)
    for type_, n in shared.items():  # a message both counted: once
        if type_ in _MESSAGE_CHANNEL:
            channel, metric = _MESSAGE_CHANNEL[EventType(type_)]
            if channel in merged.channels:
                twice = merged.channels[channel]
                setattr(twice, metric, max(0, getattr(twice, metric) - n))
    if loser.cart is not None and (merged.cart is None or loser.cart.updated_at > merged.cart.updated_at):
        merged.cart = loser.cart.model_copy()
    for product_id, item in loser.recommended.items():
        mine_rec = merged.recommended.get(product_id)
        if mine_rec is None or mine_rec.at < item.at:
            merged.recommended[product_id] = item.model_copy()
    for block_id, block in loser.content_sent.items():
        mine_block = merged.content_sent.get(block_id)
        if mine_block is None or mine_block.at < block.at:
            merged.content_sent[block_id] = block.model_copy()
    for code in loser.coupons_redeemed:
        if code not in merged.coupons_redeemed:
            merged.coupons_redeemed.append(code)
    del merged.coupons_redeemed[:-MAX_COUPONS]
    for tid, at in loser.tutorials_watched.items():
        merged.tutorials_watched[tid] = max(at, merged.tutorials_watched.get(tid, at))
    for tid in sorted(merged.tutorials_watched, key=merged.tutorials_watched.get)[:-MAX_TUTORIALS]:
        del merged.tutorials_watched[tid]
    for pid in sorted(merged.products_owned, key=lambda k: merged.products_owned[k].last_bought_at)[
        :-MAX_PRODUCTS_OWNED
    ]:
        del merged.products_owned[pid]
    if loser.last_survey and (not merged.last_survey or loser.last_survey["at"] > merged.last_survey["at"]):
        merged.last_survey = dict(loser.last_survey)
    merged.reviews += loser.reviews
    merged.referrals += loser.referrals
    for type_, n in loser.event_counts.items():
        merged.event_counts[type_] = max(0, merged.event_counts.get(type_, 0) + n - shared.get(type_, 0))
    for type_, times in loser.event_times.items():
        mine = merged.event_times.setdefault(type_, [])
        known = list(mine)
        twice = shared.get(type_, 0)
        for t in times:
            if twice and t in known:  # a thing both counted: its time is here already
                known.remove(t)
                twice -= 1
                continue
            _remember_time(mine, t)
    for attr, pick in (
        ("first_seen_at", min),
        ("last_seen_at", max),
        ("last_active_at", max),
        ("created_at", min),
        ("updated_at", max),
    ):
        values = [v for v in (getattr(merged, attr), getattr(loser, attr)) if v]
        setattr(merged, attr, pick(values))
    for kind, at in loser.last_seen.items():
        merged.last_seen[kind] = max(at, merged.last_seen.get(kind, at))
    merged.imported_at = max(filter(None, (merged.imported_at, loser.imported_at)), default=None)
    for pid in [*loser.merged_from, loser.profile_id]:
        if pid not in merged.merged_from:
            merged.merged_from.append(pid)
    merged.upgrade = estimate_upgrade(merged, merged.updated_at)
    return merged


def _merge_refunds(merged: Profile, mine: OrderRecord, theirs: OrderRecord) -> None:
    """Refunds of an order both profiles know that only the loser saw: applied to the winner's record
    as they were to the loser's (a refund both saw is applied once), the products each named included
    (``refund_items``). Products are never inferred from a difference between the two records: the
    loser's may never have named them (a tracker's order without products)."""
    new = {key: amount for key, amount in theirs.refunds.items() if key not in mine.refunds}
    if not new:
        return
    for key in new:
        items = theirs.refund_items.get(key)
        if items:
            mine.refund_items[key] = dict(items)
            _refund_items(merged, mine, items)
    for key, amount in new.items():
        if len(mine.refunds) >= MAX_REFUNDS_PER_ORDER:
            break
        remaining = max(Decimal("0"), mine.total - mine.refunded)
        applied = min(amount, remaining)
        mine.refunds[key] = applied
        if amount > 0 and amount >= remaining:
            _uncount(merged, mine, mine.test or theirs.test)
            mine.refunded = mine.total
            return
        mine.refunded += applied
        if mine.counted:
            merged.orders.revenue -= applied


def _merge_counted(merged: Profile, loser: Profile) -> dict[str, int]:
    """Add the loser's counted business ids to ``merged``; per event type, how many both had counted."""
    shared: dict[str, int] = {}
    for kind, ids in loser.counted.items():
        mine = merged.counted.setdefault(kind, {})
        for business_id, letters in ids.items():
            have = mine.get(business_id, "")
            for letter in letters:
                type_ = _COUNTED_TYPE.get((kind, letter))
                if letter in have and type_ is not None:
                    shared[str(type_)] = shared.get(str(type_), 0) + 1
            mine[business_id] = have + "".join(letter for letter in letters if letter not in have)
        while len(mine) > MAX_COUNTED_IDS.get(kind, MAX_RECENT_ORDERS):
            del mine[next(iter(mine))]
    return shared


def merge_rank(profile: Profile) -> tuple[int, datetime, str]:
    """Who survives a merge, lowest first: a shop customer over an email-only profile over an
    anonymous visitor; then the older profile; then the id (deterministic)."""
    known = 0 if profile.customer_ids else 1 if profile.emails else 2
    return (known, profile.created_at, profile.profile_id)
