"""EventBridge publisher: canonical events to the custom bus, 10 per PutEvents, failed entries retried."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emma.errors import PublishError
from emma.events.model import CanonicalEvent
from emma.resources import EVENT_SOURCE

MAX_ENTRIES_PER_CALL = 10  # the PutEvents limit
MAX_ENTRY_BYTES = 256 * 1024
MAX_CALL_BYTES = 240 * 1024  # a whole PutEvents request must stay under 256 KB too


def to_entry(event: CanonicalEvent, bus_name: str, source: str = EVENT_SOURCE) -> dict[str, Any]:
    detail = event.model_dump_json()
    if len(detail.encode()) > MAX_ENTRY_BYTES - 1024:
        raise PublishError(f"event {event.id} is {len(detail)} bytes, over EventBridge's 256 KB entry limit")
    return {
        "Source": source,
        "DetailType": str(event.type),
        "Detail": detail,
        "EventBusName": bus_name,
        "Time": event.occurred_at,
    }


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
        entries = [(e.id, to_entry(e, self._bus, self._source)) for e in events]
        chunk: list[tuple[str, dict[str, Any]]] = []
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

    def _put(self, pending: list[tuple[str, dict[str, Any]]]) -> None:
        errors: dict[str, str] = {}
        for attempt in range(self._max_attempts):
            if attempt:
                self._sleep(0.05 * 2**attempt)
            try:
                resp = self._client.put_events(Entries=[entry for _, entry in pending])
            except ClientError as exc:
                errors = {eid: exc.response.get("Error", {}).get("Code", "?") for eid, _ in pending}
                continue
            except BotoCoreError as exc:
                errors = {eid: type(exc).__name__ for eid, _ in pending}
                continue
            if not resp.get("FailedEntryCount"):
                return
            failed = [
                (item, result) for item, result in zip(pending, resp["Entries"], strict=True) if result.get("ErrorCode")
            ]
            errors = {eid: f"{r['ErrorCode']}: {r.get('ErrorMessage', '')}" for (eid, _), r in failed}
            pending = [item for item, _ in failed]
        raise PublishError(
            f"EventBridge rejected {len(errors)} event(s) after {self._max_attempts} attempts: "
            + "; ".join(f"{k} ({v})" for k, v in sorted(errors.items()))
        )
