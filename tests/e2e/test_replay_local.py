"""`emma replay --local` against the running local runtime: an SES event EventBridge could not deliver
(parked in the rule target's dead-letter queue) goes to the ses-feedback queue, the runtime's queue
pump hands it to the real ses_feedback handler, and the profile shows it; a second replay finds
nothing to move and the profile still counts the delivery once."""

from __future__ import annotations

import io
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import requests

from emma.resources import SES_FEEDBACK_QUEUE
from emma_local.cli import main

pytestmark = pytest.mark.e2e
ADMIN = {"authorization": "Bearer ak_local_elektro_emma"}
DELIVERY = (Path(__file__).resolve().parents[2] / "events" / "ses" / "delivery.json").read_text(encoding="utf-8")
LENA = "lena.schmidt@example.de"


def emma(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def delivered(runtime) -> int:
    answer = requests.get(f"{runtime.api_url}/v1/profiles/{LENA}", headers=ADMIN, timeout=10)
    if answer.status_code == 404:
        return 0
    return int(answer.json()["channels"].get("email", {}).get("delivered", 0))


def test_replay_local_moves_a_parked_event_to_its_consumer_once(runtime):
    sqs = runtime.emulator.client("sqs")
    dlq = runtime.resources.rule_dlq_urls[SES_FEEDBACK_QUEUE.logical_id]
    sqs.send_message(
        QueueUrl=dlq,
        MessageBody=DELIVERY,
        MessageAttributes={"ERROR_CODE": {"DataType": "String", "StringValue": "SDK_CLIENT_ERROR"}},
    )
    before = delivered(runtime)
    endpoint = ["--local", "--endpoint-url", runtime.emulator.endpoint]

    status, out, _ = emma("replay", *endpoint, "--dry-run", SES_FEEDBACK_QUEUE.rule_dead_letter_queue_name)
    assert status == 0 and "1 would move" in out
    status, out, err = emma("replay", *endpoint, "all")
    assert (status, err) == (0, ""), out
    assert "emma-ses-feedback-rule-dlq: 1 moved to emma-ses-feedback" in out

    deadline = time.monotonic() + 15
    while delivered(runtime) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert delivered(runtime) == before + 1

    status, out, _ = emma("replay", *endpoint, "all")  # again: nothing left, nothing counted twice
    assert status == 0 and " 1 moved" not in out
    runtime.pumps[SES_FEEDBACK_QUEUE.logical_id].drain()
    assert delivered(runtime) == before + 1
