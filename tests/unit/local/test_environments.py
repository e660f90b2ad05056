"""Local Lambda execution environments: a request past the timeout is stopped (its process is killed,
as Lambda ends a function at its timeout) and the environment replaced; a crash is a function
error; shutdown does not wait for work in progress. (The HTTP answers: tests/e2e/test_local_front.py.)"""

from __future__ import annotations

import sys
import textwrap
import time

import pytest

from emma_local.environments import Environments, FunctionCrashed, FunctionTimedOut, NoEnvironment

HANDLER = """
import os, time

_flags = os.environ.get("EMMA_TEST_FLAGS", "")
if _flags and os.path.exists(os.path.join(_flags, "fail-start")):
    raise RuntimeError("this environment cannot start")
if _flags and os.path.exists(os.path.join(_flags, "slow-start")):
    time.sleep(5)

def lambda_handler(event, context):
    if event.get("crash"):
        raise RuntimeError("boom")
    if event.get("sleep"):
        time.sleep(event["sleep"])
        open(event["marker"], "w").write("the work carried on")  # must never happen after a timeout
    return {"statusCode": 200, "body": str(os.getpid())}
"""


@pytest.fixture
def slow_function(tmp_path, monkeypatch):
    package = tmp_path / "emma_test_slow"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "handler.py").write_text(textwrap.dedent(HANDLER))
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers start with the parent's sys.path
    yield "emma_test_slow"
    sys.modules.pop("emma_test_slow.handler", None)
    sys.modules.pop("emma_test_slow", None)


def test_a_request_past_the_timeout_is_stopped_and_the_environment_replaced(slow_function, tmp_path):
    envs = Environments(slow_function, 1, {}, timeout_seconds=1.0)
    try:
        first_pid = envs.invoke({})["body"]
        marker = tmp_path / "carried-on"
        with pytest.raises(FunctionTimedOut, match="1 s timeout"):
            envs.invoke({"sleep": 3, "marker": str(marker)})
        second_pid = envs.invoke({})["body"]  # waits for the replacement environment
        assert second_pid != first_pid and envs.replaced == 1
        time.sleep(2.5)
        assert not marker.exists(), "the timed-out work went on after the answer"
    finally:
        envs.shutdown()


def test_a_crash_is_a_function_error_and_the_environment_serves_on(slow_function):
    envs = Environments(slow_function, 1, {}, timeout_seconds=5.0)
    try:
        pid = envs.invoke({})["body"]
        with pytest.raises(FunctionCrashed, match="RuntimeError: boom"):
            envs.invoke({"crash": True})
        assert envs.invoke({})["body"] == pid and envs.replaced == 0
    finally:
        envs.shutdown()


def test_shutdown_does_not_wait_for_a_request_in_progress(slow_function, tmp_path):
    import threading

    envs = Environments(slow_function, 1, {}, timeout_seconds=60.0)
    outcome: list[BaseException] = []

    def busy() -> None:
        try:
            envs.invoke({"sleep": 30, "marker": str(tmp_path / "m")})
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=busy)
    worker.start()
    time.sleep(0.5)
    started = time.monotonic()
    envs.shutdown()
    worker.join(10)
    assert time.monotonic() - started < 5 and not worker.is_alive()
    assert outcome and isinstance(outcome[0], FunctionCrashed)


def test_a_replacement_that_cannot_start_is_tried_again_until_one_starts(slow_function, tmp_path):
    """The pool never shrinks for good: with one environment, a failed respawn would hang every request."""
    flags = tmp_path / "flags"
    flags.mkdir()
    envs = Environments(slow_function, 1, {"EMMA_TEST_FLAGS": str(flags)}, timeout_seconds=1.0)
    try:
        (flags / "fail-start").touch()
        with pytest.raises(FunctionTimedOut):
            envs.invoke({"sleep": 3, "marker": str(tmp_path / "m")})
        time.sleep(2.0)  # the first attempt to replace it has failed by now
        (flags / "fail-start").unlink()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                assert envs.invoke({})["statusCode"] == 200
                break
            except NoEnvironment:
                continue
        else:
            raise AssertionError("no environment came back")
    finally:
        envs.shutdown()


def test_a_request_that_finds_no_free_environment_within_the_timeout_is_refused_not_kept_waiting(
    slow_function, tmp_path
):
    import threading

    flags = tmp_path / "flags"
    flags.mkdir()
    envs = Environments(slow_function, 1, {"EMMA_TEST_FLAGS": str(flags)}, timeout_seconds=2.0)
    (flags / "slow-start").touch()  # the replacement of a timed-out environment takes 5 s to start
    outcome: list[BaseException] = []

    def occupy() -> None:
        try:
            envs.invoke({"sleep": 10, "marker": str(tmp_path / "x")})
        except FunctionTimedOut as exc:
            outcome.append(exc)

    busy = threading.Thread(target=occupy)
    try:
        busy.start()
        time.sleep(0.3)
        started = time.monotonic()
        with pytest.raises(NoEnvironment, match="became free within 2 s"):
            envs.invoke({})
        assert time.monotonic() - started < 4
    finally:
        busy.join(10)
        envs.shutdown()
    assert outcome  # the environment that was busy was stopped at its timeout
