"""Composition root of the journeys function and the journey-steps function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emma.adapters.eventbridge import EventBridgePublisher
from emma.adapters.journeys import DynamoJourneyStore, SqsMessageRequests, StepFunctionsExecutions
from emma.adapters.offers import DynamoCoupons
from emma.adapters.rules_store import DynamoRulesStore
from emma.clock import clock_from_env
from emma.config import JourneySettings
from emma.journeys.service import JourneyService
from emma.offers.referrals import Referrals
from emma.resources import JOURNEYS_SOURCE
from emma.wiring.aws import CONSUMER, session_or_default
from emma.wiring.definitions import read_journeys
from emma.wiring.ingest import IngestWiring


@dataclass(frozen=True)
class Journeys:
    service: JourneyService
    referrals: Referrals  # the journeys function: a friend's first order with a referral code (emma.offers.referrals)


def build_journeys(settings: JourneySettings, session: Any | None = None) -> Journeys:
    session = session_or_default(session)
    ingest = IngestWiring(settings, session)
    dynamodb = session.client("dynamodb", config=CONSUMER)
    clock = clock_from_env()
    service = JourneyService(
        read_journeys(settings.definitions),
        DynamoJourneyStore(dynamodb, settings.profiles_table),
        StepFunctionsExecutions(session.client("stepfunctions", config=CONSUMER), settings.state_machines),
        SqsMessageRequests(session.client("sqs", config=CONSUMER), settings.messages_queue_url),
        ingest.intake.service,
        DynamoRulesStore(dynamodb, settings.profiles_table),
        clock,
        publisher=EventBridgePublisher(
            session.client("events", config=CONSUMER), settings.event_bus, source=JOURNEYS_SOURCE
        ),
    )
    intake = ingest.intake.service
    referrals = Referrals(DynamoCoupons(dynamodb, settings.profiles_table), intake.resolve, intake.ingest, clock)
    return Journeys(service, referrals)
