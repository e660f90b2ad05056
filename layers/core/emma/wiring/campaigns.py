"""Composition root of campaigns: the ingest API's campaign commands and the campaigns function (the campaign
state machine's tasks) share one CampaignService over DynamoDB, Step Functions and the messages queue."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from emma.adapters.analytics import DynamoAnalyticsStore
from emma.adapters.campaigns import (
    DynamoAudienceReader,
    DynamoCampaignRuns,
    SqsRequestQueue,
    StepFunctionsCampaignExecutions,
)
from emma.campaigns.runs import AnalyticsCounts
from emma.campaigns.service import CampaignService
from emma.config import CampaignSettings
from emma.wiring.definitions import read_campaigns
from emma.wiring.ingest import IngestWiring


@dataclass
class CampaignWiring:
    settings: CampaignSettings
    ingest: IngestWiring

    @cached_property
    def service(self) -> CampaignService:
        settings, dynamodb, clock = self.settings, self.ingest.dynamodb, self.ingest.clock
        return CampaignService(
            campaigns=read_campaigns(settings.definitions),
            shops=self.ingest.intake.shops,
            runs=DynamoCampaignRuns(dynamodb, settings.profiles_table),
            executions=StepFunctionsCampaignExecutions(self.ingest.client("stepfunctions"), settings.campaign_machine),
            queue=SqsRequestQueue(self.ingest.client("sqs"), settings.messages_queue_url),
            reader=DynamoAudienceReader(dynamodb, settings.profiles_table),
            counts=AnalyticsCounts(DynamoAnalyticsStore(dynamodb, settings.profiles_table, clock)),
            clock=clock,
            spread=settings.spread,
        )
