"""The ingest function's parts, built lazily on first use (never at import time) from the environment,
and imported then too: a cold start imports none of them, a webhook never the admin's parts.
Tests and the local runtime configure the environment (table names, AWS_ENDPOINT_URL), or replace
these functions with in-memory parts; the real wiring does the rest."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # each part imports what it is built from when first asked for (a cold start imports none)
    from emma.adapters.campaigns import DynamoAudienceReader
    from emma.adapters.imports import S3ImportFiles
    from emma.analytics.reports import Reports
    from emma.campaigns.definitions import Campaign
    from emma.campaigns.service import CampaignService
    from emma.config import CampaignSettings, ImportSettings, PrivacySettings, ReportSettings
    from emma.dispatch.ports import Links
    from emma.imports.files import FileImports
    from emma.imports.service import ImportWorker
    from emma.ingest.reads import ProfileReads
    from emma.privacy.service import PrivacyService
    from emma.recommend.service import RecommendationService
    from emma.templates.library import TemplateSet
    from emma.wiring.imports import FileImportWiring
    from emma.wiring.ingest import IngestWiring, Intake
    from emma.wiring.privacy import PrivacyWiring


@functools.cache
def wiring() -> IngestWiring:
    from emma.wiring.ingest import IngestWiring
    from emma.wiring.settings import read_ingest_settings

    # emma.config.IngestSettings' fields and checks, read from the environment without pydantic_settings
    return IngestWiring(read_ingest_settings())


def intake() -> Intake:
    """Every route: the shops (authentication) and the ingest service."""
    return wiring().intake


def reads() -> ProfileReads:
    """The admin's reads: profiles with their segments, journeys and messages; segment sizes."""
    return wiring().reads


def links() -> Links:
    """Short links of SMS and push messages."""
    return wiring().links


def recommender() -> RecommendationService:
    return wiring().recommender


@functools.cache
def privacy_settings() -> PrivacySettings:
    from emma.config import PrivacySettings

    return PrivacySettings()  # type: ignore[call-arg]  # read from the environment


@functools.cache
def _privacy() -> PrivacyWiring:
    from emma.wiring.privacy import PrivacyWiring

    return PrivacyWiring(privacy_settings(), wiring())


def privacy() -> PrivacyService:
    """Export and erasure (the admin's privacy routes, Shopify's compliance webhooks)."""
    return _privacy().service


@functools.cache
def report_settings() -> ReportSettings:
    from emma.config import ReportSettings

    return ReportSettings()  # type: ignore[call-arg]  # read from the environment


@functools.cache
def analytics() -> Reports:
    """The analytics reports (the admin's analytics routes, the console)."""
    from emma.wiring.analytics import build_reports

    return build_reports(report_settings(), wiring().dynamodb)


@functools.cache
def templates() -> TemplateSet:
    """The message templates (the console's previews, checking a template named in a report)."""
    from emma.wiring.definitions import read_templates

    return read_templates(report_settings().definitions)


def template_names(shop: str) -> list[str]:
    """The templates a shop sends: the shared ones and its own."""
    found = templates()
    own = found.shops.get(shop)
    return sorted(set(found.templates) | (set(own.templates) if own is not None else set()))


@functools.cache
def campaigns() -> list[Campaign]:
    """The campaigns of campaigns/ (the definitions layer in AWS, the repository folder locally)."""
    from emma.wiring.definitions import read_campaigns

    return read_campaigns(report_settings().definitions)


@functools.cache
def audience_reader() -> DynamoAudienceReader:
    from emma.adapters.campaigns import DynamoAudienceReader

    return DynamoAudienceReader(wiring().dynamodb, wiring().settings.profiles_table)


@functools.cache
def campaign_settings() -> CampaignSettings:
    from emma.config import CampaignSettings

    return CampaignSettings()  # type: ignore[call-arg]  # read from the environment


@functools.cache
def campaign_service() -> CampaignService:
    """Starting, pausing, cancelling and following campaigns (the admin's campaign routes)."""
    from emma.wiring.campaigns import CampaignWiring

    return CampaignWiring(campaign_settings(), wiring()).service


@functools.cache
def import_settings() -> ImportSettings:
    from emma.config import ImportSettings

    return ImportSettings()  # type: ignore[call-arg]  # read from the environment


@functools.cache
def importer() -> ImportWorker:
    """Imports of a shop's history (the admin's import routes)."""
    from emma.wiring.imports import build_importer

    return build_importer(import_settings(), wiring())


@functools.cache
def _file_import_wiring() -> FileImportWiring | None:
    from emma.wiring.imports import FileImportWiring

    settings = import_settings()
    if not settings.imports_bucket or not settings.import_machine:
        return None
    return FileImportWiring(settings, wiring())


def file_imports() -> tuple[FileImports, S3ImportFiles] | None:
    """Imports of files in the imports bucket (started on the import state machine); None where not set up."""
    found = _file_import_wiring()
    return None if found is None else (found.imports, found.files)


def has_template(shop: str, template: str) -> bool:
    return template in template_names(shop)


def reset() -> None:
    wiring.cache_clear()
    privacy_settings.cache_clear()
    _privacy.cache_clear()
    report_settings.cache_clear()
    analytics.cache_clear()
    templates.cache_clear()
    importer.cache_clear()
    campaigns.cache_clear()
    audience_reader.cache_clear()
    import_settings.cache_clear()
    _file_import_wiring.cache_clear()
    campaign_settings.cache_clear()
    campaign_service.cache_clear()
