"""What the journey service needs from the outside: the journey store (DynamoDB), the executions
(Step Functions) and the messages queue (SQS) the dispatcher reads. Adapters in
emma.adapters.journeys; in-memory twins in emma_local.fakes."""

from __future__ import annotations

from typing import Any, Protocol

from emma.dispatch.request import MessageRequest
from emma.journeys.state import JourneyState


class JourneyStore(Protocol):
    def get(self, shop: str, profile_id: str, journey: str) -> JourneyState | None: ...

    def list(self, shop: str, profile_id: str) -> list[JourneyState]: ...

    def put(self, shop: str, profile_id: str, state: JourneyState) -> None:
        """Write ``state`` if the stored version is still ``state.version`` (then bump it), else raise
        StaleJourneyState."""


class Executions(Protocol):
    def arn(self, journey: str, name: str) -> str: ...

    def start(self, journey: str, name: str, payload: dict[str, Any]) -> None:
        """Start the journey's execution ``name``; starting the same name with the same input again is a no-op."""

    def stop(self, arn: str, cause: str) -> None:
        """Stop a running execution (one that has already ended is left alone)."""

    def resume(self, token: str, output: dict[str, Any]) -> bool:
        """Hand a parked task token back; False when it is no longer valid (timed out, stopped)."""


class MessageRequests(Protocol):
    def request(self, message: MessageRequest) -> None:
        """Queue a message request for the dispatcher (which dedupes on its key)."""
