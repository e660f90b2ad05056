"""The AWS resources Emma's code talks to, defined once.

The CDK app (infra/) builds its tables, bus, queues and rules from these definitions, and the local
runtime (local/emma_local) creates the same resources in the emulator from them, so the two can
never drift. Functions learn the physical names through the environment variables named here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GsiDef:
    name: str
    partition_key: str
    sort_key: str | None = None
    projection: str = "ALL"  # ALL or KEYS_ONLY


@dataclass(frozen=True)
class TableDef:
    logical_id: str
    name: str  # physical name in the local runtime; CDK lets CloudFormation name it
    env_var: str
    partition_key: str = "pk"
    sort_key: str | None = "sk"
    ttl_attribute: str | None = "expires_at"
    gsis: tuple[GsiDef, ...] = ()
    stream: str | None = None  # a DynamoDB stream's view type (NEW_IMAGE), if the table has one


@dataclass(frozen=True)
class BusDef:
    logical_id: str
    name: str
    env_var: str


@dataclass(frozen=True)
class QueueDef:
    """An SQS queue fed by an EventBridge rule and drained by one function, with two dead-letter queues:
    the queue's own (records the function failed ``max_receive_count`` times) and the rule target's
    (events EventBridge could not deliver to the queue after its retry policy)."""

    logical_id: str
    name: str
    consumer: str  # the function folder in functions/ that drains it
    event_pattern: dict[str, Any]
    bus: str  # "emma" (our bus) or "shopify-partner" (the partner event source bus)
    visibility_timeout_seconds: int = 60
    max_receive_count: int = 5
    batch_size: int = 10
    env: dict[str, str] = field(default_factory=dict)
    # The rule target's retry policy: EventBridge's own maximum (185 attempts over 24 hours, with
    # backoff), stated so that it is reviewed; errors that retrying cannot fix (a missing queue, a
    # refused permission) go to the rule's dead-letter queue at once.
    rule_retry_attempts: int = 185
    rule_max_event_age_seconds: int = 24 * 3600

    @property
    def dead_letter_queue_name(self) -> str:
        return f"{self.name}-dlq"

    @property
    def rule_name(self) -> str:
        return f"{self.name}-rule"

    @property
    def rule_dead_letter_queue_name(self) -> str:
        return f"{self.name}-rule-dlq"


# Profiles by the day of their customer's newest activity, per shop (keys only, sparse: profile items
# only): the privacy schedule finds the profiles a shop's retention erases without a scan.
ACTIVITY_INDEX = GsiDef(name="activity", partition_key="activity_shop", sort_key="active_day", projection="KEYS_ONLY")
# Its stream carries ingest's outbox to the bus: a profile write that stored events holds them (the item's
# ``outbox``), and the publisher function logs and publishes them from the stream (OUTBOX_STREAM).
PROFILES_TABLE = TableDef(
    logical_id="ProfilesTable",
    name="emma-profiles",
    env_var="EMMA_PROFILES_TABLE",
    gsis=(ACTIVITY_INDEX,),
    stream="NEW_IMAGE",
)
CATALOG_TABLE = TableDef(
    logical_id="CatalogTable", name="emma-catalog", env_var="EMMA_CATALOG_TABLE", ttl_attribute=None
)
# Due timers of the rules function (absence triggers, time-based segment reviews), by due-time bucket
# and shard, so the scheduled job reads what is due and nothing else.
SCHEDULE_TABLE = TableDef(logical_id="ScheduleTable", name="emma-schedule", env_var="EMMA_SCHEDULE_TABLE")
TABLES = (PROFILES_TABLE, CATALOG_TABLE, SCHEDULE_TABLE)


@dataclass(frozen=True)
class StreamConsumerDef:
    """A function fed by a table's DynamoDB stream: only the records ``filter_pattern`` matches (Lambda's event
    filtering; the local runtime filters the same way), in order per item; a failed record is retried with
    what follows it on its shard (partial batch responses)."""

    logical_id: str
    table: TableDef
    consumer: str  # the function folder in functions/
    filter_pattern: dict[str, Any]
    batch_size: int = 100
    batching_window_seconds: int = 1  # Lambda waits up to this long to fill a batch
    # Then the batch's position goes to the consumer's dead-letter queue; the stream keeps records 24 hours.
    retry_attempts: int = 10_000


PUBLISHER_FUNCTION = "publisher"
OUTBOX_ATTRIBUTE = "outbox"  # a profile item's events to publish (zlib JSON; emma.adapters.dynamodb)
OUTBOX_STREAM = StreamConsumerDef(
    logical_id="OutboxStream",
    table=PROFILES_TABLE,
    consumer=PUBLISHER_FUNCTION,
    filter_pattern={
        "eventName": ["INSERT", "MODIFY"],
        "dynamodb": {"NewImage": {OUTBOX_ATTRIBUTE: {"B": [{"exists": True}]}}},
    },
)
STREAM_CONSUMERS = (OUTBOX_STREAM,)


@dataclass(frozen=True)
class BucketDef:
    logical_id: str
    name: str  # physical name in the local runtime; CDK lets CloudFormation name it
    env_var: str
    expire_days: int  # objects are deleted this many days after they were written


# Customers' data exports for Shopify's customers/data_request (emma.privacy): kept 30 days, then gone.
EXPORTS_BUCKET = BucketDef(
    logical_id="ExportsBucket", name="emma-exports", env_var="EMMA_EXPORTS_BUCKET", expire_days=30
)

# Files a shop uploads to import (emma.imports.files) and the parts, plans and results of their jobs beside them.
IMPORTS_BUCKET = BucketDef(
    logical_id="ImportsBucket", name="emma-imports", env_var="EMMA_IMPORTS_BUCKET", expire_days=7
)
IMPORTS_FUNCTION = "imports"  # functions/imports: the import state machine's tasks
IMPORT_MACHINE_ENV = "EMMA_IMPORT_STATE_MACHINE"  # the import state machine's ARN (the ingest API starts it)
IMPORT_MACHINE_NAME = "emma-imports"
CAMPAIGNS_FUNCTION = "campaigns"  # functions/campaigns: the campaign state machine's tasks
CAMPAIGN_MACHINE_ENV = "EMMA_CAMPAIGN_STATE_MACHINE"  # the campaign state machine's ARN (the ingest API starts it)
CAMPAIGN_MACHINE_NAME = "emma-campaigns"
CAMPAIGN_SPREAD_ENV = "EMMA_CAMPAIGN_SPREAD"  # "false": no per-message SQS delay within a wave (the local runtime)

EVENT_BUS = BusDef(logical_id="EventBus", name="emma-events", env_var="EMMA_EVENT_BUS")
EVENT_SOURCE = "emma.ingest"  # the Source of every canonical event ingest publishes
RULES_SOURCE = "emma.rules"  # trigger.fired, segment.entered/left, lifecycle.changed
DISPATCH_SOURCE = "emma.dispatch"  # message.skipped (analytics only)
JOURNEYS_SOURCE = "emma.journeys"  # journey.entered/refused/step/waiting/split/ended (analytics only)

# Shopify's EventBridge partner source: events arrive on a partner bus, a rule forwards them to a
# queue, and the shopify_events function maps them exactly like HTTPS webhooks (minus the HMAC).
SHOPIFY_PARTNER_QUEUE = QueueDef(
    logical_id="ShopifyPartnerQueue",
    name="emma-shopify-partner",
    consumer="shopify_events",
    event_pattern={"source": [{"prefix": "aws.partner/shopify.com"}]},
    bus="shopify-partner",
)
# Every canonical event from ingest (not the rules function's own events: no loops) feeds triggers,
# segments, lifecycle stage and predictions.
TRIGGERS_QUEUE = QueueDef(
    logical_id="TriggersQueue",
    name="emma-triggers",
    consumer="triggers",
    event_pattern={"source": [EVENT_SOURCE]},
    bus="emma",
    visibility_timeout_seconds=180,  # six times the function's 30 s, as Lambda recommends for SQS sources
)
# Journey control: entry events (trigger.fired, segment.entered) start executions, exit events stop
# them, awaited events hand parked task tokens back.
JOURNEYS_QUEUE = QueueDef(
    logical_id="JourneysQueue",
    name="emma-journeys",
    consumer="journeys",
    event_pattern={"source": [EVENT_SOURCE, RULES_SOURCE]},
    bus="emma",
    visibility_timeout_seconds=180,
)
# SES publishes delivery, open, click, bounce and complaint events of Emma's configuration set to the
# account's default bus (the only bus SES event destinations can target); ses_feedback maps them into
# canonical events through ingest.
SES_EVENT_SOURCE = "aws.ses"
SES_FEEDBACK_QUEUE = QueueDef(
    logical_id="SesFeedbackQueue",
    name="emma-ses-feedback",
    consumer="ses_feedback",
    # Only Emma's messages: other configuration sets in the account publish to the same default bus.
    event_pattern={"source": [SES_EVENT_SOURCE], "detail": {"mail": {"tags": {"emma-shop": [{"exists": True}]}}}},
    bus="default",
)
# Analytics counts message events, orders, consent withdrawals, the dispatcher's skips and the journeys'
# progress (emma.analytics.service.COUNTED_TYPES; a test keeps the two lists equal): nothing else reaches it.
ANALYTICS_EVENT_TYPES = (
    "consent.changed",
    "email.bounced",
    "email.clicked",
    "email.complained",
    "email.delivered",
    "email.opened",
    "email.sent",
    "email.unsubscribed",
    "journey.ended",
    "journey.entered",
    "journey.refused",
    "journey.split",
    "journey.step",
    "journey.waiting",
    "message.skipped",
    "order.cancelled",
    "order.placed",
    "order.refunded",
    "push.clicked",
    "push.delivered",
    "push.sent",
    "sms.clicked",
    "sms.delivered",
    "sms.sent",
)
ANALYTICS_QUEUE = QueueDef(
    logical_id="AnalyticsQueue",
    name="emma-analytics",
    consumer="analytics",
    event_pattern={
        "source": [EVENT_SOURCE, DISPATCH_SOURCE, JOURNEYS_SOURCE],
        # A bundle's types (emma.adapters.eventbridge): the rule matches when any of them is counted; or, for a
        # single event as published before bundles (a replay from the bus's archive), its detail-type.
        "$or": [{"detail": {"types": list(ANALYTICS_EVENT_TYPES)}}, {"detail-type": list(ANALYTICS_EVENT_TYPES)}],
    },
    bus="emma",
    visibility_timeout_seconds=180,
)
QUEUES = (SHOPIFY_PARTNER_QUEUE, TRIGGERS_QUEUE, JOURNEYS_QUEUE, SES_FEEDBACK_QUEUE, ANALYTICS_QUEUE)


@dataclass(frozen=True)
class RequestQueueDef:
    """An SQS queue (with a DLQ) that Emma's own functions send to directly."""

    logical_id: str
    name: str
    env_var: str  # holds the queue URL
    consumer: str  # the function folder in functions/ that drains it
    visibility_timeout_seconds: int = 180
    max_receive_count: int = 5
    batch_size: int = 10

    @property
    def dead_letter_queue_name(self) -> str:
        return f"{self.name}-dlq"


# Message requests from journeys for the dispatcher; deferred ones come back here when due.
MESSAGES_QUEUE = RequestQueueDef(
    logical_id="MessagesQueue", name="emma-messages", env_var="EMMA_MESSAGES_QUEUE_URL", consumer="dispatch"
)
REQUEST_QUEUES = (MESSAGES_QUEUE,)

# Journeys: one Standard state machine per journeys/*.yaml; its tasks invoke the journey-steps function.
JOURNEY_STEPS_FUNCTION = "journey_steps"  # functions/journey_steps
JOURNEY_MACHINES_ENV = "EMMA_JOURNEY_STATE_MACHINES"  # JSON: journey id -> state machine ARN


def state_machine_name(journey_id: str) -> str:
    return f"emma-journey-{journey_id}"


@dataclass(frozen=True)
class ScheduleDef:
    """A function run on a fixed rate (EventBridge Scheduler in AWS; the compressed clock locally)."""

    logical_id: str
    consumer: str
    rate_minutes: int


RULES_SCHEDULE = ScheduleDef(logical_id="RulesSchedule", consumer="scheduler", rate_minutes=5)
# The recommendation model (co-purchase counts, popularity) is rebuilt from the catalog and the profiles.
RECOMMENDATIONS_SCHEDULE = ScheduleDef(
    logical_id="RecommendationsSchedule", consumer="recommendations", rate_minutes=24 * 60
)
# Queued privacy jobs (Shopify's compliance webhooks, erasures that outran a request) and retention.
PRIVACY_SCHEDULE = ScheduleDef(logical_id="PrivacySchedule", consumer="privacy", rate_minutes=5)
# The shops' KPI snapshots (emma.analytics.snapshot): each shop's figures of its current day, overwritten
# every hour, so today's stay current and yesterday's are those of its last run.
ANALYTICS_SNAPSHOT_SCHEDULE = ScheduleDef(
    logical_id="AnalyticsSnapshotSchedule", consumer="analytics_snapshot", rate_minutes=60
)
SCHEDULES = (RULES_SCHEDULE, RECOMMENDATIONS_SCHEDULE, PRIVACY_SCHEDULE, ANALYTICS_SNAPSHOT_SCHEDULE)

# Dispatch: SES configuration set (its event destination feeds SES_FEEDBACK_QUEUE) and the public base
# URL of the ingest API, where one-click unsubscribe and tracked links point.
SES_CONFIGURATION_SET_ENV = "EMMA_SES_CONFIGURATION_SET"
SES_CONFIGURATION_SET = "emma-messages"  # the local runtime's name; CDK lets CloudFormation name it
PUBLIC_API_URL_ENV = "EMMA_PUBLIC_API_URL"

# The validated trigger, segment, journey and template definitions: definitions.json in the definitions
# layer (built by `cdk synth`), or the repository folder with the YAML files in the local runtime.
DEFINITIONS_ENV = "EMMA_DEFINITIONS"

SHOP_SECRET_PREFIX = "emma/shops/"  # noqa: S105 - a name prefix, not a secret; one Secrets Manager secret per shop: <prefix><shop>


# Stack outputs naming every queue and dead-letter queue by its def's logical id (CloudFormation names
# the queues in AWS), so `emma replay` finds them in a deployed stack: the URL of the queue itself,
# of its dead-letter queue, and (QueueDef only) of its rule target's dead-letter queue.
def queue_url_output(logical_id: str) -> str:
    return f"{logical_id}Url"


def dead_letter_queue_url_output(logical_id: str) -> str:
    return f"{logical_id}DeadLetterQueueUrl"


def rule_dead_letter_queue_url_output(logical_id: str) -> str:
    return f"{logical_id}RuleDeadLetterQueueUrl"
