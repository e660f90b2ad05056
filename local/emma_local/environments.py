"""Lambda execution environments for the local runtime.

Lambda runs one invocation at a time per execution environment, and module state (Powertools'
resolver keeps the current event on the app object) relies on that. Concurrency in Lambda means
more environments, so here it means more processes: each worker process imports the handler once
and serves one request at a time. With ``size=0`` the handler runs in this process, one
invocation at a time (what the demo and the benchmarks use: they send requests one by one).

A worker is given ``timeout_seconds`` per invocation, as Lambda gives a function its timeout: a
worker still busy then is killed (the work stops there, as Lambda stops it) and replaced by a fresh
one, and the caller gets :class:`FunctionTimedOut`. In-process (``size=0``) nothing can stop a
running handler, so there is no timeout. :meth:`Environments.shutdown` ends the workers at once
(SIGTERM, then SIGKILL after a second): nothing waits for a request in progress.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from emma_local.lambdas import Handler, LambdaContext, api_event, load_handler

log = logging.getLogger("emma.local.environments")
DEFAULT_TIMEOUT_SECONDS = 30.0  # API Gateway's longest integration timeout: no deployed request runs longer
START_TIMEOUT_SECONDS = 120.0


class FunctionTimedOut(Exception):
    """The invocation ran past the function's timeout; its environment was stopped and replaced."""


class FunctionCrashed(Exception):
    """The handler raised, or its environment died: what Lambda reports as a function error."""


class NoEnvironment(Exception):
    """No execution environment became free within the function's timeout (Lambda would throttle)."""


def _warm(function: str, handler: Handler) -> None:
    """One real request that builds the handler's clients and loads the shops (it answers 401),
    so a curl right after start-up is as fast as any other request."""
    if function == "ingest":
        handler(
            api_event("GET", "/v1/profiles/warm-up", "", {"authorization": "Bearer warm-up"}, b""),
            LambdaContext(function),
        )


def _serve(conn: Connection, function: str, env: Mapping[str, str], timeout: float) -> None:
    """A worker process: load the handler once, then answer one event at a time until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
    os.environ.update(env)
    # The warm-up request (and any request that records no metric) flushes nothing: Powertools says so each time.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    try:
        handler = load_handler(function)
        _warm(function, handler)
    except Exception:
        conn.send(("failed", traceback.format_exc()))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            event = conn.recv()
        except (EOFError, OSError):
            return
        if event is None:
            return
        try:
            result = handler(event, LambdaContext(function, timeout_seconds=timeout))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        else:
            conn.send(("ok", result))


@dataclass(eq=False)  # compared and hashed by identity: workers live in a set
class _Worker:
    process: Any  # multiprocessing.Process (spawn context)
    conn: Connection

    def stop(self, grace: float = 1.0) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(grace)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(grace)


class Environments:
    def __init__(
        self,
        function: str,
        size: int,
        env: Mapping[str, str],
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.function = function
        self.size = size
        self.timeout_seconds = timeout_seconds
        self._env = dict(env)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: set[_Worker] = set()
        self._context = multiprocessing.get_context("spawn")  # no fork: the parent runs server threads
        self.replaced = 0  # environments stopped at their timeout (or dead) and started anew
        if size > 0:
            # Start every environment now (cold start once, in parallel), not on the first requests.
            starting = [self._spawn() for _ in range(size)]
            for worker in starting:
                self._idle.put(self._ready(worker))
        else:
            self._handler = load_handler(function)
            _warm(function, self._handler)

    def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve,
            args=(child, self.function, self._env, self.timeout_seconds),
            name=f"emma-{self.function}-env",
            daemon=True,
        )
        process.start()
        child.close()
        worker = _Worker(process, parent)
        with self._lock:
            self._workers.add(worker)
        return worker

    def _ready(self, worker: _Worker) -> _Worker:
        if not worker.conn.poll(START_TIMEOUT_SECONDS):
            worker.stop()
            raise RuntimeError(f"the {self.function} environment did not start within {START_TIMEOUT_SECONDS:.0f} s")
        status, *detail = worker.conn.recv()
        if status != "ready":
            worker.stop()
            raise RuntimeError(f"the {self.function} environment failed to start:\n{detail[0]}")
        return worker

    def _replace(self, worker: _Worker) -> None:
        """Stop a worker (timed out or dead) and start another in the background."""
        with self._lock:
            self._workers.discard(worker)
        worker.stop(grace=0.2)
        self.replaced += 1
        if self._closing.is_set():
            return

        def start() -> None:
            pause = 1.0
            while not self._closing.is_set():  # until one starts: a pool that only shrinks would hang
                try:
                    fresh = self._ready(self._spawn())
                except Exception:
                    log.exception("could not start a new %s environment; trying again in %.0f s", self.function, pause)
                    self._closing.wait(pause)
                    pause = min(30.0, pause * 2)
                    continue
                if self._closing.is_set():
                    fresh.stop()
                else:
                    self._idle.put(fresh)
                return

        threading.Thread(target=start, name=f"emma-{self.function}-respawn", daemon=True).start()

    def invoke(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        if self.size <= 0:
            with self._lock:
                return self._handler(event, context or LambdaContext(self.function))
        waiting_until = time.monotonic() + self.timeout_seconds
        while True:  # wait for a free environment (Lambda would start one; here there are `size`)
            if self._closing.is_set():
                raise FunctionCrashed("the local runtime is shutting down")
            if time.monotonic() > waiting_until:
                raise NoEnvironment(
                    f"no {self.function} execution environment became free within {self.timeout_seconds:g} s "
                    f"({self.size} in all, each serving one request at a time); retry"
                )
            try:
                worker = self._idle.get(timeout=0.5)
                break
            except queue.Empty:
                continue
        started = time.monotonic()
        try:
            worker.conn.send(event)
            if not worker.conn.poll(self.timeout_seconds):
                self._replace(worker)
                raise FunctionTimedOut(
                    f"the {self.function} function did not finish within its {self.timeout_seconds:g} s timeout "
                    f"and was stopped there, as Lambda stops it; events of the request that were stored count "
                    f"once when it is sent again"
                )
            status, *detail = worker.conn.recv()
        except (EOFError, OSError) as exc:
            self._replace(worker)
            raise FunctionCrashed(f"the {self.function} environment died ({type(exc).__name__})") from None
        self._idle.put(worker)
        if status == "ok":
            return detail[0]
        log.error("%s failed after %.1f s:\n%s", self.function, time.monotonic() - started, detail[1])
        raise FunctionCrashed(detail[0])

    def shutdown(self) -> None:
        """Stop every environment now; a request in progress is not waited for."""
        self._closing.set()
        with self._lock:
            workers = list(self._workers)
            self._workers.clear()
        for worker in workers:
            if worker.process.is_alive():
                worker.process.terminate()
        deadline = time.monotonic() + 2.0
        for worker in workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(1.0)
            with contextlib.suppress(OSError):
                worker.conn.close()
