"""Composition root of export and erasure: the ingest API's privacy routes and the privacy schedule."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from emma.adapters.journeys import StepFunctionsExecutions
from emma.adapters.privacy import DynamoPrivacyStore, S3Exports, WebhookNotifier
from emma.config import PrivacySettings
from emma.privacy.service import PrivacyService
from emma.wiring.ingest import IngestWiring


class PrivacyWiring:
    """Built on the ingest path's parts (one session, one DynamoDB client, the shop directory)."""

    def __init__(self, settings: PrivacySettings, ingest: IngestWiring | None = None, session: Any | None = None):
        self.settings = settings
        self.ingest = ingest or IngestWiring(settings, session)

    @cached_property
    def store(self) -> DynamoPrivacyStore:
        s = self.settings
        return DynamoPrivacyStore(
            self.ingest.dynamodb,
            s.profiles_table,
            s.catalog_table,
            s.schedule_table,
            idempotency_ttl_days=s.idempotency_ttl_days,
            clock=self.ingest.clock,
        )

    @cached_property
    def service(self) -> PrivacyService:
        intake = self.ingest.intake
        return PrivacyService(
            self.store,
            intake.service.resolve,
            intake.shops,
            StepFunctionsExecutions(self.ingest.client("stepfunctions"), {}),
            S3Exports(self.ingest.client("s3"), self.settings.exports_bucket),
            WebhookNotifier(),
            self.ingest.clock,
            release=intake.service.release,
        )
