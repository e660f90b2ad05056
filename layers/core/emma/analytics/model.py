"""What analytics counts and remembers, as typed data.

Three things are kept (emma.adapters.analytics stores them; docs/analytics.md explains them):

- **Counters** per shop, UTC day and message dimensions (journey, step, template, variant, channel):
  ``MessageCounts``, ADDed atomically by the consumer, summed over days and shards by the reports.
- **Per customer**, in the customer's own partition: one ``MessageTouch`` per message Emma sent or
  skipped (what it was, when it was opened and clicked: the touches attribution reads), one
  ``Assignment`` per experiment (split step) the customer was put in, and one ``OrderCredit`` per
  attributed order (what it credited, so that a cancellation takes exactly that back).
- **Per experiment** (journey, split step, variant): ``ArmCounts``, cumulative since the first assignment.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Literal

NONE = "-"  # a dimension a message does not have (no journey, no variant)


@dataclass(frozen=True, order=True)
class Dims:
    """What a message was: the counters' grouping. ``NONE`` where it has no such thing."""

    journey: str = NONE
    step: str = NONE
    template: str = NONE
    variant: str = NONE
    channel: str = NONE

    def encode(self) -> str:
        return "|".join(getattr(self, f.name).replace("|", "/") for f in fields(self))

    @classmethod
    def decode(cls, text: str) -> Dims:
        parts = text.split("|")
        if len(parts) != 5:
            raise ValueError(f"not encoded dimensions: {text!r}")
        return cls(*parts)

    def value(self, name: str) -> str:
        return getattr(self, name)


DIMENSIONS = tuple(f.name for f in fields(Dims))

# Counter names (DynamoDB attributes c_<name>). Revenue counters hold money in the shop's currency.
MESSAGE_COUNTERS = (
    "requested",  # the dispatcher settled a request: sent + skipped
    "sent",
    "skipped",  # also skipped_<reason> per reason (SKIP_REASONS)
    "delivered",
    "opened",  # unique: messages opened by a person at least once
    "opens",  # total opens by people
    "opened_machine",  # messages whose only opens were machine opens (Apple Mail Privacy Protection, scanners)
    "machine_opens",  # total machine opens
    "clicked",  # unique: messages clicked at least once
    "clicks",  # total clicks
    "bounced",
    "bounced_permanent",
    "complained",
    "unsubscribed",
    # attribution: conversions (orders, fractional in the multi-touch models) and revenue per model
    "conversions_last_touch",
    "revenue_last_touch",
    "conversions_linear",
    "revenue_linear",
    "conversions_position",
    "revenue_position",
    "conversions_coupon",  # orders that redeemed the coupon this message carried (any time)
    "revenue_coupon",
    "discount_coupon",  # the discount those orders got
)
# The dispatch stage that skipped a message (emma.dispatch.policy decisions): skipped_<stage>.
SKIP_REASONS = (
    "consent",  # no consent, withdrawn, or not confirmed by double opt-in
    "preferences",  # a declined topic or a pause (the preference centre)
    "suppression",  # a bounced or complained address
    "address",  # no valid address
    "frequency",  # a frequency cap
    "channel",  # the template has no content for the channel
    "relevance",  # it offers what the customer just bought
    "dispatch",  # nothing to send (no such template or profile, a confirmation handed on)
    "incentive",  # no working coupon code (the shop refused it, an empty pool, a provider down for 48 h)
    "other",
)
ALL_MESSAGE_COUNTERS = MESSAGE_COUNTERS + tuple(f"skipped_{r}" for r in SKIP_REASONS)

JOURNEY_COUNTERS = (
    "entered",  # customers who reached the step (the first step: entered the journey)
    "waiting",  # customers who began waiting there (an await or a wait for an event)
    "completed",
    "exited",  # left early (an exit event, a stop)
    "failed",
    "refused",  # entries refused (another journey or an exclusion stood in the way; the re-entry rules)
    "converted",  # orders attributed (last touch) to the step's messages, on the order's day
    "revenue",  # their revenue
)

ARM_COUNTERS = (
    "customers",  # assigned to the arm
    "converted",  # customers with at least one counted order within the window after assignment
    "orders",
    "revenue",
    "revenue_sq",  # sum over customers of (their revenue within the window)^2: the variance of revenue per customer
    "unsubscribed",  # customers who unsubscribed (any channel) within the window after assignment
    "discount",  # coupon discounts granted to the arm's orders (what the incentive cost)
)

Model = Literal["last_touch", "linear", "position"]
MODELS: tuple[Model, ...] = ("last_touch", "linear", "position")


@dataclass(frozen=True)
class Windows:
    """How long after a touch an order is credited to it, per channel and kind of touch (hours).
    Defaults as Klaviyo's: an email opened or clicked 5 days, an SMS clicked 5 days, a push opened
    (clicked) 1 day. A delivery alone is no touch."""

    email_open: int = 120
    email_click: int = 120
    sms_click: int = 120
    push_click: int = 24

    def hours(self, channel: str, kind: str) -> int | None:
        return getattr(self, f"{channel}_{kind}", None)


@dataclass
class MessageTouch:
    """A message as analytics remembers it for one customer (item AM#<message ref>)."""

    ref: str
    dims: Dims
    day: str  # the shop's day its counters are on: that of the first event counted (its send, almost always)
    status: Literal["sent", "skipped", "unknown"] = "unknown"  # unknown: feedback came before the send record
    skip_reason: str | None = None
    sent_at: datetime | None = None
    coupon: str | None = None
    delivered_at: datetime | None = None
    opened_at: datetime | None = None  # first human open
    machine_opened_at: datetime | None = None
    clicked_at: datetime | None = None  # first click
    last_open_at: datetime | None = None  # newest human open
    last_click_at: datetime | None = None
    bounced: bool = False
    complained: bool = False
    unsubscribed: bool = False
    seen: tuple[str, ...] = ()  # the event ids already counted (exactly once)
    version: int = 0

    def touches(self) -> list[tuple[datetime, str]]:
        """(time, kind) of what counts as a touch: the first and the newest human open and click (an open
        counted after an order, its event processed first, does not hide the one before it)."""
        out: list[tuple[datetime, str]] = []
        for at, kind in (
            (self.opened_at, "open"),
            (self.last_open_at, "open"),
            (self.clicked_at, "click"),
            (self.last_click_at, "click"),
        ):
            if at is not None and (at, kind) not in out:
                out.append((at, kind))
        return out


@dataclass
class Assignment:
    """The customer in one experiment: the variant they got and what they did since (item AX#...)."""

    journey: str
    step: str
    variant: str
    holdout: bool
    assigned_at: datetime
    orders: int = 0
    revenue: Decimal = Decimal(0)
    discount: Decimal = Decimal(0)
    unsubscribed: bool = False
    seen: tuple[str, ...] = ()
    version: int = 0


@dataclass(frozen=True)
class Credit:
    """One share of an order's revenue credited to a message (or a journey's experiment arm)."""

    model: Model | Literal["coupon"]
    dims: Dims
    ref: str
    conversions: Decimal
    revenue: Decimal
    discount: Decimal = Decimal(0)


@dataclass
class OrderCredit:
    """What an order credited (item AN#O#<order id>): the counter deltas it applied and the experiment
    arms it counted in, kept so that a cancellation or refund takes back exactly that."""

    order_id: str
    placed_at: datetime
    revenue: Decimal
    discount: Decimal = Decimal(0)
    applied: list[CounterDelta] = field(default_factory=list)
    arms: list[str] = field(default_factory=list)  # the assignments (journey|step) the order counted in
    refunded: Decimal = Decimal(0)  # revenue taken back so far
    taken: list[CounterDelta] = field(default_factory=list)  # what partial refunds took back (negative amounts)
    refunds: list[str] = field(default_factory=list)  # the refund ids taken back (a refund restated counts once)
    reversed_at: datetime | None = None  # cancelled (or refunded in full): everything taken back
    seen: tuple[str, ...] = ()
    version: int = 0


@dataclass
class CustomerItems:
    """Every analytics item in one customer's partition."""

    touches: dict[str, MessageTouch] = field(default_factory=dict)  # by message reference
    assignments: dict[str, Assignment] = field(default_factory=dict)  # by journey|step
    orders: dict[str, OrderCredit] = field(default_factory=dict)  # by order id
    journeys: dict[str, JourneyProgress] = field(default_factory=dict)  # by journey


@dataclass
class JourneyProgress:
    """The journey events already counted for this customer in one journey (item AN#J#<journey>)."""

    journey: str
    seen: tuple[str, ...] = ()
    version: int = 0


@dataclass(frozen=True)
class CounterDelta:
    """ADD these amounts to one counter item."""

    kind: Literal["message", "journey", "arm", "shop"]
    day: str  # YYYY-MM-DD (UTC); "" for cumulative counters (arms)
    key: str  # encoded Dims, "journey|step", "journey|step|variant", or "" for shop-wide
    amounts: dict[str, Decimal]


def merge_deltas(deltas: list[CounterDelta]) -> list[CounterDelta]:
    """Deltas of the same counter item added up, in first-seen order (a transaction names an item once)."""
    merged: dict[tuple[str, str, str], dict[str, Decimal]] = {}
    for d in deltas:
        row = merged.setdefault((d.kind, d.day, d.key), {})
        for name, value in d.amounts.items():
            row[name] = row.get(name, Decimal(0)) + value
    return [CounterDelta(kind, day, key, amounts) for (kind, day, key), amounts in merged.items()]  # type: ignore[arg-type]


INCENTIVE_PREFIX = "incentive:"  # the incentive arms' "journey": incentive:<template>, step band-<i> (or band-none)


def incentive_key(template: str, band: int | None) -> tuple[str, str]:
    """(journey, step) under which a template's incentive arms are counted, per band of P(buy)."""
    return f"{INCENTIVE_PREFIX}{template}", f"band-{'none' if band is None else band}"


def band_of_step(step: str) -> int:
    """The band index of an incentive arm's step (band-<i>); -1 for band-none."""
    tail = step.removeprefix("band-")
    return int(tail) if tail.isdigit() else -1
