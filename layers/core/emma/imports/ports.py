"""What an import needs from outside: a journal that remembers how far each import got (so an
interrupted one resumes where it stopped) and which profiles it touched (concluded once at the end).
Locally files beside the project (emma_local.imports), in AWS objects in the import bucket."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, BinaryIO, Literal, Protocol

from pydantic import BaseModel, Field

from emma.errors import EmmaError
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
    scored_with: dict[str, Any] | None = Field(None, description="the prediction prior the conclusion scored with")
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


class ImportJob(BaseModel):
    """An import of a file from the imports bucket (the import state machine), as GET /v1/imports/{job} shows it.
    The counters move while it runs (a retried part may count twice there); Plan sets the stored ones exactly."""

    job: str
    shop: str
    kind: ImportKind
    key: str = Field(description="the file's key in the imports bucket")
    status: Literal["checking", "invalid", "storing", "concluding", "rescoring", "done"] = "checking"
    format: str | None = None
    records: int = 0
    parts: int = 0
    parts_done: int = 0
    records_done: int = 0
    accepted: int = 0
    duplicates: int = 0
    skipped: int = 0
    merges: int = 0
    profiles: int = 0
    concluded: int = 0
    rescored: int = 0
    consents: int = 0
    unproven: dict[str, int] = Field(default_factory=dict)
    errors: list[str] = Field(default_factory=list, description="FILE:LINE: reason, the first ones")
    error_count: int = 0
    etag: str | None = Field(None, description="the file's ETag when the job started (its content, read as it was)")
    scored_with: dict[str, Any] | None = Field(None, description="the prior the conclusion scored with")
    options_digest: str | None = None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None


class ImportJobs(Protocol):
    """The import jobs' records (DynamoDB in AWS and locally: emma.adapters.imports)."""

    def start(self, job: ImportJob) -> None:
        """Write the job unless it exists (a second start of the same file is the same job)."""
        ...

    def update(self, shop: str, job: str, fields: dict[str, object], add: dict[str, int] | None = None) -> None: ...

    def get(self, shop: str, job: str) -> ImportJob | None: ...


class FileChanged(EmmaError):
    """The uploaded object is not the one the import was started on (uploaded again to the same key)."""

    status = 409
    code = "file_changed"


class ImportFiles(Protocol):
    """The imports bucket: the uploaded file, the parts and plans written beside it (emma.adapters.imports)."""

    def open(self, key: str, etag: str | None = None) -> BinaryIO:
        """The object as a stream (only if its ETag is still ``etag``: else FileChanged); read errors are
        StoreError, which the state machine retries."""
        ...

    def put(self, key: str, body: bytes) -> None: ...

    def read(self, key: str) -> bytes: ...

    def keys(self, prefix: str) -> list[str]: ...

    def etag(self, key: str) -> str | None:
        """The object's ETag (None: there is no such object)."""
        ...

    def delete(self, keys: list[str]) -> None: ...


class ImportRuns(Protocol):
    """The import state machine's executions, one per job (named after it: a second start is the first run)."""

    def start(self, job: str, payload: dict[str, object]) -> None: ...

    def status(self, job: str) -> dict[str, object] | None:
        """``{"status": RUNNING|SUCCEEDED|FAILED|TIMED_OUT|ABORTED, "error", "cause"}``; None if never started."""
        ...
