"""Export and erasure of a customer's data, erasure of a whole shop, and the audit trail.

An erasure is a job (PrivacyJob) whose plan (the profile ids, identities and addresses) is written
before anything is deleted; each step records itself in the job, so a retry after a crash half-way
finishes the same work, whatever the references it started from resolve to by then:
1. stop the customer's running journey executions;
2. take the customer out of the segment size counters (in the same transaction as the job's step,
   so exactly once);
3. keep a suppression of each email address and phone number, as a salted hash;
4. delete every item about the customer in every table (idempotency records keep only the bare
   event id), repeated until a look finds nothing left (a message being dispatched meanwhile);
5. drop the plan from the job (what stays: counts) and write the audit entry.

Requests that must answer fast (Shopify's compliance webhooks, within 5 s) queue the job; the
scheduled job runs queued jobs (``run_queued``), and finishes any that ran out of time.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from emma.clock import Clock
from emma.errors import EmmaError, ProfileNotFound
from emma.privacy.model import (
    AuditEntry,
    ErasurePlan,
    HeldItem,
    Identity,
    JobKind,
    PrivacyJob,
    address_hashes,
    privacy_salt,
    salted_hash,
)
from emma.privacy.ports import Executions, ExportStore, Notifier, PrivacyStore, StaleJob
from emma.profiles.model import Profile
from emma.shops import ShopConfig, ShopDirectory

log = logging.getLogger(__name__)

# Item types the service reads (names as in docs/data-model.md; tests/unit/privacy checks they exist).
PROFILE = "profile"
DERIVED = "derived state"
JOURNEY = "journey state"
IDEMPOTENCY = "idempotency record"
EXPORT = "data request export"  # an object in the exports bucket, not a DynamoDB item

EXPORT_FORMAT = "emma.export/1"
MAX_SWEEPS = 4  # look again after deleting, for items written meanwhile
SHOP_PAGE = 400
RETENTION_BATCH = 200  # profiles a shop's retention queues per run (every 5 minutes: 57,600 a day)
DAYS_PER_MONTH = 30.4375
RUNNING = ("active",)  # emma.journeys.state: active executions run or wait; the rest have ended
MAX_JOB_ATTEMPTS = 12  # runs of the privacy schedule (an hour) before a failing job is marked failed
_UNSALTED = b"emma-privacy-request-ids/v1"  # request ids name nobody: a public key is enough for them
JOB_SLICE_SECONDS = 20.0  # a queued job's share of a run, so a long shop erasure cannot starve the others


class PrivacyError(EmmaError):
    status = 409
    code = "privacy_job_conflict"


@dataclass
class ErasureOutcome:
    job: PrivacyJob
    finished: bool


def _ref_key(ref: str) -> str:
    """A reference as resolving sees it: emails in lower case, the rest as given."""
    ref = ref.strip()
    kind, _, value = ref.partition(":")
    if kind == "email" and value:
        return "email:" + value.strip().lower()
    if "@" in ref and kind not in ("cid", "anon"):
        return "email:" + ref.lower()
    return ref


class PrivacyService:
    def __init__(
        self,
        store: PrivacyStore,
        resolve: Callable[[str, str], Profile],
        shops: ShopDirectory,
        executions: Executions,
        exports: ExportStore,
        notifier: Notifier,
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
        release: Callable[[str, str], bool] | None = None,
    ) -> None:
        """``release``: delete what a reference names when it resolves to no profile (IngestService.release: an
        identity a new customer's request claimed before it died, no profile stored)."""
        self._store = store
        self._resolve = resolve
        self._release = release
        self._shops = shops
        self._executions = executions
        self._exports = exports
        self._notifier = notifier
        self._clock = clock
        self._monotonic = monotonic

    # ---- hashing -----------------------------------------------------------------------------

    def subject(self, shop: ShopConfig, ref: str) -> str:
        """The salted hash that names a reference in jobs and the audit trail ("unsalted" for a shop without
        a salt: a hash anyone could recompute would name the customer)."""
        salt = privacy_salt(shop)
        return "unsalted" if salt is None else salted_hash(salt, "ref", _ref_key(ref))

    # ---- export ------------------------------------------------------------------------------

    def export(self, shop: ShopConfig, ref: str, actor: str) -> dict[str, Any]:
        """Everything Emma holds about the customer ``ref`` names, in every table, as one document."""
        profile = self._resolve(shop.shop, ref)
        document = self._export_profiles(shop, [profile])
        self._audit(shop, "export", actor, self.subject(shop, ref), {"items": document["summary"]["items"]})
        return document

    def _export_profiles(self, shop: ShopConfig, profiles: Sequence[Profile]) -> dict[str, Any]:
        plan = _plan(profiles)
        held = self._store.holdings(shop.shop, plan.profile_ids, _identities(plan))
        grouped: dict[str, list[dict[str, Any]]] = {}
        for item in held:
            grouped.setdefault(item.kind, []).append({"table": item.table, "pk": item.pk, "sk": item.sk, **item.data})
        main = profiles[0]
        return {
            "format": EXPORT_FORMAT,
            "shop": shop.shop,
            "exported_at": self._clock.now().isoformat(),
            "profile_id": main.profile_id,
            "summary": {
                "profile_ids": plan.profile_ids,
                "emails": plan.emails,
                "phones": plan.phones,
                "items": {kind: len(items) for kind, items in sorted(grouped.items())},
            },
            "profiles": [p.view() for p in profiles],
            "consent": {
                p.profile_id: {str(ch): state.model_dump(mode="json") for ch, state in p.consent.items()}
                for p in profiles
            },
            "items": dict(sorted(grouped.items())),
        }

    # ---- erasure of one customer ----------------------------------------------------------------

    def job_id(self, shop: ShopConfig, kind: JobKind, ref: str, *, personal: bool = True) -> str:
        """Derived from the shop's salt and the reference (or request id), so that the same request finds its
        job again. A shop without a salt: a request id that names nobody (a webhook delivery, a profile id)
        still gives a fixed id; a customer's reference (an email) a random one, nothing derived from it."""
        salt = privacy_salt(shop)
        if salt is None:
            if personal:
                return kind[0] + uuid.uuid4().hex[:31]
            salt = _UNSALTED
        return kind[0] + salted_hash(salt, "job", f"{kind}|{ref}")[:31]

    def erase(self, shop: ShopConfig, ref: str, actor: str, budget_seconds: float | None = None) -> ErasureOutcome:
        """Erase the customer ``ref`` names (ProfileNotFound if none). Idempotent: the same reference again
        answers with the same job. Within ``budget_seconds`` or queued for the scheduled job."""
        job_id = self.job_id(shop, "erase", _ref_key(ref))
        job = self._store.get_job(shop.shop, job_id)
        if job is not None and job.status == "failed":  # asked again after it failed: another go
            job.status, job.attempts, job.queued = "running", 0, True
            self._put(job)
            self._store.enqueue(job)
        if job is not None and job.status == "done":
            try:
                profile = self._erasure_subject(shop, ref)
            except ProfileNotFound:
                return ErasureOutcome(job, True)  # erased before: the same answer
            job = self._new_erasure(shop, job_id, ref, actor, profile, after=job)  # the customer came back
        elif job is None:
            job = self._new_erasure(shop, job_id, ref, actor, self._erasure_subject(shop, ref))
        return ErasureOutcome(job, self._run(shop, job, self._deadline(budget_seconds)))

    def _erasure_subject(self, shop: ShopConfig, ref: str) -> Profile:
        """The profile ``ref`` names; where there is none, the identity is deleted if it is only a reservation
        (ProfileNotFound all the same: no customer's data was held)."""
        try:
            return self._resolve(shop.shop, ref)
        except ProfileNotFound:
            if self._release is not None and self._release(shop.shop, ref):
                log.info("erasure of shop %s: an identity claimed for a profile never stored was deleted", shop.shop)
            raise

    def _new_erasure(
        self, shop: ShopConfig, job_id: str, ref: str, actor: str, profile: Profile, after: PrivacyJob | None = None
    ) -> PrivacyJob:
        """A running erasure with its plan, queued from the start: if the function dies half-way, the
        privacy schedule finishes it. ``after``: the finished job of the same reference it replaces."""
        now = self._clock.now()
        job = PrivacyJob(
            job_id=job_id,
            shop=shop.shop,
            kind="erase",
            status="running",
            actor=actor,
            subject=self.subject(shop, ref),
            created_at=now,
            updated_at=now,
            plan=_plan([profile]),
            queued=True,
            version=after.version if after is not None else 0,
            generation=after.generation + 1 if after is not None else 0,
        )
        try:
            self._put(job)
        except StaleJob:  # the same request, at the same moment: its job is the answer
            found = self._store.get_job(shop.shop, job_id)
            if found is None:
                raise
            return found
        self._store.enqueue(job)
        return job

    def request(
        self,
        shop: ShopConfig,
        kind: JobKind,
        refs: Sequence[str],
        actor: str,
        *,
        request_id: str,
        orders: Sequence[str] = (),
        notify: bool = False,
    ) -> PrivacyJob:
        """Queue a job for the scheduled job (Shopify's compliance webhooks): nothing is resolved now.
        ``request_id`` makes a re-delivered request find its job."""
        job_id = self.job_id(shop, kind, request_id, personal=False)
        job = self._store.get_job(shop.shop, job_id)
        if job is not None:
            return job
        now = self._clock.now()
        job = PrivacyJob(
            job_id=job_id,
            shop=shop.shop,
            kind=kind,
            actor=actor,
            subject=self.subject(shop, refs[0] if refs else kind),
            created_at=now,
            updated_at=now,
            refs=list(refs),
            orders=list(orders),
            notify=notify,
            queued=True,
        )
        try:
            self._put(job)
        except StaleJob:  # a re-delivery at the same moment: its job is the answer
            found = self._store.get_job(shop.shop, job_id)
            if found is None:
                raise
            return found
        self._store.enqueue(job)
        return job

    def job(self, shop: ShopConfig, job_id: str) -> PrivacyJob:
        job = self._store.get_job(shop.shop, job_id)
        if job is None:
            raise PrivacyJobNotFound(f"no privacy job {job_id!r} in shop {shop.shop!r}")
        return job

    def exported(self, shop: ShopConfig, job_id: str, actor: str) -> dict[str, Any]:
        """A data request's stored export; each fetch is in the audit trail."""
        job = self.job(shop, job_id)
        ready = job.kind == "export" and job.status == "done" and job.export_location
        document = self._exports.get(job.export_location) if ready and job.export_location else None
        if document is None:
            raise PrivacyJobNotFound(f"privacy job {job_id!r} has no export (yet)")
        self._audit(shop, "export", actor, job.subject, {"job_id": job_id, "fetched": True})
        return document

    # ---- retention -----------------------------------------------------------------------------------

    def run_retention(self, limit: int = RETENTION_BATCH) -> dict[str, int]:
        """Queue an erasure for each profile whose customer was inactive longer than their shop's
        ``privacy.inactive_months`` (shops without it: never), at most ``limit`` a shop a run; the queue
        does the erasing. Profiles per shop queued now."""
        queued: dict[str, int] = {}
        now = self._clock.now()
        for shop in self._shops.all():
            months = shop.privacy.inactive_months
            if not months:
                continue
            cutoff = now - timedelta(days=round(months * DAYS_PER_MONTH))
            found = self._store.inactive(shop.shop, cutoff, limit)
            for profile_id in found:
                self.request(shop, "erase", [profile_id], "retention", request_id=f"retention:{profile_id}")
            if found:
                queued[shop.shop] = len(found)
                log.info("retention: %d profiles of %s inactive for %d months queued", len(found), shop.shop, months)
        return queued

    # ---- the queue ---------------------------------------------------------------------------------

    def run_queued(self, budget_seconds: float = 60.0, limit: int = 50) -> dict[str, int]:
        """Run queued jobs, oldest first, within the budget; what is left waits for the next run."""
        deadline = self._deadline(budget_seconds)
        done = failed = waiting = 0
        for shop_id, job_id, entry in self._store.queued(limit):
            if self._monotonic() >= deadline:
                waiting += 1
                continue
            job = None
            try:
                job = self._store.get_job(shop_id, job_id)
                if job is None or job.status in ("done", "failed"):
                    self._store.drop(entry)  # finished meanwhile, or its shop was erased
                    continue
                shop = self._shops.get(shop_id)
                job_deadline = min(deadline, self._monotonic() + JOB_SLICE_SECONDS)
                if self._run(shop, job, job_deadline):
                    done += 1
                else:
                    waiting += 1
            except (EmmaError, StaleJob) as exc:  # stays queued: the next run tries again, up to a point
                failed += 1
                log.warning("privacy job %s of %s failed: %s", job_id, shop_id, type(exc).__name__)
                if job is not None:
                    self._count_failure(job, exc, entry)
        return {"done": done, "failed": failed, "waiting": waiting}

    def _count_failure(self, job: PrivacyJob, exc: Exception, entry: str) -> None:
        """After MAX_JOB_ATTEMPTS failed runs a job is marked failed (GET /v1/privacy/jobs shows why, the
        PrivacyJobsFailed metric alarms) and leaves the queue, so that it stops blocking newer ones."""
        try:
            current = self._store.get_job(job.shop, job.job_id) or job
            current.attempts += 1
            current.note = f"run {current.attempts} failed: {type(exc).__name__}: {getattr(exc, 'message', exc)}"[:500]
            if current.attempts >= MAX_JOB_ATTEMPTS:
                current.status = "failed"
                current.queued = False
            self._put(current)
            if current.status == "failed":
                self._store.drop(entry)
        except (EmmaError, StaleJob):
            log.warning("privacy job %s: could not record the failure", job.job_id)

    # ---- running a job -------------------------------------------------------------------------------

    def _deadline(self, budget_seconds: float | None) -> float:
        return float("inf") if budget_seconds is None else self._monotonic() + budget_seconds

    def _enqueue(self, job: PrivacyJob) -> None:
        """Leave the job to the privacy schedule (remembered on the job, so that finishing it dequeues it)."""
        if not job.queued:
            job.queued = True
            self._put(job)
        self._store.enqueue(job)

    def _put(self, job: PrivacyJob, counter_deltas: dict[str, dict[str, int]] | None = None) -> None:
        job.updated_at = self._clock.now()
        self._store.put_job(job, counter_deltas)
        job.version += 1

    def _run(self, shop: ShopConfig, job: PrivacyJob, deadline: float) -> bool:
        """Run ``job`` until done (True) or the deadline (False: queued, to be finished later)."""
        if job.status == "done":
            return True
        try:
            if job.kind == "erase_shop":
                finished = self._erase_shop(shop, job, deadline)
            elif job.plan is None and job.status == "pending":
                finished = self._start_queued(shop, job, deadline)
            else:
                finished = self._erase(shop, job, deadline)
        except StaleJob:
            return False  # another worker has it: it finishes it, or leaves it queued
        if not finished:
            self._enqueue(job)
        return finished

    def _start_queued(self, shop: ShopConfig, job: PrivacyJob, deadline: float) -> bool:
        profiles: dict[str, Profile] = {}
        for ref in job.refs:
            try:
                found = self._erasure_subject(shop, ref) if job.kind == "erase" else self._resolve(shop.shop, ref)
            except ProfileNotFound:
                continue
            profiles.setdefault(found.profile_id, found)
        if job.kind == "export":
            return self._queued_export(shop, job, list(profiles.values()))
        job.refs = []
        if not profiles:
            job.note = "no customer data found for the references given"
            self._finish(shop, job, "erase")
            return True
        job.plan = _plan(list(profiles.values()))
        job.status = "running"
        self._put(job)
        return self._erase(shop, job, deadline)

    def _queued_export(self, shop: ShopConfig, job: PrivacyJob, profiles: list[Profile]) -> bool:
        if profiles:
            document = self._export_profiles(shop, profiles)
            job.counts = dict(document["summary"]["items"])
        else:
            document = {
                "format": EXPORT_FORMAT,
                "shop": shop.shop,
                "exported_at": self._clock.now().isoformat(),
                "profile_id": None,
                "summary": {"profile_ids": [], "items": {}},
                "note": "Emma holds no data about this customer",
            }
        owner = self._export_owner(shop, profiles[0].profile_id) if profiles else None
        job.export_location = self._exports.put(shop.shop, job.job_id, document, owner)
        if job.notify and shop.privacy.notify_url:
            self._notifier.notify(
                shop,
                {
                    "type": "privacy.export_ready",
                    "shop": shop.shop,
                    "job_id": job.job_id,
                    "items": job.counts,
                    "fetch": f"/v1/privacy/jobs/{job.job_id}/export",
                },
            )
        job.refs = []
        self._finish(shop, job, "data_request")
        return True

    def _erase(self, shop: ShopConfig, job: PrivacyJob, deadline: float) -> bool:
        plan = job.plan
        if plan is None:
            raise PrivacyError(f"privacy job {job.job_id} has no plan")
        held = self._store.holdings(shop.shop, plan.profile_ids, _identities(plan))
        if _extend(plan, held):  # an identity claimed since the plan was made (an ingest racing the erasure)
            self._put(job)
        if "stopped" not in job.steps:
            self._stop_journeys(job, held, "customer data erased")
            job.steps.append("stopped")
            self._put(job)
        if "counted" not in job.steps:
            deltas: dict[str, dict[str, int]] = {}
            for item in held:
                doc = item.data.get("doc") if item.kind == DERIVED else None
                if isinstance(doc, dict) and not doc.get("retired") and doc.get("segments"):
                    deltas[str(doc.get("profile_id") or item.pk.rsplit("#P#", 1)[-1])] = {
                        s: -1 for s in doc["segments"]
                    }
            job.steps.append("counted")
            self._put(job, deltas)
        if "suppressed" not in job.steps:
            salt = privacy_salt(shop)
            hashes = address_hashes(salt, plan.emails, plan.phones) if salt is not None else {}
            if hashes:
                self._store.suppress(shop.shop, hashes, self._clock.now())
            else:
                job.note = "no suppression kept: the shop has neither privacy.salt nor signing_secret"
            job.suppressed = len(hashes)
            job.steps.append("suppressed")
            self._put(job)
        if "exports" not in job.steps:  # data requests' exports of this customer, kept in the exports bucket
            owners = [self._export_owner(shop, pid) for pid in plan.profile_ids]
            _add_counts(job, {EXPORT: self._exports.delete(shop.shop, owners)})
            job.steps.append("exports")
            self._put(job)
        for _ in range(MAX_SWEEPS):
            if self._monotonic() >= deadline:
                return False
            if not held:
                break
            named = [*plan.emails, *plan.phones, *(value for _, value in plan.identities)]
            _add_counts(job, self._store.erase(held, plan.profile_ids, named))
            held = self._store.holdings(shop.shop, plan.profile_ids, _identities(plan))
            if _extend(plan, held):
                self._suppress_more(shop, job)
        if held:
            raise PrivacyError(f"privacy job {job.job_id}: items kept appearing; it will be run again")
        job.plan = None
        self._finish(shop, job, "erase")
        return True

    @staticmethod
    def _export_owner(shop: ShopConfig, profile_id: str) -> str:
        """What a data request's export is filed under: a salted hash of the customer's profile id, so that
        the job (kept after an erasure) and the object's name never name them, and an erasure finds it."""
        return salted_hash(privacy_salt(shop) or _UNSALTED, "export", profile_id)[:32]

    def _suppress_more(self, shop: ShopConfig, job: PrivacyJob) -> None:
        """Addresses found after the suppression step (an ingest racing the erasure) are suppressed too."""
        plan = job.plan
        salt = privacy_salt(shop)
        if plan is not None and salt is not None:
            hashes = address_hashes(salt, plan.emails, plan.phones)
            self._store.suppress(shop.shop, hashes, self._clock.now())
            job.suppressed = len(hashes)
        self._put(job)

    def _stop_journeys(self, job: PrivacyJob, items: Sequence[HeldItem], cause: str) -> None:
        """Stop the running executions of the journey states among ``items``."""
        for item in items:
            state = item.data.get("state") if item.kind == JOURNEY else None
            if isinstance(state, dict) and state.get("status") in RUNNING and state.get("execution_arn"):
                self._executions.stop(state["execution_arn"], cause)
                job.stopped_executions += 1

    def _erase_shop(self, shop: ShopConfig, job: PrivacyJob, deadline: float) -> bool:
        job.status = "running"
        while self._monotonic() < deadline:
            items, cursor = self._store.shop_items(shop.shop, job.cursor, SHOP_PAGE)
            self._stop_journeys(job, items, "shop data erased")
            _add_counts(job, self._store.erase(items, None))
            job.cursor = cursor
            if cursor is None:
                _add_counts(job, {EXPORT: self._exports.delete(shop.shop, None)})
                self._finish(shop, job, "erase_shop")
                return True
            self._put(job)
        return False

    def _finish(self, shop: ShopConfig, job: PrivacyJob, action: str) -> None:
        job.status = "done"
        job.finished_at = self._clock.now()
        was_queued = job.queued
        job.queued = False
        self._put(job)
        if was_queued:
            self._store.dequeue(job)
        detail = {
            "job_id": job.job_id,
            "items": job.counts,
            "stopped_executions": job.stopped_executions,
            "suppressed": job.suppressed,
        }
        self._audit(shop, "retention" if job.actor == "retention" else action, job.actor, job.subject, detail)

    # ---- audit -------------------------------------------------------------------------------------

    def _audit(self, shop: ShopConfig, action: str, actor: str, subject: str, detail: dict[str, Any]) -> None:
        entry = AuditEntry(
            entry_id=uuid.uuid4().hex[:12],
            shop=shop.shop,
            at=self._clock.now(),
            action=action,  # type: ignore[arg-type]
            actor=actor,
            subject=subject,
            detail=detail,
        )
        self._store.audit(entry)

    def record_consent_change(self, shop: ShopConfig, ref: str, actor: str, detail: dict[str, Any]) -> None:
        self._audit(shop, "consent", actor, self.subject(shop, ref), detail)

    def audit_log(self, shop: ShopConfig, month: str | None = None, limit: int = 200) -> list[AuditEntry]:
        month = month or self._clock.now().strftime("%Y-%m")
        return self._store.audit_log(shop.shop, month, limit)


class PrivacyJobNotFound(EmmaError):
    status = 404
    code = "privacy_job_not_found"


def _plan(profiles: Sequence[Profile]) -> ErasurePlan:
    ids: list[str] = []
    identities: list[tuple[str, str]] = []
    emails: list[str] = []
    phones: list[str] = []
    for profile in profiles:
        for pid in [profile.profile_id, *profile.merged_from]:
            if pid not in ids:
                ids.append(pid)
        for kind, values in (("cid", profile.customer_ids), ("email", profile.emails), ("anon", profile.anonymous_ids)):
            identities += [(kind, v) for v in values if (kind, v) not in identities]
        emails += [e for e in profile.emails if e not in emails]
        phones += [p for p in profile.phones if p not in phones]
    return ErasurePlan(profile_ids=ids, identities=identities, emails=emails, phones=phones)


def _add_counts(job: PrivacyJob, counts: dict[str, int]) -> None:
    """Add items exported or erased, per kind, to the job's counts (kinds with none stay out)."""
    for kind, n in counts.items():
        if n:
            job.counts[kind] = job.counts.get(kind, 0) + n


def _extend(plan: ErasurePlan, held: Sequence[HeldItem]) -> bool:
    """Add to the plan the identities and addresses the held profiles carry now; True if any was new."""
    changed = False
    for item in held:
        doc = item.data.get("doc") if item.kind == PROFILE else None
        if not isinstance(doc, dict):
            continue
        for kind, field in (("cid", "customer_ids"), ("email", "emails"), ("anon", "anonymous_ids")):
            for value in doc.get(field) or []:
                if (kind, value) not in plan.identities:
                    plan.identities.append((kind, value))
                    changed = True
        for field, known in (("emails", plan.emails), ("phones", plan.phones)):
            for value in doc.get(field) or []:
                if value not in known:
                    known.append(value)
                    changed = True
    return changed


def _identities(plan: ErasurePlan) -> list[Identity]:
    return [Identity(kind, value) for kind, value in plan.identities]  # type: ignore[arg-type]
