"""emma.config.IngestSettings read from the environment without pydantic_settings: for the ingest API's first
request, which builds nothing else from emma.config (importing pydantic_settings costs a cold start tens of ms).

The fields are IngestSettings' (names, environment variables, defaults, constraints) and are read the way
pydantic_settings reads them for IngestSettings (the variable, else the field's name, in any case; values as
given; no .env file):
the same values, and the same validation errors with the same messages ("... validation error(s) for
IngestSettings"). A unit test compares the two, field by field and error by error
(tests/unit/functions/test_ingest_first_request.py); a field added to IngestSettings is added here too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from emma.resources import CATALOG_TABLE, EVENT_BUS, PROFILES_TABLE, SHOP_SECRET_PREFIX


class IngestEnvSettings(BaseModel):
    """IngestSettings' fields and checks, validated from a mapping (``read_ingest_settings``)."""

    # BaseSettings' own defaults that apply (validate_default, arbitrary_types_allowed) with IngestSettings'
    # config; the title names IngestSettings in validation errors.
    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        validate_default=True,
        arbitrary_types_allowed=True,
        title="IngestSettings",
    )

    profiles_table: str = Field(validation_alias=PROFILES_TABLE.env_var, min_length=3)
    catalog_table: str = Field(validation_alias=CATALOG_TABLE.env_var, min_length=3)
    event_bus: str = Field(validation_alias=EVENT_BUS.env_var, min_length=1)
    shop_secret_prefix: str = Field(SHOP_SECRET_PREFIX, validation_alias="EMMA_SHOP_SECRET_PREFIX")
    event_log_cap: int = Field(500, ge=10, le=5000, validation_alias="EMMA_EVENT_LOG_CAP")
    event_log_ttl_days: int = Field(400, ge=1, validation_alias="EMMA_EVENT_LOG_TTL_DAYS")
    idempotency_ttl_days: int = Field(35, ge=1, validation_alias="EMMA_IDEMPOTENCY_TTL_DAYS")
    shop_cache_seconds: int = Field(300, ge=0, validation_alias="EMMA_SHOP_CACHE_SECONDS")


def read_ingest_settings(environ: Mapping[str, str] | None = None) -> IngestEnvSettings:
    """The settings from ``environ`` (default: the process's environment), as IngestSettings() reads them:
    each field from its variable (EMMA_PROFILES_TABLE), else from one named like the field (profiles_table:
    populate_by_name), either in any case (the last of several spellings wins); the text is validated."""
    found = {name.lower(): value for name, value in (os.environ if environ is None else environ).items()}
    data: dict[str, str] = {}
    for name, field in IngestEnvSettings.model_fields.items():
        for key in (str(field.validation_alias), name):
            if key.lower() in found:
                data[key] = found[key.lower()]
                break
    return IngestEnvSettings.model_validate(data)
