"""Request helpers shared by the routes: the body, auth headers, JSON responses, errors."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response

from emma.errors import EmmaError, Forbidden, InvalidPayload, PayloadTooLarge, Unauthorized, UnsupportedEncoding

if TYPE_CHECKING:  # the handler imports this module on a cold start: nothing of Emma's models here
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

    from emma.shops import ShopConfig, ShopDirectory

JSON = "application/json"


def raw_body(event: APIGatewayProxyEventV2) -> bytes:
    """The request's body as the sender wrote it: base64 undone (API Gateway base64-encodes binary
    bodies) and the ``Content-Encoding`` (gzip, deflate) decoded. Webhook signatures are checked over
    these bytes. At most MAX_BODY_BYTES once decoded: 413 otherwise, found without inflating more."""
    body = event.body or ""
    try:
        data = base64.b64decode(body, validate=True) if event.is_base64_encoded else body.encode("utf-8")
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise InvalidPayload(f"the request body cannot be read ({type(exc).__name__})") from exc
    encoding = next((v for k, v in (event.headers or {}).items() if k.lower() == "content-encoding"), "")
    return decode_body(data, encoding)


_GZIP = 16 + zlib.MAX_WBITS  # gzip header and trailer
_ZLIB = zlib.MAX_WBITS  # RFC 1950, what "deflate" means in HTTP
_RAW_DEFLATE = -zlib.MAX_WBITS  # what some clients send as "deflate" anyway


def decode_body(data: bytes, content_encoding: str, limit: int | None = None) -> bytes:
    """Undo a ``Content-Encoding`` list (applied in the order listed, so undone from the last).

    Each step inflates at most ``limit`` (MAX_BODY_BYTES unless given) + 1 bytes: a small gzip bomb is
    refused with 413 after ``limit`` bytes of output, never inflated whole."""
    if limit is None:
        from emma.sources.common import MAX_BODY_BYTES

        limit = MAX_BODY_BYTES
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    for coding in reversed(codings):
        if coding == "identity":
            continue
        if coding in ("gzip", "x-gzip"):
            data = _inflate(data, _GZIP, limit, coding)
        elif coding == "deflate":
            try:
                data = _inflate(data, _ZLIB, limit, coding)
            except InvalidPayload:
                data = _inflate(data, _RAW_DEFLATE, limit, coding)
        else:
            raise UnsupportedEncoding(
                f"Content-Encoding {coding!r} is not supported; send gzip, deflate or an uncompressed body"
            )
    if len(data) > limit:
        raise PayloadTooLarge(f"body is {len(data)} bytes, the limit is {limit} ({limit // 1024} KB)")
    return data


def _inflate(data: bytes, wbits: int, limit: int, coding: str) -> bytes:
    out = bytearray()
    pending = data
    while True:  # a gzip body may hold several members, one after the other
        inflater = zlib.decompressobj(wbits)
        try:
            while True:
                chunk = inflater.decompress(pending, limit + 1 - len(out))
                out += chunk
                if len(out) > limit:
                    raise PayloadTooLarge(
                        f"body is over {limit} bytes ({limit // 1024} KB) once decompressed ({coding}); "
                        "the limit applies to the decompressed size"
                    )
                pending = inflater.unconsumed_tail
                if inflater.eof or not (pending or chunk):
                    break
        except zlib.error as exc:
            raise InvalidPayload(f"the body is not valid {coding} data ({exc})") from None
        if not inflater.eof:
            raise InvalidPayload(f"the {coding} body is truncated")
        pending = inflater.unused_data
        if wbits != _GZIP or not pending.strip(b"\0"):
            return bytes(out)


def lower_headers(event: APIGatewayProxyEventV2) -> dict[str, str]:
    return {k.lower(): v for k, v in (event.headers or {}).items()}


def basic_username(headers: dict[str, str]) -> str | None:
    """Segment sends the write key as the HTTP Basic username with an empty password."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("Authorization: Basic credentials are not valid base64") from None
    return decoded.partition(":")[0] or None


def bearer_token(headers: dict[str, str]) -> str:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("send the shop's admin key as 'Authorization: Bearer <key>'")
    return value.strip()


def admin_shop(shops: ShopDirectory, event: APIGatewayProxyEventV2, shop: str | None = None) -> ShopConfig:
    """The shop whose admin key the request carries (Authorization: Bearer <key>); 401 otherwise, and 403
    when the caller names a ``shop`` the key is not for."""
    config = shops.by_admin_key(bearer_token(lower_headers(event)))
    if shop is not None and shop != config.shop:
        raise Forbidden(f"this admin key belongs to another shop than {shop!r}")
    return config


def received_at(event: APIGatewayProxyEventV2) -> datetime:
    """When API Gateway received the request (requestContext.timeEpoch), else now."""
    epoch_ms = (event.raw_event.get("requestContext") or {}).get("timeEpoch")
    if isinstance(epoch_ms, int | float) and epoch_ms > 0:
        return datetime.fromtimestamp(epoch_ms / 1000, UTC)
    from emma.events.model import now_utc

    return now_utc()


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=JSON, body=json.dumps(body, default=str), headers=headers or {})


def error_body(status: int, error: str, message: str, **more: Any) -> dict[str, Any]:
    """Every error answer: ``error`` Emma's code for it, ``code`` the numeric HTTP status (RudderStack's
    and other Segment clients read ``code`` and ``message``), ``message`` for a person."""
    return {"error": error, "code": status, "message": message, **more}


def error_response(exc: EmmaError) -> Response:
    headers = {"Retry-After": "1"} if exc.status == 503 else {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="emma"'
    return json_response(exc.status, error_body(exc.status, exc.code, exc.message), headers)
