"""Runs on a schedule (every hour in AWS; on the local runtime's clock locally): writes each shop's KPI
snapshot for the shop's current day from the segment size counters (one BatchGetItem and one PutItem per
shop; never a customer read). A shop that fails is logged and the others are written; the run then fails,
so the function's Errors alarm shows it and Lambda retries it (rewriting a snapshot is harmless)."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from emma.analytics.snapshot import KpiSnapshots
from emma.config import SnapshotSettings
from emma.edge import tracing
from emma.wiring.analytics import build_snapshot

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics(namespace="Emma")


class SnapshotsFailed(RuntimeError):
    """Some shops' snapshots were not written (each is logged with its cause)."""


@functools.cache
def components() -> KpiSnapshots:
    return build_snapshot(SnapshotSettings())  # type: ignore[call-arg]  # read from the environment


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = components().run()
    metrics.add_metric("KpiSnapshotsWritten", MetricUnit.Count, len(report.written))
    metrics.add_metric("KpiSnapshotsFailed", MetricUnit.Count, len(report.failed))
    logger.info("KPI snapshots", extra=report.view())
    if report.failed:
        raise SnapshotsFailed(f"the KPI snapshots of {len(report.failed)} shop(s) failed: {', '.join(report.failed)}")
    return report.view()
