"""Cold-import time of the ingest handler beside a floor handler, each in fresh interpreters.

Each sample is the wall time of ``python -c "<imports>"`` minus the median of ``python -c pass``
(interpreter start-up), runs interleaved (pass, floor, ingest, pass, floor, ...) so drifts in the
machine's load hit all three alike. The floor is what any Python Lambda of this project imports
anyway: boto3 and Powertools' Logger.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from bench.payloads import ROOT

SNIPPETS = {
    "pass": "pass",
    "floor": "import boto3; from aws_lambda_powertools import Logger",
    "ingest": "import ingest.handler",
}


@dataclass
class ColdImport:
    runs: int
    raw_ms: dict[str, list[float]]

    def net_ms(self, name: str) -> list[float]:
        base = statistics.median(self.raw_ms["pass"])
        return [t - base for t in self.raw_ms[name]]

    def summary(self) -> dict:
        floor, ingest = statistics.median(self.net_ms("floor")), statistics.median(self.net_ms("ingest"))
        return {
            "runs_each": self.runs,
            "interpreter_start_ms_median": statistics.median(self.raw_ms["pass"]),
            "floor_import_ms_median": floor,
            "ingest_import_ms_median": ingest,
            "ingest_over_floor_ratio": ingest / floor if floor > 0 else None,
            "ingest_minus_floor_ms": ingest - floor,
            "floor_imports": SNIPPETS["floor"],
            "ingest_imports": SNIPPETS["ingest"] + "  (functions/ on sys.path, as in Lambda)",
            "raw_wall_ms": self.raw_ms,
        }


def _once(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT / "functions", env=env, check=True)
    return (time.perf_counter() - start) * 1000


def measure(runs: int = 7) -> ColdImport:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "functions"),
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    for code in SNIPPETS.values():  # once untimed: files in the page cache, .pyc files written
        _once(code, env)
    raw: dict[str, list[float]] = {name: [] for name in SNIPPETS}
    for _ in range(runs):
        for name, code in SNIPPETS.items():
            raw[name].append(_once(code, env))
    return ColdImport(runs, raw)
