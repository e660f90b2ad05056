"""`emma dev`'s HTTP front: each request becomes an API Gateway HTTP API event for the real ingest
handler, and its result becomes the HTTP response, as API Gateway would do it."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from emma_local.environments import FunctionTimedOut, NoEnvironment
from emma_local.lambdas import Handler, LambdaContext, api_event, response_body

log = logging.getLogger("emma.local.api")
API_GATEWAY_MAX_BODY = 10 * 1024 * 1024  # HTTP APIs refuse larger payloads before the function runs
LISTEN_BACKLOG = 1024  # connections waiting to be accepted (socketserver's default, 5, resets a burst of clients)


class _Server(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True


def make_server(handler: Handler, host: str, port: int) -> ThreadingHTTPServer:
    class ApiGateway(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "emma-dev"
        # Headers and body go out in two writes: with Nagle's algorithm the body waits for the client's
        # delayed ACK of the headers, 40 ms per response on Linux.
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                self._error(400, "bad_request", "Bad Content-Length")
                self.close_connection = True
                return
            if length > API_GATEWAY_MAX_BODY:
                self._error(413, "payload_too_large", "Request Entity Too Large")
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            event = api_event(
                self.command, url.path, url.query, dict(self.headers.items()), body, self.client_address[0]
            )
            try:
                result = handler(event, LambdaContext("ingest"))
            except FunctionTimedOut as exc:  # the environment was stopped at its timeout: nothing runs on
                log.warning("%s %s: %s", self.command, url.path, exc)
                self._error(504, "function_timeout", str(exc), {"retry-after": "1"})
                return
            except NoEnvironment as exc:  # every environment busy for a whole timeout: as Lambda throttles
                log.warning("%s %s: %s", self.command, url.path, exc)
                self._error(503, "no_environment", str(exc), {"retry-after": "1"})
                return
            except Exception:  # API Gateway answers 500 when the function itself crashes
                log.exception("ingest handler crashed")
                self._error(500, "internal_error", "Internal Server Error")
                return
            headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
            self._send(int(result.get("statusCode", 200)), headers, response_body(result), result.get("cookies"))

        def _error(self, status: int, error: str, message: str, headers: dict[str, str] | None = None) -> None:
            body = json.dumps({"error": error, "code": status, "message": message}).encode()
            self._send(status, {"content-type": "application/json", **(headers or {})}, body)

        def _send(self, status: int, headers: dict[str, str], body: bytes, cookies: list[str] | None = None) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key not in ("content-length", "connection"):
                    self.send_header(key, value)
            for cookie in cookies or []:
                self.send_header("set-cookie", cookie)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        # Every method goes to the function, as API Gateway's routes do: OPTIONS carries the CORS
        # preflights of browsers on the shops' sites; HEAD is answered like GET without the body.
        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle

        def log_message(self, format: str, *args: object) -> None:
            log.info("%s %s", self.address_string(), format % args)

    return _Server((host, port), ApiGateway)


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="emma-api", daemon=True)
    thread.start()
    return thread
