"""Ports: what the domain needs from the outside world. Adapters implement them (DynamoDB,
EventBridge, Secrets Manager) and in-memory fakes implement them for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, Literal, NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict, Field

from emma.errors import EmmaError
from emma.events.model import CanonicalEvent, CatalogEvent, Channel, CustomerRefs
from emma.profiles.model import Profile

AliasKind = Literal["cid", "email", "anon"]


class AliasKey(NamedTuple):
    """An identity that points at one profile: a shop customer id, an email or an anonymous id."""

    kind: AliasKind
    value: str


def alias_keys(refs: CustomerRefs) -> list[AliasKey]:
    keys: list[AliasKey] = []
    if refs.customer_id:
        keys.append(AliasKey("cid", refs.customer_id))
    if refs.email:
        keys.append(AliasKey("email", refs.email))
    if refs.anonymous_id:
        keys.append(AliasKey("anon", refs.anonymous_id))
    return keys


@dataclass(frozen=True)
class IdempotencyRecord:
    event_id: str
    profile_id: str | None
    stored_at: datetime
    published: bool
    repeat: bool = False  # the event repeated a thing already counted: a republish must say so again


@dataclass
class Commit:
    """One atomic write: a profile's new state, the events it absorbed, the aliases it claims.

    ``expected_version`` None means the profile must not exist yet. Every event id must be new
    (its idempotency record is written in the same transaction). ``claim_aliases`` must be absent or
    already point at this profile; ``repoint_aliases`` are moved from merged-away profiles.
    """

    shop: str
    profile: Profile
    expected_version: int | None
    events: list[CanonicalEvent]
    first_seq: int
    claim_aliases: list[AliasKey] = field(default_factory=list)
    repoint_aliases: list[AliasKey] = field(default_factory=list)
    tombstones: list[tuple[Profile, int]] = field(default_factory=list)  # (loser, its expected version)


class CommitConflict(EmmaError):
    """The commit's conditions failed; nothing was written."""

    status = 409

    def __init__(self, *, duplicates: Sequence[str] = (), stale: bool = False, alias_taken: bool = False):
        self.duplicates = set(duplicates)
        self.stale = stale
        self.alias_taken = alias_taken
        super().__init__(
            f"commit conflict: duplicates={sorted(self.duplicates)} stale={stale} alias_taken={alias_taken}"
        )


class ProfileRepository(Protocol):
    def lookup(
        self, shop: str, aliases: Sequence[AliasKey], event_ids: Sequence[str]
    ) -> tuple[dict[AliasKey, str], dict[str, IdempotencyRecord]]:
        """Which profile each alias points at, and which events were already stored (one read)."""
        ...

    def get_profiles(self, shop: str, profile_ids: Sequence[str]) -> dict[str, Profile]: ...

    def commit(self, commit: Commit) -> None:
        """Write atomically or raise CommitConflict."""
        ...

    def mark_published(self, shop: str, records: Sequence[IdempotencyRecord]) -> None: ...

    def claim_republish(self, shop: str, event_id: str, now: datetime, lease_seconds: int) -> bool:
        """Take the right to re-publish a stored-but-unpublished event (one claimant per lease)."""
        ...

    def repoint_aliases(self, shop: str, aliases: Sequence[AliasKey], profile_id: str) -> None: ...

    def move_log(self, shop: str, from_profile: str, to_profile: str) -> int:
        """Move a merged-away profile's event log into the winner's partition; returns entries moved."""
        ...

    def read_log(self, shop: str, profile_id: str, limit: int) -> list[dict[str, Any]]: ...


class CatalogRepository(Protocol):
    def upsert_product(self, event: CatalogEvent) -> bool:
        """Store the product unless this event was seen or an newer update is stored; False if duplicate."""
        ...

    def get_product(self, shop: str, product_id: str) -> dict[str, Any] | None: ...


class EventPublisher(Protocol):
    def publish(self, events: Sequence[CanonicalEvent]) -> None:
        """Publish all or raise PublishError naming what failed after retries."""
        ...


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


class Clock(Protocol):
    def now(self) -> datetime: ...
