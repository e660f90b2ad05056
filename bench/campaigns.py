"""Campaigns (section 15): how fast a campaign's fan-out hands its recipients to the messages queue, and what
sending a campaign costs in AWS per 100,000 recipients: the fan-out (the run started, its audience decided shard
by shard, the waves) and the dispatcher's work per message.

The audience: ``RECIPIENTS`` members of the ``reachable-email`` segment's member list (all eight shards), built
from ``TEMPLATES`` synthetic customers (bench.synthetic.Population, seed ``SEED``: two years of history each, the
profile documents 6.5 KB on average) whose derived state and member-list entries the shipped rules
(``load_definitions`` of the repository: RulesService.on_event in memory) computed; the members among them are
copied under new ids (profile ids as long as ingest's, ``profile_id``) until the member list has ``RECIPIENTS``
entries, and written to the profiles table as the adapters write them (DynamoProfileRepository._profile_item,
DynamoRulesStore._derived_item and _member_item, the ingest's alias items: the profile, its derived state, its
member-list entry, its customer id, email and anonymous id aliases). Not measured.

The campaign: the shipped ``weekly-newsletter`` (campaigns/weekly-newsletter.yaml: the topic newsletter, segment
reachable-email, without those in the smartphone onboarding or who ordered within 7 days, the personalised
newsletter) with ``schedule: now`` and ``rate`` ``BENCH_RATE`` (so that the waves are not what limits the
measurement: the Wait states are not waited for in any case, the clock is moved instead).

The fan-out runs on in-process moto (``mock_aws``, emma_local.moto_fixes) provisioned as ``emma dev`` provisions it
(emma_local.provision: tables, queues, bus, shop secrets, SES identities; the campaign state machine), through the
campaigns composition root (emma.wiring.campaigns.CampaignWiring: DynamoCampaignRuns, DynamoAudienceReader,
SqsRequestQueue with its 8 threads, StepFunctionsCampaignExecutions) with a fixed clock (bench.synthetic.NOW, a
Monday 10:00 in Berlin). ``CampaignService.start`` (the admin API's command), then the state machine's ASL
(emma.campaigns.machine.campaign_machine) is walked state by state (``Walker``): each Task calls the service's
action as the campaigns function would, each Wait moves the clock, each Choice is decided on the task's result;
every state entered is counted (the billed state transitions: no task failed, so no retries). A second pass
replays the waves alone at the shipped campaign's own rate (``resume``: Entry -> Wave), on the same audience, so
that the waves' cost per wave and per recipient can be told apart (two measured points: ``_fit``).

Every AWS call is recorded at botocore (bench.aws_calls.CallRecorder) and DynamoDB is billed by the rules of
section 3 against a shadow of every item (bench.imports.Meter; here also: an UpdateItem's item as it is after the
call, read back unrecorded; a read with a ProjectionExpression billed by the whole item, which is what DynamoDB
charges). Lambda's billed duration per task: own CPU time (process CPU minus the CPU inside botocore calls and the
emulator) stretched by the CPU share at the function's memory, plus ``AWS_CALL_MS`` per AWS call (SendMessageBatch
calls divided over SqsRequestQueue's 8 threads).

The dispatcher: ``DISPATCH_SAMPLE`` of the requests the waves put on the queue (as SendMessageBatch carried them,
spread evenly over the audience by key; ``DISPATCH_WARMUP`` more before them, not measured: templates compiled, the
shop read) are handed to the real DispatchService built by emma.wiring.dispatch.build_dispatch (the message log, the
cap store, the recommendations and products of the personalised newsletter, SES, email.sent through the ingest
service onto the bus), each message measured like a task. The catalog (bench.synthetic's 400 products) and a
recommendation model built from the synthetic customers (emma.recommend.build.build_shop) are stored first, so
that the newsletter reads what it would read in a shop. SES is $0.10 per 1,000 emails; the SQS receive and delete
and the dispatcher's Lambda invocation are counted per message (``DISPATCH_BATCH``: at a campaign's rate Lambda's
poller finds a message or two at a time; the full-batch figure is given beside it).

Scaled to ``SCALE`` recipients: selection per candidate (candidates per recipient as measured; the eight select
invocations and begin, open, selected once), the waves per recipient and per wave (``_fit``), the state machine's
transitions counted on the walk (before the waves, then 3 a wave), the dispatcher per message of the sample. The
cost is given at the shipped campaign's rate and at the measured one.

    python -m bench.campaigns [--recipients N] [--sample N] [--output F.json] [--merge]   (about 35 s for 8,000)"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.analytics import _table  # noqa: E402
from bench.aws_calls import Call, CallRecorder  # noqa: E402
from bench.capacity import (  # noqa: E402
    eventbridge_billed_events,
    eventbridge_entry_size,
    item_size,
    lambda_billed_ms,
    lambda_cpu_share,
    query_read_units,
    read_units,
)
from bench.imports import AwsCpu, Bill, Index, Meter, item_kind, on_moto  # noqa: E402
from emma.rules.state import MEMBER_SHARDS  # noqa: E402

SHOP = "elektro-emma"
REGION = "eu-central-1"
PRICES = Path(__file__).with_name("prices.json")
CAMPAIGN = "weekly-newsletter"
SEGMENT = "reachable-email"  # the campaign's audience segment
RECIPIENTS = 8000  # entries of the audience segment's member list
TEMPLATES = 800  # synthetic customers evaluated by the rules; their members are copied
SEED = 2026
BENCH_RATE = 1000.0  # messages per second: the rate of the measured run
SCALE = 100_000  # recipients the cost is given for
DISPATCH_SAMPLE = 100  # messages dispatched and measured
DISPATCH_WARMUP = 5  # dispatched before, not measured
DISPATCH_BATCH = (1, 10)  # messages per Lambda invocation and per SQS receive: (the total's, the best case)
CAMPAIGNS_MEMORY_MB = 1024  # ASSUMED: infra has no campaigns function yet (functions/campaigns exists)
DISPATCH_MEMORY_MB = 1024  # infra/emma_infra/sizing.py DISPATCH_FUNCTION
INGEST_API_MEMORY_MB = 1024  # infra/emma_infra/sizing.py INGEST_API_FUNCTION (the admin API's start)
AWS_CALL_MS = 8.0  # bench/run.py ASSUMPTIONS["aws_call_latency_ms"]: a same-region call on a warm connection
SQS_THREADS = 8  # emma.adapters.campaigns.SqsRequestQueue's workers
SQS_CHUNK_BYTES = 64 * 1024  # SQS bills each started 64 KB of a request's payload as one request
AFTER = "__bench_after__"  # the item after an UpdateItem, read back by the recorder (not sent to AWS)
SETUP_TASKS = ("begin", "open", "select", "selected")


# ---- the calls: recorded, billed ----------------------------------------------------------------------


class Recorder(CallRecorder):
    """CallRecorder that reads back, unrecorded, the item each UpdateItem left (so that the bill knows its size
    after an update expression the bench does not evaluate)."""

    def __init__(self) -> None:
        super().__init__()
        self.client: Any = None  # a DynamoDB client of the session (set once the emulator runs)

    def _add(self, call: Call) -> None:
        if call.service == "dynamodb" and call.operation == "UpdateItem" and call.error is None and self.client:
            p = call.params
            got = self._original(self.client, "GetItem", {"TableName": p["TableName"], "Key": p["Key"]})
            call.params = {**p, AFTER: got.get("Item")}
        super()._add(call)


class CampaignMeter(Meter):
    """bench.imports.Meter (section 14's shadow billing) for the calls of a campaign and of the dispatcher:
    updates billed at their item after the call (read back), reads with a projection billed by the whole item."""

    projected_mismatches = 0

    def __init__(self, shop: str, indexes: Mapping[str, Sequence[Index]]) -> None:
        super().__init__(shop, indexes)
        self.touched: set[tuple[str, str]] = set()  # (table, pk) of every partition a billed call wrote

    def _write(self, b: Bill, table: str, key: Mapping[str, Any], after: dict[str, Any] | None, tx: bool, ok: bool):
        self.touched.add((table, key["pk"]["S"]))
        super()._write(b, table, key, after, tx, ok)

    def check_touched(self, ddb: Any) -> dict[str, int]:
        """The shadow against the tables in every partition a billed call wrote (a Query each, not recorded; the
        seeded items were written as built): items missing either side, sizes differing. A scan of every table,
        as section 14 does, would take most of the section's time here."""
        stored: dict[tuple[str, str, str], int] = {}
        for table, pk in sorted(self.touched):
            pages = ddb.get_paginator("query").paginate(
                TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pk}}
            )
            for page in pages:
                for item in page["Items"]:
                    stored[self._key(table, item)] = item_size(item)
        shadow = {k: item_size(v) for k, v in self.items.items() if (k[0], k[1]) in self.touched}
        return {
            "partitions": len(self.touched),
            "items": len(stored),
            "missing_in_shadow": len(stored.keys() - shadow.keys()),
            "missing_in_table": len(shadow.keys() - stored.keys()),
            "sizes_differing": sum(1 for k in stored.keys() & shadow.keys() if stored[k] != shadow[k]),
            "reads_differing": self.read_mismatches,
        }

    def _update(self, b: Bill, body: Mapping[str, Any], tx: bool, ok: bool) -> None:
        if AFTER not in body and ok:
            super()._update(b, body, tx, ok)
            return
        table, key = body["TableName"], body["Key"]
        before = self.items.get(self._key(table, key))
        after = body.get(AFTER) if ok else before
        self._write(b, table, key, dict(after) if after else None, tx, ok)

    def _partition(self, table: str, pk: str) -> list[tuple[str, dict[str, Any]]]:
        return sorted((k[2], v) for k, v in self.items.items() if k[0] == table and k[1] == pk)

    def _call(self, b: Bill, c: Call) -> None:
        p, r = c.params, c.response or {}
        if c.operation == "GetItem" and "ProjectionExpression" in p:
            table, key = p["TableName"], p["Key"]
            size = self.size(self._key(table, key))
            units = read_units(size, consistent=bool(p.get("ConsistentRead")))
            kind = item_kind(self.shop, key)
            b.rru += units
            b.rru_by_item[f"{kind} (projected)"] += units
            b.keys_read[kind] += 1
            b.keys_missing[kind] += 0 if size else 1
            b.bytes_read += size
            return
        if c.operation == "Query" and "ProjectionExpression" in p:
            # DynamoDB reads (and bills) whole items whatever the projection returns: the items of the partition
            # as the shadow holds them, from the start key on, up to the limit or 1 MB
            if p.get("KeyConditionExpression") != "pk = :pk":
                raise ValueError(f"a projected Query the campaigns bench does not bill: {p['KeyConditionExpression']}")
            table, pk = p["TableName"], p["ExpressionAttributeValues"][":pk"]["S"]
            after = (p.get("ExclusiveStartKey") or {}).get("sk", {}).get("S")
            sizes: list[int] = []
            kinds: set[str] = set()
            for sk, item in self._partition(table, pk):
                if after is not None and sk <= after:
                    continue
                if (p.get("Limit") and len(sizes) >= p["Limit"]) or sum(sizes) >= 1024 * 1024:
                    break
                sizes.append(self.size((table, pk, sk)))
                kinds.add(item_kind(self.shop, item))
            if len(sizes) != len(r.get("Items") or []):
                self.projected_mismatches += 1
            units = query_read_units(sizes, consistent=bool(p.get("ConsistentRead")))
            b.rru += units
            b.rru_by_item[f"Query {', '.join(sorted(kinds)) or 'nothing'} (projected)"] += units
            b.bytes_read += sum(sizes)
            return
        super()._call(b, c)


def sqs_billed(call: Call) -> int:
    """SQS requests billed for one call: each started 64 KB of its payload (a batch's messages together)."""
    if call.operation == "SendMessageBatch":
        size = sum(len(e["MessageBody"].encode()) for e in call.params["Entries"])
    elif call.operation == "SendMessage":
        size = len(call.params["MessageBody"].encode())
    else:
        return 1
    return max(1, math.ceil(size / SQS_CHUNK_BYTES))


@dataclass
class Task:
    """One invocation (a state machine task, the admin API's start, one message dispatched): what it called,
    what that cost, its own CPU time and its estimated billed duration."""

    action: str
    bill: Bill
    calls: list[Call]
    cpu_us: float
    wall_s: float
    memory_mb: int
    result: Any = None

    @property
    def sqs_sends(self) -> int:
        return sum(1 for c in self.calls if c.service == "sqs" and c.operation == "SendMessageBatch")

    @property
    def aws_calls(self) -> int:
        return len(self.calls)

    @property
    def waited_calls(self) -> float:
        """AWS calls one after another: SendMessageBatch calls of a wave go out on SqsRequestQueue's threads."""
        sends = self.sqs_sends
        return self.aws_calls - sends + (sends / SQS_THREADS if sends > 2 else sends)

    @property
    def billed_ms(self) -> int:
        return lambda_billed_ms(self.cpu_us, self.waited_calls, per_call_ms=AWS_CALL_MS, memory_mb=self.memory_mb)

    def count(self, service: str, operation: str | None = None) -> int:
        return sum(1 for c in self.calls if c.service == service and (operation is None or c.operation == operation))

    def sqs_billed(self) -> int:
        return sum(sqs_billed(c) for c in self.calls if c.service == "sqs")

    def eventbridge_billed(self) -> int:
        return sum(
            eventbridge_billed_events(eventbridge_entry_size(e))
            for c in self.calls
            if c.service == "events" and c.operation == "PutEvents"
            for e in c.params["Entries"]
        )


class Measured:
    """Runs callables with their AWS calls recorded and billed, their own CPU time measured."""

    def __init__(self, recorder: Recorder, cpu: AwsCpu, meter: CampaignMeter) -> None:
        self.recorder, self.cpu, self.meter = recorder, cpu, meter

    def __call__(self, action: str, run: Callable[[], Any], memory_mb: int) -> Task:
        spent = self.cpu.seconds
        cpu, wall = time.process_time(), time.perf_counter()
        with self.recorder.recording() as calls:
            result = run()
        wall = time.perf_counter() - wall
        own = time.process_time() - cpu - (self.cpu.seconds - spent)
        return Task(action, self.meter.bill(calls), list(calls), max(0.0, own) * 1e6, wall, memory_mb, result)

    def unbilled(self, run: Callable[[], Any]) -> Any:
        """Run something that is not part of the measurement, its DynamoDB writes applied to the shadow."""
        with self.recorder.recording() as calls:
            result = run()
        self.meter.bill(calls)
        return result


# ---- the state machine, walked --------------------------------------------------------------------------


def _path(doc: Any, path: str, context: Mapping[str, Any]) -> Any:
    if path.startswith("$$."):
        doc, path = context, path[1:]
    if path == "$":
        return doc
    for part in path.removeprefix("$.").split("."):
        doc = doc[part]
    return doc


def _resolve(template: Any, doc: Any, context: Mapping[str, Any]) -> Any:
    """ASL Parameters / ItemSelector / ResultSelector: keys ending in ``.$`` take a path's value."""
    if isinstance(template, dict):
        out = {}
        for k, v in template.items():
            if k.endswith(".$"):
                out[k[:-2]] = _path(doc, v, context)
            else:
                out[k] = _resolve(v, doc, context)
        return out
    return template


def _present(doc: Any, path: str) -> bool:
    try:
        _path(doc, path, {})
    except (KeyError, TypeError):
        return False
    return True


def _rule(rule: Mapping[str, Any], doc: Any) -> bool:
    if "And" in rule:
        return all(_rule(r, doc) for r in rule["And"])
    if "IsPresent" in rule:
        return _present(doc, rule["Variable"]) == rule["IsPresent"]
    value = _path(doc, rule["Variable"], {})
    if "BooleanEquals" in rule:
        return value is rule["BooleanEquals"]
    if "StringEquals" in rule:
        return value == rule["StringEquals"]
    raise ValueError(f"a Choice rule the walker does not know: {sorted(rule)}")


@dataclass
class Walk:
    entered: list[str] = field(default_factory=list)  # every state entered, in order (Map iterations' too)
    invocations: int = 0  # Lambda tasks invoked

    @property
    def transitions(self) -> int:
        return len(self.entered)


class Walker:
    """The campaign state machine's ASL walked as Step Functions would run it, for the states it uses (Task with
    Lambda invoke, Choice, Wait, Map inline, Succeed): ``invoke(payload)`` is the function, ``wait(seconds)`` the
    clock."""

    def __init__(self, definition: Mapping[str, Any], invoke: Callable[[Any], Any], wait: Callable[[int], None]):
        self.definition, self.invoke, self.wait = definition, invoke, wait

    def run(self, payload: Any) -> Walk:
        walk = Walk()
        self._states(self.definition, payload, {}, walk)
        return walk

    def _states(self, machine: Mapping[str, Any], doc: Any, context: Mapping[str, Any], walk: Walk) -> Any:
        name = machine["StartAt"]
        while True:
            state = machine["States"][name]
            walk.entered.append(name)
            kind = state["Type"]
            nxt = state.get("Next")
            if kind == "Task":
                params = state["Parameters"]
                payload = _path(doc, params["Payload.$"], context) if "Payload.$" in params else None
                if payload is None:
                    payload = _resolve(params["Payload"], doc, context)
                walk.invocations += 1
                output: Any = {"Payload": self.invoke(payload)}
                if "ResultSelector" in state:
                    output = _resolve(state["ResultSelector"], output, context)
                doc = self._result(doc, output, state.get("ResultPath", "$"))
            elif kind == "Choice":
                nxt = next((c["Next"] for c in state["Choices"] if _rule(c, doc)), state.get("Default"))
            elif kind == "Wait":
                self.wait(
                    int(_path(doc, state["SecondsPath"], context)) if "SecondsPath" in state else state["Seconds"]
                )
            elif kind == "Map":
                for item in _path(doc, state["ItemsPath"], context):
                    inner = {"Map": {"Item": {"Value": item}}}
                    item_input = _resolve(state["ItemSelector"], doc, inner) if "ItemSelector" in state else item
                    self._states(state["ItemProcessor"], item_input, inner, walk)
                doc = self._result(doc, None, state.get("ResultPath", "$"))
            elif kind == "Succeed":
                return doc
            else:
                raise ValueError(f"a state type the walker does not know: {kind}")
            if state.get("End"):
                return doc
            if nxt is None:
                raise ValueError(f"state {name} has no Next")
            name = nxt

    @staticmethod
    def _result(doc: Any, output: Any, result_path: str | None) -> Any:
        if result_path is None:
            return doc
        if result_path == "$":
            return output
        out = dict(doc)
        out[result_path.removeprefix("$.")] = output
        return out


# ---- the world -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    recipients: int = RECIPIENTS
    templates: int = TEMPLATES
    seed: int = SEED
    rate: float = BENCH_RATE
    dispatch_sample: int = DISPATCH_SAMPLE
    replay_rate: float | None = None  # the second pass's rate (None: the shipped campaign's)


def _env() -> dict[str, str]:
    from emma.resources import DEFINITIONS_ENV, PUBLIC_API_URL_ENV

    return {
        DEFINITIONS_ENV: str(ROOT),
        PUBLIC_API_URL_ENV: "https://api.example",
        "EMMA_SHOP_CACHE_SECONDS": "86400",  # the shop directory read once (before measuring)
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }


def _campaign(rate: float) -> Any:
    """The shipped campaign, sent now at ``rate``."""
    from emma.campaigns.definitions import Campaign
    from emma.wiring.definitions import read_campaigns

    shipped = next(c for c in read_campaigns(ROOT) if c.id == CAMPAIGN)
    data = shipped.model_dump()
    data.update(rate=rate, schedule={"now": True})
    return shipped, Campaign.model_validate(data)


def seed_audience(plan: Plan, table: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The audience's items (profile, derived state, member-list entry of each member), and how they were made."""
    from bench.synthetic import NOW, Population
    from emma.adapters.dynamodb import DynamoProfileRepository, _alias_item
    from emma.adapters.rules_store import DynamoRulesStore
    from emma.events.model import EVENT_ADAPTER
    from emma.ingest.ports import AliasKey
    from emma.profiles.model import Profile
    from emma.recommend.build import build_shop
    from emma.rules.loader import load_definitions
    from emma.rules.service import RulesService
    from emma.rules.state import Listing, member_key
    from emma_local.fakes import FixedClock, InMemoryProfileRepository, InMemoryPublisher, InMemoryRulesStore
    from emma_local.fakes.recommend import InMemoryShopHistory

    population = Population(seed=plan.seed)
    repo = InMemoryProfileRepository()
    store = InMemoryRulesStore(repo, check_limits=False)
    rules = RulesService(store, InMemoryPublisher(), load_definitions(ROOT), FixedClock(NOW), sleep=lambda s: None)
    customers = [population.customer(k) for k in range(plan.templates)]
    for c in customers:
        repo.profiles[(SHOP, c.profile_id)] = c.doc
        rules.on_event(EVENT_ADAPTER.validate_python(c.last_event))
    listed = {m["profile_id"] for m in store.members.get((SHOP, SEGMENT), {}).values()}
    members = [c for c in customers if c.profile_id in listed]
    if not members:
        raise RuntimeError(f"no synthetic customer is in {SEGMENT}")
    profiles, rules_store = DynamoProfileRepository(None, table), DynamoRulesStore(None, table)
    items: list[dict[str, Any]] = []
    for i in range(plan.recipients):
        c = members[i % len(members)]
        _, cid, email, anon = Population.ids(plan.templates + i, known=True)
        pid = profile_id(i)
        doc = dict(c.doc)
        doc.update(profile_id=pid, customer_ids=[cid], emails=[email], anonymous_ids=[anon])
        items.append(profiles._profile_item(SHOP, Profile.model_validate(doc)))
        derived = store.derived_states[(SHOP, c.profile_id)].model_copy(update={"profile_id": pid})
        items.append(rules_store._derived_item(SHOP, pid, derived))
        listing = Listing(SHOP, SEGMENT, pid, member_key(email, cid, pid), email, cid, NOW)
        items.append(rules_store._member_item(listing))
        for kind, value in (("cid", cid), ("email", email), ("anon", anon)):  # as ingest made them
            items.append(_alias_item(SHOP, AliasKey(kind, value), pid, doc["updated_at"]))
    model = build_shop(InMemoryShopHistory(repo, catalog_of(repo)), SHOP, FixedClock(NOW))
    profile_sizes = [item_size(it) for it in items if it["sk"]["S"] == "PROFILE"]
    about = {
        "templates": plan.templates,
        "templates_in_segment": len(members),
        "members": plan.recipients,
        "copies_per_template": plan.recipients / len(members),
        "profile_bytes_mean": statistics.mean(profile_sizes),
        "profile_bytes_max": max(profile_sizes),
        "generator": f"bench.synthetic.Population(seed={plan.seed}), derived state by the shipped rules",
    }
    return items, about, model


def profile_id(n: int) -> str:
    """A copy's profile id, as long as ingest's (``"p_" + uuid4().hex``: the size of member-list entries, chunks,
    message keys and SQS messages depends on it), the same for the same ``n``."""
    return "p_" + hashlib.sha256(f"bench-campaign-{n}".encode()).hexdigest()[:32]


def catalog_of(repo: Any) -> Any:
    """The synthetic shop's products (bench.synthetic.catalog: the ids the profiles' orders name), with a name and
    a URL, as an InMemoryCatalog."""
    from bench.synthetic import catalog
    from emma_local.fakes import InMemoryCatalog

    products = InMemoryCatalog(repo)
    for p in catalog():
        name = f"{p.brand} {p.category.replace('-', ' ').title()} {p.product_id.rsplit('-', 1)[1]}"
        products.put(
            SHOP, {**p.info(), "name": name, "url": f"https://shop.example/p/{p.product_id}", "in_stock": True}
        )
    return products


class World:
    """Emma's resources on in-process moto as `emma dev` provisions them, the audience stored, the campaigns
    composition root and the dispatcher's, every call recorded."""

    def __init__(self, session: Any, plan: Plan, measured: Measured) -> None:
        from bench.recommend import _product_item
        from bench.synthetic import NOW
        from emma.adapters.recommend import DynamoModelStore
        from emma.config import CampaignSettings, DispatchSettings
        from emma.resources import CAMPAIGN_MACHINE_ENV, CATALOG_TABLE, MESSAGES_QUEUE, PROFILES_TABLE, TABLES
        from emma.wiring import dispatch as dispatch_wiring
        from emma.wiring import ingest as ingest_wiring
        from emma.wiring.aws import BATCH_JOB
        from emma.wiring.campaigns import CampaignWiring
        from emma.wiring.ingest import IngestWiring
        from emma_local.config import EXAMPLE, load_config
        from emma_local.fakes import FixedClock
        from emma_local.provision import provision, provision_campaigns

        started = time.perf_counter()
        self.session, self.plan, self.measured = session, plan, measured
        shops = load_config(EXAMPLE).shops
        resources = provision(session, shops)
        machine = provision_campaigns(session, "emma-bench-campaigns")
        os.environ.update(resources.env())
        os.environ[CAMPAIGN_MACHINE_ENV] = machine
        self.ddb = session.client("dynamodb", region_name=REGION)
        self.sqs = session.client("sqs", region_name=REGION)
        self.queue_url = resources.queue_urls[MESSAGES_QUEUE.logical_id]
        self.table = resources.tables[PROFILES_TABLE.logical_id]
        measured.recorder.client = self.ddb
        indexes = {t.name: [Index(g.name, g.partition_key, g.sort_key, g.projection) for g in t.gsis] for t in TABLES}
        measured.meter.indexes = indexes
        self.provision_s = time.perf_counter() - started

        started = time.perf_counter()
        items, self.audience, model = seed_audience(plan, self.table)
        self.catalog_table = resources.tables[CATALOG_TABLE.logical_id]
        products = [_product_item(i, NOW.isoformat()) for i in catalog_of(None).products.values()]
        for table, written in ((self.table, items), (self.catalog_table, products)):
            for k in range(0, len(written), 25):
                pending = {table: [{"PutRequest": {"Item": it}} for it in written[k : k + 25]]}
                while pending:
                    pending = self.ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            for it in written:  # the shadow starts from what is stored
                measured.meter.items[(table, it["pk"]["S"], it["sk"]["S"])] = it
        # the recommendation model, built from the synthetic customers as the daily build would
        lists = measured.unbilled(lambda: DynamoModelStore(self.ddb, self.catalog_table).save(model))
        self.audience.update(products=len(products), model_lists=lists)
        self.seed_s = time.perf_counter() - started

        self.clock = FixedClock(NOW)
        self.shipped, self.campaign = _campaign(plan.rate)
        with mock.patch.object(ingest_wiring, "clock_from_env", lambda: self.clock):
            settings = CampaignSettings()  # type: ignore[call-arg]  # from the environment, as in the function
            wiring = CampaignWiring(settings, IngestWiring(settings, session, config=BATCH_JOB))
            self.service = wiring.service
            self.service._campaigns = [self.campaign]  # the shipped one, sent now at the bench's rate
            measured.unbilled(lambda: wiring.ingest.intake.shops.get(SHOP))  # the shop directory, read once
            with mock.patch.object(dispatch_wiring, "clock_from_env", lambda: self.clock):
                self.dispatch = dispatch_wiring.build_dispatch(DispatchSettings(), session)  # type: ignore[call-arg]
            measured.unbilled(lambda: self.dispatch.service._shops.get(SHOP))
            # What a message records (email.sent) goes out through the profiles table's stream: the publisher
            # function's work for it counts with the message.
            from emma.adapters.eventbridge import EventBridgePublisher
            from emma_local.streams import relayed

            recorder = self.dispatch.service._recorder
            bus = EventBridgePublisher(session.client("events", region_name=REGION), os.environ["EMMA_EVENT_BUS"])
            relayed(recorder._ingest, session, self.table, bus)

    def advance(self, seconds: int) -> None:
        from datetime import timedelta

        self.clock.at = self.clock.at + timedelta(seconds=seconds)

    def queued(self) -> int:
        """The messages on the queue, counted in moto's backend. Not the sum of SQS's three approximate counts:
        moto computes them one after the other, each at its own instant, so a delayed batch whose delay ends in
        between is counted in neither (the waves send with delays; this made the check flaky, 10 short)."""
        from moto.sqs.models import sqs_backends

        name = self.queue_url.rsplit("/", 1)[-1]
        account = self.queue_url.rsplit("/", 2)[-2]
        return len(sqs_backends[account][REGION].get_queue(name)._messages)


# ---- the runs ------------------------------------------------------------------------------------------


def _walk(w: World, payload: dict[str, Any], memory_mb: int) -> tuple[Walk, list[Task]]:
    """The state machine from ``payload`` on, each task one measured invocation of the campaigns function."""
    from emma.campaigns.machine import campaign_machine

    tasks: list[Task] = []
    service = w.service

    def invoke(p: Mapping[str, Any]) -> Any:
        action = p["action"]
        args = (p["shop"], p["campaign"], p["run"])
        if action == "select":
            run = lambda: service.select(*args, p["shard"])  # noqa: E731
        else:
            run = lambda: getattr(service, action)(*args)  # noqa: E731
        task = w.measured(action, run, memory_mb)
        tasks.append(task)
        return task.result

    walk = Walker(campaign_machine(), invoke, w.advance).run(payload)
    return walk, tasks


def _dispatch_sample(w: World, bodies: Sequence[str], sample: int, rate: float) -> tuple[list[Task], Counter[str]]:
    """Requests as the waves put them on the messages queue (``bodies``: from the recorded SendMessageBatch calls;
    receiving them from moto's queue would take minutes and depend on the delays' real time), ``sample`` +
    DISPATCH_WARMUP of them spread evenly over the audience (by key), each handed to the dispatcher as one measured
    piece of work; the first DISPATCH_WARMUP not measured. Lambda's poller receives and deletes them (modelled).
    The dispatcher's look at the run's status (CachedGate: once per 5 s per warm function) runs on the time the
    messages would arrive in at ``rate``, one function environment taking them all."""
    from emma.adapters import keys
    from emma.adapters.campaigns import CachedGate, DynamoCampaignRuns
    from emma.dispatch.request import MessageRequest

    wanted = sample + DISPATCH_WARMUP
    if len(bodies) < wanted:
        raise RuntimeError(f"only {len(bodies)} requests were queued, {wanted} wanted")
    requests = sorted((MessageRequest.model_validate(json.loads(b)) for b in bodies), key=lambda r: r.key)
    requests = requests[:: max(1, len(requests) // wanted)][:wanted]  # spread over the audience's templates
    sizes = [w.measured.meter.size((w.table, keys.profile_pk(SHOP, r.profile_id), keys.PROFILE_SK)) for r in requests]
    w.sample_profile_bytes = statistics.mean(sizes[DISPATCH_WARMUP:])
    arrived = [0.0]
    service = w.dispatch.service
    service._campaigns = CachedGate(DynamoCampaignRuns(w.ddb, w.table), monotonic=lambda: arrived[0])
    outcomes: Counter[str] = Counter()
    tasks = []
    for n, request in enumerate(requests):
        arrived[0] = n / rate
        if n < DISPATCH_WARMUP:
            w.measured.unbilled(lambda r=request: service.dispatch(r))
            continue
        task = w.measured("dispatch", lambda r=request: service.dispatch(r), DISPATCH_MEMORY_MB)
        outcomes[task.result.outcome] += 1
        tasks.append(task)
    return tasks, outcomes


# ---- the figures ------------------------------------------------------------------------------------------


def _sum(tasks: Sequence[Task]) -> dict[str, Any]:
    """Totals of some tasks: calls, units, Lambda, SQS and EventBridge billing."""
    bill = Bill()
    calls: Counter[str] = Counter()
    for t in tasks:
        bill += t.bill
        calls.update(f"{c.service}:{c.operation}" for c in t.calls)
    billed_ms = sum(t.billed_ms for t in tasks)
    memory = tasks[0].memory_mb if tasks else CAMPAIGNS_MEMORY_MB
    return {
        "invocations": len(tasks),
        "aws_calls": sum(calls.values()),
        "calls_by_operation": dict(sorted(calls.items())),
        "rru": bill.rru,
        "wru": bill.wru,
        "index_wru": bill.index_wru,
        "rru_by_item": dict(bill.rru_by_item.most_common()),
        "wru_by_item": dict(bill.wru_by_item.most_common()),
        "items_written": dict(bill.items_written.most_common()),
        "keys_read": dict(bill.keys_read.most_common()),
        "keys_missing": dict(bill.keys_missing.most_common()),
        "bytes_read": bill.bytes_read,
        "bytes_written": bill.bytes_written,
        "errors": list(bill.errors),
        "sqs_requests": sum(t.count("sqs") for t in tasks),
        "sqs_billed": sum(t.sqs_billed() for t in tasks),
        "eventbridge_entries": sum(len(c.params["Entries"]) for t in tasks for c in t.calls if c.service == "events"),
        "eventbridge_billed": sum(t.eventbridge_billed() for t in tasks),
        "ses_emails": sum(t.count("ses") for t in tasks),
        "sfn_calls": sum(t.count("stepfunctions") for t in tasks),
        "cpu_ms": sum(t.cpu_us for t in tasks) / 1000,
        "wall_s": sum(t.wall_s for t in tasks),
        "billed_ms": billed_ms,
        "gb_seconds": billed_ms / 1000 * memory / 1024,
        "billed_ms_max": max((t.billed_ms for t in tasks), default=0),
    }


FIT_KEYS = (
    "aws_calls",
    "rru",
    "wru",
    "sqs_requests",
    "sqs_billed",
    "billed_ms",
    "gb_seconds",
    "cpu_ms",
    "invocations",
)


def _fit(a: Mapping[str, Any], b: Mapping[str, Any], recipients: int) -> dict[str, dict[str, float]]:
    """Two passes of the waves over the same recipients at two rates: each figure as per recipient x recipients
    + per wave x waves (solved from the two points; a negative part, from CPU time's noise, is set to 0)."""
    wa, wb = a["waves"], b["waves"]
    if wa == wb:
        raise ValueError("the two passes made as many waves: per wave and per recipient cannot be told apart")
    per_wave, per_recipient = {}, {}
    for k in FIT_KEYS:
        pw = (b[k] - a[k]) / (wb - wa)
        pr = (a[k] - pw * wa) / recipients
        if pr < 0:
            pr, pw = 0.0, a[k] / wa
        if pw < 0:
            pw, pr = 0.0, a[k] / recipients
        per_wave[k], per_recipient[k] = pw, pr
    return {"per_wave": per_wave, "per_recipient": per_recipient}


def waves_for(recipients: int, rate: float) -> tuple[int, int]:
    """(waves, seconds a wave) of a run of ``recipients`` at ``rate`` (emma.campaigns.service.wave_seconds; a wave
    that hands over a full budget is followed by another, which may find nothing)."""
    from bench.synthetic import NOW
    from emma.campaigns.runs import RunState
    from emma.campaigns.service import wave_seconds

    run = RunState(
        shop=SHOP, campaign=CAMPAIGN, run="x", status="sending", created_at=NOW, start=NOW, rate=rate,
        included=recipients,
    )  # fmt: skip
    seconds = wave_seconds(run)
    budget = max(1, int(rate * seconds))
    return recipients // budget + 1, seconds


def _usd(part: Mapping[str, float], prices: Mapping[str, Any]) -> dict[str, float]:
    """USD of some usage (rru, wru, index_wru, gb_seconds, invocations, sqs_billed, eventbridge_billed, ses_emails,
    transitions, api_requests) at list prices."""
    p = prices["services"]
    return {
        "dynamodb_reads": part.get("rru", 0) * p["dynamodb_on_demand"]["usd_per_million_rru"] / 1e6,
        "dynamodb_writes": (part.get("wru", 0) + part.get("index_wru", 0))
        * p["dynamodb_on_demand"]["usd_per_million_wru"]
        / 1e6,
        "lambda_requests": part.get("invocations", 0) * p["lambda_arm64"]["usd_per_million_requests"] / 1e6,
        "lambda_duration": part.get("gb_seconds", 0) * p["lambda_arm64"]["usd_per_gb_second"],
        "sqs": part.get("sqs_billed", 0) * p["sqs_standard"]["usd_per_million_requests"] / 1e6,
        "eventbridge": part.get("eventbridge_billed", 0) * p["eventbridge"]["usd_per_million_custom_events"] / 1e6,
        "stepfunctions": part.get("transitions", 0) * p["stepfunctions_standard"]["usd_per_1000_transitions"] / 1e3,
        "api_gateway": part.get("api_requests", 0) * p["apigateway_http"]["usd_per_million_requests"] / 1e6,
        "ses": part.get("ses_emails", 0) * p["ses"]["usd_per_1000_emails"] / 1e3,
    }


USAGE_KEYS = (
    "rru",
    "wru",
    "index_wru",
    "gb_seconds",
    "invocations",
    "sqs_billed",
    "eventbridge_billed",
    "ses_emails",
    "transitions",
    "api_requests",
)


def _part(usage: Mapping[str, float], prices: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    usd = _usd(usage, prices)
    return {
        "usage": {k: usage.get(k, 0) for k in USAGE_KEYS if usage.get(k)},
        "usd": {k: v for k, v in usd.items() if v},
        "usd_total": sum(usd.values()),
        **extra,
    }


def cost_model(r: Mapping[str, Any], prices: Mapping[str, Any], rate: float, scale: int = SCALE) -> dict[str, Any]:
    """USD for ``scale`` recipients of a run at ``rate``: the fan-out's parts and the dispatcher's per message."""
    included = r["audience"]["included"]
    f = scale / included
    start, setup, fit = r["start"], r["setup"], r["waves_fit"]
    waves, seconds = waves_for(scale, rate)
    sfn = r["transitions"]
    # the run's start: one admin API request (API Gateway, the ingest API function)
    parts = {
        "start": _part({**start, "api_requests": 1}, prices, note="the admin API's start: once a run"),
    }
    # selection: open, one select per member-list shard, selected; the shards' work grows with the candidates
    sel = setup["select"]
    fixed = {k: setup["open"][k] + setup["selected"][k] + setup["begin"][k] for k in ("rru", "wru", "gb_seconds")}
    parts["audience"] = _part(
        {
            "rru": sel["rru"] * f + fixed["rru"],
            "wru": sel["wru"] * f + fixed["wru"],
            "gb_seconds": sel["gb_seconds"] * f + fixed["gb_seconds"],
            "invocations": sel["invocations"] + 3,  # a select per shard, whatever the audience; begin, open, selected
        },
        prices,
        note="begin, open, a select per member-list shard (member lists, candidates read, chunks written), selected",
    )
    pr, pw = fit["per_recipient"], fit["per_wave"]
    finish = r["finish"]
    parts["waves"] = _part(
        {
            "rru": pr["rru"] * scale + pw["rru"] * waves + finish["rru"],
            "wru": pr["wru"] * scale + pw["wru"] * waves + finish["wru"],
            "gb_seconds": pr["gb_seconds"] * scale + pw["gb_seconds"] * waves + finish["gb_seconds"],
            "invocations": waves + 1,  # a wave task per wave, and finish
            "sqs_billed": pr["sqs_billed"] * scale + pw["sqs_billed"] * waves,
        },
        prices,
        waves=waves,
        wave_seconds=seconds,
        note="the waves (chunks read, SendMessageBatch of ten, the run saved) and finish",
    )
    parts["state_machine"] = _part(
        {"transitions": sfn["before_waves"] + sfn["per_wave"] * waves},
        prices,
        transitions=sfn["before_waves"] + sfn["per_wave"] * waves,
        note=f"{sfn['before_waves']} state transitions before the waves, {sfn['per_wave']} a wave (Wave, More, Pause;"
        " the last wave's Finish instead of its Pause)",
    )
    d = r["dispatch"]["per_message"]
    batch = DISPATCH_BATCH[0]
    dispatch_usage = {
        "rru": d["rru"] * scale,
        "wru": d["wru"] * scale,
        "index_wru": d["index_wru"] * scale,
        "gb_seconds": d["gb_seconds"] * scale,
        "invocations": math.ceil(scale / batch),
        "eventbridge_billed": d["eventbridge_billed"] * scale,
        # Lambda's poller: a ReceiveMessage per batch, a DeleteMessageBatch per batch
        "sqs_billed": 2 * math.ceil(scale / batch),
    }
    parts["dispatch"] = _part(
        dispatch_usage,
        prices,
        messages_per_invocation=batch,
        note="the dispatcher per message: message log, cap, profile read, email.sent through ingest and onto the "
        "bus; SQS receive and delete, Lambda",
    )
    parts["ses"] = _part({"ses_emails": d["ses_emails"] * scale}, prices, note="SES, per email sent")
    best = dict(
        dispatch_usage,
        invocations=math.ceil(scale / DISPATCH_BATCH[1]),
        sqs_billed=2 * math.ceil(scale / DISPATCH_BATCH[1]),
    )
    fan_out = ("start", "audience", "waves", "state_machine")
    total = sum(p["usd_total"] for p in parts.values())
    by_service: Counter[str] = Counter()
    for p in parts.values():
        by_service.update(p["usd"])
    return {
        "recipients": scale,
        "rate": rate,
        "waves": waves,
        "parts": parts,
        "usd_fan_out": sum(parts[k]["usd_total"] for k in fan_out),
        "usd_dispatch": parts["dispatch"]["usd_total"],
        "usd_ses": parts["ses"]["usd_total"],
        "usd_total": total,
        "usd_without_ses": total - parts["ses"]["usd_total"],
        "usd_by_service": dict(by_service.most_common()),
        "usd_dispatch_full_batches": _part(best, prices)["usd_total"],
    }


def _run(session: Any, plan: Plan, prices: Mapping[str, Any]) -> dict[str, Any]:

    recorder, cpu = Recorder(), AwsCpu()
    meter = CampaignMeter(SHOP, {})
    measured = Measured(recorder, cpu, meter)
    recorder.install()
    cpu.install()  # inside the recorder's wrap: its bookkeeping (and the read-backs) count as botocore's
    try:
        w = World(session, plan, measured)
        service = w.service
        # the admin's start (the ingest API function)
        start = measured("start", lambda: service.start(SHOP, CAMPAIGN), INGEST_API_MEMORY_MB)
        run_id = start.result.run.run
        if not start.result.started or len(start.calls) == 0:
            raise RuntimeError("the campaign's run was not started")
        payload = {"shop": SHOP, "campaign": CAMPAIGN, "run": run_id}
        walk_a, tasks_a = _walk(w, payload, CAMPAIGNS_MEMORY_MB)
        state = service._runs.get(SHOP, CAMPAIGN, run_id)
        assert state is not None
        queued_a = w.queued()
        if state.status != "done" or state.queued != state.included or queued_a != state.included:
            raise RuntimeError(
                f"the run did not hand every recipient over: {state.status}, {state.queued} of {state.included},"
                f" {queued_a} on the queue"
            )
        # the waves again, at the shipped campaign's own rate: the run set back to where selection left it
        shipped_rate = float(w.shipped.rate)
        rate_b = plan.replay_rate or shipped_rate
        if waves_for(state.included, rate_b)[0] <= waves_for(state.included, plan.rate)[0]:
            rate_b = max(0.1, state.included / 50)  # a small audience: about 6 waves, to tell the two parts apart
        bodies = [
            e["MessageBody"]
            for t in tasks_a
            for c in t.calls
            if c.service == "sqs" and c.operation == "SendMessageBatch"
            for e in c.params["Entries"]
        ]
        dispatch_tasks, outcomes = _dispatch_sample(w, bodies, plan.dispatch_sample, shipped_rate)

        def rewind() -> None:
            w.sqs.purge_queue(QueueUrl=w.queue_url)
            current = service._runs.get(SHOP, CAMPAIGN, run_id)
            assert current is not None
            back = current.model_copy(
                update={
                    "status": "sending",
                    "cursor": None,
                    "offset": 0,
                    "queued": 0,
                    "rate": rate_b,
                    "finished_at": None,
                }
            )
            service._runs.save(back)

        measured.unbilled(rewind)
        walk_b, tasks_b = _walk(w, {**payload, "resume": True}, CAMPAIGNS_MEMORY_MB)
        state_b = service._runs.get(SHOP, CAMPAIGN, run_id)
        assert state_b is not None
        if state_b.status != "done" or state_b.queued != state.included:
            raise RuntimeError(f"the second pass did not hand every recipient over: {state_b.status} {state_b.queued}")
        check = meter.check_touched(w.ddb)
        stored = meter.stored()
    finally:
        cpu.uninstall()
        recorder.uninstall()

    by_action: dict[str, list[Task]] = {}
    for t in tasks_a:
        by_action.setdefault(t.action, []).append(t)
    setup = {a: _sum(by_action.get(a, [])) for a in SETUP_TASKS}
    waves_a = _sum(by_action["wave"])
    waves_b = _sum([t for t in tasks_b if t.action == "wave"])
    waves_a["waves"], waves_b["waves"] = len(by_action["wave"]), waves_b["invocations"]
    waves_a["rate"], waves_b["rate"] = plan.rate, rate_b
    for name, expected in (
        (waves_a, waves_for(state.included, plan.rate)[0]),
        (waves_b, waves_for(state.included, rate_b)[0]),
    ):
        if name["waves"] != expected:
            raise RuntimeError(f"{name['waves']} waves at {name['rate']}/s, expected {expected}")
    fit = _fit(waves_a, waves_b, state.included)
    # Wave and More each wave, then Pause (or, after the last, Finish): 3 a wave
    before = walk_a.entered.index("Wave")
    transitions = {
        "run": walk_a.transitions,
        "before_waves": before,
        "per_wave": 3,
        "entered": dict(Counter(walk_a.entered)),
        "second_pass": walk_b.transitions,
        "second_pass_entered": dict(Counter(walk_b.entered)),
    }
    if walk_a.transitions != before + 3 * waves_a["waves"] or walk_b.transitions != 1 + 3 * waves_b["waves"]:
        raise RuntimeError(f"the walk's transitions are not 3 a wave: {transitions}")
    # wall time of the fan-out on moto (Waits not waited): open, the selects, selected, the waves
    fan_tasks = [t for t in tasks_a if t.action in ("open", "select", "selected", "wave")]
    fan_wall = sum(t.wall_s for t in fan_tasks)
    select_wall = sum(t.wall_s for t in by_action["select"])
    wave_wall = sum(t.wall_s for t in by_action["wave"])
    d = _sum(dispatch_tasks)
    n = len(dispatch_tasks)
    per_message = {
        k: d[k] / n
        for k in (
            "aws_calls",
            "rru",
            "wru",
            "index_wru",
            "eventbridge_billed",
            "eventbridge_entries",
            "ses_emails",
            "cpu_ms",
            "billed_ms",
            "gb_seconds",
            "wall_s",
        )
    }
    per_message["calls_by_operation"] = {k: v / n for k, v in d["calls_by_operation"].items()}
    per_message["wru_by_item"] = {k: v / n for k, v in d["wru_by_item"].items()}
    per_message["rru_by_item"] = {k: v / n for k, v in d["rru_by_item"].items()}
    selections = [t.result for t in by_action["select"]]
    result: dict[str, Any] = {
        "shop": SHOP,
        "campaign": {
            "id": CAMPAIGN,
            "template": w.campaign.template,
            "audience": w.campaign.audience.model_dump(mode="json", exclude_defaults=True),
            "rate_measured": plan.rate,
            "rate_shipped": shipped_rate,
            "rate_replayed": rate_b,
            "schedule_measured": "now",
        },
        "plan": dict(plan.__dict__),
        "audience": {
            **w.audience,
            "candidates": state.candidates,
            "included": state.included,
            "left_out": state.left_out,
            "shards": [s["included"] for s in selections],
        },
        "start": _sum([start]),
        "setup": setup,
        "waves_measured": waves_a,
        "waves_replayed": waves_b,
        "waves_fit": fit,
        "finish": _sum(by_action["finish"]),
        "transitions": transitions,
        "fan_out": {
            "note": "in-process moto on this machine, one process, the shards one after another, Wait states not"
            " waited: not AWS",
            "recipients": state.included,
            "candidates": state.candidates,
            "wall_s": fan_wall,
            "recipients_per_s": state.included / fan_wall if fan_wall else 0.0,
            "select_wall_s": select_wall,
            "candidates_per_s_selecting": state.candidates / select_wall if select_wall else 0.0,
            "select_wall_s_slowest_shard": max(t.wall_s for t in by_action["select"]),
            "wave_wall_s": wave_wall,
            "recipients_per_s_waves": state.included / wave_wall if wave_wall else 0.0,
            "sqs_send_batches": waves_a["sqs_requests"],
            "cpu_ms_selecting_per_candidate": sum(t.cpu_us for t in by_action["select"]) / 1000 / state.candidates,
            # modelled, not measured: a select task's billed duration per candidate (own CPU at the function's
            # memory + AWS_CALL_MS a call), the shards of SCALE recipients' candidates side by side (the Map runs
            # them all at once)
            "modelled_select_s_per_shard_at_scale": sum(t.billed_ms for t in by_action["select"])
            / state.candidates
            * (SCALE * state.candidates / state.included)
            / len(by_action["select"])
            / 1000,
            "cpu_ms_waves_per_recipient": sum(t.cpu_us for t in by_action["wave"]) / 1000 / state.included,
        },
        "dispatch": {
            "messages": n,
            "outcomes": dict(outcomes),
            "profile_bytes_mean": w.sample_profile_bytes,
            **{k: d[k] for k in ("aws_calls", "calls_by_operation", "rru", "wru", "index_wru", "errors")},
            "per_message": per_message,
            "wall_s": d["wall_s"],
            "messages_per_s": n / d["wall_s"] if d["wall_s"] else 0.0,
            "cpu_ms_median": statistics.median(t.cpu_us / 1000 for t in dispatch_tasks),
            "own_cpu_messages_per_s": 1000 / statistics.median(t.cpu_us / 1000 for t in dispatch_tasks),
            "billed_ms_median": statistics.median(t.billed_ms for t in dispatch_tasks),
            "note": "one dispatcher, messages one after another, on in-process moto; own CPU excludes botocore and"
            " the emulator",
        },
        "check": {**check, "projected_reads_differing": meter.projected_mismatches},
        "stored": {k: v for k, v in stored.items() if k.startswith("campaign") or k in ("message", "caps")},
        "setup_s": {"provision": w.provision_s, "seed": w.seed_s},
        "assumptions": {
            "campaigns_memory_mb": CAMPAIGNS_MEMORY_MB,
            "campaigns_memory_note": "assumed: infra defines no campaigns function yet",
            "dispatch_memory_mb": DISPATCH_MEMORY_MB,
            "ingest_api_memory_mb": INGEST_API_MEMORY_MB,
            "aws_call_latency_ms": AWS_CALL_MS,
            "sqs_threads": SQS_THREADS,
            "dispatch_messages_per_invocation": list(DISPATCH_BATCH),
            "lambda_cpu_share": lambda_cpu_share(CAMPAIGNS_MEMORY_MB),
            "scaling": "selection per candidate (its fixed tasks once); waves per recipient and per wave from the two"
            " passes; state transitions counted on the walked ASL; dispatch per message of the sample",
        },
        "prices_as_of": prices["as_of"],
        "prices_region": prices["region"],
    }
    result["cost"] = {
        "measured_rate": cost_model(result, prices, plan.rate),
        "shipped_rate": cost_model(result, prices, shipped_rate),
    }
    return result


def measure(prices: Mapping[str, Any] | None = None, plan: Plan = Plan(), session: Any = None) -> dict[str, Any]:
    """The fan-out of ``plan.recipients`` and a dispatch sample against in-process moto (its own ``mock_aws``,
    unless a ``session`` inside one is given)."""

    from bench.imports import _changed_code, _commit

    changed = _changed_code()
    prices = prices or json.loads(PRICES.read_text())
    from emma_local import moto_fixes

    moto_fixes.install()
    started = time.perf_counter()
    result = on_moto(session, _env(), lambda s: _run(s, plan, prices))
    result["run_s"] = time.perf_counter() - started
    result["git_commit"] = _commit()
    result["uncommitted_code"] = changed
    return result


# ---- report --------------------------------------------------------------------------------------------


def _usd_text(x: float) -> str:
    return f"${x:,.2f}" if x >= 0.995 else f"${x:.4f}" if x >= 0.0001 else f"${x:.6f}"


PART_LABELS = {
    "start": "start (admin API)",
    "audience": "audience (8 shards)",
    "waves": "waves + finish",
    "state_machine": "state machine",
    "dispatch": "dispatcher",
    "ses": "SES",
}


def _usage_text(u: Mapping[str, float]) -> str:
    names = {
        "rru": "RRU",
        "wru": "WRU",
        "index_wru": "index WRU",
        "gb_seconds": "GB-s",
        "invocations": "Lambda",
        "sqs_billed": "SQS req",
        "eventbridge_billed": "events",
        "ses_emails": "emails",
        "transitions": "transitions",
        "api_requests": "API req",
    }
    return ", ".join(f"{v:,.0f} {names[k]}" if v >= 10 else f"{v:,.2g} {names[k]}" for k, v in u.items() if v)


def report(r: dict[str, Any]) -> str:
    a, fo, d, c = r["audience"], r["fan_out"], r["dispatch"], r["campaign"]
    shipped, fast = r["cost"]["shipped_rate"], r["cost"]["measured_rate"]
    out = [
        f"\n15. Campaigns: the fan-out's rate, and what sending costs per {SCALE:,} recipients",
        f"  ({c['id']}: segment {', '.join(c['audience'].get('segments', []))}, topic {c['audience'].get('topic')},"
        f" without those in {', '.join(c['audience'].get('exclude', {}).get('journeys', []))} or who ordered within 7"
        f" days; sent now at {c['rate_measured']:g}/s; in-process moto, the ASL walked, units by the rules of"
        " section 3, list prices)",
        f"  audience: {a['members']:,} members of {SEGMENT} (copies of {a['templates_in_segment']} synthetic customers,"
        f" profiles {a['profile_bytes_mean']:,.0f} B on average), {a['candidates']:,} candidates, {a['included']:,}"
        " recipients; left out: " + (", ".join(f"{k} {v}" for k, v in a["left_out"].items()) or "none"),
        f"  fan-out on moto (this 2-core machine, one process, not AWS): {fo['recipients']:,} recipients onto the"
        f" queue in {fo['wall_s']:.1f} s = {fo['recipients_per_s']:,.0f} recipients/s",
        f"    selecting {fo['select_wall_s']:.1f} s ({fo['candidates_per_s_selecting']:,.0f} candidates/s, the 8"
        f" shards one after another, the slowest {fo['select_wall_s_slowest_shard']:.1f} s); waves"
        f" {fo['wave_wall_s']:.1f} s ({fo['recipients_per_s_waves']:,.0f} recipients/s, {fo['sqs_send_batches']:,}"
        " SendMessageBatch on 8 threads)",
        f"    modelled for AWS (not measured): a select task of {SCALE:,} recipients' candidates bills about"
        f" {fo['modelled_select_s_per_shard_at_scale']:.1f} s per shard, the {MEMBER_SHARDS} shards side by side",
        f"  dispatch on moto: {d['messages']} messages ({', '.join(f'{k} {v}' for k, v in d['outcomes'].items())}) one"
        f" after another, {d['messages_per_s']:.0f}/s; own CPU {d['cpu_ms_median']:.1f} ms median"
        f" (~{d['own_cpu_messages_per_s']:.0f} messages/s per core); {d['per_message']['aws_calls']:.1f} AWS calls,"
        f" billed {d['billed_ms_median']:.0f} ms a message at {DISPATCH_MEMORY_MB} MB",
        f"  per {shipped['recipients']:,} recipients at the shipped rate {shipped['rate']:g}/s"
        f" ({shipped['waves']:,} waves) and at {fast['rate']:g}/s ({fast['waves']:,}):",
    ]
    rows = []
    for key, label in PART_LABELS.items():
        ps, pf = shipped["parts"][key], fast["parts"][key]
        rows.append([label, _usage_text(ps["usage"]), _usd_text(ps["usd_total"]), _usd_text(pf["usd_total"])])
    rows.append(["total", "", _usd_text(shipped["usd_total"]), _usd_text(fast["usd_total"])])
    rows.append(["  without SES", "", _usd_text(shipped["usd_without_ses"]), _usd_text(fast["usd_without_ses"])])
    out += _table(
        rows, ["part", f"usage at {shipped['rate']:g}/s", f"USD {shipped['rate']:g}/s", f"USD {fast['rate']:g}/s"]
    )
    pm = d["per_message"]
    ops = ", ".join(f"{k.split(':')[1]} {v:g}" for k, v in pm["calls_by_operation"].items())
    rru_items = ", ".join(f"{k} {v:.2f}" for k, v in pm["rru_by_item"].items())
    wru_items = ", ".join(f"{k} {v:.2f}" for k, v in pm["wru_by_item"].items())
    out.append(f"  dispatcher per message: {pm['rru']:.2f} RRU ({rru_items})")
    out.append(f"    {pm['wru']:.2f} WRU ({wru_items})")
    out.append(
        f"    {ops}; {pm['eventbridge_billed']:.2f} EventBridge events; an SQS receive, an SQS delete and a Lambda"
        f" invocation per message (in full batches of {DISPATCH_BATCH[1]} the dispatcher would cost"
        f" {_usd_text(shipped['usd_dispatch_full_batches'])} instead of {_usd_text(shipped['usd_dispatch'])})"
    )
    sel = r["setup"]["select"]
    n = a["candidates"]
    out.append(
        f"  selecting per candidate: {sel['rru'] / n:.2f} RRU ("
        + ", ".join(f"{k} {v / n:.2f}" for k, v in sel["rru_by_item"].items() if v / n >= 0.005)
        + f"), {sel['calls_by_operation'].get('dynamodb:BatchGetItem', 0) / n * 100:.1f} BatchGetItem per 100;"
        f" chunks {sel['wru'] / a['included']:.3f} WRU per recipient"
    )
    fit = r["waves_fit"]
    t = r["transitions"]
    out.append(
        f"  waves: {fit['per_recipient']['sqs_billed']:.2f} SQS requests and {fit['per_recipient']['rru']:.4f} RRU per"
        f" recipient, {fit['per_wave']['rru']:.1f} RRU, {fit['per_wave']['wru']:.1f} WRU and one invocation per wave;"
        f" state transitions {t['before_waves']} before the waves + 3 a wave (measured: {t['run']} in the run at"
        f" {c['rate_measured']:g}/s, {t['second_pass']} replaying the waves at {c['rate_replayed']:g}/s)"
    )
    chk = r["check"]
    bad = {k: v for k, v in chk.items() if k not in ("items", "partitions") and v}
    agree = "every item and size agree" if not bad else f"DISAGREE: {bad}"
    out.append(
        f"  shadow vs tables: {agree} ({chk['items']:,} items in the {chk['partitions']:,} partitions written); run"
        f" {r.get('run_s', 0):.0f} s (provision {r['setup_s']['provision']:.0f} s, audience"
        f" {r['setup_s']['seed']:.0f} s)"
    )
    changed = r.get("uncommitted_code") or []
    out.append(
        f"  measured on commit {r.get('git_commit')}"
        + (f" with uncommitted changes to {', '.join(changed)}" if changed else "")
        + f"; prices {r['prices_as_of']} ({r['prices_region']})"
    )
    return "\n".join(out)


def findings(r: dict[str, Any]) -> list[str]:
    m, fast = r["cost"]["shipped_rate"], r["cost"]["measured_rate"]
    fo, pm = r["fan_out"], r["dispatch"]["per_message"]
    sfn, sfn_fast = m["parts"]["state_machine"]["usd_total"], fast["parts"]["state_machine"]["usd_total"]
    found = [
        f"campaigns: {m['recipients']:,} recipients of the weekly newsletter cost {_usd_text(m['usd_total'])} at list"
        f" prices: SES {_usd_text(m['usd_ses'])} ({m['usd_ses'] / m['usd_total']:.0%}), the dispatcher"
        f" {_usd_text(m['usd_dispatch'])}, the fan-out {_usd_text(m['usd_fan_out'])}.",
        f"campaigns: the fan-out handed {fo['recipients']:,} recipients to the queue at {fo['recipients_per_s']:,.0f}/s"
        " on in-process moto (shards one after another, Wait states not waited): the campaign's rate, not the fan-out,"
        f" sets how long a send takes (the shipped {r['campaign']['rate_shipped']:g}/s: 100,000 in about"
        f" {m['recipients'] / m['rate'] / 3600:.1f} h).",
        f"campaigns: at {m['rate']:g}/s the state machine is most of the fan-out's cost: {m['waves']:,} waves of 3"
        f" transitions, {_usd_text(sfn)} of {_usd_text(m['usd_fan_out'])} ({_usd_text(sfn_fast)} at"
        f" {fast['rate']:g}/s).",
    ]
    profile = pm["wru_by_item"].get("profile", 0)
    if profile:
        found.append(
            f"campaigns: recording email.sent rewrites the whole profile ({r['dispatch']['profile_bytes_mean']:,.0f} B"
            f" on average, 2x in the transaction): {profile:.1f} of the dispatcher's {pm['wru']:.1f} WRU a message;"
            f" DynamoDB writes are {m['usd_by_service'].get('dynamodb_writes', 0) / m['usd_without_ses']:.0%} of the"
            " cost without SES."
        )
    products = pm["rru_by_item"].get("product", 0) + pm["rru_by_item"].get("recommendation list", 0)
    if products:
        found.append(
            f"campaigns: the personalised newsletter's products and recommendation lists are {products:.1f} of the"
            f" dispatcher's {pm['rru']:.1f} RRU a message (eventually consistent); the cap item is read twice (plan,"
            " then reserve) and the profile twice (dispatch, then ingest's email.sent), strongly consistent."
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Campaigns: the fan-out's rate and the cost per 100,000 recipients")
    parser.add_argument("--recipients", type=int, default=RECIPIENTS, help="members of the audience segment")
    parser.add_argument("--sample", type=int, default=DISPATCH_SAMPLE, help="messages dispatched and measured")
    parser.add_argument("--output", type=Path, help="also write the figures as JSON here")
    parser.add_argument(
        "--merge", action="store_true", help="put the figures and findings into bench/results.json (section 15)"
    )
    args = parser.parse_args(argv)
    result = measure(plan=Plan(recipients=args.recipients, dispatch_sample=args.sample))
    print(report(result))
    print("\nFindings")
    print("\n".join(f"  - {f}" for f in findings(result)))
    print(f"\nTook {result['run_s']:.0f} s.")
    if args.output:
        args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    if args.merge:
        merge(result)
        print(f"Merged into {RESULTS.relative_to(ROOT)}.")
    return 0


RESULTS = Path(__file__).with_name("results.json")


def merge(result: dict[str, Any], path: Path = RESULTS) -> None:
    """This section measured alone, put into a full run's results (``campaigns`` and its findings), as section 13
    was added (the rest of the file stays as that run left it)."""
    from bench.run import merge_section

    merge_section("campaigns", result, findings(result), "campaigns:", path)


if __name__ == "__main__":
    sys.exit(main())
