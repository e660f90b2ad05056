"""Every function's settings, in one place: validated once from the environment by the composition root
(emma.wiring), never read by domain code. Environment variable names of resources come from
emma.resources; the tunables below are spelled only here.

Each function family reads what it uses and nothing more; the CDK app gives each function exactly the
variables its settings name (infra/emma_infra/sizing.py, constructs/*).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from emma.resources import (
    CAMPAIGN_MACHINE_ENV,
    CAMPAIGN_SPREAD_ENV,
    CATALOG_TABLE,
    DEFINITIONS_ENV,
    EVENT_BUS,
    EXPORTS_BUCKET,
    IMPORT_MACHINE_ENV,
    IMPORTS_BUCKET,
    JOURNEY_MACHINES_ENV,
    MESSAGES_QUEUE,
    PROFILES_TABLE,
    PUBLIC_API_URL_ENV,
    SCHEDULE_TABLE,
    SES_CONFIGURATION_SET_ENV,
    SHOP_SECRET_PREFIX,
)
from emma.settings_fields import IngestFields

_FROZEN = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)


def _definitions(description: str) -> Any:
    return Field(validation_alias=DEFINITIONS_ENV, description=description)


class IngestSettings(BaseSettings, IngestFields):
    """The ingest path (the ingest API, SES feedback, Shopify partner events) and every function that
    records events or reads profiles through the ingest service. Its fields: emma.settings_fields (also read
    without pydantic_settings by emma.wiring.settings)."""

    model_config = _FROZEN


class DispatchSettings(IngestSettings):
    """The dispatch function: the ingest path (profiles, shops, recording what was sent) plus the
    schedule table (deferred messages), the messages queue, SES and the templates."""

    model_config = _FROZEN

    schedule_table: str = Field(validation_alias=SCHEDULE_TABLE.env_var, min_length=3)
    messages_queue_url: str = Field(validation_alias=MESSAGES_QUEUE.env_var, min_length=1)
    ses_configuration_set: str = Field("", validation_alias=SES_CONFIGURATION_SET_ENV)
    public_api_url: str = Field(validation_alias=PUBLIC_API_URL_ENV, pattern=r"^https?://")
    definitions: Path = _definitions(
        "definitions.json built by `cdk synth` (or the repository folder with templates/ locally)"
    )


class PrivacySettings(IngestSettings):
    """Export and erasure (the ingest API's privacy routes and the privacy schedule): the ingest path plus
    the schedule table (deferred messages, timers, the privacy queue) and the exports bucket."""

    model_config = _FROZEN

    schedule_table: str = Field(validation_alias=SCHEDULE_TABLE.env_var, min_length=3)
    exports_bucket: str = Field(validation_alias=EXPORTS_BUCKET.env_var, min_length=3)
    request_budget_seconds: float = Field(
        5.0,
        gt=0,
        le=25,
        validation_alias="EMMA_ERASURE_BUDGET_SECONDS",
        description="an erasure asked through the API runs this long, then answers 202 and finishes on schedule",
    )


class ReportSettings(IngestSettings):
    """The ingest API's analytics reports and console: the ingest path plus the journey and template
    definitions (funnels, experiments, previews)."""

    model_config = _FROZEN

    definitions: Path = _definitions("definitions.json built by `cdk synth` (or the repository folder locally)")


class ImportSettings(IngestSettings):
    """The ingest API's import routes (emma.imports): the ingest path plus what the rules need to conclude
    imported profiles silently (the schedule table for review timers, the trigger and segment definitions)."""

    model_config = _FROZEN

    schedule_table: str = Field(validation_alias=SCHEDULE_TABLE.env_var, min_length=3)
    definitions: Path = _definitions("definitions.json built by `cdk synth` (or the repository folder locally)")
    imports_bucket: str = Field("", validation_alias=IMPORTS_BUCKET.env_var)
    import_machine: str = Field("", validation_alias=IMPORT_MACHINE_ENV, description="the import state machine's ARN")


class CampaignSettings(IngestSettings):
    """Campaigns (emma.campaigns): the admin API's commands and the campaign state machine's tasks. Both read the
    audience and the runs in the profiles table and put message requests on the messages queue (test sends, waves)."""

    model_config = _FROZEN

    definitions: Path = _definitions("definitions.json built by `cdk synth` (or the repository folder locally)")
    messages_queue_url: str = Field("", validation_alias=MESSAGES_QUEUE.env_var)
    campaign_machine: str = Field("", validation_alias=CAMPAIGN_MACHINE_ENV, description="the campaign machine's ARN")
    spread: bool = Field(True, validation_alias=CAMPAIGN_SPREAD_ENV, description="spread each wave with SQS delays")


class AnalyticsSettings(BaseSettings):
    """The analytics consumer (emma.analytics): its items and counters in the profiles table, the shops'
    attribution windows and timezones from their secrets."""

    model_config = _FROZEN

    profiles_table: str = Field(validation_alias=PROFILES_TABLE.env_var, min_length=3)
    shop_secret_prefix: str = Field(SHOP_SECRET_PREFIX, validation_alias="EMMA_SHOP_SECRET_PREFIX")


class PublisherSettings(BaseSettings):
    """The publisher function: the profiles table's stream to the bus, the events' log entries into the table."""

    model_config = _FROZEN

    profiles_table: str = Field(validation_alias=PROFILES_TABLE.env_var, min_length=3)
    event_bus: str = Field(validation_alias=EVENT_BUS.env_var, min_length=1)
    event_log_cap: int = Field(500, ge=10, le=5000, validation_alias="EMMA_EVENT_LOG_CAP")
    event_log_ttl_days: int = Field(400, ge=1, validation_alias="EMMA_EVENT_LOG_TTL_DAYS")


class ReleaseSettings(BaseSettings):
    """What the scheduled job needs to put deferred messages back on the messages queue."""

    model_config = _FROZEN

    schedule_table: str = Field(validation_alias=SCHEDULE_TABLE.env_var, min_length=3)
    messages_queue_url: str = Field(validation_alias=MESSAGES_QUEUE.env_var, min_length=1)


class RulesSettings(BaseSettings):
    """The triggers function and the scheduled job's rules pass."""

    model_config = _FROZEN

    profiles_table: str = Field(validation_alias=PROFILES_TABLE.env_var, min_length=3)
    schedule_table: str = Field(validation_alias=SCHEDULE_TABLE.env_var, min_length=3)
    event_bus: str = Field(validation_alias=EVENT_BUS.env_var, min_length=1)
    definitions: Path = _definitions(
        "definitions.json built by `cdk synth` (or a folder with triggers/ and segments/ locally)"
    )


class JourneySettings(IngestSettings):
    """The journeys function and the journey-steps function."""

    model_config = _FROZEN

    messages_queue_url: str = Field(validation_alias=MESSAGES_QUEUE.env_var, min_length=1)
    state_machines: dict[str, str] = Field(validation_alias=JOURNEY_MACHINES_ENV)
    definitions: Path = _definitions(
        "definitions.json built by `cdk synth` (or a folder with journeys/, triggers/, segments/ locally)"
    )

    @field_validator("state_machines", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


class RecommendSettings(BaseSettings):
    """The daily recommendation model build."""

    model_config = _FROZEN

    profiles_table: str = Field(validation_alias=PROFILES_TABLE.env_var, min_length=3)
    catalog_table: str = Field(validation_alias=CATALOG_TABLE.env_var, min_length=3)


class SnapshotSettings(BaseSettings):
    """The hourly KPI snapshot (emma.analytics.snapshot): the segment size counters and the snapshot items
    in the profiles table, the shops (timezone, double opt-in policy) from their secrets, the segment
    definitions (which segments exist for a shop, which are lifecycle stages)."""

    model_config = _FROZEN

    profiles_table: str = Field(validation_alias=PROFILES_TABLE.env_var, min_length=3)
    shop_secret_prefix: str = Field(SHOP_SECRET_PREFIX, validation_alias="EMMA_SHOP_SECRET_PREFIX")
    definitions: Path = _definitions(
        "definitions.json built by `cdk synth` (or a folder with triggers/ and segments/ locally)"
    )
