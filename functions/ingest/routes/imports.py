"""The shop's admins bring in their history: what `emma import customers|orders FILE` sends.

    POST /v1/imports/customers/batches   store customer records in backfill mode
    POST /v1/imports/orders/batches      store order records in backfill mode
    POST /v1/imports/conclusions         evaluate the imported profiles, silently
    POST /v1/imports/uploads             a presigned URL to upload a file to the imports bucket
    POST /v1/imports                     import a file of the bucket on the import state machine (202)
    GET  /v1/imports/{job}               where that import stands

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
import uuid
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ValidationError

from emma.errors import Forbidden, InvalidPayload, InvalidRecords, NotConfigured, NotFound
from emma.imports.files import Options
from emma.imports.model import TIME_REFUSED, ImportKind, refused_time
from ingest import deps
from ingest.http import admin_shop, json_response, raw_body
from ingest.schemas import (
    CONCLUSION_RESPONSES,
    IMPORT_BATCH_RESPONSES,
    IMPORT_JOB_RESPONSES,
    IMPORT_START_RESPONSES,
    UPLOAD_RESPONSES,
    Conclusion,
    CustomerBatch,
    ImportRequest,
    OrderBatch,
    UploadRequest,
)

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
    return _store(shop, CustomerBatch)


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
    return _store(shop, OrderBatch)


def _store(shop: str | None, model: type[CustomerBatch] | type[OrderBatch]):
    """A batch of records stored in backfill mode (the admin key checked before the body is read)."""
    config = admin_shop(deps.intake().shops, router.current_event, shop)
    batch = _body(model)
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
    done = deps.importer().conclude(config.shop, body.profiles, body.batch, body.refit, body.scored_with)
    return json_response(200, {"evaluated": done.evaluated, "prior_changed": done.prior_changed, "prior": done.prior})


# Presigned with the function's temporary credentials, which may expire sooner than a long URL would.
UPLOAD_SECONDS = 900


def _file_imports():
    found = deps.file_imports()
    if found is None:
        raise NotConfigured("imports of files are not set up in this deployment (no imports bucket or state machine)")
    return found


def _job_view(job, execution) -> dict[str, Any]:
    view = job.model_dump(mode="json", include=set(IMPORT_VIEW_FIELDS))
    failed = execution is not None and execution.get("status") in ("FAILED", "TIMED_OUT", "ABORTED")
    if failed and view["status"] != "invalid":
        view["status"] = "failed"
    view["execution"] = execution
    return view


IMPORT_VIEW_FIELDS = (
    "job",
    "shop",
    "kind",
    "key",
    "status",
    "records",
    "records_done",
    "parts",
    "parts_done",
    "accepted",
    "duplicates",
    "profiles",
    "concluded",
    "rescored",
    "errors",
    "error_count",
)


@router.post(
    "/v1/imports/uploads",
    cors=False,
    summary="Where to upload a file to import",
    tags=["imports"],
    description="A presigned URL to PUT the file to the imports bucket, under the shop's uploads (the file never "
    "passes through the API: any size). Then POST /v1/imports with the key. Uploads expire after 7 days.",
    responses=UPLOAD_RESPONSES,
)
def upload(shop: Annotated[str | None, _SHOP] = None):
    config = admin_shop(deps.intake().shops, router.current_event, shop)
    body = _body(UploadRequest)
    _, files = _file_imports()
    key = f"{config.shop}/uploads/{uuid.uuid4().hex}/{body.file}"
    url = files.upload_url(key, UPLOAD_SECONDS)
    return json_response(200, {"key": key, "url": url, "expires_in": UPLOAD_SECONDS})


@router.post(
    "/v1/imports",
    cors=False,
    summary="Import a file uploaded to the imports bucket",
    tags=["imports"],
    description="Starts the import state machine on the file: the whole file is checked first (a file with "
    "problems imports nothing and the job lists them as FILE:LINE), then stored in parts by a Distributed Map in "
    "backfill mode (nothing published, no trigger, no journey, no message), then every profile concluded "
    "(segments, lifecycle, predictions). 202 with Location; the same file again answers the same job.",
    responses=IMPORT_START_RESPONSES,
)
def start_import(shop: Annotated[str | None, _SHOP] = None):
    config = admin_shop(deps.intake().shops, router.current_event, shop)
    body = _body(ImportRequest)
    uploads = f"{config.shop}/uploads/"
    if not body.key.startswith(uploads) or ".." in body.key.split("/"):
        raise Forbidden(f"the key must be one of shop {config.shop!r}'s uploads ({uploads}...)")
    options = _options(body)
    imports, _ = _file_imports()
    job = imports.start(config.shop, ImportKind(body.kind), body.key, body.format, options)
    if job is None:
        raise NotFound(f"no file {body.key!r} in the imports bucket (upload it first: POST /v1/imports/uploads)")
    found = imports.get(config.shop, job.job)
    assert found is not None
    location = f"/v1/imports/{job.job}"
    return json_response(202, _job_view(*found), headers={"Location": location})


def _options(body: ImportRequest) -> dict[str, Any]:
    """The file's options as the import will read them: a timezone or date that would fail the import later is
    refused now (422)."""
    try:
        ZoneInfo(body.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRecords(f"timezone: {body.timezone!r} is not an IANA time zone (Europe/Berlin)") from None
    if body.consent_as_of is not None:
        try:
            as_of = Options.of({"consent_as_of": body.consent_as_of}).consent_as_of
        except ValueError:
            raise InvalidRecords(f"consent_as_of: {body.consent_as_of!r} is not a date (YYYY-MM-DD)") from None
        if as_of is not None and refused_time(as_of):
            raise InvalidRecords(f"consent_as_of: {body.consent_as_of!r}: {TIME_REFUSED}")
    return {"consent_as_of": body.consent_as_of, "currency": body.currency, "timezone": body.timezone}


@router.get(
    "/v1/imports/<job>",
    cors=False,
    summary="Where an import of a file stands",
    tags=["imports"],
    description="The job's status (checking, invalid, storing, concluding, rescoring, done; failed when its "
    "execution failed), the records and parts stored, the profiles concluded, and for a file that was refused "
    "the first problems as FILE:LINE: reason.",
    responses=IMPORT_JOB_RESPONSES,
)
def get_import(job: str, shop: Annotated[str | None, _SHOP] = None):
    config = admin_shop(deps.intake().shops, router.current_event, shop)
    imports, _ = _file_imports()
    found = imports.get(config.shop, job)
    if found is None:
        raise NotFound(f"no import job {job!r} in shop {config.shop!r}")
    return json_response(200, _job_view(*found))
