import subprocess
import sys
from pathlib import Path

import pytest
from aws_lambda_powertools import Tracer

from emma.edge import tracing

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def in_lambda(monkeypatch):
    for name in ("POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    return monkeypatch


def test_tracing_is_on_in_lambda_unless_disabled(in_lambda):
    assert tracing.tracing_enabled()
    in_lambda.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert not tracing.tracing_enabled()
    in_lambda.setenv("POWERTOOLS_TRACE_DISABLED", "0")
    assert tracing.tracing_enabled()


@pytest.mark.parametrize("emulator", ["AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE"])
def test_tracing_is_off_in_local_emulators_and_outside_lambda(in_lambda, emulator):
    in_lambda.setenv(emulator, "true")
    assert not tracing.tracing_enabled()
    in_lambda.delenv(emulator)
    in_lambda.delenv("LAMBDA_TASK_ROOT")
    assert not tracing.tracing_enabled()


def test_the_real_tracer_where_tracing_is_on(in_lambda):
    try:
        assert isinstance(tracing.tracer(), Tracer)
    finally:
        Tracer._reset_config()  # the Tracer's configuration is shared by all its instances


def test_the_no_op_tracer_leaves_handlers_as_they_are(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    found = tracing.tracer()
    assert isinstance(found, tracing.NoTracer)

    def handler(event, context):
        return {"event": event}

    assert found.capture_lambda_handler(handler) is handler
    assert found.capture_lambda_handler(capture_response=False)(handler) is handler
    assert found.capture_method(handler) is handler
    assert found.capture_method(capture_error=False)(handler) is handler
    found.put_annotation("shop", "demo")
    found.put_metadata("report", {"n": 1}, namespace="emma")
    found.patch(["boto3"])


def test_no_handler_imports_the_xray_sdk_when_tracing_is_off():
    """The X-Ray SDK costs ~0.2 s of a cold start; with tracing off no handler loads it."""
    handlers = sorted(p.parent.name for p in (ROOT / "functions").glob("*/handler.py"))
    code = (
        "import importlib, sys\n"
        f"for name in {handlers!r}:\n"
        "    importlib.import_module(name + '.handler')\n"
        "print(sorted(m for m in sys.modules if m.startswith('aws_xray_sdk')))\n"
    )
    env = {"PATH": "", "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "eu-west-1"}
    env["PYTHONPATH"] = f"{ROOT / 'functions'}:{ROOT / 'layers' / 'core'}"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
