"""Sends become canonical events (email.sent, sms.sent, push.sent) through ingest, like any other
change to a profile: versioned, logged, published on the bus (analytics counts them there). The
event id derives from the message key, so recording a send twice stores it once."""

from __future__ import annotations

from datetime import datetime

from emma.dispatch.ports import MessageRecord
from emma.dispatch.tokens import message_ref
from emma.events.model import Channel, Source, SourceKind, parse_event
from emma.ingest.service import IngestService
from emma.profiles.model import Profile


class IngestRecorder:
    def __init__(self, ingest: IngestService) -> None:
        self._ingest = ingest

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
                    "message_id": provider_id or None,
                    "journey": record.journey,
                    "template": record.template,
                    "recommended": record.recommended or [],
                },
            }
        )
        self._ingest.ingest([event])
