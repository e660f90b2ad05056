"""`StreamConsumer`: one `emma.resources.StreamConsumerDef` made real.

The def's function reads its table's DynamoDB stream through an event source mapping that filters the
records (Lambda's event filtering: a filtered-out record costs no invocation), starts at the oldest record
the stream keeps (24 hours), waits up to the def's batching window to fill a batch, and reports failed
records one by one, so Lambda retries from the first failed record with everything after it (the stream's
order per item is kept). After the def's retry attempts the batch's position (shard and sequence numbers,
not the records) goes to an encrypted dead-letter queue; the records themselves stay readable in the
stream for the rest of its 24 hours. The IteratorAge alarm says the function is falling behind long before.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from emma.resources import StreamConsumerDef
from emma_infra.constructs.consumers import encrypted_queue
from emma_infra.constructs.functions import EmmaFunction, FunctionOptions, Platform
from emma_infra.constructs.monitoring import ThresholdAlarm

ITERATOR_AGE_ALARM_MS = 5 * 60 * 1000  # the oldest record waiting: five minutes behind is an incident


class StreamConsumer(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: StreamConsumerDef,
        table: dynamodb.ITable,
        platform: Platform,
        options: FunctionOptions | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.definition = definition
        self.dead_letter_queue = encrypted_queue(self, "DeadLetterQueue")
        Validations.of(self.dead_letter_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue is the on-failure destination of a DynamoDB stream's event source mapping; "
                "cdk-nag only recognises dead-letter queues named in another queue's RedrivePolicy. A "
                "dead-letter queue needs no dead-letter queue.",
            )
        )
        self.consumer = EmmaFunction(
            self,
            "Function",
            folder=definition.consumer,
            platform=platform,
            description=f"Emma {definition.consumer}: reads the {definition.table.name} table's stream",
            options=options,
        )
        self.consumer.function.add_event_source(
            sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=definition.batch_size,
                max_batching_window=Duration.seconds(definition.batching_window_seconds),
                retry_attempts=definition.retry_attempts,
                report_batch_item_failures=True,
                on_failure=sources.SqsDlq(self.dead_letter_queue),
                filters=[lambda_.FilterCriteria.filter(definition.filter_pattern)],
            )
        )
        name = "".join(part.title() for part in definition.consumer.split("_"))
        self.alarms = [
            ThresholdAlarm(
                name=f"{name}IteratorAge",
                metric=cloudwatch.Metric(
                    namespace="AWS/Lambda",
                    metric_name="IteratorAge",
                    dimensions_map={"FunctionName": self.consumer.function.function_name},
                    statistic="Maximum",
                    period=Duration.minutes(5),
                ),
                threshold=ITERATOR_AGE_ALARM_MS,
                description=f"Emma {definition.consumer}: the {definition.table.name} stream's oldest record waits "
                "over 5 minutes (the function fails or falls behind; records older than 24 hours are gone)",
            )
        ]
