"""Privacy jobs, what the stores hold about a customer, and the salted hashes that stand in for a
customer after an erasure."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from emma.shops import ShopConfig

JobKind = Literal["export", "erase", "erase_shop"]
JobStatus = Literal["pending", "running", "done", "failed"]
AddressKind = Literal["email", "phone"]

_SALT_CONTEXT = b"emma-privacy-salt/v1"


def privacy_salt(shop: ShopConfig) -> bytes | None:
    """The shop's salt for hashing addresses and references: its ``privacy_salt``, else one derived from
    its signing secret (HMAC, so the secret itself is never the key of a stored hash); None when the shop
    has neither (an erasure then keeps no suppression and says so)."""
    if shop.privacy.salt:
        return shop.privacy.salt.encode()
    if shop.signing_secret:
        return hmac.new(shop.signing_secret.encode(), _SALT_CONTEXT, hashlib.sha256).digest()
    return None


def salted_hash(salt: bytes, kind: str, value: str) -> str:
    """HMAC-SHA256 of ``kind:value`` under the shop's salt, hex: the same address always gives the same
    hash in one shop, and nobody without the salt can test an address against it."""
    return hmac.new(salt, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def address_hashes(salt: bytes, emails: Sequence[str], phones: Sequence[str]) -> dict[str, AddressKind]:
    """hash -> email|phone for each address, normalised as profiles store them (emails in lower case)."""
    out: dict[str, AddressKind] = {salted_hash(salt, "email", e.strip().lower()): "email" for e in emails if e}
    out.update({salted_hash(salt, "phone", p.strip()): "phone" for p in phones if p})
    return out


def key_id(admin_key: str) -> str:
    """Who used the admin API, without keeping the key: the first 12 hex digits of its SHA-256."""
    return "key:" + hashlib.sha256(admin_key.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class HeldItem:
    """One stored item about a customer. ``kind`` is the item type's name (docs/data-model.md);
    ``data`` its attributes decoded (JSON parsed, compressed events inflated), keys included."""

    kind: str
    table: str
    pk: str
    sk: str
    data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    raw: dict[str, Any] | None = field(default=None, compare=False, hash=False, repr=False)  # the store's own form


@dataclass(frozen=True)
class Identity:
    kind: Literal["cid", "email", "anon"]
    value: str


class ErasurePlan(BaseModel):
    """What an erasure removes, fixed before anything is deleted so a retry after a crash finishes the
    same work even when the references it started from no longer resolve. Holds personal data: it is
    dropped from the job once the erasure is done."""

    model_config = ConfigDict(extra="forbid")
    profile_ids: list[str]
    identities: list[tuple[str, str]] = Field(default_factory=list, description="(cid|email|anon, value)")
    emails: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)


class PrivacyJob(BaseModel):
    """An export or erasure, of one customer or of a whole shop."""

    model_config = ConfigDict(extra="forbid")
    job_id: str
    shop: str
    kind: JobKind
    status: JobStatus = "pending"
    actor: str = Field(description="admin key id, shopify:<topic>, cli or retention")
    subject: str = Field(description="salted hash of the reference asked for")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    version: int = 0
    generation: int = Field(0, description="erasures of the same reference before this one (the customer came back)")
    attempts: int = Field(0, description="failed runs on the privacy schedule (failed after 12)")
    plan: ErasurePlan | None = None
    steps: list[str] = Field(default_factory=list, description="the steps of an erasure already done")
    counts: dict[str, int] = Field(default_factory=dict, description="items exported or erased, per item type")
    stopped_executions: int = 0
    suppressed: int = 0
    note: str | None = None
    export_location: str | None = None
    notify: bool = Field(False, description="tell the shop when the export is ready (Shopify data requests)")
    queued: bool = Field(False, description="left to the privacy schedule (its queue entry is removed when done)")
    refs: list[str] = Field(
        default_factory=list, description="queued jobs only: the references to resolve (dropped once resolved)"
    )
    orders: list[str] = Field(default_factory=list, description="queued redactions: order ids the request named")
    cursor: dict[str, Any] | None = Field(None, description="a shop erasure's position in the tables")

    def view(self) -> dict[str, Any]:
        """What the admin API shows: never the plan (it names the customer)."""
        return self.model_dump(
            mode="json", exclude={"plan", "refs", "orders", "cursor", "version", "queued", "export_location"}
        )


class AuditEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entry_id: str
    shop: str
    at: datetime
    action: Literal["export", "erase", "erase_shop", "data_request", "consent", "retention"]
    actor: str
    subject: str
    detail: dict[str, Any] = Field(default_factory=dict)
