"""`Dispatch`: the messages queue's consumer and what it sends with (SES, SNS).

* The `dispatch` function drains the messages queue (built by `Journeys`, with its dead-letter queue)
  in batches of `MESSAGES_QUEUE.batch_size`, reporting failed records one by one. It decides consent,
  caps, quiet hours and channel, renders the templates shipped in the definitions layer, and sends
  email through SES (Emma's configuration set), SMS and push through SNS. What it sends it records
  through the ingest service, which publishes canonical events on Emma's bus.
* The configuration set requires TLS, publishes reputation metrics (bounce and complaint rates), and
  sends every sending event (delivered, opened, clicked, bounced, complained, ...) to the account's
  *default* EventBridge bus, the only bus an SES event destination can target. The stack's
  `QueueConsumer` for `SES_FEEDBACK_QUEUE` takes them from there (the `ses_feedback` function).
* Sender identities: the CloudFormation parameter ``SenderDomains`` lists the domains the shops send
  from. The function may send only with a From address at one of them (``ses:FromAddress``); with the
  parameter empty (the default) it may send no email at all.
* The `scheduler` function releases deferred messages (quiet hours, caps) back to the queue when due:
  `Dispatch` gives it the queue's URL and `sqs:SendMessage`.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment, CfnParameter, Fn, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from emma.resources import (
    CATALOG_TABLE,
    MESSAGES_QUEUE,
    PUBLIC_API_URL_ENV,
    SCHEDULE_TABLE,
    SES_CONFIGURATION_SET_ENV,
)
from emma_infra.constructs.functions import EmmaFunction, Platform
from emma_infra.constructs.monitoring import PERIOD, ThresholdAlarm
from emma_infra.sizing import FUNCTION_OPTIONS

SENDER_DOMAINS_PARAMETER = "SenderDomains"
SENDER_DOMAIN_PATTERN = r"^$|^([A-Za-z0-9-]+\.)+[A-Za-z0-9-]{2,}$"  # one domain (or none: the default)
# Every SES sending event: dispatch's feedback (ses_feedback) picks what it maps, the rest is dropped there.
SENDING_EVENTS = (
    ses.EmailSendingEvent.SEND,
    ses.EmailSendingEvent.DELIVERY,
    ses.EmailSendingEvent.OPEN,
    ses.EmailSendingEvent.CLICK,
    ses.EmailSendingEvent.BOUNCE,
    ses.EmailSendingEvent.COMPLAINT,
    ses.EmailSendingEvent.DELIVERY_DELAY,
    ses.EmailSendingEvent.REJECT,
    ses.EmailSendingEvent.RENDERING_FAILURE,
    ses.EmailSendingEvent.SUBSCRIPTION,
)
# SES reviews an account from a bounce rate of 5% and a complaint rate of 0.1% (and may pause its
# sending at 10% and 0.5%): alarm when the account reaches review level.
BOUNCE_RATE_THRESHOLD = 0.05
COMPLAINT_RATE_THRESHOLD = 0.001


class Dispatch(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform: Platform,
        messages_queue: sqs.IQueue,
        default_bus: events.IEventBus,
        public_api_url: str,
        releasers: Sequence[EmmaFunction] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        options = FUNCTION_OPTIONS[MESSAGES_QUEUE.consumer]
        if options.timeout_seconds * 6 > MESSAGES_QUEUE.visibility_timeout_seconds:
            # Lambda's recommendation for SQS sources: a message in flight is not handed out again
            # while a (throttled, retried) invocation may still be sending it.
            raise ValueError(
                f"{MESSAGES_QUEUE.logical_id}: the queue's visibility timeout "
                f"({MESSAGES_QUEUE.visibility_timeout_seconds} s) must be at least six times the "
                f"{MESSAGES_QUEUE.consumer} function's timeout ({options.timeout_seconds} s)"
            )
        stack = Stack.of(self)
        self.messages_queue = messages_queue

        self.configuration_set = ses.ConfigurationSet(
            self,
            "ConfigurationSet",
            reputation_metrics=True,
            tls_policy=ses.ConfigurationSetTlsPolicy.REQUIRE,
            sending_enabled=True,
        )
        self.event_destination = ses.ConfigurationSetEventDestination(
            self,
            "EventBridge",
            configuration_set=self.configuration_set,
            destination=ses.EventDestination.event_bus(default_bus),
            events=list(SENDING_EVENTS),
        )
        self.configuration_set_arn = stack.format_arn(
            service="ses",
            resource="configuration-set",
            resource_name=self.configuration_set.configuration_set_name,
        )

        self.sender_domains = CfnParameter(
            self,
            SENDER_DOMAINS_PARAMETER,
            type="CommaDelimitedList",
            default="",
            # CloudFormation checks each domain of the list against it: no "*" that would widen the condition.
            allowed_pattern=SENDER_DOMAIN_PATTERN,
            constraint_description="a comma-separated list of domain names such as elektro-emma.de,fahrrad-franz.at",
            description="Domains the shops send email from, comma-separated (e.g. elektro-emma.de,fahrrad-franz.at); "
            "each must be verified in SES. Emma sends email only from addresses at these domains; empty: no email.",
        )
        self.sender_domains.override_logical_id(SENDER_DOMAINS_PARAMETER)

        self.function = EmmaFunction(
            self,
            "Function",
            folder=MESSAGES_QUEUE.consumer,
            platform=platform,
            description=f"Emma {MESSAGES_QUEUE.consumer}: sends the message requests of the {MESSAGES_QUEUE.name} "
            "queue by email (SES), SMS and push (SNS)",
            options=options,
            environment={
                # options.tables (the profiles table) are read and written; these two are read / written only.
                **platform.data.environment_for([CATALOG_TABLE, SCHEDULE_TABLE]),
                MESSAGES_QUEUE.env_var: messages_queue.queue_url,
                SES_CONFIGURATION_SET_ENV: self.configuration_set.configuration_set_name,
                PUBLIC_API_URL_ENV: public_api_url,
            },
        )
        platform.data.tables[CATALOG_TABLE.logical_id].grant_read_data(self.function.function)
        platform.data.tables[SCHEDULE_TABLE.logical_id].grant_write_data(self.function.function)
        self.function.function.add_event_source(
            sources.SqsEventSource(
                messages_queue, batch_size=MESSAGES_QUEUE.batch_size, report_batch_item_failures=True
            )
        )
        self._allow_sending()

        # Deferred messages (quiet hours, frequency caps) go back to the queue when due.
        for releaser in releasers:
            releaser.function.add_environment(MESSAGES_QUEUE.env_var, messages_queue.queue_url)
            messages_queue.grant_send_messages(releaser.function)

    def _allow_sending(self) -> None:
        stack = Stack.of(self)
        identities = stack.format_arn(service="ses", resource="identity", resource_name="*")
        platform_applications = stack.format_arn(service="sns", resource="app", resource_name="*")
        # ["*@elektro-emma.de", "*@fahrrad-franz.at"] from the parameter's list (["*@"] when it is empty,
        # which matches no address).
        from_addresses = Fn.split(",", Fn.join("", ["*@", Fn.join(",*@", self.sender_domains.value_as_list)]))
        policy = iam.Policy(
            self,
            "Send",
            roles=[self.function.role],
            statements=[
                iam.PolicyStatement(
                    sid="SendEmailFromShopDomains",
                    actions=["ses:SendEmail", "ses:SendRawEmail"],
                    resources=[identities, self.configuration_set_arn],
                    conditions={"StringLike": {"ses:FromAddress": from_addresses}},
                ),
                iam.PolicyStatement(
                    sid="SendSmsAndPush",
                    actions=["sns:Publish"],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="RegisterPushDevices",
                    actions=["sns:CreatePlatformEndpoint"],
                    resources=[platform_applications],
                ),
            ],
        )
        # The first message after a deploy may already be sent.
        self.function.function.node.add_dependency(policy)
        Validations.of(policy).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*]",
                reason="SES authorizes a send against whichever identity verifies the From address (a domain "
                "or an email address identity, created by operators after deployment); the statement's "
                "ses:FromAddress condition limits sending to addresses at the SenderDomains parameter's domains.",
            ),
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="sns:Publish sends SMS straight to phone numbers, which have no ARN (resource must be "
                "'*'); push goes to platform endpoints created at run time, one per customer device.",
            ),
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sns:<AWS::Region>:<AWS::AccountId>:app/*]",
                reason="Push platform applications (APNs, FCM) are created per shop by operators after "
                "deployment; dispatch registers customer devices as endpoints of whichever the shop uses.",
            ),
        )

    @property
    def alarms(self) -> list[ThresholdAlarm]:
        """SES reputation (account-wide, which is what SES reviews and pauses on), and coupons: a shop's
        provider that cannot create codes (its messages wait), a pool running low."""

        def dispatch_metric(name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="Emma",
                metric_name=name,
                dimensions_map={"service": f"emma-{MESSAGES_QUEUE.consumer}"},
                period=PERIOD,
                statistic="Sum",
            )

        return [
            ThresholdAlarm(
                name="CouponProviderFailures",
                metric=dispatch_metric("CouponProviderFailures"),
                threshold=0,
                description="Emma dispatch: a shop's coupon provider refused Emma's credentials or set-up; its "
                "messages with a coupon wait (hourly, 48 h at most). The message log says which shop and why",
            ),
            ThresholdAlarm(
                name="CouponPoolLow",
                metric=dispatch_metric("CouponPoolLow"),
                threshold=0,
                description="Emma dispatch: a shop's coupon pool has fewer codes left than its low_alarm; upload "
                "more (emma coupons upload, POST /v1/coupons/pools/{pool}) before messages are skipped",
            ),
            ThresholdAlarm(
                name="SesBounceRate",
                metric=cloudwatch.Metric(
                    namespace="AWS/SES", metric_name="Reputation.BounceRate", period=PERIOD, statistic="Maximum"
                ),
                threshold=BOUNCE_RATE_THRESHOLD,
                description=f"Emma dispatch: the account's SES bounce rate is over {BOUNCE_RATE_THRESHOLD:.0%}, "
                "where SES puts the account under review (clean the lists, check the sender domains)",
            ),
            ThresholdAlarm(
                name="SesComplaintRate",
                metric=cloudwatch.Metric(
                    namespace="AWS/SES", metric_name="Reputation.ComplaintRate", period=PERIOD, statistic="Maximum"
                ),
                threshold=COMPLAINT_RATE_THRESHOLD,
                description=f"Emma dispatch: the account's SES complaint rate is over {COMPLAINT_RATE_THRESHOLD:.1%}, "
                "where SES puts the account under review (check consent and frequency caps)",
            ),
        ]
