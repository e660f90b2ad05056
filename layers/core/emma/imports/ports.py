"""What an import needs from outside: a journal that remembers how far each import got (so an
interrupted one resumes where it stopped) and which profiles it touched (concluded once at the end).
Locally files beside the project (emma_local.imports), in AWS objects in the import bucket."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from emma.imports.model import ImportKind

Phase = Literal["ingest", "conclude", "rescore", "done", "stored"]  # stored: concluded by a later import


class ImportState(BaseModel):
    """One import of one file into one shop, as far as it got."""

    job: str = Field(description="sha256 of shop, kind, format and the file's bytes: the same file is the same job")
    shop: str
    kind: ImportKind
    format: str
    file: str
    digest: str
    records: int = Field(description="records in the file (all valid: a file with errors is never started)")
    started_at: datetime
    phase: Phase = "ingest"
    next_line: int = Field(1, description="records starting before this line are stored")
    records_done: int = 0
    batches_done: int = 0
    accepted: int = 0
    duplicates: int = 0
    skipped: int = 0
    merges: int = 0
    profiles: int = Field(0, description="profiles to conclude (known once the ingest phase is done)")
    profiles_done: int = Field(0, description="profiles concluded (segments, lifecycle, the prior's counters)")
    rescored: int = Field(0, description="profiles scored again with the prior refitted on the history")
    consents: int = Field(0, description="consent statements carried over, with their proof")
    unproven: dict[str, int] = Field(default_factory=dict, description="per channel: accepted, but without proof")
    finished_at: datetime | None = None
    with_jobs: list[str] = Field(
        default_factory=list, description="earlier jobs stored with conclude-later, concluded with this one"
    )


class ImportJournal(Protocol):
    def state(self, job: str) -> ImportState | None: ...

    def save(self, state: ImportState) -> None: ...

    def add_profiles(self, job: str, batch: int, profile_ids: Collection[str]) -> None:
        """Remember the profiles a batch stored events on (a batch written twice is remembered once)."""
        ...

    def profiles(self, job: str) -> list[str]:
        """Every profile the job's batches touched, each once, in a stable order."""
        ...

    def pending(self, shop: str) -> list[str]:
        """Jobs of the shop stored to be concluded by the next import (``conclude=False``)."""
        ...

    def set_pending(self, shop: str, jobs: list[str]) -> None: ...
