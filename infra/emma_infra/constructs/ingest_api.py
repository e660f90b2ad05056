"""The public edge: an HTTP API whose routes all go to the ingest function.

Authentication happens in the function, per route family: the tracker calls carry a shop's Segment
write key (HTTP Basic), webhooks an HMAC signature of the platform, the profile read a Bearer admin
key. API Gateway authorizers cannot check any of these, so the routes have none.

Each route has a throttle of its own (API Gateway keeps one token bucket per route), set per route
family in `ROUTE_FAMILIES`: a flood on one route, say unsigned webhooks, uses up that route's bucket
and never the tracking or admin routes'. Every route must belong to a family (checked at synth).
Limits per shop need a key API Gateway's HTTP APIs cannot throttle on; the optional `EmmaEdge` stack
stack (edge.py) adds them in front (docs/deploy.md, "Abuse resistance").
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any

import jsii
from aws_cdk import Acknowledgment, RemovalPolicy, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_logs as logs
from aws_cdk.aws_apigatewayv2_integrations import HttpLambdaIntegration
from constructs import Construct

from emma_infra.constructs.functions import LOG_RETENTION, EmmaFunction, Platform
from emma_infra.paths import FUNCTIONS_DIR
from emma_infra.sizing import INGEST_API_FUNCTION

# CORS preflights of the tracking API: the resolver answers OPTIONS for any path itself (it has no route
# for them), so API Gateway needs one catch-all route to hand them over.
PREFLIGHT_ROUTE = ("OPTIONS", "/v1/{proxy+}")
_PARAMETER = re.compile(r"<(\w+)>")  # Powertools' <name> is API Gateway's {name}


def served_routes(app: Any | None = None) -> set[tuple[str, str]]:
    """(method, path) of every route the ingest function's resolver serves, read from its route table
    (``ingest.handler.app`` unless given): the documented operations and those the public document
    leaves out (the document itself, one-click unsubscribe, tracked short links)."""
    if app is None:
        if str(FUNCTIONS_DIR) not in sys.path:
            sys.path.insert(0, str(FUNCTIONS_DIR))
        from ingest.handler import app
    routes = (*app._static_routes, *app._dynamic_routes)  # Powertools has no public listing
    return {(route.method.upper(), _PARAMETER.sub(r"{\1}", route.path)) for route in routes}


def api_routes(app: Any | None = None) -> tuple[tuple[str, str], ...]:
    """The HTTP API's routes: exactly what the function serves, and the preflight catch-all. A route
    added to the function reaches the API with no second, hand-kept list; unknown paths are answered by
    API Gateway and never invoke the function."""
    # A route key cannot end in "/": a path served with and without one (the console's /console/) is one route.
    routes = {(method, path.rstrip("/") or "/") for method, path in served_routes(app)} | {PREFLIGHT_ROUTE}
    return tuple(sorted(routes, key=lambda route: (route[1], route[0])))


THROTTLE = apigwv2.ThrottleSettings(burst_limit=200, rate_limit=100)  # the stage's default


@dataclass(frozen=True)
class RouteFamily:
    """Routes throttled alike: each of them gets ``rate_limit`` requests/s and ``burst_limit``."""

    name: str
    rate_limit: int
    burst_limit: int
    paths: frozenset[str] = frozenset()  # exact paths
    prefixes: tuple[str, ...] = ()  # or path prefixes

    def matches(self, path: str) -> bool:
        return path in self.paths or path.startswith(self.prefixes)


TRACKING_PATHS = frozenset(
    {
        *(f"/v1/{call}" for call in ("track", "identify", "page", "screen", "alias", "group", "batch", "import")),
        *(f"/v1/{short}" for short in "tipsagb"),  # analytics.js's short paths
        "/v1/m",  # analytics.js's delivery metrics
        "/v1/{proxy+}",  # CORS preflights
    }
)
ROUTE_FAMILIES = (
    # Browsers and servers of every shop; the busiest family.
    RouteFamily("tracking", rate_limit=100, burst_limit=200, paths=TRACKING_PATHS),
    # One route for every shop and platform. Unsigned requests are refused before any store read
    # (tests/unit/functions/test_webhook_flood.py), so this bucket is what a flood costs the shops.
    RouteFamily("webhooks", rate_limit=100, burst_limit=200, prefixes=("/webhooks/",)),
    # Admin-keyed reads, the catalog import, export and erasure, the analytics reports, uploads of coupon codes:
    # each request reads (or writes) the store.
    RouteFamily(
        "admin",
        rate_limit=20,
        burst_limit=40,
        paths=frozenset({"/v1/segments", "/v1/openapi.json", "/v1/campaigns"}),
        prefixes=(
            "/v1/profiles/",
            "/v1/catalog/",
            "/v1/privacy/",
            "/v1/analytics/",
            "/v1/segments/",
            "/v1/campaigns/",
            "/v1/coupons/",
        ),
    ),
    # Imports of a shop's history (emma import): each request stores a batch of records or concludes a batch
    # of profiles, or uploads, starts or reports an import of a file (POST /v1/imports/uploads, POST /v1/imports,
    # GET /v1/imports/{job}); its own bucket, so that an import running flat out never slows the admin reads.
    RouteFamily("imports", rate_limit=10, burst_limit=20, paths=frozenset({"/v1/imports"}), prefixes=("/v1/imports/",)),
    # The console's pages and its sign-in (a person at a browser; each page reads the reports).
    RouteFamily("console", rate_limit=10, burst_limit=30, paths=frozenset({"/console"}), prefixes=("/console/",)),
    # Links in messages (unsubscribe, the preference centre, the double opt-in confirmation, tracked short
    # links): customers clicking after a send.
    RouteFamily(
        "links",
        rate_limit=50,
        burst_limit=100,
        paths=frozenset({"/v1/unsubscribe", "/v1/preferences", "/v1/confirm", "/v1/survey"}),
        prefixes=("/v1/r/",),
    ),
)


def route_family(path: str) -> RouteFamily:
    found = [family for family in ROUTE_FAMILIES if family.matches(path)]
    if len(found) != 1:
        raise ValueError(
            f"route {path}: in {len(found)} route families ({', '.join(f.name for f in found) or 'none'}); "
            "add it to exactly one in ROUTE_FAMILIES (infra/emma_infra/constructs/ingest_api.py)"
        )
    return found[0]


def route_settings(routes: tuple[tuple[str, str], ...]) -> dict[str, dict[str, int]]:
    """The stage's RouteSettings: every route key with its family's throttle."""
    settings = {}
    for method, path in routes:
        family = route_family(path)
        settings[f"{method} {path}"] = {
            "ThrottlingBurstLimit": family.burst_limit,
            "ThrottlingRateLimit": family.rate_limit,
        }
    return settings


# One JSON object per request (HTTP API $context variables).
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "requestTime": "$context.requestTime",
        "ip": "$context.identity.sourceIp",
        "userAgent": "$context.identity.userAgent",
        "routeKey": "$context.routeKey",
        "path": "$context.path",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integrationErrorMessage",
        "error": "$context.error.message",
    }
)


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._log_group = log_group

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return apigwv2.LogGroupLogDestination(self._log_group)

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(ACCESS_LOG_FORMAT)


class IngestApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        self.handler = EmmaFunction(
            self,
            "Ingest",
            folder="ingest",
            platform=platform,
            description="Emma ingest: tracker calls, shop webhooks, profile reads, export and erasure",
            options=INGEST_API_FUNCTION,  # every table (no Scan), the secrets, the exports bucket
        )
        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            description="Emma ingest API (tracker calls, shop webhooks, profiles)",
            create_default_stage=False,
        )
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            auto_deploy=True,
            throttle=THROTTLE,
            access_log_settings=_AccessLogSettings(self.access_logs),
        )
        integration = HttpLambdaIntegration("Ingest", self.handler.function)
        routes = api_routes()
        settings = route_settings(routes)  # before any route exists: an unclassified route fails the synth
        for method, path in routes:
            for route in self.http_api.add_routes(
                path=path, methods=[apigwv2.HttpMethod[method]], integration=integration
            ):
                # RouteSettings may only name routes that exist: the stage waits for them.
                self.stage.node.add_dependency(route)
        cfn_stage = self.stage.node.default_child
        cfn_stage.add_property_override("RouteSettings", settings)  # type: ignore[union-attr]
        Validations.of(self.http_api).acknowledge(
            Acknowledgment(
                id="AwsSolutions-APIG4",
                reason="Every route authenticates in the ingest function: tracker calls by a shop's Segment "
                "write key (HTTP Basic), webhooks by the platform's HMAC signature, profile reads by a Bearer "
                "admin key. None of these is something an API Gateway authorizer can verify.",
            )
        )

    @property
    def url(self) -> str:
        """The API's base URL (the $default stage), with a trailing slash."""
        return self.stage.url

    @property
    def public_url(self) -> str:
        """The same URL without the trailing slash (the $default stage is served at the API's endpoint),
        for the links dispatch puts into messages (``<public_url>/v1/...``)."""
        return self.http_api.api_endpoint
