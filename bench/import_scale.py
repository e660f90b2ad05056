"""The import at shop scale on the local stack: 100,000 customers and their orders (about 300,000: three years
of a generated shop with about three orders per customer, emma_local.lab.shop_history) through `emma import`
against the local runtime, as a shop would run it against `emma dev`: the customers file stored
(--conclude-later), then the orders file stored and every profile concluded and rescored. Prints and writes the
time of each step, the rates, and the state of the shop afterwards (segment sizes). Not part of `make bench`
(it takes most of an hour on 2 cores):

    python -m bench.import_scale [--customers 100000] [--environments 2] [--parallel 2] [--output FILE.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHOP = "elektro-emma"
KEY = "ak_local_elektro_emma"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--environments", type=int, default=2, help="API execution environments (processes)")
    parser.add_argument("--parallel", type=int, default=2, help="requests in flight")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)

    import requests

    from emma_local.catalog_import import run_import as import_catalog
    from emma_local.config import load_config
    from emma_local.imports import run_import
    from emma_local.lab.shop_history import END, generate, shift, write_emma_customers, write_shopify_orders
    from emma_local.runtime import LocalRuntime

    result: dict[str, Any] = {"customers": args.customers, "environments": args.environments, "parallel": args.parallel}
    work = Path(tempfile.mkdtemp(prefix="emma-import-scale-"))
    os.environ["EMMA_STATE_DIR"] = str(work / "state")
    started = time.monotonic()
    people, orders = generate(args.customers, dropout=(1.0, 4.6))  # about 3 orders per customer
    write_emma_customers(people, work / "generated-customers.csv")
    write_shopify_orders(orders, work / "generated-orders.csv")
    result["orders"] = len(orders)
    result["file_mb"] = {
        "customers": round((work / "generated-customers.csv").stat().st_size / 1e6, 1),
        "orders": round((work / "generated-orders.csv").stat().st_size / 1e6, 1),
    }
    del people, orders
    result["generate_s"] = round(time.monotonic() - started, 1)
    generated = f"{args.customers:,} customers and {result['orders']:,} orders"
    print(f"generated {generated} in {result['generate_s']} s", flush=True)
    rt = LocalRuntime(
        load_config(), port=0, log_level="ERROR", environments=args.environments, schedule=False, tap=False
    ).start()
    try:
        sink = io.StringIO()
        import_catalog(
            ROOT / "events" / "catalog" / "elektro-emma.csv", shop=SHOP, api=rt.api_url, admin_key=KEY, stdout=sink
        )
        src = work / "src"  # the history as generated; then moved so that it was exported on the local clock's day
        src.mkdir()
        (work / "generated-customers.csv").rename(src / "customers.csv")
        (work / "generated-orders.csv").rename(src / "orders.csv")
        shift(src, work / "history", rt.now() - END)
        steps = {}
        for kind, later in (("customers", True), ("orders", False)):
            t = time.monotonic()
            out = io.StringIO()
            code = run_import(
                kind,
                work / "history" / f"{kind}.csv",
                shop=SHOP,
                api=rt.api_url,
                admin_key=KEY,
                conclude_later=later,
                parallel=args.parallel,
                out=out,
            )
            steps[kind] = {"seconds": round(time.monotonic() - t, 1), "exit": code, "output": out.getvalue().strip()}
            print(f"{kind}: {steps[kind]}", flush=True)
            if code != 0:
                break
        result["steps"] = steps
        headers = {"authorization": f"Bearer {KEY}"}
        result["segments"] = requests.get(f"{rt.api_url}/v1/segments", headers=headers, timeout=60).json()["segments"]
        result["rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    finally:
        rt.stop()
    total = sum(s["seconds"] for s in result.get("steps", {}).values())
    result["import_s"] = round(total, 1)
    result["records_per_s"] = round((args.customers + result["orders"]) / total, 1) if total else None
    print(json.dumps({k: v for k, v in result.items() if k != "segments"}, indent=1))
    if args.output:
        args.output.write_text(json.dumps(result, indent=1))
    return 0 if all(s["exit"] == 0 for s in result.get("steps", {}).values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
