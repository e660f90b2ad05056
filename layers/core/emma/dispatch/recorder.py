"""What became of a message, for the profile and for analytics.

Sends become canonical events (email.sent, sms.sent, push.sent) through ingest, like any other change
to a profile: versioned, logged, published on the bus (analytics counts them there). The event id
derives from the message key, so recording a send twice stores it once.

A skipped message changes nothing on the profile: its ``message.skipped`` event goes straight to the
bus (source emma.dispatch) for analytics, which counts each message once by its reference."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from emma.dispatch.ports import MessageRecord
from emma.dispatch.tokens import message_ref
from emma.events.model import Channel, EventType, Source, SourceKind, parse_event
from emma.ingest.ports import EventPublisher
from emma.ingest.service import IngestService
from emma.profiles.model import Profile


def message_properties(record: MessageRecord) -> dict[str, Any]:
    """What every event about the message says about it (analytics groups by these)."""
    return {
        "message": message_ref(record.key),
        "journey": record.journey,
        "step": record.request.get("step"),
        "variant": record.request.get("variant"),
        "template": record.template,
    }


class IngestRecorder:
    def __init__(self, ingest: IngestService, publisher: EventPublisher | None = None) -> None:
        self._ingest = ingest
        self._publisher = publisher

    def record_sent(
        self, record: MessageRecord, channel: Channel, provider_id: str, at: datetime, profile: Profile | None = None
    ) -> None:
        profile = profile or self._ingest.resolve(record.shop, record.profile_id)
        refs = profile.references()
        event = parse_event(
            {
                "id": f"dispatch:{message_ref(record.key)}:sent",
                "type": f"{channel}.sent",
                "shop": record.shop,
                "occurred_at": at.isoformat(),
                "received_at": at.isoformat(),
                "source": Source(kind=SourceKind.EMMA, name="dispatch", delivery_id=provider_id or None).model_dump(),
                "customer": refs.model_dump(exclude_none=True),
                "properties": {
                    **message_properties(record),
                    "message_id": provider_id or None,
                    "coupon": record.coupon,
                    "incentive": record.incentive,
                    "recommended": record.recommended or [],
                    "content": record.content or [],
                },
            }
        )
        self._ingest.ingest([event])

    def record_traits(self, profile: Profile, traits: dict[str, Any], at: datetime, event_id: str) -> None:
        event = parse_event(
            {
                "id": event_id,
                "type": EventType.CUSTOMER_UPDATED,
                "shop": profile.shop,
                "occurred_at": at.isoformat(),
                "received_at": at.isoformat(),
                "source": Source(kind=SourceKind.EMMA, name="dispatch").model_dump(),
                "customer": profile.references().model_dump(exclude_none=True),
                "properties": {"traits": traits},
            }
        )
        self._ingest.ingest([event])

    def record_skipped(self, record: MessageRecord, stage: str, reason: str, channel: str | None, at: datetime) -> None:
        """Publish ``message.skipped`` (nothing on the profile); ``stage`` is the dispatch stage that
        skipped it (consent, frequency...)."""
        if self._publisher is None:
            return
        chosen = channel or record.channel or record.request.get("channel")
        event = parse_event(
            {
                "id": f"dispatch:{message_ref(record.key)}:skipped",
                "type": EventType.MESSAGE_SKIPPED,
                "shop": record.shop,
                "occurred_at": at.isoformat(),
                "received_at": at.isoformat(),
                "source": Source(kind=SourceKind.EMMA, name="dispatch").model_dump(),
                "customer": {"profile_id": record.profile_id},
                "properties": {
                    **message_properties(record),
                    "channel": chosen if chosen in set(Channel) else None,
                    "reason": stage,
                    "detail": reason[:1000],
                },
            }
        )
        self._publisher.publish([event])
