"""Models that document the API in OpenAPI. Requests are parsed by emma.sources (raw bytes are
needed for signatures and partial batch acceptance), so these describe, they do not validate."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emma.events.model import ProductInfo
from emma.imports.model import CustomerRecord, OrderRecord
from emma.profiles.model import Profile
from ingest.tracking import TRACKER_PATHS

# ---- Tracking request bodies (JSON Schema, exactly what the tracker routes accept) -----------------
# Written as JSON Schema rather than pydantic models: "userId or anonymousId" and the fields each call
# type needs are conditions pydantic cannot state. tests/e2e/test_openapi_conformance.py holds the
# routes to them (every body valid here is accepted, nothing answers 5xx, every answer is documented).

NON_BLANK = r"\S"  # at least one character that is not whitespace (Python's str.isspace)
_ID_TEXT = {"type": "string", "maxLength": 256}


def _id(description: str) -> dict[str, Any]:
    return {
        "description": f"{description}. A string (at most 256 characters; blank is the same as absent) or an integer",
        "anyOf": [_ID_TEXT, {"type": "integer"}, {"type": "null"}],
    }


_GIVEN_ID = {"anyOf": [{**_ID_TEXT, "pattern": NON_BLANK}, {"type": "integer"}]}
_TIME = {
    "description": "ISO 8601 / RFC 3339 (Z or an offset; naive times are UTC), or seconds since the epoch. A time "
    "that cannot be placed in years 1-9999 UTC is ignored (the call keeps the time it was received, and "
    "`extra._ignored` says why)",
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "number", "minimum": -62135596800, "maximum": 253402300799},
        {"type": "null"},
        {"const": ""},
    ],
}
_OBJECT = {"anyOf": [{"type": "object"}, {"type": "null"}]}
COMMON_CALL_FIELDS: dict[str, Any] = {
    "messageId": {
        "description": "Idempotency key: calls with the same id are stored once (without one: a hash of the call)",
        "anyOf": [{"type": "string", "maxLength": 200}, {"type": "integer"}, {"type": "null"}],
    },
    "userId": _id("The shop's customer id"),
    "anonymousId": _id("The visitor's anonymous id"),
    "timestamp": _TIME,
    "originalTimestamp": _TIME,
    "sentAt": _TIME,
    "context": {**_OBJECT, "description": "Segment's context (page, campaign, library, ip, locale, traits, consent)"},
    "integrations": {"description": "Ignored"},
    "writeKey": {"type": "string", "description": "The shop's write key, as an alternative to HTTP Basic"},
    "type": {"type": "string", "description": "Ignored on the single-call paths (the path names the call type)"},
}
_WHO = [{"required": ["userId"], "properties": {"userId": _GIVEN_ID}}]
_WHO.append({"required": ["anonymousId"], "properties": {"anonymousId": _GIVEN_ID}})


def _call(name: str, summary: str, fields: dict[str, Any], required: list[str], who: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "title": name,
        "description": summary,
        "type": "object",
        "properties": {**COMMON_CALL_FIELDS, **fields},
        "required": required,
        "additionalProperties": True,
    }
    if who:
        schema["anyOf"] = _WHO
    return schema


TRACKER_CALL_SCHEMAS: dict[str, dict[str, Any]] = {
    "track": _call(
        "TrackCall",
        "A user action (https://segment.com/docs/connections/spec/track/): any event name, any properties. "
        "Names Emma knows are mapped, the rest are stored as custom events (docs/tracking.md)",
        {
            "event": {"type": "string", "pattern": NON_BLANK, "maxLength": 512, "description": "The event name"},
            "properties": _OBJECT,
        },
        ["event"],
    ),
    "identify": _call(
        "IdentifyCall",
        "Who the user is (https://segment.com/docs/connections/spec/identify/); traits are kept whole",
        {"traits": _OBJECT},
        [],
    ),
    "page": _call(
        "PageCall",
        "A page view (https://segment.com/docs/connections/spec/page/)",
        {"name": {"description": "The page name"}, "category": {}, "properties": _OBJECT},
        [],
    ),
    "screen": _call(
        "ScreenCall",
        "A screen view in an app (https://segment.com/docs/connections/spec/screen/)",
        {"name": {"description": "The screen name"}, "properties": _OBJECT},
        [],
    ),
    "alias": _call(
        "AliasCall",
        "Links a previous id to the user id (https://segment.com/docs/connections/spec/alias/)",
        {"previousId": {**_GIVEN_ID, "description": "The earlier (anonymous) id"}, "userId": _GIVEN_ID},
        ["previousId", "userId"],
        who=False,
    ),
    "group": _call(
        "GroupCall",
        "Associates the user with a group (https://segment.com/docs/connections/spec/group/); stored as a "
        "custom event 'group'",
        {"groupId": _id("The group's id"), "traits": _OBJECT},
        [],
    ),
}


def _batch_item(call_type: str) -> dict[str, Any]:
    schema = {k: v for k, v in TRACKER_CALL_SCHEMAS[call_type].items() if k not in ("title", "description")}
    properties = {**schema["properties"], "type": {"const": call_type}}
    return {**schema, "properties": properties, "required": ["type", *schema["required"]]}


TRACKER_BATCH_SCHEMA: dict[str, Any] = {
    "title": "Batch",
    "description": "Up to 2,500 calls (https://segment.com/docs/connections/sources/catalog/libraries/server/"
    "http-api/#batch). Calls that do not match their type's schema are listed in `rejected`, not stored; the "
    "batch is still answered 200. Each call may carry its own `writeKey` (analytics.js does)",
    "type": "object",
    "properties": {
        "batch": {
            "type": "array",
            "maxItems": 2500,
            "items": {"oneOf": [_batch_item(t) for t in TRACKER_CALL_SCHEMAS]},
        },
        "context": {**_OBJECT, "description": "Context shared by every call (a call's own context wins)"},
        "sentAt": _TIME,
        "writeKey": COMMON_CALL_FIELDS["writeKey"],
        "integrations": {"description": "Ignored"},
    },
    "required": ["batch"],
    "additionalProperties": True,
}


class Accepted(BaseModel):
    success: bool = True
    accepted: int = Field(description="events stored by this request")
    duplicates: int = Field(description="events seen before (stored once, not published again)")
    published: int
    skipped: int = Field(
        0, description="events with no customer reference at all (e.g. a POS order without a customer)"
    )


class Rejected(BaseModel):
    index: int
    messageId: str | None
    error: str = Field(description="why this call was refused (nothing of it is stored)")
    code: int = Field(400, description="the HTTP status it would have had alone: 400 invalid, 401 unknown write key")


class BatchAccepted(Accepted):
    rejected: list[Rejected] = Field(default_factory=list)


class WebhookAccepted(Accepted):
    topic: str
    delivery_id: str


class WebhookPing(BaseModel):
    """WooCommerce's test delivery when a webhook is created (``webhook_id=<id>``): acknowledged, nothing stored."""

    success: bool = True
    ping: bool = True


WEBHOOK_HEADERS: list[dict[str, Any]] = [
    {
        "in": "header",
        "name": name,
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }
    for name, description in (
        ("X-Shopify-Hmac-Sha256", "shopify: base64 HMAC-SHA256 of the body with the app's secret"),
        ("X-Shopify-Topic", "shopify: the topic, e.g. orders/create (an unsupported one is 422)"),
        ("X-Shopify-Webhook-Id", "shopify: the delivery id (idempotency key)"),
        ("X-Shopify-Shop-Domain", "shopify: the store; must be the shop's configured domain"),
        ("X-WC-Webhook-Signature", "woocommerce: base64 HMAC-SHA256 of the body with the webhook's secret"),
        ("X-WC-Webhook-Topic", "woocommerce: the topic, e.g. order.created"),
        ("X-WC-Webhook-Delivery-ID", "woocommerce: the delivery id"),
        ("shopware-shop-signature", "shopware: hex HMAC-SHA256 of the body with the app secret"),
    )
]


class Error(BaseModel):
    error: str = Field(description="machine-readable code, e.g. invalid_signature")
    code: int = Field(description="the HTTP status, as Segment-compatible clients (RudderStack's) read it")
    message: str


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"model": model}}}


PROFILE_RESPONSES = {
    200: _json(
        Profile,
        "The unified profile with its segments, lifecycle stage, predictions, `journeys` (where it stands in "
        "each, since when, and a log of what Emma did there) and `history` (newest first)",
    ),
    401: _json(Error, "Missing or wrong admin key"),
    404: _json(Error, "No such profile in this shop"),
}


class SegmentSizes(BaseModel):
    shop: str
    segments: dict[str, int] = Field(description="segment id -> customers in it")


SEGMENT_RESPONSES = {200: _json(SegmentSizes, "Current sizes"), 401: _json(Error, "Missing or wrong admin key")}


class SegmentMember(BaseModel):
    profile_id: str
    email: str | None = Field(description="the customer's primary email when they entered (or it last changed)")
    customer_id: str | None = Field(description="the shop's customer id, if known")
    since: str | None = Field(
        description="ISO 8601 time the customer entered the segment; null for members who entered before "
        "member lists were kept"
    )


class SegmentMembers(BaseModel):
    shop: str
    segment: str
    query: str | None = Field(description="the search, as asked")
    members: list[SegmentMember] = Field(description="sorted by email (else customer id, else profile id)")
    next_cursor: str | None = Field(description="pass as cursor for the next page; null after the last page")


SEGMENT_MEMBER_RESPONSES = {
    200: _json(SegmentMembers, "A page of the segment's members"),
    400: _json(Error, "A limit out of range, or a malformed cursor or search"),
    401: _json(Error, "Missing or wrong admin key"),
    404: _json(Error, "No such segment in this shop"),
}

TRACKER_REQUEST_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    (path, "post"): TRACKER_BATCH_SCHEMA if call == "batch" else TRACKER_CALL_SCHEMAS[call]
    for call, paths in TRACKER_PATHS.items()
    for path in paths
}


class RecommendedItem(BaseModel):
    product_id: str
    title: str
    url: str | None
    price: str | None = Field(description="formatted in the customer's language, with currency")
    reason: str = Field(description="why this product, in the customer's language")
    strategy: str = Field(description="the strategy that contributed most: accessory, co, affinity, upgrade, ...")
    partner: str | None = Field(description="set for a partner's offer")
    score: float
    strategies: dict[str, float] = Field(description="each contributing strategy's weighted score")


class Recommendations(BaseModel):
    profile_id: str
    slot: str
    locale: str
    items: list[RecommendedItem]
    excluded: dict[str, int] = Field(description="candidates left out, by reason (owned, out of stock, ...)")
    upgrade: dict | None = Field(description="the profile's upgrade timing estimate")


RECOMMENDATION_RESPONSES = {
    200: _json(Recommendations, "Recommendations for this customer, best first, each with its reason"),
    401: _json(Error, "Missing or wrong admin key"),
    404: _json(Error, "No such profile in this shop"),
    400: _json(Error, "Unknown slot, locale or a limit out of range"),
}


class ExportSummary(BaseModel):
    profile_ids: list[str]
    emails: list[str] = []
    phones: list[str] = []
    items: dict[str, int] = Field(description="items exported, by item type")


class ProfileExport(BaseModel):
    format: str = Field(description="emma.export/1")
    shop: str
    exported_at: str
    profile_id: str | None
    summary: ExportSummary
    profiles: list[dict] = Field(default_factory=list, description="the profile and those merged into it")
    consent: dict = Field(default_factory=dict, description="profile id -> channel -> consent with its proof")
    items: dict[str, list[dict]] = Field(
        default_factory=dict, description="item type -> the stored items, decoded (docs/data-model.md)"
    )


class PrivacyJobView(BaseModel):
    job_id: str
    shop: str
    kind: str = Field(description="export, erase or erase_shop")
    status: str = Field(description="pending, running, done or failed")
    actor: str
    subject: str = Field(description="salted hash of the reference")
    created_at: str
    updated_at: str
    finished_at: str | None
    steps: list[str]
    counts: dict[str, int] = Field(description="items exported or erased, by item type")
    stopped_executions: int
    suppressed: int = Field(description="addresses kept as salted hashes")
    note: str | None
    notify: bool
    generation: int = Field(description="erasures of the same reference before this one (the customer came back)")
    attempts: int = Field(description="failed runs on the privacy schedule (failed after 12)")


class PrivacyJobAnswer(BaseModel):
    job: PrivacyJobView
    status_url: str | None = None


class AuditEntryView(BaseModel):
    entry_id: str
    shop: str
    at: str
    action: str
    actor: str
    subject: str
    detail: dict


class AuditTrail(BaseModel):
    shop: str
    entries: list[AuditEntryView]


class ConsentChange(BaseModel):
    """PUT /v1/profiles/{ref}/consent. Validated by the route itself (after the admin key is checked)."""

    model_config = ConfigDict(
        extra="forbid",
        # a grant names the wording the customer agreed to (the document says so, the route checks it)
        json_schema_extra={
            "if": {"properties": {"granted": {"const": True}}},
            "then": {"required": ["wording"], "properties": {"wording": {"type": "string"}}},
        },
    )
    channel: Literal["email", "sms", "push"]
    granted: bool
    wording: str | None = Field(None, min_length=1, max_length=2000, description="required for a grant")
    double_opt_in: bool = Field(False, description="the customer confirmed the address elsewhere (grants only)")
    note: str | None = Field(None, max_length=500, description="why, for the audit (kept as the proof's wording)")

    @model_validator(mode="after")
    def _a_grant_has_wording(self) -> ConsentChange:
        if self.granted and not self.wording:
            raise ValueError("a grant needs the wording the customer agreed to")
        return self


class ConsentRecorded(BaseModel):
    profile_id: str
    channel: str
    consent: dict | None = Field(description="the channel's consent state now, with its proof")


_ADMIN_ERRORS = {
    401: _json(Error, "Missing or wrong admin key"),
    403: _json(Error, "The admin key belongs to another shop than the one named"),
}
EXPORT_RESPONSES = {
    200: _json(ProfileExport, "Everything Emma holds about the customer"),
    **_ADMIN_ERRORS,
    404: _json(Error, "No such profile in this shop"),
}
ERASURE_RESPONSES = {
    200: _json(PrivacyJobAnswer, "Erased (or erased before by the same ref): the job with its counts"),
    202: _json(PrivacyJobAnswer, "Erasure under way; it finishes on the privacy schedule (Location: the job)"),
    **_ADMIN_ERRORS,
    404: _json(Error, "No such profile in this shop"),
    503: _json(Error, "A dependency is unavailable; retry (the erasure resumes where it stopped)"),
}
PRIVACY_JOB_RESPONSES = {
    200: _json(PrivacyJobAnswer, "The job"),
    **_ADMIN_ERRORS,
    404: _json(Error, "No such job in this shop"),
}
PRIVACY_EXPORT_RESPONSES = {
    200: _json(ProfileExport, "The export"),
    **_ADMIN_ERRORS,
    404: _json(Error, "No such job, or its export is not ready"),
}
CONSENT_RESPONSES = {
    200: _json(ConsentRecorded, "Recorded (and in the audit trail)"),
    400: _json(Error, "Malformed JSON"),
    **_ADMIN_ERRORS,
    404: _json(Error, "No such profile in this shop"),
    422: _json(Error, "An invalid change, named by field (a grant without wording, an unknown channel)"),
}
AUDIT_RESPONSES = {200: _json(AuditTrail, "The month's entries, newest first"), **_ADMIN_ERRORS}


class CatalogImport(BaseModel):
    """PUT /v1/catalog/products. Validated by the route itself (after the admin key is checked)."""

    model_config = ConfigDict(extra="forbid")
    products: list[ProductInfo] = Field(min_length=1, max_length=100, description="1 to 100 products")


class CatalogImported(BaseModel):
    received: int = Field(description="products in the request")
    stored: int = Field(description="products stored now (new or changed)")
    duplicates: int = Field(description="products imported before with exactly this content")


CATALOG_RESPONSES = {
    200: _json(CatalogImported, "Stored (or recognised as duplicates)"),
    400: _json(Error, "Malformed JSON or not an object with products"),
    401: _json(Error, "Missing or wrong admin key"),
    403: _json(Error, "The admin key belongs to another shop than the one named"),
    413: _json(Error, "Body over 4 MB once decompressed"),
    422: _json(Error, "An invalid product, named by index and field (products[3].price: ...); nothing stored"),
    503: _json(Error, "A dependency is unavailable; retry (the import is idempotent)"),
}


class CustomerBatch(BaseModel):
    """POST /v1/imports/customers/batches: records as `emma import customers` reads them from a shop's export."""

    model_config = ConfigDict(extra="forbid")
    format: str = Field(
        pattern=r"^[a-z][a-z0-9-]{1,30}$", description="the export's format: shopify, woocommerce, emma"
    )
    records: list[CustomerRecord] = Field(min_length=1, max_length=1000, description="1 to 1,000 customers")


class OrderBatch(BaseModel):
    """POST /v1/imports/orders/batches: records as `emma import orders` reads them from a shop's export."""

    model_config = ConfigDict(extra="forbid")
    format: str = Field(
        pattern=r"^[a-z][a-z0-9-]{1,30}$", description="the export's format: shopify, woocommerce, emma"
    )
    records: list[OrderRecord] = Field(min_length=1, max_length=1000, description="1 to 1,000 orders")


class BatchStored(BaseModel):
    accepted: int = Field(description="events stored now")
    duplicates: int = Field(description="events stored before (the batch, or part of it, was imported already)")
    skipped: int = Field(description="events naming no customer")
    merges: int = Field(description="profiles merged because the records connected them")
    erased: int = Field(0, description="customers left out: an address of theirs belongs to a customer erased in Emma")
    profiles: list[str] = Field(
        description="the profiles the batch's events are on: conclude them after the last batch"
    )


class Conclusion(BaseModel):
    """POST /v1/imports/conclusions: evaluate imported profiles silently (segments, lifecycle, predictions)."""

    model_config = ConfigDict(extra="forbid")
    batch: str = Field(
        pattern=r"^[A-Za-z0-9:_-]{1,120}$", description="names this unit of work: the same batch again is a no-op"
    )
    profiles: list[Annotated[str, Field(pattern=r"^p_[0-9a-f]{32}$")]] = Field(
        min_length=1, max_length=500, description="1 to 500 profile ids, as the batches answered them"
    )
    refit: bool = Field(False, description="refit the shop's prediction prior first (once all profiles are concluded)")
    scored_with: dict[str, Any] | None = Field(
        None, description="with refit: the prior the first pass answered (`prior`); the refit is compared with it"
    )


class Concluded(BaseModel):
    evaluated: int = Field(description="profiles evaluated (or found evaluated by this batch before)")
    prior_changed: bool | None = Field(
        description="with refit: whether the refitted prior differs (if not, scoring again changes nothing)"
    )
    prior: dict | None = Field(description="the prediction prior the profiles were scored with")


class UploadRequest(BaseModel):
    """POST /v1/imports/uploads: where to put a file to import."""

    model_config = ConfigDict(extra="forbid")
    file: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,120}$", description="the file's name (kept in the key, for people)"
    )


class Upload(BaseModel):
    key: str = Field(description="the object's key in the imports bucket: name it in POST /v1/imports")
    url: str = Field(description="a presigned URL: PUT the file's bytes to it (curl -T FILE URL)")
    expires_in: int = Field(description="seconds the URL is valid")


class ImportRequest(BaseModel):
    """POST /v1/imports: import a file uploaded to the imports bucket, on the import state machine."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["customers", "orders"]
    key: str = Field(min_length=3, max_length=1024, description="the key POST /v1/imports/uploads answered")
    format: Literal["shopify", "woocommerce", "emma"] | None = Field(None, description="default: from the header")
    consent_as_of: str | None = Field(
        None,
        max_length=40,
        description="the export's date (YYYY-MM-DD or an ISO 8601 time), for exports whose consent column has no "
        "date (Shopify): the proof's time",
    )
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", description="for exports without a currency column")
    timezone: str = Field("UTC", max_length=64, description="for times without an offset (the shop's)")


class ImportJobView(BaseModel):
    job: str
    shop: str
    kind: str
    key: str
    status: str = Field(description="checking, invalid, storing, concluding, rescoring, done (or failed: execution)")
    execution: dict | None = Field(description="the state machine's execution: status, error, cause")
    records: int
    records_done: int
    parts: int
    parts_done: int
    accepted: int
    duplicates: int
    profiles: int
    concluded: int
    rescored: int
    errors: list[str] = Field(description="FILE:LINE: reason, the first problems of a file that was refused")
    error_count: int


IMPORT_START_RESPONSES = {
    202: _json(ImportJobView, "Started (or started before: the same file is the same job); follow Location"),
    400: _json(Error, "Malformed JSON or fields"),
    401: _json(Error, "Missing or wrong admin key"),
    403: _json(Error, "The admin key belongs to another shop, or the key is not under the shop's uploads"),
    404: _json(Error, "No such file in the imports bucket"),
    422: _json(Error, "A field that is not valid, named"),
    501: _json(Error, "Imports of files are not set up in this deployment (no imports bucket or state machine)"),
    503: _json(Error, "A dependency is unavailable; retry"),
}
IMPORT_JOB_RESPONSES = {
    200: _json(ImportJobView, "Where the import stands"),
    401: _json(Error, "Missing or wrong admin key"),
    403: _json(Error, "The admin key belongs to another shop than the one named"),
    404: _json(Error, "No such import job in this shop"),
}
UPLOAD_RESPONSES = {
    200: _json(Upload, "Where to PUT the file (valid for expires_in seconds)"),
    400: _json(Error, "Malformed JSON or file name"),
    401: _json(Error, "Missing or wrong admin key"),
    403: _json(Error, "The admin key belongs to another shop than the one named"),
    422: _json(Error, "A file name that is not valid"),
    501: _json(Error, "Imports of files are not set up in this deployment (no imports bucket or state machine)"),
}


class CampaignList(BaseModel):
    shop: str
    campaigns: list[dict] = Field(description="each campaign as defined in campaigns/ (docs/campaigns.md)")


class CampaignEstimate(BaseModel):
    shop: str
    campaign: str
    at: str = Field(description="when the audience was decided (ISO 8601)")
    candidates: int = Field(description="customers considered: the audience segments' members")
    included: int = Field(description="customers the campaign would ask for")
    left_out: dict[str, int] = Field(description="reason -> customers left out for it")


class CampaignRun(BaseModel):
    shop: str
    campaign: str
    run: str = Field(description="the run's day on the shop's clock (YYYY-MM-DD): one run per day and campaign")
    status: str = Field(description="scheduled, selecting, sending, testing, paused, done, cancelled")
    created_at: str
    start: str = Field(description="when the run begins (each recipient may have a later time)")
    rate: float = Field(description="messages per second at most")
    candidates: int = Field(description="customers considered (the audience segments' members)")
    included: int = Field(description="customers asked for")
    left_out: dict[str, int] = Field(description="reason -> customers left out for it when the run began")
    queued: int = Field(description="handed to the dispatcher so far")
    winner: str | None = Field(None, description="the A/B test's winning variant, once decided")
    decision: dict[str, dict[str, float]] = Field(default_factory=dict, description="the A/B figures it won on")


class CampaignStarted(BaseModel):
    started: bool = Field(description="false: the run existed already (a second start), nothing changed")
    run: CampaignRun


class CampaignProgress(CampaignRun):
    settled: int = Field(description="requests the dispatcher has settled (sent + skipped)")
    sent: int
    skipped: int
    skipped_by: dict[str, int] = Field(description="the dispatcher's stage that skipped them -> how many")
    delivered: int
    opened: int
    clicked: int
    orders: float = Field(description="orders attributed to the run's messages (last touch)")
    variants: dict[str, dict[str, int]] = Field(description="variant (a, b, ..., rest, -) -> its counters")
    eta_seconds: int | None = Field(description="how long the rest takes at the rate, while sending")
    subjects: dict[str, str | dict[str, str]] | None = Field(
        description="the A/B test's subject per variant (one text, or one per locale)"
    )


class CampaignRuns(BaseModel):
    shop: str
    campaign: str
    runs: list[CampaignRun] = Field(description="newest first")


class CampaignTestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile_id: str | None = Field(
        None, min_length=1, max_length=256, description="personalise for this customer (default: the audience's first)"
    )


class CampaignTestSends(BaseModel):
    profile_id: str = Field(description="the customer the test is personalised for")
    sends: list[dict] = Field(description="to, subject (A/B), key: one per seed and subject")


_CAMPAIGN_COMMON = {
    401: _json(Error, "Missing or wrong admin key"),
    403: _json(Error, "The admin key belongs to another shop than the one named"),
    404: _json(Error, "No such campaign (or run) for this shop"),
    503: _json(Error, "A dependency is unavailable; retry"),
}
CAMPAIGN_START_RESPONSES = {
    200: _json(CampaignStarted, "The run existed already (a second start): nothing changed"),
    202: _json(CampaignStarted, "Started: the run is created and its state machine execution running"),
    409: _json(Error, "A one-off campaign whose time has passed"),
    501: _json(Error, "Campaign sending is not set up in this deployment (no state machine)"),
    **_CAMPAIGN_COMMON,
}
CAMPAIGN_COMMAND_RESPONSES = {
    200: _json(CampaignRun, "The run as it stands after the command (the same command twice changes nothing)"),
    409: _json(Error, "No run in progress to act on"),
    501: _json(Error, "Campaign sending is not set up in this deployment (no state machine)"),
    **_CAMPAIGN_COMMON,
}
CAMPAIGN_TEST_RESPONSES = {
    202: _json(CampaignTestSends, "Queued for the dispatcher: one email per seed (and per A/B subject)"),
    400: _json(Error, "Malformed JSON, or a field that is not valid (named)"),
    409: _json(Error, "No seed list, not an email campaign, or nobody in the audience to personalise for"),
    501: _json(Error, "Campaign sending is not set up in this deployment (no messages queue)"),
    **_CAMPAIGN_COMMON,
}
CAMPAIGN_RUNS_RESPONSES = {200: _json(CampaignRuns, "The campaign's runs, newest first"), **_CAMPAIGN_COMMON}
CAMPAIGN_PROGRESS_RESPONSES = {
    200: _json(CampaignProgress, "Where the run stands, live (the dispatcher's counts lag by seconds)"),
    **_CAMPAIGN_COMMON,
}
CAMPAIGNS_RESPONSES = {
    200: _json(CampaignList, "The campaigns that apply to the shop"),
    401: _json(Error, "Missing or wrong admin key"),
    403: _json(Error, "The admin key belongs to another shop than the one named"),
}
CAMPAIGN_ESTIMATE_RESPONSES = {
    200: _json(CampaignEstimate, "The audience as it stands now"),
    401: _json(Error, "Missing or wrong admin key"),
    403: _json(Error, "The admin key belongs to another shop than the one named"),
    404: _json(Error, "No such campaign for this shop"),
    503: _json(Error, "A dependency is unavailable; retry"),
}

IMPORT_BATCH_RESPONSES = {
    200: _json(BatchStored, "Stored in backfill mode (nothing published, no trigger, no journey, no message)"),
    400: _json(Error, "Malformed JSON, or not an object with format and records"),
    401: _json(Error, "Missing or wrong admin key"),
    403: _json(Error, "The admin key belongs to another shop than the one named"),
    413: _json(Error, "Body over 4 MB once decompressed"),
    422: _json(Error, "An invalid record, named by index and field (records[3].total: ...); nothing stored"),
    503: _json(Error, "A dependency is unavailable; retry (the batch is idempotent)"),
}
CONCLUSION_RESPONSES = {
    200: _json(Concluded, "Evaluated silently: segments, member lists, lifecycle, predictions; nothing published"),
    400: _json(Error, "Malformed JSON, or not an object with batch and profiles"),
    401: _json(Error, "Missing or wrong admin key"),
    403: _json(Error, "The admin key belongs to another shop than the one named"),
    413: _json(Error, "Body over 4 MB once decompressed"),
    422: _json(Error, "An invalid field, named (profiles[2]: ...); nothing evaluated"),
    503: _json(Error, "A dependency is unavailable; retry (the batch is idempotent)"),
}

# Bodies the admin routes parse themselves (documented with the admin key).
ADMIN_REQUEST_BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("/v1/catalog/products", "put"): CatalogImport,
    ("/v1/profiles/{ref}/consent", "put"): ConsentChange,
    ("/v1/imports/customers/batches", "post"): CustomerBatch,
    ("/v1/imports/orders/batches", "post"): OrderBatch,
    ("/v1/imports/conclusions", "post"): Conclusion,
    ("/v1/imports/uploads", "post"): UploadRequest,
    ("/v1/imports", "post"): ImportRequest,
    ("/v1/campaigns/{campaign}/test", "post"): CampaignTestBody,
}
