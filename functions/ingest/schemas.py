"""Models that document the API in OpenAPI. Requests are parsed by emma.sources (raw bytes are
needed for signatures and partial batch acceptance), so these describe, they do not validate."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from emma.events.model import ProductInfo
from emma.profiles.model import Profile


class SegmentCall(BaseModel):
    """A Segment-spec call. https://segment.com/docs/connections/spec/"""

    model_config = ConfigDict(extra="allow")
    messageId: str | None = Field(None, description="Idempotency key; retries with the same id are stored once")
    anonymousId: str | None = None
    userId: str | None = Field(None, description="The shop's customer id")
    timestamp: str | None = None
    sentAt: str | None = None
    event: str | None = Field(None, description="track: the event name, e.g. 'Order Completed'")
    previousId: str | None = Field(None, description="alias: the anonymous id being linked to userId")
    groupId: str | None = None
    name: str | None = Field(None, description="page/screen: the page name")
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)


class SegmentBatchCall(SegmentCall):
    type: str = Field(description="track, identify, page, screen, alias or group")


class SegmentBatch(BaseModel):
    batch: list[SegmentBatchCall]
    context: dict[str, Any] = Field(default_factory=dict)
    sentAt: str | None = None
    writeKey: str | None = Field(None, description="Alternative to HTTP Basic auth")


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


class Error(BaseModel):
    error: str = Field(description="machine-readable code, e.g. invalid_signature")
    code: int = Field(description="the HTTP status, as Segment-compatible clients (RudderStack's) read it")
    message: str


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"model": model}}}


_ERRORS = {
    400: _json(Error, "Malformed JSON or a body the source does not allow"),
    401: _json(Error, "Missing or wrong credentials or signature"),
    413: _json(Error, "Body over 4 MB once decompressed"),
    415: _json(Error, "A Content-Encoding other than gzip or deflate"),
    503: _json(Error, "A dependency is unavailable; retry"),
}
CALL_RESPONSES = {
    200: _json(Accepted, "Stored (or recognised as a duplicate)"),
    **_ERRORS,
    413: _json(
        Error, "Body over 4 MB once decompressed, or the call over 128 KB of JSON (the message names the limit)"
    ),
}
BATCH_RESPONSES = {
    200: _json(BatchAccepted, "Valid calls stored; rejected calls listed (a call over 128 KB with code 413)"),
    **_ERRORS,
    413: _json(Error, "Body over 4 MB once decompressed, or more than 2,500 calls (the message names the limit)"),
    503: _json(
        Error, "A dependency is unavailable (a write key could not be looked up, the store); retry the whole batch"
    ),
}
WEBHOOK_RESPONSES = {
    200: _json(WebhookAccepted, "Stored (or recognised as a duplicate)"),
    404: _json(Error, "Unknown shop or platform"),
    422: _json(Error, "Unknown topic"),
    **_ERRORS,
}
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

# analytics.js posts each call to /v1/<first letter of the call type>, batches to /v1/b.
TRACKER_PATHS: dict[str, tuple[str, ...]] = {
    "track": ("/v1/track", "/v1/t"),
    "identify": ("/v1/identify", "/v1/i"),
    "page": ("/v1/page", "/v1/p"),
    "screen": ("/v1/screen", "/v1/s"),
    "alias": ("/v1/alias", "/v1/a"),
    "group": ("/v1/group", "/v1/g"),
    "batch": ("/v1/batch", "/v1/b", "/v1/import"),
}
REQUEST_BODIES: dict[tuple[str, str], type[BaseModel]] = {
    (path, "post"): SegmentBatch if call == "batch" else SegmentCall
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


class CatalogImport(BaseModel):
    """PUT /v1/catalog/products. Validated by the route itself (after the admin key is checked)."""

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

# Bodies the admin routes parse themselves (documented with the admin key).
ADMIN_REQUEST_BODIES: dict[tuple[str, str], type[BaseModel]] = {("/v1/catalog/products", "put"): CatalogImport}
