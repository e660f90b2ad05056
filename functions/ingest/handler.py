"""Ingest Lambda entry point: Powertools resolver, routers, error mapping, OpenAPI document."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from emma.edge import tracing
from emma.errors import EmmaError, InvalidPayload
from ingest.http import error_body, error_response, json_response
from ingest.openapi import openapi_document
from ingest.routes import (
    analytics,
    campaigns,
    catalog,
    console,
    coupons,
    imports,
    messages,
    preferences,
    privacy,
    profiles,
    survey,
    tracker,
    webhooks,
)

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics(namespace="Emma")
_STATUSES = frozenset(status.value for status in HTTPStatus)

# Browsers on the shops' own domains call the tracking API (analytics.js sends the write key in an
# Authorization header, hence a preflight; the resolver answers every OPTIONS preflight with 204).
# analytics.js adds X-Retry-Count to retries and reads Retry-After; RudderStack's browser SDK sends
# AnonymousId. Webhooks and profile reads opt out of CORS.
CORS = CORSConfig(
    allow_origin="*",
    allow_headers=["Authorization", "Content-Type", "Content-Encoding", "X-Retry-Count", "AnonymousId"],
    expose_headers=["Retry-After"],
    max_age=600,
)
app = APIGatewayHttpResolver(enable_validation=True, cors=CORS)
app.include_router(tracker.router)
app.include_router(webhooks.router)
app.include_router(profiles.router)
app.include_router(messages.router)
app.include_router(catalog.router)
app.include_router(preferences.router)
app.include_router(survey.router)
app.include_router(privacy.router)
app.include_router(analytics.router)
app.include_router(console.router)
app.include_router(imports.router)
app.include_router(campaigns.router)
app.include_router(coupons.router)


@app.get("/v1/openapi.json", include_in_schema=False)
def openapi():
    return json_response(200, openapi_document(app))


@app.exception_handler(EmmaError)
def handle_domain_error(exc: EmmaError):
    log = logger.error if exc.status >= 500 else logger.info
    log("request refused", extra={"error": exc.code, "status": exc.status, "reason": exc.message})
    return error_response(exc)


@app.exception_handler(RequestValidationError)
def handle_validation_error(exc: RequestValidationError):
    details = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
    return error_response(InvalidPayload(details or "invalid request"))


@app.exception_handler(Exception)
def handle_unexpected_error(exc: Exception):
    """The safety net: a fault in Emma (bad input is answered 4xx long before this) is logged with its
    stack and answered 500 in the usual error shape, naming the request for the logs."""
    if isinstance(exc, ServiceError):  # raised by Powertools itself (e.g. a method not allowed)
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_") if exc.status_code in _STATUSES else "error"
        return json_response(exc.status_code, error_body(exc.status_code, code, exc.msg))
    request_id = logger.get_correlation_id()
    logger.exception("unexpected error", extra={"error": type(exc).__name__})
    message = "an unexpected error in Emma; it is logged" + (f" under request id {request_id}" if request_id else "")
    return json_response(500, error_body(500, "internal_error", message))


@app.not_found
def handle_not_found(_: Exception):
    event = app.current_event
    return json_response(404, error_body(404, "not_found", f"no route for {event.http_method} {event.path}"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
