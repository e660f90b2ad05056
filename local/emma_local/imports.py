"""`emma import customers|orders FILE`: a shop's history into Emma, in backfill mode (emma.imports).

1. The whole file is checked first (emma.imports.service.check): every problem is printed as
   ``emma: FILE:LINE: reason`` (the first 20, all counted), exit code 2, and nothing is sent.
2. Batches of records go to the admin API (POST /v1/imports/{kind}/batches), with a progress bar on stderr
   (rate and ETA). A journal beside the file's job (``$EMMA_STATE_DIR/imports/<api>/<job>/``, default
   ``.emma/``) records the next line after every batch, so an interrupted import run again resumes there.
3. The profiles the batches answered are concluded twice (POST /v1/imports/conclusions): once to record
   their segments, lifecycle stages and the orders the shop's prediction prior is fitted from, then with
   the prior refitted on the history to score them again.

Running the same file again once it finished changes nothing: every batch answers duplicates and every
conclusion finds its marker (the journal is kept, the run reports what it found).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TextIO, TypeVar

from emma.imports.formats import ReadOptions, read
from emma.imports.model import CustomerRecord, ImportKind, LineError, OrderRecord
from emma.imports.ports import ImportJournal, ImportState
from emma.imports.service import BatchReport, Checked, Concluded, ImportInvalid, check, job_id
from emma_local.http_retry import with_retries

BATCH_RECORDS = 250  # records per request: well within the API's 30 s and 4 MB
MAX_BATCH_BYTES = 3_000_000
CONCLUDE_BATCH = 100  # profiles per conclusion request: a few seconds of the API's 10 s
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)

Progress = Callable[[str, int, int], None]  # (phase, done, total)
T = TypeVar("T")
R = TypeVar("R")
Record = CustomerRecord | OrderRecord


class ImportTarget(Protocol):
    """Where batches go: the admin API (ApiTarget), or an ImportWorker in-process (tests)."""

    def store(self, kind: ImportKind, fmt: str, records: list[Record]) -> BatchReport: ...

    def conclude(
        self, profile_ids: list[str], batch: str, refit: bool, scored_with: dict[str, Any] | None
    ) -> Concluded: ...


# ---- the journal --------------------------------------------------------------------------------


class FileJournal:
    """ImportJournal in a folder: ``<job>/state.json`` and ``<job>/touched/<batch>.json``, each written whole
    (to a temporary name, then renamed): an interruption leaves a file as it was or as it is, never cut."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _dir(self, job: str) -> Path:
        return self._root / job

    def state(self, job: str) -> ImportState | None:
        path = self._dir(job) / "state.json"
        if not path.exists():
            return None
        return ImportState.model_validate_json(path.read_text())

    def save(self, state: ImportState) -> None:
        folder = self._dir(state.job)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "state.json.tmp"
        tmp.write_text(state.model_dump_json(indent=1))
        tmp.replace(folder / "state.json")  # atomic: an interruption leaves the old state or the new

    def add_profiles(self, job: str, batch: int, profile_ids: Collection[str]) -> None:
        folder = self._dir(job) / "touched"
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{batch:08d}.json.tmp"
        with open(tmp, "w") as out:
            out.write(json.dumps(sorted(profile_ids)))
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(folder / f"{batch:08d}.json")

    def pending(self, shop: str) -> list[str]:
        path = self._root / f"pending-{shop}.json"
        return json.loads(path.read_text()) if path.exists() else []

    def set_pending(self, shop: str, jobs: list[str]) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        tmp = self._root / f"pending-{shop}.json.tmp"
        tmp.write_text(json.dumps(jobs))
        tmp.replace(self._root / f"pending-{shop}.json")

    def profiles(self, job: str) -> list[str]:
        found: set[str] = set()
        for path in sorted((self._dir(job) / "touched").glob("*.json")):
            found.update(json.loads(path.read_text()))
        return sorted(found)


class MemoryJournal:
    """ImportJournal in memory (tests)."""

    def __init__(self) -> None:
        self.states: dict[str, ImportState] = {}
        self.touched: dict[str, dict[int, set[str]]] = {}
        self.pending_jobs: dict[str, list[str]] = {}

    def pending(self, shop: str) -> list[str]:
        return list(self.pending_jobs.get(shop, []))

    def set_pending(self, shop: str, jobs: list[str]) -> None:
        self.pending_jobs[shop] = list(jobs)

    def state(self, job: str) -> ImportState | None:
        state = self.states.get(job)
        return None if state is None else state.model_copy(deep=True)

    def save(self, state: ImportState) -> None:
        self.states[state.job] = state.model_copy(deep=True)

    def add_profiles(self, job: str, batch: int, profile_ids: Collection[str]) -> None:
        self.touched.setdefault(job, {}).setdefault(batch, set()).update(profile_ids)

    def profiles(self, job: str) -> list[str]:
        return sorted(set().union(*self.touched.get(job, {}).values()))


# ---- the run ------------------------------------------------------------------------------------


@dataclass
class Importer:
    target: ImportTarget
    journal: ImportJournal
    batch_records: int = BATCH_RECORDS
    conclude_batch: int = CONCLUDE_BATCH
    parallel: int = 1  # requests in flight at once (their results are taken in order: the journal stays exact)
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def run(
        self,
        shop: str,
        kind: ImportKind,
        file: str,
        open_file: Callable[[], BinaryIO],
        options: ReadOptions,
        fmt: str | None = None,
        progress: Progress | None = None,
        checked: Checked | None = None,
        conclude: bool = True,
    ) -> ImportState:
        """Check (unless ``checked`` is given), then store and conclude, resuming an unfinished job. A job
        that finished runs again from the start (every batch then answers duplicates: nothing changes).
        With ``conclude`` False the profiles are only stored, and concluded by the shop's next import (a
        customers file followed by its orders file: each profile is concluded once, not twice)."""
        checked = checked or check(shop, kind, file, open_file, options, fmt)
        if checked.error_count:
            raise ImportInvalid(file, checked.errors, checked.error_count)
        job = job_id(shop, kind, checked)
        state = self.journal.state(job)
        if state is None or state.phase in ("done", "stored"):
            state = ImportState(
                job=job,
                shop=shop,
                kind=kind,
                format=checked.format,
                file=file,
                digest=checked.digest,
                records=checked.records,
                started_at=self.now(),
                consents=checked.consents,
                unproven=checked.unproven,
            )
            self.journal.save(state)
        if state.phase == "ingest":
            self._ingest(state, open_file, options, progress)
        if state.phase == "conclude" and not conclude:
            self.journal.set_pending(shop, [*(j for j in self.journal.pending(shop) if j != job), job])
            state.phase = "stored"
            state.finished_at = self.now()
            self.journal.save(state)
            return state
        if state.phase == "conclude" and state.profiles_done == 0 and not state.with_jobs:
            state.with_jobs = [j for j in self.journal.pending(shop) if j != job]
            state.profiles = len(self._profiles(state))
            self.journal.save(state)
        if state.phase == "conclude":
            self._each(state, "profiles_done", "conclude", False, progress)
            state.phase = "rescore"
            self.journal.save(state)
        if state.phase == "rescore":
            self._each(state, "rescored", "rescore", True, progress)
            state.phase = "done"
            state.finished_at = self.now()
            self.journal.save(state)
            concluded = {*state.with_jobs, job}
            self.journal.set_pending(shop, [j for j in self.journal.pending(shop) if j not in concluded])
        return state

    def _profiles(self, state: ImportState) -> list[str]:
        """The profiles to conclude: this job's and those of earlier jobs stored to be concluded with it."""
        found = set(self.journal.profiles(state.job))
        for job in state.with_jobs:
            found.update(self.journal.profiles(job))
        return sorted(found)

    def _ingest(
        self, state: ImportState, open_file: Callable[[], BinaryIO], options: ReadOptions, progress: Progress | None
    ) -> None:
        kind = ImportKind(state.kind)
        with open_file() as raw:
            batches = self._batches(state, read(kind, state.file, raw, options, state.format))
            for batch, report in _in_order(batches, lambda b: self.target.store(kind, state.format, b), self.parallel):
                self.journal.add_profiles(state.job, state.batches_done, report.profiles)
                state.accepted += report.accepted
                state.duplicates += report.duplicates
                state.skipped += report.skipped
                state.merges += report.merges
                state.records_done += len(batch)
                state.batches_done += 1
                state.next_line = batch[-1].line + 1
                self.journal.save(state)
                if progress:
                    progress("ingest", state.records_done, state.records)
        state.phase = "conclude"
        state.profiles = len(self.journal.profiles(state.job))
        self.journal.save(state)

    def _batches(self, state: ImportState, items: Iterator[Record | LineError]) -> Iterator[list[Record]]:
        batch: list[Record] = []
        size = 0
        for item in items:
            if isinstance(item, LineError):  # the file changed since it was checked
                raise ImportInvalid(state.file, [item], 1)
            if item.line < state.next_line:
                continue  # stored by an earlier run of this job
            weight = len(item.model_dump_json())
            if batch and (len(batch) >= self.batch_records or size + weight > MAX_BATCH_BYTES):
                yield batch
                batch, size = [], 0
            batch.append(item)
            size += weight
        if batch:
            yield batch

    def _each(self, state: ImportState, counter: str, phase: str, refit: bool, progress: Progress | None) -> None:
        profiles = self._profiles(state)
        state.profiles = len(profiles)
        done = getattr(state, counter)
        if done == 0 and profiles:
            # The first batch of each pass alone, before the others. Concluding, it says which prior it scored
            # with (kept in the journal); rescoring, it refits the prior (the counters hold the history now) and
            # compares the new one with that: if it did not change (a file without orders), scoring the others
            # again would change nothing. The same answer however often the first batch is sent again.
            chunk = profiles[: self.conclude_batch]
            answer = self.target.conclude(chunk, f"{state.job}:{phase}:0", refit, state.scored_with if refit else None)
            if not refit:
                state.scored_with = answer.prior
            done = len(profiles) if refit and answer.prior_changed is False else len(chunk)
            self._concluded(state, counter, done, phase, len(profiles), progress)
        starts = range(done, len(profiles), self.conclude_batch)

        def one(start: int) -> Concluded:
            return self.target.conclude(
                profiles[start : start + self.conclude_batch], f"{state.job}:{phase}:{start}", False, None
            )

        for start, _ in _in_order(iter(starts), one, self.parallel):
            self._concluded(
                state, counter, min(start + self.conclude_batch, len(profiles)), phase, len(profiles), progress
            )

    def _concluded(
        self, state: ImportState, counter: str, done: int, phase: str, total: int, progress: Progress | None
    ) -> None:
        setattr(state, counter, done)
        self.journal.save(state)
        if progress:
            progress(phase, done, total)


def _in_order(items: Iterator[T], call: Callable[[T], R], parallel: int) -> Iterator[tuple[T, R]]:
    """``(item, call(item))`` in the items' order, with up to ``parallel`` calls running at once. The first
    failure is raised when its turn comes; nothing after it is yielded (calls still running finish)."""
    if parallel <= 1:
        for item in items:
            yield item, call(item)
        return
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        window: deque[tuple[T, Future[R]]] = deque()
        for item in items:
            window.append((item, pool.submit(call, item)))
            if len(window) >= parallel:
                first, future = window.popleft()
                yield first, future.result()
        while window:
            first, future = window.popleft()
            yield first, future.result()


# ---- targets ------------------------------------------------------------------------------------


class ApiTarget:
    """The admin API of a running stack (emma dev, or deployed)."""

    def __init__(self, api: str, admin_key: str, shop: str, session: Any, sleep: Callable[[float], None] = time.sleep):
        self.base = api.rstrip("/")
        self.headers = {"authorization": f"Bearer {admin_key}", "content-type": "application/json"}
        self.params = {"shop": shop}
        self.session = session
        self.sleep = sleep
        self._local = threading.local()
        self._owner = threading.get_ident()

    def _session(self) -> Any:
        """The given session in the thread that made this target; a session of its own in each other (a
        requests.Session is not shared between threads)."""
        if threading.get_ident() == self._owner:
            return self.session
        if getattr(self._local, "session", None) is None:
            import requests

            self._local.session = requests.Session()
        return self._local.session

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body, default=str).encode()
        resp = with_retries(
            lambda: self._session().post(
                f"{self.base}{path}", data=data, headers=self.headers, params=self.params, timeout=120
            ),
            delays=RETRY_DELAYS,
            sleep=self.sleep,
            unreachable=lambda exc: ApiError(f"{self.base}: {type(exc).__name__}: is the API running (emma dev)?"),
            statuses=RETRY_STATUSES,
        )
        try:
            answer = resp.json()
        except ValueError:
            answer = {"message": resp.text[:300]}
        if resp.status_code != 200:
            raise ApiError(f"{path}: {resp.status_code} {answer.get('message', answer)}", resp.status_code)
        return answer

    def store(self, kind: ImportKind, fmt: str, records: list[Record]) -> BatchReport:
        body = {"format": fmt, "records": [r.model_dump(mode="json", exclude_defaults=True) for r in records]}
        answer = self._post(f"/v1/imports/{kind}/batches", body)
        return BatchReport(
            accepted=answer["accepted"],
            duplicates=answer["duplicates"],
            skipped=answer["skipped"],
            merges=answer["merges"],
            profiles=answer["profiles"],
        )

    def conclude(
        self, profile_ids: list[str], batch: str, refit: bool, scored_with: dict[str, Any] | None
    ) -> Concluded:
        body: dict[str, Any] = {"batch": batch, "profiles": profile_ids, "refit": refit}
        if scored_with is not None:
            body["scored_with"] = scored_with
        answer = self._post("/v1/imports/conclusions", body)
        return Concluded(int(answer["evaluated"]), answer.get("prior_changed"), answer.get("prior"))


class ApiError(Exception):
    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


# ---- the command --------------------------------------------------------------------------------


class ProgressBar:
    """``ingest  [#####.....] 12,500/40,000 records  830/s  ETA 0:33`` on stderr; a line per phase when
    stderr is not a terminal (CI logs), at most every few seconds."""

    def __init__(self, out: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self.clock = clock
        self.tty = out.isatty()
        self.phase = ""
        self.started = 0.0
        self.shown = 0.0
        self.first_seen = ""
        self.first_done = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = self.clock()
        if phase != self.phase:
            if self.phase and self.tty:
                self.out.write("\n")
            self.phase, self.started, self.shown = phase, now, float("-inf")
        if not (done >= total or now - self.shown >= (0.2 if self.tty else 5.0)):
            return
        self.shown = now
        elapsed = now - self.started
        if phase != self.first_seen:  # the phase's first step ran before the bar saw it: time it from here on
            self.first_seen, self.first_done = phase, done
        rate = (done - self.first_done) / elapsed if elapsed > 0.5 else 0.0
        eta = (total - done) / rate if rate > 0 else 0.0
        unit = "records" if phase == "ingest" else "profiles"
        width = 30
        filled = int(width * done / total) if total else width
        line = f"{phase:<9}[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} {unit}  " + (
            f"{rate:,.0f}/s  ETA {int(eta) // 60}:{int(eta) % 60:02d}" if rate else ""
        )
        self.out.write(("\r" + line.ljust(100)) if self.tty else (line + "\n"))
        if self.tty and done >= total:
            self.out.write("\n")
        self.out.flush()


def state_dir() -> Path:
    return Path(os.environ.get("EMMA_STATE_DIR") or ".emma")


def run_import(
    kind: str,
    file: Path,
    *,
    shop: str,
    api: str,
    admin_key: str | None,
    fmt: str | None = None,
    consent_as_of: datetime | None = None,
    currency: str | None = None,
    timezone: str = "UTC",
    dry_run: bool = False,
    restart: bool = False,
    conclude_later: bool = False,
    parallel: int = 2,
    session: Any | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    key = admin_key or os.environ.get("EMMA_ADMIN_KEY")
    if not key:
        print("emma: an admin key is needed: --admin-key or $EMMA_ADMIN_KEY", file=err)
        return 2
    if not file.is_file():
        print(f"emma: {file}: no such file", file=err)
        return 2
    options = ReadOptions(consent_as_of=consent_as_of, currency=currency, timezone=timezone)
    import_kind = ImportKind(kind)
    started = time.monotonic()
    opener = functools.partial(Path.open, file, "rb")
    try:
        checked = check(shop, import_kind, str(file), opener, options, fmt)
    except ImportInvalid as exc:
        print(f"emma: {exc.message}", file=err)
        return 2
    except Exception as exc:  # an unknown format, an unreadable file: named, never a traceback
        message = getattr(exc, "message", None) or str(exc)
        print(f"emma: {file}: {message}", file=err)
        return 2
    if checked.error_count:
        for problem in checked.errors:
            print(f"emma: {problem}", file=err)
        if checked.error_count > len(checked.errors):
            print(f"emma: ... and {checked.error_count - len(checked.errors)} more problems", file=err)
        print(f"emma: {file}: {checked.error_count} problem(s); nothing imported", file=err)
        return 2
    print(
        f"{file}: {checked.records:,} {kind} ({checked.format} format), {checked.consents:,} consent statements "
        f"with proof" + _unproven(checked.unproven),
        file=out,
    )
    if dry_run:
        return 0
    if session is None:
        import requests

        session = requests.Session()
    root = state_dir() / "imports" / hashlib.sha256(api.rstrip("/").encode()).hexdigest()[:8]
    journal = FileJournal(root)
    if restart:
        state = journal.state(job_id(shop, import_kind, checked))
        if state is not None:
            journal.save(state.model_copy(update={"phase": "done"}))  # the next run starts from the beginning
    importer = Importer(ApiTarget(api, key, shop, session), journal, parallel=max(1, parallel))
    try:
        state = importer.run(
            shop,
            import_kind,
            str(file),
            opener,
            options,
            checked.format,
            ProgressBar(err),
            checked,
            conclude=not conclude_later,
        )
    except ApiError as exc:
        print(f"emma: {exc}", file=err)
        print("emma: run the same command again to resume where it stopped", file=err)
        return 2 if exc.status in (400, 401, 403, 404, 413, 422) else 1
    elapsed = time.monotonic() - started
    if state.phase == "stored":
        print(
            f"stored {state.records:,} {kind} in {elapsed:,.1f} s ({state.records / max(elapsed, 1e-6):,.0f}/s): "
            f"{state.accepted:,} events stored, {state.duplicates:,} already there; their {state.profiles:,} profiles "
            "are concluded by the next import (without --conclude-later); nothing was sent",
            file=out,
        )
        return 0
    print(
        f"imported {state.records:,} {kind} in {elapsed:,.1f} s ({state.records / max(elapsed, 1e-6):,.0f}/s): "
        f"{state.accepted:,} events stored, {state.duplicates:,} already there, {state.merges:,} profiles merged, "
        f"{state.profiles:,} profiles concluded; nothing was sent",
        file=out,
    )
    return 0


def _unproven(unproven: dict[str, int]) -> str:
    if not unproven:
        return ""
    parts = ", ".join(f"{n:,} {channel}" for channel, n in sorted(unproven.items()))
    return (
        f"; marketing accepted without proof ({parts}): no consent created "
        "(state the export's date with --consent-as-of if it is your proof)"
    )
