"""Runs on a schedule (daily in AWS; on the local runtime's clock locally): rebuilds every shop's
recommendation model (co-purchase counts, popularity, trending, catalog lists) from the catalog and
the profiles' purchases, and stores it in the catalog table for the recommendation requests."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from emma.clock import clock_from_env
from emma.config import RecommendSettings
from emma.edge import tracing
from emma.recommend.build import rebuild
from emma.wiring.recommend import ModelBuild, build_model_build

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics(namespace="Emma")


@functools.cache
def components() -> ModelBuild:
    return build_model_build(RecommendSettings())  # type: ignore[call-arg]  # read from the environment


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    build = components()
    shops = event.get("shops") if isinstance(event.get("shops"), list) else None
    report = rebuild(build.history, build.store, clock_from_env(), shops)
    for shop, figures in report.shops.items():
        logger.info("model built", extra={"shop": shop, **figures})
        metrics.add_metric("ModelCustomers", MetricUnit.Count, figures["customers"])
        metrics.add_metric("UnknownProducts", MetricUnit.Count, figures["unknown_products"])
    return {"shops": report.shops}
