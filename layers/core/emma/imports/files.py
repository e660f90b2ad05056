"""The import state machine's tasks (emma.imports.machine), over the imports bucket and the jobs' records.

Objects of a job, beside nothing else: ``jobs/<shop>/<job>/``
    parts/<n>.jsonl      the file's records, PART_RECORDS a part, as the readers read them (their lines kept)
    touched/<n>.json     what storing part n did: its counts and the profiles it touched
    chunks.json          the profiles to conclude, each once, CHUNK_PROFILES a chunk (a JSON array of arrays)
The parts are written only once the whole file was checked: a file with problems writes nothing but the job's
record, which lists them (FILE:LINE: reason). A finished job deletes them and the uploaded file; what is left
(a refused file, a failed run) expires with the bucket's lifecycle rule (IMPORTS_BUCKET.expire_days).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter

from emma.clock import Clock
from emma.imports.model import CustomerRecord, ImportKind, LineError, OrderRecord
from emma.imports.ports import FileChanged, ImportFiles, ImportJob, ImportJobs, ImportRuns
from emma.imports.service import ImportInvalid, ImportWorker, check

PART_RECORDS = 250
CHUNK_PROFILES = 100
SHOWN_ERRORS = 20
_CUSTOMERS = TypeAdapter(list[CustomerRecord])
_ORDERS = TypeAdapter(list[OrderRecord])


def job_id(shop: str, kind: ImportKind, key: str, etag: str, settings: str = "") -> str:
    """The same object (key and content) imported into the same shop as the same kind, read the same way (format
    and options), is the same job; other options are another job."""
    return hashlib.sha256(f"{shop}|{kind}|{key}|{etag}|{settings}".encode()).hexdigest()[:24]


def prefix(shop: str, job: str) -> str:
    return f"jobs/{shop}/{job}/"


@dataclass(frozen=True)
class Options:
    """What POST /v1/imports says about the file (emma.imports.formats.ReadOptions, as JSON)."""

    consent_as_of: datetime | None = None
    currency: str | None = None
    timezone: str = "UTC"

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> Options:
        """From JSON; a date without a time is midnight UTC (ValueError: not a date)."""
        data = data or {}
        at = data.get("consent_as_of")
        when = datetime.fromisoformat(at) if isinstance(at, str) and at else None
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return cls(
            consent_as_of=when,
            currency=data.get("currency") or None,
            timezone=data.get("timezone") or "UTC",
        )


class FileImports:
    def __init__(
        self, files: ImportFiles, jobs: ImportJobs, worker: ImportWorker, clock: Clock, runs: ImportRuns | None = None
    ) -> None:
        self._files = files
        self._jobs = jobs
        self._runs = runs
        self._worker = worker
        self._clock = clock

    def check(
        self, shop: str, job: str, kind: ImportKind, key: str, fmt: str | None, options: Options
    ) -> dict[str, Any]:
        """Read the whole file; with problems, record them and fail (ImportInvalid); else write the parts."""
        # the readers: only here, not in the API's cold start
        from emma.imports.formats import ImportFormatError, ReadOptions, read

        read_options = ReadOptions(options.consent_as_of, options.currency, options.timezone)
        etag = (self._jobs.get(shop, job) or ImportJob.model_construct(etag=None)).etag
        try:
            found = check(shop, kind, key, lambda: self._files.open(key, etag), read_options, fmt, self._clock.now())
        except ImportFormatError as exc:  # not a file of this kind: a problem with the file, like a bad line
            return self._refused(shop, job, None, [exc.message], 1)
        except FileChanged as exc:
            return self._refused(shop, job, None, [f"{key}: {exc.message}"], 1)
        if found.error_count:
            return self._refused(shop, job, found.format, [str(e) for e in found.errors], found.error_count)
        part: list[str] = []
        parts = 0
        with self._files.open(key, etag) as stream:
            for record in read(kind, key, stream, read_options, found.format):
                if isinstance(record, LineError):  # the object changed since it was checked
                    raise ImportInvalid(key, [record], 1)
                part.append(record.model_dump_json(exclude_defaults=True))
                if len(part) == PART_RECORDS:
                    self._put_part(shop, job, parts, part)
                    parts, part = parts + 1, []
        if part:
            self._put_part(shop, job, parts, part)
            parts += 1
        self._jobs.update(
            shop,
            job,
            {
                "status": "storing",
                "format": found.format,
                "records": found.records,
                "parts": parts,
                "consents": found.consents,
                "unproven": found.unproven,
            },
        )
        return {"invalid": False, "parts_prefix": prefix(shop, job) + "parts/", "format": found.format, "parts": parts}

    def _refused(self, shop: str, job: str, fmt: str | None, errors: list[str], count: int) -> dict[str, Any]:
        """A file with problems: the job says so with the first of them (FILE:LINE: reason), nothing is written,
        and the execution ends there (a refused file is the shop's to fix: no failure, no alarm)."""
        self._jobs.update(
            shop,
            job,
            {
                "status": "invalid",
                "format": fmt,
                "errors": errors[:SHOWN_ERRORS],
                "error_count": count,
                "finished_at": self._clock.now(),
            },
        )
        return {"invalid": True, "error_count": count}

    def _put_part(self, shop: str, job: str, n: int, lines: list[str]) -> None:
        self._files.put(f"{prefix(shop, job)}parts/{n:06d}.jsonl", ("\n".join(lines) + "\n").encode())

    def store(self, shop: str, job: str, kind: ImportKind, fmt: str, part: str) -> dict[str, Any]:
        """One part, in backfill mode; what it did goes beside it (Plan adds those up exactly)."""
        lines = [line for line in self._files.read(part).decode().splitlines() if line]
        adapter = _CUSTOMERS if kind == ImportKind.CUSTOMERS else _ORDERS
        records = adapter.validate_json("[" + ",".join(lines) + "]")
        report = self._worker.store(shop, fmt, records)
        n = part.rsplit("/", 1)[-1].split(".")[0]
        done = {**report.as_dict(), "records": len(records)}
        self._files.put(f"{prefix(shop, job)}touched/{n}.json", json.dumps(done).encode())
        counts = {k: int(v) for k, v in done.items() if k not in ("profiles", "records")}
        self._jobs.update(shop, job, {}, {**counts, "records_done": len(records), "parts_done": 1})
        return {"done": len(records)}

    def plan(self, shop: str, job: str) -> dict[str, Any]:
        """The touched profiles, each once, in chunks; the stored counts added up exactly."""
        profiles: set[str] = set()
        totals = {"accepted": 0, "duplicates": 0, "skipped": 0, "merges": 0, "records_done": 0}
        touched = self._files.keys(f"{prefix(shop, job)}touched/")
        for key in touched:
            done = json.loads(self._files.read(key))
            profiles.update(done["profiles"])
            for name in ("accepted", "duplicates", "skipped", "merges"):
                totals[name] += int(done[name])
            totals["records_done"] += int(done["records"])
        ordered = sorted(profiles)
        chunks = [ordered[i : i + CHUNK_PROFILES] for i in range(0, len(ordered), CHUNK_PROFILES)]
        chunks_key = f"{prefix(shop, job)}chunks.json"
        self._files.put(chunks_key, json.dumps(chunks).encode())
        self._jobs.update(
            shop, job, {**totals, "parts_done": len(touched), "profiles": len(ordered), "status": "concluding"}
        )
        return {"chunks": len(chunks), "chunks_key": chunks_key, "profiles": len(ordered)}

    def conclude(self, shop: str, job: str, phase: str, index: int, profiles: Sequence[str]) -> dict[str, Any]:
        self._worker.conclude(shop, profiles, f"{job}:{phase}:{index}")
        self._jobs.update(shop, job, {}, {"concluded" if phase == "conclude" else "rescored": len(profiles)})
        return {"done": len(profiles)}

    def scored_with(self, shop: str, job: str) -> dict[str, Any]:
        """Before the conclusion: the prior it will score with, on the job's record (Refit compares with it)."""
        found = self._jobs.get(shop, job)
        if found is None or found.scored_with is None:
            self._jobs.update(shop, job, {"scored_with": self._worker.prior(shop)})
        return {"done": True}

    def refit(self, shop: str, job: str) -> dict[str, Any]:
        """The prior refitted on the history; changed from what the conclusion scored with? (The same answer
        however often the task is retried: a refit of the same counters is the same prior.)"""
        found = self._jobs.get(shop, job)
        changed = self._worker.refit(shop, found.scored_with if found else None)
        if not changed and found is not None:
            self._jobs.update(shop, job, {"status": "concluding", "rescored": found.profiles})
        else:
            self._jobs.update(shop, job, {"status": "rescoring"})
        return {"changed": changed}

    def finish(self, shop: str, job: str) -> dict[str, Any]:
        """Done: the uploaded file and everything written beside it are deleted (customers' data kept no longer
        than the import needs it; an erasure later finds it in the profiles, not in the bucket)."""
        found = self._jobs.get(shop, job)
        leftovers = self._files.keys(prefix(shop, job))
        self._files.delete([*leftovers, *([found.key] if found else [])])
        self._jobs.update(shop, job, {"status": "done", "finished_at": self._clock.now()})
        return {"done": True}

    # ---- the API's side ---------------------------------------------------------------------------

    def start(
        self, shop: str, kind: ImportKind, key: str, fmt: str | None = None, options: dict[str, Any] | None = None
    ) -> ImportJob | None:
        """Start importing a file of the bucket (POST /v1/imports): its job, created and started if new (the
        same file again is the same job, and runs once); None if there is no such object."""
        assert self._runs is not None, "starting imports needs the import state machine"
        etag = self._files.etag(key)
        if etag is None:
            return None
        settings = json.dumps({"format": fmt, "options": options or {}}, sort_keys=True)
        job = job_id(shop, kind, key, etag, settings)
        now = self._clock.now()
        self._jobs.start(ImportJob(job=job, shop=shop, kind=kind, key=key, etag=etag, started_at=now, updated_at=now))
        payload = {"shop": shop, "job": job, "kind": str(kind), "key": key, "format": fmt, "options": options or {}}
        self._runs.start(job, payload)
        found = self._jobs.get(shop, job)
        assert found is not None
        return found

    def get(self, shop: str, job: str) -> tuple[ImportJob, dict[str, object] | None] | None:
        """The job's record and its execution (None if the shop has no such job)."""
        found = self._jobs.get(shop, job)
        if found is None:
            return None
        return found, (self._runs.status(job) if self._runs is not None else None)
