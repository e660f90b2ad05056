"""A campaign's runs as typed data, and what sending them needs from outside (the ports).

A **run** (``RunState``) is one send of a campaign to its audience, named by its day on the shop's clock
(emma.campaigns.schedule): started once (a second start finds it and changes nothing), decided once (its
recipients, in ``Chunk`` items sorted by phase and send time), then handed to the dispatcher a wave at a time at
the campaign's rate. Its ``status``:

    scheduled   started, waiting for its start (``at``, ``on``)
    selecting   deciding the audience, shard by shard
    sending     waves of message requests going onto the messages queue
    testing     an A/B test's sample is out; the rest waits for the decision
    paused      no wave goes out, and dispatch holds back what is queued (deferred, not dropped)
    done        every recipient handed to the dispatcher
    cancelled   stopped for good: no wave, and dispatch skips what is still queued, with the reason

The recipient's message key ``campaign:<campaign>:<run>:<profile>`` is what makes the send exactly once per
recipient: the dispatcher's message log claims it, so a wave handed over twice (a retried task, a resumed run)
sends nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC
from decimal import Decimal
from typing import Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from emma.analytics.model import Dims
from emma.analytics.ports import AnalyticsStore
from emma.dispatch.request import MessageRequest

RunStatus = Literal["scheduled", "selecting", "sending", "testing", "paused", "done", "cancelled"]
FINISHED: frozenset[str] = frozenset({"done", "cancelled"})
CAMPAIGN_DIMENSION = "campaign."  # analytics' journey dimension of a campaign's messages: campaign.<id>
VARIANTS = "abcde"  # the A/B test's subjects, in the order the definition lists them
REST = "rest"  # the variant of the recipients after the test: the winner's subject


def message_key(campaign: str, run: str, profile_id: str) -> str:
    return f"campaign:{campaign}:{run}:{profile_id}"


def dimension(campaign: str) -> str:
    """The journey dimension analytics counts a campaign's messages under (a valid SES tag value)."""
    return f"{CAMPAIGN_DIMENSION}{campaign}"


def execution_name(shop: str, campaign: str, run: str, resumes: int = 0) -> str:
    """The state machine execution of one run (80 characters at most; the same run, the same name); a resumed
    run's executions are numbered."""
    name = f"{shop}-{campaign}-{run}" + (f"-r{resumes}" if resumes else "")
    if len(name) <= 80:
        return name
    return f"{name[:60]}-{hashlib.sha256(name.encode()).hexdigest()[:19]}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunState(_Model):
    shop: str
    campaign: str
    run: str = Field(description="the run's day on the shop's clock, YYYY-MM-DD")
    status: RunStatus
    created_at: AwareDatetime
    start: AwareDatetime = Field(description="when the run begins (sending may wait for each recipient's time)")
    rate: float = Field(description="messages per second at most, when the run started")
    execution: str | None = None
    held: bool = Field(False, description="paused, and its execution has ended (a resume starts a new one)")
    resumes: int = Field(0, description="how often it was resumed after a pause (each resume: a new execution)")
    candidates: int = 0
    included: int = 0
    left_out: dict[str, int] = Field(default_factory=dict)
    shards_selected: int = 0
    queued: int = 0
    cursor: str | None = Field(None, description="the chunk being handed over (its position); None: the first")
    offset: int = Field(0, description="recipients of that chunk already handed over")
    sample_done_at: AwareDatetime | None = None
    winner: str | None = None
    decision: dict[str, dict[str, float]] = Field(default_factory=dict, description="the A/B figures it was won on")
    updated_at: AwareDatetime | None = None
    paused_at: AwareDatetime | None = None
    cancelled_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    version: int = 0

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class CampaignState(_Model):
    """A campaign's own state for the shop: whether its recurrence goes on (a cancel stops it)."""

    shop: str
    campaign: str
    status: Literal["active", "stopped"]
    since: AwareDatetime
    version: int = 0


class Chunk(_Model):
    """Recipients of one run due at one time, in one phase (0: the A/B sample; 1: the rest, or everyone)."""

    phase: int = Field(ge=0, le=1)
    send_at: AwareDatetime
    shard: int = Field(ge=0)
    seq: int = Field(ge=0)
    recipients: list[tuple[str, str | None]] = Field(description="(profile id, variant or None)")

    @property
    def position(self) -> str:
        """Phase, then send time, then shard and sequence: the order waves hand recipients over in."""
        return f"{self.phase}#{self.send_at.astimezone(UTC).strftime('%Y%m%dT%H%M%S')}#{self.shard:02d}#{self.seq:05d}"


class Selection(_Model):
    """What deciding one shard of the audience found (written once per shard; a retry rewrites it)."""

    shard: int
    candidates: int
    included: int
    left_out: dict[str, int]
    chunks: int


class CampaignRuns(Protocol):
    """The runs' records and their recipient chunks (DynamoDB: emma.adapters.campaigns.DynamoCampaignRuns)."""

    def create(self, run: RunState) -> bool:
        """Store a new run; False if the run exists already (a second start)."""
        ...

    def get(self, shop: str, campaign: str, run: str) -> RunState | None: ...

    def runs(self, shop: str, campaign: str, limit: int = 20) -> list[RunState]:
        """The campaign's runs, newest first."""
        ...

    def save(self, run: RunState) -> RunState:
        """Write the run if it is still at ``run.version`` (ConcurrencyConflict otherwise); the stored one."""
        ...

    def status(self, shop: str, campaign: str, run: str) -> str | None:
        """Just the status (what the dispatcher checks before each message of a run)."""
        ...

    def put_chunks(self, shop: str, campaign: str, run: str, chunks: Sequence[Chunk]) -> None: ...

    def chunks_from(self, shop: str, campaign: str, run: str, position: str | None, limit: int) -> list[Chunk]:
        """Chunks in position order, from ``position`` on (inclusive; None: the first)."""
        ...

    def put_selection(self, shop: str, campaign: str, run: str, selection: Selection) -> None: ...

    def selections(self, shop: str, campaign: str, run: str) -> list[Selection]: ...

    def campaign_state(self, shop: str, campaign: str) -> CampaignState | None: ...

    def put_campaign_state(self, state: CampaignState) -> None: ...


class RunExecutions(Protocol):
    """The campaign state machine (Step Functions): one execution per run."""

    def start(self, name: str, payload: dict[str, object]) -> str:
        """Start the execution (an existing one of that name is left as it is); its ARN."""
        ...

    def stop(self, arn: str, cause: str) -> None:
        """Stop the execution (one that has ended already is left as it is)."""
        ...


class RequestQueue(Protocol):
    """The messages queue (SQS): requests with a delay each (0-900 s), ten per call."""

    def put(self, requests: Sequence[tuple[MessageRequest, int]]) -> None: ...


class MessageCounts(Protocol):
    """What analytics counted for a run's messages, by variant (emma.analytics counters, journey dimension
    campaign.<id>, step the run)."""

    def by_variant(
        self, shop: str, campaign: str, run: str, since: str, until: str
    ) -> dict[str, dict[str, Decimal]]: ...


class AnalyticsCounts:
    """MessageCounts from analytics' daily message counters (emma.analytics): the rows of the campaign's
    journey dimension and the run's step, summed by variant ("-": none)."""

    def __init__(self, store: AnalyticsStore) -> None:
        self._store = store

    def by_variant(self, shop: str, campaign: str, run: str, since: str, until: str) -> dict[str, dict[str, Decimal]]:
        out: dict[str, dict[str, Decimal]] = {}
        for _day, key, counters in self._store.counters(shop, "message", since, until):
            dims = Dims.decode(key)
            if dims.journey != dimension(campaign) or dims.step != run:
                continue
            row = out.setdefault(dims.variant, {})
            for name, value in counters.items():
                row[name] = row.get(name, Decimal(0)) + value
        return out
