"""The tracking and webhook routes' paths and documented answers, with nothing to import: those routes
are registered when the handler is imported (a cold start), before pydantic or any of Emma's models.

Their answers name the models of ingest.schemas by reference (``#/components/schemas/<name>``);
ingest.openapi adds those models' schemas (``RESPONSE_MODELS``) to the document.
"""

from __future__ import annotations

from typing import Any

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

# The ingest.schemas models these answers name.
RESPONSE_MODELS = ("Accepted", "BatchAccepted", "WebhookAccepted", "Error")


def _json(model: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}},
    }


_ERRORS = {
    400: _json("Error", "Malformed JSON or a body the source does not allow"),
    401: _json("Error", "Missing or wrong credentials or signature"),
    413: _json("Error", "Body over 4 MB once decompressed"),
    415: _json("Error", "A Content-Encoding other than gzip or deflate"),
    503: _json("Error", "A dependency is unavailable; retry"),
}
CALL_RESPONSES = {
    200: _json("Accepted", "Stored (or recognised as a duplicate)"),
    **_ERRORS,
    413: _json(
        "Error", "Body over 4 MB once decompressed, or the call over 128 KB of JSON (the message names the limit)"
    ),
}
BATCH_RESPONSES = {
    200: _json("BatchAccepted", "Valid calls stored; rejected calls listed (a call over 128 KB with code 413)"),
    **_ERRORS,
    413: _json("Error", "Body over 4 MB once decompressed, or more than 2,500 calls (the message names the limit)"),
    503: _json(
        "Error", "A dependency is unavailable (a write key could not be looked up, the store); retry the whole batch"
    ),
}
WEBHOOK_RESPONSES = {
    200: _json("WebhookAccepted", "Stored (or recognised as a duplicate)"),
    404: _json("Error", "Unknown shop or platform"),
    422: _json("Error", "Unknown topic"),
    **_ERRORS,
}
