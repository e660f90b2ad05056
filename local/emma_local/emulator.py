"""The in-process AWS emulator: moto in server mode, spoken to over real HTTP with boto3.

Requests to the emulator are serialised by one lock: moto's backends are plain Python objects, and
without it two concurrent TransactWriteItems could interleave their condition checks and writes,
which real DynamoDB never does. Handlers are unaffected: they run concurrently in their own threads.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import boto3

REGION = "eu-central-1"
ACCOUNT_ID = "123456789012"  # moto's default account


class _SerialisedApp:
    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").endswith("/invocations"):
            # A Lambda invoke runs the real handler in-process (emma_local.stepfunctions), and the
            # handler calls the emulator itself: holding the lock meanwhile would deadlock.
            return list(self._app(environ, start_response))
        with self._lock:
            # Materialise the body under the lock: moto computes responses lazily in places.
            return list(self._app(environ, start_response))


@dataclass
class Emulator:
    host: str
    port: int
    _server: Any
    _thread: threading.Thread

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """What a process (or a handler) needs to talk to this emulator with plain boto3."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "emma-local",
            "AWS_SECRET_ACCESS_KEY": "emma-local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "MOTO_PORT": str(self.port),
        }

    def session(self) -> boto3.session.Session:
        return boto3.session.Session(
            aws_access_key_id="emma-local",
            aws_secret_access_key="emma-local",  # noqa: S106
            region_name=REGION,
        )

    def client(self, service: str) -> Any:
        return self.session().client(service, endpoint_url=self.endpoint)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


def start_emulator(host: str = "127.0.0.1", port: int = 0) -> Emulator:
    """Start moto's server on ``host:port`` (0 picks a free port) in a daemon thread."""
    from moto.moto_server.threaded_moto_server import MotoRequestHandler
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    from emma_local import moto_fixes

    moto_fixes.install()  # flat memory and write latency however much the shop holds

    class QuietHandler(MotoRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass  # one line per emulator call drowns what the runtime prints

    app = _SerialisedApp(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    emulator = Emulator(str(bound_host), int(bound_port), server, thread)
    # moto keeps its backends in module globals: a second emulator in the same process (tests, a
    # demo after a test) would otherwise start with the first one's tables and queues.
    reset = urllib.request.Request(f"{emulator.endpoint}/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(reset, timeout=10)  # noqa: S310 - our own emulator on loopback
    return emulator
