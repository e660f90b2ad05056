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

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from emma.config import IngestSettings
from emma.edge.sqs import MAX_REASON, QueueConsumer, json_body
from emma.events.model import now_utc
from emma.sources.ses import NotEmmaMessage, map_eventbridge_event
from emma.wiring.ingest import Intake, build_intake

consumer = QueueConsumer(raise_on_entire_batch_failure=False)
logger, tracer, metrics = consumer.logger, consumer.tracer, consumer.metrics


@functools.cache
def components() -> Intake:
    return build_intake(IngestSettings())  # type: ignore[call-arg]  # read from the environment


def handle(record: SQSRecord) -> None:
    """Map one EventBridge event from SES and ingest it."""
    envelope = json_body(record)
    intake = components()
    try:
        events = map_eventbridge_event(envelope, now_utc())
    except NotEmmaMessage as exc:
        logger.warning("not an Emma message, acknowledged", extra={"reason": exc.message[:MAX_REASON]})
        metrics.add_metric("SesEventsNotEmma", MetricUnit.Count, 1)
        return
    if not events:
        detail = envelope.get("detail") or {}
        logger.debug("SES event type not recorded", extra={"event_type": str(detail.get("eventType"))[:40]})
        metrics.add_metric("SesEventsIgnored", MetricUnit.Count, 1)
        return
    intake.shops.get(events[0].shop)  # ShopNotFound: a tag naming no shop is retried, then parked in the DLQ
    report = intake.service.ingest(events)
    metrics.add_metric("EventsAccepted", MetricUnit.Count, len(report.accepted))


lambda_handler = consumer.handler(handle)
