"""What the privacy service needs: the stores that hold a customer's items (DynamoDB: emma.adapters.privacy),
the journey executions to stop (Step Functions), where exports are kept (S3) and the shop's notification."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from emma.privacy.model import AuditEntry, HeldItem, Identity, PrivacyJob
from emma.shops import ShopConfig


class StaleJob(Exception):
    """The job changed since it was read (another worker): re-read it."""


class PrivacyStore(Protocol):
    def holdings(self, shop: str, profile_ids: Sequence[str], identities: Sequence[Identity]) -> list[HeldItem]:
        """Every item about these profiles in every table: their partitions, the identities pointing at
        them, the idempotency records of their logged events, their short links, deferred messages and
        timers."""
        ...

    def erase(
        self, items: Sequence[HeldItem], profile_ids: Sequence[str] | None, identifiers: Sequence[str] = ()
    ) -> dict[str, int]:
        """Delete the items; an idempotency record whose event id names none of the profile ids or
        ``identifiers`` (addresses, customer and anonymous ids) keeps its bare event id, without the
        profile id; an item that changed hands meanwhile (an alias now pointing at another profile) is
        left. ``profile_ids`` None: a whole shop, everything goes. Counts per kind."""
        ...

    def shop_items(self, shop: str, cursor: dict[str, Any] | None, limit: int) -> tuple[list[HeldItem], Any]:
        """One page of every item of a shop, in every table, except its audit trail; the next cursor or None."""
        ...

    def inactive(self, shop: str, before: datetime, limit: int) -> list[str]:
        """Profile ids of the shop whose customer was last active before ``before`` (by UTC day), at most
        ``limit``, without a scan."""
        ...

    def suppress(self, shop: str, hashes: Mapping[str, str], at: datetime) -> None:
        """Keep these salted address hashes (hash -> email|phone)."""
        ...

    def suppressed(self, shop: str, hashes: Sequence[str]) -> set[str]: ...

    def get_job(self, shop: str, job_id: str) -> PrivacyJob | None: ...

    def put_job(self, job: PrivacyJob, counter_deltas: Mapping[str, Mapping[str, int]] | None = None) -> None:
        """Write the job on condition of the version it was read at (raise StaleJob), with, in the same
        transaction, segment size deltas per profile id (an erasure takes its customer out of the counts
        exactly once)."""
        ...

    def enqueue(self, job: PrivacyJob) -> None: ...

    def dequeue(self, job: PrivacyJob) -> None: ...

    def queued(self, limit: int) -> list[tuple[str, str, str]]:
        """(shop, job id, queue entry) of queued jobs, oldest first."""
        ...

    def drop(self, entry: str) -> None:
        """Remove a queue entry (of a job finished, failed or gone)."""
        ...

    def audit(self, entry: AuditEntry) -> None: ...

    def audit_log(self, shop: str, month: str, limit: int) -> list[AuditEntry]: ...


class Executions(Protocol):
    def stop(self, arn: str, cause: str) -> None:
        """Stop a journey execution (one already ended is fine)."""
        ...


class ExportStore(Protocol):
    def put(self, shop: str, job_id: str, document: dict[str, Any], owner: str | None) -> str:
        """Keep a data request's export, filed under ``owner`` (a hash standing for the customer, None when
        the request found nobody); returns where it is."""
        ...

    def get(self, location: str) -> dict[str, Any] | None:
        """An export kept by ``put`` (None once it expired)."""
        ...

    def delete(self, shop: str, owners: Sequence[str] | None) -> int:
        """Delete the exports filed under these owners (None: every export of the shop); how many."""
        ...


class Notifier(Protocol):
    def notify(self, shop: ShopConfig, payload: dict[str, Any]) -> None:
        """Tell the shop (its privacy.notify_url) that something is ready; raise TransientError to retry."""
        ...
