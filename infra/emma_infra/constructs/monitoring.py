"""Alarms, all sent to one SNS topic: subscribe an email address or a chat webhook to it.

* each function: Errors > 0 and Throttles > 0 over 5 minutes;
* each dead-letter queue: any visible message (a record that failed all its retries);
* each EventBridge rule target's dead-letter queue: any visible message (an event EventBridge could
  not deliver to its queue);
* each journey's state machine: any failed execution over 5 minutes (a step failed all its retries;
  the failure is recorded on the customer's journey state);
* the import state machine (`IMPORT_MACHINE_ALARM`): any failed import over 5 minutes;
* the campaign state machine (`CAMPAIGN_MACHINE_ALARM`): any failed campaign run over 5 minutes;
* the HTTP API: any 5xx over 5 minutes;
* metrics with a threshold of their own (`ThresholdAlarm`), e.g. the SES reputation rates of `Dispatch`.

Missing data (no traffic) is "not breaching": an idle deployment stays green and costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from emma_infra.constructs.functions import EmmaFunction

PERIOD = Duration.minutes(5)
# The import and campaign state machines' names among `Monitoring`'s state machines (the journeys': their
# construct names), and what their alarms say.
IMPORT_MACHINE_ALARM = "ImportMachine"
CAMPAIGN_MACHINE_ALARM = "CampaignMachine"
MACHINE_ALARM_DESCRIPTIONS = {
    IMPORT_MACHINE_ALARM: "Emma imports: an import failed (a refused file, or a task that failed all its retries; "
    "see GET /v1/imports/{job} and the execution history, fix the cause, then redrive the execution)",
    CAMPAIGN_MACHINE_ALARM: "Emma campaigns: a campaign run failed (a task failed all its retries or timed out; see "
    "GET /v1/campaigns/{campaign}/runs/{run} and the execution history, fix the cause, then redrive the execution: "
    "the run goes on where it stopped, and nothing already handed to the dispatcher is sent twice)",
}


@dataclass(frozen=True)
class ThresholdAlarm:
    """An alarm when ``metric`` goes over ``threshold`` (the others: over 0)."""

    name: str
    metric: cloudwatch.IMetric
    threshold: float
    description: str


# Google's bulk sender rules: keep the spam rate under 0.1 %, never reach 0.3 %. Emma warns at 0.1 %.
GMAIL_COMPLAINT_TARGET = 0.001
COMPLAINT_MIN_DELIVERED = 200  # below this many deliveries a day, one complaint is noise, not a rate


def complaint_rate_alarm(service_name: str) -> ThresholdAlarm:
    """Complaints per delivered email over the last 24 hours, from the analytics consumer's metrics
    (counted once per message), so that the shop acts before Gmail's 0.3 % limit."""
    day = Duration.hours(24)

    def metric(name: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="Emma",
            metric_name=name,
            dimensions_map={"service": service_name},
            period=day,
            statistic="Sum",
        )

    rate = cloudwatch.MathExpression(
        expression=f"IF(delivered >= {COMPLAINT_MIN_DELIVERED}, complained / delivered, 0)",
        using_metrics={"delivered": metric("EmailDelivered"), "complained": metric("EmailComplained")},
        period=day,
        label="complaint rate",
    )
    return ThresholdAlarm(
        name="EmailComplaintRate",
        metric=rate,
        threshold=GMAIL_COMPLAINT_TARGET,
        description=f"Emma analytics: over {GMAIL_COMPLAINT_TARGET:.1%} of the emails delivered in the last 24 hours "
        "were marked as spam (Gmail rejects bulk senders at 0.3 %): see GET /v1/analytics/deliverability per shop",
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Sequence[EmmaFunction],
        dead_letter_queues: Sequence[tuple[str, sqs.IQueue]],
        http_api: apigwv2.HttpApi,
        rule_dead_letter_queues: Sequence[tuple[str, sqs.IQueue]] = (),
        state_machines: Mapping[str, sfn.IStateMachine] | None = None,
        thresholds: Sequence[ThresholdAlarm] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        key = kms.Key(
            self,
            "TopicKey",
            description="Encrypts the Emma alarm topic",
            enable_key_rotation=True,
            # Only encrypts alarm notifications in flight: nothing to keep once the stack is gone, and a
            # retained key would go on costing $1 a month.
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        # CloudWatch publishes alarm notifications to the encrypted topic with this key.
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(self, "AlarmTopic", display_name="Emma alarms", master_key=key, enforce_ssl=True)
        self._action = cw_actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []

        for fn in functions:
            name = "".join(part.title() for part in fn.folder.split("_"))  # shopify_events -> ShopifyEvents
            self._alarm(
                f"{name}Errors", fn.function.metric_errors(period=PERIOD), f"Emma {fn.folder}: invocations failed"
            )
            self._alarm(
                f"{name}Throttles",
                fn.function.metric_throttles(period=PERIOD),
                f"Emma {fn.folder}: invocations throttled",
            )
        for name, queue in dead_letter_queues:
            self._alarm(
                f"{name}DeadLetters",
                queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                f"Emma {name}: messages in the dead-letter queue (failed all retries; inspect, fix the cause, "
                "then `emma replay`, docs/deploy.md)",
            )
        for name, queue in rule_dead_letter_queues:
            self._alarm(
                f"{name}RuleDeadLetters",
                queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                f"Emma {name}: events EventBridge could not deliver to the queue (ERROR_CODE/ERROR_MESSAGE "
                "attributes say why); fix the cause, then `emma replay` (docs/deploy.md)",
            )
        for name, machine in (state_machines or {}).items():
            self._alarm(
                f"{name}ExecutionsFailed",
                machine.metric_failed(period=PERIOD),
                MACHINE_ALARM_DESCRIPTIONS.get(
                    name,
                    f"Emma journey {name}: executions failed (a step failed all its retries; see the execution "
                    "history and the customer's journey state)",
                ),
            )
        self._alarm("Api5xx", http_api.metric_server_error(period=PERIOD), "Emma ingest API: 5xx responses")
        for alarm in thresholds:
            self._alarm(alarm.name, alarm.metric, alarm.description, threshold=alarm.threshold)

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, description: str, threshold: float = 0) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            alarm_description=description,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        self.alarms.append(alarm)
