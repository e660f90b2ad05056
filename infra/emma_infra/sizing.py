"""Sizing and access of the functions that differ from the defaults, by function folder (the
`consumer` of a `QueueDef`, `RequestQueueDef` or `ScheduleDef` in emma.resources, or `JOURNEY_STEPS_FUNCTION`). A queue
consumer not named here gets 512 MB and a sixth of its queue's visibility timeout; see `QueueConsumer`.
"""

from __future__ import annotations

from dataclasses import replace

from emma.resources import (
    ANALYTICS_QUEUE,
    ANALYTICS_SNAPSHOT_SCHEDULE,
    CATALOG_TABLE,
    JOURNEY_STEPS_FUNCTION,
    JOURNEYS_QUEUE,
    MESSAGES_QUEUE,
    OUTBOX_STREAM,
    PRIVACY_SCHEDULE,
    PROFILES_TABLE,
    RECOMMENDATIONS_SCHEDULE,
    RULES_SCHEDULE,
    SCHEDULE_TABLE,
    TABLES,
    TRIGGERS_QUEUE,
)
from emma_infra.constructs.definitions import RULES_TABLES
from emma_infra.constructs.functions import FunctionOptions

# The rules functions (emma.wiring.rules): the profiles and schedule tables, the bus, the definitions
# layer; no catalog table and no shop secrets.
RULES_FUNCTION = FunctionOptions(memory_size=1024, tables=RULES_TABLES, shop_secrets=False, definitions=True)

# The journeys functions (emma.wiring.journeys): the profiles table (journey state, and profile
# changes through the ingest service, which only touches the catalog table for product events, never
# sent by journeys), the bus, the definitions layer, and the shop secrets: the journey events they record
# go into the event log with the shop's own retention (ShopConfig.privacy.event_log_days, read through
# the cached shop directory). `Journeys` adds the catalog table's *name* (the settings require it), the
# messages queue and the state machines.
JOURNEY_FUNCTION = FunctionOptions(
    memory_size=1024, timeout_seconds=30, tables=(PROFILES_TABLE,), shop_secrets=True, definitions=True
)

# The dispatcher (a batch of up to MESSAGES_QUEUE.batch_size message requests): reads and writes the
# profiles table (consent, caps, message log), the definitions layer (templates), the shop secrets
# (sender addresses, push applications), the bus (sends are recorded through the ingest service).
# `Dispatch` adds read access to the catalog table, write access to the schedule table, SES and SNS.
# The messages queue's visibility timeout (180 s) is six times the 30 s timeout.
DISPATCH_FUNCTION = FunctionOptions(
    memory_size=1024,
    timeout_seconds=MESSAGES_QUEUE.visibility_timeout_seconds // 6,
    tables=(PROFILES_TABLE,),
    shop_secrets=True,
    definitions=True,
)

# The daily recommendation model build (emma.config.RecommendSettings): Scans the catalog
# table (products) and the profiles table (profile items, `doc` only), then replaces the model's lists
# in the catalog table (a Query of S#<shop>#RECO, BatchWriteItem puts and deletes). Least privilege:
# the profiles table read-only, the catalog table read/write (`FunctionOptions.read_tables`); no bus
# (it publishes no events), no shop secrets, no definitions layer. 1769 MB is one full vCPU; the scan
# of every profile dominates the run (the model itself builds in seconds of CPU for 100,000
# customers), hence Lambda's longest timeout, 15 minutes.
RECOMMENDATIONS_FUNCTION = FunctionOptions(
    memory_size=1769,
    timeout_seconds=15 * 60,
    tables=(CATALOG_TABLE,),
    read_tables=(PROFILES_TABLE,),
    shop_secrets=False,
    definitions=False,
    bus=False,
)

# The ingest API (functions/ingest; not a queue or schedule consumer, so not in FUNCTION_OPTIONS): the
# ingest path (every table read/write, the shop secrets, the bus), plus export and erasure
# (emma.config.PrivacySettings, emma.wiring.privacy): the schedule table (the privacy queue, a customer's
# timers and deferred messages: Get/BatchGet/Query, Put/Delete/BatchWrite), the profiles table
# (transactions: Put/Update/ConditionCheck, which is all TransactWriteItems needs), the exports bucket
# (an export written and served; EMMA_EXPORTS_BUCKET) and stopping the customer's journey executions.
# Never Scan: a request reads what it names (a whole-shop erasure is the privacy schedule's). An erasure
# that outruns EMMA_ERASURE_BUDGET_SECONDS (default 8 s, within this 10 s timeout) answers 202 and is
# finished by the privacy schedule.
# The analytics reports and the console (emma.config.ReportSettings) read counter items by key range and
# need the journeys (funnels, experiments) and templates (previews): the definitions layer.
# Imports (emma.config.ImportSettings, POST /v1/imports/...): a batch of records is an ingest request in
# backfill mode; a conclusion evaluates up to 100 profiles as the rules function does (the profiles table,
# review timers in the schedule table, the trigger and segment definitions), well within the timeout.
INGEST_API_FUNCTION = FunctionOptions(
    memory_size=1024,
    timeout_seconds=10,
    tables=TABLES,
    scan=False,
    exports=True,
    stop_executions=True,
    definitions=True,
)

# The analytics consumer (emma.config.AnalyticsSettings): a batch of up to QueueDef.batch_size events, each
# one GetItem or Query in the customer's partition and one transaction (the customer's analytics item and
# the counters it moves). The profiles table only, no Scan; the shop secrets (timezone, attribution windows);
# no bus, no definitions. The queue's visibility timeout (180 s) is six times the 30 s timeout.
ANALYTICS_FUNCTION = FunctionOptions(
    memory_size=512,
    timeout_seconds=ANALYTICS_QUEUE.visibility_timeout_seconds // 6,
    tables=(PROFILES_TABLE,),
    shop_secrets=True,
    bus=False,
    scan=False,
)

# The privacy schedule (functions/privacy, emma.config.PrivacySettings): queued privacy jobs (Shopify's
# compliance webhooks, erasures that outran their request, whole-shop erasures) and retention, oldest
# first, until 30 s before the 5 minute timeout; the rest waits for the next run (every
# PRIVACY_SCHEDULE.rate_minutes). Every table read/write *with* Scan: a shop's erasure scans the
# profiles, catalog and schedule tables for the shop's items. The shop secrets (ShopConfig: the shop's
# privacy settings and notify_url), the exports bucket (customers/data_request exports), stopping journey
# executions (the customer's or the whole shop's). The bus's name only: IngestSettings requires it, the
# privacy service publishes nothing (no events:PutEvents). 1024 MB: exports are assembled in memory.
PRIVACY_FUNCTION = FunctionOptions(
    memory_size=1024,
    timeout_seconds=5 * 60,
    tables=TABLES,
    shop_secrets=True,
    publish=False,
    exports=True,
    stop_executions=True,
    activity_index=True,  # retention: the profiles inactive for a shop's privacy.inactive_months, no scan
)

# The hourly KPI snapshot (functions/analytics_snapshot, emma.config.SnapshotSettings): per shop one
# BatchGetItem of the segment size counters and one PutItem of the snapshot, and the uplift estimate (a Query per
# shard of the experiment arms' counters, one PutItem of the estimate: emma.offers.uplift), all in the profiles table
# (read/write, no Scan: it never reads a customer); the shop secrets (the shops, their timezones and double
# opt-in policy); the definitions layer (which segments a shop has, which are lifecycle stages); no bus
# (it publishes nothing). Seconds of work for hundreds of shops; a minute is ample.
ANALYTICS_SNAPSHOT_FUNCTION = FunctionOptions(
    memory_size=512,
    timeout_seconds=60,
    tables=(PROFILES_TABLE,),
    shop_secrets=True,
    definitions=True,
    bus=False,
    scan=False,
)

# The imports function (functions/imports, emma.config.ImportSettings): the import state machine's tasks, not a
# queue or schedule consumer (built by `Imports`, like the ingest API outside FUNCTION_OPTIONS). It stores records
# through the ingest service in backfill mode and concludes profiles as the rules function does: the profiles table
# (profiles, aliases, idempotency records, the event log, derived state, markers, counters, member lists, the
# import job record; transactions) and the schedule table (review timers) read/write, the catalog table read-only
# (BatchGetItem of products and product SKU items: an import never writes the catalog), no Scan anywhere; the shop
# secrets; the definitions layer (triggers, segments). The bus's name only: IngestSettings requires it, an import
# publishes nothing (no events:PutEvents). `Imports` adds the imports bucket.
# 1769 MB is one full vCPU: the Check task parses a whole file (up to about 100 MB, 300,000 orders: about a minute
# of CPU) and holds a part of 250 records at a time; the other tasks (a part, a chunk of 100 profiles, the refit)
# take seconds. 15 minutes, Lambda's longest timeout, so that the biggest file's Check never times out (a timeout
# is not retried by the state machine and would fail the import); the tasks are billed for what they use.
IMPORTS_FUNCTION_OPTIONS = FunctionOptions(
    memory_size=1769,
    timeout_seconds=15 * 60,
    tables=(PROFILES_TABLE, SCHEDULE_TABLE),
    read_tables=(CATALOG_TABLE,),
    shop_secrets=True,
    definitions=True,
    publish=False,
    scan=False,
)

# The campaigns function (functions/campaigns, emma.config.CampaignSettings): the campaign state machine's tasks, not a
# queue or schedule consumer (built by `Campaigns`, like the imports function outside FUNCTION_OPTIONS). The profiles
# table read/write without Scan (the runs, their recipient chunks and the shards' selections: GetItem, Query,
# PutItem, BatchWriteItem; the audience: the member lists by Query, the candidates by BatchGetItem; analytics'
# message counters for the A/B decision); the shop secrets (timezone, send hours); the definitions layer (the
# campaigns). The bus's and the catalog table's names only: IngestSettings requires them, a task publishes nothing
# and never reads the catalog (no access to either). `Campaigns` adds the messages queue and starting the machine.
# 1024 MB and 5 minutes: a Select task decides one member-list shard of the audience (an eighth of the segment:
# about 12,500 profiles of a 100,000-member segment, fetched by BatchGetItem and grouped in memory, tens of
# seconds); a wave puts at most rate x wave seconds requests (up to about 10,000) on the queue, SendMessageBatch of
# ten on 8 threads, seconds. A task that times out is not retried by the machine: the run's execution fails
# (alarmed) and is redriven where it stopped, the run's cursor being on its item.
CAMPAIGNS_FUNCTION_OPTIONS = FunctionOptions(
    memory_size=1024,
    timeout_seconds=5 * 60,
    tables=(PROFILES_TABLE,),
    shop_secrets=True,
    definitions=True,
    publish=False,
    scan=False,
)

# The publisher (emma.config.PublisherSettings): a batch of up to OUTBOX_STREAM.batch_size stream records; writes
# the events' log entries into the profiles table (BatchWriteItem; no Scan) and publishes to the bus. No shop
# secrets: each outbox carries its shop's log retention.
PUBLISHER_FUNCTION_OPTIONS = FunctionOptions(
    memory_size=512, timeout_seconds=60, tables=(PROFILES_TABLE,), shop_secrets=False, scan=False
)

FUNCTION_OPTIONS: dict[str, FunctionOptions] = {
    # A batch of up to QueueDef.batch_size events. The queue's visibility timeout (180 s) is six times
    # this, as Lambda recommends (checked at synth); a redelivery would be harmless anyway (the rules
    # service never fires a trigger twice for one event).
    TRIGGERS_QUEUE.consumer: replace(RULES_FUNCTION, timeout_seconds=30),
    # Everything due since the last run, every RULES_SCHEDULE.rate_minutes.
    RULES_SCHEDULE.consumer: replace(RULES_FUNCTION, timeout_seconds=5 * 60),
    # Start, stop and resume executions for a batch of up to QueueDef.batch_size events; the queue's
    # visibility timeout (180 s) is six times this. A redelivery cannot start a customer twice
    # (execution names are deterministic).
    JOURNEYS_QUEUE.consumer: JOURNEY_FUNCTION,
    # One journey step per invocation (state machine tasks, retried with backoff by the state machine).
    JOURNEY_STEPS_FUNCTION: JOURNEY_FUNCTION,
    MESSAGES_QUEUE.consumer: DISPATCH_FUNCTION,
    # Once a day (RECOMMENDATIONS_SCHEDULE.rate_minutes); a rerun is harmless (the lists are replaced).
    RECOMMENDATIONS_SCHEDULE.consumer: RECOMMENDATIONS_FUNCTION,
    # Every PRIVACY_SCHEDULE.rate_minutes; a job records each finished step, so a rerun continues it.
    PRIVACY_SCHEDULE.consumer: PRIVACY_FUNCTION,
    # Counts each event once (a redelivery finds its id on the customer's analytics item).
    ANALYTICS_QUEUE.consumer: ANALYTICS_FUNCTION,
    # Every ANALYTICS_SNAPSHOT_SCHEDULE.rate_minutes; a rerun overwrites the shop's day with current figures.
    ANALYTICS_SNAPSHOT_SCHEDULE.consumer: ANALYTICS_SNAPSHOT_FUNCTION,
    OUTBOX_STREAM.consumer: PUBLISHER_FUNCTION_OPTIONS,
}
