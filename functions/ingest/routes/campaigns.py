"""The shop's campaigns (campaigns/*.yaml, emma.campaigns) for its admins: what is defined and who it is for.

    GET  /v1/campaigns                        the campaigns that apply to the shop, as defined
    GET  /v1/campaigns/{id}/estimate          who the campaign would ask for now, and why the others are left out
    POST /v1/campaigns/{id}/start             start the run of its schedule's day (a second start: a no-op)
    POST /v1/campaigns/{id}/pause             pause / resume / cancel the run in progress
    POST /v1/campaigns/{id}/resume
    POST /v1/campaigns/{id}/cancel
    POST /v1/campaigns/{id}/test              test sends to the campaign's seed list
    GET  /v1/campaigns/{id}/runs              its runs, newest first
    GET  /v1/campaigns/{id}/runs/{run}        where a run stands, live ("latest": the newest)

Each takes the shop's admin key; ``shop`` (optional) must name the key's shop (docs/campaigns.md).
"""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import ValidationError

from emma.campaigns.audience import estimate
from emma.campaigns.runs import RunState
from emma.campaigns.service import CampaignService
from emma.errors import InvalidPayload, NotConfigured, NotFound
from ingest import deps
from ingest.http import admin_shop, json_response, raw_body
from ingest.schemas import (
    CAMPAIGN_COMMAND_RESPONSES,
    CAMPAIGN_ESTIMATE_RESPONSES,
    CAMPAIGN_PROGRESS_RESPONSES,
    CAMPAIGN_RUNS_RESPONSES,
    CAMPAIGN_START_RESPONSES,
    CAMPAIGN_TEST_RESPONSES,
    CAMPAIGNS_RESPONSES,
    CampaignTestBody,
)

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


RUN_ID = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RUN_FIELDS = {"version", "cursor", "offset", "held", "shards_selected", "sample_done_at", "updated_at"}


def run_view(run: RunState) -> dict[str, object]:
    return run.model_dump(mode="json", exclude=_RUN_FIELDS)


def _sending(shop: str | None) -> tuple[str, CampaignService]:
    """The admin's shop and the campaign service, where campaigns can be sent (a state machine is deployed)."""
    config = admin_shop(deps.intake().shops, router.current_event, shop)
    if not deps.campaign_settings().campaign_machine:
        raise NotConfigured("campaign sending is not set up in this deployment (no campaign state machine)")
    return config.shop, deps.campaign_service()


@router.post(
    "/v1/campaigns/<campaign>/start",
    cors=False,
    summary="Start a campaign",
    tags=["campaigns"],
    description="Creates the run of the schedule's day (`now`: today's; `at`: the next such time; recurring: the "
    "next day it recurs on) and starts it on the campaign state machine: at its time the audience is decided and "
    "handed to the dispatcher at the campaign's rate, each recipient once. A second start of the same run changes "
    "nothing (200, `started: false`). For a recurring campaign this turns the recurrence on.",
    responses=CAMPAIGN_START_RESPONSES,
)
def start_campaign(campaign: str, shop: Annotated[str | None, _SHOP] = None):
    shop_id, service = _sending(shop)
    started = service.start(shop_id, campaign)
    return json_response(202 if started.started else 200, {"started": started.started, "run": run_view(started.run)})


def _command(name: str, campaign: str, shop: str | None):
    shop_id, service = _sending(shop)
    return json_response(200, run_view(getattr(service, name)(shop_id, campaign)))


@router.post(
    "/v1/campaigns/<campaign>/pause",
    cors=False,
    summary="Pause the campaign's run in progress",
    tags=["campaigns"],
    description="No more waves go out; messages already handed to the dispatcher are held back (deferred, looked "
    "at again every 5 minutes) until the run is resumed. Pausing a paused run changes nothing.",
    responses=CAMPAIGN_COMMAND_RESPONSES,
)
def pause_campaign(campaign: str, shop: Annotated[str | None, _SHOP] = None):
    return _command("pause", campaign, shop)


@router.post(
    "/v1/campaigns/<campaign>/resume",
    cors=False,
    summary="Resume the campaign's paused run",
    tags=["campaigns"],
    description="The run goes on where it stopped; nobody gets its message twice.",
    responses=CAMPAIGN_COMMAND_RESPONSES,
)
def resume_campaign(campaign: str, shop: Annotated[str | None, _SHOP] = None):
    return _command("resume", campaign, shop)


@router.post(
    "/v1/campaigns/<campaign>/cancel",
    cors=False,
    summary="Cancel the campaign's run in progress (and its recurrence)",
    tags=["campaigns"],
    description="Stops the run for good and a recurring campaign's next runs; messages already handed to the "
    "dispatcher are skipped with the reason. Cancelling a cancelled run changes nothing.",
    responses=CAMPAIGN_COMMAND_RESPONSES,
)
def cancel_campaign(campaign: str, shop: Annotated[str | None, _SHOP] = None):
    return _command("cancel", campaign, shop)


@router.post(
    "/v1/campaigns/<campaign>/test",
    cors=False,
    summary="Test sends to the campaign's seed list",
    tags=["campaigns"],
    description="The campaign's email rendered for a real customer (`profile_id`, else the audience's first) and "
    "sent to each address of its `test.seeds` only, one per A/B subject, subject prefixed `[Test]`. Nothing is "
    "decided or recorded on the customer; the mail's links name no customer.",
    responses=CAMPAIGN_TEST_RESPONSES,
)
def test_campaign(campaign: str, shop: Annotated[str | None, _SHOP] = None):
    config = admin_shop(deps.intake().shops, router.current_event, shop)
    if not deps.campaign_settings().messages_queue_url:
        raise NotConfigured("test sends are not set up in this deployment (no messages queue)")
    raw = raw_body(router.current_event) or b"{}"
    try:
        body = CampaignTestBody.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise InvalidPayload(f"{where}: {first.get('msg')}") from None
    return json_response(202, deps.campaign_service().test(config.shop, campaign, body.profile_id))


@router.get(
    "/v1/campaigns/<campaign>/runs",
    cors=False,
    summary="A campaign's runs",
    tags=["campaigns"],
    description="Its runs for the shop, newest first (the 20 newest).",
    responses=CAMPAIGN_RUNS_RESPONSES,
)
def campaign_runs(campaign: str, shop: Annotated[str | None, _SHOP] = None):
    config = admin_shop(deps.intake().shops, router.current_event, shop)
    runs = deps.campaign_service().history(config.shop, campaign)
    return json_response(200, {"shop": config.shop, "campaign": campaign, "runs": [run_view(r) for r in runs]})


@router.get(
    "/v1/campaigns/<campaign>/runs/<run>",
    cors=False,
    summary="Where a campaign run stands, live",
    tags=["campaigns"],
    description="Its status, the audience decided (with the reasons customers were left out), how many were handed "
    "to the dispatcher, and what the dispatcher and the customers did with them from analytics' counters: sent, "
    "skipped by stage, delivered, opened, clicked, orders, per A/B variant, and the time the rest takes. `latest`: "
    "the newest run.",
    responses=CAMPAIGN_PROGRESS_RESPONSES,
)
def campaign_progress(campaign: str, run: str, shop: Annotated[str | None, _SHOP] = None):
    config = admin_shop(deps.intake().shops, router.current_event, shop)
    if run != "latest" and not RUN_ID.match(run):
        raise NotFound(f"campaign {campaign!r} has no run {run[:40]!r} (runs are named YYYY-MM-DD)")
    view = deps.campaign_service().progress(config.shop, campaign, None if run == "latest" else run)
    return json_response(200, {k: v for k, v in view.items() if k not in _RUN_FIELDS})
