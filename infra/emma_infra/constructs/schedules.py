"""`ScheduledFunction`: one `emma.resources.ScheduleDef` made real.

An EventBridge Scheduler schedule invokes the def's function every `rate_minutes` minutes
(asynchronously, with the flexible time window off). When Scheduler cannot deliver an invocation
(throttling, a missing function or permission) it retries for at most one period, then parks the
invocation in an encrypted dead-letter queue. A run that fails in the function raises the
function's Errors alarm and is retried by Lambda (twice, as any asynchronous invocation); either way
the next run catches up, since no scheduled job works from what the invocation carries: the rules
scheduler works from a cursor (everything due since the last successful run), the recommendations
build rebuilds every model from scratch.
"""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from constructs import Construct

from emma.resources import ScheduleDef
from emma_infra.constructs.consumers import encrypted_queue
from emma_infra.constructs.functions import EmmaFunction, FunctionOptions, Platform

RETRY_ATTEMPTS = 3  # Scheduler's delivery retries (with backoff), within one period


@jsii.implements(scheduler.IScheduleTarget)
class InvokeFunction(targets.ScheduleTargetBase):
    """`aws_scheduler_targets.LambdaInvoke`, minus its grant on ``<function arn>:*`` (every version
    and alias): the schedule invokes the unqualified function, so its role may invoke just that."""

    def __init__(self, function: lambda_.IFunction, **props: Any) -> None:
        super().__init__(targets.ScheduleTargetBaseProps(**props), function.function_arn)
        self._function = function

    def _add_target_action_to_role(self, role: iam.IRole) -> None:
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self._function.function_arn])
        )


class ScheduledFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: ScheduleDef,
        platform: Platform,
        options: FunctionOptions | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.definition = definition
        rate = Duration.minutes(definition.rate_minutes)
        self.dead_letter_queue = encrypted_queue(self, "DeadLetterQueue")
        Validations.of(self.dead_letter_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue is the dead-letter queue of the EventBridge Scheduler target "
                "(the schedule's DeadLetterConfig); cdk-nag only recognises dead-letter queues named "
                "in another queue's RedrivePolicy. A dead-letter queue needs no dead-letter queue.",
            )
        )
        self.consumer = EmmaFunction(
            self,
            "Function",
            folder=definition.consumer,
            platform=platform,
            description=f"Emma {definition.consumer}: runs every {definition.rate_minutes} minutes",
            options=options,
        )
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            schedule=scheduler.ScheduleExpression.rate(rate),
            description=f"Emma {definition.consumer}: every {definition.rate_minutes} minutes",
            target=InvokeFunction(
                self.consumer.function,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=RETRY_ATTEMPTS,
                max_event_age=rate,  # an invocation older than a period is superseded by the next one
            ),
        )
