"""The analytics consumer: one canonical event in, its counters moved exactly once.

Fed by its own queue (every message event, orders, consent changes, dispatch's skips and the journeys'
progress). Every event is counted through an item in the customer's own partition that remembers the
event ids it has counted (``seen``): the message's ``MessageTouch``, the order's ``OrderCredit``, the
journey's ``JourneyProgress``, the experiment's ``Assignment``. That item is written on condition of
the version it was read at, in one transaction with the counter ADDs, so a re-delivered or replayed
event finds its id and changes nothing, and two deliveries racing cannot both count.

What is counted where (docs/analytics.md):
- message counters on the day the message's first event was counted (its send, almost always), in
  the shop's timezone, by journey, step, template, variant and channel: requested, sent, skipped by
  stage, delivered, opened (people; machine opens apart), clicked, bounced, complained, unsubscribed,
  and the conversions and revenue attributed to the message under each model;
- journey counters by (journey, step) on the day it happened: entered, waiting, completed, exited,
  failed, and the orders attributed (last touch) to the step's messages;
- shop counters per day: orders and revenue, and what of it each model attributed to Emma's messages;
- experiment arms (journey, split step, variant), cumulative: customers, converted, orders, revenue
  (and its square per customer), unsubscribed, discount, within the shop's experiment window.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from emma.analytics.attribution import attribute
from emma.analytics.model import (
    INCENTIVE_PREFIX,
    NONE,
    SKIP_REASONS,
    Assignment,
    CounterDelta,
    Credit,
    Dims,
    JourneyProgress,
    MessageTouch,
    OrderCredit,
    Windows,
    incentive_key,
    merge_deltas,
)
from emma.analytics.opens import is_machine_open
from emma.analytics.ports import AnalyticsStore, StaleAnalytics
from emma.errors import ShopNotFound
from emma.events.model import CanonicalEvent, EventType, SourceKind
from emma.resources import DISPATCH_SOURCE, JOURNEYS_SOURCE
from emma.shops import ShopConfig, ShopDirectory

log = logging.getLogger(__name__)

MAX_SEEN = 64  # event ids remembered per item: far more than SQS re-delivers
MAX_ATTEMPTS = 8
_SENT_ID = re.compile(r"^dispatch:([0-9a-f]{24}):")

SENT = frozenset({EventType.EMAIL_SENT, EventType.SMS_SENT, EventType.PUSH_SENT})
DELIVERED = frozenset({EventType.EMAIL_DELIVERED, EventType.SMS_DELIVERED, EventType.PUSH_DELIVERED})
CLICKED = frozenset({EventType.EMAIL_CLICKED, EventType.SMS_CLICKED, EventType.PUSH_CLICKED})
MESSAGE_TYPES = (
    SENT
    | DELIVERED
    | CLICKED
    | {
        EventType.EMAIL_OPENED,
        EventType.EMAIL_BOUNCED,
        EventType.EMAIL_COMPLAINED,
        EventType.EMAIL_UNSUBSCRIBED,
        EventType.MESSAGE_SKIPPED,
    }
)
JOURNEY_TYPES = frozenset(
    {
        EventType.JOURNEY_ENTERED,
        EventType.JOURNEY_REFUSED,
        EventType.JOURNEY_STEP,
        EventType.JOURNEY_WAITING,
        EventType.JOURNEY_SPLIT,
        EventType.JOURNEY_ENDED,
    }
)
ORDER_TYPES = frozenset({EventType.ORDER_PLACED, EventType.ORDER_CANCELLED, EventType.ORDER_REFUNDED})
# What the analytics queue's rule forwards (resources.ANALYTICS_QUEUE)
COUNTED_TYPES = MESSAGE_TYPES | JOURNEY_TYPES | ORDER_TYPES | {EventType.CONSENT_CHANGED}
ONE = Decimal(1)


def _window(shop: ShopConfig, assignment: Assignment) -> timedelta:
    """How long after assignment an arm counts orders and unsubscribes: incentive arms by the shop's
    incentives.window_days, journeys' experiments by analytics.experiment_days."""
    if assignment.journey.startswith(INCENTIVE_PREFIX):
        return timedelta(days=shop.incentives.window_days)
    return timedelta(days=shop.analytics.experiment_days)


class Outcome(str):
    """What ``on_event`` did, in words (for logs and tests), with the message counters it moved."""

    counted: dict[str, Decimal]

    def __new__(cls, text: str, counted: dict[str, Decimal] | None = None) -> Outcome:
        outcome = super().__new__(cls, text)
        outcome.counted = counted or {}
        return outcome


def windows_of(shop: ShopConfig) -> Windows:
    a = shop.analytics
    return Windows(
        email_open=a.email_open_hours,
        email_click=a.email_click_hours,
        sms_click=a.sms_click_hours,
        push_click=a.push_click_hours,
    )


def shop_day(shop: ShopConfig, at: datetime) -> str:
    """The day ``at`` falls on in the shop's timezone (UTC if the shop names none Python knows)."""
    try:
        zone = ZoneInfo(shop.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return at.astimezone(zone).date().isoformat()


def message_ref_of(event: CanonicalEvent) -> str | None:
    ref = getattr(event.properties, "message", None)
    if ref:
        return str(ref)
    found = _SENT_ID.match(event.id)  # sent events recorded before the reference was a property
    return found.group(1) if found else None


def dims_of(event: CanonicalEvent) -> Dims:
    p = event.properties
    channel = getattr(p, "channel", None) or event.type.value.split(".")[0]
    if channel not in ("email", "sms", "push"):
        channel = NONE
    return Dims(
        journey=getattr(p, "journey", None) or NONE,
        step=getattr(p, "step", None) or NONE,
        template=getattr(p, "template", None) or NONE,
        variant=getattr(p, "variant", None) or NONE,
        channel=str(channel),
    )


def event_hash(event_id: str) -> str:
    """What an item remembers of an event id: 12 hex digits of its hash (48 bits: two of one item's 64
    colliding is a chance of 1 in 10^11), so that 64 remembered ids cost 0.8 KB, not 6."""
    return hashlib.sha256(event_id.encode()).hexdigest()[:12]


def _seen(seen: tuple[str, ...], event_id: str) -> tuple[str, ...]:
    return (*seen, event_hash(event_id))[-MAX_SEEN:]


def _counted(seen: tuple[str, ...], event_id: str) -> bool:
    return event_hash(event_id) in seen


def _square_change(before: Decimal, after: Decimal) -> Decimal:
    return after * after - before * before


class AnalyticsService:
    def __init__(
        self,
        store: AnalyticsStore,
        shops: ShopDirectory,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._store = store
        self._shops = shops
        self._sleep = sleep or (lambda s: None)

    def on_event(self, event: CanonicalEvent, source: str | None = None) -> str:  # an Outcome for messages
        """Count one event; what it did, for logs and tests. ``source`` is the bus source it came from:
        journey progress counts only from the journeys, skips only from the dispatcher."""
        if event.type in JOURNEY_TYPES and source not in (None, JOURNEYS_SOURCE):
            return f"ignored: {event.type} from {source}"
        if event.type == EventType.MESSAGE_SKIPPED and source not in (None, DISPATCH_SOURCE):
            return f"ignored: {event.type} from {source}"
        profile_id = event.customer.profile_id
        if not profile_id or event.type not in COUNTED_TYPES:
            return "ignored"
        try:
            shop = self._shops.get(event.shop)
        except ShopNotFound:  # a shop removed (or erased) while its events were on the way: nothing to count
            return f"ignored: no shop {event.shop!r}"
        handler = (
            self._message
            if event.type in MESSAGE_TYPES
            else self._journey
            if event.type in JOURNEY_TYPES
            else self._order
            if event.type == EventType.ORDER_PLACED
            else self._reverse
            if event.type in ORDER_TYPES
            else self._consent
        )
        for attempt in range(MAX_ATTEMPTS):
            try:
                return handler(shop, profile_id, event)
            except StaleAnalytics:
                self._sleep(0.01 * 2**attempt * (0.5 + random.random()))  # jittered: racing workers part
        raise StaleAnalytics(f"analytics items of {profile_id} kept changing while counting {event.id}")

    # ---- messages -----------------------------------------------------------------------------

    def _message(self, shop: ShopConfig, profile_id: str, event: CanonicalEvent) -> str:
        ref = message_ref_of(event)
        if not ref:
            return "ignored: no message reference"
        touch = self._store.touch(shop.shop, profile_id, ref)
        if touch is None:
            touch = MessageTouch(ref=ref, dims=dims_of(event), day=shop_day(shop, event.occurred_at))
        if _counted(touch.seen, event.id):
            return "duplicate"
        amounts = _apply_message(touch, event)
        touch.seen = _seen(touch.seen, event.id)
        deltas = [CounterDelta("message", touch.day, touch.dims.encode(), amounts)] if amounts else []
        items: list[object] = [touch]
        if amounts.get("sent") and event.type in SENT:  # sent now, not before: an incentive arm joins once
            items += self._incentive_arm(shop, profile_id, event, deltas)
        self._store.commit(shop.shop, profile_id, items, deltas)  # type: ignore[arg-type]
        return Outcome(
            f"{event.type}: " + (", ".join(f"{k} {v:+}" for k, v in amounts.items()) or "nothing new"), amounts
        )

    def _incentive_arm(
        self, shop: ShopConfig, profile_id: str, event: CanonicalEvent, deltas: list[CounterDelta]
    ) -> list[Assignment]:
        """A message of a template with a coupon puts the customer into its incentive arm (coupon, control,
        withheld, explore: emma.offers.policy), per template and band of the purchase probability, as a
        journey's split does: orders within the shop's incentives.window_days count for the arm, with the
        discount they used. The first message of a template and band decides; a later one does not move them."""
        incentive = getattr(event.properties, "incentive", None)
        template = getattr(event.properties, "template", None)
        if incentive is None or template is None or incentive.arm == "unavailable":
            return []
        journey, step = incentive_key(template, incentive.band)
        if self._store.assignment(shop.shop, profile_id, journey, step) is not None:
            return []
        deltas.append(CounterDelta("arm", "", f"{journey}|{step}|{incentive.arm}", {"customers": ONE}))
        return [
            Assignment(
                journey=journey,
                step=step,
                variant=incentive.arm,
                holdout=incentive.arm in ("control", "withheld"),
                assigned_at=event.occurred_at,
                seen=_seen((), event.id),
            )
        ]

    # ---- orders -------------------------------------------------------------------------------

    def _order(self, shop: ShopConfig, profile_id: str, event: CanonicalEvent) -> str:
        props = event.properties
        if event.repeat or getattr(props, "test", False):
            return "ignored: a repeated or test order"
        order_id: str = props.order_id  # type: ignore[union-attr]
        items = self._store.customer(shop.shop, profile_id)
        if order_id in items.orders:
            return (
                "duplicate" if _counted(items.orders[order_id].seen, event.id) else "ignored: order already attributed"
            )
        revenue = Decimal(props.total)  # type: ignore[union-attr]
        discount = Decimal(getattr(props, "discount_total", None) or 0)
        placed = event.occurred_at
        credits = attribute(
            list(items.touches.values()),
            placed,
            revenue,
            windows_of(shop),
            getattr(props, "discount_codes", ()),
            discount,
        )
        deltas = _credit_deltas(credits, items.touches, shop_day(shop, placed), revenue)
        coupon_discount = sum((c.discount for c in credits if c.model == "coupon"), Decimal(0))
        changed: list[Assignment] = []
        arm_deltas: list[CounterDelta] = []
        by_template: dict[str, Decimal] = {}
        for c in credits:
            if c.model == "coupon":
                by_template[c.dims.template] = by_template.get(c.dims.template, Decimal(0)) + c.discount
        for key, a in sorted(items.assignments.items()):
            if not (a.assigned_at <= placed <= a.assigned_at + _window(shop, a)):
                continue
            # a template's incentive arm counts its own coupons' discount; a journey's experiment every coupon's
            incentive = a.journey.startswith(INCENTIVE_PREFIX)
            given = (
                by_template.get(a.journey.removeprefix(INCENTIVE_PREFIX), Decimal(0)) if incentive else coupon_discount
            )
            amounts = {
                "orders": ONE,
                "revenue": revenue,
                "revenue_sq": _square_change(a.revenue, a.revenue + revenue),
                "converted": ONE if a.orders == 0 else Decimal(0),
                "discount": given,
            }
            a.orders, a.revenue, a.discount = a.orders + 1, a.revenue + revenue, a.discount + given
            changed.append(a)
            arm_deltas.append(CounterDelta("arm", "", f"{key}|{a.variant}", amounts))
        credit = OrderCredit(
            order_id=order_id,
            placed_at=placed,
            revenue=revenue,
            discount=coupon_discount,
            applied=deltas,
            arms=[f"{a.journey}|{a.step}" for a in changed],
            seen=_seen((), event.id),
        )
        self._store.commit(shop.shop, profile_id, [credit, *changed], deltas + arm_deltas)
        last = [c for c in credits if c.model == "last_touch"]
        return (
            f"order {order_id}: "
            + (f"last touch {last[0].dims.template} ({last[0].ref})" if last else "no touch in the window")
            + (f", {len(changed)} experiment(s)" if changed else "")
        )

    def _reverse(self, shop: ShopConfig, profile_id: str, event: CanonicalEvent) -> str:
        props = event.properties
        if event.repeat:  # a refund restated under a new delivery id (orders/updated): taken back once
            return "ignored: a repeated refund or cancellation"
        order_id: str = props.order_id  # type: ignore[union-attr]
        items = self._store.customer(shop.shop, profile_id)
        credit = items.orders.get(order_id)
        cancelled = event.type == EventType.ORDER_CANCELLED
        if credit is None:
            if not cancelled:
                return f"ignored: order {order_id} was never attributed"
            # Cancelled before its placement arrived: remember it, so the late order.placed credits nothing.
            marker = OrderCredit(
                order_id=order_id,
                placed_at=event.occurred_at,
                revenue=Decimal(0),
                reversed_at=event.occurred_at,
                seen=_seen((), event.id),
            )
            self._store.commit(shop.shop, profile_id, [marker], [])
            return f"order {order_id}: cancelled before it was attributed"
        if _counted(credit.seen, event.id):
            return "duplicate"
        if credit.reversed_at is not None:
            return f"ignored: order {order_id} already reversed"
        refund_id = getattr(props, "refund_id", None)
        if refund_id and refund_id in credit.refunds:
            return f"ignored: refund {refund_id} already taken back"
        left = credit.revenue - credit.refunded
        if cancelled:
            amount, full = left, True
        else:
            amount = min(Decimal(props.amount), left)  # type: ignore[union-attr]
            full = amount >= left
        if full:  # everything the order credited, less what refunds took back already: exactly to zero
            deltas = [_rest(d, credit.taken) for d in credit.applied]
        else:
            share = amount / credit.revenue if credit.revenue else Decimal(0)
            deltas = [_reversed(d, share) for d in credit.applied]
            credit.taken = merge_deltas([*credit.taken, *deltas])
        changed: list[Assignment] = []
        arm_deltas: list[CounterDelta] = []
        for key in credit.arms:
            a = items.assignments.get(key)
            if a is None:
                continue
            after = max(Decimal(0), a.revenue - amount)
            amounts = {"revenue": -amount, "revenue_sq": _square_change(a.revenue, after)}
            a.revenue = after
            if full:
                a.orders = max(0, a.orders - 1)
                amounts["orders"] = -ONE
                amounts["converted"] = -ONE if a.orders == 0 else Decimal(0)
                amounts["discount"] = -credit.discount
                a.discount -= credit.discount
            changed.append(a)
            arm_deltas.append(CounterDelta("arm", "", f"{key}|{a.variant}", amounts))
        credit.refunded += amount
        credit.seen = _seen(credit.seen, event.id)
        if refund_id:
            credit.refunds = [*credit.refunds, refund_id][-MAX_SEEN:]
        if full:
            credit.reversed_at = event.occurred_at
        self._store.commit(shop.shop, profile_id, [credit, *changed], [d for d in deltas if d.amounts] + arm_deltas)
        return f"order {order_id}: " + ("reversed" if full else f"{amount} refunded")

    # ---- consent: unsubscribes within an experiment -------------------------------------------

    def _consent(self, shop: ShopConfig, profile_id: str, event: CanonicalEvent) -> str:
        props = event.properties
        if getattr(props, "granted", True) or not getattr(props, "channel", None):
            return "ignored: not a channel withdrawn"
        if event.source.kind != SourceKind.EMMA:
            # Only what the customer did with Emma (one-click unsubscribe, the preference centre): shops and
            # trackers restate a standing "no" with every update, which would count as a new unsubscribe.
            return "ignored: a withdrawal restated by a source"
        items = self._store.customer(shop.shop, profile_id)
        changed, deltas = [], []
        for key, a in sorted(items.assignments.items()):
            if a.unsubscribed or _counted(a.seen, event.id):
                continue
            if not (a.assigned_at <= event.occurred_at <= a.assigned_at + _window(shop, a)):
                continue
            a.unsubscribed, a.seen = True, _seen(a.seen, event.id)
            changed.append(a)
            deltas.append(CounterDelta("arm", "", f"{key}|{a.variant}", {"unsubscribed": ONE}))
        if changed:
            self._store.commit(shop.shop, profile_id, changed, deltas)
        return f"unsubscribed in {len(changed)} experiment(s)"

    # ---- journeys -----------------------------------------------------------------------------

    def _journey(self, shop: ShopConfig, profile_id: str, event: CanonicalEvent) -> str:
        p = event.properties
        journey, step = p.journey, p.step or NONE  # type: ignore[union-attr]
        progress = self._store.progress(shop.shop, profile_id, journey) or JourneyProgress(journey=journey)
        if _counted(progress.seen, event.id):
            return "duplicate"
        progress.seen = _seen(progress.seen, event.id)
        day = shop_day(shop, event.occurred_at)
        items: list[object] = [progress]
        deltas: list[CounterDelta] = []

        def count(step_id: str, name: str) -> None:
            deltas.append(CounterDelta("journey", day, f"{journey}|{step_id}", {name: ONE}))

        match event.type:
            case EventType.JOURNEY_ENTERED:  # the first step counts when its task has run (journey.step)
                count(NONE, "entered")
            case EventType.JOURNEY_REFUSED:
                count(NONE, "refused")
            case EventType.JOURNEY_STEP:
                count(step, "entered")
            case EventType.JOURNEY_WAITING:
                count(step, "waiting")
            case EventType.JOURNEY_ENDED:
                status = p.status or "completed"  # type: ignore[union-attr]
                count(NONE, status)
                count(step, status)
            case EventType.JOURNEY_SPLIT:
                key = f"{journey}|{step}"
                existing = self._store.assignment(shop.shop, profile_id, journey, step)
                if existing is None:  # re-entering customers stay in the variant they were first given
                    items.append(
                        Assignment(
                            journey=journey,
                            step=step,
                            variant=p.variant or NONE,  # type: ignore[union-attr]
                            holdout=bool(p.holdout),  # type: ignore[union-attr]
                            assigned_at=event.occurred_at,
                            seen=_seen((), event.id),
                        )
                    )
                    deltas.append(CounterDelta("arm", "", f"{key}|{p.variant or NONE}", {"customers": ONE}))  # type: ignore[union-attr]
        self._store.commit(shop.shop, profile_id, items, deltas)  # type: ignore[arg-type]
        return f"{event.type} {journey}/{step}"


def _apply_message(touch: MessageTouch, event: CanonicalEvent) -> dict[str, Decimal]:
    """Move ``touch`` on by ``event``; the counter amounts that changes."""
    t, at, props = event.type, event.occurred_at, event.properties
    out: dict[str, Decimal] = {}

    def add(name: str, amount: int = 1) -> None:
        out[name] = out.get(name, Decimal(0)) + amount

    if t in SENT:
        if touch.status == "sent":
            return out
        if touch.status == "skipped":  # a retry sent what a crashed attempt had skipped
            add("skipped", -1)
            add(f"skipped_{touch.skip_reason or 'other'}", -1)
        else:
            add("requested")
        add("sent")
        touch.status, touch.sent_at = "sent", at
        touch.coupon = getattr(props, "coupon", None) or touch.coupon
    elif t == EventType.MESSAGE_SKIPPED:
        if touch.status != "unknown":
            return out
        reason = getattr(props, "reason", None) or "other"
        reason = reason if reason in SKIP_REASONS else "other"
        add("requested")
        add("skipped")
        add(f"skipped_{reason}")
        touch.status, touch.skip_reason = "skipped", reason
    elif t in DELIVERED:
        if touch.delivered_at is None:
            add("delivered")
            touch.delivered_at = at
    elif t == EventType.EMAIL_OPENED:
        if is_machine_open(event.context.get("user_agent"), event.context.get("ip")):
            add("machine_opens")
            if touch.opened_at is None and touch.machine_opened_at is None:
                add("opened_machine")
            touch.machine_opened_at = touch.machine_opened_at or at
        else:
            add("opens")
            _opened_by_person(touch, at, add)
    elif t in CLICKED:
        add("clicks")
        if touch.clicked_at is None:
            add("clicked")
            touch.clicked_at = at
        touch.last_click_at = max(touch.last_click_at or at, at)
        if touch.dims.channel == "email":
            _opened_by_person(touch, at, add)  # a click is an open whose pixel was blocked
    elif t == EventType.EMAIL_BOUNCED:
        if not touch.bounced:
            add("bounced")
            if (getattr(props, "bounce_type", None) or "").lower() == "permanent":
                add("bounced_permanent")
            touch.bounced = True
    elif t == EventType.EMAIL_COMPLAINED:
        if not touch.complained:
            add("complained")
            touch.complained = True
    elif t == EventType.EMAIL_UNSUBSCRIBED and not touch.unsubscribed:
        add("unsubscribed")
        touch.unsubscribed = True
    return {k: v for k, v in out.items() if v}


def _opened_by_person(touch: MessageTouch, at: datetime, add: Callable[..., None]) -> None:
    if touch.opened_at is None:
        add("opened")
        if touch.machine_opened_at is not None:  # no longer a message only machines opened
            add("opened_machine", -1)
        touch.opened_at = at
    touch.last_open_at = max(touch.last_open_at or at, at)


def _credit_deltas(
    credits: list[Credit], touches: dict[str, MessageTouch], order_day: str, revenue: Decimal
) -> list[CounterDelta]:
    """The counter deltas of an order's credits: per credited message (on its day, under its dims),
    per journey step (last touch: the funnel's conversions) and the shop's day."""
    by_message: dict[tuple[str, str], dict[str, Decimal]] = {}
    journeys: dict[str, dict[str, Decimal]] = {}
    shop: dict[str, Decimal] = {"orders": ONE, "revenue": revenue}
    for c in credits:
        touch = touches[c.ref]
        amounts = by_message.setdefault((touch.day, c.dims.encode()), {})
        for name, value in ((f"conversions_{c.model}", c.conversions), (f"revenue_{c.model}", c.revenue)):
            amounts[name] = amounts.get(name, Decimal(0)) + value
            shop[name] = shop.get(name, Decimal(0)) + value
        if c.model == "coupon":
            amounts["discount_coupon"] = amounts.get("discount_coupon", Decimal(0)) + c.discount
            shop["discount_coupon"] = shop.get("discount_coupon", Decimal(0)) + c.discount
        if c.model == "last_touch" and c.dims.journey != NONE:
            for step in (NONE, c.dims.step):
                row = journeys.setdefault(f"{c.dims.journey}|{step}", {})
                row["converted"] = row.get("converted", Decimal(0)) + c.conversions
                row["revenue"] = row.get("revenue", Decimal(0)) + c.revenue
    out = [CounterDelta("message", day, key, amounts) for (day, key), amounts in sorted(by_message.items())]
    out += [CounterDelta("journey", order_day, key, amounts) for key, amounts in sorted(journeys.items())]
    out.append(CounterDelta("shop", order_day, "", shop))
    return out


def _reversed(delta: CounterDelta, share: Decimal) -> CounterDelta:
    """What a partial refund takes back of an applied delta: ``share`` of its money; counts stay."""
    amounts = {
        name: -(value * share).quantize(Decimal("0.0001"))
        for name, value in delta.amounts.items()
        if name.startswith(("revenue", "discount"))
    }
    return replace(delta, amounts={k: v for k, v in amounts.items() if v})


def _rest(delta: CounterDelta, taken: list[CounterDelta]) -> CounterDelta:
    """The negation of an applied delta less what was taken back of it already: the counter ends where it
    was before the order, to the last 1/10,000."""
    before = next((t for t in taken if (t.kind, t.day, t.key) == (delta.kind, delta.day, delta.key)), None)
    amounts = {
        name: -value - (before.amounts.get(name, Decimal(0)) if before else Decimal(0))
        for name, value in delta.amounts.items()
    }
    return replace(delta, amounts={k: v for k, v in amounts.items() if v})
