"""Composition root of the journeys function and the journey-steps function."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from emma.adapters.journeys import DynamoJourneyStore, SqsMessageRequests, StepFunctionsExecutions
from emma.adapters.rules_store import DynamoRulesStore
from emma.clock import clock_from_env
from emma.config import IngestSettings
from emma.ingest.wiring import build_ingest
from emma.journeys.definitions import Journey
from emma.journeys.loader import load_journeys
from emma.journeys.service import JourneyService
from emma.resources import JOURNEY_MACHINES_ENV, MESSAGES_QUEUE
from emma.rules.loader import load_definitions

_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 4, "mode": "standard"})


class JourneySettings(IngestSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    messages_queue_url: str = Field(validation_alias=MESSAGES_QUEUE.env_var, min_length=1)
    state_machines: dict[str, str] = Field(validation_alias=JOURNEY_MACHINES_ENV)
    definitions: Path = Field(
        validation_alias="EMMA_DEFINITIONS",
        description="definitions.json built by `cdk synth` (or a folder with journeys/, triggers/, segments/ locally)",
    )

    @field_validator("state_machines", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


def read_journeys(path: Path) -> list[Journey]:
    if path.is_dir():  # the local runtime reads the YAML files themselves
        return load_journeys(path, load_definitions(path))
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Journey.model_validate(j) for j in data.get("journeys", [])]


@dataclass(frozen=True)
class Journeys:
    service: JourneyService


def build_journeys(settings: JourneySettings, session: Any | None = None) -> Journeys:
    session = session or boto3.session.Session()
    ingest = build_ingest(settings, session)
    dynamodb = session.client("dynamodb", config=_CLIENT_CONFIG)
    service = JourneyService(
        read_journeys(settings.definitions),
        DynamoJourneyStore(dynamodb, settings.profiles_table),
        StepFunctionsExecutions(session.client("stepfunctions", config=_CLIENT_CONFIG), settings.state_machines),
        SqsMessageRequests(session.client("sqs", config=_CLIENT_CONFIG), settings.messages_queue_url),
        ingest.service,
        DynamoRulesStore(dynamodb, settings.profiles_table),
        clock_from_env(),
    )
    return Journeys(service)
