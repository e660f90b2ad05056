"""A customer's data for the shop's admins: export and erasure (GDPR Art. 15, 17 and 20), the jobs that
finish them, and the audit trail of both.

    GET    /v1/profiles/{ref}/export        everything Emma holds about the customer, in every table
    DELETE /v1/profiles/{ref}               erase it: 200 when done, 202 + Location when it finishes on schedule
    GET    /v1/privacy/jobs/{id}            an erasure's or data request's job (never the customer's data)
    GET    /v1/privacy/jobs/{id}/export     a data request's export (Shopify customers/data_request)
    PUT    /v1/profiles/{ref}/consent       a consent change the shop records (support, a signed form)
    GET    /v1/privacy/audit?month=YYYY-MM  who exported, erased or changed consent, and when

All take the shop's admin key (Authorization: Bearer <key>); ``shop`` (optional) must name the key's
shop (403 otherwise, and nothing is revealed or deleted).
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import ValidationError

from emma.errors import InvalidConsentChange, InvalidPayload
from emma.events.model import Source, SourceKind, parse_event
from emma.privacy.model import key_id
from emma.shops import ShopConfig
from ingest import deps
from ingest.http import admin_shop, bearer_token, json_response, lower_headers, raw_body, received_at
from ingest.schemas import (
    AUDIT_RESPONSES,
    CONSENT_RESPONSES,
    ERASURE_RESPONSES,
    EXPORT_RESPONSES,
    PRIVACY_EXPORT_RESPONSES,
    PRIVACY_JOB_RESPONSES,
    ConsentChange,
)

router = APIGatewayHttpRouter()
_SHOP = Query(description="the shop the caller means; 403 if the admin key is another shop's")


def _admin(shop: str | None) -> tuple[ShopConfig, str]:
    event = router.current_event
    config = admin_shop(deps.intake().shops, event, shop)
    return config, key_id(bearer_token(lower_headers(event)))


@router.get(
    "/v1/profiles/<ref>/export",
    cors=False,
    summary="Export everything Emma holds about a customer",
    tags=["privacy"],
    description="One JSON document with every item about the customer in every table (GDPR Art. 15 and 20): the "
    "profile and the profiles merged into it, identities, consent with its proof, the event log, the message log "
    "with rendered subjects, coupons and links, journey states, segments, predictions, rules state and timers, "
    "deferred messages. `items` holds them by item type (docs/data-model.md). ref as for GET /v1/profiles/{ref}. "
    "Recorded in the audit trail.",
    responses=EXPORT_RESPONSES,
)
def export_profile(ref: str, shop: Annotated[str | None, _SHOP] = None):
    config, actor = _admin(shop)
    return json_response(200, deps.privacy().export(config, unquote(ref), actor))


@router.delete(
    "/v1/profiles/<ref>",
    cors=False,
    summary="Erase a customer",
    tags=["privacy"],
    description="Deletes every item about the customer in every table, merged-away profiles too; stops their "
    "journeys and cancels deferred messages and timers (GDPR Art. 17). What stays: a suppression of each email "
    "address and phone number as a salted hash, so a later event with the same address does not re-create "
    "marketing consent (only a new double opt-in does). Afterwards every ref answers 404. Idempotent: the same "
    "ref again answers with the same job. 200 when done; 202 with Location when it finishes on the privacy "
    "schedule (within minutes).",
    responses=ERASURE_RESPONSES,
)
def erase_profile(ref: str, shop: Annotated[str | None, _SHOP] = None):
    config, actor = _admin(shop)
    service = deps.privacy()
    outcome = service.erase(config, unquote(ref), actor, budget_seconds=deps.privacy_settings().request_budget_seconds)
    body = {"job": outcome.job.view(), "status_url": f"/v1/privacy/jobs/{outcome.job.job_id}"}
    if outcome.finished:
        return json_response(200, body)
    return json_response(202, body, {"Location": body["status_url"]})


@router.get(
    "/v1/privacy/jobs/<job_id>",
    cors=False,
    summary="A privacy job: an erasure or a data request",
    tags=["privacy"],
    description="Status and counts of an erasure (DELETE /v1/profiles/{ref}, Shopify customers/redact or "
    "shop/redact) or a data request (Shopify customers/data_request). Never the customer's data.",
    responses=PRIVACY_JOB_RESPONSES,
)
def privacy_job(job_id: str, shop: Annotated[str | None, _SHOP] = None):
    config, _ = _admin(shop)
    return json_response(200, {"job": deps.privacy().job(config, job_id).view()})


@router.get(
    "/v1/privacy/jobs/<job_id>/export",
    cors=False,
    summary="The export a data request produced",
    tags=["privacy"],
    description="The document of a finished data request (Shopify customers/data_request), as "
    "GET /v1/profiles/{ref}/export gives it; kept 30 days. 404 while it is not ready.",
    responses=PRIVACY_EXPORT_RESPONSES,
)
def privacy_job_export(job_id: str, shop: Annotated[str | None, _SHOP] = None):
    config, actor = _admin(shop)
    return json_response(200, deps.privacy().exported(config, job_id, actor))


@router.get(
    "/v1/privacy/audit",
    cors=False,
    summary="The shop's privacy audit trail",
    tags=["privacy"],
    description="Exports, erasures, data requests and consent changes made through the admin API or a compliance "
    "webhook, newest first: when, who (the admin key's id, never the key), what, and the subject as a salted "
    "hash (the trail outlives erasures and names nobody).",
    responses=AUDIT_RESPONSES,
)
def audit_log(
    month: Annotated[
        str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM, default: this month")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    shop: Annotated[str | None, _SHOP] = None,
):
    config, _ = _admin(shop)
    entries = deps.privacy().audit_log(config, month, limit)
    return json_response(200, {"shop": config.shop, "entries": [e.model_dump(mode="json") for e in entries]})


@router.put(
    "/v1/profiles/<ref>/consent",
    cors=False,
    summary="Record a consent change for a customer",
    tags=["privacy"],
    description="What the shop's staff record for a customer (a withdrawal by phone, a signed paper form): a "
    "consent change with proof (source admin:<admin key id>, the time, the wording, the request's IP), stored "
    "like every other consent statement (the next message request sees it) and recorded in the audit trail. A "
    "grant needs the wording the customer agreed to; a grant for an email address counts where the shop requires "
    "double opt-in only with double_opt_in true (the customer confirmed elsewhere).",
    responses=CONSENT_RESPONSES,
)
def change_consent(ref: str, shop: Annotated[str | None, _SHOP] = None):
    config, actor = _admin(shop)
    event = router.current_event
    try:
        body = json.loads(raw_body(event) or b"null")
    except ValueError:
        raise InvalidPayload("the body is not JSON") from None
    try:
        change = ConsentChange.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or ("wording" if body and "granted" in body else "body")
        raise InvalidConsentChange(f"{where}: {first.get('msg')}") from None
    intake = deps.intake()
    profile = intake.service.resolve(config.shop, unquote(ref))
    at = received_at(event)
    ip = ((event.raw_event.get("requestContext") or {}).get("http") or {}).get("sourceIp")
    change_id = uuid.uuid4().hex
    proof = {
        "source": f"admin:{actor}",
        "at": at.isoformat(),
        "wording": change.wording or change.note,
        "double_opt_in": change.double_opt_in and change.granted,
        "ip": ip,
    }
    consent = parse_event(
        {
            "id": f"admin:{change_id}:consent:{change.channel}",
            "type": "consent.changed",
            "shop": config.shop,
            "occurred_at": at.isoformat(),
            "received_at": at.isoformat(),
            "source": Source(kind=SourceKind.EMMA, name="admin", delivery_id=change_id).model_dump(),
            "customer": profile.references().model_dump(exclude_none=True),
            "properties": {"channel": change.channel, "granted": change.granted, "proof": proof},
        }
    )
    intake.service.ingest([consent])
    detail = {"channel": change.channel, "granted": change.granted, "double_opt_in": proof["double_opt_in"]}
    deps.privacy().record_consent_change(config, unquote(ref), actor, detail)
    state = intake.service.resolve(config.shop, profile.profile_id).consent.get(change.channel)
    return json_response(
        200,
        {
            "profile_id": profile.profile_id,
            "channel": change.channel,
            "consent": state.model_dump(mode="json") if state else None,
        },
    )
