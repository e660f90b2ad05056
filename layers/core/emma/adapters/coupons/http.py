"""The HTTP every coupon adapter uses: one injectable transport (urllib in Lambda; the local stand-ins'
handlers called in-process in unit tests) and the classification the adapters share.

A transport takes an HttpRequest and returns an HttpResponse for *every* status, 4xx and 5xx included;
only a failure to reach the server (DNS, refused connection, timeout) raises, as ProviderTransient.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emma.offers.ports import ProviderTransient

DEFAULT_TIMEOUT = 5.0  # seconds: a dispatch Lambda has minutes, but a stuck shop must not hold it
DEFAULT_RETRY = 30.0  # seconds, when a 429 or 503 names no Retry-After


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = b""

    def json(self) -> Any:
        """The body as JSON; None when it is empty or not JSON (a proxy's HTML error page)."""
        try:
            return json.loads(self.body.decode("utf-8")) if self.body else None
        except (UnicodeDecodeError, ValueError):
            return None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def retry_after(self, default: float = DEFAULT_RETRY) -> float:
        """Seconds from a Retry-After header (delta-seconds; an HTTP date counts as the default)."""
        value = self.header("retry-after")
        try:
            return max(1.0, float(value)) if value else default
        except ValueError:
            return default


Transport = Callable[[HttpRequest], HttpResponse]


def urllib_transport(timeout: float = DEFAULT_TIMEOUT) -> Transport:
    """The transport used in Lambda: urllib, every HTTP status returned as a response."""

    def send(request: HttpRequest) -> HttpResponse:
        prepared = urllib.request.Request(  # noqa: S310 - the shop's configured https URL
            request.url, data=request.body or None, method=request.method, headers=dict(request.headers)
        )
        try:
            with urllib.request.urlopen(prepared, timeout=timeout) as response:  # noqa: S310
                return HttpResponse(
                    response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
                )
        except urllib.error.HTTPError as exc:
            return HttpResponse(exc.code, {k.lower(): v for k, v in (exc.headers or {}).items()}, exc.read() or b"")
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise ProviderTransient(f"{request.url.split('?')[0]} unreachable: {type(exc).__name__}") from exc

    return send


def json_request(method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None) -> HttpRequest:
    data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    base = {"Accept": "application/json", "User-Agent": "Emma/1 (+coupons)"}
    if body is not None:
        base["Content-Type"] = "application/json"
    return HttpRequest(method, url, {**base, **(headers or {})}, data)
