"""Ingest Lambda entry point: Powertools resolver, routers, error mapping, OpenAPI document.

A cold start imports what the tracking API and the shop webhooks need to be routed, nothing more: their
routers (ingest.routes.tracker, ingest.routes.webhooks) are registered here and import Emma's models,
mappings and wiring on their first request. They read and check their bodies themselves (emma.sources),
so the resolver's request validation is off for them. Every other router (the admin API, the console,
unsubscribe and short links, preferences, surveys, ...) is imported and registered, with the resolver's
validation, by the first request for one of them (``routed_app()``): a webhook or tracker request never
imports the console's templates, analytics or campaigns.

``ingest.handler.app`` is the resolver with every route registered: the CDK app reads its route table
(emma_infra.constructs.ingest_api.served_routes) and ``emma schema`` its OpenAPI document. The route
table, its order and the document are the same as with every router imported up front.
"""

from __future__ import annotations

import importlib
import threading
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext

from emma.edge import tracing
from emma.errors import EmmaError, InvalidPayload
from ingest.http import error_body, error_response, json_response

if TYPE_CHECKING:  # the routers of ROUTERS, imported on first use: named here for readers and static import checks
    from ingest.routes import (  # noqa: F401
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
    )
from ingest.routes import tracker, webhooks

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
# Request validation (query and path parameters of the admin routes) is switched on with those routes.
_app = APIGatewayHttpResolver(cors=CORS)
_app.include_router(tracker.router)
_app.include_router(webhooks.router)

# ingest.routes.<name>, registered in this order after the two above on the first request for any of
# them (the order is the route table's and the OpenAPI document's).
ROUTERS = (
    "profiles",
    "messages",
    "catalog",
    "preferences",
    "survey",
    "privacy",
    "analytics",
    "console",
    "imports",
    "campaigns",
    "coupons",
)
_routing = threading.Lock()  # the local runtime may route from several threads
_routed = False


def routed_app() -> APIGatewayHttpResolver:
    """The resolver with every route registered (the other routers imported the first time)."""
    global _routed
    with _routing:
        if not _routed:
            for name in ROUTERS:
                _app.include_router(importlib.import_module(f"ingest.routes.{name}").router)
            # Powertools' own switch (what APIGatewayHttpResolver(enable_validation=True) sets): the routes
            # registered without a setting of their own are validated (their validation middlewares are
            # built on their first call) and the document describes it (ingest.openapi makes it 400).
            _app._enable_validation = True
            _routed = True
    return _app


def __getattr__(name: str) -> Any:
    """``ingest.handler.app``: the resolver with every route (for the CDK app and the OpenAPI document)."""
    if name == "app":
        return routed_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _serves_as_imported(event: dict[str, Any]) -> bool:
    """Whether the request is for a route registered at import (or is a CORS preflight, which the resolver
    answers alike for every path: the routes with CORS are all registered at import)."""
    request = APIGatewayProxyEventV2(event)
    method = request.http_method.upper()
    if method == "OPTIONS":
        return True
    path = request.path
    return any(r.method == method and r.rule.match(path) for r in (*_app._static_routes, *_app._dynamic_routes))


@_app.get("/v1/openapi.json", include_in_schema=False)
def openapi():
    from ingest.openapi import openapi_document

    return json_response(200, openapi_document(routed_app()))


@_app.exception_handler(EmmaError)
def handle_domain_error(exc: EmmaError):
    log = logger.error if exc.status >= 500 else logger.info
    log("request refused", extra={"error": exc.code, "status": exc.status, "reason": exc.message})
    return error_response(exc)


@_app.exception_handler(RequestValidationError)
def handle_validation_error(exc: RequestValidationError):
    details = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
    return error_response(InvalidPayload(details or "invalid request"))


@_app.exception_handler(Exception)
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


@_app.not_found
def handle_not_found(_: Exception):
    event = _app.current_event
    return json_response(404, error_body(404, "not_found", f"no route for {event.http_method} {event.path}"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    resolver = _app if _routed or _serves_as_imported(event) else routed_app()
    return resolver.resolve(event, context)
