"""The ingest API's abuse resistance in the synthesized templates: every route the function serves is
deployed with its route family's throttle (a webhook flood cannot use up tracking's or admin's
buckets), and the optional EmmaEdge stack limits webhooks per shop with WAF in front of CloudFront."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App

from emma_infra.constructs.ingest_api import (
    ROUTE_FAMILIES,
    THROTTLE,
    api_routes,
    route_family,
    route_settings,
    served_routes,
)
from emma_infra.edge import (
    EDGE_CONTEXT_KEY,
    EDGE_REGION,
    EDGE_STACK_NAME,
    WEBHOOK_LIMIT_PER_SHOP,
    WEBHOOK_PATH_PREFIX,
    EmmaEdgeStack,
)
from tests.infra.conftest import EDGE_API_DOMAIN, Synth

pytestmark = pytest.mark.infra

WEBHOOK_ROUTE = "POST /webhooks/{platform}/{shop}"


def stage(synth: Synth) -> tuple[str, dict[str, Any]]:
    ((stage_id, found),) = synth.resources("AWS::ApiGatewayV2::Stage").items()
    return stage_id, found


def test_every_route_the_function_serves_is_deployed(default_synth):
    deployed = {r["Properties"]["RouteKey"] for r in default_synth.resources("AWS::ApiGatewayV2::Route").values()}
    # the resolver's route table; a path served with and without a trailing "/" is one route key
    served = {f"{method} {path.rstrip('/')}" for method, path in served_routes()}
    assert {"GET /v1/unsubscribe", "POST /v1/unsubscribe", "GET /v1/r/{shop}/{code}", WEBHOOK_ROUTE} <= served
    assert served - deployed == set()
    assert deployed - served == {"OPTIONS /v1/{proxy+}"}  # preflights: answered by the resolver for any path


def test_each_route_has_its_familys_throttle_and_the_stage_waits_for_the_routes(default_synth):
    _, found = stage(default_synth)
    settings = found["Properties"]["RouteSettings"]
    routes = default_synth.resources("AWS::ApiGatewayV2::Route")
    assert set(settings) == {r["Properties"]["RouteKey"] for r in routes.values()}
    for key, throttle in settings.items():
        family = route_family(key.split(" ", 1)[1])
        assert throttle == {"ThrottlingBurstLimit": family.burst_limit, "ThrottlingRateLimit": family.rate_limit}
    assert set(routes) <= set(found["DependsOn"])  # RouteSettings may only name existing routes
    assert found["Properties"]["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": THROTTLE.burst_limit,
        "ThrottlingRateLimit": THROTTLE.rate_limit,
    }


def test_webhooks_tracking_and_admin_reads_are_separate_families(default_synth):
    _, found = stage(default_synth)
    settings = found["Properties"]["RouteSettings"]
    families = {route_family(key.split(" ", 1)[1]).name for key in settings}
    assert (
        families == {f.name for f in ROUTE_FAMILIES} == {"tracking", "webhooks", "admin", "imports", "links", "console"}
    )
    assert route_family("/webhooks/{platform}/{shop}").name == "webhooks"
    assert {route_family(p).name for p in ("/v1/track", "/v1/batch", "/v1/t", "/v1/{proxy+}")} == {"tracking"}
    assert {route_family(p).name for p in ("/v1/profiles/{ref}", "/v1/segments", "/v1/catalog/products")} == {"admin"}
    assert {route_family(p).name for p in ("/v1/analytics/messages", "/v1/segments/{segment}/members")} == {"admin"}
    assert route_family("/v1/coupons/pools/{pool}").name == "admin"
    assert {"GET /v1/coupons/pools/{pool}", "POST /v1/coupons/pools/{pool}"} <= set(settings)
    assert {route_family(p).name for p in ("/console", "/console/journeys/{journey}")} == {"console"}
    assert settings["GET /v1/profiles/{ref}"]["ThrottlingRateLimit"] < settings[WEBHOOK_ROUTE]["ThrottlingRateLimit"]


def test_a_route_in_no_family_fails_the_synth():
    with pytest.raises(ValueError, match=r"route /v2/new: in 0 route families \(none\); add it to exactly one"):
        route_settings((*api_routes(), ("POST", "/v2/new")))


# --- EmmaEdge: per-shop webhook limits ------------------------------------------------------------


def edge_resources(synth: Synth, type_: str) -> dict[str, dict[str, Any]]:
    assert synth.edge_template_json is not None
    return {k: r for k, r in synth.edge_template_json["Resources"].items() if r["Type"] == type_}


def test_without_the_context_value_there_is_no_edge_stack(default_synth):
    assert default_synth.edge_template_json is None
    assert default_synth.app.node.try_find_child(EDGE_STACK_NAME) is None


def test_the_edge_limits_webhooks_per_platform_and_shop_with_a_429(partner_synth):
    edge = partner_synth.app.node.find_child(EDGE_STACK_NAME)
    assert edge.region == EDGE_REGION  # CloudFront web ACLs live in us-east-1
    ((acl_id, acl),) = edge_resources(partner_synth, "AWS::WAFv2::WebACL").items()
    props = acl["Properties"]
    assert props["Scope"] == "CLOUDFRONT" and props["DefaultAction"] == {"Allow": {}}
    (rule,) = props["Rules"]
    rate = rule["Statement"]["RateBasedStatement"]
    assert rate["AggregateKeyType"] == "CUSTOM_KEYS"
    assert rate["CustomKeys"] == [{"UriPath": {"TextTransformations": [{"Priority": 0, "Type": "LOWERCASE"}]}}]
    assert rate["Limit"] == WEBHOOK_LIMIT_PER_SHOP and rate["EvaluationWindowSec"] == 60
    match = rate["ScopeDownStatement"]["ByteMatchStatement"]
    assert (match["FieldToMatch"], match["PositionalConstraint"], match["SearchString"]) == (
        {"UriPath": {}},
        "STARTS_WITH",
        WEBHOOK_PATH_PREFIX,
    )
    response = rule["Action"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == 429
    assert response["ResponseHeaders"] == [{"Name": "Retry-After", "Value": "60"}]
    assert '"code": 429' in props["CustomResponseBodies"][response["CustomResponseBodyKey"]]["Content"]
    assert rule["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True

    ((_, distribution),) = edge_resources(partner_synth, "AWS::CloudFront::Distribution").items()
    config = distribution["Properties"]["DistributionConfig"]
    assert config["WebACLId"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    (origin,) = config["Origins"]
    assert origin["DomainName"] == EDGE_API_DOMAIN
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    behavior = config["DefaultCacheBehavior"]
    assert set(behavior["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
    assert behavior["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # Managed-CachingDisabled
    assert behavior["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # AllViewerExceptHostHeader
    assert behavior["ViewerProtocolPolicy"] == "https-only"  # a redirect would turn a POST into a GET
    assert {"EdgeUrl", "WebAclArn"} <= set(partner_synth.edge_template_json["Outputs"])


def test_the_edge_refuses_anything_but_the_apis_domain():
    with pytest.raises(ValueError, match=f"{EDGE_CONTEXT_KEY} must be the HTTP API's domain"):
        EmmaEdgeStack(App(), EDGE_STACK_NAME, api_domain="https://abc.execute-api.eu-central-1.amazonaws.com/")
