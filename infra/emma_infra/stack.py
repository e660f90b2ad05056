"""`EmmaStack`: the whole deployment, one construct per feature.

Environment-agnostic (no account/region, no lookups): it synthesizes offline without credentials
and deploys to whatever account and region the CLI is pointed at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_events as events
from constructs import Construct

from emma.resources import (
    ANALYTICS_QUEUE,
    EVENT_BUS,
    EXPORTS_BUCKET,
    IMPORTS_BUCKET,
    JOURNEYS_QUEUE,
    MESSAGES_QUEUE,
    QUEUES,
    RULES_SCHEDULE,
    SCHEDULES,
    SES_CONFIGURATION_SET_ENV,
    STREAM_CONSUMERS,
    TABLES,
    dead_letter_queue_url_output,
    queue_url_output,
    rule_dead_letter_queue_url_output,
)
from emma_infra import paths
from emma_infra.constructs.bus import Bus
from emma_infra.constructs.campaigns import Campaigns
from emma_infra.constructs.consumers import QueueConsumer
from emma_infra.constructs.data import Data
from emma_infra.constructs.definitions import Definitions
from emma_infra.constructs.dispatch import Dispatch
from emma_infra.constructs.functions import EmmaFunction, Platform
from emma_infra.constructs.imports import Imports
from emma_infra.constructs.ingest_api import IngestApi
from emma_infra.constructs.journeys import Journeys, construct_name
from emma_infra.constructs.layers import Layers
from emma_infra.constructs.monitoring import (
    CAMPAIGN_MACHINE_ALARM,
    IMPORT_MACHINE_ALARM,
    Monitoring,
    complaint_rate_alarm,
)
from emma_infra.constructs.schedules import ScheduledFunction
from emma_infra.constructs.shopify_partner import CONTEXT_KEY, PARTNER_BUS, ShopifyPartnerSource
from emma_infra.constructs.streams import StreamConsumer
from emma_infra.sizing import FUNCTION_OPTIONS

EMMA_BUS = "emma"  # QueueDef.bus of queues fed by Emma's own bus
# QueueDef.bus of queues fed by the account's default bus (where AWS services such as SES publish).
DEFAULT_BUS = "default"


class EmmaStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, definitions_root: Path | None = None, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        known = (EMMA_BUS, DEFAULT_BUS, PARTNER_BUS)
        unknown = {q.bus for q in QUEUES} - set(known)
        if unknown:
            raise ValueError(f"QueueDef.bus must be one of {list(known)}, not {sorted(unknown)}")

        # First: invalid trigger/segment/journey/template definitions fail the synth before any layer is built.
        definitions = Definitions(self, "Definitions", root=definitions_root or paths.DEFINITIONS_ROOT)
        data = Data(self, "Data")
        bus = Bus(self, "Bus")
        layers = Layers(self, "Layers")
        platform = Platform(layers=layers.all, data=data, bus=bus, definitions=definitions)

        api = IngestApi(self, "IngestApi", platform=platform)
        # The import state machine and its function; the ingest API starts and reports its executions.
        imports = Imports(self, "Imports", platform=platform, api=api.handler)
        # The account's default bus exists in every account and region: referenced, never created.
        default_bus = events.EventBus.from_event_bus_name(self, "DefaultBus", DEFAULT_BUS)
        buses = {EMMA_BUS: bus.event_bus, DEFAULT_BUS: default_bus}
        consumers: list[QueueConsumer] = [
            QueueConsumer(
                self,
                q.logical_id,
                definition=q,
                event_bus=buses[q.bus],
                platform=platform,
                options=FUNCTION_OPTIONS.get(q.consumer),
            )
            for q in QUEUES
            if q.bus in buses
        ]
        (journeys_consumer,) = [c for c in consumers if c.definition == JOURNEYS_QUEUE]
        journeys = Journeys(
            self, "Journeys", journeys=definitions.journeys, platform=platform, consumer=journeys_consumer.consumer
        )
        # The campaign state machine and its function, sending onto the journeys' messages queue; the ingest API
        # starts, cancels and follows campaign runs and queues test sends.
        campaigns = Campaigns(
            self, "Campaigns", platform=platform, messages_queue=journeys.messages_queue, api=api.handler
        )
        schedules = [
            ScheduledFunction(
                self, s.logical_id, definition=s, platform=platform, options=FUNCTION_OPTIONS.get(s.consumer)
            )
            for s in SCHEDULES
        ]
        dispatch = Dispatch(
            self,
            "Dispatch",
            platform=platform,
            messages_queue=journeys.messages_queue,
            default_bus=default_bus,
            public_api_url=api.public_url,
            # The rules schedule's job also releases deferred messages when they are due.
            releasers=[s.consumer for s in schedules if s.definition == RULES_SCHEDULE],
        )
        # The profiles table's stream: the outbox of every profile write that stored events, to the bus.
        streams = [
            StreamConsumer(
                self,
                d.logical_id,
                definition=d,
                table=data.tables[d.table.logical_id],
                platform=platform,
                options=FUNCTION_OPTIONS.get(d.consumer),
            )
            for d in STREAM_CONSUMERS
        ]
        event_source_name = self.node.try_get_context(CONTEXT_KEY)
        if event_source_name:
            shopify = ShopifyPartnerSource(
                self, "ShopifyPartner", event_source_name=str(event_source_name), platform=platform
            )
            consumers += shopify.consumers
            CfnOutput(
                self,
                "ShopifyPartnerBusName",
                value=shopify.event_bus.event_bus_name,
                description="Partner event bus receiving the Shopify EventBridge events",
            )

        functions: list[EmmaFunction] = [
            api.handler,
            journeys.steps,
            imports.function,
            campaigns.function,
            dispatch.function,
            *(c.consumer for c in [*consumers, *schedules, *streams]),
        ]
        # Erasure ends a customer's (or a shop's) journeys: the ingest API and the privacy schedule
        # (FunctionOptions.stop_executions), once the journeys' state machines are known.
        for function in functions:
            if function.options.stop_executions:
                journeys.allow_stopping(function)
        monitoring = Monitoring(
            self,
            "Monitoring",
            functions=functions,
            dead_letter_queues=[
                *((c.definition.logical_id, c.dead_letter_queue) for c in [*consumers, *schedules, *streams]),
                (MESSAGES_QUEUE.logical_id, journeys.dead_letter_queue),
            ],
            rule_dead_letter_queues=[(c.definition.logical_id, c.rule_dead_letter_queue) for c in consumers],
            http_api=api.http_api,
            state_machines={
                **{construct_name(j): m for j, m in journeys.state_machines.items()},
                IMPORT_MACHINE_ALARM: imports.state_machine,
                CAMPAIGN_MACHINE_ALARM: campaigns.state_machine,
            },
            thresholds=[
                *dispatch.alarms,
                complaint_rate_alarm(f"emma-{ANALYTICS_QUEUE.consumer}"),
                *(alarm for s in streams for alarm in s.alarms),
            ],
        )

        CfnOutput(self, "ApiUrl", value=api.url, description="Base URL of the Emma ingest API")
        for definition in TABLES:
            CfnOutput(
                self,
                f"{definition.logical_id}Name",
                value=data.tables[definition.logical_id].table_name,
                description=f"DynamoDB table ({definition.env_var})",
            )
        CfnOutput(
            self,
            f"{EXPORTS_BUCKET.logical_id}Name",
            value=data.exports_bucket.bucket_name,
            description=f"S3 bucket of customers' data exports, kept {EXPORTS_BUCKET.expire_days} days "
            f"({EXPORTS_BUCKET.env_var})",
        )
        CfnOutput(
            self,
            f"{IMPORTS_BUCKET.logical_id}Name",
            value=data.imports_bucket.bucket_name,
            description="S3 bucket of the files shops import (<shop>/uploads/...) and their jobs' parts, kept "
            f"{IMPORTS_BUCKET.expire_days} days at most ({IMPORTS_BUCKET.env_var})",
        )
        CfnOutput(
            self,
            "EventBusName",
            value=bus.event_bus.event_bus_name,
            description=f"EventBridge bus of Emma's canonical events ({EVENT_BUS.env_var})",
        )
        CfnOutput(
            self,
            queue_url_output(MESSAGES_QUEUE.logical_id),
            value=journeys.messages_queue.queue_url,
            description=f"SQS queue of the message requests journeys make ({MESSAGES_QUEUE.env_var})",
        )
        # Where `emma replay` finds the dead-letter queues and the queues their messages go back to.
        CfnOutput(
            self,
            dead_letter_queue_url_output(MESSAGES_QUEUE.logical_id),
            value=journeys.dead_letter_queue.queue_url,
            description=f"Dead-letter queue of {MESSAGES_QUEUE.name}",
        )
        for consumer in consumers:
            logical_id, name = consumer.definition.logical_id, consumer.definition.name
            for output, queue, what in (
                (queue_url_output(logical_id), consumer.queue, f"SQS queue {name}"),
                (dead_letter_queue_url_output(logical_id), consumer.dead_letter_queue, f"Dead-letter queue of {name}"),
                (
                    rule_dead_letter_queue_url_output(logical_id),
                    consumer.rule_dead_letter_queue,
                    f"Dead-letter queue of the EventBridge rule feeding {name}",
                ),
            ):
                CfnOutput(self, output, value=queue.queue_url, description=what)
        CfnOutput(
            self,
            "ConfigurationSetName",
            value=dispatch.configuration_set.configuration_set_name,
            description=f"SES configuration set dispatch sends with ({SES_CONFIGURATION_SET_ENV})",
        )
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=monitoring.topic.topic_arn,
            description="SNS topic receiving every Emma alarm: subscribe to it",
        )
