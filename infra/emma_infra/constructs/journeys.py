"""`Journeys`: one Step Functions Standard state machine per journey definition (journeys/*.yaml).

* The journeys' tasks invoke the `journey_steps` function (lambda:invoke, and
  lambda:invoke.waitForTaskToken for event waits). Each journey is compiled to ASL at synth time by
  the same compiler the local runtime uses (`emma.journeys.compile`), with the placeholder
  ``${StepsFunctionArn}`` filled in by CloudFormation (DefinitionSubstitutions).
* The steps function sends message requests to the messages queue (encrypted, with a dead-letter
  queue), for the dispatcher to drain.
* The `journeys` consumer of the journeys queue (built by the stack's `QueueConsumer` loop) starts,
  stops and resumes executions: `Journeys` gives it the environment and IAM it needs for that.

No cycle: the state machines need the steps function's ARN, and the steps function needs theirs
(EMMA_JOURNEY_STATE_MACHINES, and states:SendTaskSuccess when an awaited event already happened).
So the state machines get fixed names (`emma.resources.state_machine_name`, like the fixed name of
the bus: one Emma stack per account and region), and everything that needs their ARNs builds them
from the name instead of referencing the machines.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from aws_cdk import Acknowledgment, ArnFormat, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from emma.journeys.compile import STEPS_FUNCTION, compile_journey
from emma.journeys.definitions import Journey
from emma.resources import (
    CATALOG_TABLE,
    JOURNEY_MACHINES_ENV,
    JOURNEY_STEPS_FUNCTION,
    MESSAGES_QUEUE,
    state_machine_name,
)
from emma_infra.constructs.consumers import encrypted_queue
from emma_infra.constructs.functions import LOG_RETENTION, EmmaFunction, Platform
from emma_infra.sizing import FUNCTION_OPTIONS

# The DefinitionSubstitutions key of the compiler's placeholder: "${StepsFunctionArn}" -> "StepsFunctionArn".
STEPS_FUNCTION_KEY = STEPS_FUNCTION.removeprefix("${").removesuffix("}")
# CloudWatch Logs keeps its resource policy small for log groups under this prefix (Step Functions
# delivers its logs as "vended logs"); see the Step Functions developer guide on logging.
LOG_GROUP_PREFIX = "/aws/vendedlogs/states/"
LOGGING_AND_TRACING = Acknowledgment(
    id="AwsSolutions-IAM5[Resource::*]",
    reason="Step Functions logging to CloudWatch Logs needs logs:CreateLogDelivery, GetLogDelivery, "
    "UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, "
    "DescribeResourcePolicies and DescribeLogGroups, and X-Ray tracing xray:PutTraceSegments, "
    "PutTelemetryRecords, GetSamplingRules and GetSamplingTargets: none supports resource-level "
    "permissions (resource must be '*').",
)


def logged_machine(
    scope: Construct, construct_id: str, name: str, definition: dict, substitutions: dict[str, str]
) -> sfn.StateMachine:
    """A Standard state machine (journeys wait weeks, imports run Distributed Maps, campaign runs wait for their
    start and between waves) logging every state transition without the data it carries (ids, profile fields,
    keys) to its own log group, traced; its role's wildcard for logging and tracing acknowledged."""
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        log_group_name=f"{LOG_GROUP_PREFIX}{name}",
        retention=LOG_RETENTION,
        removal_policy=RemovalPolicy.DESTROY,
    )
    machine = sfn.StateMachine(
        scope,
        construct_id,
        state_machine_name=name,
        state_machine_type=sfn.StateMachineType.STANDARD,
        definition_body=sfn.DefinitionBody.from_string(json.dumps(definition, sort_keys=True)),
        definition_substitutions=substitutions,
        logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        tracing_enabled=True,
    )
    Validations.of(machine.role).acknowledge(LOGGING_AND_TRACING)
    return machine


# Lambda allows 4 KB of environment variables per function, keys and values together; the journeys
# functions' other variables take well under 1 KB (table names, bus name, queue URL, paths).
MAX_MACHINES_ENV_BYTES = 3000
# The longest a state machine ARN can be before its name (GovCloud partition and region).
_LONGEST_ARN_PREFIX = "arn:aws-us-gov:states:us-gov-west-1:123456789012:stateMachine:"


def check_machines_env_size(names: Mapping[str, str]) -> None:
    """Refuse at synth what Lambda would refuse at deploy: a journey id -> ARN map too big for the
    environment (about 25 journeys with ids of 20 characters)."""
    size = len(JOURNEY_MACHINES_ENV) + len(json.dumps({j: _LONGEST_ARN_PREFIX + n for j, n in names.items()}))
    if size > MAX_MACHINES_ENV_BYTES:
        raise ValueError(
            f"{len(names)} journeys: {JOURNEY_MACHINES_ENV} would take up to {size} bytes of the functions' "
            f"4 KB environment (at most {MAX_MACHINES_ENV_BYTES}); shorten journey ids or pass the ARNs "
            "another way (e.g. an ARN prefix plus emma.resources.state_machine_name)"
        )


def construct_name(journey_id: str) -> str:
    """smartphone-onboarding -> SmartphoneOnboarding (construct ids, alarm names)."""
    return "".join(part.title() for part in journey_id.split("-"))


class Journeys(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        journeys: Sequence[Journey],
        platform: Platform,
        consumer: EmmaFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.dead_letter_queue = encrypted_queue(self, "MessagesDeadLetterQueue")
        self.messages_queue = encrypted_queue(
            self,
            MESSAGES_QUEUE.logical_id,
            visibility_timeout=Duration.seconds(MESSAGES_QUEUE.visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=MESSAGES_QUEUE.max_receive_count, queue=self.dead_letter_queue
            ),
        )

        # journey id -> state machine ARN, from the fixed names (see the module docstring).
        self.names = {j.id: state_machine_name(j.id) for j in journeys}
        check_machines_env_size(self.names)
        self.machine_arns = {
            journey_id: stack.format_arn(
                service="states", resource="stateMachine", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
            )
            for journey_id, name in self.names.items()
        }
        self.environment = {
            MESSAGES_QUEUE.env_var: self.messages_queue.queue_url,
            JOURNEY_MACHINES_ENV: stack.to_json_string(self.machine_arns),
            # JourneySettings extends IngestSettings, which requires the catalog table's name; the
            # journeys functions never use that table (see sizing.JOURNEY_FUNCTION), so no access to it.
            **platform.data.environment_for([CATALOG_TABLE]),
        }

        self.steps = EmmaFunction(
            self,
            "Steps",
            folder=JOURNEY_STEPS_FUNCTION,
            platform=platform,
            description="Emma journey steps: send, update, emit, branch, split, wait (invoked by the journeys)",
            options=FUNCTION_OPTIONS[JOURNEY_STEPS_FUNCTION],
            environment=self.environment,
        )
        self.messages_queue.grant_send_messages(self.steps.function)
        if self.machine_arns:
            # An event wait whose event already happened hands the token back at once.
            self.steps.function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["states:SendTaskSuccess", "states:SendTaskFailure"],
                    resources=list(self.machine_arns.values()),
                )
            )

        self.state_machines: dict[str, sfn.StateMachine] = {j.id: self._state_machine(j, self.steps) for j in journeys}
        self.consumer = consumer
        self._control(consumer)

    def _state_machine(self, journey: Journey, steps: EmmaFunction) -> sfn.StateMachine:
        machine = logged_machine(
            self,
            construct_name(journey.id),
            self.names[journey.id],
            compile_journey(journey),
            {STEPS_FUNCTION_KEY: steps.function.function_arn},
        )
        # Exactly the (unqualified) function the tasks name: no grant_invoke, which adds "<arn>:*".
        machine.add_to_role_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[steps.function.function_arn])
        )
        return machine

    def _control(self, consumer: EmmaFunction) -> None:
        """The journeys consumer: its environment, and start/stop/resume on the journeys' executions."""
        for key, value in self.environment.items():
            consumer.function.add_environment(key, value)
        if not self.machine_arns:
            return
        executions = self.execution_arns()
        policy = iam.Policy(
            self,
            "ControlExecutions",
            roles=[consumer.role],
            statements=[
                iam.PolicyStatement(
                    sid="StartAndResume",
                    actions=["states:StartExecution", "states:SendTaskSuccess"],
                    resources=list(self.machine_arns.values()),
                ),
                iam.PolicyStatement(
                    sid="StopAndDescribe",
                    actions=["states:StopExecution", "states:DescribeExecution"],
                    resources=executions,
                ),
            ],
        )
        # The first event after a deploy may already start an execution: the machines and this policy first.
        consumer.function.node.add_dependency(policy, *self.state_machines.values())
        self._acknowledge_executions(policy)

    def execution_arns(self) -> list[str]:
        """arn:<partition>:states:<region>:<account>:execution:<state machine name>:* of every journey."""
        stack = Stack.of(self)
        return [
            stack.format_arn(
                service="states",
                resource="execution",
                resource_name=f"{name}:*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for name in self.names.values()
        ]

    def allow_stopping(self, function: EmmaFunction) -> None:
        """states:StopExecution on every journey's executions, for a function that ends a customer's
        journeys (the privacy erasure: the ingest API and the privacy schedule). No StartExecution and
        no DescribeExecution: an execution that already ended is told by StopExecution's error."""
        if not self.machine_arns:
            return
        policy = iam.Policy(
            function,
            "StopJourneyExecutions",
            roles=[function.role],
            statements=[
                iam.PolicyStatement(
                    sid="StopExecutions", actions=["states:StopExecution"], resources=self.execution_arns()
                )
            ],
        )
        function.function.node.add_dependency(policy)
        self._acknowledge_executions(policy)

    def _acknowledge_executions(self, policy: iam.Policy) -> None:
        Validations.of(policy).acknowledge(
            *(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
                    f"execution:{name}:*]",
                    reason=f"The executions of the {name} state machine: one per customer and journey entry, "
                    "named at run time (deterministically from profile and cause), so only the trailing "
                    "execution name can be a wildcard.",
                )
                for name in self.names.values()
            )
        )
