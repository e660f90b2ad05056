"""Offers in memory (emma.offers.ports): the coupon records, a code pool with the claim semantics of
emma.adapters.offers, and a recording coupon provider that creates what it is asked for (or fails as told)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from emma.adapters.offers import MIN_LEFT
from emma.offers.model import CouponOffer, IssuedCoupon
from emma.offers.ports import CouponRecord, PoolCode, PoolEmpty, ProviderRefused


class InMemoryCoupons:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], CouponRecord] = {}
        self._lock = threading.Lock()

    def save(self, record: CouponRecord) -> None:
        with self._lock:
            self.records[(record.shop, record.code.casefold())] = record

    def get(self, shop: str, code: str) -> CouponRecord | None:
        with self._lock:
            return self.records.get((shop, code.casefold()))


class InMemoryCodePool:
    def __init__(self) -> None:
        self.codes: dict[tuple[str, str], dict[str, PoolCode]] = {}
        self.claims: dict[tuple[str, str, str], PoolCode] = {}
        self.issued: set[tuple[str, str]] = set()  # (shop, folded code) handed out, never added again
        self._lock = threading.Lock()

    def claim(self, shop: str, pool: str, reference: str, now: datetime) -> PoolCode:
        with self._lock:
            found = self.claims.get((shop, pool, reference))
            if found is not None:
                return found
            codes = self.codes.setdefault((shop, pool), {})
            for folded, code in sorted(codes.items()):
                del codes[folded]
                if code.ends_at is not None and code.ends_at <= now + MIN_LEFT:
                    continue
                self.claims[(shop, pool, reference)] = code
                self.issued.add((shop, folded))
                return code
            raise PoolEmpty(f"the coupon pool {pool!r} of shop {shop!r} has no code left")

    def add(self, shop: str, pool: str, codes: Sequence[PoolCode]) -> int:
        with self._lock:
            held = self.codes.setdefault((shop, pool), {})
            added = 0
            for code in codes:
                folded = code.code.casefold()
                if folded in held or (shop, folded) in self.issued:
                    continue
                held[folded] = code
                added += 1
            return added

    def remaining(self, shop: str, pool: str) -> int:
        with self._lock:
            return len(self.codes.get((shop, pool), {}))


class RecordingCouponProvider:
    """Creates each code it is asked for, once (the same offer again: the same coupon; the code for another
    reference: refused, as a platform would); ``fail`` is raised instead while set."""

    name = "recording"

    def __init__(self) -> None:
        self.created: dict[str, CouponOffer] = {}
        self.calls = 0
        self.fail: Exception | None = None
        self._lock = threading.Lock()

    def issue(self, offer: CouponOffer) -> IssuedCoupon:
        with self._lock:
            self.calls += 1
            if self.fail is not None:
                raise self.fail
            folded = offer.code.casefold()
            existing = self.created.get(folded)
            if existing is not None and existing.reference != offer.reference:
                raise ProviderRefused(f"code {offer.code} is taken by another discount")
            self.created[folded] = existing or offer
            kept = existing or offer
            return IssuedCoupon(kept.code, self.name, f"rec-{len(self.created)}", kept.ends_at)

    def offer(self, code: str) -> CouponOffer | None:
        return self.created.get(code.casefold())
