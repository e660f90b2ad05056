"""Glue that lets the emulator run Emma's journeys as they run in AWS, only faster.

* moto executes real ASL once ``execute_state_machine`` is on; Lambda tasks reach moto's Lambda
  "simple" backend (no Docker), whose ``invoke`` is replaced here by a call of the real handler,
  in-process. An exception becomes ``x-amz-function-error`` with ``errorType``, so Retry and Catch
  behave as in AWS.
* Time: Wait states and the timeouts of ``.waitForTaskToken`` tasks run on the local clock
  (emma.clock.FileClock), so with a speedup a week of waiting takes about a second, and
  ``LocalRuntime.advance`` ends waits at once. moto would otherwise sleep in real time (and compare
  TimestampPath with a naive local clock).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from emma.clock import FileClock

log = logging.getLogger("emma.local.stepfunctions")
MAX_REAL_SLICE = 0.25  # seconds between looks at the clock (advance() may have moved it)

_handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}  # function name -> handler
_clock: FileClock | None = None
# Executions parked on the local clock, by thread (one per execution: Emma's journeys have no Parallel
# or Map states): a predicate that holds while the thread would go on waiting. An execution is idle
# when it is parked on a wait the local clock has not reached, or on an event that has not come.
_parked: dict[int, Callable[[], bool]] = {}
_parked_lock = threading.Lock()


def configure(endpoint: str) -> None:
    """Turn on ASL execution and Docker-less Lambda in the running emulator."""
    body = json.dumps({"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})
    request = urllib.request.Request(  # noqa: S310 - our own emulator on loopback
        f"{endpoint}/moto-api/config", data=body.encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=10)  # noqa: S310


def register(function_name: str, handler: Callable[[dict[str, Any], Any], Any]) -> None:
    _handlers[function_name] = handler


def install(clock: FileClock) -> None:
    """Patch moto (idempotent): in-process Lambda invokes, waits and callback timeouts on ``clock``."""
    global _clock
    _clock = clock
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.stepfunctions.parser.asl.component.state import state
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback,
    )
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import timestamp, wait_function
    from moto.stepfunctions.parser.asl.eval.event import event_manager

    if getattr(LambdaSimpleBackend.invoke, "_emma", False):
        return
    LambdaSimpleBackend.invoke = _invoke  # type: ignore[method-assign]
    wait_function.WaitFunction._eval_body = _wait_body  # type: ignore[method-assign]
    timestamp.Timestamp._get_wait_seconds = _timestamp_seconds  # type: ignore[method-assign]
    # $$.State.EnteredTime and the execution history's timestamps on the local clock, like the events'
    state.datetime = _ClockDatetimeModule  # type: ignore[attr-defined]
    event_manager.EventManager._get_current_timestamp = staticmethod(_now)  # type: ignore[method-assign]
    original = callback.StateTaskServiceCallback._eval_wait_for_task_token

    def wait_for_token(self: Any, env: Any, timeout_seconds: int, callback_endpoint: Any, heartbeat_endpoint: Any):
        if heartbeat_endpoint is not None:
            return original(self, env, timeout_seconds, callback_endpoint, heartbeat_endpoint)
        outcome = _wait_on_clock(
            timedelta(seconds=timeout_seconds),
            env.is_running,
            lambda seconds: callback_endpoint.wait(timeout=seconds),
            woken=callback_endpoint._notify_event.is_set,
        )
        return outcome or callback.CallbackOutcomeTimedOut(callback_id=callback_endpoint.callback_id)

    callback.StateTaskServiceCallback._eval_wait_for_task_token = wait_for_token  # type: ignore[method-assign]


class _ClockDatetime(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> _ClockDatetime:  # type: ignore[override]
        now = _now()
        return now.astimezone(tz) if tz else now.replace(tzinfo=None)  # type: ignore[return-value]


class _ClockDatetimeModule:
    """Stands in for the ``datetime`` module inside moto's state.py."""

    datetime = _ClockDatetime
    timezone = timezone


def _now() -> datetime:
    assert _clock is not None
    return _clock.now()


def _speedup() -> float:
    assert _clock is not None
    return max(1.0, float(_clock._settings().get("speedup", 1.0)))


def _wait_on_clock(
    duration: timedelta,
    running: Callable[[], bool],
    block: Callable[[float], Any],
    woken: Callable[[], bool] = lambda: False,
) -> Any:
    """Block in slices until ``duration`` has passed on the local clock; returns what ``block``
    returned first that was not None (a callback outcome), else None. While it blocks the execution
    counts as parked (``idle_executions``) as long as the local clock is short of the end, the
    execution runs and nothing woke it (``woken``: a callback arrived)."""
    until = _now() + duration
    thread = threading.get_ident()
    with _parked_lock:
        _parked[thread] = lambda: running() and not woken() and _now() < until
    try:
        while running():
            remaining = (until - _now()).total_seconds()
            if remaining <= 0:
                return None
            got = block(min(MAX_REAL_SLICE, max(0.001, remaining / _speedup())))
            if got:
                return got
        return None
    finally:
        with _parked_lock:
            _parked.pop(thread, None)


def idle_executions() -> int:
    """How many executions are parked right now: waiting for a time the local clock has not reached,
    or for a task token nobody has sent. Every other running execution is at work (a task, a choice,
    a thread about to wake)."""
    with _parked_lock:
        waits = list(_parked.values())
    return sum(1 for still in waits if still())


def _wait_body(self: Any, env: Any) -> None:
    seconds = self._get_wait_seconds(env=env)

    def block(real_seconds: float) -> None:
        if env.program_state_event.wait(real_seconds) and env.is_running():
            time.sleep(real_seconds)  # an unrelated interrupt: keep waiting, without spinning

    if seconds > 0:
        _wait_on_clock(timedelta(seconds=seconds), env.is_running, block)


def _timestamp_seconds(self: Any, env: Any) -> int:
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException

    self.string.eval(env=env)
    text: str = env.stack.pop()
    at = self._from_timestamp_string(timestamp=text)
    if at is None:
        raise FailureEventException(self._create_failure_event(env, text))
    return int((at.replace(tzinfo=UTC) - _now()).total_seconds())


def _invoke(self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any):
    from emma_local.lambdas import LambdaContext

    name = function_name.rsplit(":function:", 1)[-1].split(":")[0]
    handler = _handlers.get(name)
    if handler is None:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": "ResourceNotFound", "errorMessage": f"no local handler for {name}"}).encode()
    try:
        event = json.loads(body) if body else {}
        result = handler(event, LambdaContext(name))
    except Exception as exc:  # what Lambda does with an unhandled exception
        log.warning("%s failed: %s: %s", name, type(exc).__name__, exc)
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)[:1000]}).encode()
    return json.dumps(result).encode()


_invoke._emma = True  # type: ignore[attr-defined]
