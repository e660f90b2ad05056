"""`emma dev`'s HTTP front (emma_local.server) over real HTTP: a function past its timeout is answered
504 with the reason and Retry-After (as a client can retry), a crash 500, both in Emma's error shape."""

from __future__ import annotations

import pytest
import requests

from emma_local.environments import FunctionCrashed, FunctionTimedOut
from emma_local.server import make_server, serve_in_thread

pytestmark = pytest.mark.e2e


@pytest.fixture
def front():
    outcomes = {"/timeout": FunctionTimedOut("the ingest function did not finish within its 30 s timeout")}
    outcomes["/crash"] = FunctionCrashed("RuntimeError: boom")

    def handler(event, context):
        raise outcomes[event["rawPath"]]

    server = make_server(handler, "127.0.0.1", 0)
    serve_in_thread(server)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_timed_out_request_is_504_with_the_reason_and_retry_after(front):
    answer = requests.post(f"{front}/timeout", json={}, timeout=10)
    assert answer.status_code == 504 and answer.headers["retry-after"] == "1"
    assert answer.json() == {
        "error": "function_timeout",
        "code": 504,
        "message": "the ingest function did not finish within its 30 s timeout",
    }


def test_a_crashed_function_is_500_in_emmas_error_shape(front):
    answer = requests.post(f"{front}/crash", json={}, timeout=10)
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal_error", "code": 500, "message": "Internal Server Error"}
