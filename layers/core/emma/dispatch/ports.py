"""What the dispatcher needs from the outside world. DynamoDB/SES/SNS adapters implement these in
emma.adapters.dispatch and emma.adapters.channels; emma_local.fakes has in-memory fakes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from emma.dispatch.request import MessageRequest
from emma.errors import EmmaError
from emma.events.model import Channel
from emma.shops import FrequencyCap

Status = Literal["processing", "sending", "sent", "skipped", "deferred", "failed", "unknown"]
FINAL: frozenset[str] = frozenset({"sent", "skipped", "unknown"})


@dataclass
class MessageRecord:
    """One message request's entry in the profile's message log."""

    shop: str
    profile_id: str
    key: str
    status: Status
    template: str
    requested_at: datetime
    updated_at: datetime
    attempts: int = 0
    journey: str | None = None
    channel: str | None = None
    locale: str | None = None
    subject: str | None = None
    preview: str | None = None
    provider_id: str | None = None
    not_before: datetime | None = None
    lease_until: datetime | None = None
    coupon: str | None = None
    incentive: dict[str, Any] | None = None  # the incentive decision: policy, arm, p, band (emma.offers.policy)
    recommended: list[dict[str, Any]] = field(default_factory=list)  # product_id, url of what the message showed
    content: list[dict[str, Any]] = field(default_factory=list)  # block_id, url, topics of its content blocks
    decisions: list[dict[str, Any]] = field(default_factory=list)
    request: dict[str, Any] = field(default_factory=dict)  # as the journey asked for it

    def view(self) -> dict[str, Any]:
        out = {
            "key": self.key,
            "status": self.status,
            "template": self.template,
            "journey": self.journey,
            "channel": self.channel,
            "locale": self.locale,
            "subject": self.subject,
            "preview": self.preview,
            "coupon": self.coupon,
            "incentive": self.incentive,
            "recommended": self.recommended or [],
            "content": self.content or [],
            "provider_id": self.provider_id,
            "requested_at": self.requested_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "not_before": self.not_before.isoformat() if self.not_before else None,
            "attempts": self.attempts,
            "requested_channel": self.request.get("channel"),
            "exclude_products": self.request.get("exclude_products") or None,
            "decisions": self.decisions,
        }
        return {k: v for k, v in out.items() if v is not None}


class Claimed(EmmaError):
    """Someone else holds this message right now (a duplicate delivery in flight): retry later."""

    status = 409


class MessageLog(Protocol):
    def claim(self, request: MessageRequest, now: datetime, lease_until: datetime) -> MessageRecord | None:
        """Take the message for processing: new, failed before, a lapsed lease, or a deferral now due.
        None when it is settled (sent, skipped) or deferred to later; Claimed when held by another."""
        ...

    def update(self, record: MessageRecord, status: Status, decisions: Sequence[dict[str, Any]], **fields: Any) -> None:
        """Move a claimed record on (appending decisions); only the holder of the claim may."""
        ...

    def get(self, shop: str, profile_id: str, key: str) -> MessageRecord | None: ...

    def recent(self, shop: str, profile_id: str, limit: int) -> list[MessageRecord]: ...


class CapStore(Protocol):
    def recent_sends(self, shop: str, profile_id: str) -> dict[str, datetime]:
        """Marketing messages reserved for this customer (message key -> time), newest window only."""
        ...

    def reserve(self, shop: str, profile_id: str, key: str, now: datetime, caps: Sequence[FrequencyCap]) -> bool:
        """Atomically take a slot under every cap; True if taken (or already taken by this key)."""
        ...

    def release(self, shop: str, profile_id: str, key: str) -> None: ...


class Deferrals(Protocol):
    def defer(self, request: MessageRequest, due_at: datetime) -> None: ...

    def due(self, now: datetime, limit: int) -> list[tuple[str, MessageRequest]]:
        """(timer id, request) of deferrals due by ``now``, oldest first."""
        ...

    def remove(self, timer_ids: Sequence[str]) -> None: ...


class CampaignGate(Protocol):
    """A campaign run's status (emma.campaigns.runs.RunStatus), read before each of its messages."""

    def status(self, shop: str, campaign: str, run: str) -> str | None: ...


class Requeue(Protocol):
    def request(self, message: MessageRequest) -> None: ...


class Links(Protocol):
    def save(self, shop: str, code: str, link: dict[str, Any]) -> None:
        """Store a short link (url, profile, channel, template, message) under its code."""
        ...

    def get(self, shop: str, code: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Outgoing:
    """A rendered message ready for a provider."""

    shop: str
    profile_id: str
    key: str
    channel: Channel
    to: str
    template: str
    journey: str | None
    subject: str = ""
    text: str = ""
    html: str = ""
    raw_email: bytes = b""
    sender: str = ""
    sms: str = ""
    push_title: str = ""
    push_body: str = ""
    transactional: bool = False
    tags: dict[str, str] = field(default_factory=dict)


class SendError(EmmaError):
    """The provider refused the message for good (an unverified sender, a rejected address)."""

    status = 422


class Sender(Protocol):
    def send(self, message: Outgoing) -> str:
        """Hand the message to the provider; its message id. SendError: refused for good;
        TransientError: try again later."""
        ...


class Recommender(Protocol):
    def recommend(
        self, shop: str, profile: Any, slot: str, limit: int, exclude: set[str], locale: str
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` items: product_id, title, url, price, reason (in ``locale``)."""
        ...


class SendRecorder(Protocol):
    def record_sent(
        self, record: MessageRecord, channel: Channel, provider_id: str, at: datetime, profile: Any = None
    ) -> None:
        """The <channel>.sent event into the profile (through ingest: versioned, logged, published);
        ``profile``, when the caller has it, saves reading it again."""
        ...

    def record_traits(self, profile: Any, traits: dict[str, Any], at: datetime, event_id: str) -> None:
        """Traits Emma set on the profile (a referral code it had created), through ingest: versioned, logged,
        published; ``event_id`` makes a retry a duplicate."""
        ...

    def record_skipped(self, record: MessageRecord, stage: str, reason: str, channel: str | None, at: datetime) -> None:
        """The message.skipped event for analytics (``stage``: the dispatch stage that skipped it)."""
        ...
