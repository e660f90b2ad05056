"""Clocks. In AWS, the system clock. The local runtime may run time faster (a week in seconds) or
jump ahead, for every process it starts, through a small file named by EMMA_CLOCK_FILE:
{"anchor": <real epoch seconds>, "speedup": <factor>, "offset": <seconds added>}."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

CLOCK_FILE_ENV = "EMMA_CLOCK_FILE"


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FileClock:
    """Local runtime only: now = anchor + (real now - anchor) * speedup + offset."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def _settings(self) -> dict[str, float]:
        try:
            return json.loads(self._path.read_text())
        except (OSError, ValueError):
            return {"anchor": time.time(), "speedup": 1.0, "offset": 0.0}

    def now(self) -> datetime:
        s = self._settings()
        real = time.time()
        return datetime.fromtimestamp(s["anchor"] + (real - s["anchor"]) * s["speedup"] + s["offset"], UTC)

    @staticmethod
    def write(path: Path, *, speedup: float = 1.0, offset: float = 0.0, anchor: float | None = None) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"anchor": anchor if anchor is not None else time.time(), "speedup": speedup, "offset": offset})
        )
        tmp.replace(path)


def clock_from_env() -> SystemClock | FileClock:
    path = os.environ.get(CLOCK_FILE_ENV)
    return FileClock(Path(path)) if path else SystemClock()
