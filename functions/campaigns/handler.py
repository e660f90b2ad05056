"""The campaign state machine's tasks (emma.campaigns.machine): begin, open, select a shard, selected, wave,
finish. One task per invocation, seconds each; the state machine retries Emma's transient errors
(TransientError, StoreError, ConcurrencyConflict) with backoff. Where a run stands lives on its item, not in the
execution, so a retried task goes on where the last one stopped."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from emma.campaigns.service import CampaignService
from emma.config import CampaignSettings
from emma.edge import tracing
from emma.wiring.aws import BATCH_JOB
from emma.wiring.campaigns import CampaignWiring
from emma.wiring.ingest import IngestWiring

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics(namespace="Emma")


class _Task(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shop: str
    campaign: str
    run: str


class Step(_Task):
    action: Literal["begin", "open", "selected", "wave", "finish"]


class Select(_Task):
    action: Literal["select"]
    shard: int = Field(ge=0)


Task = Annotated[Step | Select, Field(discriminator="action")]
TASK: TypeAdapter[Task] = TypeAdapter(Task)


@functools.cache
def components() -> CampaignService:
    settings = CampaignSettings()  # type: ignore[call-arg]  # read from the environment
    return CampaignWiring(settings, IngestWiring(settings, config=BATCH_JOB)).service


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = TASK.validate_python(event)
    service = components()
    logger.append_keys(shop=task.shop, campaign=task.campaign, run=task.run, action=task.action)
    if isinstance(task, Select):
        return service.select(task.shop, task.campaign, task.run, task.shard)
    result: dict[str, Any] = getattr(service, task.action)(task.shop, task.campaign, task.run)
    if task.action == "wave" and result.get("queued"):
        metrics.add_metric("CampaignMessagesQueued", MetricUnit.Count, int(result["queued"]))
    return result
