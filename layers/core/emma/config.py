"""Configuration: validated once from the environment at the edge (handlers, CLI); logic gets values."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from emma.resources import CATALOG_TABLE, EVENT_BUS, PROFILES_TABLE, SHOP_SECRET_PREFIX


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    profiles_table: str = Field(validation_alias=PROFILES_TABLE.env_var, min_length=3)
    catalog_table: str = Field(validation_alias=CATALOG_TABLE.env_var, min_length=3)
    event_bus: str = Field(validation_alias=EVENT_BUS.env_var, min_length=1)
    shop_secret_prefix: str = Field(SHOP_SECRET_PREFIX, validation_alias="EMMA_SHOP_SECRET_PREFIX")
    event_log_cap: int = Field(500, ge=10, le=5000, validation_alias="EMMA_EVENT_LOG_CAP")
    event_log_ttl_days: int = Field(400, ge=1, validation_alias="EMMA_EVENT_LOG_TTL_DAYS")
    idempotency_ttl_days: int = Field(35, ge=1, validation_alias="EMMA_IDEMPOTENCY_TTL_DAYS")
    shop_cache_seconds: int = Field(300, ge=0, validation_alias="EMMA_SHOP_CACHE_SECONDS")
