"""Soak: `emma dev`'s write path at shop scale (100,000 customers, 1,000,000 events by default).

A child process serves the local runtime exactly as `emma dev` does (the emulator with
emma_local.moto_fixes, two Lambda execution environments for the API), except that nothing consumes
the bus: the consumers' rule targets are removed and their pumps stopped. The local consumers
(triggers, journeys, dispatch) share the emulator's one request lock and handle tens of events a
second; fed a million events they would only grow a backlog, which measures the backlog, not the
store. What is measured is what the issue asks: the API, the ingest function, the DynamoDB emulator
and the bus, as one shop sends its customers.

The parent sends Segment /v1/batch requests of ``per_request`` customers, each customer
``events_per_customer`` calls (identify with traits, page views, product views, a search, an add to
cart, a checkout, an order), all new message ids, over two keep-alive connections at a time. After every
``checkpoint`` customers it records the server's RSS (the child and its worker processes, from
/proc), the latency of the requests of that stretch (p50, p95, max), the latency of a single
customer's write probed alone (median of 20 one-customer requests: the 100,000th customer's write
against the first's), and the items in the profiles table.

`python -m bench.soak [--customers N] [--checkpoint N] [--output F.json]` prints the table (and writes
the figures and F.svg, the plot); `make bench` runs it at full size as its section 10, with the
figures in bench/results.json and the plot in bench/soak.svg.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WRITE_KEY = "wk_local_elektro_emma"
PRODUCTS = [
    ("pixel-9-pro", "Google Pixel 9 Pro", "smartphones", "Google", 1099.0),
    ("pixel-case-9-pro", "Pixel 9 Pro Case", "accessories", "Google", 39.0),
    ("galaxy-s25", "Samsung Galaxy S25", "smartphones", "Samsung", 899.0),
    ("buds-pro-3", "Galaxy Buds 3 Pro", "audio", "Samsung", 249.0),
    ("usb-c-charger-45w", "USB-C Ladegerät 45 W", "accessories", "Anker", 29.0),
]


@dataclass
class Checkpoint:
    customers: int
    events: int
    rss_mb: float
    request_p50_ms: float
    request_p95_ms: float
    request_max_ms: float
    single_write_ms: float  # one customer's 10 events, alone
    profile_items: int
    seconds: float


@dataclass
class SoakResult:
    customers: int
    events_per_customer: int
    customers_per_request: int
    checkpoints: list[Checkpoint] = field(default_factory=list)
    refused: int = 0
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "checkpoints": [asdict(c) for c in self.checkpoints]}


def customer_calls(tag: str, n: int, events: int = 10) -> list[dict[str, Any]]:
    """One customer's visit: anonymous browsing, identify, an order. All ids fresh."""
    anon, user, email = f"anon-{tag}-{n}", f"{tag}-{n}", f"soak-{tag}-{n}@example.de"
    product = PRODUCTS[n % len(PRODUCTS)]
    item = {"product_id": product[0], "name": product[1], "category": product[2], "brand": product[3]}
    item |= {"price": product[4], "quantity": 1}
    calls: list[dict[str, Any]] = [
        {"type": "page", "name": "Startseite", "properties": {"path": "/", "url": "https://shop.example/"}},
        {"type": "track", "event": "Products Searched", "properties": {"query": product[2]}},
        {"type": "track", "event": "Product Viewed", "properties": item},
        {"type": "page", "name": product[1], "properties": {"path": f"/p/{product[0]}"}},
        {
            "type": "identify",
            "userId": user,
            "traits": {
                "email": email,
                "firstName": "Kunde",
                "lastName": str(n),
                "address": {"city": "Berlin", "country": "DE", "postalCode": "10115", "street": "Torstr. 1"},
                "email_opt_in": n % 2 == 0,
            },
        },
        {"type": "track", "event": "Product Viewed", "properties": item},
        {"type": "track", "event": "Product Added", "properties": item},
        {"type": "track", "event": "Checkout Started", "properties": {"order_id": f"o-{tag}-{n}", "products": [item]}},
        {
            "type": "track",
            "event": "Order Completed",
            "properties": {"order_id": f"o-{tag}-{n}", "total": product[4], "currency": "EUR", "products": [item]},
        },
        {"type": "track", "event": "Product Reviewed", "properties": {"product_id": product[0], "rating": 5}},
    ]
    out = []
    for i, call in enumerate(calls[:events]):
        call = {**call, "messageId": f"soak-{tag}-{n}-{i}", "anonymousId": anon}
        if i >= 4:
            call["userId"] = user
        call["timestamp"] = f"2026-11-{1 + n % 28:02d}T10:{i:02d}:00Z"
        out.append(call)
    return out


def batch_body(tag: str, first: int, count: int, events: int) -> bytes:
    calls = [c for n in range(first, first + count) for c in customer_calls(tag, n, events)]
    return json.dumps({"batch": calls, "writeKey": WRITE_KEY}).encode()


# ---- the server (child process) -----------------------------------------------------------------


def serve() -> int:
    """Run the local runtime as `emma dev` does, minus the consumers; print the URL; stop on stdin EOF."""
    import logging
    import warnings

    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    from emma_local.config import load_config
    from emma_local.runtime import LocalRuntime

    runtime = LocalRuntime(load_config(), port=0, log_level="ERROR", environments=2, schedule=False, tap=False)
    runtime.start()
    for pump in runtime.pumps.values():
        pump.stop()
    events = runtime.emulator.client("events")
    bus = runtime.resources.bus_name
    for rule in events.list_rules(EventBusName=bus)["Rules"]:
        ids = [t["Id"] for t in events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]]
        if ids:
            events.remove_targets(Rule=rule["Name"], EventBusName=bus, Ids=ids)
    ddb = runtime.emulator.client("dynamodb")
    profiles = runtime.resources.tables["ProfilesTable"]
    print(json.dumps({"url": runtime.api_url, "emulator": runtime.emulator.endpoint, "profiles": profiles}), flush=True)
    sys.stdin.read()  # the parent closes stdin to stop us
    del ddb
    runtime.stop()
    return 0


# ---- the load (parent) --------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                pids += _tree(int(child))
    except OSError:
        pass
    return pids


def rss_mb(pid: int) -> float:
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def run(
    customers: int = 100_000,
    checkpoint: int = 10_000,
    events_per_customer: int = 10,
    per_request: int = 10,
    clients: int = 2,
    progress: Any = None,
) -> SoakResult:
    import boto3
    import requests

    child = subprocess.Popen(
        [sys.executable, "-m", "bench.soak", "--serve"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "functions")])},
    )
    try:
        line = child.stdout.readline() if child.stdout else ""
        if not line:
            raise RuntimeError("the soak server did not start")
        info = json.loads(line)
        # The server and its environments keep writing to this pipe (Powertools prints a metric set every
        # 100 values, whatever POWERTOOLS_METRICS_DISABLED says): left unread, it fills and they block.
        threading.Thread(target=lambda: [None for _ in child.stdout], name="soak-server-output", daemon=True).start()
        url = info["url"] + "/v1/batch"
        ddb = boto3.client(
            "dynamodb",
            endpoint_url=info["emulator"],
            region_name="eu-central-1",
            aws_access_key_id="emma-local",
            aws_secret_access_key="emma-local",
        )
        session = requests.Session()
        headers = {"content-type": "application/json"}
        result = SoakResult(customers, events_per_customer, per_request)
        started = time.perf_counter()
        sent = 0
        probe_n = 0

        def post(body: bytes, expect: int, session: requests.Session) -> float:
            t0 = time.perf_counter()
            resp = session.post(url, data=body, headers=headers, timeout=120)
            elapsed = time.perf_counter() - t0
            answer = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
            # A call may store more than one event (an identify with an opt-in also records consent).
            if (
                resp.status_code != 200
                or answer.get("rejected")
                or answer.get("accepted", 0) < expect * events_per_customer
            ):
                result.refused += 1
                if len(result.failures) < 10:
                    result.failures.append(f"{resp.status_code} {resp.text[:300]}")
            return elapsed

        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=clients)
        sessions = [requests.Session() for _ in range(clients)]

        def post_on(i: int, body: bytes, expect: int) -> float:
            return post(body, expect, sessions[i % clients])

        while sent < customers:
            stretch_end = min(customers, (sent // checkpoint + 1) * checkpoint)
            bodies = []
            while sent < stretch_end:
                count = min(per_request, stretch_end - sent)
                bodies.append((batch_body("c", sent, count, events_per_customer), count))
                sent += count
            window = list(pool.map(lambda ib: post_on(ib[0], *ib[1]), enumerate(bodies)))
            probes = [post(batch_body("probe", probe_n + i, 1, events_per_customer), 1, session) for i in range(20)]
            probe_n += 20
            items = ddb.describe_table(TableName=info["profiles"])["Table"]["ItemCount"]
            point = Checkpoint(
                customers=sent,
                events=sent * events_per_customer,
                rss_mb=round(rss_mb(child.pid), 1),
                request_p50_ms=round(statistics.median(window) * 1000, 1),
                request_p95_ms=round(_percentile(window, 0.95) * 1000, 1),
                request_max_ms=round(max(window) * 1000, 1),
                single_write_ms=round(statistics.median(probes) * 1000, 1),
                profile_items=items,
                seconds=round(time.perf_counter() - started, 1),
            )
            result.checkpoints.append(point)
            if progress:
                progress(point)
        pool.shutdown()
        return result
    finally:
        if child.stdin:
            child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()


# ---- report -------------------------------------------------------------------------------------

HEADER = (
    f"  {'customers':>9}  {'events':>9}  {'RSS MB':>7}  {'req p50 ms':>10}  {'req p95 ms':>10}  "
    f"{'req max ms':>10}  {'1 customer ms':>13}  {'items':>9}  {'s':>6}"
)


def row(c: Checkpoint) -> str:
    return (
        f"  {c.customers:>9,}  {c.events:>9,}  {c.rss_mb:>7,.0f}  {c.request_p50_ms:>10.1f}  "
        f"{c.request_p95_ms:>10.1f}  {c.request_max_ms:>10.1f}  {c.single_write_ms:>13.1f}  "
        f"{c.profile_items:>9,}  {c.seconds:>6.0f}"
    )


def verdict(result: SoakResult) -> dict[str, Any]:
    """Flat memory: RSS grows by about the same amount per stretch (the data), not faster. Flat
    latency: the last stretch's p50 and the last single-customer write within 25 % of the first."""
    points = result.checkpoints
    if len(points) < 3:
        return {"checked": False}
    growth = [b.rss_mb - a.rss_mb for a, b in itertools.pairwise(points[1:])]
    first, last = points[0], points[-1]
    per_customer_kb = [
        g * 1024 / (b.customers - a.customers) for g, a, b in zip(growth, points[1:], points[2:], strict=False)
    ]
    return {
        "checked": True,
        "rss_growth_mb_per_stretch": [round(g, 1) for g in growth],
        "rss_kb_per_customer": [round(k, 2) for k in per_customer_kb],
        "memory_flat": max(growth) <= 1.5 * max(statistics.median(growth), 1.0),
        "latency_p50_ratio_last_first": round(last.request_p50_ms / first.request_p50_ms, 2),
        "single_write_ratio_last_first": round(last.single_write_ms / first.single_write_ms, 2),
        "latency_flat": last.request_p50_ms <= 1.25 * first.request_p50_ms
        and last.single_write_ms <= 1.25 * first.single_write_ms,
    }


def svg(result: SoakResult, path: Path) -> None:
    """Two small line charts side by side: RSS and write latency against customers."""
    points = result.checkpoints
    width, height, pad = 360, 220, 44
    xs = [p.customers for p in points]

    def chart(x0: int, title: str, series: list[tuple[str, str, list[float]]]) -> str:
        top = max(max(v) for _, _, v in series) * 1.15 or 1
        xmax = max(xs) or 1

        def px(x: float, y: float) -> tuple[float, float]:
            return (x0 + pad + x / xmax * (width - pad - 10), height - pad + 10 - y / top * (height - pad - 20))

        out = [f'<text x="{x0 + width / 2}" y="14" text-anchor="middle" font-size="12">{title}</text>']
        out.append(
            f'<line x1="{x0 + pad}" y1="{height - pad + 10}" x2="{x0 + width - 10}" '
            f'y2="{height - pad + 10}" stroke="#333"/>'
        )
        out.append(f'<line x1="{x0 + pad}" y1="20" x2="{x0 + pad}" y2="{height - pad + 10}" stroke="#333"/>')
        for frac in (0, 0.5, 1):
            y = top / 1.15 * frac
            _, yy = px(0, y)
            out.append(f'<text x="{x0 + pad - 4}" y="{yy + 4}" text-anchor="end" font-size="9">{y:,.0f}</text>')
        for frac in (0.5, 1):
            xx, _ = px(xmax * frac, 0)
            out.append(
                f'<text x="{xx}" y="{height - pad + 24}" text-anchor="middle" font-size="9">{xmax * frac:,.0f}</text>'
            )
        out.append(f'<text x="{x0 + width / 2}" y="{height - 4}" text-anchor="middle" font-size="10">customers</text>')
        for i, (name, colour, values) in enumerate(series):
            line = " ".join(f"{px(x, y)[0]:.1f},{px(x, y)[1]:.1f}" for x, y in zip(xs, values, strict=True))
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{line}"/>')
            out.append(f'<text x="{x0 + pad + 8}" y="{32 + 12 * i}" font-size="10" fill="{colour}">{name}</text>')
        return "\n".join(out)

    body = chart(0, "server RSS (MB)", [("RSS", "#1f77b4", [p.rss_mb for p in points])])
    body += "\n" + chart(
        width,
        "write latency (ms)",
        [
            ("request p50", "#2ca02c", [p.request_p50_ms for p in points]),
            ("request p95", "#ff7f0e", [p.request_p95_ms for p in points]),
            ("one customer alone", "#d62728", [p.single_write_ms for p in points]),
        ],
    )
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * width}" height="{height}" '
        f'font-family="sans-serif">\n{body}\n</svg>\n',
        encoding="utf-8",
    )


def report(r: dict[str, Any]) -> str:
    """The soak's section of `make bench`'s report (from its JSON form)."""
    out = [
        f"\n10. Soak: emma dev's write path at shop scale ({r['customers']:,} customers x "
        f"{r['events_per_customer']} events, {r['customers_per_request']} customers per /v1/batch request)",
        "  Server: the local runtime as `emma dev` runs it (emulator + 2 API environments), nothing consuming the "
        "bus; RSS of the server's processes; '1 customer' = median of 20 single-customer requests.",
        HEADER,
    ]
    out += [row(Checkpoint(**c)) for c in r["checkpoints"]]
    v = r["verdict"]
    if v.get("checked"):
        out.append(
            f"  RSS per customer between checkpoints: {min(v['rss_kb_per_customer']):.1f}-"
            f"{max(v['rss_kb_per_customer']):.1f} KB (memory {'flat' if v['memory_flat'] else 'NOT flat'}); "
            f"request p50 last/first {v['latency_p50_ratio_last_first']:.2f}, one customer last/first "
            f"{v['single_write_ratio_last_first']:.2f} (latency {'flat' if v['latency_flat'] else 'NOT flat'})."
        )
    out.append(f"  Refused or short requests: {r['refused']}. Plot: bench/soak.svg. Took {r['run_s']:.0f} s.")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--checkpoint", type=int, default=10_000)
    parser.add_argument("--output", type=Path, help="write the figures (JSON) there, and the plot beside it (.svg)")
    args = parser.parse_args(argv)
    if args.serve:
        return serve()
    print(f"Soak: {args.customers:,} customers x 10 events through emma dev's write path", flush=True)
    print(HEADER, flush=True)
    result = run(args.customers, args.checkpoint, progress=lambda c: print(row(c), flush=True))
    check = verdict(result)
    print(f"  refused or short requests: {result.refused}; {json.dumps(check)}")
    if args.output:
        args.output.write_text(json.dumps({**result.as_dict(), "verdict": check}, indent=1) + "\n", encoding="utf-8")
        svg(result, args.output.with_suffix(".svg"))
    return 0 if result.refused == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
