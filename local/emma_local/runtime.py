"""The local runtime: emulator + resources from emma.resources + real handlers + queue pumps + HTTP.

Everything a handler does goes over HTTP to the emulator through plain boto3 (AWS_ENDPOINT_URL),
so the code that runs here is the code that runs in Lambda.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from emma.clock import CLOCK_FILE_ENV, FileClock
from emma.journeys.loader import load_journeys
from emma.resources import (
    CAMPAIGN_SPREAD_ENV,
    CAMPAIGNS_FUNCTION,
    DEFINITIONS_ENV,
    EVENT_BUS,
    EVENT_SOURCE,
    IMPORTS_FUNCTION,
    JOURNEY_STEPS_FUNCTION,
    PUBLIC_API_URL_ENV,
    QUEUES,
    REQUEST_QUEUES,
    RULES_SOURCE,
    SCHEDULES,
    STREAM_CONSUMERS,
)
from emma.rules.loader import load_definitions
from emma.templates.loader import load_templates
from emma_local import stepfunctions
from emma_local.config import ROOT, LocalConfig
from emma_local.emulator import ACCOUNT_ID, REGION, Emulator, start_emulator
from emma_local.environments import DEFAULT_TIMEOUT_SECONDS, Environments
from emma_local.lambdas import LambdaContext, load_handler
from emma_local.outbox import Outbox
from emma_local.provision import Provisioned, provision, provision_campaigns, provision_imports, provision_journeys
from emma_local.pump import QueuePump, StreamPump
from emma_local.server import make_server, serve_in_thread
from emma_local.shop_apis.server import ShopApis

TAP_QUEUE = "emma-local-tap"  # local only: sees every canonical event published on the bus

HANDLER_ENV = {
    "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
    "POWERTOOLS_METRICS_NAMESPACE": "Emma",
    "POWERTOOLS_SERVICE_NAME": "emma-local",
    # A campaign's waves wait on the local clock; SQS delays would spread each wave over real seconds.
    CAMPAIGN_SPREAD_ENV: "false",
}


@dataclass
class LocalRuntime:
    config: LocalConfig
    port: int | None = None
    log_level: str = "INFO"
    environments: int = 0  # API execution environments (processes); 0: in-process, one request at a time
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS  # per API request in an environment (not in-process)
    speedup: float = 1.0  # local time runs this many times faster than real time (journeys, schedules)
    schedule: bool = True  # run the scheduled functions on the local clock
    outbox_dir: Path | None = None  # where sent messages are written (a temporary folder if None)
    outbox: Outbox | None = None
    # A queue that sees every canonical event published (``published()``), for the demo and tests.
    # Nothing drains it unless they do: `emma dev` runs without it, or it would grow without bound.
    tap: bool = True
    emulator: Emulator | None = None
    resources: Provisioned | None = None
    pumps: dict[str, QueuePump] = field(default_factory=dict)
    streams: dict[str, StreamPump] = field(default_factory=dict)  # StreamConsumerDef logical id -> its pump
    shop_apis: ShopApis | None = None  # the stand-ins of the shops' coupon APIs (emma_local.shop_apis)
    shops: list[Any] = field(default_factory=list)  # the shops as provisioned (coupon URLs of the stand-ins)
    _server: Any = None
    _api: Environments | None = None
    _tap_url: str | None = None
    _saved_env: dict[str, str] | None = None
    _clock_dir: Any = None
    _scheduler: Any = None
    _collector: Any = None
    clock_file: Path | None = None
    _last_runs: dict[str, Any] = field(default_factory=dict)  # schedule consumer -> local time of its last run

    def _invoke(self, *args: Any, **kwargs: Any) -> Any:
        assert self._api is not None
        return self._api.invoke(*args, **kwargs)

    @contextlib.contextmanager
    def api_environments(self, size: int) -> Iterator[None]:
        """Serve the API from ``size`` execution environments (processes) for a while, as Lambda scales out
        under concurrent requests (an import sending batches in parallel); then back to what it was."""
        assert self._api is not None
        before = self._api
        self._api = Environments("ingest", size, os.environ, timeout_seconds=self.timeout_seconds)
        try:
            yield
        finally:
            scaled, self._api = self._api, before
            scaled.shutdown()

    @property
    def api_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalRuntime:
        self._saved_env = dict(os.environ)
        self._clock_dir = tempfile.TemporaryDirectory(prefix="emma-clock-")
        self.clock_file = Path(self._clock_dir.name) / "clock.json"
        FileClock.write(self.clock_file, speedup=self.speedup)
        os.environ[CLOCK_FILE_ENV] = str(self.clock_file)
        self.definitions = load_definitions(ROOT)  # invalid triggers or segments stop here, with file:line
        self.templates = load_templates(ROOT)  # and invalid templates
        self.journeys = load_journeys(ROOT, self.definitions, self.templates)  # and invalid journeys
        self.emulator = start_emulator()
        stepfunctions.configure(self.emulator.endpoint)
        stepfunctions.install(FileClock(self.clock_file))
        # moto's interpreter logs every state error at ERROR, a wait's timeout that the journey catches
        # (its on_timeout branch) included; what matters reaches the journey state (failed) and the logs.
        logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").setLevel(logging.CRITICAL)
        os.environ.update(self.emulator.env())
        os.environ.update(HANDLER_ENV)
        os.environ["POWERTOOLS_LOG_LEVEL"] = self.log_level
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true" if self.log_level != "DEBUG" else "false"
        if self.log_level != "DEBUG":
            _mute_metrics(True)
        # With metrics disabled nothing flushes, so per-request dimensions pile up and warn.
        warnings.filterwarnings("ignore", message="Dimension .* has already been added")
        session = self.emulator.session()
        # the shops' coupon APIs: a platform entry without a URL of its own gets a local stand-in (shop_apis)
        self.shop_apis = ShopApis(FileClock(self.clock_file)).start()
        percents = {t.template: t.coupon.percent for t in self.templates.templates.values() if t.coupon}
        self.shops = [self.shop_apis.adopt(shop, percents) for shop in self.config.shops]
        self.resources = provision(session, self.shops)
        steps = f"emma-local-{JOURNEY_STEPS_FUNCTION.replace('_', '-')}"
        self.resources.state_machines = provision_journeys(session, self.journeys, steps)
        stepfunctions.register(steps, load_handler(JOURNEY_STEPS_FUNCTION))
        imports = f"emma-local-{IMPORTS_FUNCTION}"
        self.resources.import_machine = provision_imports(session, imports)
        stepfunctions.register(imports, load_handler(IMPORTS_FUNCTION))
        campaigns = f"emma-local-{CAMPAIGNS_FUNCTION}"
        self.resources.campaign_machine = provision_campaigns(session, campaigns)
        stepfunctions.register(campaigns, load_handler(CAMPAIGNS_FUNCTION))
        os.environ.update(self.resources.env())
        os.environ.setdefault(DEFINITIONS_ENV, str(ROOT))  # the YAML in triggers/ and segments/
        self._tap_url = self._tap(session) if self.tap else None
        sqs = session.client("sqs")
        for queue in (*QUEUES, *REQUEST_QUEUES):
            pump = QueuePump(
                sqs,
                self.resources.queue_urls[queue.logical_id],
                load_handler(queue.consumer),
                queue.consumer,
                queue.batch_size,
            )
            pump.start()
            self.pumps[queue.logical_id] = pump
        for stream in STREAM_CONSUMERS:  # the outbox: profile writes -> the publisher -> the bus
            reader = StreamPump(
                session.client("dynamodb"),
                session.client("dynamodbstreams"),
                self.resources.tables[stream.table.logical_id],
                load_handler(stream.consumer),
                stream.consumer,
                stream.filter_pattern,
                stream.batch_size,
            )
            reader.start()
            self.streams[stream.logical_id] = reader
        _reset_components()  # handlers cache their clients: a previous runtime's point at a dead emulator
        self._api = Environments("ingest", self.environments, os.environ, timeout_seconds=self.timeout_seconds)
        port = self.config.dev.port if self.port is None else self.port
        self._server = make_server(self._invoke, self.config.dev.host, port)
        os.environ[PUBLIC_API_URL_ENV] = self.api_url  # where unsubscribe and tracked links point
        serve_in_thread(self._server)
        if self.schedule:
            self._scheduler = _Ticker(self.run_schedule, self._schedule_interval)  # follows set_speedup
            self._scheduler.start()
        self.outbox = Outbox(
            self.outbox_dir or Path(self._clock_dir.name) / "outbox", session.client("events"), ACCOUNT_ID, REGION
        )
        self._collector = _Ticker(self.outbox.collect, 0.3, name="emma-outbox")
        self._collector.start()
        return self

    def _schedule_interval(self) -> float:
        if self.speedup <= 0:  # a stopped clock: whoever moves it runs the schedule (run_schedule)
            return 60.0
        return max(0.5, min(s.rate_minutes for s in SCHEDULES) * 60 / self.speedup)

    def run_schedule(self, *, force: bool = False, only: set[str] | None = None) -> dict[str, Any]:
        """One run of the scheduled functions, now (on the local clock). A function with a rate of an hour
        or more (the daily recommendations build) runs only when that much local time has passed since
        its last run, unless ``force``; ``only`` names the functions to consider (all by default)."""
        result: dict[str, Any] = {}
        now = self.now() if self.clock_file else None
        for schedule in SCHEDULES:
            if only is not None and schedule.consumer not in only:
                continue
            last = self._last_runs.get(schedule.consumer)
            due = not last or now is None or now - last >= timedelta(minutes=schedule.rate_minutes)
            if not force and schedule.rate_minutes >= 60 and not due:
                continue
            result[schedule.consumer] = load_handler(schedule.consumer)({}, LambdaContext(schedule.consumer))
            if now:
                self._last_runs[schedule.consumer] = now
        return result

    def now(self) -> datetime:
        """The local clock's time (what every handler reads)."""
        assert self.clock_file is not None, "the runtime is not started"
        return FileClock(self.clock_file).now()

    def advance(self, **delta: float) -> None:
        """Move the local clock forward (every process reads it): what a week of waiting is for the demo."""
        settings = json.loads(self.clock_file.read_text())
        settings["offset"] += timedelta(**delta).total_seconds()
        FileClock.write(self.clock_file, **settings)

    def drain(self) -> None:
        """Let every queue run dry (the rules function has seen everything published so far), and
        the outbox show every message sent (its SES delivery events handled too)."""
        for _ in range(20):  # until a round moves nothing (a consumer's work may feed another's)
            before = self._moved()
            for reader in self.streams.values():  # first: what was stored reaches the bus, then the queues
                reader.drain()
            for pump in self.pumps.values():
                pump.drain()
            collected = self.outbox.collect() if self.outbox is not None else 0
            if not collected and self._moved() == before:
                return

    def _moved(self) -> int:
        """Records the pumps and stream readers have handled or failed so far."""
        return sum(p.processed + p.failed for p in [*self.pumps.values(), *self.streams.values()])

    def settle(self, timeout: float = 120.0) -> bool:
        """Wait until nothing moves without the clock: every queue dry (``drain``) and every running
        journey execution parked on a wait the local clock has not reached or on an event that has
        not come. What happens next needs the clock to move or a customer to act, so a demo or a test
        that steps the clock waits exactly as long as the work takes, on a fast machine or a loaded one.
        False if it did not settle within ``timeout`` seconds."""
        assert self.emulator is not None, "the runtime is not started"
        sfn = self.emulator.session().client("stepfunctions")  # one client for every look below
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.drain()
            if self.running_executions(sfn) == stepfunctions.idle_executions() and self._queues_empty():
                return True
            time.sleep(0.02)
        return False

    def running_executions(self, client: Any | None = None) -> int:
        """How many executions of all journeys are running in the emulator."""
        if self.resources is None:
            return 0
        return sum(len(self.executions(journey, "RUNNING", client)) for journey in self.resources.state_machines)

    def _queues_empty(self) -> bool:
        return all(pump.empty() for pump in self.pumps.values())

    def _tap(self, session: Any) -> str:
        sqs, events = session.client("sqs"), session.client("events")
        url = sqs.create_queue(QueueName=TAP_QUEUE)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name="emma-local-tap",
            EventBusName=EVENT_BUS.name,
            State="ENABLED",
            EventPattern=json.dumps({"source": [EVENT_SOURCE, RULES_SOURCE]}),
        )
        events.put_targets(Rule="emma-local-tap", EventBusName=EVENT_BUS.name, Targets=[{"Id": "tap", "Arn": arn}])
        return url

    def published(self) -> list[dict[str, Any]]:
        """Drain the tap: every canonical event published on the bus since the last call, one envelope
        per event (``unbundle``)."""
        assert self.emulator is not None and self._tap_url is not None, "the runtime was started without the tap"
        sqs = self.emulator.session().client("sqs")
        out: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=self._tap_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return out
            out += [event for m in messages for event in unbundle(json.loads(m["Body"]))]
            sqs.delete_message_batch(
                QueueUrl=self._tap_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )

    def executions(self, journey: str, status: str | None = None, client: Any | None = None) -> list[dict[str, Any]]:
        """The journey's executions in the emulator (newest first); ``client``: a Step Functions client
        to use instead of a new one."""
        assert self.emulator is not None and self.resources is not None
        sfn = client or self.emulator.session().client("stepfunctions")
        kwargs: dict[str, Any] = {"stateMachineArn": self.resources.state_machines[journey], "maxResults": 1000}
        if status:
            kwargs["statusFilter"] = status
        return sfn.list_executions(**kwargs)["executions"]

    def set_speedup(self, speedup: float) -> None:
        """Let local time run ``speedup`` times faster from now on (without a jump); 0 stops it, and
        only ``advance`` moves it then."""
        clock = FileClock(self.clock_file)
        now = clock.now().timestamp()
        real = time.time()
        FileClock.write(self.clock_file, speedup=speedup, offset=now - real, anchor=real)
        self.speedup = speedup

    def _stop_executions(self) -> None:
        """Executions run in the emulator's threads: stop them before the emulator goes away."""
        if self.emulator is None or self.resources is None:
            return
        from botocore.config import Config

        # Short timeouts, no retries: stopping is best effort, and shutting down must not wait on it.
        quick = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 1})
        sfn = self.emulator.session().client("stepfunctions", endpoint_url=self.emulator.endpoint, config=quick)
        deadline = time.monotonic() + 5.0
        for arn in self.resources.state_machines.values():
            running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING", maxResults=1000)
            for execution in running["executions"]:
                if time.monotonic() > deadline:
                    return
                sfn.stop_execution(executionArn=execution["executionArn"], cause="local runtime stopped")

    def stop(self) -> None:
        """Stop everything within seconds: nothing waits for work in progress (a request, a batch of a
        queue, a journey step) beyond a short grace; the emulator goes last."""
        deadline = time.monotonic() + 5.0
        for ticker in (self._scheduler, self._collector):
            if ticker is not None:
                ticker.request_stop()
        for pump in [*self.pumps.values(), *self.streams.values()]:
            pump.request_stop()
        if self._api is not None:
            self._api.shutdown()  # API requests in progress end here (their clients get an error)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        try:
            self._stop_executions()
        except Exception:
            logging.getLogger("emma.local").warning("could not stop running journey executions")
        for ticker in (self._scheduler, self._collector):
            if ticker is not None:
                ticker.stop(timeout=max(0.1, deadline - time.monotonic()))
        for pump in [*self.pumps.values(), *self.streams.values()]:
            pump.stop(timeout=max(0.1, deadline - time.monotonic()))
        if self.shop_apis is not None:
            self.shop_apis.stop()
        if self.emulator is not None:
            self.emulator.stop()
        _mute_metrics(False)
        if self._saved_env is not None:  # leave the process as we found it
            os.environ.clear()
            os.environ.update(self._saved_env)
            _reset_components()
        if self._clock_dir is not None:
            self._clock_dir.cleanup()

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def unbundle(envelope: dict[str, Any]) -> list[dict[str, Any]]:
    """An EventBridge event as delivered, one per canonical event it carries: a bundle's events
    (emma.adapters.eventbridge) each in a copy of the envelope, with its own detail-type and detail."""
    detail = envelope.get("detail")
    if not isinstance(detail, dict) or not isinstance(detail.get("events"), list):
        return [envelope]
    return [{**envelope, "detail-type": e.get("type"), "detail": e} for e in detail["events"]]


_ADD_METRIC: dict[str, Any] = {}


def _mute_metrics(mute: bool) -> None:
    """Metrics disabled means kept nowhere: Powertools still collects them while disabled and prints a metric
    set once a metric holds 100 values, which in a long-lived local process is every hundredth message."""
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    if mute and "add_metric" not in _ADD_METRIC:
        _ADD_METRIC["add_metric"] = AmazonCloudWatchEMFProvider.add_metric
        AmazonCloudWatchEMFProvider.add_metric = lambda self, *args, **kwargs: None  # type: ignore[method-assign]
    elif not mute and "add_metric" in _ADD_METRIC:
        AmazonCloudWatchEMFProvider.add_metric = _ADD_METRIC.pop("add_metric")  # type: ignore[method-assign]


def _reset_components() -> None:
    """Forget every handler's lazily built components (boto3 clients bound to an endpoint)."""
    consumers = [q.consumer for q in (*QUEUES, *REQUEST_QUEUES, *STREAM_CONSUMERS)]
    functions = ["ingest", JOURNEY_STEPS_FUNCTION, IMPORTS_FUNCTION, CAMPAIGNS_FUNCTION, *consumers]
    for function in [*functions, *(s.consumer for s in SCHEDULES)]:
        load_handler(function)
        module = sys.modules.get(f"{function}.deps") or sys.modules[f"{function}.handler"]
        if callable(getattr(module, "reset", None)):  # a deps module forgets everything it built
            module.reset()
            continue
        for name in ("components", "release", "wiring"):  # the handlers' lazily built, cached wiring
            cached = getattr(module, name, None)
            if cached is not None and hasattr(cached, "cache_clear"):
                cached.cache_clear()


class _Ticker:
    """Calls ``fn`` every ``interval`` seconds in a daemon thread until stopped."""

    def __init__(self, fn: Any, interval: float, name: str = "emma-schedule") -> None:
        self._fn = fn
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval() if callable(self._interval) else self._interval):
            try:
                self._fn()
            except Exception:
                logging.getLogger("emma.local.schedule").exception("scheduled run failed")

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout)
