"""The queue consumers' Lambda handler: Powertools logging, tracing and metrics around a batch
processor that reports partial batch failures.

A consumer says what one record means (``handle``); every record of the batch goes through it. A
record whose ``handle`` raises is reported as a batch item failure (SQS delivers it again and, after
the queue's ``max_receive_count``, parks it in its DLQ) while the rest of the batch proceeds. With
``raise_on_entire_batch_failure`` (the default), a batch whose records all fail is a function error
(Lambda retries the batch as a whole); without it, it is reported like any partial failure.

Every failure is logged the same way, with the record's SQS message id and whatever the consumer
noted about the record (``note``), and counted (metric ``RecordsFailed``): a record that cannot be
read or used (``InvalidPayload``: delivering it again cannot help) as an error without a traceback,
anything else with its traceback.

Logs and metrics carry the function's service name from ``POWERTOOLS_SERVICE_NAME``, which the CDK
app and the local runtime set per function.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from emma.edge import tracing
from emma.errors import InvalidPayload
from emma.events.model import CanonicalEvent, parse_event

# The CDK app's POWERTOOLS_METRICS_NAMESPACE too; named here so that a handler run without that
# variable (tests, scripts) still writes its metrics.
NAMESPACE = "Emma"
MAX_REASON = 500  # characters of an error message in a log line

LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def json_body(record: SQSRecord) -> Any:
    """The record's body read as JSON; InvalidPayload if it is not JSON."""
    try:
        return json.loads(record.body)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidPayload(f"SQS message {record.message_id} is not JSON") from exc


def canonical_events(record: SQSRecord) -> list[CanonicalEvent]:
    """The canonical events in a message an EventBridge rule delivered to the queue: the envelope's
    ``detail`` is a bundle ``{"events": [...]}`` (emma.adapters.eventbridge.to_entries), or one event as
    published before bundles; InvalidPayload if it is neither. A record's events are handled in order and
    retried together: every consumer is idempotent per event."""
    try:
        detail = json.loads(record.body)["detail"]
        if isinstance(detail, dict) and isinstance(detail.get("events"), list):
            return [parse_event(item) for item in detail["events"]]
        return [parse_event(detail)]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InvalidPayload(f"SQS message {record.message_id} is not a canonical event: {exc}") from exc


class QueueConsumer:
    """One queue consumer's Powertools objects and its Lambda handler (``handler``)."""

    def __init__(self, *, raise_on_entire_batch_failure: bool = True) -> None:
        self.logger = Logger()
        self.tracer = tracing.tracer()
        self.metrics = Metrics(namespace=NAMESPACE)
        self.processor = BatchProcessor(
            event_type=EventType.SQS, raise_on_entire_batch_failure=raise_on_entire_batch_failure
        )
        self._noted: set[str] = set()

    def note(self, **keys: Any) -> None:
        """Add ``keys`` to every log line of the record in hand, its failure included (an event id, a
        message key); they are dropped when the record is done."""
        self.logger.append_keys(**keys)
        self._noted.update(keys)

    def _failed(self, exc: Exception) -> None:
        extra = {"error": type(exc).__name__, "reason": str(exc)[:MAX_REASON]}
        if isinstance(exc, InvalidPayload):
            self.logger.error("record refused", extra=extra)
        else:
            self.logger.exception("record failed", extra=extra)
        self.metrics.add_metric("RecordsFailed", MetricUnit.Count, 1)

    def handler(self, handle: Callable[[SQSRecord], None]) -> LambdaHandler:
        """The Lambda handler that runs ``handle`` on every record of an SQS batch."""
        tracer, processor = self.tracer, self.processor

        @tracer.capture_method
        def record_handler(record: SQSRecord) -> None:
            self.note(message_id=record.message_id)
            try:
                handle(record)
            except Exception as exc:
                self._failed(exc)
                raise
            finally:
                self.logger.remove_keys(self._noted)
                self._noted.clear()

        @self.logger.inject_lambda_context
        @self.metrics.log_metrics
        @tracer.capture_lambda_handler
        def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
            return process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )

        return lambda_handler
