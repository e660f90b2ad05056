"""Cold-import time of the ingest handler beside a floor handler, each in fresh interpreters; and the
ingest handler's import together with its first webhook request.

Each sample is the wall time of ``python -c "<code>"`` minus the median of ``python -c pass``
(interpreter start-up), runs interleaved (pass, floor, ingest, ingest + first webhook, pass, ...) so
drifts in the machine's load hit all of them alike. The floor is what any Python Lambda of this
project imports anyway: boto3 and Powertools' Logger.

Import alone could be made small by putting work off to the first request; the second figure, the
import and then one Shopify orders/create webhook (signed, a new customer) answered by the real
handler, shows whether that only moved the work. Its floor is the naive pipeline's handler with its first
request (the floor's imports, then two DynamoDB PutItems and one EventBridge PutEvents on clients it creates:
what the issue's naive pipeline does per event), against the same emulator. That request goes to the local
runtime's emulator (moto) over HTTP: the handler builds its boto3 clients, reads the shop's secrets, stores and
publishes as in Lambda. Its wall time includes the emulator's answers (in this process); the child process's
own CPU time is reported beside it, split into import and first request.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.payloads import ROOT, ShopifyOrders

SNIPPETS = {
    "pass": "pass",
    "floor": "import boto3; from aws_lambda_powertools import Logger",
    "ingest": "import ingest.handler",
}

# The import, then one request read from the file named by argv[1]; prints the child's CPU split as JSON.
FIRST_WEBHOOK = """\
import time
cpu0 = time.process_time()
import ingest.handler
cpu1 = time.process_time()
import json, sys
class Context:
    function_name = "emma-bench-ingest"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:emma-bench-ingest"
    aws_request_id = "bench-cold"
    def get_remaining_time_in_millis(self):
        return 30000
with open(sys.argv[1], encoding="utf-8") as f:
    event = json.load(f)
response = ingest.handler.lambda_handler(event, Context())
cpu2 = time.process_time()
if response["statusCode"] != 200:
    sys.exit(f"first webhook answered {response['statusCode']}: {response.get('body')}")
print(json.dumps({"import_cpu_ms": (cpu1 - cpu0) * 1000, "request_cpu_ms": (cpu2 - cpu1) * 1000}))
"""

# The naive pipeline's handler (API -> one Lambda -> two DynamoDB writes + one EventBridge put), cold: the floor's
# imports, then its first request against the same emulator, with the clients it creates for it.
FLOOR_FIRST_REQUEST = """import time
cpu0 = time.process_time()
import boto3
from aws_lambda_powertools import Logger
cpu1 = time.process_time()
import json, os, sys, uuid
logger = Logger(service="floor")
with open(sys.argv[1], encoding="utf-8") as f:
    event = json.load(f)
body = json.loads(event["body"])
dynamodb, events = boto3.client("dynamodb"), boto3.client("events")
table, bus, key = os.environ["EMMA_PROFILES_TABLE"], os.environ["EMMA_EVENT_BUS"], "floor#" + uuid.uuid4().hex
dynamodb.put_item(TableName=table, Item={"pk": {"S": key}, "sk": {"S": "PROFILE"}, "doc": {"S": event["body"]}})
dynamodb.put_item(TableName=table, Item={"pk": {"S": key}, "sk": {"S": "LOG"}, "doc": {"S": event["body"]}})
events.put_events(Entries=[{"EventBusName": bus, "Source": "floor", "DetailType": "order", "Detail": json.dumps(body)}])
logger.info("stored", extra={"key": key})
cpu2 = time.process_time()
print(json.dumps({"import_cpu_ms": (cpu1 - cpu0) * 1000, "request_cpu_ms": (cpu2 - cpu1) * 1000}))
"""


@dataclass
class ColdImport:
    runs: int
    raw_ms: dict[str, list[float]]
    child_cpu_ms: list[dict[str, float]] = field(default_factory=list)  # one per first-webhook run
    floor_cpu_ms: list[dict[str, float]] = field(default_factory=list)  # one per floor first-request run

    def net_ms(self, name: str) -> list[float]:
        base = statistics.median(self.raw_ms["pass"])
        return [t - base for t in self.raw_ms[name]]

    def summary(self) -> dict:
        floor, ingest = statistics.median(self.net_ms("floor")), statistics.median(self.net_ms("ingest"))
        result = {
            "runs_each": self.runs,
            "interpreter_start_ms_median": statistics.median(self.raw_ms["pass"]),
            "floor_import_ms_median": floor,
            "ingest_import_ms_median": ingest,
            "ingest_over_floor_ratio": ingest / floor if floor > 0 else None,
            "ingest_minus_floor_ms": ingest - floor,
            "floor_imports": SNIPPETS["floor"],
            "ingest_imports": SNIPPETS["ingest"] + "  (functions/ on sys.path, as in Lambda)",
        }
        if "first_webhook" in self.raw_ms:
            first = statistics.median(self.net_ms("first_webhook"))
            naive = statistics.median(self.net_ms("floor_first_request"))
            result |= {
                "ingest_import_and_first_webhook_ms_median": first,
                "ingest_import_and_first_webhook_over_floor_ratio": first / floor if floor > 0 else None,
                "floor_import_and_first_request_ms_median": naive,
                "ingest_import_and_first_webhook_over_floor_with_first_request_ratio": first / naive
                if naive > 0
                else None,
                "first_webhook_child_cpu_ms_median": {
                    key: statistics.median(run[key] for run in self.child_cpu_ms)
                    for key in ("import_cpu_ms", "request_cpu_ms")
                },
                "floor_first_request_child_cpu_ms_median": {
                    key: statistics.median(run[key] for run in self.floor_cpu_ms)
                    for key in ("import_cpu_ms", "request_cpu_ms")
                },
                "floor_first_request": "the floor's imports, then two DynamoDB PutItems and one EventBridge PutEvents "
                "(the naive pipeline's work for one event) on clients it creates, against the same emulator",
                "first_webhook": "import ingest.handler, then one signed Shopify orders/create webhook (a new "
                "customer) through lambda_handler against the local runtime's emulator (moto, over HTTP)",
            }
        result["raw_wall_ms"] = self.raw_ms
        return result


def _once(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=ROOT / "functions", env=env, capture_output=True, text=True)
    wall = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"python {' '.join(args[:1])} ... failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, done.stdout


@contextmanager
def _emulated_aws():
    """The local runtime's emulator with Emma's resources and the example shops; the environment the
    ingest function gets there (table names, bus, AWS_ENDPOINT_URL). Nothing consumes the queues."""
    from emma_local.config import load_config
    from emma_local.runtime import LocalRuntime

    rt = LocalRuntime(load_config(), port=0, log_level="ERROR", schedule=False, tap=False).start()
    try:
        for pump in rt.pumps.values():
            pump.stop()
        yield dict(os.environ)
    finally:
        rt.stop()


def measure(runs: int = 7, first_webhook: bool = True) -> ColdImport:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "functions"),
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    commands = {name: ["-c", code] for name, code in SNIPPETS.items()}
    if not first_webhook:
        return _measure(runs, commands, env, None)
    with _emulated_aws() as aws_env, tempfile.TemporaryDirectory(prefix="emma-cold-") as tmp:
        from emma_local.lambdas import api_event

        orders = ShopifyOrders()
        events: list[Path] = []
        for n in range(runs + 1):
            request = orders.request("cold", n)
            path = Path(tmp) / f"event-{n}.json"
            path.write_text(json.dumps(api_event(request.method, request.path, "", request.headers, request.body)))
            events.append(path)
        webhook_env = {
            **aws_env,
            "PYTHONPATH": str(ROOT / "functions"),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
        return _measure(runs, commands, env, (webhook_env, events))


def _measure(
    runs: int, commands: dict[str, list[str]], env: dict[str, str], webhook: tuple[dict[str, str], list[Path]] | None
) -> ColdImport:
    def first_webhook(n: int) -> tuple[float, str]:
        assert webhook is not None
        return _once(["-c", FIRST_WEBHOOK, str(webhook[1][n])], webhook[0])

    def floor_first_request(n: int) -> tuple[float, str]:
        assert webhook is not None
        return _once(["-c", FLOOR_FIRST_REQUEST, str(webhook[1][n])], webhook[0])

    for args in commands.values():  # once untimed: files in the page cache, .pyc files written
        _once(args, env)
    if webhook is not None:
        first_webhook(runs)
        floor_first_request(runs)
    raw: dict[str, list[float]] = {name: [] for name in commands}
    cpu: list[dict[str, Any]] = []
    floor_cpu: list[dict[str, Any]] = []
    if webhook is not None:
        raw["first_webhook"], raw["floor_first_request"] = [], []
    for n in range(runs):
        for name, args in commands.items():
            raw[name].append(_once(args, env)[0])
        if webhook is not None:
            wall, out = first_webhook(n)
            raw["first_webhook"].append(wall)
            cpu.append(json.loads(out.strip().splitlines()[-1]))
            wall, out = floor_first_request(n)
            raw["floor_first_request"].append(wall)
            floor_cpu.append(json.loads(out.strip().splitlines()[-1]))
    return ColdImport(runs, raw, cpu, floor_cpu)
