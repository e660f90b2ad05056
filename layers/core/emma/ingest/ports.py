"""What the ingest service needs from storage and the bus: the profile repository (profiles, aliases,
idempotency records, the event log, committed atomically), the catalog, the event publisher. The
DynamoDB and EventBridge adapters implement them (emma.adapters), in-memory twins the tests
(emma_local.fakes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, NamedTuple, Protocol

from emma.errors import EmmaError
from emma.events.model import CanonicalEvent, CatalogEvent, CustomerRefs
from emma.ingest.seen import SeenIds
from emma.profiles.model import Profile

AliasKind = Literal["cid", "email", "anon"]


class AliasKey(NamedTuple):
    """An identity that points at one profile: a shop customer id, an email or an anonymous id."""

    kind: AliasKind
    value: str


def alias_keys(refs: CustomerRefs) -> list[AliasKey]:
    keys: list[AliasKey] = []
    if refs.customer_id:
        keys.append(AliasKey("cid", refs.customer_id))
    if refs.email:
        keys.append(AliasKey("email", refs.email))
    if refs.anonymous_id:
        keys.append(AliasKey("anon", refs.anonymous_id))
    return keys


@dataclass(frozen=True)
class IdempotencyRecord:
    event_id: str
    profile_id: str | None
    stored_at: datetime
    published: bool
    repeat: bool = False  # the event repeated a thing already counted: a republish must say so again


@dataclass(frozen=True)
class Reservation:
    """An alias pointing at a profile that is not stored: claimed by a new customer's first write, which claims
    the aliases before it writes the profile (ProfileRepository.commit), and read before that write stored it
    (a request in flight) or after it failed (a request that gave up or died in between)."""

    profile_id: str
    since: datetime  # when it was claimed


@dataclass
class Commit:
    """One write: a profile's new state, the events it absorbed, the aliases it claims.

    ``expected_version`` None means the profile must not exist yet. Every event id must be new
    (its idempotency record is written in the same transaction). ``claim_aliases`` must be absent or
    already point at this profile; ``repoint_aliases`` are moved from merged-away profiles;
    ``reserved`` (a new profile only) point at its id already, though it is not stored, and must still do;
    ``take_over`` are moved from reservations (alias, the profile id it must still point at), whose profile ids
    come as tombstones that must not be stored yet (expected version None): stored merged into this profile, so
    that the request that reserved them can never store them (it reads again and finds this profile).
    """

    shop: str
    profile: Profile
    expected_version: int | None
    events: list[CanonicalEvent]
    first_seq: int
    claim_aliases: list[AliasKey] = field(default_factory=list)
    repoint_aliases: list[AliasKey] = field(default_factory=list)
    tombstones: list[tuple[Profile, int | None]] = field(default_factory=list)  # (loser, its expected version)
    reserved: list[AliasKey] = field(default_factory=list)
    take_over: list[tuple[AliasKey, str]] = field(default_factory=list)
    # Backfill (an import of history): the events are never published; their idempotency records are
    # written as published, so a re-run finds plain duplicates and nothing is ever republished.
    published: bool = False
    # The events travel with the profile's new state as its outbox (a store that publishes outboxes:
    # ProfileRepository.publishes_outbox): the store publishes them and writes their log entries once the
    # commit is stored.
    outbox: bool = False
    # Stores that publish outboxes: the event ids the profile has absorbed (emma.ingest.seen), a live commit's
    # included; they replace a live commit's idempotency records, so the profile's own write is the whole commit
    # unless aliases are claimed or profiles merged. A backfill's events keep their records, its profile its ids.
    seen: SeenIds | None = None


_CLAIM_RANK = {"cid": 0, "email": 1, "anon": 2}


def claim_order(alias: AliasKey) -> tuple[int, str]:
    """The order in which every request claims aliases: the shop's customer id first, an anonymous id last (the
    identities two requests of one new customer, say orders/create and customers/create, most likely share first),
    so that they meet on the first alias they share."""
    return _CLAIM_RANK.get(alias.kind, 3), alias.value


def claims_first(commit: Commit) -> bool:
    """Whether a store may claim the commit's aliases before the rest of it (ProfileRepository.commit): a new
    profile that only claims aliases (none reserved, taken over or repointed, no profile merged)."""
    return (
        commit.expected_version is None
        and bool(commit.claim_aliases)
        and not (commit.tombstones or commit.repoint_aliases or commit.reserved or commit.take_over)
    )


class CommitConflict(EmmaError):
    """The commit's conditions failed; nothing was written, but for aliases a new profile's commit may have claimed
    before it (ProfileRepository.commit: reservations)."""

    status = 409

    def __init__(self, *, duplicates: Sequence[str] = (), stale: bool = False, alias_taken: bool = False):
        self.duplicates = set(duplicates)
        self.stale = stale
        self.alias_taken = alias_taken
        super().__init__(
            f"commit conflict: duplicates={sorted(self.duplicates)} stale={stale} alias_taken={alias_taken}"
        )


class ProfileRepository(Protocol):
    # True: the store publishes what a commit's outbox holds once it is stored, whatever happens to the
    # request (the DynamoDB adapter: the table's stream feeds the publisher function). False: the service
    # publishes after the commit and marks the events published (mark_published, claim_republish).
    publishes_outbox: bool

    # Reads are strongly consistent unless ``consistent`` is False (DynamoDB: half the price): ingest's first read
    # of a request, whose writes are conditional on what it read, so that a stale read fails them and is read again.
    def lookup(
        self, shop: str, aliases: Sequence[AliasKey], event_ids: Sequence[str], *, consistent: bool = True
    ) -> tuple[dict[AliasKey, str], dict[str, IdempotencyRecord]]:
        """Which profile each alias points at, and which events were already stored (one read)."""
        ...

    def get_profiles(self, shop: str, profile_ids: Sequence[str], *, consistent: bool = True) -> dict[str, Profile]: ...

    def load_profiles(
        self, shop: str, profile_ids: Sequence[str], *, consistent: bool = True
    ) -> dict[str, tuple[Profile, SeenIds]]:
        """Profiles with the event ids each has absorbed (stores that publish outboxes)."""
        ...

    def seen_in_archive(
        self, shop: str, profile_ids: Sequence[str], digests: Sequence[bytes], since: datetime
    ) -> set[bytes]:
        """Which of ``digests`` the profiles' archives of event ids hold, received since ``since``'s day."""
        ...

    def erased_ids(self, shop: str, wanted: Sequence[tuple[int, bytes]]) -> set[bytes]:
        """Which of these event id hashes erased customers' profiles had absorbed, each looked for in its shard
        (emma.ingest.seen.erased_shard: the erasure keeps them under the shard of every identity of the customer)."""
        ...

    def archive_seen(self, shop: str, profile_id: str, by_day: dict[date, list[bytes]]) -> None:
        """Add event ids to the profile's archive, by day of receipt (idempotent)."""
        ...

    def reservations(self, shop: str, aliases: Sequence[AliasKey]) -> dict[AliasKey, Reservation]:
        """What these aliases point at, and since when (a consistent read): for aliases whose profile is missing."""
        ...

    def release(self, shop: str, alias: AliasKey, profile_id: str) -> bool:
        """Delete a reservation: the alias, while it points at ``profile_id`` and that profile is not stored (an
        erasure of the identity it names). False, and nothing deleted, if either changed."""
        ...

    def commit(self, commit: Commit) -> None:
        """Write atomically or raise CommitConflict, with one exception: a commit that creates a profile and
        only claims aliases (no reserved, no take-over, no merge) may claim them first, each with a write of its
        own, and then write the rest. A conflict can then leave some of them claimed for a profile that is not
        stored: reservations, which the next request of the customer adopts or takes over."""
        ...

    def mark_published(self, shop: str, records: Sequence[IdempotencyRecord]) -> None: ...

    def claim_republish(self, shop: str, event_id: str, now: datetime, lease_seconds: int) -> bool:
        """Take the right to re-publish a stored-but-unpublished event (one claimant per lease)."""
        ...

    def repoint_aliases(self, shop: str, aliases: Sequence[AliasKey], profile_id: str) -> None: ...

    def move_log(self, shop: str, from_profile: str, to_profile: str) -> int:
        """Move a merged-away profile's event log into the winner's partition; returns entries moved."""
        ...

    def read_log(self, shop: str, profile_id: str, limit: int) -> list[dict[str, Any]]: ...


class CatalogRepository(Protocol):
    def upsert_product(self, event: CatalogEvent) -> bool:
        """Store the product unless this event was seen or an newer update is stored; False if duplicate."""
        ...

    def get_product(self, shop: str, product_id: str) -> dict[str, Any] | None: ...

    def get_products(self, shop: str, product_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Many products at once; unknown ids are left out."""
        ...

    def product_ids_by_sku(self, shop: str, skus: Sequence[str]) -> dict[str, str]:
        """The product of each SKU the catalog knows (exports that name line items by SKU)."""
        ...


class EventPublisher(Protocol):
    def publish(self, events: Sequence[CanonicalEvent]) -> None:
        """Publish all or raise PublishError naming what failed after retries."""
        ...


class Suppressions(Protocol):
    def suppressed(self, shop: str, emails: Sequence[str], phones: Sequence[str]) -> bool:
        """Whether any of these addresses belonged to an erased customer (emma.privacy keeps them as
        salted hashes): a consent grant without double opt-in for such an address is not applied."""
        ...

    def erased_addresses(self, shop: str, emails: Sequence[str], phones: Sequence[str]) -> set[str]:
        """Which of these addresses belonged to an erased customer (one read for all of them)."""
        ...
