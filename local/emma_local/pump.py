"""Event source mappings for the local runtime: drain an SQS queue into a handler, honouring
partial batch failures (failed messages return to the queue; the redrive policy moves them to
the DLQ after maxReceiveCount, as in AWS)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from emma_local.lambdas import Handler, LambdaContext, sqs_event

log = logging.getLogger("emma.local.pump")
RETRY_DELAY_SECONDS = 1
# Short polls: a long poll would hold the emulator's request lock (see emulator.py) for its whole wait.
POLL_INTERVAL_SECONDS = 0.2  # AWS waits the visibility timeout; locally a failed message is retried after 1 s


class QueuePump:
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

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.poll_once():
                    self._stop.wait(POLL_INTERVAL_SECONDS)
            except Exception:  # keep pumping: the emulator may be shutting down
                if not self._stop.is_set():
                    log.exception("polling %s failed", self._url)
                    self._stop.wait(1)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"pump-{self._function}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Stop polling after the batch in hand (does not wait)."""
        self._stop.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
