"""The outbox: what a profile commit stored, on its way to the bus and the event log.

A commit of ingest writes the profile's new state, and with it the events it absorbed (stamped with the
profile id), in one item: nothing is stored that is not on its way out, and nothing goes out that was not
stored. The store hands each stored outbox to the relay (DynamoDB: the profiles table's stream feeds the
publisher function), which writes the events' log entries and publishes them, at least once, in order per
profile; every consumer is idempotent per event. A relay that fails is retried by the store with what
follows it (the stream's order), so a crash between the write and the publish loses nothing and a
duplicate delivery, which changes no profile, publishes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from emma.events.model import CanonicalEvent
from emma.ingest.ports import EventPublisher


@dataclass(frozen=True)
class Outbox:
    """The events one commit stored on a profile, as stored (profile id and repeat flag stamped)."""

    shop: str
    profile_id: str
    version: int  # the profile's version the commit wrote
    first_seq: int  # the log sequence number of the first event
    events: tuple[CanonicalEvent, ...]
    log_days: int | None = None  # how long the shop keeps its event log (None: the store's default)


class OutboxLog(Protocol):
    def write_log(self, outboxes: Sequence[Outbox]) -> None:
        """Write the events' log entries (idempotent: the same outbox twice writes the same entries)."""
        ...

    def profiles_present(self, outboxes: Sequence[Outbox]) -> set[tuple[str, str]]:
        """Which of the outboxes' profiles (shop, profile id) are still stored (one consistent read)."""
        ...


class OutboxRelay:
    """Publishes stored outboxes and logs their events: the publisher function's job."""

    def __init__(self, publisher: EventPublisher, log: OutboxLog) -> None:
        self._publisher = publisher
        self._log = log

    def relay(self, outboxes: Sequence[Outbox]) -> int:
        """Log, then publish every event of ``outboxes`` (in order; EventBridge entries carry several); returns
        how many events went out. Raises (StoreError, PublishError) if either fails: the caller retries these
        outboxes, and logging or publishing them again changes nothing."""
        if not outboxes:
            return 0
        # A profile erased since its write (GDPR) takes its events with it: nothing of it is logged or published.
        present = self._log.profiles_present(outboxes)
        outboxes = [o for o in outboxes if (o.shop, o.profile_id) in present]
        if not outboxes:
            return 0
        self._log.write_log(outboxes)
        events = [event for outbox in outboxes for event in outbox.events]
        self._publisher.publish(events)
        return len(events)
