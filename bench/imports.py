"""Imports (issue 16): what importing a shop's history costs in AWS, per 100,000 customers.

A generated three-year history (``emma_local.lab.shop_history.generate`` with ``DROPOUT``: about three orders a
customer; customers with an email and a customer id, about 60 % with email consent and its proof, orders of one
to three line items from the sample catalog, guest checkouts by email only, some cancelled or partly refunded,
some with a coupon) is imported by the CLI's own runner (``emma_local.imports.Importer``: its batches, journal
and conclusion passes; only the file reader is replaced by the generated records), sending to the API's own
worker in-process, each call one measured API request. Two ways, each on fresh tables:

- **together** (the recommended flow, the headline): ``emma import customers FILE --conclude-later`` stores the
  customers file only; ``emma import orders FILE`` stores the orders, then concludes its profiles and the
  customers file's together, each once: a conclude pass, then a rescore pass.
- **separately** (the comparison): each file concluded on its own, two passes each, four in all.

Records go in batches of ``BATCH_RECORDS`` to ``ImportWorker.store``; profiles in batches of ``CONCLUDE_BATCH``
to ``ImportWorker.conclude``, the first batch of each pass alone: concluding, its answer names the prior it
scored with; rescoring, it refits the prior and compares (``scored_with``), and a prior that did not change
ends the pass there (a customers file without orders). The sample catalog is imported first (not measured),
as a shop would before its history.

The worker is the API's own (``emma.wiring.imports.build_importer`` over ``emma.wiring.ingest.IngestWiring``:
the DynamoDB profile repository, catalog and rules store, the EventBridge publishers, the shop directory read
from Secrets Manager, the suppression check: backfill leaves out customers erased in Emma, one lookup per
customer), against in-process moto (``mock_aws``) with the tables created as `emma dev` creates them
(``emma_local.provision.create_table``), the shops of the example config stored as secrets, and a fixed clock
(the import's time: the figures do not move with the day of the run).

Every AWS call is recorded at botocore (bench.aws_calls.CallRecorder) and billed by DynamoDB's sizing rules
(bench.capacity, README section 3) against a shadow of every item the recorded calls wrote (writes at the
larger of the item before and after, 2x in a transaction; reads by the size returned, a missing key still
1 RRU; counter ``ADD``s applied), compared at the end with a scan of every table. Writes to the profiles
table's activity index (a GSI, keys only) are billed too: one write when a profile enters the index, two
when its ``active_day`` moves (delete and put), as standard writes. EventBridge must get no call at all: a
backfill publishes nothing (the run fails otherwise).

Lambda (the ingest API function, ``LAMBDA_MEMORY_MB``): one invocation and one API Gateway request per API
request; billed duration = the request's own CPU time (process CPU time of the call minus the CPU time spent
inside botocore and the emulator, per thread) stretched by the CPU share at that memory, plus an assumed
``AWS_CALL_MS`` per AWS call (a store request's customers run on ``PARALLEL_CUSTOMERS`` threads: its calls
are divided among them; a conclusion's run one after another), rounded up to the millisecond. CPU time is
this machine's: other work running on it at the same time inflates it (the DynamoDB figures do not move).

Scaled linearly to ``SCALE_CUSTOMERS`` customers and ``SCALE_ORDERS`` orders: the customers file per
customer, the orders file per order, each conclusion pass per profile concluded.

    python -m bench.imports [--customers N] [--seed S] [--no-compare] [--output F.json]   (about 4.5 minutes for 2,000)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.analytics import apply_update  # noqa: E402
from bench.aws_calls import Call, CallRecorder  # noqa: E402
from bench.capacity import (  # noqa: E402
    RequestUsage,
    api_gateway_billed_requests,
    item_size,
    lambda_billed_ms,
    lambda_cpu_share,
    query_read_units,
    read_units,
    request_cost,
    write_units,
)

SHOP = "elektro-emma"
REGION = "eu-central-1"
PRICES = Path(__file__).with_name("prices.json")
FORMAT = "emma"  # the records as Emma's generic format carries them (customer ids on orders, product ids)
CUSTOMERS = 2000
SEED = 16
SCALE_CUSTOMERS = 100_000
SCALE_ORDERS = 300_000
LAMBDA_MEMORY_MB = 1024  # infra/emma_infra/sizing.py INGEST_API_FUNCTION (the import routes' function)
LAMBDA_TIMEOUT_S = 10  # the same function's timeout
AWS_CALL_MS = 8.0  # bench/run.py ASSUMPTIONS["aws_call_latency_ms"]: a same-region call on a warm connection
DROPOUT = (1.0, 4.6)  # the generator's chance to stop buying: about 3 orders a customer (the 100k / 300k)
TOGETHER, SEPARATELY = "together", "separately"
FLOWS = {
    # emma import customers FILE --conclude-later; emma import orders FILE (each profile concluded once)
    TOGETHER: (("customers", "store"), ("orders", "store"), ("both", "conclude"), ("both", "rescore")),
    # each file concluded on its own (without --conclude-later): four conclusion passes
    SEPARATELY: (
        ("customers", "store"),
        ("customers", "conclude"),
        ("customers", "rescore"),
        ("orders", "store"),
        ("orders", "conclude"),
        ("orders", "rescore"),
    ),
}
STEPS = FLOWS[TOGETHER]


def step_name(file: str, phase: str) -> str:
    """``customers store``; the conclusion passes over both files' profiles are just ``conclude``, ``rescore``."""
    return phase if file == "both" else f"{file} {phase}"


# ---- billing: every call, item by item ---------------------------------------------------------------


def item_kind(shop: str, key: Mapping[str, Any]) -> str:
    """The item type (docs/data-model.md names) of a key of any table."""
    from emma.adapters import keys
    from emma.adapters.privacy import _classify

    pk, sk = key.get("pk", {}).get("S", ""), key.get("sk", {}).get("S", "")
    if pk == keys.CURSOR_PK:
        return keys.CURSOR.name
    if pk.startswith(keys.campaign_pk(shop, "")):  # a campaign's items (bench/campaigns.py)
        if "#RUN#" in pk:
            return keys.CAMPAIGN_SELECTION.name if sk.startswith(keys.selection_sk(None)) else keys.CAMPAIGN_CHUNK.name
        return keys.CAMPAIGN_STATE.name if sk == keys.CAMPAIGN_STATE_SK else keys.CAMPAIGN_RUN.name
    if pk.startswith(f"S#{shop}#SKU#"):
        return "product sku"
    return _classify(shop, {"pk": {"S": pk}, "sk": {"S": sk}})


@dataclass
class Bill:
    """DynamoDB requests and request units of some calls: by API, by item type; the activity index's writes."""

    requests: Counter[str] = field(default_factory=Counter)
    rru: float = 0.0
    wru: float = 0.0  # the tables' own writes
    index_wru: float = 0.0  # writes the profiles table's activity index (GSI) takes from them
    index_writes: int = 0
    rru_by_item: Counter[str] = field(default_factory=Counter)
    wru_by_item: Counter[str] = field(default_factory=Counter)
    items_written: Counter[str] = field(default_factory=Counter)  # puts, updates and deletes
    items_deleted: Counter[str] = field(default_factory=Counter)
    keys_read: Counter[str] = field(default_factory=Counter)  # keys asked by GetItem / BatchGetItem
    keys_missing: Counter[str] = field(default_factory=Counter)  # of those, without an item (charged all the same)
    bytes_written: int = 0
    bytes_read: int = 0
    events_logged: Counter[str] = field(default_factory=Counter)  # event log entries written, by event type
    errors: list[str] = field(default_factory=list)
    other_aws: Counter[str] = field(default_factory=Counter)

    def __iadd__(self, other: Bill) -> Bill:
        self.requests += other.requests
        self.rru += other.rru
        self.wru += other.wru
        self.index_wru += other.index_wru
        self.index_writes += other.index_writes
        self.rru_by_item.update(other.rru_by_item)
        self.wru_by_item.update(other.wru_by_item)
        self.items_written.update(other.items_written)
        self.items_deleted.update(other.items_deleted)
        self.keys_read.update(other.keys_read)
        self.keys_missing.update(other.keys_missing)
        self.bytes_written += other.bytes_written
        self.bytes_read += other.bytes_read
        self.events_logged.update(other.events_logged)
        self.errors += other.errors
        self.other_aws.update(other.other_aws)
        return self

    @property
    def calls(self) -> int:
        return sum(self.requests.values()) + sum(self.other_aws.values())

    def view(self) -> dict[str, Any]:
        return {
            "requests": sum(self.requests.values()),
            "requests_by_api": dict(sorted(self.requests.items())),
            "rru": self.rru,
            "wru": self.wru,
            "index_wru": self.index_wru,
            "index_writes": self.index_writes,
            "wru_by_item": dict(self.wru_by_item.most_common()),
            "rru_by_item": dict(self.rru_by_item.most_common()),
            "items_written": dict(self.items_written.most_common()),
            "items_deleted": dict(self.items_deleted.most_common()),
            "keys_read": dict(self.keys_read.most_common()),
            "keys_missing": dict(self.keys_missing.most_common()),
            "bytes_written": self.bytes_written,
            "bytes_read": self.bytes_read,
            "events_logged": dict(self.events_logged.most_common()),
            "errors": list(self.errors),
            "other_aws_requests": dict(sorted(self.other_aws.items())),
        }


Key = tuple[str, str, str]  # table, pk, sk


@dataclass(frozen=True)
class Index:
    """A global secondary index: its key attributes and projection (emma.resources.GsiDef)."""

    name: str
    partition_key: str
    sort_key: str | None
    projection: str

    def entry(self, item: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The index's entry for a table item (None: the item is not in the index)."""
        if item is None or self.partition_key not in item or (self.sort_key and self.sort_key not in item):
            return None
        if self.projection == "ALL":
            return dict(item)
        names = ("pk", "sk", self.partition_key, *((self.sort_key,) if self.sort_key else ()))
        return {n: item[n] for n in names}

    def writes(self, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[int]:
        """The sizes of the index writes a table write from ``before`` to ``after`` causes: none when the entry
        stays as it was, one to put or delete it, two (delete and put) when its index key changes."""
        old, new = self.entry(before), self.entry(after)
        if (old is None and new is None) or old == new:
            return []
        if old is None or new is None:
            return [item_size(old or new or {})]
        keys = [self.partition_key, *((self.sort_key,) if self.sort_key else ())]
        if any(old[k] != new[k] for k in keys):
            return [item_size(old), item_size(new)]
        return [max(item_size(old), item_size(new))]


class Meter:
    """Bills recorded calls against a shadow of every table (every item as the recorded writes left it)."""

    def __init__(self, shop: str, indexes: Mapping[str, Sequence[Index]]) -> None:
        self.shop = shop
        self.indexes = indexes
        self.items: dict[Key, dict[str, Any]] = {}
        self.read_mismatches = 0  # a read returned an item of another size than the shadow's

    @staticmethod
    def _key(table: str, item: Mapping[str, Any]) -> Key:
        return table, item["pk"]["S"], item["sk"]["S"]

    def size(self, key: Key) -> int:
        item = self.items.get(key)
        return item_size(item) if item else 0

    def bill(self, calls: Sequence[Call]) -> Bill:
        b = Bill()
        for c in calls:
            if c.service != "dynamodb":
                b.other_aws[f"{c.service}:{c.operation}"] += 1
                continue
            b.requests[c.operation] += 1
            if c.error:
                b.errors.append(f"{c.operation}: {c.error}")
            self._call(b, c)
        return b

    # -- writes ---------------------------------------------------------------------------------------

    def _write(self, b: Bill, table: str, key: Mapping[str, Any], after: dict[str, Any] | None, tx: bool, ok: bool):
        k = self._key(table, key)
        before = self.items.get(k)
        size = item_size(after) if after else 0
        units = write_units(max(self.size(k), size), transactional=tx)
        kind = item_kind(self.shop, key)
        b.wru += units
        b.wru_by_item[kind] += units
        b.items_written[kind] += 1
        b.items_deleted[kind] += 1 if after is None else 0
        b.bytes_written += size
        if after is not None and "type" in after and "event" in after:  # an event log entry (with its record)
            b.events_logged[after["type"]["S"]] += 1
        if not ok:
            return  # a cancelled transaction or a failed condition: charged, nothing stored
        for index in self.indexes.get(table, ()):
            for entry_size in index.writes(before, after):
                b.index_wru += write_units(entry_size)  # propagated as a standard write (not doubled)
                b.index_writes += 1
        if after is None:
            self.items.pop(k, None)
        else:
            self.items[k] = after

    def _update(self, b: Bill, body: Mapping[str, Any], tx: bool, ok: bool) -> None:
        table, key = body["TableName"], body["Key"]
        after = apply_update(self.items.get(self._key(table, key)), key, body)
        self._write(b, table, key, after, tx, ok)

    # -- reads ----------------------------------------------------------------------------------------

    def _read(self, b: Bill, table: str, key: Mapping[str, Any], found: Mapping[str, Any] | None, consistent: bool):
        size = item_size(found) if found else 0
        if found and size != self.size(self._key(table, found)):
            self.read_mismatches += 1
        units = read_units(size, consistent=consistent)
        kind = item_kind(self.shop, key)
        b.rru += units
        b.rru_by_item[kind] += units
        b.keys_read[kind] += 1
        b.keys_missing[kind] += 0 if found else 1
        b.bytes_read += size

    def _call(self, b: Bill, c: Call) -> None:
        p, r, ok = c.params, c.response or {}, c.error is None
        op = c.operation
        if op == "GetItem":
            self._read(b, p["TableName"], p["Key"], r.get("Item"), bool(p.get("ConsistentRead")))
        elif op == "BatchGetItem":
            unprocessed = r.get("UnprocessedKeys") or {}
            for table, request in p["RequestItems"].items():
                returned = {self._key(table, i): i for i in (r.get("Responses") or {}).get(table, [])}
                skipped = {self._key(table, k) for k in (unprocessed.get(table) or {}).get("Keys", [])}
                for key in request["Keys"]:
                    k = self._key(table, key)
                    if k not in skipped:
                        self._read(b, table, key, returned.get(k), bool(request.get("ConsistentRead")))
        elif op == "Query":
            items = r.get("Items") or []
            sizes = [item_size(i) for i in items]
            units = query_read_units(sizes, consistent=bool(p.get("ConsistentRead")))
            kinds = sorted({item_kind(self.shop, i) for i in items}) or ["nothing"]
            b.rru += units
            b.rru_by_item[f"Query {', '.join(kinds)}"] += units
            b.bytes_read += sum(sizes)
        elif op == "PutItem":
            self._write(b, p["TableName"], p["Item"], p["Item"], False, ok)
        elif op == "DeleteItem":
            self._write(b, p["TableName"], p["Key"], None, False, ok)
        elif op == "UpdateItem":
            self._update(b, p, False, ok)
        elif op == "BatchWriteItem":
            unprocessed = r.get("UnprocessedItems") or {}
            for table, requests in p["RequestItems"].items():
                left = {json.dumps(x, sort_keys=True, default=str) for x in unprocessed.get(table, [])}
                for request in requests:
                    if json.dumps(request, sort_keys=True, default=str) in left:
                        continue
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        self._write(b, table, item, item, False, ok)
                    else:
                        self._write(b, table, request["DeleteRequest"]["Key"], None, False, ok)
        elif op == "TransactWriteItems":
            for entry in p["TransactItems"]:
                ((action, body),) = entry.items()
                if action == "Put":
                    self._write(b, body["TableName"], body["Item"], body["Item"], True, ok)
                elif action == "Delete":
                    self._write(b, body["TableName"], body["Key"], None, True, ok)
                elif action == "Update":
                    self._update(b, body, True, ok)
                else:
                    raise ValueError(f"a transaction entry the imports bench does not bill: {action}")
        else:
            raise ValueError(f"a DynamoDB call the imports bench does not bill: {op}")

    # -- the shadow against the tables ------------------------------------------------------------------

    def check(self, ddb: Any, tables: Sequence[str]) -> dict[str, int]:
        """The shadow against a scan of every table (not recorded): items missing either side, sizes differing."""
        stored: dict[Key, int] = {}
        for table in tables:
            for page in ddb.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    stored[self._key(table, item)] = item_size(item)
        shadow = {k: item_size(v) for k, v in self.items.items()}
        return {
            "items": len(stored),
            "missing_in_shadow": len(stored.keys() - shadow.keys()),
            "missing_in_table": len(shadow.keys() - stored.keys()),
            "sizes_differing": sum(1 for k in stored.keys() & shadow.keys() if stored[k] != shadow[k]),
            "reads_differing": self.read_mismatches,
        }

    def stored(self) -> dict[str, dict[str, Any]]:
        """Items by type: how many, mean and largest size."""
        sizes: dict[str, list[int]] = {}
        for (_, pk, sk), item in self.items.items():
            sizes.setdefault(item_kind(self.shop, {"pk": {"S": pk}, "sk": {"S": sk}}), []).append(item_size(item))
        return {
            k: {"items": len(v), "mean_bytes": statistics.mean(v), "max_bytes": max(v), "bytes": sum(v)}
            for k, v in sorted(sizes.items(), key=lambda kv: -sum(kv[1]))
        }


class AwsCpu:
    """CPU time spent inside botocore calls (botocore's own work and the in-process emulator's), summed over
    threads: what is subtracted from a request's process CPU time to leave the function's own."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()
        self._inner: Any = None

    def install(self) -> None:
        from botocore.client import BaseClient

        inner = BaseClient._make_api_call
        meter = self

        def _make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            start = time.thread_time()
            try:
                return inner(client, operation_name, api_params)
            finally:
                spent = time.thread_time() - start
                with meter._lock:
                    meter.seconds += spent

        self._inner = inner
        BaseClient._make_api_call = _make_api_call  # type: ignore[method-assign]

    def uninstall(self) -> None:
        from botocore.client import BaseClient

        if self._inner is not None:
            BaseClient._make_api_call = self._inner  # type: ignore[method-assign]
            self._inner = None


# ---- the API's requests ------------------------------------------------------------------------------


@dataclass
class Request:
    """One API request: what it carried, what it called and cost, and its estimated Lambda duration."""

    units: int  # records stored, or profiles concluded
    body_bytes: int
    bill: Bill
    cpu_us: float  # own CPU time
    wall_s: float  # in-process, on the emulator
    parallel: int  # threads the request's AWS calls are spread over

    @property
    def billed_ms(self) -> int:
        return lambda_billed_ms(
            self.cpu_us, self.bill.calls / self.parallel, per_call_ms=AWS_CALL_MS, memory_mb=LAMBDA_MEMORY_MB
        )

    def usd(self, prices: Mapping[str, Any]) -> dict[str, float]:
        usage = RequestUsage(
            request_bytes=self.body_bytes,
            lambda_billed_ms=self.billed_ms,
            memory_mb=LAMBDA_MEMORY_MB,
            wru=self.bill.wru + self.bill.index_wru,
            rru=self.bill.rru,
            eventbridge_events=0,  # checked: no call to EventBridge at all
            secrets_calls=self.bill.other_aws.get("secretsmanager:BatchGetSecretValue", 0)
            + self.bill.other_aws.get("secretsmanager:ListSecrets", 0),
        )
        return request_cost(usage, prices)


@dataclass
class Step:
    """One step of an import (a file's store, or one conclusion pass), request by request."""

    file: str
    phase: str
    requests: list[Request] = field(default_factory=list)
    profiles: set[str] = field(default_factory=set)  # the store step: the profiles its batches answered
    duplicates: int = 0
    accepted: int = 0
    skipped: int = 0
    erased: int = 0  # customers left out: erased in Emma
    merges: int = 0
    evaluated: int = 0
    stopped: bool = False  # a rescore that ended after its first request: the refitted prior was the same

    @property
    def name(self) -> str:
        return step_name(self.file, self.phase)

    @property
    def units(self) -> int:
        return sum(r.units for r in self.requests)

    def bill(self) -> Bill:
        total = Bill()
        for r in self.requests:
            total += r.bill
        return total


class World:
    """The API's import worker, built by the real wiring over in-process moto, every call recorded."""

    def __init__(self, session: Any, recorder: CallRecorder, cpu: AwsCpu, at: Any) -> None:
        from emma.config import ImportSettings
        from emma.resources import EVENT_BUS, TABLES
        from emma.wiring.imports import build_importer
        from emma.wiring.ingest import IngestWiring
        from emma_local.config import EXAMPLE, load_config
        from emma_local.fakes import FixedClock
        from emma_local.provision import create_table, store_shops

        self.ddb = session.client("dynamodb", region_name=REGION)
        existing = set(self.ddb.list_tables()["TableNames"])
        for table in TABLES:
            if table.name in existing:
                self.ddb.delete_table(TableName=table.name)
            create_table(self.ddb, table)
        self.tables = [t.name for t in TABLES]
        events = session.client("events", region_name=REGION)
        if EVENT_BUS.name not in {b["Name"] for b in events.list_event_buses()["EventBuses"]}:
            events.create_event_bus(Name=EVENT_BUS.name)
        secrets = session.client("secretsmanager", region_name=REGION)
        shops = load_config(EXAMPLE).shops
        if not secrets.list_secrets().get("SecretList"):
            store_shops(secrets, shops)
        self.shop = next(s for s in shops if s.shop == SHOP)
        self.indexes = {
            t.name: [Index(g.name, g.partition_key, g.sort_key, g.projection) for g in t.gsis] for t in TABLES
        }
        self.meter = Meter(SHOP, self.indexes)
        self.recorder, self.cpu = recorder, cpu
        settings = ImportSettings()  # type: ignore[call-arg]  # from the environment, as in the function
        self.wiring = IngestWiring(settings, session)
        self.wiring.clock = FixedClock(at)  # the import's time (a cached_property of the wiring: replaced)
        with recorder.recording() as calls:  # a cold start: the shop directory read from Secrets Manager
            self.worker = build_importer(settings, self.wiring)
            self.wiring.intake.shops.get(SHOP)
        self.cold_start = Counter(f"{c.service}:{c.operation}" for c in calls)
        self.products = self._catalog(at)
        for table in self.tables:  # the shadow starts from what is stored (not recorded)
            for page in self.ddb.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    self.meter.items[Meter._key(table, item)] = item

    def _catalog(self, at: Any) -> int:
        """The shop's catalog, imported before its history (`emma catalog import`): the products the history's
        line items name, stored as PUT /v1/catalog/products stores them (not measured)."""
        from emma.events.model import CatalogEvent, CatalogProps, EventType, ProductInfo, Source, SourceKind
        from emma_local.catalog_import import read_products
        from emma_local.lab.shop_history import CATALOG

        catalog = self.wiring.intake.service.catalog
        source = Source(kind=SourceKind.EMMA, name="catalog-import")
        rows = read_products(CATALOG)
        for n, row in enumerate(rows):
            product = ProductInfo.model_validate(row.product)
            event = CatalogEvent(
                id=f"import:bench-{n}",
                type=EventType.PRODUCT_UPSERTED,
                shop=SHOP,
                occurred_at=at - timedelta(days=1),
                received_at=at - timedelta(days=1),
                source=source,
                properties=CatalogProps(product=product),
            )
            catalog.upsert_product(event)
        return len(rows)

    def request(self, run: Callable[[], Any], units: int, body_bytes: int, parallel: int = 1) -> tuple[Any, Request]:
        spent = self.cpu.seconds
        cpu, wall = time.process_time(), time.perf_counter()
        with self.recorder.recording() as calls:
            result = run()
        wall = time.perf_counter() - wall
        own = time.process_time() - cpu - (self.cpu.seconds - spent)
        return result, Request(units, body_bytes, self.meter.bill(calls), max(0.0, own) * 1e6, wall, parallel)

    def check(self) -> dict[str, int]:
        return self.meter.check(self.ddb, self.tables)


def _body_bytes(body: Mapping[str, Any]) -> int:
    """The request body as emma_local.imports.ApiTarget sends it."""
    return len(json.dumps(body, default=str).encode())


class MeasuredTarget:
    """The ImportTarget `emma import` sends to (emma_local.imports.ApiTarget: the admin API), here the API's
    worker in-process: each call one API request, measured, with the body ApiTarget would send."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.steps: dict[tuple[str, str], Step] = {}
        self.concluding = ""  # the file whose job concludes ("both": its profiles and those stored before)

    def _step(self, file: str, phase: str) -> Step:
        return self.steps.setdefault((file, phase), Step(file, phase))

    def store(self, kind: Any, fmt: str, records: list[Any]) -> Any:
        from emma.ingest.service import PARALLEL_CUSTOMERS

        body = {"format": fmt, "records": [r.model_dump(mode="json", exclude_defaults=True) for r in records]}
        customers = len({r.email or r.customer_id for r in records})  # one group of the ingest per customer
        report, req = self.w.request(
            lambda: self.w.worker.store(SHOP, fmt, records),
            len(records),
            _body_bytes(body),
            min(PARALLEL_CUSTOMERS, customers),
        )
        step = self._step(str(kind), "store")
        step.requests.append(req)
        step.profiles.update(report.profiles)
        step.accepted += report.accepted
        step.duplicates += report.duplicates
        step.skipped += report.skipped
        step.erased += report.erased
        step.merges += report.merges
        return report

    def conclude(self, profile_ids: list[str], batch: str, refit: bool, scored_with: dict[str, Any] | None) -> Any:
        phase = batch.split(":")[1]  # Importer._each: f"{job}:{phase}:{start}"
        body: dict[str, Any] = {"batch": batch, "profiles": profile_ids, "refit": refit}
        if scored_with is not None:
            body["scored_with"] = scored_with
        answer, req = self.w.request(
            lambda: self.w.worker.conclude(SHOP, profile_ids, batch, refit=refit, scored_with=scored_with),
            len(profile_ids),
            _body_bytes(body),
        )
        step = self._step(self.concluding, phase)
        step.requests.append(req)
        step.evaluated += answer.evaluated
        if refit and answer.prior_changed is False:  # the runner skips the rest of the pass
            step.stopped = True
        return answer


def _importer(target: MeasuredTarget, records: Mapping[str, Sequence[Any]]) -> Any:
    """emma_local.imports.Importer as `emma import` runs it (one request at a time), reading the generated
    records instead of a file: its batches, journal (in memory), conclude-later and conclusion passes as they are."""
    from unittest import mock

    import emma_local.imports as cli

    class BenchImporter(cli.Importer):
        def _ingest(self, state: Any, open_file: Any, options: Any, progress: Any) -> None:
            def read(kind: Any, *_: Any) -> Iterator[Any]:  # the file reader (emma.imports.formats.read)
                return iter(records[str(kind)])

            with mock.patch.object(cli, "read", read):
                super()._ingest(state, open_file, options, progress)

    return BenchImporter(target, cli.MemoryJournal())


def run_flow(w: World, flow: str, records: Mapping[str, Sequence[Any]], seed: int) -> list[Step]:
    """The history imported one way (FLOWS): the customers file, then the orders file, each a job of the runner;
    ``together``: the customers file stored with --conclude-later, concluded by the orders file's job."""
    import io

    from emma.imports.formats import ReadOptions
    from emma.imports.model import ImportKind
    from emma.imports.service import Checked

    target = MeasuredTarget(w)
    importer = _importer(target, records)
    phases = {}
    for kind in ("customers", "orders"):
        later = flow == TOGETHER and kind == "customers"
        target.concluding = "both" if flow == TOGETHER else kind
        items = records[kind]
        digest = hashlib.sha256(f"{SHOP}|{kind}|{FORMAT}|bench-{seed}-{len(items)}".encode()).hexdigest()
        checked = Checked(format=FORMAT, digest=digest, records=len(items))
        state = importer.run(
            SHOP, ImportKind(kind), f"{kind}.jsonl", io.BytesIO, ReadOptions(), FORMAT, None, checked, not later
        )
        phases[kind] = state.phase
        if state.records_done != len(items):
            raise RuntimeError(f"the runner stored {state.records_done:,} of {len(items):,} {kind}")
    expected = {"customers": "stored" if flow == TOGETHER else "done", "orders": "done"}
    if phases != expected or importer.journal.pending(SHOP):
        raise RuntimeError(f"the runner did not finish the {flow} import: {phases}")
    steps = [target.steps[k] for k in FLOWS[flow] if k in target.steps]
    if [(s.file, s.phase) for s in steps] != list(FLOWS[flow]):
        raise RuntimeError(f"the {flow} import ran other steps: {sorted(target.steps)}")
    return steps


# ---- the figures ---------------------------------------------------------------------------------------


def _per(x: float, n: int) -> float:
    return x / n if n else 0.0


def step_figures(step: Step, prices: Mapping[str, Any], scale_units: int, batch_size: int) -> dict[str, Any]:
    """A step's measured totals, per unit (record or profile), and scaled to ``scale_units``."""
    bill = step.bill()
    n = step.units
    usd = Counter[str]()
    for r in step.requests:
        usd.update(r.usd(prices))
    billed_ms = sum(r.billed_ms for r in step.requests)
    if step.stopped:  # one request whatever the number of profiles: not scaled
        scale_units = n
    factor = scale_units / n if n else 0.0
    requests_scaled = len(step.requests) if step.stopped else math.ceil(scale_units / batch_size)
    api = prices["services"]["apigateway_http"]["usd_per_million_requests"] / 1e6
    lam = prices["services"]["lambda_arm64"]
    api_units = statistics.mean(api_gateway_billed_requests(r.body_bytes) for r in step.requests)
    scaled = {
        "dynamodb_writes": usd["dynamodb_writes"] * factor,
        "dynamodb_reads": usd["dynamodb_reads"] * factor,
        "lambda_duration": usd["lambda_duration"] * factor,
        "lambda_requests": requests_scaled * lam["usd_per_million_requests"] / 1e6,
        "api_gateway": requests_scaled * api_units * api,
        "eventbridge": 0.0,
        "secrets_manager": usd["secrets_manager"] * factor,
    }
    view = bill.view()
    committed = bill.requests.get("TransactWriteItems", 0)
    return {
        "name": step.name,
        "file": step.file,
        "phase": step.phase,
        "unit": "profile" if step.phase != "store" else step.file.removesuffix("s"),
        "units": n,
        "api_requests": len(step.requests),
        "profiles": len(step.profiles) if step.phase == "store" else n,
        "accepted_events": step.accepted,
        "duplicates": step.duplicates,
        "skipped": step.skipped,
        "erased": step.erased,
        "merges": step.merges,
        "evaluated": step.evaluated,
        "stopped_after_refit": step.stopped,
        "transactions": committed,
        **view,
        "per_unit": {
            "aws_calls": _per(bill.calls, n),
            "requests_by_api": {k: _per(v, n) for k, v in sorted(bill.requests.items())},
            "rru": _per(bill.rru, n),
            "wru": _per(bill.wru, n),
            "index_wru": _per(bill.index_wru, n),
            "wru_by_item": {k: _per(v, n) for k, v in bill.wru_by_item.most_common()},
            "rru_by_item": {k: _per(v, n) for k, v in bill.rru_by_item.most_common()},
            "items_written": {k: _per(v, n) for k, v in bill.items_written.most_common()},
            "items_deleted": {k: _per(v, n) for k, v in bill.items_deleted.most_common() if v},
            "events_logged": {k: _per(v, n) for k, v in bill.events_logged.most_common()},
            "cpu_ms": _per(sum(r.cpu_us for r in step.requests) / 1000, n),
            "billed_ms": _per(billed_ms, n),
        },
        "lambda": {
            "memory_mb": LAMBDA_MEMORY_MB,
            "cpu_ms": sum(r.cpu_us for r in step.requests) / 1000,
            "billed_ms": billed_ms,
            "billed_ms_per_request_mean": _per(billed_ms, len(step.requests)),
            "billed_ms_per_request_max": max((r.billed_ms for r in step.requests), default=0),
            "aws_calls_per_request_max": max((r.bill.calls for r in step.requests), default=0),
            "parallel_calls": max((r.parallel for r in step.requests), default=1),
            "gb_seconds": billed_ms / 1000 * LAMBDA_MEMORY_MB / 1024,
        },
        "usd_measured": dict(usd),
        "usd_measured_total": sum(usd.values()),
        "wall_s": sum(r.wall_s for r in step.requests),
        "scaled": {
            "units": scale_units,
            "api_requests": requests_scaled,
            "rru": bill.rru * factor,
            "wru": bill.wru * factor,
            "index_wru": bill.index_wru * factor,
            "lambda_gb_seconds": billed_ms * factor / 1000 * LAMBDA_MEMORY_MB / 1024,
            "usd": scaled,
            "usd_total": sum(scaled.values()),
        },
    }


@dataclass(frozen=True)
class Plan:
    customers: int = CUSTOMERS
    seed: int = SEED
    dropout: tuple[float, float] = DROPOUT
    compare: bool = True  # also import the other way (each file concluded on its own), on fresh tables


def _flow(
    session: Any,
    flow: str,
    records: Mapping[str, Sequence[Any]],
    plan: Plan,
    prices: Mapping[str, Any],
    at: Any,
    recorder: CallRecorder,
    cpu: AwsCpu,
) -> dict[str, Any]:
    """One way of importing the history (FLOWS) on fresh tables: its steps' figures, totals and checks."""
    from emma_local.imports import BATCH_RECORDS, CONCLUDE_BATCH

    w = World(session, recorder, cpu, at)
    started = time.perf_counter()
    steps = run_flow(w, flow, records, plan.seed)
    import_s = time.perf_counter() - started
    check = w.check()
    other = Counter[str]()
    for s in steps:
        other.update(s.bill().other_aws)
    if any(k.startswith("events:") for k in other):
        raise RuntimeError(f"a backfill published to EventBridge: {dict(other)}")
    touched = {s.file: s.profiles for s in steps if s.phase == "store"}
    stores = {"customers": SCALE_CUSTOMERS, "orders": SCALE_ORDERS}
    figures = {
        s.name: step_figures(
            s,
            prices,
            # a conclusion pass per profile it concluded (all its job's: the test checks)
            stores[s.file] if s.phase == "store" else round(SCALE_CUSTOMERS * s.units / plan.customers),
            BATCH_RECORDS if s.phase == "store" else CONCLUDE_BATCH,
        )
        for s in steps
    }
    total_usd = Counter[str]()
    for f in figures.values():
        total_usd.update(f["scaled"]["usd"])
    records_n = sum(len(r) for r in records.values())
    passes = [f for f in figures.values() if f["phase"] != "store"]
    return {
        "flow": flow,
        "steps": figures,
        "profiles": {
            **{k: len(v) for k, v in touched.items()},
            "both": len(set().union(*touched.values())),
        },
        "eventbridge_calls": sum(s.bill().other_aws.get("events:PutEvents", 0) for s in steps),
        "other_aws_requests": dict(other),
        "cold_start_requests": dict(w.cold_start),
        "check": check,
        "stored": w.meter.stored(),
        "scaled": {
            "customers": SCALE_CUSTOMERS,
            "orders": SCALE_ORDERS,
            "usd_by_service": dict(total_usd),
            "usd_total": sum(total_usd.values()),
            "usd_by_step": {k: f["scaled"]["usd_total"] for k, f in figures.items()},
            "usd_conclusions": sum(f["scaled"]["usd_total"] for f in passes),
            "api_requests": sum(f["scaled"]["api_requests"] for f in figures.values()),
            "wru": sum(f["scaled"]["wru"] for f in figures.values()),
            "index_wru": sum(f["scaled"]["index_wru"] for f in figures.values()),
            "rru": sum(f["scaled"]["rru"] for f in figures.values()),
            "lambda_gb_seconds": sum(f["scaled"]["lambda_gb_seconds"] for f in figures.values()),
        },
        "in_process": {
            "note": "in-process moto (mock_aws), one process, not the local stack (emma dev) and not AWS",
            "import_s": import_s,
            "records": records_n,
            "records_per_s": records_n / import_s if import_s else 0.0,
            "store_records_per_s": _per(records_n, sum(f["wall_s"] for f in figures.values() if f["phase"] == "store")),
            "conclusions_per_s": _per(sum(f["units"] for f in passes), sum(f["wall_s"] for f in passes)),
        },
    }


def _run(session: Any, plan: Plan, prices: Mapping[str, Any]) -> dict[str, Any]:
    from emma_local.lab.shop_history import END, generate

    started = time.perf_counter()
    people, orders = generate(plan.customers, plan.seed, dropout=plan.dropout)
    # numbered as the file's lines (the runner resumes after the last stored line); the generator numbers orders
    # only when it writes them
    orders = [o.model_copy(update={"line": n + 2}) for n, o in enumerate(orders)]
    generated_s = time.perf_counter() - started
    records = {"customers": people, "orders": orders}
    at = END + timedelta(hours=1)  # the import runs an hour after the export
    recorder, cpu = CallRecorder(), AwsCpu()
    recorder.install()
    cpu.install()  # inside the recorder's wrap: its bookkeeping is subtracted too
    try:
        together = _flow(session, TOGETHER, records, plan, prices, at, recorder, cpu)
        separately = _flow(session, SEPARATELY, records, plan, prices, at, recorder, cpu) if plan.compare else None
    finally:
        cpu.uninstall()
        recorder.uninstall()
    result: dict[str, Any] = {
        "shop": SHOP,
        "plan": {**plan.__dict__, "dropout": list(plan.dropout)},
        "history": {
            "customers": len(people),
            "orders": len(orders),
            "orders_per_customer": len(orders) / len(people),
            "customers_with_consent": sum(1 for p in people if p.consents),
            "guest_orders": sum(1 for o in orders if o.customer_id is None),
            "cancelled": sum(1 for o in orders if o.cancelled_at),
            "refunded": sum(1 for o in orders if o.refunded),
            "with_coupon": sum(1 for o in orders if o.discount_codes),
            "line_items_per_order": statistics.mean(len(o.items) for o in orders),
            "generator": f"emma_local.lab.shop_history.generate(dropout={plan.dropout})",
            "format": FORMAT,
            "imported_at": at.isoformat(),
        },
        **together,
        "assumptions": {
            "lambda_memory_mb": LAMBDA_MEMORY_MB,
            "lambda_cpu_share": lambda_cpu_share(LAMBDA_MEMORY_MB),
            "lambda_timeout_s": LAMBDA_TIMEOUT_S,
            "aws_call_latency_ms": AWS_CALL_MS,
            "cpu": "own CPU = process CPU time of the request minus the CPU time inside botocore calls (the emulator "
            "and botocore's (de)serialisation, not counted); one core of this machine taken as one Lambda vCPU; "
            "other work on the machine at the same time inflates it",
            "index_writes": "activity index (GSI, keys only): 1 write when an entry appears or goes, 2 when its key "
            "moves, 1 WRU per started KB, not doubled in transactions",
            "scaling": f"linear: the customers file per customer ({SCALE_CUSTOMERS:,}), the orders file per order "
            f"({SCALE_ORDERS:,}), each conclusion pass per profile concluded; API requests at full batches",
        },
        "prices_as_of": prices["as_of"],
        "git_commit": _commit(),
        "method": "emma_local.imports.Importer sending to emma.wiring.imports.build_importer's worker on in-process "
        "moto (mock_aws); every call recorded at botocore, units from item sizes (bench/capacity.py rules) against a "
        "shadow checked with a scan",
    }
    result["in_process"]["generate_s"] = generated_s
    if separately is not None:
        result[SEPARATELY] = separately
        usd, before = together["scaled"]["usd_total"], separately["scaled"]["usd_total"]
        result["comparison"] = {
            "usd_together": usd,
            "usd_separately": before,
            "usd_saved": before - usd,
            "share_saved": (before - usd) / before if before else 0.0,
            "conclusions_together": together["scaled"]["usd_conclusions"],
            "conclusions_separately": separately["scaled"]["usd_conclusions"],
            "wru_saved": separately["scaled"]["wru"]
            + separately["scaled"]["index_wru"]
            - together["scaled"]["wru"]
            - together["scaled"]["index_wru"],
            "rru_saved": separately["scaled"]["rru"] - together["scaled"]["rru"],
        }
    return result


def _git(*args: str) -> str:
    import subprocess

    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout
    except OSError:
        return ""


def _commit() -> str | None:
    return _git("rev-parse", "--short", "HEAD").strip() or None


def _changed_code() -> list[str]:
    """Files of the measured code (the Lambda layer, the local package) that differ from the commit."""
    return sorted(line[3:] for line in _git("status", "--porcelain", "--", "layers", "local").splitlines() if line)


def _env() -> dict[str, str]:
    from emma.resources import CATALOG_TABLE, DEFINITIONS_ENV, EVENT_BUS, PROFILES_TABLE, SCHEDULE_TABLE

    return {
        PROFILES_TABLE.env_var: PROFILES_TABLE.name,
        CATALOG_TABLE.env_var: CATALOG_TABLE.name,
        SCHEDULE_TABLE.env_var: SCHEDULE_TABLE.name,
        EVENT_BUS.env_var: EVENT_BUS.name,
        DEFINITIONS_ENV: str(ROOT),
        # the shop directory is read once (the cold start, not measured in the steps); in AWS every warm
        # environment re-reads it every 300 s: a few Secrets Manager calls per import, left out
        "EMMA_SHOP_CACHE_SECONDS": "86400",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }


def on_moto(session: Any, env: Mapping[str, str], run: Any) -> dict[str, Any]:
    """``run(session)`` with ``env`` set: on ``session`` if given (a test's), else on in-process moto with test
    credentials and nothing of a real account's configuration in the environment."""
    import boto3
    from moto import mock_aws

    if session is not None:
        with _Environ(env):
            return dict(run(session))
    fake = {"AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    with _Environ(fake | dict(env), drop=("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN")), mock_aws():
        return dict(run(boto3.Session(region_name=REGION)))


class _Environ:
    def __init__(self, values: Mapping[str, str], drop: tuple[str, ...] = ()) -> None:
        self.values, self.drop = values, drop

    def __enter__(self) -> None:
        self.saved = dict(os.environ)
        for name in self.drop:
            os.environ.pop(name, None)
        os.environ.update(self.values)

    def __exit__(self, *exc: object) -> None:
        os.environ.clear()
        os.environ.update(self.saved)


def measure(
    prices: Mapping[str, Any] | None = None, plan: Plan = Plan(), session: Any = None, patch_moto: bool = True
) -> dict[str, Any]:
    """The import of ``plan.customers`` customers and their orders against in-process moto. ``session``: a boto3
    session already inside ``mock_aws`` (a unit test's); without one, this starts its own with fake credentials.
    ``patch_moto``: apply emma_local.moto_fixes (key-level transaction rollback: moto otherwise copies the whole
    table on every transaction)."""

    changed = _changed_code()  # before the code under measurement is imported (a unit test may have done so)
    prices = prices or json.loads(PRICES.read_text())
    if patch_moto:
        from emma_local import moto_fixes

        moto_fixes.install()
    started = time.perf_counter()
    result = on_moto(session, _env(), lambda s: _run(s, plan, prices))
    result["run_s"] = time.perf_counter() - started
    result["uncommitted_code"] = changed
    return result


# ---- report ------------------------------------------------------------------------------------------


def _table(rows: list[list[str]], header: list[str], indent: str = "    ") -> list[str]:
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    return [
        indent
        + "  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(row, widths, strict=True)))
        for row in (header, *rows)
    ]


def _usd(x: float) -> str:
    return f"${x:,.2f}" if x >= 0.995 else f"${x:.3f}" if x >= 0.001 else f"${x:.5f}"


def _items(per: Mapping[str, float], top: int = 6) -> str:
    shown = [f"{k} {v:.2f}" for k, v in list(per.items())[:top] if v >= 0.005]
    return ", ".join(shown) or "-"


def _step_rows(steps: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for name, f in steps.items():
        p = f["per_unit"]
        rows.append(
            [
                name,
                f"{f['units']:,} {f['unit']}s",
                f"{f['api_requests']:,}",
                f"{p['aws_calls']:.2f}",
                f"{p['rru']:.2f}",
                f"{p['wru']:.2f}",
                f"{p['index_wru']:.2f}",
                f"{p['billed_ms']:.1f}",
                f"{f['scaled']['api_requests']:,}",
                _usd(f["scaled"]["usd_total"]),
            ]
        )
    return rows


HEADER = [
    "step",
    "measured",
    "API req",
    "calls/unit",
    "RRU/unit",
    "WRU/unit",
    "GSI WRU",
    "Lambda ms",
    "req@100k",
    "USD",
]


def _check_text(c: Mapping[str, int]) -> str:
    bad = {k: v for k, v in c.items() if k != "items" and v}
    return f"every item and size agree ({c['items']:,} items)" if not bad else f"DISAGREE: {bad}"


def report(r: dict[str, Any]) -> str:
    h, s = r["history"], r["scaled"]
    out = [
        "\n14. Imports: what importing a shop's history costs in AWS, per 100,000 customers"
        "\n  (emma import customers --conclude-later, then emma import orders: each file stored in batches of 250,"
        " then both files' profiles concluded once,\n  in batches of 100: conclude, then rescore with the prior"
        " refitted; the CLI's runner sending to build_importer's worker on in-process moto,\n  units by the rules"
        f" of section 3, Lambda at {r['assumptions']['lambda_memory_mb']} MB with"
        f" {r['assumptions']['aws_call_latency_ms']:g} ms per AWS call, list prices)",
        f"  history: {h['customers']:,} customers ({h['customers_with_consent']:,} with email consent), {h['orders']:,}"
        f" orders ({h['orders_per_customer']:.2f} a customer, {h['line_items_per_order']:.2f} items each;"
        f" {h['guest_orders']:,} guest, {h['cancelled']} cancelled, {h['refunded']} refunded, {h['with_coupon']}"
        f" with a coupon); {r['profiles']['both']:,} profiles concluded; scaled to {s['customers']:,} customers and"
        f" {s['orders']:,} orders",
    ]
    out += _table(_step_rows(r["steps"]), HEADER)
    by = s["usd_by_service"]
    out.append(
        f"  per {s['customers']:,} customers: {_usd(s['usd_total'])} (DynamoDB writes {_usd(by['dynamodb_writes'])},"
        f" reads {_usd(by['dynamodb_reads'])}, Lambda duration {_usd(by['lambda_duration'])}, Lambda requests"
        f" {_usd(by['lambda_requests'])}, API Gateway {_usd(by['api_gateway'])}; EventBridge $0: "
        f"{r['eventbridge_calls']} calls); {s['wru']:,.0f} WRU + {s['index_wru']:,.0f} index WRU, {s['rru']:,.0f} RRU,"
        f" {s['api_requests']:,} API requests, {s['lambda_gb_seconds']:,.0f} GB-s"
    )
    sep, cmp = r.get(SEPARATELY), r.get("comparison")
    if sep and cmp:
        parts = ", ".join(f"{k} {_usd(f['scaled']['usd_total'])}" for k, f in sep["steps"].items())
        stopped = [k for k, f in sep["steps"].items() if f["stopped_after_refit"]]
        out.append(
            f"  each file concluded on its own (without --conclude-later: four passes): {_usd(cmp['usd_separately'])}"
            f" ({parts}{'; ' + ', '.join(stopped) + ': one request, the prior unchanged' if stopped else ''});"
            f" together saves {_usd(cmp['usd_saved'])} ({cmp['share_saved']:.0%}): conclusions"
            f" {_usd(cmp['conclusions_together'])} instead of {_usd(cmp['conclusions_separately'])},"
            f" {cmp['wru_saved']:,.0f} WRU and {cmp['rru_saved']:,.0f} RRU fewer"
        )
    for name, f in r["steps"].items():
        if f["stopped_after_refit"]:
            out.append(f"    ({name}: the refitted prior was the same, the pass ended after its first request)")
        if f["phase"] == "store":
            events = f["per_unit"]["events_logged"]
            out.append(
                f"  {name}: {f['accepted_events'] / f['units']:.2f} events stored per {f['unit']}, each with its"
                f" idempotency record; {sum(events.values()):.2f} of them logged ({_items(events)});"
                f" {f['transactions']:,} commits for {f['units']:,} {f['unit']}s; {f['erased']} customers left out"
                " as erased"
            )
    out.append("  WRU by item, per unit (items deleted among the writes):")
    for name, f in r["steps"].items():
        deleted = f["per_unit"]["items_deleted"]
        gone = f" (deleted: {_items(deleted)})" if deleted else ""
        out.append(f"    {name:<19} {_items(f['per_unit']['wru_by_item'])}{gone}")
    out.append("  RRU by item read, per unit (a key without an item costs 1 all the same):")
    for name, f in r["steps"].items():
        out.append(f"    {name:<19} {_items(f['per_unit']['rru_by_item'])}")
    worst = max(r["steps"].values(), key=lambda f: f["lambda"]["billed_ms_per_request_max"])
    out.append(
        f"  Lambda: longest request {worst['lambda']['billed_ms_per_request_max']:,} ms billed ({worst['name']},"
        f" {worst['lambda']['aws_calls_per_request_max']} AWS calls) of the function's"
        f" {r['assumptions']['lambda_timeout_s']} s timeout (own CPU time of this machine: inflated while other work"
        " runs on it)"
    )
    stored = ", ".join(f"{k} {v['items']:,} ({v['mean_bytes']:.0f} B)" for k, v in list(r["stored"].items())[:6])
    out.append(f"  stored after the import: {stored}")
    ip = r["in_process"]
    out.append(
        f"  in-process moto (not emma dev, not AWS): {ip['records']:,} records imported in {ip['import_s']:.0f} s,"
        f" {ip['records_per_s']:,.0f} records/s overall (store {ip['store_records_per_s']:,.0f} records/s,"
        f" conclusions {ip['conclusions_per_s']:,.0f} profiles/s); run {r.get('run_s', 0):.0f} s"
        + (" with the comparison" if sep else "")
    )
    changed = r.get("uncommitted_code") or []
    out.append(
        f"  measured on commit {r.get('git_commit')}"
        + (f" with uncommitted changes to {', '.join(changed)}" if changed else "")
        + f"; prices {r['prices_as_of']}"
    )
    out.append(
        f"  shadow vs tables: {_check_text(r['check'])}"
        + (f"; each on its own: {_check_text(sep['check'])}" if sep else "")
    )
    return "\n".join(out)


def findings(r: dict[str, Any]) -> list[str]:
    s, steps = r["scaled"], r["steps"]
    by = s["usd_by_service"]
    found = [
        f"imports: {s['customers']:,} customers with {s['orders']:,} orders cost {_usd(s['usd_total'])} to import"
        f" (customers --conclude-later, then orders), {(by['dynamodb_writes']) / s['usd_total']:.0%} of it DynamoDB"
        f" writes ({s['wru'] + s['index_wru']:,.0f} WRU); Lambda {_usd(by['lambda_duration'] + by['lambda_requests'])},"
        f" API Gateway {_usd(by['api_gateway'])}, EventBridge {r['eventbridge_calls']} calls.",
    ]
    cmp = r.get("comparison")
    if cmp:
        found.append(
            f"imports: concluding both files once saves {_usd(cmp['usd_saved'])} ({cmp['share_saved']:.0%}) against"
            f" concluding each file on its own ({_usd(cmp['usd_separately'])}): conclusions"
            f" {_usd(cmp['conclusions_together'])} instead of {_usd(cmp['conclusions_separately'])}."
        )
    store = steps["orders store"]["per_unit"]
    items = store["wru_by_item"]
    found.append(
        f"imports: an order costs {store['wru']:.1f} WRU to store: the profile {items.get('profile', 0):.1f}"
        f" ({r['stored'].get('profile', {}).get('mean_bytes', 0):,.0f} bytes on average, rewritten whole in each"
        f" commit, 2x in the transaction), idempotency records {items.get('idempotency record', 0):.1f}, event log"
        f" entries {items.get('event log entry', 0):.1f}; +{store['index_wru']:.1f} WRU on the activity index (GSI),"
        " which the other sections do not count."
    )
    suppression = sum(
        f["rru_by_item"].get("erasure suppression", 0) * f["scaled"]["units"] / f["units"]
        for f in steps.values()
        if f["phase"] == "store"
    )
    if suppression:
        found.append(
            f"imports: leaving out customers erased in Emma costs {suppression:,.0f} RRU per {s['customers']:,}"
            f" customers (a suppression lookup per customer of each batch, the keys missing unless erased)."
        )
    rescore = steps.get("rescore")
    if rescore and not rescore["stopped_after_refit"]:
        found.append(
            f"imports: the rescore after the refit rewrites"
            f" {rescore['transactions'] / max(1, rescore['units']):.0%} of the derived states"
            f" ({_usd(rescore['scaled']['usd_total'])}): those whose predictions the refitted prior moved (by a"
            " thousandth or more); a conclusion that changes nothing writes nothing."
        )
    conclude = steps.get("conclude")
    counters, cells = "shop prediction counters", "shop prediction histogram cell"
    stats = sum(conclude["per_unit"]["wru_by_item"].get(k, 0) for k in (counters, cells)) if conclude else 0
    if conclude and stats:
        size = r["stored"].get(counters, {}).get("mean_bytes", 0)
        cell = r["stored"].get(cells, {}).get("mean_bytes", 0)
        found.append(
            f"imports: every conclusion of a customer with orders ADDs to the shop's prediction counters item"
            f" ({size:,.0f} bytes) and to the histogram cells it leaves and joins ({cell:,.0f} bytes on average):"
            f" {stats:.1f} of the {conclude['per_unit']['wru']:.1f} WRU a profile costs in the conclude pass."
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Imports: what importing a shop's history costs in AWS")
    parser.add_argument("--customers", type=int, default=CUSTOMERS, help="customers in the generated history")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--no-compare", action="store_true", help="only the recommended flow (half the time)")
    parser.add_argument("--output", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    result = measure(plan=Plan(customers=args.customers, seed=args.seed, compare=not args.no_compare))
    print(report(result))
    print("\nFindings")
    print("\n".join(f"  - {f}" for f in findings(result)))
    print(f"\nTook {result['run_s']:.0f} s.")
    if args.output:
        args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
