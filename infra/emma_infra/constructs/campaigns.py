"""`Campaigns`: one-off and recurring sends to a segment's audience (emma.campaigns), run by a state machine.

* The campaigns function (functions/campaigns): the machine's tasks (begin, open, select a shard, selected, wave,
  finish). It reads and writes the runs, their recipient chunks and the shards' selections and reads the audience
  (member lists, profiles, derived state, journey states) in the profiles table; reads the shops' secrets (timezone,
  send hours); puts each wave's message requests on the messages queue (SendMessageBatch, which IAM authorizes as
  sqs:SendMessage); and its ``finish`` task starts the next run of a recurring campaign (states:StartExecution).
* The campaign state machine (Standard, `CAMPAIGN_MACHINE_NAME`): the ASL of `campaign_machine()`, the same the
  local runtime runs, with ``${CampaignsFunctionArn}`` filled in by CloudFormation (DefinitionSubstitutions). One
  execution per run (emma.campaigns.runs.execution_name), its Select an inline Map over the member-list shards:
  every state is a task of the function, no child workflows.
* The ingest API's admin routes (functions/ingest/routes/campaigns.py): start and resume a run (StartExecution),
  cancel it (StopExecution of its execution), pause it (the run's item only), follow it (the profiles table), and
  test sends to the campaign's seeds (sqs:SendMessage on the messages queue).
* The dispatcher reads a run's status before each of its messages (emma.adapters.campaigns.CachedGate): a GetItem
  in the profiles table, which it reads and writes anyway (sizing.DISPATCH_FUNCTION).

No cycle: like the import machine, the campaign machine has a fixed name, and the ARNs the function (which the
machine's definition names) and the ingest API need are built from it instead of referencing the machine.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, ArnFormat, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from emma.campaigns.machine import FUNCTION, campaign_machine
from emma.resources import (
    CAMPAIGN_MACHINE_ENV,
    CAMPAIGN_MACHINE_NAME,
    CAMPAIGNS_FUNCTION,
    CATALOG_TABLE,
    MESSAGES_QUEUE,
)
from emma_infra.constructs.functions import EmmaFunction, Platform
from emma_infra.constructs.journeys import logged_machine
from emma_infra.sizing import CAMPAIGNS_FUNCTION_OPTIONS

# The DefinitionSubstitutions key of the machine's placeholder: "${CampaignsFunctionArn}" -> "CampaignsFunctionArn".
FUNCTION_KEY = FUNCTION.removeprefix("${").removesuffix("}")


class Campaigns(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform: Platform,
        messages_queue: sqs.IQueue,
        api: EmmaFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.machine_arn = Stack.of(self).format_arn(
            service="states",
            resource="stateMachine",
            resource_name=CAMPAIGN_MACHINE_NAME,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.messages_queue = messages_queue
        # What CampaignSettings adds to what the function's options give (the profiles table, the bus's name,
        # the shop secrets' prefix, the definitions), for the function and the ingest API alike.
        self.environment = {
            MESSAGES_QUEUE.env_var: messages_queue.queue_url,
            CAMPAIGN_MACHINE_ENV: self.machine_arn,
        }

        self.function = EmmaFunction(
            self,
            "Function",
            folder=CAMPAIGNS_FUNCTION,
            platform=platform,
            description="Emma campaigns: the campaign state machine's tasks (an audience decided, sent in waves)",
            options=CAMPAIGNS_FUNCTION_OPTIONS,
            environment={
                **self.environment,
                # CampaignSettings extends IngestSettings, which requires the catalog table's name; the tasks
                # never read or write that table (sizing.CAMPAIGNS_FUNCTION_OPTIONS), so no access to it.
                **platform.data.environment_for([CATALOG_TABLE]),
            },
        )
        self._allow_function(self.function)
        self.state_machine = self._state_machine()
        self._allow_api(api)

    def _allow_function(self, function: EmmaFunction) -> None:
        """The waves onto the messages queue, and the next run of a recurring campaign started by ``finish``."""
        policy = iam.Policy(
            function,
            "SendCampaigns",
            roles=[function.role],
            statements=[
                # SendMessageBatch is authorized as sqs:SendMessage; the queue is SQS-managed encrypted (no key).
                iam.PolicyStatement(
                    sid="QueueWaves", actions=["sqs:SendMessage"], resources=[self.messages_queue.queue_arn]
                ),
                iam.PolicyStatement(
                    sid="StartNextRuns", actions=["states:StartExecution"], resources=[self.machine_arn]
                ),
            ],
        )
        # A task may run as soon as the machine exists: its permissions first.
        function.function.node.add_dependency(policy)

    def _state_machine(self) -> sfn.StateMachine:
        machine = logged_machine(
            self,
            "Machine",
            CAMPAIGN_MACHINE_NAME,
            campaign_machine(),
            {FUNCTION_KEY: self.function.function.function_arn},
        )
        # Exactly the (unqualified) function the tasks name: no grant_invoke, which adds "<arn>:*". In the role's
        # default policy, which the machine waits for.
        machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="InvokeCampaignsFunction",
                actions=["lambda:InvokeFunction"],
                resources=[self.function.function.function_arn],
            )
        )
        return machine

    def _allow_api(self, api: EmmaFunction) -> None:
        """The ingest API's campaign routes: where the machine and the messages queue are (CampaignSettings),
        starting a run's execution (start, resume), stopping it (cancel), test sends onto the messages queue.
        Its runs, audiences and counts are in the profiles table, which the ingest API reads and writes anyway."""
        for key, value in self.environment.items():
            api.function.add_environment(key, value)
        policy = iam.Policy(
            api,
            "SendCampaigns",
            roles=[api.role],
            statements=[
                iam.PolicyStatement(
                    sid="StartCampaignRuns", actions=["states:StartExecution"], resources=[self.machine_arn]
                ),
                iam.PolicyStatement(
                    sid="CancelCampaignRuns",
                    actions=["states:StopExecution"],
                    resources=[
                        Stack.of(self).format_arn(
                            service="states",
                            resource="execution",
                            resource_name=f"{CAMPAIGN_MACHINE_NAME}:*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
                ),
                iam.PolicyStatement(
                    sid="QueueTestSends", actions=["sqs:SendMessage"], resources=[self.messages_queue.queue_arn]
                ),
            ],
        )
        # The first POST /v1/campaigns/{campaign}/start after a deploy may already start an execution: the machine
        # and this policy first.
        api.function.node.add_dependency(policy, self.state_machine)
        Validations.of(policy).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
                f"execution:{CAMPAIGN_MACHINE_NAME}:*]",
                reason="POST /v1/campaigns/{campaign}/cancel stops the execution of the run in progress, named at run "
                "time after the shop, the campaign, the run's day and its resumes (emma.campaigns.runs."
                "execution_name); the shop comes first, so no narrower prefix names them all.",
            ),
        )
