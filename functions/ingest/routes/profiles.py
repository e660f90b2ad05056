"""Reads for the shop's admins: GET /v1/profiles/{ref}, GET /v1/profiles/{ref}/recommendations,
GET /v1/segments and GET /v1/segments/{segment}/members."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from emma.dispatch.policy import customer_locale
from emma.errors import NotFound
from emma.recommend.service import MAX_LIMIT
from emma.rules.loader import Definitions
from emma.rules.state import MAX_MEMBERS_PAGE
from emma.wiring.definitions import read_definitions
from ingest import deps
from ingest.http import admin_shop, json_response
from ingest.schemas import PROFILE_RESPONSES, RECOMMENDATION_RESPONSES, SEGMENT_MEMBER_RESPONSES, SEGMENT_RESPONSES

CURSOR_PATTERN = r"^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2,3})?$"  # base64url without padding (members_cursor)

router = APIGatewayHttpRouter()


@router.get(
    "/v1/profiles/<ref>",
    cors=False,
    summary="Read a unified customer profile",
    tags=["profiles"],
    description="ref is Emma's profile id (p_...), an email address (or email:<address>), the shop's "
    "customer id (or cid:<id>) or a tracker anonymous id (anon:<id>). Authenticate with "
    "the shop's admin key: Authorization: Bearer <key>. history: newest events from the log; messages: newest "
    "entries of the message log (what the dispatcher decided and sent, with reasons).",
    responses=PROFILE_RESPONSES,
)
def get_profile(
    ref: str, history: Annotated[int, Query(ge=0, le=200)] = 20, messages: Annotated[int, Query(ge=0, le=200)] = 50
):
    intake = deps.intake()
    shop = admin_shop(intake.shops, router.current_event)
    profile = intake.service.resolve(shop.shop, unquote(ref))
    body = deps.reads().view(profile, history=history, messages=messages)
    return json_response(200, body)


@router.get(
    "/v1/profiles/<ref>/recommendations",
    cors=False,
    summary="Recommendations for a customer",
    tags=["profiles"],
    description="What this customer would want next, from the same code the messages' recommendations slot "
    "uses: co-purchase, content affinity (viewed, searched, watched, clicked), accessories compatible with "
    "owned devices, upgrades, new arrivals, trending and popular products, combined per slot. Owned, "
    "out-of-stock, in-cart and recently recommended but unclicked products are left out. locale: de or en "
    "(default: the customer's, else the shop's). Bearer admin key. 404: unknown profile; 400: unknown slot.",
    responses=RECOMMENDATION_RESPONSES,
)
def get_recommendations(
    ref: str,
    slot: Literal["accessories", "cross-sell", "upgrade", "interest", "cart", "new-arrivals"] = "interest",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 4,
    locale: Literal["de", "en"] | None = None,
):
    intake = deps.intake()
    shop = admin_shop(intake.shops, router.current_event)
    profile = intake.service.resolve(shop.shop, unquote(ref))
    language = locale or customer_locale(profile, shop.dispatch)
    exclude = set(profile.cart.items) if profile.cart is not None and slot != "cart" else set()
    result = deps.recommender().explain(shop.shop, profile, slot, limit, exclude, language)
    items = [{**r.item(language), "score": r.score, "strategies": r.strategies} for r in result.items]
    upgrade = profile.upgrade.model_dump(mode="json") if profile.upgrade else None
    return json_response(
        200,
        {
            "profile_id": profile.profile_id,
            "slot": slot,
            "locale": language,
            "items": items,
            "excluded": result.excluded,
            "upgrade": upgrade,
        },
    )


@router.get(
    "/v1/segments",
    cors=False,
    summary="Segment sizes of the shop",
    tags=["segments"],
    description="How many customers are in each segment (and lifecycle stage) right now, kept current by the "
    "triggers function on every event and by the scheduled job as time passes. Bearer admin key.",
    responses=SEGMENT_RESPONSES,
)
def segment_sizes():
    shop = admin_shop(deps.intake().shops, router.current_event)
    sizes = deps.reads().segment_sizes(shop.shop)
    return json_response(200, {"shop": shop.shop, "segments": sizes})


@functools.cache
def _definitions(path: Path) -> Definitions:
    return read_definitions(path)


def _segment_ids(shop: str) -> set[str]:
    """The segments (and lifecycle stages) defined for the shop: definitions.json of the definitions layer."""
    return {s.id for s in _definitions(deps.report_settings().definitions).for_shop(shop).segments}


@router.get(
    "/v1/segments/<segment>/members",
    cors=False,
    summary="Members of a segment, searchable",
    tags=["segments"],
    description="Who is in the segment (or lifecycle stage) now, sorted by email (else the shop's customer id, "
    "else the profile id), kept by the triggers function as customers enter and leave; never a scan. q: only "
    "members whose email (else customer id, else profile id) starts with it, case-insensitively (q=anna finds "
    "anna@example.de). limit: members per page (1-200). cursor: next_cursor of the previous page (with the same "
    "q). Members who entered before member lists were kept appear once the triggers function next evaluates "
    "them (docs/segments.md). Bearer admin key. 404: no such segment in this shop.",
    responses=SEGMENT_MEMBER_RESPONSES,
)
def segment_members(
    segment: str,
    q: Annotated[str | None, Query(max_length=254)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_MEMBERS_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=1400, pattern=CURSOR_PATTERN)] = None,
):
    shop = admin_shop(deps.intake().shops, router.current_event)
    segment = unquote(segment)
    if segment not in _segment_ids(shop.shop):
        raise NotFound(f"no segment {segment!r} in shop {shop.shop!r}")
    members, next_cursor = deps.reads().segment_members(shop.shop, segment, q, limit, cursor)
    body = {"shop": shop.shop, "segment": segment, "query": q, "members": members, "next_cursor": next_cursor}
    return json_response(200, body)
