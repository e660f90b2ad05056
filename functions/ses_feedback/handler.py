"""Drains the SES feedback queue: the events SES publishes for Emma's configuration set (on the
account's default bus) become canonical message events, ingested like any other input.

What happens to a record
    - mapped and ingested: acknowledged (a re-delivered SES event maps to the same event ids and
      counts once);
    - an event type Emma does not record (Send, Reject, DeliveryDelay, Rendering Failure,
      Subscription, a not-spam complaint): acknowledged, metric ``SesEventsIgnored``;
    - a message Emma did not send (no ``emma-shop`` tag; the rule forwards only tagged events, so this
      is someone else's mail or a hand-sent test): acknowledged and logged, metric
      ``SesEventsNotEmma``. Retrying could never change the answer, and parking someone else's mail
      in the DLQ would raise Emma's alarm for nothing;
    - anything else that fails (not JSON, a malformed record of an Emma message, a tag naming an
      unknown shop, a store or bus outage): reported as a partial batch failure, so SQS redelivers it
      (transient causes heal) at most ``max_receive_count`` (5) times, then parks it in the DLQ with
      its reason logged, where the DLQ alarm shows it; it never loops. The rest of the batch proceeds,
      and a batch whose records all fail is reported the same way, not as a function error."""

from __future__ import annotations

import functools
import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from emma.config import IngestSettings
from emma.errors import InvalidPayload
from emma.events.model import now_utc
from emma.sources import ses
from emma.sources.common import timestamp
from emma.sources.ses import NotEmmaMessage
from emma.wiring.ingest import Intake, build_intake

logger = Logger(service="emma-ses-feedback")
tracer = Tracer(service="emma-ses-feedback")
metrics = Metrics(namespace="Emma", service="emma-ses-feedback")
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@functools.cache
def components() -> Intake:
    return build_intake(IngestSettings())  # type: ignore[call-arg]  # read from the environment


def handle_ses_event(envelope: Any, ingest: Intake) -> int | None:
    """Map one EventBridge event from SES and ingest it. Returns the number of new events, or None
    when the event type is one Emma does not record."""
    if not isinstance(envelope, dict):
        raise InvalidPayload(f"SES event: expected an EventBridge event object, got {type(envelope).__name__}")
    received = timestamp(envelope.get("time"), "time") or now_utc()
    events = ses.map_ses_event(envelope, received)
    if not events:
        return None
    ingest.shops.get(events[0].shop)  # ShopNotFound: a tag naming no shop is retried, then parked in the DLQ
    return len(ingest.service.ingest(events).accepted)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    try:
        envelope = json.loads(record.body)
    except (json.JSONDecodeError, RecursionError) as exc:
        logger.error("not JSON", extra={"message_id": record.message_id, "reason": str(exc)[:500]})
        raise InvalidPayload(f"SQS message {record.message_id} is not JSON") from exc
    try:
        accepted = handle_ses_event(envelope, components())
    except NotEmmaMessage as exc:
        extra = {"message_id": record.message_id, "reason": exc.message[:500]}
        logger.warning("not an Emma message, acknowledged", extra=extra)
        metrics.add_metric("SesEventsNotEmma", MetricUnit.Count, 1)
        return
    except InvalidPayload as exc:
        logger.error("not a usable SES event", extra={"message_id": record.message_id, "reason": str(exc)[:500]})
        raise
    except Exception as exc:
        logger.exception("ingest failed", extra={"message_id": record.message_id, "reason": str(exc)[:500]})
        raise
    if accepted is None:
        detail = envelope.get("detail") or {}
        logger.debug("SES event type not recorded", extra={"event_type": str(detail.get("eventType"))[:40]})
        metrics.add_metric("SesEventsIgnored", MetricUnit.Count, 1)
        return
    metrics.add_metric("EventsAccepted", MetricUnit.Count, accepted)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
