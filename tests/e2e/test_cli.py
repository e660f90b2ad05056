"""The two things a newcomer does first: `emma dev` + the README's curl, and `emma demo`."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
EMMA = [sys.executable, "-m", "emma_local.cli"]


def test_curl_webhook_from_the_readme_shows_in_the_profile_within_a_second(free_port):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    dev = subprocess.Popen(
        [*EMMA, "dev", "--port", str(free_port), "--log-level", "WARNING"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and "serving" not in line:
            line = dev.stdout.readline()
            assert line or dev.poll() is None, "emma dev exited early"
        assert "serving" in line, line
        started = time.monotonic()
        out = subprocess.run(
            ["bash", "scripts/first-webhook.sh", f"http://127.0.0.1:{free_port}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        elapsed = time.monotonic() - started
        webhook, profile = (json.loads(part) for part in out.strip().splitlines())
        assert webhook["success"] is True and webhook["accepted"] >= 1
        assert profile["email"] == "lena.schmidt@example.de" and profile["orders"]["count"] == 1
        assert elapsed < 1.0, f"webhook + profile read took {elapsed:.2f}s"
    finally:
        dev.terminate()
        dev.wait(timeout=10)


def test_demo_replays_events_and_ends_with_a_summary():
    # about 5 minutes on a 2-core machine: the journey part steps the local clock ~55 times, each tick polling
    # four profiles over HTTP through the emulator
    result = subprocess.run([*EMMA, "demo"], cwd=ROOT, capture_output=True, text=True, timeout=720)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Profiles built" in result.stdout and "Events published on the bus" in result.stdout
    (summary,) = [line for line in result.stdout.splitlines() if line.startswith("Summary:")]
    assert "requests refused as expected" in summary
    # the smartphone onboarding for four customers, each to the end, with their timelines
    timelines = result.stdout.split("Timelines", 1)[1]
    for name in ("Anna", "Ben", "Clara", "David"):
        assert f"  {name}: completed (exit step)" in timelines
    assert "message: tutorial-camera-pro" in timelines and "message: service-follow-up" in timelines
    assert "referral.made arrived" in timelines and "no survey.answered in time" in timelines
    # what the dispatcher did: consent-first (Ben never confirmed), an outbox to open, one-click unsubscribe
    messages = result.stdout.split("15. Messages", 1)[1]
    ben = re.search(r"Ben: (\d+) requests: (\d+) skipped\n", messages)
    assert ben and ben.group(1) == ben.group(2) and "PROBLEM" not in result.stdout
    assert "email consent now withdrawn (one-click unsubscribe (List-Unsubscribe-Post))" in messages
    outbox = ROOT / "outbox"
    assert (outbox / "index.html").is_file() and len(list(outbox.glob("elektro-emma/*.eml"))) >= 5
    first = sorted(outbox.glob("elektro-emma/*.eml"))[0].read_text(encoding="utf-8")
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in first and "X-SES-MESSAGE-TAGS" not in first


def test_bad_config_names_the_file_and_line(tmp_path):
    bad = tmp_path / "emma.local.toml"
    bad.write_text('[dev]\nport = 8787\n\n[[shops]]\nshop = "Not Valid!"\n')
    result = subprocess.run([*EMMA, "dev", "--config", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"{bad}:5: shops.0.shop" in result.stderr


def test_an_invalid_definition_stops_the_cli_with_file_and_line(tmp_path):
    (tmp_path / "triggers").mkdir()
    (tmp_path / "triggers" / "vip.yaml").write_text(
        "id: vip\non: order.placed\nwhen:\n  - field: event.total\n    gt: 1\n    lt: 5\n"
    )
    result = subprocess.run(
        [*EMMA, "rules", "validate", "--root", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert f"{tmp_path / 'triggers' / 'vip.yaml'}:4:" in result.stderr and "exactly one operator" in result.stderr
    ok = subprocess.run([*EMMA, "rules", "validate"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "all valid" in ok.stdout
