"""Pools of coupon codes a shop uploads (docs/offers.md#pools-of-codes): what `emma coupons upload|remaining` sends.

    POST /v1/coupons/pools/{pool}   add the codes of a CSV body (text/csv) to the pool
    GET  /v1/coupons/pools/{pool}   how many codes the pool has left

The body is checked whole first (emma.offers.upload): any bad line refuses the request (422, every problem named
``body:LINE: what``) and nothing is stored. Then the codes go into the pool: a code already in it, or handed out
before, is not added again (``already_known``), so sending the same file twice adds nothing. At most
MAX_REQUEST_CODES codes a request, so that the store's writes stay well inside the function's timeout; emma coupons
upload sends a bigger file in parts.

Both take the shop's admin key (Authorization: Bearer <key>); ``shop`` (optional) must name the key's shop.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, Field

from emma.offers.ports import CodePool
from emma.offers.upload import InvalidCodes, check_pool_name, decode, parse_codes
from ingest import deps
from ingest.http import admin_shop, error_body, json_response, raw_body
from ingest.schemas import Error

router = APIGatewayHttpRouter()
_SHOP = Query(description="the shop the caller means; 403 if the admin key is another shop's")
SOURCE = "body"  # how the problems name the request's body: body:LINE
MAX_REQUEST_CODES = 2_000  # a request's codes: two BatchGetItem and four BatchWriteItem per 100, about 2 s
MAX_PROBLEMS = 100  # listed in a refusal's ``problems``; the message names the first 20


class CouponPool(BaseModel):
    pool: str
    remaining: int = Field(description="codes left to hand out (codes past their end are dropped as they come up)")


class CouponUpload(CouponPool):
    received: int = Field(description="codes in the body")
    added: int = Field(description="codes added to the pool")
    already_known: int = Field(description="codes that were in the pool already, or handed out before: not added")


class InvalidCodesError(Error):
    problems: list[str] = Field(description=f"each problem as body:LINE: what (the first {MAX_PROBLEMS})")


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"model": model}}}


_ERRORS = {
    400: _json(Error, "A pool name that is not valid, or a body that cannot be read"),
    401: _json(Error, "Missing or wrong admin key"),
    403: _json(Error, "The admin key belongs to another shop than the one named"),
}
UPLOAD_RESPONSES = {
    200: _json(CouponUpload, "The codes are in the pool (those it knew already were not added again)"),
    **_ERRORS,
    413: _json(Error, f"A body over 4 MB, or over {MAX_REQUEST_CODES:,} codes"),
    422: _json(InvalidCodesError, "Lines of the CSV that are not valid, each named; nothing stored"),
    503: _json(Error, "The store is unavailable; retry (sending the same codes again is safe)"),
}
REMAINING_RESPONSES = {200: _json(CouponPool, "How many codes the pool has left"), **_ERRORS}


def code_pool() -> CodePool:
    return deps.wiring().pools


@router.post(
    "/v1/coupons/pools/<pool>",
    cors=False,
    summary="Add codes to a coupon pool",
    tags=["coupons"],
    description="A CSV body (Content-Type: text/csv, UTF-8): a header row naming the column `code` and optionally "
    "`expires_at` (an ISO date: the code works through that day, UTC; or an ISO time), one code a line, 3 to 64 "
    "printable characters without whitespace; `,`, `;` or tab as delimiter. The body is checked whole: any bad "
    "line refuses it (422, every problem as body:LINE) and nothing is stored. Codes the pool holds already, or "
    f"handed out before, are not added again: the same file twice adds nothing. At most {MAX_REQUEST_CODES:,} "
    "codes a request. The shop's coupons set-up names which pool each template's codes come from (provider pool, "
    "docs/offers.md).",
    responses=UPLOAD_RESPONSES,
)
def upload_codes(pool: str, shop: Annotated[str | None, _SHOP] = None):
    config = admin_shop(deps.intake().shops, router.current_event, shop)
    name = check_pool_name(pool)
    now = deps.intake().service.clock.now()
    try:
        codes = parse_codes(decode(raw_body(router.current_event), SOURCE), SOURCE, now=now, limit=MAX_REQUEST_CODES)
    except InvalidCodes as exc:
        body = error_body(exc.status, exc.code, exc.message, problems=exc.problems[:MAX_PROBLEMS])
        return json_response(exc.status, body)
    store = code_pool()
    added = store.add(config.shop, name, codes)
    view = CouponUpload(
        pool=name,
        received=len(codes),
        added=added,
        already_known=len(codes) - added,
        remaining=store.remaining(config.shop, name),
    )
    return json_response(200, view.model_dump())


@router.get(
    "/v1/coupons/pools/<pool>",
    cors=False,
    summary="How many codes a coupon pool has left",
    tags=["coupons"],
    description="The codes left to hand out (0 for a pool never uploaded to). Below the shop's `low_alarm` each "
    "message that takes a code reports CouponPoolLow (an alarm); with none left, messages with the pool's coupon "
    "are skipped (reason: incentive).",
    responses=REMAINING_RESPONSES,
)
def pool_remaining(pool: str, shop: Annotated[str | None, _SHOP] = None):
    config = admin_shop(deps.intake().shops, router.current_event, shop)
    name = check_pool_name(pool)
    return json_response(200, CouponPool(pool=name, remaining=code_pool().remaining(config.shop, name)).model_dump())
