"""Composition root of imports (the ingest API's import routes): the ingest service in backfill mode and
the rules service that concludes imported profiles without publishing."""

from __future__ import annotations

from emma.adapters.eventbridge import EventBridgePublisher
from emma.adapters.rules_store import DynamoRulesStore
from emma.config import ImportSettings
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
