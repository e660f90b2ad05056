"""The shop's admins bring in their history: what `emma import customers|orders FILE` sends.

    POST /v1/imports/customers/batches   store customer records in backfill mode
    POST /v1/imports/orders/batches      store order records in backfill mode
    POST /v1/imports/conclusions         evaluate the imported profiles, silently

Backfill mode (emma.imports): the records build profiles, aggregates, owned products, affinities and
consent with its proof exactly as live events would, but nothing is published: no trigger fires, no
journey starts, nothing is sent. Once every batch is stored, the profiles the batches answered are
concluded (segments, member lists, lifecycle stage, predictions; then, with ``refit``, the prediction
prior is refitted on the history and the profiles scored again). Every call is idempotent: event ids
come from the records, conclusions are keyed by their ``batch``.

All take the shop's admin key (Authorization: Bearer <key>); ``shop`` (optional) must name the key's shop.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ValidationError

from emma.errors import InvalidPayload, InvalidRecords
from ingest import deps
from ingest.http import admin_shop, json_response, raw_body
from ingest.schemas import CONCLUSION_RESPONSES, IMPORT_BATCH_RESPONSES, Conclusion, CustomerBatch, OrderBatch

router = APIGatewayHttpRouter()
_SHOP = Query(description="the shop the caller means; 403 if the admin key is another shop's")
MAX_ERRORS = 10  # named in one response; the rest are counted
M = TypeVar("M", bound=BaseModel)


def _body(model: type[M]) -> M:
    try:
        data = json.loads(raw_body(router.current_event) or b"null")
    except ValueError as exc:
        raise InvalidPayload(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidPayload("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_where(error.get('loc', ()))}: {error.get('msg')}" for error in exc.errors(include_url=False)]
        more = f" (and {len(problems) - MAX_ERRORS} more)" if len(problems) > MAX_ERRORS else ""
        raise InvalidRecords("; ".join(problems[:MAX_ERRORS]) + more + "; nothing stored") from None


def _where(loc: Any) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@router.post(
    "/v1/imports/customers/batches",
    cors=False,
    summary="Import a batch of customers (backfill)",
    tags=["imports"],
    description="Customer records as `emma import customers` reads them from the shop's export (docs/imports.md): "
    "profiles, identities, traits and consent with its proof, stored without publishing anything. Answers the "
    "profiles the records are on; conclude them (POST /v1/imports/conclusions) once every batch is in. Idempotent.",
    responses=IMPORT_BATCH_RESPONSES,
)
def import_customers(shop: Annotated[str | None, _SHOP] = None):
    config = admin_shop(deps.intake().shops, router.current_event, shop)
    batch = _body(CustomerBatch)
    return json_response(200, deps.importer().store(config.shop, batch.format, batch.records).as_dict())


@router.post(
    "/v1/imports/orders/batches",
    cors=False,
    summary="Import a batch of orders (backfill)",
    tags=["imports"],
    description="Order records as `emma import orders` reads them from the shop's export (docs/imports.md): orders, "
    "their coupons, cancellations and refunds on the customers' profiles (created where new), stored without "
    "publishing anything. Answers the profiles the records are on. Idempotent: an order is one order however often "
    "it is imported.",
    responses=IMPORT_BATCH_RESPONSES,
)
def import_orders(shop: Annotated[str | None, _SHOP] = None):
    config = admin_shop(deps.intake().shops, router.current_event, shop)
    batch = _body(OrderBatch)
    return json_response(200, deps.importer().store(config.shop, batch.format, batch.records).as_dict())


@router.post(
    "/v1/imports/conclusions",
    cors=False,
    summary="Conclude imported profiles (segments, lifecycle, predictions), silently",
    tags=["imports"],
    description="Evaluates the profiles as the rules function would after an event, but publishes nothing: segment "
    "membership, member lists and sizes, lifecycle stage, RFM, predictions, the prior's counters and the next "
    "review timer. `refit` refits the shop's prediction prior first (send it with the first batch of the second "
    "pass, once every profile was concluded). The same `batch` again is a no-op.",
    responses=CONCLUSION_RESPONSES,
)
def conclude(shop: Annotated[str | None, _SHOP] = None):
    config = admin_shop(deps.intake().shops, router.current_event, shop)
    body = _body(Conclusion)
    done = deps.importer().conclude(config.shop, body.profiles, body.batch, refit=body.refit)
    return json_response(200, {"evaluated": done.evaluated, "prior_changed": done.prior_changed})
