"""The unified profile: the customer as Emma knows them.

A profile is plain data. ``emma.profiles.apply`` folds canonical events into it and merges two
profiles; the repository stores it with an optimistic version check so concurrent writers never
lose an update. Every collection is bounded so a profile item stays far below DynamoDB's 400 KB.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from emma.events.model import Channel, ConsentProof, CustomerRefs
from emma.predict.history import Purchases, combine, summarise

# Bounds (documented in docs/profiles.md).
MAX_IDS_PER_KIND = 50
MAX_RECENT_ORDERS = 100
MAX_PRODUCTS_OWNED = 500
MAX_AFFINITY_KEYS = 50
MAX_TRAITS = 100
MAX_COUPONS = 50
MAX_TUTORIALS = 100
MAX_RECOMMENDED = 100  # products recommended in messages, newest kept
MAX_CONTENT_SENT = 100  # content blocks sent in messages, newest kept
AFFINITY_HALF_LIFE_DAYS = 90.0
MAX_EVENT_TIMES = 20  # per event type; count conditions may ask for at most this many
MAX_INVALID_ADDRESSES = 10  # invalid addresses remembered, newest kept
MAX_TOPICS = 50  # marketing topics a customer chose in the preference centre
MAX_REFUNDS_PER_ORDER = 10  # refunds applied to one order; a further one is stored and changes nothing
# Business ids remembered per kind so a redelivery under a new delivery id is not counted again.
MAX_COUNTED_IDS = {
    "order": MAX_RECENT_ORDERS,
    "refund": MAX_RECENT_ORDERS,
    "coupon": MAX_COUPONS,
    "email": 100,
    "sms": 100,
    "push": 100,
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=False)


class ConsentState(_Model):
    granted: bool
    proof: ConsentProof
    since: datetime | None = Field(
        None,
        description="when this state began: the first statement of it in a row (an unconfirmed email grant's "
        "confirmation mail is keyed by it, so restating the grant sends no second one)",
    )
    confirm_required: bool = Field(
        False,
        description="the address belonged to an erased customer (emma.privacy): this grant counts only once "
        "confirmed by double opt-in, whatever the shop requires",
    )

    @property
    def started(self) -> datetime:
        return self.since or self.proof.at


class PauseState(_Model):
    """Marketing messages paused by the customer (preference centre) until ``until``."""

    until: datetime
    proof: ConsentProof


class OrderRecord(_Model):
    order_id: str
    status: Literal["placed", "paid", "fulfilled", "cancelled"]
    total: Decimal
    currency: str
    placed_at: datetime
    items: dict[str, int] = Field(default_factory=dict, description="product id -> quantity")
    counted: bool = True  # counted in the aggregates (false once cancelled)
    test: bool = False  # a test order: never counted, nor among the cancellations
    refunded: Decimal = Field(
        Decimal("0"), description="refunded so far (partial refunds add up); at the total the order is cancelled"
    )
    refunds: dict[str, Decimal] = Field(
        default_factory=dict,
        description="the refunds applied, each once: refund key (order id + refund id, else amount and "
        "products; emma.profiles.apply._refund_key) -> the amount it took off",
    )
    refund_items: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="refund key -> the products it took off the order (product id -> quantity), for merges",
    )

    @property
    def net(self) -> Decimal:
        """What the order counts for in the revenue: its total less what was refunded."""
        return self.total - self.refunded


class OrderStats(_Model):
    count: int = 0
    revenue: Decimal = Decimal("0")
    currency: str | None = None
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    cancelled: int = 0
    recent: list[OrderRecord] = Field(default_factory=list)
    dropped: Purchases | None = Field(
        None,
        description="the purchase summary of counted orders no longer kept in ``recent`` (the oldest go first), "
        "so that the models' inputs do not depend on how many orders a profile keeps",
    )

    def purchases(self) -> Purchases | None:
        """The customer's purchase summary (emma.predict.history): the orders no longer kept, then the kept
        counted orders at their net value."""
        kept = summarise((r.placed_at, float(r.net)) for r in self.recent if r.counted)
        return combine(self.dropped, kept)

    @property
    def average_basket(self) -> Decimal | None:
        if self.count <= 0:
            return None
        return (self.revenue / self.count).quantize(Decimal("0.01"))


class OwnedProduct(_Model):
    quantity: int = 0
    first_bought_at: datetime
    last_bought_at: datetime
    category: str | None = None
    brand: str | None = None


class Affinity(_Model):
    """An exponentially decaying interest score (half-life AFFINITY_HALF_LIFE_DAYS)."""

    score: float
    at: datetime
    via: str | None = None  # the last kind of signal: viewed, searched, watched, clicked, carted, bought

    def decayed(self, at: datetime) -> float:
        """The score as it stands at ``at`` (never more than the stored score: earlier times count as ``at``)."""
        days = max(0.0, (at - self.at).total_seconds() / 86400.0)
        return self.score * math.pow(0.5, days / AFFINITY_HALF_LIFE_DAYS)


class Affinities(_Model):
    categories: dict[str, Affinity] = Field(default_factory=dict)
    brands: dict[str, Affinity] = Field(default_factory=dict)
    products: dict[str, Affinity] = Field(default_factory=dict)
    topics: dict[str, Affinity] = Field(default_factory=dict, description="tutorial topics, searches")


class ChannelStats(_Model):
    sent: int = 0  # handed to the provider by Emma's dispatcher
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    bounced: int = 0
    complained: int = 0
    last_open_at: datetime | None = None
    last_click_at: datetime | None = None
    hours: list[int] = Field(
        default_factory=list,
        description="opens and clicks per hour of the day (UTC, 24 counts): send-time optimisation reads it",
    )


class ContentSent(_Model):
    """A content block (emma.content) Emma sent this customer in a message, and whether they clicked or read it."""

    at: datetime
    url: str
    topics: list[str] = Field(default_factory=list)
    clicked_at: datetime | None = None
    read_at: datetime | None = None


class Recommended(_Model):
    """A product Emma recommended to this customer in a message, and whether they clicked it."""

    at: datetime
    url: str | None = None
    clicked_at: datetime | None = None


class UpgradeEstimate(_Model):
    """When the owner of a device is likely open to a new one: its age against the typical
    replacement cycle of its category, brought forward by interest in the category and by
    engagement, pushed back when the customer does not respond at all."""

    product_id: str
    category: str
    bought_at: datetime
    cycle_days: int
    factor: float = Field(description="applied to the cycle: below 1 = earlier (interest, engagement)")
    due_at: datetime
    signals: list[str] = Field(default_factory=list, description="what moved the estimate")


class Cart(_Model):
    cart_id: str | None = None
    value: Decimal | None = None
    currency: str | None = None
    items: dict[str, int] = Field(default_factory=dict)
    updated_at: datetime
    checkout_started_at: datetime | None = None
    recovery_url: str | None = None


class Suppression(_Model):
    reason: Literal["hard_bounce", "complaint", "unsubscribe"]
    at: datetime


class Trait(_Model):
    value: Any
    at: datetime


class InvalidAddressSeen(_Model):
    """An address a source sent for this customer that is not valid. It is never an identity alias,
    never the profile's email or phone, and never reaches a provider."""

    kind: Literal["email", "phone"]
    value: str = Field(description="as sent, control and formatting characters escaped (\\n, \\u202e), cut")
    reason: str
    source: str = Field(description="where it was last seen: <source kind>:<topic or call>")
    first_seen_at: datetime
    last_seen_at: datetime


class Profile(_Model):
    shop: str
    profile_id: str
    created_at: datetime
    updated_at: datetime
    version: int = 0
    customer_ids: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    anonymous_ids: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)
    invalid_addresses: list[InvalidAddressSeen] = Field(
        default_factory=list,
        description="addresses sent for this customer that are not valid, with the reason (the newest 10)",
    )
    traits: dict[str, Trait] = Field(default_factory=dict)
    consent: dict[Channel, ConsentState] = Field(default_factory=dict)
    suppressions: dict[Channel, Suppression] = Field(default_factory=dict)
    topic_consent: dict[str, ConsentState] = Field(
        default_factory=dict,
        description="marketing topics the customer chose in the preference centre (absent: wanted), with proof",
    )
    pause: PauseState | None = Field(None, description="marketing messages paused until, with proof")
    orders: OrderStats = Field(default_factory=OrderStats)
    products_owned: dict[str, OwnedProduct] = Field(default_factory=dict)
    affinities: Affinities = Field(default_factory=Affinities)
    channels: dict[Channel, ChannelStats] = Field(default_factory=dict)
    cart: Cart | None = None
    coupons_redeemed: list[str] = Field(default_factory=list)
    recommended: dict[str, Recommended] = Field(
        default_factory=dict, description="product id -> last recommended in a message (newest MAX_RECOMMENDED)"
    )
    upgrade: UpgradeEstimate | None = Field(None, description="the device most likely due for an upgrade, and when")
    tutorials_watched: dict[str, datetime] = Field(default_factory=dict)
    content_sent: dict[str, ContentSent] = Field(
        default_factory=dict, description="content block id -> sent in a message (newest MAX_CONTENT_SENT)"
    )
    last_survey: dict[str, Any] | None = None
    reviews: int = 0
    referrals: int = 0
    event_counts: dict[str, int] = Field(
        default_factory=dict,
        description="per event type, how many: order events once per order id, coupon redemptions once per "
        "order and code, message events once per message id; the rest once per event",
    )
    counted: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="the business ids already counted, per kind (order, refund, coupon, email, sms, push): id -> "
        "one letter per event type counted (emma.profiles.apply._COUNTED); newest MAX_COUNTED_IDS kept",
    )
    event_times: dict[str, list[int]] = Field(
        default_factory=dict,
        description="per event type, the newest MAX_EVENT_TIMES occurrence times (epoch seconds, ascending): "
        "windowed counts such as 'second order within 90 days' are read from here",
    )
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    last_active_at: datetime | None = Field(
        None,
        description="the customer's own newest activity (not Emma's sends, deliveries or journey steps): what a "
        "shop's retention (privacy.inactive_months) measures",
    )
    last_seen: dict[str, datetime] = Field(default_factory=dict, description="per source kind")
    imported_at: datetime | None = Field(
        None, description="when history was last imported into the profile (emma import): the time Emma received it"
    )
    log_seq: int = 0
    merged_from: list[str] = Field(default_factory=list)
    merged_into: str | None = None

    @property
    def email(self) -> str | None:
        return self.emails[0] if self.emails else None

    @property
    def customer_id(self) -> str | None:
        return self.customer_ids[0] if self.customer_ids else None

    def references(self) -> CustomerRefs:
        """What an event about this customer carries so ingest finds this profile: the shop customer
        id and email, or for an anonymous visitor the first anonymous id."""
        known = self.customer_id or self.email
        return CustomerRefs(
            customer_id=self.customer_id,
            email=self.email,
            anonymous_id=None if known else next(iter(self.anonymous_ids), None),
        )

    @property
    def is_known(self) -> bool:
        """Known customers have an email or a shop customer id; the rest are anonymous visitors."""
        return bool(self.customer_ids or self.emails)

    @property
    def categories_owned(self) -> list[str]:
        """The categories of the products the customer owns (conditions: profile.categories_owned)."""
        return sorted({p.category for p in self.products_owned.values() if p.category})

    def view(self) -> dict[str, Any]:
        """The API's representation: stored fields plus derived ones."""
        data = self.model_dump(mode="json", exclude={"log_seq"})
        data["email"] = self.email
        data["customer_id"] = self.customer_id
        data["known"] = self.is_known
        data["orders"]["average_basket"] = (
            str(self.orders.average_basket) if self.orders.average_basket is not None else None
        )
        data["traits"] = {k: t.value for k, t in self.traits.items()}
        return data


def new_profile(shop: str, profile_id: str, at: datetime) -> Profile:
    return Profile(shop=shop, profile_id=profile_id, created_at=at, updated_at=at)
