"""Segment-compatible tracking API: /v1/track, identify, page, screen, alias, group and /v1/batch,
and the short paths analytics.js posts to (/v1/t, /v1/i, /v1/p, /v1/s, /v1/a, /v1/g, /v1/b).

The write key is the HTTP Basic username (Segment's servers' clients), or ``writeKey`` in the body
(analytics.js puts it into every call, batched or not: in a batch each item may carry its own).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit, SchemaValidationError

from emma.errors import Unauthorized
from ingest import deps
from ingest.http import basic_username, json_response, lower_headers, raw_body, received_at
from ingest.tracking import BATCH_RESPONSES, CALL_RESPONSES, TRACKER_PATHS

if TYPE_CHECKING:
    from emma.ingest.service import IngestReport
    from emma.shops import ShopConfig, ShopDirectory
    from emma.sources import segment

# The routes are registered when the handler is imported (a cold start); what they use of Emma (the
# Segment mapping, the canonical event models) is imported by the first request that needs it.
# Their bodies are read and checked by emma.sources.segment, not by the resolver's validation.

router = APIGatewayHttpRouter()
logger = Logger(child=True)
metrics = Metrics(namespace="Emma")  # the handler's namespace, not only the env's
NO_KEY = "send the write key as the HTTP Basic username (as Segment does) or as writeKey"
CONSENT_NOTE = (
    "A call carrying the visitor's cookie-consent choices (`context.consent.categoryPreferences`, "
    "`context.consentManagement`) is held to them with the shop's categories: the events they deny "
    "(browsing behaviour without analytics consent; interest, cart and opt-ins without marketing "
    "consent) are not stored, count as `skipped` and are listed in `withheld` with the reason."
)


def _read() -> tuple[dict, str | None]:
    """The JSON body (any Content-Type: analytics.js sends text/plain) and the request's write key."""
    from emma.sources import segment
    from emma.sources.common import load_json_object

    body = load_json_object(raw_body(router.current_event), "tracker call")
    key = basic_username(lower_headers(router.current_event)) or segment.write_key_from_body(body)
    return body, key


def _record(shop: str, report: IngestReport, rejected: int = 0, *, withheld: int = 0, flush: bool = False) -> None:
    """The request's counts under the shop's dimension. ``flush`` writes them out at once: a batch
    may carry several shops' calls (per-call write keys), each shop gets its own record."""
    metrics.add_dimension("shop", shop)
    metrics.add_metric("EventsAccepted", MetricUnit.Count, len(report.accepted))
    metrics.add_metric("EventsDuplicate", MetricUnit.Count, len(report.duplicates))
    metrics.add_metric("EventsRejected", MetricUnit.Count, rejected)
    metrics.add_metric("EventsWithheldForConsent", MetricUnit.Count, withheld)
    if flush:
        try:
            metrics.flush_metrics()
        except SchemaValidationError as exc:  # a metric must never fail calls that are already stored
            logger.warning("metrics not written", extra={"shop": shop, "reason": str(exc)})


def _source_ip() -> str | None:
    return router.current_event.request_context.http.source_ip or None


def _single(call_type: str):
    from emma.sources import segment

    body, key = _read()
    if not key:
        raise Unauthorized(NO_KEY)
    shop = deps.intake().shops.by_write_key(key)
    ip = _source_ip()
    mapped = segment.map_consented_call(
        _tracker_shop(shop),
        call_type,
        {**body, "type": call_type},
        received_at(router.current_event),
        batch_context={"ip": ip} if ip else None,
    )
    report = deps.intake().service.ingest(mapped.events)
    _withhold(report, mapped.withheld)
    _record(shop.shop, report, withheld=len(mapped.withheld))
    return json_response(200, {"success": True, **report.as_dict(), "withheld": _shown(mapped.withheld)})


def _tracker_shop(shop: ShopConfig) -> segment.TrackerShop:
    from emma.sources import segment

    return segment.TrackerShop(shop.shop, shop.currency, shop.tracker_consent)


def _withhold(report: IngestReport, withheld: list[segment.Withheld]) -> None:
    """Events a call's consent object kept out count as skipped: stored nothing, answered 200 (a
    client must not retry them), listed with the reason in ``withheld``."""
    report.skipped += [w.event_id for w in withheld]


def _shown(withheld: list[segment.Withheld]) -> list[dict]:
    return [w.as_dict() for w in withheld]


class _ItemShops:
    """Whose each batch item is: its own writeKey, else the request's (Basic or the body's writeKey)."""

    def __init__(self, shops: ShopDirectory, request_key: str | None) -> None:
        self._shops = shops
        self._request_key = request_key
        self._known: dict[str, ShopConfig | Unauthorized] = {}
        self.request_shop = self._lookup(request_key) if request_key else None
        self.seen: list[str] = [self.request_shop.shop] if self.request_shop else []  # shops with a valid key

    def _lookup(self, key: str) -> ShopConfig:
        if key not in self._known:
            try:
                self._known[key] = self._shops.by_write_key(key)
            except Unauthorized as exc:
                self._known[key] = exc
        found = self._known[key]
        if isinstance(found, Unauthorized):
            raise found
        return found

    def __call__(self, item: dict) -> segment.TrackerShop:
        from emma.sources import segment

        key = segment.write_key_from_body(item)
        shop = self._lookup(key) if key and key != self._request_key else self.request_shop
        if shop is None:
            raise Unauthorized(NO_KEY)
        if shop.shop not in self.seen:
            self.seen.append(shop.shop)
        return _tracker_shop(shop)


def batch():
    from emma.ingest.service import IngestReport
    from emma.sources import segment

    body, key = _read()
    owners = _ItemShops(deps.intake().shops, key)  # a wrong request-level key: 401 for all
    ip = _source_ip()
    context = body.get("context")
    if ip and (context is None or isinstance(context, dict)) and "ip" not in (context or {}):
        body = {**body, "context": {**(context or {}), "ip": ip}}
    mapped = segment.map_batch(None, body, received_at(router.current_event), shop_of=owners)
    if not owners.seen:  # neither the request nor any of its calls carries a valid write key
        raise Unauthorized(f"no call carries a valid write key; {NO_KEY}" if mapped.rejected else NO_KEY)
    rejected = [
        {"index": r.index, "messageId": r.message_id, "error": r.error, "code": r.status} for r in mapped.rejected
    ]
    # Each shop's calls are ingested and counted apart (ids are unique per shop, and so are metrics).
    # A call refused before its shop was known counts for the request's shop, if it names one.
    events = {shop: [] for shop in owners.seen}
    for event in mapped.events:
        events[event.shop].append(event)
    fallback = owners.request_shop.shop if owners.request_shop else None
    refused = Counter(r.shop or fallback for r in mapped.rejected)
    withheld = {shop: [w for w in mapped.withheld if w.shop == shop] for shop in owners.seen}
    report = IngestReport()
    for position, shop in enumerate(owners.seen):
        own = deps.intake().service.ingest(events[shop])
        _withhold(own, withheld[shop])
        report.add(own)
        _record(shop, own, refused[shop], withheld=len(withheld[shop]), flush=position < len(owners.seen) - 1)
    if rejected:
        logger.info("batch calls rejected", extra={"shops": owners.seen, "rejected": rejected[:20]})
    answer = {"success": True, **report.as_dict(), "rejected": rejected, "withheld": _shown(mapped.withheld)}
    return json_response(200, answer)


def _register(call_type: str) -> None:
    long_path, *short = TRACKER_PATHS[call_type]
    if call_type == "batch":
        route, summary = batch, "Record a batch of calls (Segment spec)"
        responses = BATCH_RESPONSES
        description = (
            "Answers 200 whenever the body is a well-formed batch: valid calls are stored, the others are "
            "listed in `rejected` with their reason (nothing of them is stored). Each call may carry its "
            "own `writeKey` (analytics.js does). " + CONSENT_NOTE
        )
    else:

        def route():
            return _single(call_type)

        route.__name__ = call_type
        summary, responses, description = f"Record a {call_type} call (Segment spec)", CALL_RESPONSES, CONSENT_NOTE
    for path in (long_path, *short):
        alias = path != long_path
        router.post(
            path,
            summary=f"{summary}, analytics.js's short path" if alias else summary,
            description=description,
            tags=["tracking"],
            operation_id=f"{call_type}_{path.rsplit('/', 1)[-1]}" if alias else call_type,
            responses=responses,
            enable_validation=False,
        )(route)


for _call_type in TRACKER_PATHS:
    _register(_call_type)


@router.post(
    "/v1/m",
    summary="analytics.js's own delivery metrics (acknowledged, not stored)",
    tags=["tracking"],
    description='analytics.js posts counters about its own deliveries (`{"series": [...]}`, no write key) to '
    "`<apiHost>/m`; they describe the library, not a customer, so Emma acknowledges them and keeps nothing.",
    responses={200: CALL_RESPONSES[200]},
    enable_validation=False,
)
def library_metrics():
    return json_response(200, {"success": True, "accepted": 0, "duplicates": 0, "skipped": 0, "published": 0})
