"""Own CPU time per request and per canonical event: the real ingest handler (Powertools resolver,
routes, mapping, domain) with the in-memory ports, in this process, no AWS, no network.

The handler is driven with API Gateway HTTP API events (emma_local.lambdas.api_event) exactly as
the handler unit tests do it: ``ingest.deps.intake`` is replaced by in-memory parts.
CPU time is ``time.process_time()`` around the loop; payloads and events are built before it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.payloads import ROOT, Request

HANDLER_ENV = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_NAMESPACE": "Emma",
    "POWERTOOLS_SERVICE_NAME": "emma-bench",
}


class _CountingSink(io.TextIOBase):
    """stdout while measuring: counts what the handler prints (EMF metric lines), keeps nothing."""

    def __init__(self) -> None:
        self.chars = 0
        self.lines = 0

    def write(self, s: str) -> int:
        self.chars += len(s)
        self.lines += s.count("\n")
        return len(s)

    def writable(self) -> bool:
        return True


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class CaseResult:
    name: str
    requests_per_rep: int
    reps: int
    cpu_s: list[float] = field(default_factory=list)  # one per repetition
    events_per_request: float = 0.0
    duplicates: int = 0
    stdout_bytes_per_request: float = 0.0

    def us_per_request(self) -> list[float]:
        return [t / self.requests_per_rep * 1e6 for t in self.cpu_s]

    def summary(self) -> dict[str, Any]:
        per_req = self.us_per_request()
        per_event = [v / self.events_per_request for v in per_req]
        return {
            "requests_per_repetition": self.requests_per_rep,
            "repetitions": self.reps,
            "canonical_events_per_request": self.events_per_request,
            "duplicates_seen": self.duplicates,
            "cpu_us_per_request": {"min": min(per_req), "median": statistics.median(per_req), "all": per_req},
            "cpu_us_per_event": {"min": min(per_event), "median": statistics.median(per_event)},
            "stdout_bytes_per_request": self.stdout_bytes_per_request,
        }


class InProcessIngest:
    """The real handler with in-memory components; fresh components for each repetition."""

    def __init__(self) -> None:
        os.environ.update(HANDLER_ENV)
        warnings.filterwarnings("ignore", message="Dimension .* has already been added")
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        functions = str(ROOT / "functions")
        if functions not in sys.path:
            sys.path.insert(0, functions)
        from emma_local.config import load_config
        from emma_local.lambdas import LambdaContext, api_event, response_body
        from ingest import deps
        from ingest.handler import lambda_handler

        self._deps = deps
        self._original_intake = deps.intake
        self._shops = load_config().shops
        self._api_event = api_event
        self._response_body = response_body
        self.handler = lambda_handler
        self.context = LambdaContext("ingest")
        self.fresh()

    def fresh(self) -> None:
        from emma.ingest.service import IngestService
        from emma.wiring.ingest import Intake
        from emma_local.fakes import (
            FixedClock,
            InMemoryCatalog,
            InMemoryProfileRepository,
            InMemoryPublisher,
            StaticShopDirectory,
        )

        profiles = InMemoryProfileRepository(check_limits=False)  # the twin's size checks are not production CPU
        service = IngestService(
            profiles,
            InMemoryCatalog(profiles),
            InMemoryPublisher(),
            FixedClock(),
            sleep=lambda s: None,
        )
        intake = Intake(service, StaticShopDirectory(self._shops))
        self._deps.intake = lambda: intake

    def restore(self) -> None:
        self._deps.intake = self._original_intake

    def event(self, request: Request) -> dict[str, Any]:
        return self._api_event(request.method, request.path, "", request.headers, request.body)

    def body(self, result: dict[str, Any]) -> dict[str, Any]:
        return json.loads(self._response_body(result))


def measure(
    ingest: InProcessIngest,
    name: str,
    make: Callable[[str, int], Request],
    *,
    requests: int,
    reps: int,
    warmup: int,
    metrics: bool = False,
) -> CaseResult:
    """``reps`` timed loops of ``requests`` distinct requests each, after ``warmup`` untimed ones."""
    result = CaseResult(name, requests, reps)
    handler, context = ingest.handler, ingest.context
    accepted: list[int] = []
    with _env(POWERTOOLS_METRICS_DISABLED="false" if metrics else "true"):
        ingest.fresh()
        sink = _CountingSink()
        with contextlib.redirect_stdout(sink):
            for n in range(warmup):
                handler(ingest.event(make(f"{name}-w", n)), context)
        for rep in range(reps):
            ingest.fresh()
            events = [ingest.event(make(f"{name}-r{rep}", n)) for n in range(requests)]
            outputs: list[dict[str, Any]] = []
            sink = _CountingSink()
            with contextlib.redirect_stdout(sink):
                start = time.process_time()
                for event in events:
                    outputs.append(handler(event, context))
                result.cpu_s.append(time.process_time() - start)
            bodies = [ingest.body(o) for o in outputs]
            bad = [o["statusCode"] for o in outputs if o["statusCode"] != 200]
            if bad:
                raise RuntimeError(f"{name}: {len(bad)} requests failed, e.g. {bad[0]}: {bodies[0]}")
            accepted += [b["accepted"] for b in bodies]
            result.duplicates += sum(b["duplicates"] for b in bodies)
            result.stdout_bytes_per_request = sink.chars / requests
    if len(set(accepted)) != 1:
        raise RuntimeError(f"{name}: canonical events per request varied: {sorted(set(accepted))}")
    result.events_per_request = float(accepted[0])
    if result.duplicates:
        raise RuntimeError(f"{name}: {result.duplicates} duplicates where every event should be new")
    return result


def measure_publisher(
    ingest: InProcessIngest, name: str, make: Callable[[str, int], Request], *, requests: int, reps: int
) -> CaseResult:
    """The publisher function's own CPU per invocation that carries one stream record (the cost model charges one
    invocation per request, the worst case): the outboxes of ``requests`` distinct requests, stored by the real
    ingest handler on an in-memory store that keeps outboxes, each handed to the real publisher handler
    (functions/publisher) as a DynamoDB stream record (the profile item's new image, binary attributes in base64,
    as Lambda delivers them), relayed to the in-memory event log and bus."""
    import base64

    from publisher import handler as publisher

    from emma.adapters.dynamodb import DynamoProfileRepository
    from emma.ingest.outbox import OutboxRelay
    from emma.ingest.service import IngestService
    from emma.wiring.ingest import Intake
    from emma.wiring.publisher import Publisher
    from emma_local.fakes import (
        FixedClock,
        InMemoryCatalog,
        InMemoryProfileRepository,
        InMemoryPublisher,
        StaticShopDirectory,
    )
    from emma_local.lambdas import LambdaContext

    images = DynamoProfileRepository(None, "profiles")  # builds items only (no client)
    result = CaseResult(name, requests, reps)
    original = publisher.components
    try:
        for rep in range(reps + 1):  # the first, untimed: the handler's and the relay's first use
            store = InMemoryProfileRepository(outbox=True, check_limits=False)
            commits: list[Any] = []
            commit = store.commit
            store.commit = lambda c, commit=commit, commits=commits: (commit(c), commits.append(c))[0]  # type: ignore[method-assign]
            service = IngestService(
                store, InMemoryCatalog(store), InMemoryPublisher(), FixedClock(), sleep=lambda s: None
            )
            intake = Intake(service, StaticShopDirectory(ingest._shops))
            ingest._deps.intake = lambda intake=intake: intake
            with contextlib.redirect_stdout(_CountingSink()):
                for n in range(requests):
                    ingest.handler(ingest.event(make(f"{name}-p{rep}", n)), ingest.context)
            records = []
            for seq, c in enumerate(commits):
                item = images._profile_item(c.shop, c.profile, c)
                image = {k: ({"B": base64.b64encode(v["B"]).decode()} if "B" in v else v) for k, v in item.items()}
                keys = {"pk": item["pk"], "sk": item["sk"]}
                records.append(
                    {"eventName": "MODIFY", "dynamodb": {"Keys": keys, "NewImage": image, "SequenceNumber": str(seq)}}
                )
            bus = InMemoryPublisher()
            publisher.components = lambda bus=bus, store=store: Publisher(OutboxRelay(bus, store))
            context = LambdaContext("publisher")
            sink = _CountingSink()
            with contextlib.redirect_stdout(sink):
                start = time.process_time()
                for record in records:
                    publisher.lambda_handler({"Records": [record]}, context)
                spent = time.process_time() - start
            if len(bus.published) != sum(len(c.events) for c in commits) or len(records) != requests:
                raise RuntimeError(f"{name}: {len(bus.published)} events published from {len(records)} outboxes")
            if rep:
                result.cpu_s.append(spent)
                result.events_per_request = len(bus.published) / requests
                result.stdout_bytes_per_request = sink.chars / requests
    finally:
        publisher.components = original
        ingest.fresh()
    return result
