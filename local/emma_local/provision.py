"""Create Emma's tables, exports bucket, bus, queues and rules in the emulator from emma.resources, the
same definitions the CDK app builds from, and store the local shops as Secrets Manager secrets."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from emma.campaigns.machine import campaign_machine
from emma.campaigns.machine import substitute as substitute_campaign_machine
from emma.imports.machine import import_machine
from emma.imports.machine import substitute as substitute_import_machine
from emma.journeys.compile import compile_journey, substitute
from emma.journeys.definitions import Journey
from emma.resources import (
    CAMPAIGN_MACHINE_ENV,
    CAMPAIGN_MACHINE_NAME,
    EVENT_BUS,
    EXPORTS_BUCKET,
    IMPORT_MACHINE_ENV,
    IMPORT_MACHINE_NAME,
    IMPORTS_BUCKET,
    JOURNEY_MACHINES_ENV,
    QUEUES,
    REQUEST_QUEUES,
    SES_CONFIGURATION_SET,
    SES_CONFIGURATION_SET_ENV,
    SHOP_SECRET_PREFIX,
    TABLES,
    BucketDef,
    BusDef,
    QueueDef,
    RequestQueueDef,
    TableDef,
    state_machine_name,
)
from emma.shops import ShopConfig

SHOPIFY_PARTNER_BUS = "emma-local-shopify-partner"


@dataclass
class Provisioned:
    tables: dict[str, str]  # logical id -> name
    bus_name: str
    partner_bus_name: str
    queue_urls: dict[str, str]  # logical id -> url
    dlq_urls: dict[str, str]
    state_machines: dict[str, str] = field(default_factory=dict)  # journey id -> ARN
    # QueueDef logical id -> url of its rule target's dead-letter queue. The emulator delivers to SQS
    # inside PutEvents and never parks an event there; it exists so that the local stack has every
    # queue the deployed one has (and `emma replay` the same queues to work on).
    rule_dlq_urls: dict[str, str] = field(default_factory=dict)
    exports_bucket: str = EXPORTS_BUCKET.name
    imports_bucket: str = IMPORTS_BUCKET.name
    import_machine: str = ""  # the import state machine's ARN (provision_imports)
    campaign_machine: str = ""  # the campaign state machine's ARN (provision_campaigns)

    def env(self) -> dict[str, str]:
        env = {t.env_var: self.tables[t.logical_id] for t in TABLES}
        env[EXPORTS_BUCKET.env_var] = self.exports_bucket
        env[IMPORTS_BUCKET.env_var] = self.imports_bucket
        env[IMPORT_MACHINE_ENV] = self.import_machine
        env[CAMPAIGN_MACHINE_ENV] = self.campaign_machine
        env[EVENT_BUS.env_var] = self.bus_name
        env["EMMA_SHOP_SECRET_PREFIX"] = SHOP_SECRET_PREFIX
        env.update({q.env_var: self.queue_urls[q.logical_id] for q in REQUEST_QUEUES})
        env[JOURNEY_MACHINES_ENV] = json.dumps(self.state_machines)
        env[SES_CONFIGURATION_SET_ENV] = SES_CONFIGURATION_SET
        return env


def create_table(ddb: Any, table: TableDef) -> None:
    attrs = {table.partition_key: "S"}
    keys = [{"AttributeName": table.partition_key, "KeyType": "HASH"}]
    if table.sort_key:
        attrs[table.sort_key] = "S"
        keys.append({"AttributeName": table.sort_key, "KeyType": "RANGE"})
    gsis = []
    for gsi in table.gsis:
        attrs[gsi.partition_key] = "S"
        schema = [{"AttributeName": gsi.partition_key, "KeyType": "HASH"}]
        if gsi.sort_key:
            attrs[gsi.sort_key] = "S"
            schema.append({"AttributeName": gsi.sort_key, "KeyType": "RANGE"})
        gsis.append({"IndexName": gsi.name, "KeySchema": schema, "Projection": {"ProjectionType": gsi.projection}})
    kwargs: dict[str, Any] = {
        "TableName": table.name,
        "KeySchema": keys,
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": v} for k, v in attrs.items()],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if gsis:
        kwargs["GlobalSecondaryIndexes"] = gsis
    if table.stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": table.stream}
    ddb.create_table(**kwargs)
    if table.ttl_attribute:
        ddb.update_time_to_live(
            TableName=table.name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
        )


def create_bucket(s3: Any, bucket: BucketDef, region: str) -> str:
    """The bucket, with the deployed bucket's expiry rule (the emulator keeps the rule; it expires nothing)."""
    kwargs: dict[str, Any] = {"Bucket": bucket.name}
    if region != "us-east-1":  # S3 refuses a LocationConstraint of us-east-1 and requires it elsewhere
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket.name,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "ExpireExports",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "Expiration": {"Days": bucket.expire_days},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            ]
        },
    )
    return bucket.name


def _queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _queue_with_dlq(sqs: Any, queue: QueueDef | RequestQueueDef) -> tuple[str, str]:
    dlq_url = sqs.create_queue(QueueName=queue.dead_letter_queue_name)["QueueUrl"]
    dlq_arn = _queue_arn(sqs, dlq_url)
    url = sqs.create_queue(
        QueueName=queue.name,
        Attributes={
            "VisibilityTimeout": str(queue.visibility_timeout_seconds),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count}),
        },
    )["QueueUrl"]
    return url, dlq_url


def create_queue(sqs: Any, events: Any, queue: QueueDef, bus_names: dict[str, str]) -> tuple[str, str, str]:
    """The queue, its dead-letter queue, the rule and the rule target's dead-letter queue; returns the
    three queue URLs (queue, dead-letter queue, rule dead-letter queue)."""
    url, dlq_url = _queue_with_dlq(sqs, queue)
    rule_dlq_url = sqs.create_queue(QueueName=queue.rule_dead_letter_queue_name)["QueueUrl"]
    bus = bus_names[queue.bus]
    events.put_rule(
        Name=queue.rule_name,
        EventBusName=bus,
        EventPattern=json.dumps(queue.event_pattern),
        State="ENABLED",
    )
    events.put_targets(
        Rule=queue.rule_name,
        EventBusName=bus,
        Targets=[
            {
                "Id": "queue",
                "Arn": _queue_arn(sqs, url),
                "DeadLetterConfig": {"Arn": _queue_arn(sqs, rule_dlq_url)},
                "RetryPolicy": {
                    "MaximumRetryAttempts": queue.rule_retry_attempts,
                    "MaximumEventAgeInSeconds": queue.rule_max_event_age_seconds,
                },
            }
        ],
    )
    return url, dlq_url, rule_dlq_url


def _local_function(session: Any, name: str, role: str) -> str:
    """A Lambda function whose code runs in-process (see emma_local.stepfunctions); its ARN."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "# runs in-process in the local runtime\n")
    return str(
        session.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="handler.lambda_handler",
            Code={"ZipFile": buffer.getvalue()},
        )["FunctionArn"]
    )


def provision_imports(session: Any, function: str) -> str:
    """The imports function (in-process) and the import state machine, built exactly as the CDK app builds it;
    the machine's ARN."""
    role = session.client("iam").create_role(
        RoleName="emma-local-imports",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    arn = _local_function(session, function, role)
    definition = substitute_import_machine(import_machine(), arn, IMPORTS_BUCKET.name)
    return str(
        session.client("stepfunctions").create_state_machine(
            name=IMPORT_MACHINE_NAME, definition=definition, roleArn=role, type="STANDARD"
        )["stateMachineArn"]
    )


def provision_campaigns(session: Any, function: str) -> str:
    """The campaigns function (in-process) and the campaign state machine, built as the CDK app builds it; its ARN."""
    role = session.client("iam").create_role(
        RoleName="emma-local-campaigns",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    arn = _local_function(session, function, role)
    return str(
        session.client("stepfunctions").create_state_machine(
            name=CAMPAIGN_MACHINE_NAME, definition=substitute_campaign_machine(campaign_machine(), arn), roleArn=role
        )["stateMachineArn"]
    )


def provision_journeys(session: Any, journeys: Iterable[Journey], steps_function: str) -> dict[str, str]:
    """The journey-steps function (its code runs in-process, see emma_local.stepfunctions) and one
    state machine per journey, compiled exactly as the CDK app compiles it."""
    role = session.client("iam").create_role(
        RoleName="emma-local-journeys",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    arn = _local_function(session, steps_function, role)
    sfn = session.client("stepfunctions")
    return {
        journey.id: sfn.create_state_machine(
            name=state_machine_name(journey.id),
            definition=substitute(compile_journey(journey), arn),
            roleArn=role,
            type="STANDARD",
        )["stateMachineArn"]
        for journey in journeys
    }


def create_bus(events: Any, bus: BusDef) -> str:
    events.create_event_bus(Name=bus.name)
    return bus.name


def provision(session: Any, shops: Iterable[ShopConfig] = ()) -> Provisioned:
    ddb = session.client("dynamodb")
    events = session.client("events")
    sqs = session.client("sqs")
    for table in TABLES:
        create_table(ddb, table)
    exports_bucket = create_bucket(session.client("s3"), EXPORTS_BUCKET, session.region_name)
    imports_bucket = create_bucket(session.client("s3"), IMPORTS_BUCKET, session.region_name)
    bus = create_bus(events, EVENT_BUS)
    # In AWS the partner bus is named after Shopify's event source (aws.partner/shopify.com/...).
    # moto 5.2.5 cuts bus names at the last "/" when matching rules, so locally the partner bus is
    # a plain bus; the rule matches on the event source, exactly as in AWS.
    events.create_event_bus(Name=SHOPIFY_PARTNER_BUS)
    # SES publishes to the account's default bus (the only one its event destinations can target).
    bus_names = {"emma": bus, "shopify-partner": SHOPIFY_PARTNER_BUS, "default": "default"}
    urls, dlqs, rule_dlqs = {}, {}, {}
    for queue in QUEUES:
        urls[queue.logical_id], dlqs[queue.logical_id], rule_dlqs[queue.logical_id] = create_queue(
            sqs, events, queue, bus_names
        )
    for request_queue in REQUEST_QUEUES:
        urls[request_queue.logical_id], dlqs[request_queue.logical_id] = _queue_with_dlq(sqs, request_queue)
    shops = list(shops)
    store_shops(session.client("secretsmanager"), shops)
    provision_channels(session, shops)
    return Provisioned(
        tables={t.logical_id: t.name for t in TABLES},
        bus_name=bus,
        partner_bus_name=SHOPIFY_PARTNER_BUS,
        queue_urls=urls,
        dlq_urls=dlqs,
        rule_dlq_urls=rule_dlqs,
        exports_bucket=exports_bucket,
        imports_bucket=imports_bucket,
    )


def provision_channels(session: Any, shops: Iterable[ShopConfig]) -> None:
    """What a deployment sets up once per account: the SES configuration set, each shop's sender
    identity (verified here; DKIM in DNS in AWS) and each shop's push platform application."""
    ses = session.client("ses")
    ses.create_configuration_set(ConfigurationSet={"Name": SES_CONFIGURATION_SET})
    sns = session.client("sns")
    for shop in shops:
        if shop.dispatch.sender:
            ses.verify_domain_identity(Domain=shop.dispatch.sender.rpartition("@")[2])
            ses.verify_email_identity(EmailAddress=shop.dispatch.sender)
        arn = shop.dispatch.push_application_arn
        if arn and ":app/" in arn:
            platform, name = arn.split(":app/", 1)[1].split("/", 1)
            sns.create_platform_application(Name=name, Platform=platform, Attributes={})


def store_shops(secrets: Any, shops: Iterable[ShopConfig]) -> None:
    for shop in shops:
        secrets.create_secret(Name=f"{SHOP_SECRET_PREFIX}{shop.shop}", SecretString=shop.model_dump_json())
