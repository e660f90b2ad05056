"""The demo's import part: a shop that starts with Emma brings its history (events/imports: 300
customers in Emma's CSV with their newsletter consent and its proof, their orders in Shopify's orders export)
through `emma import`, as a shop would run it against the API, and Emma works out segments, lifecycle
stages and predictions from it without publishing an event, starting a journey or sending a message."""

from __future__ import annotations

import csv
import io
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from emma_local.config import LocalConfig
from emma_local.imports import run_import
from emma_local.lab.shop_history import END, shift
from emma_local.runtime import ROOT, LocalRuntime

SHOP = "elektro-emma"
HISTORY = ROOT / "events" / "imports"
SHOWN_SEGMENTS = ("known-customers", "reachable-email", "first-time-buyers", "loyal", "champions", "at-risk", "lapsed")
PARALLEL = 2  # requests in flight; the API is served by as many execution environments meanwhile


def run_import_demo(rt: LocalRuntime, config: LocalConfig, http: Any = None) -> int:
    http = http or requests.Session()
    print("\n18. Going live with a shop's history: emma import customers, then orders (backfill, nothing sent)")
    key = config.shop(SHOP).admin_keys[0]
    headers = {"authorization": f"Bearer {key}"}
    problems: list[str] = []
    rt.drain()
    before_sizes = _sizes(rt, http, headers)
    executions = _executions(rt)
    _new_activity(rt)  # what the demo's earlier parts set off is not the import's
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="emma-import-") as state,
        _env("EMMA_STATE_DIR", state),
        rt.api_environments(PARALLEL),
    ):
        # The sample was exported on END; the local clock is wherever the demo moved it: the same history,
        # exported today (every time moved by the difference), so that "lapsed" means what it says.
        by = rt.now() - END
        files = Path(state) / "history"
        shift(HISTORY, files, by)
        print(f"  (the sample's times moved by {by.days} days: exported on the local clock's {rt.now():%Y-%m-%d})")
        for kind, later in (("customers", True), ("orders", False)):
            out, err = io.StringIO(), io.StringIO()
            code = run_import(
                kind,
                files / f"{kind}.csv",
                shop=SHOP,
                api=rt.api_url,
                admin_key=key,
                conclude_later=later,
                parallel=PARALLEL,
                out=out,
                err=err,
            )
            for line in out.getvalue().replace(str(files), "events/imports").splitlines():
                print(f"  $ emma import {kind} events/imports/{kind}.csv: {line}")
            if code != 0:
                problems.append(f"emma import {kind} exited {code}: {err.getvalue()[-500:]}")
    rt.drain()
    print(
        f"  ({time.monotonic() - started:.0f} s for both files on this machine; the API served by {PARALLEL} processes)"
    )
    after_sizes = _sizes(rt, http, headers)
    print("  Segments before and after (GET /v1/segments):")
    for segment in SHOWN_SEGMENTS:
        print(f"    {segment:<20} {before_sizes.get(segment, 0):>5} -> {after_sizes.get(segment, 0):>5}")
    _show_customers(rt, http, headers, problems)
    published, messages = _new_activity(rt)
    started_journeys = _executions(rt) - executions
    print(
        f"  What the import set off: {published} events on the bus, {started_journeys} journeys started, "
        f"{messages} messages sent"
    )
    if published or started_journeys or messages:
        problems.append("the import set something off (it must only build profiles)")
    customers = _rows(HISTORY / "customers.csv")
    if after_sizes.get("known-customers", 0) - before_sizes.get("known-customers", 0) < customers:
        problems.append(f"the import did not bring in the sample's {customers:,} customers")
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    return 1 if problems else 0


def _rows(path: Path) -> int:
    """The records of a CSV file (one customer per row in Emma's customers CSV)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        return sum(1 for _ in csv.DictReader(f))


def _sizes(rt: LocalRuntime, http: Any, headers: dict[str, str]) -> dict[str, int]:
    resp = http.get(f"{rt.api_url}/v1/segments", headers=headers, timeout=30)
    resp.raise_for_status()
    return dict(resp.json()["segments"])


def _new_activity(rt: LocalRuntime) -> tuple[int, int]:
    """Events published on the bus and messages sent since the last call."""
    return len(rt.published()) if rt.tap else 0, len(rt.outbox.collect()) if rt.outbox else 0


def _executions(rt: LocalRuntime) -> int:
    return sum(len(rt.executions(j)) for j in (rt.resources.state_machines if rt.resources else {}))


def _show_customers(rt: LocalRuntime, http: Any, headers: dict[str, str], problems: list[str]) -> None:
    """Two imported customers as Emma now sees them: a loyal one and one slipping away."""
    for segment, label in (("champions", "a champion"), ("at-risk", "a customer slipping away")):
        resp = http.get(f"{rt.api_url}/v1/segments/{segment}/members", headers=headers, params={"limit": 1}, timeout=30)
        members = resp.json().get("members", []) if resp.status_code == 200 else []
        if not members:
            problems.append(f"no member of {segment} to show")
            continue
        view = http.get(f"{rt.api_url}/v1/profiles/{members[0]['profile_id']}", headers=headers, timeout=30).json()
        predictions = view.get("predictions") or {}
        orders = view.get("orders") or {}
        owned = ", ".join(sorted(view.get("products_owned") or {})[:3])
        consent = (view.get("consent") or {}).get("email") or {}
        print(
            f"  {label}: {view.get('email')}, {orders.get('count')} orders, {orders.get('revenue')} EUR, "
            f"owns {owned}; stage {view.get('lifecycle_stage')}; "
            f"P(buys in 30 days) {_pct(predictions.get('p_buy_within_horizon'))}, "
            f"P(alive) {_pct(predictions.get('p_alive'))}; "
            f"email consent {'granted' if consent.get('granted') else 'none'}"
            + (f" ({consent['proof']['source']}, {consent['proof']['at'][:10]})" if consent.get("proof") else "")
        )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"


class _env:
    """Set an environment variable for a while (the import's journal goes to a temporary folder)."""

    def __init__(self, name: str, value: str) -> None:
        self.name, self.value, self.saved = name, value, None

    def __enter__(self) -> None:
        self.saved = os.environ.get(self.name)
        os.environ[self.name] = self.value

    def __exit__(self, *exc: object) -> None:
        if self.saved is None:
            os.environ.pop(self.name, None)
        else:
            os.environ[self.name] = self.saved
