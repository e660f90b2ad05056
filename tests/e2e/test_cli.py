"""The two things a newcomer does first: `emma dev` + the README's curl, and `emma demo`."""

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
EMMA = [sys.executable, "-m", "emma_local.cli"]
BASIC = "Basic " + base64.b64encode(b"wk_local_elektro_emma:").decode()


def _batch(first: int, customers: int) -> bytes:
    calls = [
        {
            "type": "track",
            "event": "Product Viewed",
            "userId": f"sigterm-{n}",
            "messageId": f"sigterm-{n}-{i}",
            "properties": {"product_id": f"p{i}"},
        }
        for n in range(first, first + customers)
        for i in range(5)
    ]
    return json.dumps({"batch": calls}).encode()


def test_emma_dev_serves_the_readme_curl_a_burst_of_clients_and_stops_on_sigterm(free_port):
    """The README's first webhook shows in the profile at once (under a second on an idle machine); 60 clients
    connecting at once all get an HTTP answer (the listen backlog was 5); SIGTERM during a long request ends
    `emma dev` within seconds (it used to wait for the request's environment forever)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    dev = subprocess.Popen(
        [*EMMA, "dev", "--port", str(free_port), "--log-level", "WARNING"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{free_port}"
    try:
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and "serving" not in line:
            line = dev.stdout.readline()
            assert line or dev.poll() is None, "emma dev exited early"
        assert "serving" in line, line
        # Keep reading its output: a pipe nobody reads fills up (64 KB of access lines and tracebacks on a
        # loaded machine) and blocks emma dev on its next write, SIGTERM handling and faulthandler included.
        captured: list[str] = []
        reader = threading.Thread(target=lambda: captured.extend(iter(dev.stdout.readline, "")), daemon=True)
        reader.start()
        started = time.monotonic()
        out = subprocess.run(
            ["bash", "scripts/first-webhook.sh", base],
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
        # 0.24 s on an idle 2-core machine (the first request of a fresh `emma dev`); the bound absorbs a CI machine
        # running three test workers on two cores (1.06 s seen there)
        assert elapsed < 2.0, f"webhook + profile read took {elapsed:.2f}s"

        # A burst: every client connects before any is answered.
        barrier = threading.Barrier(60)

        def client(n: int) -> int:
            with socket.create_connection(("127.0.0.1", free_port), timeout=60) as sock:
                barrier.wait(timeout=30)
                body = json.dumps({"userId": f"burst-{n}", "event": "Burst", "messageId": f"burst-{n}"}).encode()
                sock.sendall(
                    b"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + f"Authorization: {BASIC}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
                return int(answer.split(b" ", 2)[1])

        with ThreadPoolExecutor(max_workers=60) as pool:
            statuses = list(pool.map(client, range(60)))
        assert statuses == [200] * 60

        # SIGTERM while a long batch is being written.
        long_request = ThreadPoolExecutor(max_workers=1).submit(
            requests.post,
            f"{base}/v1/batch",
            data=_batch(0, 400),
            headers={"authorization": BASIC, "content-type": "application/json"},
            timeout=120,
        )
        time.sleep(1.0)
        assert not long_request.done(), "the batch finished before SIGTERM: make it longer"
        dev.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        code = dev.wait(timeout=20)  # a hang ends after 12 s with every thread's stack (faulthandler)
        reader.join(timeout=10)
        assert code == 0, "".join(captured)[-8000:]
        assert time.monotonic() - stopping < 10, "emma dev took over 10 s to stop"
        with pytest.raises(requests.RequestException):  # its connection ends with the server
            answer = long_request.result(timeout=30)
            answer.raise_for_status()
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait(timeout=10)


def test_demo_replays_events_and_ends_with_a_summary():
    # about 2 minutes on a 2-core machine: the journey part steps the local clock 17 times, each tick polling
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
    assert "message: tutorial-next" in timelines and "message: service-follow-up" in timelines
    # the tutorial series follows what each customer watched: David watched the camera tutorial first
    series = dict(re.findall(r"^    (Anna|Clara|David) +(\S+),", timelines, re.M))
    assert series == {"Anna": "smartphone-setup", "Clara": "smartphone-setup", "David": "smartphone-night-photos"}
    # the campaign: the personalised newsletter to two segments, each reader once, two different issues
    campaign = result.stdout.split("19. A campaign", 1)[1]
    assert "started again: HTTP 200, started False" in campaign and "a full issue" in campaign
    assert "a short issue" in campaign and "PROBLEM" not in campaign
    # offers: the abandoned cart's code created in the Shopify stand-in before the mail, then redeemed at its checkout
    offers = result.stdout.split("20. Offers", 1)[1]
    assert re.search(r"EMMA-\S+ created in Shopify .* before the mail was rendered", offers)
    assert "the code used 1 of 1 time(s)" in offers and "1 converted" in offers and "PROBLEM" not in offers
    assert "referral.made arrived" in timelines and "no survey.answered in time" in timelines
    # what the dispatcher did: consent-first (Ben never confirmed: Emma's double opt-in mail is all he gets), an
    # outbox to open, one-click unsubscribe
    messages = result.stdout.split("15. Messages", 1)[1]
    ben = re.search(r"Ben: (\d+) requests: 1 sent, (\d+) skipped\n\s+\S+ doi-confirmation +sent", messages)
    assert ben and int(ben.group(1)) == int(ben.group(2)) + 1 and "PROBLEM" not in result.stdout
    # privacy: one customer exports their data, another is erased (and is gone afterwards)
    privacy = result.stdout.split("16. Privacy", 1)[1]
    assert re.search(r"200  GET /v1/profiles/\S+/export: \d+ items in \d+ item types", privacy)
    assert re.search(r"200  DELETE /v1/profiles/\S+: \d+ items deleted", privacy)
    assert re.search(r"404  GET /v1/profiles/\S+ afterwards", privacy)
    assert "email consent now withdrawn (one-click unsubscribe (List-Unsubscribe-Post))" in messages
    # measurement: the message metrics, Anna's order attributed to the accessory offer she clicked, the simulated
    # shop's true lifts recovered by the experiment readout
    measured = result.stdout.split("17. Measurement", 1)[1]
    assert re.search(r"accessory-offer / email +\d+ +\d+ +\d+ +\d+ \(\d+ %\) +\d+ \(\d+ %\) +\d+ +1 ", measured)
    assert "attributed to Emma's messages: last touch 79.00" in measured
    assert re.search(r"interests .* customers: true lift \+3\.00 pts, measured .*: recovered", measured)
    assert re.search(r"digest .* customers: true lift \+1\.50 pts, measured .*: recovered", measured)
    # going live with a shop's history: 300 customers and their orders imported, segments and predictions
    # worked out, and nothing set off
    imported = result.stdout.split("18. Going live", 1)[1]
    assert re.search(r"stored 300 customers .* nothing was sent", imported)
    assert re.search(r"imported 781 orders .* 300 profiles concluded; nothing was sent", imported)
    assert re.search(r"known-customers +\d+ -> +\d+", imported) and "P(alive)" in imported
    assert "What the import set off: 0 events on the bus, 0 journeys started, 0 messages sent" in imported
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
