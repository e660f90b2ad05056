"""Where each customer stands in each journey: one item per (profile, journey), with a bounded log
of what Emma did and decided there. The profile API shows it; the demo prints it as a timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from emma.errors import EmmaError

MAX_LOG = 60  # entries kept per (profile, journey), newest last

# never: the journey was refused (another journey or an exclusion stood in the way) before the customer
# ever entered it; the item holds the refusals' log. Re-entry rules read it as "never entered".
Status = Literal["active", "completed", "exited", "failed", "never"]


class LogEntry(BaseModel):
    at: datetime
    execution: str
    step: str
    what: str  # entered, refused, sent, held, capped, waiting, arrived, timed_out, branched, split, updated, ...
    detail: str = ""
    key: str | None = None  # execution:step:entered-time of the task that wrote it (retries write once)


class JourneyState(BaseModel):
    journey: str
    status: Status = "active"
    execution: str  # "" for a journey never entered (status never)
    execution_arn: str | None = None
    entered_at: datetime  # status never: when it was first refused
    entries: int = 1
    step: str | None = None
    step_since: datetime
    waiting_for: str | None = None
    token: str | None = None
    variant: str | None = None
    messages: int = 0
    ended_at: datetime | None = None
    end_reason: str | None = None
    log: list[LogEntry] = Field(default_factory=list)
    version: int = 0

    def record(self, entry: LogEntry) -> None:
        self.log = [*self.log, entry][-MAX_LOG:]

    def done(self, key: str) -> bool:
        return any(e.key == key for e in self.log)

    def view(self) -> dict[str, Any]:
        """What the profile API shows: where the customer is and since when, not the task token."""
        data = self.model_dump(mode="json", exclude={"token", "version", "log"})
        data["log"] = [e.model_dump(mode="json", exclude={"key"}) for e in self.log[-20:]]
        if self.status == "never":
            data["entered_at"] = None
        return data


class StaleJourneyState(EmmaError):
    """Someone else changed the journey state between our read and our write: read again."""

    status = 409
    code = "stale_journey_state"
