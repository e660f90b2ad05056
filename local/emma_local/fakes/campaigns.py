"""Campaign runs in memory (emma.campaigns.runs.CampaignRuns, with DynamoDB's conditions: a run is created once,
saved on condition of its version), recorded state machine executions and a list as the messages queue."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from emma.campaigns.runs import CampaignState, Chunk, RunState, Selection
from emma.dispatch.request import MessageRequest
from emma.errors import ConcurrencyConflict


class InMemoryCampaignRuns:
    def __init__(self) -> None:
        self.run_items: dict[tuple[str, str, str], RunState] = {}
        self.chunks: dict[tuple[str, str, str], dict[str, Chunk]] = {}
        self.selection_items: dict[tuple[str, str, str], dict[int, Selection]] = {}
        self.states: dict[tuple[str, str], CampaignState] = {}
        self.status_reads = 0
        self.fail_next_save: Exception | None = None  # injected: the next save raises this (a crash)
        self._lock = threading.Lock()

    def create(self, run: RunState) -> bool:
        with self._lock:
            key = (run.shop, run.campaign, run.run)
            if key in self.run_items:
                return False
            self.run_items[key] = run.model_copy(update={"version": 1})
            return True

    def get(self, shop: str, campaign: str, run: str) -> RunState | None:
        return self.run_items.get((shop, campaign, run))

    def runs(self, shop: str, campaign: str, limit: int = 20) -> list[RunState]:
        found = [r for (s, c, _), r in self.run_items.items() if (s, c) == (shop, campaign)]
        return sorted(found, key=lambda r: r.run, reverse=True)[:limit]

    def save(self, run: RunState) -> RunState:
        with self._lock:
            if self.fail_next_save is not None:
                failure, self.fail_next_save = self.fail_next_save, None
                raise failure
            key = (run.shop, run.campaign, run.run)
            stored = self.run_items.get(key)
            if stored is None or stored.version != run.version:
                raise ConcurrencyConflict(f"campaign run {run.campaign}/{run.run} changed meanwhile")
            saved = run.model_copy(update={"version": run.version + 1})
            self.run_items[key] = saved
            return saved

    def status(self, shop: str, campaign: str, run: str) -> str | None:
        self.status_reads += 1
        found = self.run_items.get((shop, campaign, run))
        return found.status if found else None

    def put_chunks(self, shop: str, campaign: str, run: str, chunks: Sequence[Chunk]) -> None:
        stored = self.chunks.setdefault((shop, campaign, run), {})
        for chunk in chunks:
            stored[chunk.position] = chunk

    def chunks_from(self, shop: str, campaign: str, run: str, position: str | None, limit: int) -> list[Chunk]:
        stored = self.chunks.get((shop, campaign, run), {})
        return [stored[k] for k in sorted(stored) if position is None or k >= position][:limit]

    def put_selection(self, shop: str, campaign: str, run: str, selection: Selection) -> None:
        self.selection_items.setdefault((shop, campaign, run), {})[selection.shard] = selection

    def selections(self, shop: str, campaign: str, run: str) -> list[Selection]:
        return list(self.selection_items.get((shop, campaign, run), {}).values())

    def campaign_state(self, shop: str, campaign: str) -> CampaignState | None:
        return self.states.get((shop, campaign))

    def put_campaign_state(self, state: CampaignState) -> None:
        self.states[(state.shop, state.campaign)] = state


class RecordingExecutions:
    """The campaign state machine's executions: started by name (a name started before is left as it is)."""

    def __init__(self) -> None:
        self.started: dict[str, dict[str, Any]] = {}
        self.stopped: list[str] = []

    def start(self, name: str, payload: dict[str, object]) -> str:
        self.started.setdefault(name, dict(payload))
        return f"arn:aws:states:eu-central-1:000000000000:execution:emma-campaigns:{name}"

    def stop(self, arn: str, cause: str) -> None:
        self.stopped.append(arn)


class ListRequestQueue:
    """The messages queue: every request with its delay, in the order handed over."""

    def __init__(self) -> None:
        self.items: list[tuple[MessageRequest, int]] = []
        self.calls = 0

    def put(self, requests: Sequence[tuple[MessageRequest, int]]) -> None:
        self.calls += 1
        self.items += list(requests)

    def take(self) -> list[MessageRequest]:
        """Everything queued since the last take (what a consumer would receive)."""
        taken, self.items = [r for r, _ in self.items], []
        return taken
