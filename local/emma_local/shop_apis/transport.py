"""A coupon adapter's transport (emma.adapters.coupons.http.Transport) that calls a stand-in's handler in process:
the unit tests' way to a shop API, no socket."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from emma.adapters.coupons.http import HttpRequest, HttpResponse, Transport


def in_process(stand_in: Any) -> Transport:
    """Requests go to ``stand_in.handle(method, path with its query, headers, body)``; header names come back in
    lower case, as urllib_transport gives them."""

    def send(request: HttpRequest) -> HttpResponse:
        parts = urlsplit(request.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        status, headers, body = stand_in.handle(request.method, path, dict(request.headers), request.body)
        return HttpResponse(status, {k.lower(): v for k, v in headers.items()}, body)

    return send
