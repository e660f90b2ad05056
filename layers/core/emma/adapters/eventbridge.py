"""EventBridge publisher: canonical events to the custom bus, several to an entry, failed entries retried.

EventBridge bills every entry (each started 64 KB of it), not every canonical event, so the events of
one publish (a request's, a stream batch's, a rules run's) travel together: an entry's ``Detail`` is a
bundle ``{"events": [...], "types": [...]}``, at most MAX_BUNDLE_BYTES (224 KB), its ``DetailType`` the events'
type when they share one, else ``emma.bundle``. Rules match the bundle by ``source`` or by
``detail.types`` (an array: a pattern matches when any element does); the queue consumers read every
event of it (emma.edge.sqs.canonical_events).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emma.errors import EventTooLarge, PublishError
from emma.events.model import CanonicalEvent
from emma.resources import EVENT_SOURCE

MAX_ENTRIES_PER_CALL = 10  # the PutEvents limit
MAX_ENTRY_BYTES = 256 * 1024
MAX_CALL_BYTES = 240 * 1024  # a whole PutEvents request must stay under 256 KB too
# A bundle's Detail at most: its queue message (the envelope around the Detail, under 1 KB) must fit SQS's 256 KB,
# and one event as large as ingest accepts (emma.sources.common.MAX_EVENT_BYTES, 200 KB) must fit it, stamped.
MAX_BUNDLE_BYTES = 224 * 1024
BUNDLE_DETAIL_TYPE = "emma.bundle"
# Events an entry carries at most: a queue consumer takes 10 messages a batch within its 30 s, whatever they hold
# (25 events of 1 KB are still one billed 64 KB chunk).
MAX_EVENTS_PER_BUNDLE = 25


def bundle_detail(details: Sequence[str], types: Sequence[str]) -> str:
    """The Detail of an entry carrying these events (their JSON, in order)."""
    return '{"events":[' + ",".join(details) + '],"types":' + json.dumps(sorted(set(types))) + "}"


def to_entries(
    events: Sequence[CanonicalEvent], bus_name: str, source: str = EVENT_SOURCE
) -> list[tuple[list[str], dict[str, Any]]]:
    """The entries carrying ``events`` in order, each with the ids of its events: as few as
    MAX_BUNDLE_BYTES allows. An event that cannot travel at all (over EventBridge's entry limit) is a
    PublishError before anything is sent."""
    out: list[tuple[list[str], dict[str, Any]]] = []
    ids: list[str] = []
    details: list[str] = []
    types: list[str] = []
    times: list[Any] = []
    size = 0

    def close() -> None:
        out.append(
            (
                ids,
                {
                    "Source": source,
                    "DetailType": types[0] if len(set(types)) == 1 else BUNDLE_DETAIL_TYPE,
                    "Detail": bundle_detail(details, types),
                    "EventBusName": bus_name,
                    "Time": min(times),
                },
            )
        )

    for event in events:
        detail = event.model_dump_json()
        length = len(detail.encode()) + 1
        if length > MAX_BUNDLE_BYTES - 1024:
            raise EventTooLarge(event.id, length)
        full = len(ids) >= MAX_EVENTS_PER_BUNDLE
        if ids and (full or size + length + 32 * (len(set(types)) + 1) > MAX_BUNDLE_BYTES - 1024):
            close()
            ids, details, types, times, size = [], [], [], [], 0
        ids.append(event.id)
        details.append(detail)
        types.append(str(event.type))
        times.append(event.occurred_at)
        size += length
    if ids:
        close()
    return out


class EventBridgePublisher:
    def __init__(
        self,
        client: Any,
        bus_name: str,
        *,
        source: str = EVENT_SOURCE,
        max_attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._bus = bus_name
        self._source = source
        self._max_attempts = max_attempts
        self._sleep = sleep

    def publish(self, events: Sequence[CanonicalEvent]) -> None:
        entries = to_entries(events, self._bus, self._source)
        chunk: list[tuple[list[str], dict[str, Any]]] = []
        size = 0
        for entry in entries:
            entry_size = len(entry[1]["Detail"].encode()) + len(entry[1]["DetailType"]) + len(entry[1]["Source"])
            if chunk and (len(chunk) == MAX_ENTRIES_PER_CALL or size + entry_size > MAX_CALL_BYTES):
                self._put(chunk)
                chunk, size = [], 0
            chunk.append(entry)
            size += entry_size
        if chunk:
            self._put(chunk)

    def _put(self, pending: list[tuple[list[str], dict[str, Any]]]) -> None:
        errors: dict[str, str] = {}
        for attempt in range(self._max_attempts):
            if attempt:
                self._sleep(0.05 * 2**attempt)
            try:
                resp = self._client.put_events(Entries=[entry for _, entry in pending])
            except ClientError as exc:
                errors = {eid: exc.response.get("Error", {}).get("Code", "?") for ids, _ in pending for eid in ids}
                continue
            except BotoCoreError as exc:
                errors = {eid: type(exc).__name__ for ids, _ in pending for eid in ids}
                continue
            if not resp.get("FailedEntryCount"):
                return
            failed = [
                (item, result) for item, result in zip(pending, resp["Entries"], strict=True) if result.get("ErrorCode")
            ]
            errors = {eid: f"{r['ErrorCode']}: {r.get('ErrorMessage', '')}" for (ids, _), r in failed for eid in ids}
            pending = [item for item, _ in failed]
        raise PublishError(
            f"EventBridge rejected {len(errors)} event(s) after {self._max_attempts} attempts: "
            + "; ".join(f"{k} ({v})" for k, v in sorted(errors.items()))
        )
