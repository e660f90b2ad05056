"""The ingest path's settings fields, declared once: emma.config.IngestSettings reads them with pydantic_settings,
emma.wiring.settings.IngestEnvSettings without it (the ingest API's cold start). Only pydantic is imported here."""

from __future__ import annotations

from pydantic import BaseModel, Field

from emma.resources import CATALOG_TABLE, EVENT_BUS, PROFILES_TABLE, SHOP_SECRET_PREFIX


class IngestFields(BaseModel):
    """The fields of the ingest path (names, environment variables, defaults, constraints)."""

    profiles_table: str = Field(validation_alias=PROFILES_TABLE.env_var, min_length=3)
    catalog_table: str = Field(validation_alias=CATALOG_TABLE.env_var, min_length=3)
    event_bus: str = Field(validation_alias=EVENT_BUS.env_var, min_length=1)
    shop_secret_prefix: str = Field(SHOP_SECRET_PREFIX, validation_alias="EMMA_SHOP_SECRET_PREFIX")
    event_log_cap: int = Field(500, ge=10, le=5000, validation_alias="EMMA_EVENT_LOG_CAP")
    event_log_ttl_days: int = Field(400, ge=1, validation_alias="EMMA_EVENT_LOG_TTL_DAYS")
    idempotency_ttl_days: int = Field(35, ge=1, validation_alias="EMMA_IDEMPOTENCY_TTL_DAYS")
    shop_cache_seconds: int = Field(300, ge=0, validation_alias="EMMA_SHOP_CACHE_SECONDS")
