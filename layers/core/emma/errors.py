"""Domain errors. Handlers map them to HTTP statuses; adapters wrap botocore errors in them."""

from __future__ import annotations


class EmmaError(Exception):
    """Base of every error Emma raises on purpose. ``status`` is the HTTP status it maps to."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(EmmaError):
    status = 400
    code = "bad_request"


class InvalidPayload(BadRequest):
    """Malformed JSON or a body that does not match what the source documents."""

    code = "invalid_payload"


class UnknownTopic(EmmaError):
    status = 422
    code = "unknown_topic"


class PayloadTooLarge(EmmaError):
    status = 413
    code = "payload_too_large"


class UnsupportedEncoding(EmmaError):
    """A Content-Encoding Emma cannot decode (it decodes gzip, x-gzip, deflate and identity)."""

    status = 415
    code = "unsupported_content_encoding"


class Unauthorized(EmmaError):
    status = 401
    code = "unauthorized"


class InvalidSignature(Unauthorized):
    code = "invalid_signature"


class NotFound(EmmaError):
    status = 404
    code = "not_found"


class Forbidden(EmmaError):
    """Authenticated, but not for this: an admin key of another shop."""

    status = 403
    code = "forbidden"


class InvalidConsentChange(EmmaError):
    """An admin's consent change that does not validate (nothing is recorded)."""

    status = 422
    code = "invalid_consent_change"


class InvalidProducts(EmmaError):
    """A catalog import naming products that do not validate (nothing of the request is stored)."""

    status = 422
    code = "invalid_products"


class ShopNotFound(NotFound):
    code = "shop_not_found"


class ProfileNotFound(NotFound):
    code = "profile_not_found"


class TransientError(EmmaError):
    """A dependency failed in a way a retry may fix (throttling, timeouts, 5xx)."""

    status = 503
    code = "temporarily_unavailable"


class StoreError(TransientError):
    code = "store_unavailable"


class PublishError(TransientError):
    code = "publish_failed"


class EventTooLarge(PublishError):
    """An event no EventBridge entry can carry: retrying cannot help (ingest refuses such events before storing
    them; emma.sources.common.MAX_EVENT_BYTES stays below what an entry carries)."""

    def __init__(self, event_id: str, size: int) -> None:
        super().__init__(f"event {event_id} is {size} bytes, over what an EventBridge entry may carry to a queue")
        self.event_id = event_id


class ConcurrencyConflict(TransientError):
    """Optimistic-concurrency retries were exhausted for one profile."""

    code = "concurrent_update_conflict"


class NotConfigured(EmmaError):
    """A feature this deployment is not set up for (its resources are missing): asking again will not help."""

    status = 501
    code = "not_configured"


class InvalidRecords(EmmaError):
    """An import batch naming records that do not validate (nothing of the request is stored)."""

    status = 422
    code = "invalid_records"
