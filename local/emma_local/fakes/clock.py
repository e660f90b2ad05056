"""A clock (emma.clock.Clock) that stands still until a test moves it."""

from __future__ import annotations

from datetime import datetime, timedelta

from emma.events.model import now_utc


class FixedClock:
    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or now_utc()

    def now(self) -> datetime:
        return self.at

    def advance(self, **kwargs: float) -> None:
        self.at += timedelta(**kwargs)
