"""Lambda execution environments for the local runtime.

Lambda runs one invocation at a time per execution environment, and module state (Powertools'
resolver keeps the current event on the app object) relies on that. Concurrency in Lambda means
more environments, so here it means more processes: each worker process imports the handler once
and serves one request at a time. With ``size=0`` the handler runs in this process, one
invocation at a time (what the demo and the benchmarks use: they send requests one by one).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, wait
from typing import Any

from emma_local.lambdas import Handler, LambdaContext, api_event, load_handler

_handler: Handler | None = None
_function = ""


def _warm(function: str, handler: Handler) -> None:
    """One real request that builds the handler's clients and loads the shops (it answers 401),
    so a curl right after start-up is as fast as any other request."""
    if function == "ingest":
        handler(
            api_event("GET", "/v1/profiles/warm-up", "", {"authorization": "Bearer warm-up"}, b""),
            LambdaContext(function),
        )


def _init(function: str, env: Mapping[str, str]) -> None:
    global _handler, _function
    os.environ.update(env)
    _function = function
    _handler = load_handler(function)
    _warm(function, _handler)


def _invoke(event: dict[str, Any]) -> dict[str, Any]:
    assert _handler is not None
    return _handler(event, LambdaContext(_function))


def _ready() -> int:
    return os.getpid()


class Environments:
    def __init__(self, function: str, size: int, env: Mapping[str, str]) -> None:
        self.function = function
        self.size = size
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        if size > 0:
            context = multiprocessing.get_context("spawn")  # no fork: the parent runs server threads
            self._pool = ProcessPoolExecutor(
                max_workers=size, mp_context=context, initializer=_init, initargs=(function, dict(env))
            )
            # Start every environment now (cold start once, in parallel), not on the first requests.
            wait([self._pool.submit(_ready) for _ in range(size)], timeout=120)
        else:
            self._handler = load_handler(function)
            _warm(function, self._handler)

    def invoke(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        if self._pool is not None:
            return self._pool.submit(_invoke, event).result(timeout=60)
        with self._lock:
            return self._handler(event, context or LambdaContext(self.function))

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
