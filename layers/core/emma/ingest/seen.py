"""The events a profile has absorbed: its memory of event ids, kept on the profile's own item.

A delivery sent again must change nothing. Instead of an idempotency record per event (a write per event,
doubled in a transaction, and a read per event even when it is new), each profile remembers the ids of the
events it absorbed: the ids received in the last RECENT_HOURS (and at least KEEP_NEWEST) ride on the profile
item as 8 bytes each (a 6-byte hash of shop and id, the 2-byte hour of receipt), read with the profile and
written in the profile's own conditional write. Older ids move to the profile's archive (items per day of
receipt in its partition) once SPILL_AT of them have gathered, and ``spilled_until`` remembers the newest
receipt moved: an event that occurred after it cannot have been received before it, so only an event
older than the watermark (a sender retrying days later, an import of history run again) needs the archive.

The same delivery sent ten times concurrently: every writer read the profile's version and its ids; the
first commit wins, the others' version condition fails, they read again and find the id: one effect. A
48-bit hash makes two different ids of one profile collide about once in 10^14 comparisons (a profile
holds hundreds of ids, not millions): accepted, as one lost event in that many.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

HASH_BYTES = 6
ENTRY_BYTES = HASH_BYTES + 2
RECENT_HOURS = 72  # senders retry within hours (Shopify: 8 times over 4 hours); trackers within minutes
KEEP_NEWEST = 16  # the newest ids stay whatever their age
SPILL_AT = 16  # aged ids gather on the profile until this many, then move to the archive in one write
MAX_RECENT = 1024  # a flood (a bot, a huge import) moves its oldest ids early: the profile item stays small
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
_WRAP = 1 << 16  # hours: 7.5 years, longer than any id is kept


def id_hash(shop: str, event_id: str) -> bytes:
    """An event id's 6-byte hash within its shop (what the profile and its archive keep)."""
    return hashlib.blake2b(f"{shop}\x00{event_id}".encode(), digest_size=HASH_BYTES).digest()


def erased_shard(shop: str, kind: str, value: str) -> int:
    """Where an erasure keeps the event ids an erased customer's profile absorbed, for each identity of theirs
    (a customer id, an email, an anonymous id: kind and value as aliases have them): one of 256 shards per shop,
    by a byte of the identity's hash, which names nobody. A retried delivery is looked for in the shard of the
    first identity it carries (emma.ingest.ports.claim_order), which the profile that absorbed it had: all the
    events of one delivery or one visitor's batch share it, so a new customer's request reads one shard, not one
    per event."""
    return hashlib.blake2b(f"{shop}\x00{kind}\x00{value}".encode(), digest_size=1).digest()[0]


def _hour(at: datetime) -> int:
    return int((at - _EPOCH).total_seconds() // 3600) % _WRAP


def _age_hours(hour: int, now: datetime) -> int:
    return (_hour(now) - hour) % _WRAP


@dataclass
class SeenIds:
    """A profile's recent event ids (hash -> hour of receipt) and its archive's watermark."""

    recent: dict[bytes, int] = field(default_factory=dict)
    spilled_until: datetime | None = None  # the newest receipt of an id moved to the archive

    @classmethod
    def from_bytes(cls, data: bytes | None, spilled_until: datetime | None = None) -> SeenIds:
        recent: dict[bytes, int] = {}
        data = data or b""
        if len(data) % ENTRY_BYTES:
            raise ValueError(f"seen ids: {len(data)} bytes is not a whole number of {ENTRY_BYTES}-byte entries")
        for start in range(0, len(data), ENTRY_BYTES):
            entry = data[start : start + ENTRY_BYTES]
            recent[entry[:HASH_BYTES]] = int.from_bytes(entry[HASH_BYTES:], "big")
        return cls(recent, spilled_until)

    def to_bytes(self) -> bytes:
        return b"".join(h + hour.to_bytes(2, "big") for h, hour in self.recent.items())

    def __contains__(self, digest: bytes) -> bool:
        return digest in self.recent

    def __len__(self) -> int:
        return len(self.recent)

    def copy(self) -> SeenIds:
        return SeenIds(dict(self.recent), self.spilled_until)

    def add(self, digests: Iterable[bytes], received_at: datetime) -> None:
        hour = _hour(received_at)
        for digest in digests:
            self.recent.pop(digest, None)  # re-inserted: the dict keeps receipt order
            self.recent[digest] = hour

    def merge(self, other: SeenIds) -> None:
        """Take in a merged-away profile's ids (a merge keeps both histories' duplicates out)."""
        for digest, hour in other.recent.items():
            self.recent.setdefault(digest, hour)
        if other.spilled_until is not None:
            self.spilled_until = max(filter(None, (self.spilled_until, other.spilled_until)))

    def received_since(self, since: datetime, now: datetime) -> list[bytes]:
        """The ids received at ``since`` or later (to the hour)."""
        window = max(0, int((now - since).total_seconds() // 3600)) + 1
        return [d for d, h in self.recent.items() if _age_hours(h, now) <= window]

    def needs_archive(self, occurred_at: datetime) -> bool:
        """Whether an event that occurred then may have been received before the watermark (so its id, if
        seen, may be in the archive rather than here)."""
        return self.spilled_until is not None and occurred_at <= self.spilled_until

    def take_aged(self, now: datetime, *, force: bool = False) -> dict[date, list[bytes]]:
        """The ids received more than RECENT_HOURS ago (but the newest KEEP_NEWEST), and the oldest beyond
        MAX_RECENT, by day of receipt, once SPILL_AT of them have gathered (or ``force``): removed from here and
        the watermark moved past them.
        The caller writes them to the archive before it writes the profile without them."""
        order = list(self.recent)
        newest = set(order[-KEEP_NEWEST:])
        aged = [(d, h) for d, h in self.recent.items() if d not in newest and _age_hours(h, now) > RECENT_HOURS]
        excess = len(self.recent) - len(aged) - MAX_RECENT
        if excess > 0:  # too many even after the aged: the oldest received go too
            moving = {d for d, _ in aged}
            aged += [(d, self.recent[d]) for d in order if d not in moving][:excess]
        if not aged or (len(aged) < SPILL_AT and not force and excess <= 0):
            return {}
        by_day: dict[date, list[bytes]] = {}
        latest = None
        for digest, hour in aged:
            received = now - timedelta(hours=_age_hours(hour, now))
            by_day.setdefault(received.date(), []).append(digest)
            latest = received if latest is None else max(latest, received)
            del self.recent[digest]
        # the hour of receipt is rounded down: the watermark is the end of that hour
        end = latest.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)  # type: ignore[union-attr]
        self.spilled_until = end if self.spilled_until is None else max(self.spilled_until, end)
        return by_day
