"""The import state machine's tasks (emma.imports.machine): check a file and split it into parts, store a part,
plan the conclusions, conclude a chunk of profiles, refit the prior, finish. One task per invocation, each a
few seconds at most; the state machine retries Emma's transient errors (TransientError, StoreError,
ConcurrencyConflict), and a file with problems fails the execution with them (ImportInvalid)."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from emma.config import ImportSettings
from emma.edge import tracing
from emma.imports.files import FileImports, Options
from emma.imports.model import ImportKind
from emma.wiring.aws import BATCH_JOB
from emma.wiring.imports import FileImportWiring
from emma.wiring.ingest import IngestWiring

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics(namespace="Emma")


class _Task(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shop: str
    job: str


class Check(_Task):
    action: Literal["check"]
    kind: ImportKind
    key: str
    format: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class Store(_Task):
    action: Literal["store"]
    kind: ImportKind
    format: str
    part: str


class Plan(_Task):
    action: Literal["plan"]


class Conclude(_Task):
    action: Literal["conclude"]
    phase: Literal["conclude", "rescore"]
    index: int
    profiles: list[str] = Field(max_length=500)


class Refit(_Task):
    action: Literal["refit"]


class ScoredWith(_Task):
    action: Literal["scored_with"]


class Finish(_Task):
    action: Literal["finish"]


Task = Annotated[Check | Store | Plan | ScoredWith | Conclude | Refit | Finish, Field(discriminator="action")]
TASK: TypeAdapter[Task] = TypeAdapter(Task)


@functools.cache
def components() -> FileImports:
    settings = ImportSettings()  # type: ignore[call-arg]  # read from the environment
    # A task of the state machine, not a request somebody waits for: patient clients (a whole file is streamed).
    return FileImportWiring(settings, IngestWiring(settings, config=BATCH_JOB)).imports


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = TASK.validate_python(event)
    imports = components()
    logger.append_keys(shop=task.shop, job=task.job, action=task.action)
    match task:
        case Check():
            return imports.check(task.shop, task.job, task.kind, task.key, task.format, Options.of(task.options))
        case Store():
            done = imports.store(task.shop, task.job, task.kind, task.format, task.part)
            metrics.add_metric("ImportedRecords", MetricUnit.Count, int(done["done"]))
            return done
        case Plan():
            return imports.plan(task.shop, task.job)
        case Conclude():
            return imports.conclude(task.shop, task.job, task.phase, task.index, task.profiles)
        case ScoredWith():
            return imports.scored_with(task.shop, task.job)
        case Refit():
            return imports.refit(task.shop, task.job)
        case Finish():
            return imports.finish(task.shop, task.job)
    raise AssertionError("unreachable")
