"""DynamoDB: one table per `emma.resources.TABLES` definition; S3: the exports bucket (`EXPORTS_BUCKET`) and the
imports bucket (`IMPORTS_BUCKET`)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from emma.resources import (
    ACTIVITY_INDEX,
    EXPORTS_BUCKET,
    IMPORTS_BUCKET,
    PROFILES_TABLE,
    TABLES,
    BucketDef,
    TableDef,
)

# What the read/write grant of a table allows except dynamodb:Scan, for functions that answer requests
# and must never read a whole table (the ingest API). Transactions (TransactWriteItems) need no action of
# their own: IAM checks each item's PutItem, UpdateItem, DeleteItem or ConditionCheckItem.
READ_WITHOUT_SCAN = (
    "dynamodb:BatchGetItem",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
)
READ_WRITE_WITHOUT_SCAN = (
    *READ_WITHOUT_SCAN,
    "dynamodb:BatchWriteItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)


def _string_key(name: str | None) -> dynamodb.Attribute | None:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING) if name else None


class Data(Construct):
    """On-demand, point-in-time-recoverable, encrypted tables that outlive the stack, and two private,
    encrypted, TLS-only buckets whose objects expire after `BucketDef.expire_days`: the exports bucket
    (customers' data exports) and the imports bucket (files a shop imports, and the parts of their jobs)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.tables: dict[str, dynamodb.Table] = {d.logical_id: self._table(d) for d in TABLES}
        self.exports_bucket = self._bucket(
            EXPORTS_BUCKET,
            rule_id="ExpireExports",
            access_logs_reason="Only Emma's ingest and privacy functions read and write this bucket, through their "
            "own roles. Each object is the export of one privacy job (Shopify's customers/data_request), which "
            "Emma's privacy audit log (GET /v1/privacy/audit) records, and is served only for the shop's admin key. "
            "Server access logs would copy every request into a second bucket kept longer than the exports "
            f"themselves ({EXPORTS_BUCKET.expire_days} days); account-wide auditing of object access belongs to "
            "CloudTrail S3 data events.",
        )
        self.imports_bucket = self._bucket(
            IMPORTS_BUCKET,
            rule_id="ExpireImports",
            access_logs_reason="Only Emma's ingest API (presigned uploads under <shop>/uploads/, the admin key's "
            "shop only), the imports function and the import state machine read and write this bucket, through "
            "their own roles; every import is recorded as an import job in the profiles table (GET "
            "/v1/imports/{job}). The objects are a shop's uploaded files and the parts of their imports: the import "
            "deletes them when it finishes, the rest (refused files, failed runs) expires after "
            f"{IMPORTS_BUCKET.expire_days} days. Server access logs would keep a record of customers' files longer "
            "than the files themselves; account-wide auditing of object access belongs to CloudTrail S3 data events.",
        )

    def _table(self, definition: TableDef) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            definition.logical_id,
            partition_key=_string_key(definition.partition_key),  # type: ignore[arg-type]
            sort_key=_string_key(definition.sort_key),
            time_to_live_attribute=definition.ttl_attribute,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
            stream=dynamodb.StreamViewType(definition.stream) if definition.stream else None,
        )
        for gsi in definition.gsis:
            table.add_global_secondary_index(
                index_name=gsi.name,
                partition_key=_string_key(gsi.partition_key),  # type: ignore[arg-type]
                sort_key=_string_key(gsi.sort_key),
                projection_type=dynamodb.ProjectionType(gsi.projection),
            )
        # Customer data: keep the logical id stable whatever the construct tree looks like, so a
        # refactor can never make CloudFormation replace (and orphan) a table.
        table.node.default_child.override_logical_id(definition.logical_id)  # type: ignore[union-attr]
        return table

    def _bucket(self, definition: BucketDef, *, rule_id: str, access_logs_reason: str) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            definition.logical_id,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,  # no ACLs
            versioned=False,  # an expired, replaced or deleted object must be gone, not kept as an old version
            lifecycle_rules=[
                s3.LifecycleRule(
                    id=rule_id,
                    expiration=Duration.days(definition.expire_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            # Like the tables: a stack deletion never deletes customers' files (an export the shop has not
            # fetched yet, an import under way); the lifecycle rule stays on the retained bucket and still
            # expires every object.
            removal_policy=RemovalPolicy.RETAIN,
        )
        bucket.node.default_child.override_logical_id(definition.logical_id)  # type: ignore[union-attr]
        Validations.of(bucket).acknowledge(Acknowledgment(id="AwsSolutions-S1", reason=access_logs_reason))
        return bucket

    @property
    def exports_environment(self) -> dict[str, str]:
        return {EXPORTS_BUCKET.env_var: self.exports_bucket.bucket_name}

    @property
    def imports_environment(self) -> dict[str, str]:
        return {IMPORTS_BUCKET.env_var: self.imports_bucket.bucket_name}

    def export_statements(self) -> list[iam.PolicyStatement]:
        """Write, read and delete exports (s3:PutObject, s3:GetObject, s3:DeleteObject on the objects: an
        erasure deletes the customer's), and s3:ListBucket on the bucket: an erasure lists the customer's
        exports by prefix, and without it S3 answers a GetObject of a missing (expired) export with
        AccessDenied instead of NoSuchKey."""
        return [
            iam.PolicyStatement(
                sid="ReadAndWriteExports",
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[self.exports_bucket.arn_for_objects("*")],
            ),
            iam.PolicyStatement(
                sid="TellMissingExports", actions=["s3:ListBucket"], resources=[self.exports_bucket.bucket_arn]
            ),
        ]

    def environment_for(self, definitions: Sequence[TableDef] = TABLES) -> dict[str, str]:
        """The env var a function reads each table's name from (TableDef.env_var -> physical name)."""
        return {d.env_var: self.tables[d.logical_id].table_name for d in definitions}

    def _grant(self, grantee: iam.IGrantable, definition: TableDef, actions: Sequence[str]) -> None:
        """On the table itself, never on its indexes (CDK's table grants add ``<table>/index/*``): an index
        is granted by name to the function that queries it (``grant_activity_index``)."""
        iam.Grant.add_to_principal(
            grantee=grantee, actions=list(actions), resource_arns=[self.tables[definition.logical_id].table_arn]
        )

    def grant_read_write(
        self, grantee: iam.IGrantable, definitions: Sequence[TableDef] = TABLES, *, scan: bool = True
    ) -> None:
        for definition in definitions:
            self._grant(grantee, definition, (*READ_WRITE_WITHOUT_SCAN, *(["dynamodb:Scan"] if scan else [])))

    def grant_read(self, grantee: iam.IGrantable, definitions: Sequence[TableDef], *, scan: bool = True) -> None:
        for definition in definitions:
            self._grant(grantee, definition, (*READ_WITHOUT_SCAN, *(["dynamodb:Scan"] if scan else [])))

    def grant_activity_index(self, grantee: iam.IGrantable) -> None:
        """Query the profiles' activity index (the privacy schedule's retention), by its name."""
        table = self.tables[PROFILES_TABLE.logical_id]
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["dynamodb:Query"],
            resource_arns=[f"{table.table_arn}/index/{ACTIVITY_INDEX.name}"],
        )
