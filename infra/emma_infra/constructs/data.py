"""DynamoDB: one table per `emma.resources.TABLES` definition."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from emma.resources import TABLES, TableDef


def _string_key(name: str | None) -> dynamodb.Attribute | None:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING) if name else None


class Data(Construct):
    """On-demand, point-in-time-recoverable, encrypted tables that outlive the stack."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.tables: dict[str, dynamodb.Table] = {d.logical_id: self._table(d) for d in TABLES}

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
        )
        for gsi in definition.gsis:
            table.add_global_secondary_index(
                index_name=gsi.name,
                partition_key=_string_key(gsi.partition_key),  # type: ignore[arg-type]
                sort_key=_string_key(gsi.sort_key),
            )
        # Customer data: keep the logical id stable whatever the construct tree looks like, so a
        # refactor can never make CloudFormation replace (and orphan) a table.
        table.node.default_child.override_logical_id(definition.logical_id)  # type: ignore[union-attr]
        return table

    def environment_for(self, definitions: Sequence[TableDef] = TABLES) -> dict[str, str]:
        """The env var a function reads each table's name from (TableDef.env_var -> physical name)."""
        return {d.env_var: self.tables[d.logical_id].table_name for d in definitions}

    def grant_read_write(self, grantee: iam.IGrantable, definitions: Sequence[TableDef] = TABLES) -> None:
        for definition in definitions:
            self.tables[definition.logical_id].grant_read_write_data(grantee)

    def grant_read(self, grantee: iam.IGrantable, definitions: Sequence[TableDef]) -> None:
        for definition in definitions:
            self.tables[definition.logical_id].grant_read_data(grantee)
