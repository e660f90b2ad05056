"""Journey steps, invoked by the journeys' state machines (lambda:invoke, and lambda:invoke.
waitForTaskToken for event waits). It sends message requests, updates profiles, emits events,
decides branches and splits, parks task tokens and records every step on the customer's journey
state. An exception fails the task: the state machine retries with backoff, then records the
failure on the profile (journey.failed)."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from emma.config import JourneySettings
from emma.edge import tracing
from emma.wiring.journeys import Journeys, build_journeys

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics(namespace="Emma")


@functools.cache
def components() -> Journeys:
    return build_journeys(JourneySettings())  # type: ignore[call-arg]  # read from the environment


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(journey=event.get("journey"), step=event.get("step"), execution=event.get("execution"))
    try:
        result = components().service.step(event)
    except Exception:
        logger.exception("journey step failed", extra={"action": event.get("action")})
        raise
    metrics.add_metric(f"JourneyStep_{event.get('action')}", MetricUnit.Count, 1)
    return result
