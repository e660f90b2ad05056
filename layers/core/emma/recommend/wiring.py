"""Builds the scheduled model build from the environment (the recommendations function)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from emma.adapters.recommend import DynamoModelStore, DynamoShopHistory
from emma.resources import CATALOG_TABLE, PROFILES_TABLE

_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 6, "mode": "standard"})


class RecommendSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    profiles_table: str = Field(validation_alias=PROFILES_TABLE.env_var, min_length=3)
    catalog_table: str = Field(validation_alias=CATALOG_TABLE.env_var, min_length=3)


@dataclass(frozen=True)
class ModelBuild:
    history: DynamoShopHistory
    store: DynamoModelStore


def build_model_build(settings: RecommendSettings, session: Any | None = None) -> ModelBuild:
    session = session or boto3.session.Session()
    dynamodb = session.client("dynamodb", config=_CLIENT_CONFIG)
    return ModelBuild(
        DynamoShopHistory(dynamodb, settings.catalog_table, settings.profiles_table),
        DynamoModelStore(dynamodb, settings.catalog_table),
    )
