"""Composition root of imports: the ingest API's import routes (batches from `emma import`, files in the imports
bucket started on the import state machine) and the imports function (the state machine's tasks)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from botocore.config import Config

from emma.adapters.eventbridge import EventBridgePublisher
from emma.adapters.imports import DynamoImportJobs, S3ImportFiles, StepFunctionsImportRuns
from emma.adapters.rules_store import DynamoRulesStore
from emma.config import ImportSettings
from emma.imports.files import FileImports
from emma.imports.service import ImportWorker
from emma.resources import RULES_SOURCE
from emma.rules.service import RulesService
from emma.wiring.definitions import read_definitions
from emma.wiring.ingest import IngestWiring


def build_importer(settings: ImportSettings, ingest: IngestWiring) -> ImportWorker:
    store = DynamoRulesStore(ingest.dynamodb, settings.profiles_table, settings.schedule_table)
    # Conclusions of an import publish nothing; the publisher is there for the service's other inputs.
    publisher = EventBridgePublisher(ingest.client("events"), settings.event_bus, source=RULES_SOURCE)
    rules = RulesService(store, publisher, read_definitions(settings.definitions), ingest.clock)
    return ImportWorker(ingest.intake.service, rules, ingest.clock)


@dataclass
class FileImportWiring:
    """Imports of files in the imports bucket: the tasks (FileImports), the state machine to start them on."""

    settings: ImportSettings
    ingest: IngestWiring

    @cached_property
    def files(self) -> S3ImportFiles:
        # SigV4 for the presigned uploads (the only signature S3 accepts in newer regions).
        s3 = self.ingest.session.client("s3", config=self.ingest.config.merge(Config(signature_version="s3v4")))
        return S3ImportFiles(s3, self.settings.imports_bucket)

    @cached_property
    def imports(self) -> FileImports:
        jobs = DynamoImportJobs(self.ingest.dynamodb, self.settings.profiles_table)
        runs = StepFunctionsImportRuns(self.ingest.client("stepfunctions"), self.settings.import_machine)
        return FileImports(self.files, jobs, build_importer(self.settings, self.ingest), self.ingest.clock, runs)
