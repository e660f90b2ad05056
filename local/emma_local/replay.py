"""`emma replay`: move the messages of Emma's dead-letter queues back to where they belong.

Two kinds of dead-letter queue, both defined once in `emma.resources`:

* **queue** (`<queue>-dlq`): a queue's own dead-letter queue. SQS parks a record there after the
  consumer failed it `max_receive_count` times. The message is the record as the consumer got it
  (for a rule-fed queue: the EventBridge event as the body); it goes back to the queue unchanged,
  with its message attributes.
* **rule** (`<queue>-rule-dlq`): the dead-letter queue of the EventBridge rule target that feeds a
  queue. EventBridge parks an event there when it could not deliver it to the queue (after the
  target's retry policy, or at once for errors retrying cannot fix). The body is the event, the
  message attributes say why (RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE, ...). The event is
  sent to the rule's target queue, exactly as the rule would have delivered it (body only), not put
  on the bus again: that would deliver it to every other rule's queue a second time, and AWS service
  events (`aws.ses`) cannot be put at all.

Each message is deleted from its dead-letter queue only after it was sent; a message that cannot be
replayed (not an EventBridge event, meant for another target, refused by SQS) stays where it is,
visible again at the end of the run, and is named with the reason. A run that stops between sending
and deleting sends that message again next time: every consumer is idempotent by event id (ingest
and SES feedback through the event id's idempotency record, triggers through the per-input marker,
journeys through deterministic execution names, dispatch through the request key), so running
replay twice is safe.

Where the queues are: in a deployed stack, the stack's outputs (`<LogicalId>DeadLetterQueueUrl`,
`<LogicalId>RuleDeadLetterQueueUrl`, `<LogicalId>Url`: CloudFormation names the queues); in the local
emulator, the names `emma.resources` gives them. The dead-letter queues of the scheduled functions
(EventBridge Scheduler) are not replayed: the next run catches up (docs/deploy.md).

Exit codes: 0 every selected message moved (or listed with --dry-run); 1 a message stayed or AWS
refused a call; 2 bad arguments, an unknown queue or stack, no credentials.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from emma.resources import (
    QUEUES,
    REQUEST_QUEUES,
    QueueDef,
    RequestQueueDef,
    dead_letter_queue_url_output,
    queue_url_output,
    rule_dead_letter_queue_url_output,
)

DEFAULT_STACK = "Emma"  # emma_infra.STACK_NAME (the CLI does not import the CDK app)
QUEUE, RULE = "queue", "rule"
ALL = "all"
# The attributes EventBridge adds to a message it parks in a rule target's dead-letter queue.
EVENTBRIDGE_ATTRIBUTES = (
    "RULE_ARN",
    "TARGET_ARN",
    "ERROR_CODE",
    "ERROR_MESSAGE",
    "EXHAUSTED_RETRY_CONDITION",
    "RETRY_ATTEMPTS",
)
BATCH = 10  # SQS's most per receive, send and delete batch
BATCH_BYTES = 200_000  # below SQS's 256 KiB per send batch (bodies and attributes)
VISIBILITY_SECONDS = 300  # messages being replayed stay hidden this long; kept ones are shown again at the end


class ReplayError(Exception):
    """The replay cannot start (unknown queue or stack, no credentials): exit code 2."""


@dataclass(frozen=True)
class DeadLetterQueue:
    name: str  # the name emma.resources gives it, e.g. emma-triggers-rule-dlq
    kind: str  # QUEUE or RULE
    url: str
    destination: str  # the queue its messages go back to, e.g. emma-triggers
    destination_url: str


def dead_letter_queue_names() -> list[tuple[str, str, QueueDef | RequestQueueDef]]:
    """(name, kind, def) of every replayable dead-letter queue, in emma.resources order."""
    found: list[tuple[str, str, QueueDef | RequestQueueDef]] = []
    for queue in QUEUES:
        found.append((queue.dead_letter_queue_name, QUEUE, queue))
        found.append((queue.rule_dead_letter_queue_name, RULE, queue))
    for request_queue in REQUEST_QUEUES:
        found.append((request_queue.dead_letter_queue_name, QUEUE, request_queue))
    return found


def locate_local(sqs: Any) -> list[DeadLetterQueue]:
    """The local emulator's dead-letter queues, by the names emma.resources gives them."""
    from botocore.exceptions import BotoCoreError, ClientError

    def url(name: str) -> str:
        try:
            return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
        except ClientError as exc:
            raise ReplayError(f"{name}: no such queue in the emulator ({_code(exc)}); is `emma dev` running?") from exc
        except BotoCoreError as exc:
            raise ReplayError(f"{name}: cannot reach the emulator: {exc}") from exc

    return [
        DeadLetterQueue(name, kind, url(name), definition.name, url(definition.name))
        for name, kind, definition in dead_letter_queue_names()
    ]


def locate_stack(cloudformation: Any, stack: str) -> list[DeadLetterQueue]:
    """The deployed stack's dead-letter queues, from its outputs. A queue the deployment does not
    have (the Shopify partner queue without its event source) is left out."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        raise ReplayError(f"stack {stack}: {_code(exc)}: {_message(exc)}") from exc
    except BotoCoreError as exc:
        raise ReplayError(f"stack {stack}: {exc}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    found = []
    for name, kind, definition in dead_letter_queue_names():
        key = (rule_dead_letter_queue_url_output if kind == RULE else dead_letter_queue_url_output)(
            definition.logical_id
        )
        destination = outputs.get(queue_url_output(definition.logical_id))
        if key in outputs and destination:
            found.append(DeadLetterQueue(name, kind, outputs[key], definition.name, destination))
    if not found:
        raise ReplayError(
            f"stack {stack}: its outputs name no dead-letter queue (expected e.g. "
            f"{dead_letter_queue_url_output(QUEUES[1].logical_id)}); deploy this version of Emma first"
        )
    return found


def select(available: Sequence[DeadLetterQueue], names: Iterable[str]) -> list[DeadLetterQueue]:
    wanted = list(dict.fromkeys(names))
    if not wanted:
        raise ReplayError(f"name the dead-letter queues to replay, or {ALL}: {', '.join(q.name for q in available)}")
    if ALL in wanted:
        return list(available)
    by_name = {q.name: q for q in available}
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        known = {name for name, _, _ in dead_letter_queue_names()}
        reasons = [f"{n}: not in this deployment" if n in known else f"{n}: no such dead-letter queue" for n in unknown]
        raise ReplayError(f"{'; '.join(reasons)} (choose from {', '.join(by_name)} or {ALL})")
    return [by_name[n] for n in wanted]


@dataclass
class Outcome:
    queue: DeadLetterQueue
    moved: int = 0
    listed: int = 0  # --dry-run: would move
    kept: list[tuple[str, str]] = field(default_factory=list)  # (message id, why it stayed)
    error: str | None = None  # an AWS error that stopped this queue's replay

    @property
    def ok(self) -> bool:
        return not self.kept and self.error is None


@dataclass(frozen=True)
class _Plan:
    message: dict[str, Any]
    entry: dict[str, Any]  # the send batch entry (without its Id); empty when the message cannot be replayed
    problem: str | None
    summary: str


class Replayer:
    """Moves messages with plain boto3 SQS calls (this is a command line tool, not domain code)."""

    def __init__(self, sqs: Any, *, wait_seconds: int = 1, out: TextIO | None = None) -> None:
        self._sqs = sqs
        # Long polling asks every SQS server, so an empty answer means empty; the local emulator
        # answers exactly without it (and a long poll would hold its request lock).
        self._wait = wait_seconds
        self._out = out or sys.stdout
        self._arns: dict[str, str] = {}

    def replay(self, queue: DeadLetterQueue, *, dry_run: bool = False, limit: int | None = None) -> Outcome:
        from botocore.exceptions import BotoCoreError, ClientError

        outcome = Outcome(queue)
        received: dict[str, dict[str, Any]] = {}  # message id -> message, everything this run took
        deleted: set[str] = set()
        try:
            destination_arn = self._arn(queue.destination_url)
            while limit is None or len(received) < limit:
                room = BATCH if limit is None else min(BATCH, limit - len(received))
                # A message shown again during a long run is not taken twice.
                messages = [m for m in self._receive(queue.url, room) if m["MessageId"] not in received]
                if not messages:
                    break
                received.update((m["MessageId"], m) for m in messages)
                plans = [self._plan(queue, m, destination_arn) for m in messages]
                for plan in plans:
                    if plan.problem:
                        self._keep(outcome, plan, plan.problem)
                    elif dry_run:
                        outcome.listed += 1
                        self._print(plan, f"would move to {queue.destination}")
                if not dry_run:
                    deleted |= self._move(queue, [p for p in plans if not p.problem], outcome)
        except (ClientError, BotoCoreError) as exc:
            outcome.error = f"{_code(exc)}: {_message(exc)}" if isinstance(exc, ClientError) else str(exc)
        finally:
            self._show_again(queue, [m for i, m in received.items() if i not in deleted], outcome)
        return outcome

    def _receive(self, url: str, count: int) -> list[dict[str, Any]]:
        return list(
            self._sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=self._wait,
                VisibilityTimeout=VISIBILITY_SECONDS,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        )

    def _plan(self, queue: DeadLetterQueue, message: dict[str, Any], destination_arn: str) -> _Plan:
        body = message.get("Body", "")
        attributes = message.get("MessageAttributes", {})
        event = _json_object(body)
        summary = _summary(event, attributes)
        if queue.kind == RULE:
            if event is None or not all(isinstance(event.get(k), str) for k in ("id", "source", "detail-type")):
                return _Plan(message, {}, "the body is not an EventBridge event (id, source, detail-type)", summary)
            target = _attribute(attributes, "TARGET_ARN")
            if target and target != destination_arn:
                return _Plan(message, {}, f"EventBridge parked it for {target}, not for {destination_arn}", summary)
            # As the rule delivers it: the event as the body, no message attributes.
            return _Plan(message, {"MessageBody": body}, None, summary)
        entry: dict[str, Any] = {"MessageBody": body}
        if attributes:
            entry["MessageAttributes"] = {k: _sendable(v) for k, v in attributes.items()}
        return _Plan(message, entry, None, summary)

    def _move(self, queue: DeadLetterQueue, plans: list[_Plan], outcome: Outcome) -> set[str]:
        """Send each batch to the destination, then delete what was sent; the ids deleted."""
        deleted: set[str] = set()
        for batch in _batches(plans):
            answer = self._sqs.send_message_batch(
                QueueUrl=queue.destination_url, Entries=[{"Id": str(i), **p.entry} for i, p in enumerate(batch)]
            )
            for failure in answer.get("Failed", []):
                problem = f"{queue.destination} refused it: {failure.get('Code')}: {failure.get('Message', '')}"
                self._keep(outcome, batch[int(failure["Id"])], problem)
            sent = [batch[int(s["Id"])] for s in sorted(answer.get("Successful", []), key=lambda s: int(s["Id"]))]
            if not sent:
                continue
            answer = self._sqs.delete_message_batch(
                QueueUrl=queue.url,
                Entries=[{"Id": str(i), "ReceiptHandle": p.message["ReceiptHandle"]} for i, p in enumerate(sent)],
            )
            for failure in answer.get("Failed", []):
                problem = (
                    f"sent to {queue.destination} but not deleted ({failure.get('Code')}): the next replay sends "
                    "it again, which its consumer ignores (idempotent by event id)"
                )
                self._keep(outcome, sent[int(failure["Id"])], problem)
            for success in answer.get("Successful", []):
                plan = sent[int(success["Id"])]
                deleted.add(plan.message["MessageId"])
                outcome.moved += 1
                self._print(plan, f"moved to {queue.destination}")
        return deleted

    def _keep(self, outcome: Outcome, plan: _Plan, problem: str) -> None:
        outcome.kept.append((plan.message["MessageId"], problem))
        self._print(plan, f"stays: {problem}")

    def _show_again(self, queue: DeadLetterQueue, messages: list[dict[str, Any]], outcome: Outcome) -> None:
        """Make the messages this run received and left in place visible again at once."""
        from botocore.exceptions import BotoCoreError, ClientError

        for start in range(0, len(messages), BATCH):
            chunk = messages[start : start + BATCH]
            try:
                self._sqs.change_message_visibility_batch(
                    QueueUrl=queue.url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                        for i, m in enumerate(chunk)
                    ],
                )
            except (ClientError, BotoCoreError) as exc:  # they show again after VISIBILITY_SECONDS anyway
                outcome.error = outcome.error or f"could not make the kept messages visible again: {exc}"

    def _arn(self, url: str) -> str:
        if url not in self._arns:
            attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
            self._arns[url] = attributes["QueueArn"]
        return self._arns[url]

    def _print(self, plan: _Plan, what: str) -> None:
        print(f"  {plan.message['MessageId']}  {plan.summary}  {what}", file=self._out)


def replay(
    sqs: Any,
    queues: Sequence[DeadLetterQueue],
    *,
    dry_run: bool = False,
    limit: int | None = None,
    wait_seconds: int = 1,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Replay ``queues`` in order, at most ``limit`` messages in all; the exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    replayer = Replayer(sqs, wait_seconds=wait_seconds, out=out)
    status, remaining = 0, limit
    for queue in queues:
        if remaining is not None and remaining <= 0:
            break
        print(f"{queue.name} ({queue.kind} dead-letter queue) -> {queue.destination}", file=out)
        outcome = replayer.replay(queue, dry_run=dry_run, limit=remaining)
        handled = outcome.moved + outcome.listed + len(outcome.kept)
        if remaining is not None:
            remaining -= handled
        if dry_run:
            print(f"{queue.name}: {outcome.listed} would move, {len(outcome.kept)} would stay (--dry-run)", file=out)
        else:
            print(f"{queue.name}: {outcome.moved} moved to {queue.destination}, {len(outcome.kept)} stayed", file=out)
        for message_id, problem in outcome.kept:
            print(f"emma: {queue.name}: message {message_id} stayed: {problem}", file=err)
        if outcome.error:
            print(f"emma: {queue.name}: {outcome.error}", file=err)
        if not outcome.ok:
            status = 1
    return status


def run(
    names: Sequence[str],
    *,
    local: bool = False,
    stack: str = DEFAULT_STACK,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    dry_run: bool = False,
    limit: int | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    session_factory: Callable[..., Any] | None = None,
    wait_seconds: int | None = None,
) -> int:
    """`emma replay`: 0 all moved (or listed), 1 something stayed or AWS refused, 2 cannot start.
    ``wait_seconds``: the receive's long poll (default: 1 in AWS, 0 for the emulator)."""
    out, err = out or sys.stdout, err or sys.stderr
    if limit is not None and limit < 1:
        print(f"emma: --max must be at least 1, got {limit}", file=err)
        return 2
    try:
        sqs, queues = _connect(
            local=local,
            stack=stack,
            region=region,
            profile=profile,
            endpoint_url=endpoint_url,
            session_factory=session_factory,
        )
        chosen = select(queues, names)
    except ReplayError as exc:
        print(f"emma: {exc}", file=err)
        return 2
    wait = wait_seconds if wait_seconds is not None else (0 if local else 1)
    return replay(sqs, chosen, dry_run=dry_run, limit=limit, wait_seconds=wait, out=out, err=err)


def _connect(
    *,
    local: bool,
    stack: str,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    session_factory: Callable[..., Any] | None,
) -> tuple[Any, list[DeadLetterQueue]]:
    import os

    import boto3
    from botocore.exceptions import BotoCoreError, NoRegionError, ProfileNotFound

    endpoint_url = endpoint_url or (os.environ.get("AWS_ENDPOINT_URL") if local else None)
    if local and not endpoint_url:
        raise ReplayError("--local needs the emulator's address: --endpoint-url http://127.0.0.1:<port>")
    factory = session_factory or boto3.session.Session
    try:
        if local:
            from emma_local.emulator import REGION

            session = factory(
                aws_access_key_id="emma-local",
                aws_secret_access_key="emma-local",  # noqa: S106 - the emulator's fixed local credentials
                region_name=region or REGION,
            )
        else:
            session = factory(profile_name=profile, region_name=region)
        sqs = session.client("sqs", endpoint_url=endpoint_url)
        if local:
            return sqs, locate_local(sqs)
        if session.get_credentials() is None:
            raise ReplayError("no AWS credentials: use --profile, or set AWS_PROFILE or AWS_ACCESS_KEY_ID")
        return sqs, locate_stack(session.client("cloudformation", endpoint_url=endpoint_url), stack)
    except ProfileNotFound as exc:
        raise ReplayError(str(exc)) from exc
    except NoRegionError as exc:
        raise ReplayError("no AWS region: use --region, or set AWS_REGION") from exc
    except BotoCoreError as exc:
        raise ReplayError(str(exc)) from exc


# --- message helpers ---------------------------------------------------------------------------


def _json_object(body: str) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _attribute(attributes: dict[str, Any], name: str) -> str | None:
    value = attributes.get(name, {}).get("StringValue")
    return str(value) if value is not None else None


def _summary(event: dict[str, Any] | None, attributes: dict[str, Any]) -> str:
    if event is None:
        text = "(not JSON)"
    elif isinstance(event.get("detail-type"), str):
        text = f"event {event.get('id')} {event.get('detail-type')} from {event.get('source')}"
    else:  # a message request (dispatch) or another record
        key = next((event[k] for k in ("id", "key", "request_id") if isinstance(event.get(k), str)), None)
        text = f"record {key}" if key else "record"
    error = _attribute(attributes, "ERROR_CODE")
    if error:
        text += f" [{error}: {_attribute(attributes, 'ERROR_MESSAGE') or ''}]".replace(": ]", "]")
    return text


def _sendable(attribute: dict[str, Any]) -> dict[str, Any]:
    """A received message attribute as send_message takes it (without the empty list fields)."""
    return {k: v for k, v in attribute.items() if k in ("DataType", "StringValue", "BinaryValue")}


def _batches(plans: list[_Plan]) -> Iterable[list[_Plan]]:
    batch: list[_Plan] = []
    size = 0
    for plan in plans:
        entry_size = len(json.dumps(plan.entry, default=str).encode())
        if batch and (len(batch) == BATCH or size + entry_size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(plan)
        size += entry_size
    if batch:
        yield batch


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__))


def _message(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Message", exc))


# --- the command line (registered by emma_local.cli) --------------------------------------------


def register(sub: Any) -> None:
    """Add `emma replay` to the CLI's subcommands."""
    names = ", ".join(name for name, _, _ in dead_letter_queue_names())
    parser = sub.add_parser(
        "replay",
        help="move messages from dead-letter queues back to their queues (deployed stack or local emulator)",
        description="Move the messages of Emma's dead-letter queues back to where they belong: a queue's own "
        "dead-letter queue back to the queue, an EventBridge rule target's dead-letter queue to the rule's "
        "queue. Each message is deleted only after it was sent; running it twice is safe (consumers are "
        "idempotent by event id). Exit codes: 0 all moved, 1 a message stayed or AWS refused, 2 cannot start.",
        epilog=f"dead-letter queues: {names}",
    )
    parser.add_argument("queues", nargs="+", metavar="DLQ", help=f"dead-letter queue names, or {ALL}")
    parser.add_argument("--dry-run", action="store_true", help="list what would move, move nothing")
    parser.add_argument("--max", type=int, default=None, metavar="N", help="handle at most N messages in all")
    parser.add_argument("--stack", default=DEFAULT_STACK, help=f"the deployed stack (default: {DEFAULT_STACK})")
    parser.add_argument("--region", default=None, help="AWS region (default: the AWS environment's)")
    parser.add_argument("--profile", default=None, help="AWS profile (default: the AWS environment's)")
    parser.add_argument(
        "--local",
        action="store_true",
        help="the local emulator of `emma dev` (queue names from emma.resources) instead of a deployed stack",
    )
    parser.add_argument("--endpoint-url", default=None, help="the emulator's address, e.g. http://127.0.0.1:5000")
    parser.set_defaults(func=_command)


def _command(args: Any) -> int:
    return run(
        args.queues,
        local=args.local,
        stack=args.stack,
        region=args.region,
        profile=args.profile,
        endpoint_url=args.endpoint_url,
        dry_run=args.dry_run,
        limit=args.max,
    )
