"""AWS requests per ingest request, counted in botocore against the local emulator.

The local runtime (moto server + the real ingest handler behind an HTTP server) is started, its
queue pumps are stopped (they poll SQS all the time), its stream reader is driven by hand after each
request (so the publisher function's calls for that request's outbox count with it), and
BaseClient._make_api_call is wrapped at
class level: the handler builds its own boto3 session and clients on its first request, so only a
class-level hook sees them. Each call is recorded with its service, operation, parameters and
response (or error); DynamoDB calls are turned into request units by bench.capacity.CapacityMeter,
PutEvents entries into billed EventBridge events.

One call of _make_api_call is one API request as the code sees it; botocore's own retries (none
happen against the emulator) would be further billed requests that this count does not show.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.capacity import (
    CapacityMeter,
    Units,
    eventbridge_billed_events,
    eventbridge_entry_size,
    item_size,
    write_units,
)
from bench.payloads import Request


@dataclass
class Call:
    service: str
    operation: str
    params: dict[str, Any]
    response: dict[str, Any] | None
    error: str | None
    thread: str
    origin: str = "request"  # "publisher": made by the publisher function for this request's outbox
    started: float = 0.0  # time.perf_counter() when it was sent and when its answer was back
    ended: float = 0.0


class CallRecorder:
    """Class-level wrap of botocore's BaseClient._make_api_call; records calls while ``recording``."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._active = False
        self._lock = threading.Lock()
        self._original: Any = None

    def install(self) -> None:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        recorder = self

        def _make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            if not recorder._active or service == "dynamodbstreams":
                # Lambda's own stream poller reads the stream in AWS, at no charge (emma_local.pump.StreamPump here)
                return original(client, operation_name, api_params)
            started = time.perf_counter()
            try:
                response = original(client, operation_name, api_params)
            except Exception as exc:
                error = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
                recorder._add(
                    Call(
                        service,
                        operation_name,
                        api_params,
                        getattr(exc, "response", None),
                        error,
                        threading.current_thread().name,
                        started=started,
                        ended=time.perf_counter(),
                    )
                )
                raise
            ended, thread = time.perf_counter(), threading.current_thread().name
            call = Call(service, operation_name, api_params, response, None, thread)
            call.started, call.ended = started, ended
            recorder._add(call)
            return response

        self._original = original
        BaseClient._make_api_call = _make_api_call  # type: ignore[method-assign]

    def uninstall(self) -> None:
        from botocore.client import BaseClient

        if self._original is not None:
            BaseClient._make_api_call = self._original  # type: ignore[method-assign]
            self._original = None

    def _add(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[Call]]:
        with self._lock:
            start = len(self.calls)
        self._active = True
        window: list[Call] = []
        try:
            yield window
        finally:
            self._active = False
            with self._lock:
                window.extend(self.calls[start:])


def item_kind(key: Mapping[str, Any]) -> str:
    """What a profiles/catalog table item is, from its sort key (see emma/adapters/dynamodb.py)."""
    sk = (key.get("sk") or {}).get("S", "")
    if sk.startswith("LOG#"):
        return "event log entry"
    if sk.startswith("SEEN#"):
        return "event id archive"
    return {"PROFILE": "profile", "ALIAS": "alias", "EVENT": "idempotency record", "PRODUCT": "product"}.get(
        sk, sk or "?"
    )


@dataclass
class CaseCalls:
    """The AWS calls one HTTP request caused, and what they consume."""

    name: str
    status: int
    response: dict[str, Any]
    calls: list[Call]
    request_bytes: int = 0
    units: Units = field(default_factory=Units)
    units_by_operation: dict[str, Units] = field(default_factory=dict)
    units_by_item: dict[str, Units] = field(default_factory=dict)  # "<operation> <item kind>"
    unchanged_alias_puts: int = 0  # alias items re-written with the profile id they already had
    unchanged_alias_wru: float = 0.0
    eventbridge_entries: int = 0
    eventbridge_billed: int = 0
    eventbridge_bytes: list[int] = field(default_factory=list)

    @property
    def events(self) -> int:
        return int(self.response.get("accepted", 0))

    def by_operation(self) -> Counter[str]:
        return Counter(f"{c.service}:{c.operation}" for c in self.calls)

    def by_service(self) -> Counter[str]:
        return Counter(c.service for c in self.calls)

    def count(self, service: str) -> int:
        return self.by_service().get(service, 0)

    @property
    def request_calls(self) -> list[Call]:
        """The calls the ingest function made (the rest: the publisher function, for this request's outbox)."""
        return [c for c in self.calls if c.origin == "request"]

    @property
    def request_waits(self) -> int:
        """How many calls the ingest function waited for one after the other: calls in flight at the same time (a
        new customer's aliases claimed at once) are one wait."""
        return sequential_waits(self.request_calls)

    @property
    def publisher_calls(self) -> list[Call]:
        return [c for c in self.calls if c.origin == "publisher"]

    def summary(self) -> dict[str, Any]:
        events = self.events

        def per_event(n: float) -> float | None:
            return n / events if events else None

        return {
            "http_status": self.status,
            "response": self.response,
            "canonical_events": events,
            "request_bytes": self.request_bytes,
            "calls": len(self.calls),
            "calls_per_event": per_event(len(self.calls)),
            "request_calls": len(self.request_calls),
            "request_sequential_waits": self.request_waits,
            "publisher_calls": len(self.publisher_calls),
            "publisher_calls_by_operation": dict(
                sorted(Counter(f"{c.service}:{c.operation}" for c in self.publisher_calls).items())
            ),
            "calls_by_service": dict(sorted(self.by_service().items())),
            "calls_by_operation": dict(sorted(self.by_operation().items())),
            "calls_by_operation_per_event": {k: per_event(v) for k, v in sorted(self.by_operation().items())},
            "errors": [f"{c.service}:{c.operation}: {c.error}" for c in self.calls if c.error],
            "dynamodb": {
                **self.units.as_dict(),
                "wru_per_event": per_event(self.units.wru),
                "rru_per_event": per_event(self.units.rru),
                "by_operation": {k: u.as_dict() for k, u in sorted(self.units_by_operation.items())},
                "by_item": {k: u.as_dict() for k, u in sorted(self.units_by_item.items())},
                "unchanged_alias_puts": self.unchanged_alias_puts,
                "unchanged_alias_wru": self.unchanged_alias_wru,
            },
            "eventbridge": {
                "entries": self.eventbridge_entries,
                "billed_events": self.eventbridge_billed,
                "entry_bytes": self.eventbridge_bytes,
            },
        }


def sequential_waits(calls: list[Call]) -> int:
    """The number of waits in a row: calls whose time in flight overlaps are merged into one."""
    waits, end = 0, float("-inf")
    for call in sorted(calls, key=lambda c: c.started):
        if call.started >= end:
            waits += 1
            end = call.ended
        else:
            end = max(end, call.ended)
    return waits


class _Analysis:
    """Turns recorded calls into units, shared across cases: the meter and the alias map remember
    what earlier requests stored."""

    def __init__(self, meter: CapacityMeter) -> None:
        self.meter = meter
        self.aliases: dict[str, str] = {}  # alias pk -> profile id, as last read or written

    def add(self, case: CaseCalls) -> None:
        def on_item(operation: str, table: str, key: Mapping[str, Any], units: Units) -> None:
            label = f"{operation} {item_kind(key)}"
            case.units_by_item[label] = case.units_by_item.get(label, Units()) + units

        self.meter.on_item = on_item
        for call in case.calls:
            if call.service == "dynamodb":
                self._aliases(case, call)
                units = self.meter.units(call.operation, call.params, call.response, failed=call.error is not None)
                case.units += units
                case.units_by_operation[call.operation] = case.units_by_operation.get(call.operation, Units()) + units
            elif call.service == "events" and call.operation == "PutEvents":
                for entry in call.params.get("Entries", []):
                    size = eventbridge_entry_size(entry)
                    case.eventbridge_entries += 1
                    case.eventbridge_bytes.append(size)
                    case.eventbridge_billed += eventbridge_billed_events(size)
        self.meter.on_item = None

    def _aliases(self, case: CaseCalls, call: Call) -> None:
        if call.operation == "BatchGetItem" and call.response:
            for items in (call.response.get("Responses") or {}).values():
                for item in items:
                    if item_kind(item) == "alias":
                        self.aliases[item["pk"]["S"]] = item["profile_id"]["S"]
            return
        if call.error is not None:
            return
        puts: list[tuple[dict[str, Any], bool]] = []
        if call.operation == "TransactWriteItems":
            puts = [(e["Put"]["Item"], True) for e in call.params["TransactItems"] if "Put" in e]
        elif call.operation == "BatchWriteItem":
            puts = [
                (r["PutRequest"]["Item"], False)
                for requests in call.params["RequestItems"].values()
                for r in requests
                if "PutRequest" in r
            ]
        for item, transactional in puts:
            if item_kind(item) != "alias":
                continue
            pk, pid = item["pk"]["S"], item["profile_id"]["S"]
            if self.aliases.get(pk) == pid:
                case.unchanged_alias_puts += 1
                case.unchanged_alias_wru += write_units(item_size(item), transactional=transactional)
            self.aliases[pk] = pid


def _send(recorder: CallRecorder, http: Any, api_url: str, name: str, request: Request, relay: Any = None) -> CaseCalls:
    """The request's calls, then (``relay``: the runtime's stream readers, drained) the publisher function's calls
    for what the request stored: in AWS the table's stream hands each profile write's outbox to it."""
    with recorder.recording() as calls:
        resp = http.request(
            request.method, api_url + request.path, data=request.body, headers=request.headers, timeout=30
        )
    published: list[Call] = []
    if relay is not None:
        with recorder.recording() as published:
            relay()
        for call in published:
            call.origin = "publisher"
    body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
    return CaseCalls(name, resp.status_code, body, [*calls, *published], request_bytes=len(request.body))


@dataclass
class AwsRun:
    cases: dict[str, CaseCalls]
    startup_s: float


def run(requests: dict[str, Request]) -> AwsRun:
    """Start the local runtime, then send ``requests`` (in order) and record each one's AWS calls.

    The first request finds the handler cold: its components (boto3 clients, shop secrets) are reset
    just before, so it pays what a new Lambda execution environment pays on its first request.
    """
    import requests as http_client

    from emma.resources import TABLES
    from emma_local.config import load_config
    from emma_local.runtime import LocalRuntime

    started = time.perf_counter()
    rt = LocalRuntime(load_config(), port=0, log_level="ERROR").start()
    startup = time.perf_counter() - started
    recorder = CallRecorder()
    try:
        for pump in rt.pumps.values():
            pump.stop()
        for reader in rt.streams.values():  # read by hand after each request (_send), so its calls count there
            reader.stop()

        def relay() -> None:
            for reader in rt.streams.values():
                reader.drain(timeout=10)

        relay()  # whatever the start-up stored
        assert rt.resources is not None
        schema = {
            rt.resources.tables[t.logical_id]: tuple(k for k in (t.partition_key, t.sort_key) if k) for t in TABLES
        }
        analysis = _Analysis(CapacityMeter(schema))
        from ingest import deps

        deps.reset()  # cold: the next request builds its clients and loads the shop secrets
        recorder.install()
        http = http_client.Session()
        cases: dict[str, CaseCalls] = {}
        for name, request in requests.items():
            case = _send(recorder, http, rt.api_url, name, request, relay)
            analysis.add(case)
            cases[name] = case
        return AwsRun(cases, startup)
    finally:
        recorder.uninstall()
        rt.stop()
