"""Run the real Lambda handlers in-process: API Gateway (HTTP API, payload v2) and SQS events."""

from __future__ import annotations

import base64
import importlib
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emma.clock import clock_from_env

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = ROOT / "functions"
SERVICE_NAME_ENV = "POWERTOOLS_SERVICE_NAME"
TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class LambdaContext:
    """Enough of Lambda's context object for Powertools."""

    def __init__(self, function_name: str, timeout_seconds: float = 30.0, memory_mb: int = 1024) -> None:
        self.function_name = f"emma-local-{function_name}"
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:eu-central-1:123456789012:function:{self.function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def service_name(function: str) -> str:
    """The function's Powertools service name, as the CDK app sets it (POWERTOOLS_SERVICE_NAME)."""
    return f"emma-{function.replace('_', '-')}"


def load_handler(function: str) -> Handler:
    """Import functions/<function>/handler.py exactly as Lambda would (handler module on the path).

    Lambda gives every function its own POWERTOOLS_SERVICE_NAME; here the functions share one process
    and one environment, so the variable names this function while its modules are imported, when
    Powertools' Logger, Tracer and Metrics read it."""
    if str(FUNCTIONS_DIR) not in sys.path:
        sys.path.insert(0, str(FUNCTIONS_DIR))
    saved = os.environ.get(SERVICE_NAME_ENV)
    os.environ[SERVICE_NAME_ENV] = service_name(function)
    try:
        return importlib.import_module(f"{function}.handler").lambda_handler
    finally:
        if saved is None:
            os.environ.pop(SERVICE_NAME_ENV, None)
        else:
            os.environ[SERVICE_NAME_ENV] = saved


def api_event(
    method: str, path: str, query: str, headers: dict[str, str], body: bytes, source_ip: str = "127.0.0.1"
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event for one request."""
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    encoded_body = any(k.lower() == "content-encoding" and v.strip().lower() != "identity" for k, v in headers.items())
    text = not body or (content_type.startswith(TEXT_TYPES) and not encoded_body)
    if text:
        try:
            encoded, is_b64 = body.decode("utf-8"), False
        except UnicodeDecodeError:
            encoded, is_b64 = base64.b64encode(body).decode("ascii"), True
    else:
        encoded, is_b64 = base64.b64encode(body).decode("ascii"), True
    now = clock_from_env().now().timestamp()  # the local runtime's clock, which may run fast
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "queryStringParameters": _query_params(query),
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": encoded,
        "isBase64Encoded": is_b64,
    }


def _query_params(query: str) -> dict[str, str] | None:
    from urllib.parse import parse_qsl

    pairs = parse_qsl(query, keep_blank_values=True)
    return {k: v for k, v in pairs} or None


def response_body(result: dict[str, Any]) -> bytes:
    body = result.get("body") or ""
    return base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "eu-central-1",
            }
            for m in messages
        ]
    }


def _lambda_attribute(value: Any) -> Any:
    """An attribute value as Lambda's DynamoDB stream event carries it: binary values base64, the rest as is."""
    if isinstance(value, dict):
        return {k: _lambda_attribute(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lambda_attribute(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    return value


def stream_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A record of boto3's ``GetRecords`` as a record of the event Lambda hands a DynamoDB stream's function."""
    data = dict(record["dynamodb"])
    created = data.get("ApproximateCreationDateTime")
    if hasattr(created, "timestamp"):
        data["ApproximateCreationDateTime"] = created.timestamp()
    for image in ("Keys", "NewImage", "OldImage"):
        if image in data:
            data[image] = _lambda_attribute(data[image])
    return {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", "eu-central-1"),
        "dynamodb": data,
        "eventSourceARN": stream_arn,
    }
