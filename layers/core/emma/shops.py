"""A shop's configuration (keys, webhook secrets, dispatch settings: frequency cap, quiet hours,
brand, providers) and the directory that finds it (Secrets Manager in AWS: emma.adapters.shops)."""

from __future__ import annotations

import logging
from datetime import time
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from emma.events.model import Channel
from emma.offers.config import AnyCoupons, IncentiveConfig, parse_coupons

log = logging.getLogger(__name__)


class FrequencyCap(BaseModel):
    """At most ``messages`` marketing messages per customer in any ``days`` days (all channels, all journeys)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    messages: int = Field(ge=0, le=100)
    days: int = Field(ge=1, le=90)


class QuietHours(BaseModel):
    """No marketing message between ``start`` and ``end`` in the customer's own timezone (deferred, not dropped)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    start: time = time(21, 0)
    end: time = time(8, 0)

    def contains(self, at: time) -> bool:
        if self.start <= self.end:
            return self.start <= at < self.end
        return at >= self.start or at < self.end  # over midnight


class Brand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str = "https://www.example.com"
    address: str = ""
    color: str = Field("#0f766e", pattern=r"^#[0-9a-fA-F]{6}$")
    logo_url: str | None = None
    support_email: str | None = None


# Consent categories as real clients name them (docs/tracking.md#consent-categories): Segment's own
# examples (Analytics, Advertising), OneTrust's default group ids (C0002 performance, C0004 targeting)
# and names, Cookiebot's (statistics, marketing), Shopify's Customer Privacy API (analytics,
# marketing), Segment's retired consent-manager (marketingAndAnalytics, advertising).
DEFAULT_ANALYTICS_CATEGORIES = ("Analytics", "Performance", "Statistics", "C0002", "marketingAndAnalytics")
DEFAULT_MARKETING_CATEGORIES = (
    "Advertising",
    "Marketing",
    "Targeting",
    "Personalization",
    "C0004",
    "marketingAndAnalytics",
)
_CategoryName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
_EventName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512)]


class TrackerConsent(BaseModel):
    """Which of the visitor's cookie-consent categories gate what the tracker builds on a profile.

    A tracker call may carry the visitor's choices: Segment's ``context.consent.categoryPreferences``
    (category -> true/false, as @segment/analytics-consent-tools stamps it on every call) or
    RudderStack's ``context.consentManagement`` (allowed / denied category ids). Names are compared
    without regard to case. Without analytics consent, browsing behaviour builds nothing; without
    marketing consent, nothing that drives marketing (interest scores, the cart and checkout behind
    abandonment journeys, a channel opt-in) is taken from the call. A call without such an object is
    processed on the shop's own legal basis, as before (docs/tracking.md#consent-categories)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    analytics: tuple[_CategoryName, ...] = Field(
        DEFAULT_ANALYTICS_CATEGORIES,
        max_length=50,
        description="categories whose denial stops behavioural profile building (page views, product views, "
        "searches, carts, tutorials, custom events)",
    )
    marketing: tuple[_CategoryName, ...] = Field(
        DEFAULT_MARKETING_CATEGORIES,
        max_length=50,
        description="categories whose denial stops marketing signals (interest scores, cart and checkout, "
        "channel opt-ins taken from the call)",
    )
    unlisted_denies: bool = Field(
        False,
        description="a category of the lists that the call's consent object does not name counts as denied "
        "(as Segment's enforcement reads it); set it when the CMP sends only the categories granted",
    )
    marketing_events: tuple[_EventName, ...] = Field(
        (),
        max_length=100,
        description="custom track event names that are marketing signals too (a trigger of a marketing journey)",
    )


class Topic(BaseModel):
    """A kind of marketing message a customer may choose in the preference centre; every marketing
    template declares one (``topic:``), and dispatch skips a message whose topic the customer declined."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    label: dict[Literal["de", "en"], str] = Field(description="what the preference centre calls it, per locale")
    description: dict[Literal["de", "en"], str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _both_locales(self) -> Topic:
        missing = [loc for loc in ("de", "en") if not self.label.get(loc)]
        if missing:
            raise ValueError(f"topic {self.id!r} needs a label in every locale; missing: {', '.join(missing)}")
        return self


DEFAULT_TOPICS: tuple[Topic, ...] = (
    Topic(
        id="newsletter",
        label={"de": "Newsletter und Neuigkeiten", "en": "Newsletter and news"},
        description={
            "de": "Was es Neues gibt, persönliche Empfehlungen, Umfragen",
            "en": "What is new, personal picks, surveys",
        },
    ),
    Topic(
        id="tutorials",
        label={"de": "Anleitungen und Tipps", "en": "Tutorials and tips"},
        description={
            "de": "Wie du mehr aus deinen Geräten herausholst",
            "en": "How to get more out of your devices",
        },
    ),
    Topic(
        id="offers",
        label={"de": "Angebote", "en": "Offers"},
        description={
            "de": "Gutscheine, Zubehör, Erinnerungen an deinen Warenkorb",
            "en": "Coupons, accessories, reminders of your cart",
        },
    ),
)


class DispatchConfig(BaseModel):
    """How a shop's messages go out: sender, consent policy, caps, quiet hours, channels and providers."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sender: str | None = Field(None, description="From address of emails, on a domain verified in SES")
    sender_name: str | None = None
    reply_to: str | None = None
    default_locale: Literal["de", "en"] = "de"
    double_opt_in: bool = Field(True, description="email needs consent confirmed by double opt-in")
    caps: tuple[FrequencyCap, ...] = (FrequencyCap(messages=3, days=7),)
    quiet_hours: QuietHours | None = QuietHours()
    channel_order: tuple[Channel, ...] = (Channel.EMAIL, Channel.PUSH, Channel.SMS)
    providers: dict[Channel, Literal["ses", "sns", "webhook"]] = Field(
        default_factory=lambda: {Channel.EMAIL: "ses", Channel.SMS: "sns", Channel.PUSH: "sns"}
    )
    webhook_url: str | None = Field(None, description="where the webhook provider posts messages")
    push_application_arn: str | None = Field(None, description="SNS platform application for push tokens")
    sms_sender_id: str | None = Field(None, pattern=r"^[A-Za-z0-9]{1,11}$")
    brand: Brand = Field(default_factory=Brand)
    topics: tuple[Topic, ...] = Field(
        DEFAULT_TOPICS, description="marketing topics customers choose in the preference centre"
    )
    confirm_link_days: int = Field(7, ge=1, le=90, description="how long a double opt-in confirmation link works")
    preference_link_days: int = Field(
        180, ge=1, le=730, description="how long the preference-centre link of a message works"
    )
    send_rate: float | None = Field(
        None, gt=0, le=1000, description="the shop's SES sending quota, messages per second: caps every campaign's rate"
    )

    def topic(self, topic_id: str) -> Topic | None:
        return next((t for t in self.topics if t.id == topic_id), None)


class PrivacyConfig(BaseModel):
    """Export and erasure (docs/privacy.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    salt: str | None = Field(
        None,
        min_length=16,
        description="salts the hashes an erasure keeps (suppressed addresses, audit subjects); default: derived "
        "from signing_secret. Set it once and never change it: a new salt forgets every suppression",
    )
    inactive_months: int | None = Field(
        None,
        ge=1,
        le=240,
        description="erase profiles whose customer did nothing for this many months (the privacy schedule; default: "
        "never). Activity: the customer's own events, not Emma's sends, deliveries or journey steps",
    )
    event_log_days: int | None = Field(
        None,
        ge=42,
        le=3650,
        description="keep the event log this many days (default: EMMA_EVENT_LOG_TTL_DAYS, 400). At least 42: an "
        "erasure finds the idempotency records of a customer's events through the log, and they live 35 days (and "
        "DynamoDB may take days to delete them)",
    )
    notify_url: str | None = Field(
        None,
        pattern=r"^https://",
        description="where Emma POSTs (signed like its webhook deliveries) that a Shopify data request's export is "
        "ready; without it the export waits in GET /v1/privacy/jobs",
    )


class AnalyticsConfig(BaseModel):
    """Measurement (docs/analytics.md): attribution windows per channel and touch, experiment windows."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    email_open_hours: int = Field(120, ge=0, le=90 * 24, description="an order within this long of an email open")
    email_click_hours: int = Field(120, ge=0, le=90 * 24, description="... of a click in an email")
    sms_click_hours: int = Field(120, ge=0, le=90 * 24, description="... of a click on an SMS link")
    push_click_hours: int = Field(24, ge=0, le=90 * 24, description="... of a push notification opened")
    experiment_days: int = Field(
        30,
        ge=1,
        le=365,
        description="an experiment counts a customer's orders and unsubscribes this long after assignment",
    )


class ShopConfig(BaseModel):
    """One shop (tenant). Stored as a JSON secret (Secrets Manager) named <prefix><shop>."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    shop: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str | None = None
    write_keys: tuple[str, ...] = ()
    admin_keys: tuple[str, ...] = ()
    webhook_secrets: dict[str, str] = Field(default_factory=dict, description="platform -> secret")
    shopify_domain: str | None = None
    timezone: str = "Europe/Berlin"
    currency: str = "EUR"
    tracker_consent: TrackerConsent = Field(
        default_factory=TrackerConsent, description="which consent categories gate tracker profile building"
    )
    signing_secret: str | None = Field(
        None, description="signs unsubscribe tokens, webhook deliveries and coupon codes (dispatch needs it)"
    )
    dispatch: DispatchConfig = Field(default_factory=DispatchConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig)
    coupons: AnyCoupons | None = Field(
        None,
        description="the coupon provider that creates the codes Emma sends (docs/offers.md): shopify, woocommerce, "
        "shopware or pool; none: messages with a coupon go out without one, the reason on the message log",
    )
    incentives: IncentiveConfig = Field(default_factory=IncentiveConfig)

    @field_validator("incentives", mode="wrap")
    @classmethod
    def _incentives_never_disable_the_shop(cls, value: object, handler: Any) -> IncentiveConfig:
        """An incentives entry that does not validate falls back to the defaults (logged): a typo in a share must
        not take the shop's webhooks and messages down with it. The local config refuses it with file:line."""
        try:
            return handler(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "incentives"
            log.warning("incentives.%s: %s; the defaults apply", where, first["msg"])
            return IncentiveConfig()

    @field_validator("coupons", mode="before")
    @classmethod
    def _coupons_never_disable_the_shop(cls, value: object) -> object:
        """A coupons entry that does not validate becomes BrokenCoupons: its messages wait, with the reason."""
        return None if value is None else parse_coupons(value)

    def __repr__(self) -> str:  # never print secrets
        return f"ShopConfig(shop={self.shop!r}, name={self.name!r})"

    __str__ = __repr__


class ShopDirectory(Protocol):
    def get(self, shop: str) -> ShopConfig:
        """The shop's configuration, or ShopNotFound."""
        ...

    def by_write_key(self, key: str) -> ShopConfig:
        """The shop owning a tracker write key, or Unauthorized."""
        ...

    def by_admin_key(self, key: str) -> ShopConfig: ...

    def by_shopify_domain(self, domain: str) -> ShopConfig: ...

    def all(self) -> list[ShopConfig]:
        """Every shop configured (the privacy schedule's retention goes through them)."""
        ...
