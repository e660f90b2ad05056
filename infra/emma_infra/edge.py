"""`EmmaEdgeStack`: optional per-shop rate limits in front of the ingest API.

API Gateway HTTP APIs throttle per route (ingest_api.py), not per shop, and AWS WAF cannot be
associated with an HTTP API (only REST APIs, CloudFront, ALB, AppSync, ...). So the per-shop limit
sits in front: a CloudFront distribution forwarding everything to the HTTP API uncached, with a WAF
web ACL whose rate-based rule counts webhook requests per URI path, that is per platform and shop
(`/webhooks/<platform>/<shop>`), and answers a shop over its limit 429 with Retry-After (the
platforms retry) while every other shop's webhooks pass.

A web ACL for CloudFront must be created in us-east-1, while Emma's stack deploys to any region; so
this is a second, small stack pinned to us-east-1, made only when the context value
``edgeApiDomain`` names the HTTP API's domain (the host of the `ApiUrl` output). It costs a fixed
$5 (web ACL) + $1 (rule) a month plus $0.60 per million requests, which is why it is optional.
"""

from __future__ import annotations

import re
from typing import Any

from aws_cdk import Acknowledgment, CfnOutput, Environment, Stack, Validations
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

EDGE_STACK_NAME = "EmmaEdge"
EDGE_CONTEXT_KEY = "edgeApiDomain"
EDGE_REGION = "us-east-1"  # CloudFront web ACLs live there, whatever region Emma is in
API_DOMAIN = re.compile(r"^[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com$")
WEBHOOK_PATH_PREFIX = "/webhooks/"
# Per platform and shop (the URI path): 600 requests a minute, 10 a second sustained. More than a
# shop's platform sends in a sale, and a flood to one shop's URL stops there.
WEBHOOK_LIMIT_PER_SHOP = 600
WEBHOOK_WINDOW_SECONDS = 60
RETRY_AFTER_SECONDS = "60"


def webhook_rule() -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name="WebhooksPerShop",
        priority=0,
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                aggregate_key_type="CUSTOM_KEYS",
                custom_keys=[
                    wafv2.CfnWebACL.RateBasedStatementCustomKeyProperty(
                        uri_path=wafv2.CfnWebACL.RateLimitUriPathProperty(
                            text_transformations=[
                                wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="LOWERCASE")
                            ]
                        )
                    )
                ],
                limit=WEBHOOK_LIMIT_PER_SHOP,
                evaluation_window_sec=WEBHOOK_WINDOW_SECONDS,
                scope_down_statement=wafv2.CfnWebACL.StatementProperty(
                    byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                        field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                        positional_constraint="STARTS_WITH",
                        search_string=WEBHOOK_PATH_PREFIX,
                        text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="LOWERCASE")],
                    )
                ),
            )
        ),
        action=wafv2.CfnWebACL.RuleActionProperty(
            block=wafv2.CfnWebACL.BlockActionProperty(
                custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                    response_code=429,
                    custom_response_body_key="TooManyWebhooks",
                    response_headers=[
                        wafv2.CfnWebACL.CustomHTTPHeaderProperty(name="Retry-After", value=RETRY_AFTER_SECONDS)
                    ],
                )
            )
        ),
        visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True, metric_name="EmmaWebhooksPerShop", sampled_requests_enabled=True
        ),
    )


class EmmaEdgeStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, api_domain: str, **kwargs: Any) -> None:
        if not API_DOMAIN.match(api_domain):
            raise ValueError(
                f"{EDGE_CONTEXT_KEY} must be the HTTP API's domain, the host of the Emma stack's ApiUrl output "
                f"(<api id>.execute-api.<region>.amazonaws.com), got {api_domain!r}"
            )
        super().__init__(scope, construct_id, env=Environment(region=EDGE_REGION), **kwargs)
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="CLOUDFRONT",
            description="Emma: webhook requests per platform and shop, by URI path, over the limit answer 429",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            rules=[webhook_rule()],
            custom_response_bodies={
                "TooManyWebhooks": wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON",
                    content='{"error": "too_many_requests", "code": 429, "message": "too many webhooks for this '
                    'shop; retry later"}',
                )
            },
            visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name="EmmaEdge", sampled_requests_enabled=True
            ),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Emma ingest API behind per-shop webhook rate limits (WAF)",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.HttpOrigin(api_domain, protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY),
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                # Every header, query string and cookie, but API Gateway's own Host.
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            ),
            web_acl_id=self.web_acl.attr_arn,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
        )
        Validations.of(self.distribution).acknowledge(
            Acknowledgment(
                id="AwsSolutions-CFR1",
                reason="Shops and their customers are wherever the shops sell; Emma restricts nothing by country "
                "(a shop that must can add a geo rule to the web ACL).",
            ),
            Acknowledgment(
                id="AwsSolutions-CFR3",
                reason="Every request that passes is logged by the HTTP API's access log (JSON, 30 days); blocked "
                "ones show in the web ACL's metrics and sampled requests. A second log bucket would only repeat them.",
            ),
            Acknowledgment(
                id="AwsSolutions-CFR4",
                reason="The distribution uses its default *.cloudfront.net certificate, whose minimum TLS version "
                "cannot be set; viewers are HTTPS only and the origin is TLS 1.2. A custom domain and certificate "
                "(TLSv1.2_2021) are the operator's to add.",
            ),
        )
        CfnOutput(
            self,
            "EdgeUrl",
            value=f"https://{self.distribution.distribution_domain_name}/",
            description="Base URL of the Emma ingest API behind the per-shop webhook limits: give shops "
            "<EdgeUrl>webhooks/<platform>/<shop>",
        )
        CfnOutput(self, "WebAclArn", value=self.web_acl.attr_arn, description="The WAF web ACL in front of the API")
