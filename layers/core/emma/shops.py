"""A shop's configuration (keys, webhook secrets, dispatch settings: frequency cap, quiet hours,
brand, providers) and the directory that finds it (Secrets Manager in AWS: emma.adapters.shops)."""

from __future__ import annotations

from datetime import time
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from emma.events.model import Channel


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
    signing_secret: str | None = Field(
        None, description="signs unsubscribe tokens, webhook deliveries and coupon codes (dispatch needs it)"
    )
    dispatch: DispatchConfig = Field(default_factory=DispatchConfig)

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
