"""Emma's EventBridge bus (canonical events) and an archive of everything on it, for replay."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from constructs import Construct

from emma.resources import EVENT_BUS

ARCHIVE_RETENTION = Duration.days(30)


class Bus(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.event_bus = events.EventBus(self, EVENT_BUS.logical_id, event_bus_name=EVENT_BUS.name)
        self.event_bus.node.default_child.override_logical_id(EVENT_BUS.logical_id)  # type: ignore[union-attr]
        # L1 on purpose: an archive without an EventPattern keeps *every* event of the bus, which the
        # L2 Archive (pattern required) cannot express.
        self.archive = events.CfnArchive(
            self,
            "Archive",
            source_arn=self.event_bus.event_bus_arn,
            description=f"Every event on {EVENT_BUS.name}, kept {ARCHIVE_RETENTION.to_days()} days for replay",
            retention_days=ARCHIVE_RETENTION.to_days(),
        )

    @property
    def environment(self) -> dict[str, str]:
        return {EVENT_BUS.env_var: self.event_bus.event_bus_name}

    def grant_put_events(self, grantee: iam.IGrantable) -> None:
        self.event_bus.grant_put_events_to(grantee)
