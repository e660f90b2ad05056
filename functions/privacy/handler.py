"""Runs on a schedule (every 5 minutes in AWS; on the local runtime's clock locally): queues the erasure of
profiles inactive longer than their shop's retention (privacy.inactive_months), then finishes queued
privacy jobs (Shopify's compliance webhooks, erasures that outran their request, whole-shop erasures)
within the run's time, oldest first; what is left waits for the next run."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from emma.config import PrivacySettings
from emma.edge import tracing
from emma.wiring.aws import BATCH_JOB
from emma.wiring.ingest import IngestWiring
from emma.wiring.privacy import PrivacyWiring

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics(namespace="Emma")
SAFETY_SECONDS = 30  # left of the function's time when the run stops taking up work


@functools.cache
def wiring() -> PrivacyWiring:
    settings = PrivacySettings()  # type: ignore[call-arg]  # read from the environment
    return PrivacyWiring(settings, IngestWiring(settings, config=BATCH_JOB))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    remaining = context.get_remaining_time_in_millis() / 1000 if context else 300
    budget = max(5.0, remaining - SAFETY_SECONDS)
    service = wiring().service
    retention = service.run_retention()
    report: dict[str, Any] = service.run_queued(budget_seconds=budget)
    report["retention_queued"] = retention
    metrics.add_metric("RetentionErasuresQueued", MetricUnit.Count, sum(retention.values()))
    metrics.add_metric("PrivacyJobsDone", MetricUnit.Count, report["done"])
    metrics.add_metric("PrivacyJobsFailed", MetricUnit.Count, report["failed"])
    logger.info("privacy run", extra=report)
    return report
