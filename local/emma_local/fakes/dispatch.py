"""The dispatch stores in memory (emma.dispatch.ports: message log, frequency caps, deferrals, links), a
recording sender, and a list as the queue of message requests (emma.journeys.ports.MessageRequests).
"""

from __future__ import annotations

import copy
import threading
from datetime import datetime, timedelta
from typing import Any


class InMemoryMessageLog:
    """The message log with DynamoDB's claim semantics (see emma.adapters.dispatch), thread-safe."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def claim(self, request, now, lease_until):
        from emma.dispatch.ports import Claimed, MessageRecord

        with self._lock:
            key = (request.shop, request.profile_id, request.key)
            record = self.records.get(key)
            claimable = (
                record is None
                or record.status == "failed"
                or (record.status == "processing" and record.lease_until < now)
                or (record.status == "deferred" and record.not_before <= now)
            )
            if claimable:
                if record is None:
                    record = MessageRecord(
                        shop=request.shop,
                        profile_id=request.profile_id,
                        key=request.key,
                        status="processing",
                        template=request.template,
                        requested_at=request.requested_at,
                        updated_at=now,
                        journey=request.journey,
                        request=request.model_dump(mode="json"),
                    )
                    self.records[key] = record
                record.status, record.lease_until, record.attempts = "processing", lease_until, record.attempts + 1
                return copy.deepcopy(record)
            if record.status == "sent":
                return copy.deepcopy(record)
            if record.status in ("processing", "sending") and record.lease_until >= now:
                raise Claimed(f"message {request.key} is held by another worker")
            if record.status == "sending":
                record.status = "unknown"
            return None

    def update(self, record, status, decisions, now, **fields):
        from emma.errors import ConcurrencyConflict

        with self._lock:
            stored = self.records[(record.shop, record.profile_id, record.key)]
            if stored.status != record.status:
                raise ConcurrencyConflict(f"message {record.key} is no longer {record.status}")
            stored.status, stored.updated_at = status, now
            stored.decisions = [*stored.decisions, *decisions]
            for name, value in fields.items():
                setattr(stored, name, value)
            record.status, record.updated_at = status, now
            record.decisions = [*record.decisions, *decisions]

    def get(self, shop, profile_id, key):
        return self.records.get((shop, profile_id, key))

    def recent(self, shop, profile_id, limit):
        mine = [r for (s, p, _), r in self.records.items() if s == shop and p == profile_id]
        return sorted(mine, key=lambda r: r.requested_at, reverse=True)[:limit]


class InMemoryCapStore:
    def __init__(self) -> None:
        self.sends: dict[tuple[str, str], dict[str, datetime]] = {}
        self._lock = threading.Lock()

    def recent_sends(self, shop, profile_id):
        return dict(self.sends.get((shop, profile_id), {}))

    def reserve(self, shop, profile_id, key, now, caps):
        with self._lock:
            sends = self.sends.setdefault((shop, profile_id), {})
            if key in sends:
                return True
            for cap in caps:
                if sum(1 for t in sends.values() if now - t < timedelta(days=cap.days)) >= cap.messages:
                    return False
            sends[key] = now
            return True

    def release(self, shop, profile_id, key):
        with self._lock:
            self.sends.get((shop, profile_id), {}).pop(key, None)


class InMemoryDeferrals:
    def __init__(self) -> None:
        self.timers: dict[str, tuple[datetime, Any]] = {}

    def defer(self, request, due_at):
        self.timers[f"{due_at.isoformat()}#{request.key}"] = (due_at, request)

    def due(self, now, limit):
        due = sorted((at, tid, r) for tid, (at, r) in self.timers.items() if at <= now)
        return [(tid, r) for _, tid, r in due[:limit]]

    def remove(self, timer_ids):
        for tid in timer_ids:
            self.timers.pop(tid, None)


class InMemoryLinks:
    def __init__(self) -> None:
        self.links: dict[tuple[str, str], dict[str, Any]] = {}

    def save(self, shop, code, link):
        self.links[(shop, code)] = link

    def get(self, shop, code):
        return self.links.get((shop, code))


class RecordingSender:
    """A provider that accepts everything (or raises ``fail``) and remembers what it got."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.sent: list[Any] = []
        self.fail = fail
        self._lock = threading.Lock()

    def send(self, message):
        if self.fail is not None:
            raise self.fail
        with self._lock:
            self.sent.append(message)
            return f"provider-{len(self.sent)}"


class ListQueue:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def request(self, message):  # a MessageRequest, kept as the queue carries it
        self.messages.append(message.model_dump(mode="json"))
