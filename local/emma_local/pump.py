"""Event source mappings for the local runtime: drain an SQS queue into a handler, honouring
partial batch failures (failed messages return to the queue; the redrive policy moves them to
the DLQ after maxReceiveCount, as in AWS), and read a DynamoDB stream into a handler (StreamPump)."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from emma_local.lambdas import Handler, LambdaContext, sqs_event, stream_record

log = logging.getLogger("emma.local.pump")
RETRY_DELAY_SECONDS = 1
# Short polls: a long poll would hold the emulator's request lock (see emulator.py) for its whole wait.
POLL_INTERVAL_SECONDS = 0.2  # AWS waits the visibility timeout; locally a failed message is retried after 1 s


class _Poller:
    """A background thread calling ``poll_once`` until stopped: again at once while it finds work, after
    POLL_INTERVAL_SECONDS when it finds none, after a second when it fails."""

    _stop: threading.Event
    _thread: threading.Thread | None
    _function: str
    _thread_prefix = "pump"

    def poll_once(self) -> int:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.poll_once():
                    self._stop.wait(POLL_INTERVAL_SECONDS)
            except Exception:  # keep pumping: the emulator may be shutting down
                if not self._stop.is_set():
                    log.exception("%s %s failed", self._thread_prefix, self._function)
                    self._stop.wait(1)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"{self._thread_prefix}-{self._function}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Stop polling after the batch in hand (does not wait)."""
        self._stop.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)


class QueuePump(_Poller):
    def __init__(self, sqs: Any, queue_url: str, handler: Handler, function: str, batch_size: int = 10) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self._handler = handler
        self._function = function
        self._batch_size = batch_size
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.processed = 0
        self.failed = 0

    def poll_once(self) -> int:
        """Receive one batch and hand it to the handler; returns how many messages it received."""
        messages = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        try:
            result = self._handler(sqs_event(messages, self._arn), LambdaContext(self._function)) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception:  # a crashing handler fails the whole batch, as in AWS
            log.exception("handler %s failed a whole batch", self._function)
            failed = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        for m in messages:
            if m["MessageId"] in failed:
                self._sqs.change_message_visibility(
                    QueueUrl=self._url,
                    ReceiptHandle=m["ReceiptHandle"],
                    VisibilityTimeout=RETRY_DELAY_SECONDS,
                )
        self.processed += len(done)
        self.failed += len(failed)
        return len(messages)

    def empty(self) -> bool:
        """Nothing visible and nothing in flight."""
        attrs = self._sqs.get_queue_attributes(
            QueueUrl=self._url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return not any(int(v) for v in attrs.values())

    def drain(self, timeout: float = 30.0) -> None:
        """Process until the queue is empty: nothing visible and nothing in flight (also in the
        background thread), so everything sent before the call has been handled, retried or parked."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.poll_once():
                continue
            if self.empty():
                return
            time.sleep(0.05)


def _skeleton(record: dict[str, Any]) -> dict[str, Any]:
    """A stream record as a filter sees it, without its binary and nested values (each becomes true): enough for
    patterns on event names, keys, scalar values and ``exists``."""

    def image(attrs: dict[str, Any]) -> dict[str, Any]:
        return {
            name: {t: (v if isinstance(v, str | int | float | bool) else True) for t, v in value.items()}
            for name, value in attrs.items()
        }

    data = record.get("dynamodb", {})
    return {
        "eventName": record.get("eventName"),
        "eventSource": "aws:dynamodb",
        "dynamodb": {k: image(data[k]) for k in ("Keys", "NewImage", "OldImage") if k in data},
    }


class StreamPump(_Poller):
    """A DynamoDB stream's event source mapping: reads the table's stream from its start, hands the records
    ``filter_pattern`` matches (Lambda's event filtering: EventBridge pattern syntax over the record) to the
    handler in order, ``batch_size`` records at most, as Lambda's DynamoDB event. What the handler reports
    failed (partial batch response: the first failed record's sequence number) or a handler that raises is
    retried, with everything after it, after RETRY_DELAY_SECONDS; the stream's order is kept. The emulator
    drops the records the pump has passed (emma_local.moto_fixes, fix 9)."""

    _thread_prefix = "stream"

    def __init__(
        self,
        dynamodb: Any,
        streams: Any,
        table: str,
        handler: Handler,
        function: str,
        filter_pattern: dict[str, Any] | None = None,
        batch_size: int = 100,
    ) -> None:
        from moto.events.models import EventPattern

        self._streams = streams
        self._arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        shards = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
        self._shard = shards[0]["ShardId"]  # the emulator keeps one shard per stream
        self._iterator = self._iterator_at("TRIM_HORIZON")
        self._pattern = EventPattern.load(json.dumps(filter_pattern)) if filter_pattern else None
        self._handler = handler
        self._function = function
        self._batch_size = batch_size
        self._retry_at = 0.0
        self._lock = threading.Lock()  # the thread and drain() take turns
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.processed = 0
        self.failed = 0
        self.paused = False  # tests: a publisher that is down (nothing is read while paused)

    def _iterator_at(self, kind: str, sequence: str | None = None) -> str:
        extra = {"SequenceNumber": sequence} if sequence else {}
        return self._streams.get_shard_iterator(
            StreamArn=self._arn, ShardId=self._shard, ShardIteratorType=kind, **extra
        )["ShardIterator"]

    def _matches(self, record: dict[str, Any]) -> bool:
        return self._pattern is None or self._pattern.matches_event(record)

    def poll_once(self) -> int:
        """Read one batch and hand what matches to the handler; returns how many records were read (0: none,
        paused, or waiting to retry a failure)."""
        with self._lock:
            if self.paused or time.monotonic() < self._retry_at:
                return 0
            resp = self._streams.get_records(ShardIterator=self._iterator, Limit=self._batch_size)
            records = resp.get("Records", [])
            # filtered on a skeleton (attribute types, scalar values), converted whole only when it matches: the
            # stream carries every write of the table, and a full image is costly to convert
            matching = [stream_record(r, self._arn) for r in records if self._matches(_skeleton(r))]
            failed: str | None = None
            if matching:
                try:
                    result = self._handler({"Records": matching}, LambdaContext(self._function)) or {}
                    failures = result.get("batchItemFailures") or []
                    failed = str(failures[0]["itemIdentifier"]) if failures else None
                except Exception:  # a crashing handler fails the whole batch, as in AWS
                    log.exception("handler %s failed a whole batch", self._function)
                    failed = matching[0]["dynamodb"]["SequenceNumber"]
            if failed is None:
                self._iterator = resp["NextShardIterator"]
                self.processed += len(matching)
            else:
                handled = [r for r in matching if int(r["dynamodb"]["SequenceNumber"]) < int(failed)]
                self.processed += len(handled)
                self.failed += 1
                self._iterator = self._iterator_at("AT_SEQUENCE_NUMBER", failed)
                self._retry_at = time.monotonic() + RETRY_DELAY_SECONDS
            return len(records)

    def drain(self, timeout: float = 30.0) -> bool:
        """Read until the stream has nothing left that was written before the call (or ``timeout``); False if
        records are still waiting (a failing or paused handler)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.poll_once():
                continue
            if not self.paused and time.monotonic() >= self._retry_at:
                return True
            time.sleep(0.05)
        return False
