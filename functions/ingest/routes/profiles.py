"""Profile reads for the shop's admins: GET /v1/profiles/{ref}."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from ingest import deps
from ingest.http import bearer_token, json_response, lower_headers
from ingest.schemas import PROFILE_RESPONSES

router = APIGatewayHttpRouter()


@router.get(
    "/v1/profiles/<ref>",
    cors=False,
    summary="Read a unified customer profile",
    tags=["profiles"],
    description="ref is Emma's profile id (p_...), an email address (or email:<address>), the shop's "
    "customer id (or cid:<id>) or a tracker anonymous id (anon:<id>). Authenticate with "
    "the shop's admin key: Authorization: Bearer <key>.",
    responses=PROFILE_RESPONSES,
)
def get_profile(ref: str, history: Annotated[int, Query(ge=0, le=200)] = 20):
    components = deps.components()
    shop = components.shops.by_admin_key(bearer_token(lower_headers(router.current_event)))
    profile = components.service.resolve(shop.shop, unquote(ref))
    body = profile.view()
    if history:
        body["history"] = components.service.history(profile, history)
    return json_response(200, body)
