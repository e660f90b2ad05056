"""Lazily built components (never at import time). Tests and the local runtime configure the
environment (table names, AWS_ENDPOINT_URL) and the real wiring does the rest."""

from __future__ import annotations

import functools

from emma.config import IngestSettings
from emma.ingest.wiring import Ingest, build_ingest


@functools.cache
def components() -> Ingest:
    return build_ingest(IngestSettings())  # type: ignore[call-arg]  # read from the environment


def reset() -> None:
    components.cache_clear()
