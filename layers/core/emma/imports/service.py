"""Importing a shop's history: its customers and orders from an export file, in backfill mode.

An import runs in three steps, each resumable:
1. **check**: the whole file is read and every record turned into its canonical events; any problem is
   reported as FILE:LINE with the reason, and a file with problems writes nothing. The file's digest
   names the job: the same file imported again is the same job.
2. **ingest**: batches of records are stored through ingest in backfill mode (profiles, aliases, consent
   with its proof, orders, aggregates, owned products, affinities), never published: no trigger fires,
   no journey starts, nothing is sent. After each batch the journal records the next line, so an
   interrupted import resumes after the last stored batch (a batch stored twice is a set of duplicates).
3. **conclude**: every profile touched is evaluated silently (``RulesService.on_backfill``): segments
   and their member lists and sizes, lifecycle stage, RFM, predictions and the next review timer, and its
   orders join the counters the shop's prediction prior is fitted from; then the prior is refitted on
   them and every profile scored again with it (**rescore**), as if Emma had seen the history live.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from emma.clock import Clock
from emma.errors import BadRequest, InvalidPayload
from emma.events.model import CanonicalEvent, LineItem
from emma.imports.model import CustomerRecord, ImportKind, LineError, OrderRecord, events_of
from emma.ingest.service import IngestService
from emma.predict.prior import default_prior
from emma.rules.service import RulesService

if TYPE_CHECKING:
    from emma.imports.formats import ReadOptions

log = logging.getLogger(__name__)
SHOWN_ERRORS = 20  # problems listed in the error; all are counted
HEAD_BYTES = 64 * 1024


class ImportInvalid(BadRequest):
    """The file has problems; nothing was written. ``errors`` lists the first ones, ``count`` all."""

    code = "invalid_import"

    def __init__(self, file: str, errors: Sequence[LineError], count: int) -> None:
        shown = "\n".join(str(e) for e in errors)
        more = f"\n... and {count - len(errors)} more" if count > len(errors) else ""
        super().__init__(f"{file}: {count} problem(s), nothing imported:\n{shown}{more}")
        self.errors = list(errors)
        self.count = count


@dataclass
class Checked:
    """What the check step found: the format, the digest, the records and what they carry."""

    format: str
    digest: str
    records: int = 0
    consents: int = 0
    unproven: dict[str, int] = field(default_factory=dict)
    errors: list[LineError] = field(default_factory=list)
    error_count: int = 0


class _Digesting:
    """A binary stream that hashes what is read through it."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.sha.update(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._stream.readline(size)
        self.sha.update(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def readable(self) -> bool:
        return True

    def close(self) -> None:  # the caller closes the underlying stream
        pass


def check(
    shop: str,
    kind: ImportKind,
    file: str,
    open_file: Callable[[], BinaryIO],
    options: ReadOptions,
    fmt: str | None = None,
    received_at: datetime | None = None,
) -> Checked:
    """Step 1: read the whole file and turn every record into its events. Nothing is written; the
    problems are collected (the first SHOWN_ERRORS kept, all counted) with their FILE:LINE."""
    from emma.imports.formats import detect, read  # the readers: only where files are read, not in the API

    with open_file() as raw:
        head = raw.read(HEAD_BYTES)
    fmt = fmt or detect(kind, file, head)
    now = received_at or datetime.now(UTC)
    checked = Checked(format=fmt, digest="")
    with open_file() as raw:
        stream = _Digesting(raw)
        for item in read(kind, file, stream, options, fmt):  # type: ignore[arg-type]
            if isinstance(item, LineError):
                _problem(checked, item)
                continue
            try:
                events_of(shop, fmt, item, now)
            except InvalidPayload as exc:  # events_of names the fields a canonical event refuses
                _problem(checked, LineError(file=file, line=item.line, message=exc.message))
                continue
            checked.records += 1
            checked.consents += len(item.consents)
            for channel in item.unproven:
                checked.unproven[str(channel)] = checked.unproven.get(str(channel), 0) + 1
        while stream.read(1 << 20):  # the digest covers the whole file, also what follows the last record
            pass
        checked.digest = stream.sha.hexdigest()
    return checked


def _problem(checked: Checked, error: LineError) -> None:
    checked.error_count += 1
    if len(checked.errors) < SHOWN_ERRORS:
        checked.errors.append(error)


def job_id(shop: str, kind: ImportKind, checked: Checked) -> str:
    """The same file imported into the same shop is the same job."""
    return hashlib.sha256(f"{shop}|{kind}|{checked.format}|{checked.digest}".encode()).hexdigest()[:24]


def _customer_key(event: CanonicalEvent) -> str:
    refs = event.customer
    return refs.email or refs.customer_id or refs.phone or ""


@dataclass
class BatchReport:
    """What storing one batch did; ``profiles`` are the profiles its events are on (to conclude later)."""

    accepted: int = 0
    duplicates: int = 0
    skipped: int = 0
    merges: int = 0
    profiles: list[str] = field(default_factory=list)
    erased: int = 0  # customers left out: an address of theirs belongs to a customer erased in Emma

    def as_dict(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "merges": self.merges,
            "erased": self.erased,
            "profiles": self.profiles,
        }


class ImportWorker:
    """The server side of an import, one batch at a time (the admin API, the import state machine's
    tasks): store a batch of records in backfill mode, conclude a batch of profiles."""

    def __init__(self, ingest: IngestService, rules: RulesService, clock: Clock) -> None:
        self._ingest = ingest
        self._rules = rules
        self._clock = clock

    def store(self, shop: str, fmt: str, records: Sequence[CustomerRecord | OrderRecord]) -> BatchReport:
        now = self._clock.now()
        records = self._with_catalog(shop, records)
        events = [e for record in records for e in events_of(shop, fmt, record, now)]
        # One customer's events together and in time order: one lookup and one commit per customer.
        events.sort(key=lambda e: (_customer_key(e), e.occurred_at))
        report = self._ingest.ingest(events, backfill=True)
        return BatchReport(
            accepted=len(report.accepted),
            duplicates=len(report.duplicates),
            skipped=len(report.skipped),
            merges=len(report.merges),
            profiles=sorted(report.profiles),
            erased=report.erased,
        )

    def _with_catalog(
        self, shop: str, records: Sequence[CustomerRecord | OrderRecord]
    ) -> list[CustomerRecord | OrderRecord]:
        """Line items matched to the catalog: by product id, else by SKU (Shopify's orders export names no
        product, only the variant's SKU), and completed from the catalog's product (category, brand, name),
        so that imported orders build owned products and affinities as live orders do. An item the catalog
        does not know stays as the export has it."""
        items = [item for record in records if isinstance(record, OrderRecord) for item in record.items]
        if not items:
            return list(records)
        catalog = self._ingest.catalog
        known = catalog.get_products(shop, sorted({i.product_id for i in items}))
        skus = sorted({i.sku for i in items if i.product_id not in known and i.sku})
        by_sku = catalog.product_ids_by_sku(shop, skus) if skus else {}
        missing = sorted(set(by_sku.values()) - set(known))
        if missing:
            known |= catalog.get_products(shop, missing)

        def matched(item: LineItem) -> LineItem:
            pid = item.product_id if item.product_id in known else by_sku.get(item.sku or "")
            product = known.get(pid or "")
            if product is None:
                return item
            return item.model_copy(
                update={
                    "product_id": pid,
                    "category": item.category or product.get("category"),
                    "brand": item.brand or product.get("brand"),
                    "name": item.name or product.get("name"),
                }
            )

        return [
            r.model_copy(update={"items": tuple(matched(i) for i in r.items)}) if isinstance(r, OrderRecord) else r
            for r in records
        ]

    def prior(self, shop: str) -> dict[str, Any]:
        """The prior profiles of the shop are scored with now (the stored one, else the default)."""
        return self._rules.prior_of(shop) or default_prior().model_dump(mode="json")

    def refit(self, shop: str, scored_with: dict[str, Any] | None) -> bool:
        """Refit the shop's prediction prior on its counters now; whether it differs from ``scored_with``, the
        prior the conclusion scored with (the same answer however often it is asked: a retried refit refits to
        the same prior)."""
        after = self._rules.refit_priors([shop], force=True)[shop]
        return scored_with is None or _without_time(scored_with) != _without_time(after)

    def conclude(
        self,
        shop: str,
        profile_ids: Sequence[str],
        batch: str,
        refit: bool = False,
        scored_with: dict[str, Any] | None = None,
    ) -> Concluded:
        """Evaluate the profiles silently (RulesService.on_backfill). ``refit`` first refits the shop's prediction
        prior (the rescore after the history is in) and says whether it changed from ``scored_with``; the answer
        names the prior the profiles were scored with."""
        changed = self.refit(shop, scored_with) if refit else None
        report = self._rules.on_backfill(shop, profile_ids, batch)
        return Concluded(report.evaluated + report.duplicates, changed, self.prior(shop))


@dataclass(frozen=True)
class Concluded:
    evaluated: int
    prior_changed: bool | None = None  # asked to refit: whether the prior changed
    prior: dict[str, Any] | None = None  # the prior the profiles were scored with


def _without_time(prior: dict[str, object] | None) -> dict[str, object] | None:
    return None if prior is None else {k: v for k, v in prior.items() if k not in ("fitted_at", "reason")}
