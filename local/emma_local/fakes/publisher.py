"""The event publisher in memory (emma.ingest.ports.EventPublisher): keeps what it published, fails given ids."""

from __future__ import annotations

from collections.abc import Sequence

from emma.errors import PublishError
from emma.events.model import CanonicalEvent


class InMemoryPublisher:
    def __init__(self, fail_ids: Sequence[str] = ()) -> None:
        self.published: list[CanonicalEvent] = []
        self.fail_ids = set(fail_ids)
        self.calls = 0

    def publish(self, events):
        for start in range(0, len(events), 10):
            self.calls += 1
            chunk = events[start : start + 10]
            failed = [e.id for e in chunk if e.id in self.fail_ids]
            if failed:
                raise PublishError(f"could not publish {failed}")
            self.published.extend(chunk)
