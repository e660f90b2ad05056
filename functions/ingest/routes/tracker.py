"""Segment-compatible tracking API: /v1/track, identify, page, screen, alias, group and /v1/batch."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from emma.errors import InvalidPayload, Unauthorized
from emma.ingest.service import IngestReport
from emma.ports import ShopConfig
from emma.sources import segment
from emma.sources.common import load_json_object
from ingest import deps
from ingest.http import basic_username, json_response, lower_headers, raw_body, received_at
from ingest.schemas import BATCH_RESPONSES, CALL_RESPONSES

router = APIGatewayHttpRouter()
SINGLE_CALLS = ("track", "identify", "page", "screen", "alias", "group")
logger = Logger(child=True)
metrics = Metrics()


def _authenticate(body: dict) -> ShopConfig:
    headers = lower_headers(router.current_event)
    key = basic_username(headers) or segment.write_key_from_body(body)
    if not key:
        raise Unauthorized("send the write key as the HTTP Basic username (as Segment does) or as writeKey")
    return deps.components().shops.by_write_key(key)


def _read() -> tuple[dict, ShopConfig]:
    body = load_json_object(raw_body(router.current_event), "tracker call")
    return body, _authenticate(body)


def _record(shop: str, report: IngestReport, rejected: int = 0) -> None:
    metrics.add_dimension("shop", shop)
    metrics.add_metric("EventsAccepted", MetricUnit.Count, len(report.accepted))
    metrics.add_metric("EventsDuplicate", MetricUnit.Count, len(report.duplicates))
    metrics.add_metric("EventsRejected", MetricUnit.Count, rejected)


def _single(call_type: str):
    body, shop = _read()
    event = router.current_event
    context = {"ip": event.request_context.http.source_ip} if event.request_context.http.source_ip else None
    events = segment.map_call(
        shop.shop, call_type, {**body, "type": call_type}, received_at(event), batch_context=context
    )
    report = deps.components().service.ingest(events)
    _record(shop.shop, report)
    return json_response(200, {"success": True, **report.as_dict()})


def _register(call_type: str) -> None:
    def route():
        return _single(call_type)

    route.__name__ = call_type
    router.post(
        f"/v1/{call_type}",
        summary=f"Record a {call_type} call (Segment spec)",
        tags=["tracking"],
        operation_id=call_type,
        responses=CALL_RESPONSES,
    )(route)


for _call_type in SINGLE_CALLS:
    _register(_call_type)


@router.post(
    "/v1/batch",
    summary="Record a batch of calls (Segment spec)",
    tags=["tracking"],
    description="Valid calls are stored even when others are rejected; `rejected` says which and why. "
    "If every call is rejected the answer is 400.",
    responses=BATCH_RESPONSES,
)
def batch():
    body, shop = _read()
    event = router.current_event
    ip = event.request_context.http.source_ip
    if ip and isinstance(body.get("context", {}), dict) and "ip" not in body.get("context", {}):
        body = {**body, "context": {**body.get("context", {}), "ip": ip}}
    mapped = segment.map_batch(shop.shop, body, received_at(event))
    rejected = [{"index": r.index, "messageId": r.message_id, "error": r.error} for r in mapped.rejected]
    if not mapped.events:
        return json_response(
            400,
            {
                "error": InvalidPayload.code,
                "rejected": rejected,
                "message": f"all {len(rejected)} calls in the batch were rejected",
            },
        )
    report = deps.components().service.ingest(mapped.events)
    _record(shop.shop, report, len(rejected))
    if rejected:
        logger.info("batch calls rejected", extra={"shop": shop.shop, "rejected": rejected[:20]})
    return json_response(200, {"success": True, **report.as_dict(), "rejected": rejected})
