"""Request helpers shared by the routes: raw body, auth headers, JSON responses, errors."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from emma.errors import EmmaError, InvalidPayload, PayloadTooLarge, Unauthorized
from emma.events.model import now_utc
from emma.ports import ShopConfig, ShopDirectory
from emma.sources.common import MAX_BODY_BYTES

JSON = "application/json"


def raw_body(event: APIGatewayProxyEventV2) -> bytes:
    """The exact bytes the sender signed (API Gateway base64-encodes non-text bodies)."""
    body = event.body or ""
    try:
        data = base64.b64decode(body, validate=True) if event.is_base64_encoded else body.encode("utf-8")
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise InvalidPayload(f"the request body cannot be read ({type(exc).__name__})") from exc
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body is {len(data)} bytes, the limit is {MAX_BODY_BYTES} (256 KB)")
    return data


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


def admin_shop(shops: ShopDirectory, event: APIGatewayProxyEventV2) -> ShopConfig:
    """The shop whose admin key the request carries (Authorization: Bearer <key>); 401 otherwise."""
    return shops.by_admin_key(bearer_token(lower_headers(event)))


def received_at(event: APIGatewayProxyEventV2) -> datetime:
    """When API Gateway received the request (requestContext.timeEpoch), else now."""
    epoch_ms = (event.raw_event.get("requestContext") or {}).get("timeEpoch")
    if isinstance(epoch_ms, int | float) and epoch_ms > 0:
        return datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return now_utc()


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=JSON, body=json.dumps(body, default=str), headers=headers or {})


def error_response(exc: EmmaError) -> Response:
    headers = {"Retry-After": "1"} if exc.status == 503 else {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="emma"'
    return json_response(exc.status, {"error": exc.code, "message": exc.message}, headers)
