"""Runs on a schedule (every 5 minutes in AWS; on the local runtime's clock locally). Reads only
the timers that came due since the last run (16 queries, one per shard) and the profiles they name:
never every profile. Then it puts deferred message requests that came due (quiet hours, send-time
optimisation) back on the messages queue."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from emma.clock import clock_from_env
from emma.config import ReleaseSettings, RulesSettings
from emma.dispatch.service import release_due
from emma.edge import tracing
from emma.wiring.dispatch import build_release
from emma.wiring.rules import Rules, build_rules

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics(namespace="Emma")


@functools.cache
def components() -> Rules:
    return build_rules(RulesSettings())  # type: ignore[call-arg]  # read from the environment


@functools.cache
def release() -> Any:
    return build_release(ReleaseSettings())  # type: ignore[call-arg]


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = components().service.on_schedule()
    deferrals, queue = release()
    released = release_due(deferrals, queue, clock_from_env().now())
    metrics.add_metric("MessagesReleased", MetricUnit.Count, released)
    metrics.add_metric("TimersDue", MetricUnit.Count, report.timers)
    metrics.add_metric("TriggersFired", MetricUnit.Count, len(report.fired))
    logger.info(
        "schedule run",
        extra={
            "timers": report.timers,
            "superseded": report.superseded,
            "failed": report.failed,
            "fired": len(report.fired),
            "entered": len(report.entered),
            "left": len(report.left),
        },
    )
    return {
        "timers": report.timers,
        "superseded": report.superseded,
        "failed": report.failed,
        "fired": len(report.fired),
        "entered": len(report.entered),
        "left": len(report.left),
        "published": report.published,
        "released": released,
    }
