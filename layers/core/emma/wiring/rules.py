"""Composition root of the triggers function and the scheduled job's rules pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emma.adapters.eventbridge import EventBridgePublisher
from emma.adapters.rules_store import DynamoRulesStore
from emma.clock import clock_from_env
from emma.config import RulesSettings
from emma.resources import RULES_SOURCE
from emma.rules.service import RulesService
from emma.wiring.aws import CONSUMER, session_or_default
from emma.wiring.definitions import read_definitions


@dataclass(frozen=True)
class Rules:
    service: RulesService


def build_rules(settings: RulesSettings, session: Any | None = None) -> Rules:
    session = session_or_default(session)
    dynamodb = session.client("dynamodb", config=CONSUMER)
    store = DynamoRulesStore(dynamodb, settings.profiles_table, settings.schedule_table)
    publisher = EventBridgePublisher(session.client("events", config=CONSUMER), settings.event_bus, source=RULES_SOURCE)
    return Rules(RulesService(store, publisher, read_definitions(settings.definitions), clock_from_env()))
