"""`QueueConsumer`: one `emma.resources.QueueDef` made real.

An EventBridge rule (the def's event pattern) feeds an encrypted SQS queue; the def's consumer
function drains it in batches and reports failed records one by one, so SQS retries only those and
parks a record in the dead-letter queue after `max_receive_count` attempts.

The rule's target has a dead-letter queue of its own: an event EventBridge cannot deliver to the
queue (the queue's policy or encryption refuses it, SQS is unavailable past the def's retry
policy) is kept there with EventBridge's error attributes instead of being dropped. Only the rule
may send to either queue. `emma replay` moves messages of both dead-letter queues back to the queue.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from emma.resources import QueueDef
from emma_infra.constructs.functions import EmmaFunction, FunctionOptions, Platform

MESSAGE_RETENTION = Duration.days(14)  # the SQS maximum: two weeks to notice and redrive


def encrypted_queue(scope: Construct, construct_id: str, **kwargs: object) -> sqs.Queue:
    """Every Emma queue: SQS-managed encryption, TLS only, two weeks' retention."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=MESSAGE_RETENTION,
        **kwargs,
    )


class QueueConsumer(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: QueueDef,
        event_bus: events.IEventBus,
        platform: Platform,
        options: FunctionOptions | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.definition = definition
        visibility = definition.visibility_timeout_seconds
        # Without options: Lambda's recommendation of a visibility timeout six times the function timeout.
        options = options or FunctionOptions(memory_size=512, timeout_seconds=max(3, visibility // 6))
        if options.timeout_seconds > visibility:
            # Lambda refuses the event source mapping at deploy time; say so at synth time instead.
            raise ValueError(
                f"{definition.logical_id}: the queue's visibility timeout ({visibility} s) must be at least "
                f"the {definition.consumer} function's timeout ({options.timeout_seconds} s)"
            )
        self.dead_letter_queue = encrypted_queue(self, "DeadLetterQueue")
        self.queue = encrypted_queue(
            self,
            "Queue",
            visibility_timeout=Duration.seconds(definition.visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=definition.max_receive_count, queue=self.dead_letter_queue
            ),
        )
        self.rule_dead_letter_queue = encrypted_queue(self, "RuleDeadLetterQueue")
        Validations.of(self.rule_dead_letter_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue is the dead-letter queue of the EventBridge rule's target (the target's "
                "DeadLetterConfig); cdk-nag only recognises dead-letter queues named in another queue's "
                "RedrivePolicy. A dead-letter queue needs no dead-letter queue.",
            )
        )
        # L1 on purpose: the def's pattern is raw EventBridge JSON (the local runtime hands the very
        # same dict to its emulated bus), which the typed L2 EventPattern cannot take as it is.
        self.rule = events.CfnRule(
            self,
            "Rule",
            description=f"{definition.name}: forward matching events to its queue",
            event_bus_name=event_bus.event_bus_name,
            event_pattern=definition.event_pattern,
            state="ENABLED",
            targets=[
                events.CfnRule.TargetProperty(
                    id="Queue",
                    arn=self.queue.queue_arn,
                    dead_letter_config=events.CfnRule.DeadLetterConfigProperty(
                        arn=self.rule_dead_letter_queue.queue_arn
                    ),
                    retry_policy=events.CfnRule.RetryPolicyProperty(
                        maximum_retry_attempts=definition.rule_retry_attempts,
                        maximum_event_age_in_seconds=definition.rule_max_event_age_seconds,
                    ),
                )
            ],
        )
        for queue in (self.queue, self.rule_dead_letter_queue):
            queue.grant_send_messages(
                iam.ServicePrincipal("events.amazonaws.com").with_conditions(
                    {"ArnEquals": {"aws:SourceArn": self.rule.attr_arn}}
                )
            )
        self.consumer = EmmaFunction(
            self,
            "Consumer",
            folder=definition.consumer,
            platform=platform,
            description=f"Emma {definition.consumer}: drains the {definition.name} queue",
            options=options,
            environment=definition.env,
        )
        self.consumer.function.add_event_source(
            sources.SqsEventSource(self.queue, batch_size=definition.batch_size, report_batch_item_failures=True)
        )
