"""The shop's campaigns (campaigns/*.yaml, emma.campaigns) for its admins: what is defined and who it is for.

    GET /v1/campaigns                     the campaigns that apply to the shop, as defined
    GET /v1/campaigns/{id}/estimate       who the campaign would ask for now, and why the others are left out

Both take the shop's admin key; ``shop`` (optional) must name the key's shop. Sending campaigns is not built yet
(docs/campaigns.md).
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from emma.campaigns.audience import estimate
from emma.errors import NotFound
from ingest import deps
from ingest.http import admin_shop, json_response
from ingest.schemas import CAMPAIGN_ESTIMATE_RESPONSES, CAMPAIGNS_RESPONSES

router = APIGatewayHttpRouter()
_SHOP = Query(description="the shop the caller means; 403 if the admin key is another shop's")


@router.get(
    "/v1/campaigns",
    cors=False,
    summary="The shop's campaigns",
    tags=["campaigns"],
    description="Every campaign of campaigns/ that applies to the shop, as defined (docs/campaigns.md).",
    responses=CAMPAIGNS_RESPONSES,
)
def list_campaigns(shop: Annotated[str | None, _SHOP] = None):
    config = admin_shop(deps.intake().shops, router.current_event, shop)
    found = [c.model_dump(mode="json", exclude_none=True) for c in deps.campaigns() if c.applies_to(config.shop)]
    return json_response(200, {"shop": config.shop, "campaigns": found})


@router.get(
    "/v1/campaigns/<campaign>/estimate",
    cors=False,
    summary="Who a campaign would ask for now",
    tags=["campaigns"],
    description="The audience's candidates (its segments' member lists, or the channel's reachable segment for a "
    "topic), each decided against the topic, the exclusions (segments, journeys they are in now, a recent order) "
    "and the channel's consent: how many are included, and how many are left out for each reason. At send time "
    "each message still goes through the dispatcher's decisions. Reads every candidate (one BatchGetItem per 100).",
    responses=CAMPAIGN_ESTIMATE_RESPONSES,
)
def estimate_campaign(campaign: str, shop: Annotated[str | None, _SHOP] = None):
    config = admin_shop(deps.intake().shops, router.current_event, shop)
    found = next((c for c in deps.campaigns() if c.id == campaign and c.applies_to(config.shop)), None)
    if found is None:
        raise NotFound(f"no campaign {campaign!r} for shop {config.shop!r}")
    now = deps.wiring().clock.now()
    result = estimate(found, config.shop, deps.audience_reader(), now)
    return json_response(200, {"shop": config.shop, "campaign": found.id, "at": now.isoformat(), **result.view()})
