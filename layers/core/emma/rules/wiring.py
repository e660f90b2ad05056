"""Composition root of the rules function and the scheduled job: settings + boto3 -> RulesService."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from emma.adapters.eventbridge import EventBridgePublisher
from emma.adapters.rules_store import DynamoRulesStore
from emma.clock import clock_from_env
from emma.resources import EVENT_BUS, PROFILES_TABLE, RULES_SOURCE, SCHEDULE_TABLE
from emma.rules.loader import Definitions, load_definitions
from emma.rules.service import RulesService

_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 4, "mode": "standard"})


class RulesSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    profiles_table: str = Field(validation_alias=PROFILES_TABLE.env_var, min_length=3)
    schedule_table: str = Field(validation_alias=SCHEDULE_TABLE.env_var, min_length=3)
    event_bus: str = Field(validation_alias=EVENT_BUS.env_var, min_length=1)
    definitions: Path = Field(
        validation_alias="EMMA_DEFINITIONS",
        description="definitions.json built by `cdk synth` (or a folder with triggers/ and segments/ locally)",
    )


@dataclass(frozen=True)
class Rules:
    service: RulesService


def read_definitions(path: Path) -> Definitions:
    if path.is_dir():  # the local runtime reads the YAML files themselves
        return load_definitions(path)
    return Definitions.from_json(path.read_text(encoding="utf-8"))


def build_rules(settings: RulesSettings, session: Any | None = None) -> Rules:
    session = session or boto3.session.Session()
    dynamodb = session.client("dynamodb", config=_CLIENT_CONFIG)
    store = DynamoRulesStore(dynamodb, settings.profiles_table, settings.schedule_table)
    publisher = EventBridgePublisher(
        session.client("events", config=_CLIENT_CONFIG), settings.event_bus, source=RULES_SOURCE
    )
    return Rules(RulesService(store, publisher, read_definitions(settings.definitions), clock_from_env()))
