"""Composition root of the daily recommendation model build (the recommendations function)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emma.adapters.recommend import DynamoModelStore, DynamoShopHistory
from emma.config import RecommendSettings
from emma.wiring.aws import BATCH_JOB, session_or_default


@dataclass(frozen=True)
class ModelBuild:
    history: DynamoShopHistory
    store: DynamoModelStore


def build_model_build(settings: RecommendSettings, session: Any | None = None) -> ModelBuild:
    session = session_or_default(session)
    dynamodb = session.client("dynamodb", config=BATCH_JOB)
    return ModelBuild(
        DynamoShopHistory(dynamodb, settings.catalog_table, settings.profiles_table),
        DynamoModelStore(dynamodb, settings.catalog_table),
    )
