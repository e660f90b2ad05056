"""`make bench`: what one ingested event costs Emma, measured.

1. own CPU time per request and per canonical event (real handler, in-memory ports, no AWS);
2. AWS requests per request by service and operation (botocore, against the local emulator);
3. the DynamoDB request units those requests imply (DynamoDB's item-size rules);
4. the cost per million canonical events at the list prices of bench/prices.json;
5. the cold-import time of the ingest handler beside a floor handler;
6. trigger and segment evaluation: CPU per event with 50 triggers and 20 segments (in memory);
7. the rules' scheduled job over 100,000 synthetic profiles: due timers, CPU, DynamoDB units;
8. dispatch: CPU and AWS requests per message;
9. recommendations: hit-rate@5 against popularity on a simulated shop, the model build over 100,000
   customers' baskets, CPU and DynamoDB reads per request with 10,000 products;
12. privacy: DynamoDB requests and units of one GDPR export and one erasure (bench/privacy.py);
13. analytics: the analytics consumer's DynamoDB requests, units and cost per event and per message, and the
    reports' reads (bench/analytics.py);
14. imports: what importing a shop's history (customers, orders, the conclusion passes) costs in AWS per 100,000
    customers (bench/imports.py);
15. campaigns: how fast a campaign's fan-out hands its recipients to the messages queue, and what sending costs in
    AWS per 100,000 recipients: the fan-out, the dispatcher per message, SES (bench/campaigns.py);
16. predictions on real customers: CDNOW (from the lifetimes dev extra), Emma against recency and lifetimes' BG/NBD
    and MBG/NBD, issue 17's targets met or not (bench/predict.py; the 1/10 sample with --quick).
17. incentives: the coupon policies (always, predicted by propensity, by measured uplift, an oracle) on a simulated
    shop under four stated response models: coupons withheld, discount spend saved, conversions kept
    (bench/incentives.py).

Prints a report and writes bench/results.json. bench/README.md explains every figure.
Usage: python bench/run.py [--quick] [--output PATH] [--sections ingest,schedule,...] [--resume]

A run keeps what it has measured in <output>.progress.json after each section; when a section fails, the same
command with `--resume`, at the same clean commit, measures only the sections still missing and writes the whole
results file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402
    analytics,
    cold_import,
    conformance,
    cpu,
    decode,
    dispatch,
    journeys,
    privacy,
    recommend,
    rules,
    schedule,
    soak,
)
from bench import campaigns as campaigns_bench  # noqa: E402
from bench import imports as imports_bench  # noqa: E402  (main()'s `imports` is the cold-import summary)
from bench import incentives as incentives_bench  # noqa: E402
from bench import predict as predict_bench  # noqa: E402
from bench.aws_calls import AwsRun, CaseCalls, sequential_waits  # noqa: E402
from bench.capacity import (  # noqa: E402
    RequestUsage,
    lambda_billed_ms,
    lambda_cpu_share,
    per_million_events,
    request_cost,
)
from bench.payloads import ShopifyOrders, TrackerBatches  # noqa: E402

PRICES = Path(__file__).with_name("prices.json")
RESULTS = Path(__file__).with_name("results.json")

ASSUMPTIONS = {
    "lambda_memory_mb": 1024,  # infra/emma_infra/constructs/functions.py: the ingest function's memory
    "aws_call_latency_ms": 8.0,  # assumed wait per AWS call inside the function (same region, warm connection)
    # calls in flight at the same time (a new customer's aliases claimed at once) are one wait: the overlap is
    # measured (bench.aws_calls.sequential_waits), the wait of each is the one assumed above
    "lambda_cpu_share": None,  # filled in: vCPU fraction at that memory (1,769 MB = 1 vCPU)
    "cpu_equivalence": "one core of this machine is taken as one Lambda arm64 (Graviton) vCPU: not measured",
    "cpu_time_used": "median CPU µs per request with metrics off (the brief's setting)",
    # The publisher function reads the profiles table's stream in batches (up to 100 records, 1 s window): one
    # invocation per ingest request is the worst case (a quiet shop); its CPU is not measured.
    "publisher_invocations_per_request": 1,
    "publisher_memory_mb": 512,  # infra/emma_infra/sizing.py PUBLISHER_FUNCTION_OPTIONS
    "publisher_cpu_ms_assumed": 2.0,  # only where not measured (section 1 measures it: publisher_webhook, _batch)
}

FULL = {
    "webhooks": 2000,
    "webhook_warmup": 200,
    "batches": 200,
    "batch_warmup": 20,
    "reps": 5,
    "import_runs": 7,
    "rules_customers": 1000,
    "rules_events": 400,
    "rules_warmup": 100,
    "rules_reps": 5,
    "schedule_profiles": 100_000,
    "schedule_templates": 2000,
    "recommend_products": 10_000,
    "recommend_customers": 100_000,
    "soak_customers": 100_000,
    "soak_checkpoint": 10_000,
    "conformance_cases": 10_000,
    "analytics_customers": 1000,
    "imports_customers": 2000,
    "campaign_recipients": 8000,
    "campaign_dispatch_sample": 100,
    "predict_data": "cdnow",
    "incentives": "full",
}
QUICK = {
    "webhooks": 300,
    "webhook_warmup": 30,
    "batches": 30,
    "batch_warmup": 5,
    "reps": 2,
    "import_runs": 3,
    "rules_customers": 300,
    "rules_events": 100,
    "rules_warmup": 20,
    "rules_reps": 2,
    "schedule_profiles": 10_000,
    "schedule_templates": 200,
    "recommend_products": 2000,
    "recommend_customers": 20_000,
    "soak_customers": 5_000,
    "soak_checkpoint": 1_000,
    "conformance_cases": 1_000,
    "analytics_customers": 200,
    "imports_customers": 300,
    "campaign_recipients": 1000,
    "campaign_dispatch_sample": 30,
    "predict_data": "cdnow-sample",
    "incentives": "quick",
}

SERVICE_LABELS = {
    "api_gateway": "API Gateway (HTTP API)",
    "lambda_requests": "Lambda requests",
    "lambda_duration": "Lambda duration",
    "dynamodb_writes": "DynamoDB writes (WRU)",
    "dynamodb_reads": "DynamoDB reads (RRU)",
    "eventbridge": "EventBridge PutEvents",
    "secrets_manager": "Secrets Manager",
    "publisher_lambda": "Publisher Lambda (stream)",
}


# ---- environment -------------------------------------------------------------------------------


BENCH_OUTPUTS = ("results.json", "soak.svg", "*.progress.json", "*.progress.tmp")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def environment() -> dict[str, Any]:
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    # what the bench writes itself (results, the soak's plot, progress files) does not make the tree dirty: a run
    # resumed after the soak section measures the same code
    status = _git("status", "--porcelain", "--", ".", *(f":!bench/{own}" for own in BENCH_OUTPUTS))
    return {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_worktree_dirty": bool(status) if status is not None else None,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
    }


# ---- phases ------------------------------------------------------------------------------------


def run_cpu(plan: dict[str, int]) -> dict[str, cpu.CaseResult]:
    shopify, tracker = ShopifyOrders(), TrackerBatches()
    ingest = cpu.InProcessIngest()
    try:
        results = {
            "webhook": cpu.measure(
                ingest,
                "webhook",
                shopify.request,
                requests=plan["webhooks"],
                reps=plan["reps"],
                warmup=plan["webhook_warmup"],
            ),
            "batch": cpu.measure(
                ingest,
                "batch",
                tracker.request,
                requests=plan["batches"],
                reps=plan["reps"],
                warmup=plan["batch_warmup"],
            ),
            "batch_gzip": cpu.measure(
                ingest,
                "batch-gzip",
                tracker.gzipped,
                requests=plan["batches"],
                reps=plan["reps"],
                warmup=plan["batch_warmup"],
            ),
            # As deployed: metrics on, one EMF line flushed per invocation (to a null stdout here).
            "webhook_metrics_on": cpu.measure(
                ingest,
                "webhook-emf",
                shopify.request,
                requests=plan["webhooks"] // 4,
                reps=3,
                warmup=plan["webhook_warmup"] // 4,
                metrics=True,
            ),
            "batch_metrics_on": cpu.measure(
                ingest,
                "batch-emf",
                tracker.request,
                requests=plan["batches"] // 4,
                reps=3,
                warmup=plan["batch_warmup"] // 4,
                metrics=True,
            ),
            # The publisher function's CPU per invocation of one stream record (the outbox of one such request).
            "publisher_webhook": cpu.measure_publisher(
                ingest, "publisher-webhook", shopify.request, requests=plan["webhooks"] // 4, reps=plan["reps"]
            ),
            "publisher_batch": cpu.measure_publisher(
                ingest, "publisher-batch", tracker.request, requests=plan["batches"], reps=plan["reps"]
            ),
        }
    finally:
        ingest.restore()
    return results


def run_aws() -> AwsRun:
    from bench import aws_calls

    shopify, tracker = ShopifyOrders(), TrackerBatches()
    repeat = shopify.request("aws", 1)
    batch = tracker.request("aws", 1)
    requests = {
        "webhook_cold": shopify.request("aws-cold", 0),  # first request of a new execution environment
        "webhook_new_customer": repeat,  # warm: steady state
        "webhook_duplicate": repeat,  # the same delivery again (a Shopify retry)
        "webhook_returning_customer": shopify.request("aws", 1, delivery_id="bench-aws-1-second-order"),
        "batch": batch,  # 20 calls, one invalid, a new visitor who identifies
        "batch_duplicate": batch,  # the same batch again (a tracker retry)
    }
    return aws_calls.run(requests)


# ---- cost --------------------------------------------------------------------------------------


def lambda_time(cpu_us: float, waits: int) -> dict[str, Any]:
    """``waits``: the AWS calls waited for one after the other (calls in flight together count once)."""
    memory = ASSUMPTIONS["lambda_memory_mb"]
    per_call = ASSUMPTIONS["aws_call_latency_ms"]
    return {
        "cpu_us_measured": cpu_us,
        "cpu_ms_at_memory": cpu_us / 1000 / lambda_cpu_share(memory),
        "aws_calls": waits,
        "wait_ms": waits * per_call,
        "billed_ms": lambda_billed_ms(cpu_us, waits, per_call_ms=per_call, memory_mb=memory),
    }


def cost_case(
    case: CaseCalls, cpu_us: float, prices: dict[str, Any], publisher_cpu_us: float | None = None
) -> dict[str, Any]:
    """``publisher_cpu_us``: the publisher function's measured CPU for this request's outbox (else the assumption's
    2 ms at its memory)."""
    timing = lambda_time(cpu_us, case.request_waits)  # calls in flight together are waited for once
    publisher_calls = len(case.publisher_calls)
    if publisher_cpu_us is None:
        publisher_cpu_us = (
            ASSUMPTIONS["publisher_cpu_ms_assumed"] * 1000 * lambda_cpu_share(ASSUMPTIONS["publisher_memory_mb"])
        )
    usage = RequestUsage(
        request_bytes=case.request_bytes,
        lambda_billed_ms=timing["billed_ms"],
        memory_mb=ASSUMPTIONS["lambda_memory_mb"],
        wru=case.units.wru,
        rru=case.units.rru,
        eventbridge_events=case.eventbridge_billed,
        secrets_calls=case.count("secretsmanager"),
        publisher_invocations=ASSUMPTIONS["publisher_invocations_per_request"] if publisher_calls else 0,
        publisher_billed_ms=lambda_billed_ms(
            publisher_cpu_us,
            sequential_waits(case.publisher_calls),
            per_call_ms=ASSUMPTIONS["aws_call_latency_ms"],
            memory_mb=ASSUMPTIONS["publisher_memory_mb"],
        ),
        publisher_memory_mb=ASSUMPTIONS["publisher_memory_mb"],
    )
    per_request = request_cost(usage, prices)
    per_million = per_million_events(per_request, case.events)
    total = sum(per_million.values())
    return {
        "canonical_events_per_request": case.events,
        "lambda": timing,
        "publisher_cpu_us_measured": publisher_cpu_us,
        "usd_per_request": per_request,
        "usd_per_request_total": sum(per_request.values()),
        "usd_per_million_events": per_million,
        "usd_per_million_events_total": total,
        "share": {k: v / total for k, v in per_million.items()},
    }


def cold_start(aws: AwsRun, imports: dict[str, Any], prices: dict[str, Any], cpu_us: float) -> dict[str, Any]:
    cold, warm = aws.cases["webhook_cold"], aws.cases["webhook_new_customer"]
    memory = ASSUMPTIONS["lambda_memory_mb"]
    extra_calls = len(cold.calls) - len(warm.calls)
    extra_ms = extra_calls * ASSUMPTIONS["aws_call_latency_ms"]
    gb_s_price = prices["services"]["lambda_arm64"]["usd_per_gb_second"]
    import_ms = imports["ingest_import_ms_median"]
    secrets = cold.count("secretsmanager") * prices["services"]["secrets_manager"]["usd_per_10k_api_calls"] / 1e4
    return {
        "extra_calls_on_first_request": dict(sorted((cold.by_operation() - warm.by_operation()).items())),
        "extra_wait_ms": extra_ms,
        "handler_import_ms_on_this_machine": import_ms,
        "usd_secrets_manager": secrets,
        "usd_extra_duration": extra_ms / 1000 * memory / 1024 * gb_s_price,
        "usd_import_if_init_billed": import_ms / 1000 / lambda_cpu_share(memory) * memory / 1024 * gb_s_price,
        "note": "per cold start (a new execution environment), not per event; shop secrets are also re-read "
        "every EMMA_SHOP_CACHE_SECONDS (300 s) per warm environment",
    }


# ---- report ------------------------------------------------------------------------------------


def _n(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def _usd(x: float) -> str:
    return f"${x:,.4f}" if x < 10 else f"${x:,.2f}"


def _table(rows: list[list[str]], header: list[str], indent: str = "  ", left: tuple[int, ...] = (0,)) -> str:
    """Columns right-aligned, except those in ``left``."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for n, row in enumerate([header, *rows]):
        cells = [
            str(c).ljust(w) if i in left else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append(indent + "  ".join(cells).rstrip())
        if n == 0:
            lines.append(indent + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


CASE_LABELS = {
    "webhook": "Shopify orders/create webhook",
    "batch": "Tracker /v1/batch (20 calls)",
    "webhook_metrics_on": "  same, EMF metrics on",
    "batch_metrics_on": "  same, EMF metrics on",
    "batch_gzip": "  same, gzip body (RudderStack)",
    "webhook_cold": "webhook, cold (1st request)",
    "webhook_new_customer": "webhook, new customer (warm)",
    "webhook_duplicate": "webhook, same delivery again",
    "webhook_returning_customer": "webhook, returning customer",
    "batch_duplicate": "batch, same batch again",
}


def report(results: dict[str, Any]) -> str:
    env, out = results["environment"], []
    out.append("Emma ingest benchmark")
    out.append(
        f"  {env['date_utc']}  commit {env['git_commit']}"
        + (" (+ uncommitted changes)" if env["git_worktree_dirty"] else "")
        + f"  Python {env['python']}  {env['cpu_model']} x{env['cpu_count']} CPUs"
    )
    at = results.get("measured_at", {})
    if len(set(at.values())) > 1:
        out.append("  sections measured at: " + ", ".join(f"{k} {v}" for k, v in at.items()))

    out.append("\n1. Own CPU time per request (real handler + domain, in-memory ports, no AWS; time.process_time)")
    rows = []
    for key in ("webhook", "webhook_metrics_on", "batch", "batch_metrics_on", "batch_gzip"):
        r = results["cpu"][key]
        req, ev = r["cpu_us_per_request"], r["cpu_us_per_event"]
        rows.append(
            [
                CASE_LABELS[key],
                f"{r['requests_per_repetition']}x{r['repetitions']}",
                _n(r["canonical_events_per_request"]),
                f"{_n(req['min'])} / {_n(req['median'])}",
                f"{_n(ev['min'])} / {_n(ev['median'])}",
            ]
        )
    out.append(
        _table(rows, ["case", "requests x reps", "events/req", "µs/request min / median", "µs/event min / median"])
    )
    out.append("  Each request is a new delivery by a new customer; warm-up requests are not timed.")
    d = results["decode"]
    out.append(
        f"  Decompression alone (timeit, best of 5): the batch ({d['batch_bytes']:,} B, {d['batch_gzip_bytes']:,} B"
        f" gzipped) {_n(d['gzip_us_per_request'], 1)} µs = {_n(d['gzip_us_per_call'], 2)} µs per call"
        f" (uncompressed: {_n(d['identity_us_per_request'], 1)} µs); {d['large_batch']['calls']:,} calls"
        f" ({d['large_batch']['bytes'] / 1e6:.1f} MB) {_n(d['large_batch']['gzip_ms'], 2)} ms; a gzip bomb of"
        f" {d['bomb']['gzip_bytes'] / 1024:.0f} KB (64 MB inflated) refused after"
        f" {_n(d['bomb']['refused_after_cpu_ms'], 1)} ms CPU at the {d['limit_bytes'] // (1024 * 1024)} MB limit."
    )

    out.append("\n2. AWS requests per ingest request (counted in botocore against the local emulator)")
    rows = []
    for name, case in results["aws"]["cases"].items():
        ops = ", ".join(f"{op.split(':')[1]} {n}" for op, n in case["calls_by_operation"].items())
        per_event = "-" if case["calls_per_event"] is None else f"{case['calls_per_event']:.2f}"
        rows.append([CASE_LABELS.get(name, name), str(case["canonical_events"]), str(case["calls"]), per_event, ops])
    out.append(_table(rows, ["case", "events", "calls", "calls/event", "by operation"], left=(0, 4)))
    errors = [e for c in results["aws"]["cases"].values() for e in c["errors"]]
    if errors:
        out.append(f"  errors: {errors}")

    out.append("\n3. DynamoDB request units per request (DynamoDB sizing rules; missing keys read still cost 1 RRU)")
    rows = []
    for name, case in results["aws"]["cases"].items():
        d, events = case["dynamodb"], case["canonical_events"]
        rows.append(
            [
                CASE_LABELS.get(name, name),
                _n(d["wru"]),
                "-" if not events else f"{d['wru'] / events:.2f}",
                _n(d["rru"]),
                "-" if not events else f"{d['rru'] / events:.2f}",
                f"{d['items_read']}/{d['keys_missing']}",
                str(d["items_written"]),
            ]
        )
    out.append(_table(rows, ["case", "WRU", "WRU/event", "RRU", "RRU/event", "read found/missing", "written"]))
    for name in ("webhook_new_customer", "batch"):
        d = results["aws"]["cases"][name]["dynamodb"]
        out.append(f"  WRU by item, {CASE_LABELS[name].strip()}:")
        items = sorted(d["by_item"].items(), key=lambda kv: -kv[1]["wru"])
        for label, u in items:
            if u["wru"]:
                share = u["wru"] / d["wru"] * 100
                out.append(
                    f"    {label:<42} {_n(u['wru']):>5} WRU  {share:4.0f}%  "
                    f"({u['items_written']} items, {_n(u['bytes_written'])} bytes)"
                )

    out.append(
        f"\n4. Cost per million canonical events at list prices ({results['prices']['region']}; "
        f"prices as of {results['prices']['as_of']})"
    )
    a = results["assumptions"]
    out.append(
        f"  Lambda duration = measured CPU time / {a['lambda_cpu_share']:.3f} (vCPU share at {a['lambda_memory_mb']}"
        f" MB) + {a['aws_call_latency_ms']:g} ms per AWS call (assumed), billed per ms at {a['lambda_memory_mb']} MB"
        " arm64."
    )
    cost = results["cost"]
    rows = []
    for key in SERVICE_LABELS:
        rows.append(
            [SERVICE_LABELS[key]]
            + [
                # .get: a results file measured before a service was counted (the publisher) has no line for it
                f"{_usd(cost[c]['usd_per_million_events'].get(key, 0.0))} {cost[c]['share'].get(key, 0.0) * 100:4.0f}%"
                for c in ("webhook", "batch")
            ]
        )
    rows.append(["total"] + [_usd(cost[c]["usd_per_million_events_total"]) for c in ("webhook", "batch")])
    out.append(_table(rows, ["USD per 1M canonical events", "webhook", "batch"]))
    for c in ("webhook", "batch"):
        lam = cost[c]["lambda"]
        out.append(
            f"  {c}: {cost[c]['canonical_events_per_request']} events/request; Lambda billed {lam['billed_ms']} ms ="
            f" {lam['cpu_ms_at_memory']:.1f} ms CPU + {lam['aws_calls']} AWS calls waited for"
            f" x {a['aws_call_latency_ms']:g} ms;"
            f" {_usd(cost[c]['usd_per_request_total'] * 1e6)} per million requests"
        )
    cs = results["cold_start"]
    extra = cs["extra_calls_on_first_request"]
    out.append(
        f"  Cold start (per new execution environment, not per event): +{sum(extra.values())} calls"
        f" ({', '.join(extra)}) ~${cs['usd_secrets_manager'] + cs['usd_extra_duration']:.7f},\n"
        f"  plus the import (section 5) ~${cs['usd_import_if_init_billed']:.7f} as billed INIT time."
    )
    nt = results["not_in_total"]
    out.append(
        f"  Not in the total: CloudWatch Logs for the EMF line ({nt['emf_bytes_per_request']:.0f} bytes/request,"
        f" measured) ~{_usd(nt['cloudwatch_logs_usd_per_million_requests'])} per million requests, plus Lambda's\n"
        "  own log lines; X-Ray traces (sampled); storage, PITR backups, data transfer."
    )

    ci = results["cold_import"]
    out.append(f"\n5. Cold import (fresh interpreter, wall time minus `python -c pass`, median of {ci['runs_each']})")
    rows = [
        ["floor: boto3 + Powertools Logger", _n(ci["floor_import_ms_median"]), "1.00"],
        ["ingest.handler", _n(ci["ingest_import_ms_median"]), f"{ci['ingest_over_floor_ratio']:.2f}"],
    ]
    if "ingest_import_and_first_webhook_ms_median" in ci:  # import, then one webhook against the emulator
        first = ci["ingest_import_and_first_webhook_ms_median"]
        ratio = ci["ingest_import_and_first_webhook_over_floor_ratio"]
        rows.append(["ingest.handler + its first webhook", _n(first), f"{ratio:.2f}"])
    if "floor_import_and_first_request_ms_median" in ci:  # the naive pipeline's handler, its first request
        naive = ci["floor_import_and_first_request_ms_median"]
        ratio = naive / ci["floor_import_ms_median"]
        rows.append(["floor + its first request (2 PutItems, 1 PutEvents)", _n(naive), f"{ratio:.2f}"])
    out.append(_table(rows, ["handler", "ms", "x floor"]))
    if "first_webhook_child_cpu_ms_median" in ci:
        split = ci["first_webhook_child_cpu_ms_median"]
        out.append(
            "  first webhook: a signed Shopify orders/create against the emulator (its answers are in the wall"
            f" time); the handler's own CPU: {split['import_cpu_ms']:.0f} ms import + {split['request_cpu_ms']:.0f} ms"
            " request"
        )
    if "ingest_import_and_first_webhook_over_floor_with_first_request_ratio" in ci:
        naive_cpu = ci["floor_first_request_child_cpu_ms_median"]
        out.append(
            "  ingest.handler + its first webhook over the floor + its first request:"
            f" {ci['ingest_import_and_first_webhook_over_floor_with_first_request_ratio']:.2f}x (the floor's own CPU:"
            f" {naive_cpu['import_cpu_ms']:.0f} ms import + {naive_cpu['request_cpu_ms']:.0f} ms request)"
        )
    out.append(f"  interpreter start-up (subtracted): {ci['interpreter_start_ms_median']:.0f} ms")

    out.append(report_rules(results["rules"]))
    out.append(report_schedule(results["schedule"]))
    out.append(journeys.report(results["journeys"]))
    out.append(dispatch.report(results["dispatch"]))
    out.append(recommend.report(results["recommend"]))
    out.append(soak.report(results["soak"]))
    out.append(conformance.report(results["conformance"]))
    out.append(privacy.report(results["privacy"]))
    if "analytics" in results:
        out.append(analytics.report(results["analytics"]))
    if "imports" in results:
        out.append(imports_bench.report(results["imports"]))
    if "campaigns" in results:
        out.append(campaigns_bench.report(results["campaigns"]))
    if "predict" in results:
        out.append(predict_bench.report(results["predict"]))
    if "incentives" in results:
        out.append(incentives_bench.report(results["incentives"]))

    out.append("\nFindings")
    out.extend(f"  - {f}" for f in results["findings"])
    out.append(f"\nRun took {results['run_seconds']:.0f} s. Wrote {results['output']}.")
    return "\n".join(out)


def _mix(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k} {_n(v)}" for k, v in counts.items())


def report_rules(r: dict[str, Any]) -> str:
    d, cpu_us, per = r["definitions"], r["cpu_us_per_event"], r["per_event"]
    out = [
        f"\n6. Trigger and segment evaluation per event ({d['triggers']} triggers, {d['segments']} segments; "
        "in memory; time.process_time)",
        f"  {d['triggers']} triggers ({d['absence_triggers']} absence, {d['with_cooldown']} with cooldown,"
        f" {d['once']} once) and {d['segments']} segments ({d['lifecycle_stages']} lifecycle stages):"
        " the shipped ones + generated variants.",
        f"  {_n(r['customers'])} synthetic customers with two years of history (profile JSON mean"
        f" {_n(r['profile_json_bytes']['mean'])} bytes, max {_n(r['profile_json_bytes']['max'])}), each evaluated once"
        f" before; then {r['repetitions']} x {r['events_per_repetition']} stream events (after {r['warmup_events']}"
        " untimed), each ingested untimed first:",
        f"  {_mix(r['stream_mix'])}",
    ]

    def mm(key: str) -> str:
        return f"{_n(cpu_us[key]['min'])} / {_n(cpu_us[key]['median'])}"

    segments = cpu_us["evaluation_segments_only"]["median"]
    triggers = cpu_us["evaluation_triggers_and_segments"]["median"] - segments
    rest = cpu_us["on_event_minus_evaluation_and_load"]["median"]
    rows = [
        ["RulesService.on_event, in-memory store (all of it)", mm("on_event")],
        ["  (a) pure evaluation: predictions + evaluate_event", mm("evaluation")],
        ["      predictions: score_profile + its JSON dump", mm("evaluation_scoring")],
        ["      segments: evaluate_segments (20, lifecycle, RFM, next review)", mm("evaluation_segments_only")],
        ["      triggers listening to the event (evaluate_event minus segments)", f"- / {_n(triggers)}"],
        ["  profile load: Profile.model_validate of the stored document", mm("profile_load")],
        ["  one deep copy of the derived state (on_event makes 3 in memory)", mm("derived_deep_copy")],
        ["  the rest: derived-state copies, outbox events, commit, publish", f"- / {_n(rest)}"],
    ]
    out.append(_table(rows, ["part", "µs/event min / median"]))
    out.append(
        f"  Per event: {per['triggers_fired']:.2f} triggers fired, {per['absence_triggers_armed']:.2f} absence"
        f" triggers armed, {per['segments_entered']:.3f} segments entered, {per['segments_left']:.3f} left,"
        f" {per['events_published']:.2f} events published.\n"
        f"  Section took {r['run_s']:.0f} s (setup {r['setup_s']:.0f} s)."
    )
    return "\n".join(out)


def report_schedule(r: dict[str, Any]) -> str:
    run, db, setup, x = r["run"], r["dynamodb"], r["setup"], r["extrapolated_1m"]
    out = [
        f"\n7. The scheduled job over {_n(r['profiles'])} synthetic profiles (RulesService.on_schedule, in-memory"
        " store; store calls counted as DynamoDB requests)",
        f"  Setup (fast path): {_n(r['templates'])} customers through a simulated week"
        f" ({_n(setup['simulated_week_events'])} events, {setup['simulated_week_runs']} hourly runs,"
        f" {_n(setup['simulated_week_evaluations'])} evaluations),"
        f" each cloned {r['clones_per_template']}x; {_n(setup['timers_scheduled'])} timers scheduled.",
        f"  The run: clock + 1 day ({run['since'][:16]} -> {run['now'][:16]}), one on_schedule():",
    ]
    causes = ", ".join(f"{k} {_n(v)}" for k, v in run["timers_due_by_cause"].items())
    stale = sum(run["timers_stale"].values())
    out.append(f"    timers due       {_n(run['timers_due'])} ({causes}); {_n(stale)} of them stale (superseded)")
    out.append(
        f"    profiles read    {_n(run['profiles_loaded'])} ({_n(run['profiles_distinct'])} distinct) ="
        f" {run['fraction_of_profiles_touched'] * 100:.1f}% of the {_n(r['profiles'])} profiles"
    )
    refit = f", of which the daily prior refit {run['cpu_s_prior_refit']:.2f} s" if run["prior_refit"] else ""
    out.append(f"    CPU              {run['cpu_s']:.1f} s{refit}; {_n(run['cpu_us_per_timer'])} µs per due timer")
    out.append(
        f"    published        {_n(run['events_published'])} events ({_n(run['triggers_fired'])} triggers fired,"
        f" {_n(run['segments_entered'])} segments entered, {_n(run['segments_left'])} left)"
    )
    out.append(f"    DynamoDB requests {_n(db['requests_total'])}: {_mix(db['requests'])}")
    rows = [[k, f"{v:,.1f}"] for k, v in db["rru"].items()] + [["total", f"{db['rru_total']:,.1f}"]]
    out.append(_table(rows, ["reads (RRU)", "RRU"], indent="    "))
    rows = [[k, f"{v:,.0f}"] for k, v in db["wru"].items()] + [["total", f"{db['wru_total']:,.0f}"]]
    out.append(_table(rows, ["writes (WRU; not asked for, for scale)", "WRU"], indent="    "))
    b = db["bytes"]
    out.append(
        f"    item sizes: profile {_n(b['profile_item_mean'])} B, derived {_n(b['derived_item_read_mean'])} B,"
        f" timer {_n(b['timer_item_mean'])} B (means); per due timer {r['per_timer']['rru_load']:.2f} RRU to load,"
        f" {r['per_timer']['wru']:.2f} WRU in all"
    )
    usd = r["usd_dynamodb"]
    out.append(
        f"    at on-demand list prices: {_usd(usd['reads'] + usd['writes'])} for the run's DynamoDB requests"
        f" (reads {_usd(usd['reads'])}, writes {_usd(usd['writes'])}); at 1M profiles"
        f" {_usd(usd['reads_1m'] + usd['writes_1m'])} a day"
    )
    out.append("  Timers already scheduled per day ahead, with no new events (the first day is the run above):")
    rows = [
        [day, _n(v["timers"]), _n(v["profiles"]), f"{v['profiles'] / r['profiles'] * 100:.1f}%"]
        for day, v in setup["timers_due_by_day_ahead"].items()
    ]
    out.append(_table(rows, ["day", "timers", "profiles", "of all"], indent="    "))
    week = r["week_ahead"]
    out.append(
        f"    {_n(week['timers_scheduled_next_7_days'])} timers in 7 days, {_n(week['timers_per_day_mean'])} a day on"
        " average (a lower bound: each run schedules the next reviews, and new events arm and re-schedule)"
    )
    out.append(
        f"  Extrapolated to {_n(x['profiles'])} profiles (linear in due timers; same mix): {_n(x['timers_due'])} timers"
        f" due a day, {x['cpu_s']:,.0f} s CPU, {_n(x['query_requests'])} Query requests, {_n(x['rru_total'])} RRU"
        f" ({_n(x['rru_loads'])} loading profiles), {_n(x['wru_total'])} WRU.\n"
        f"  Reading every profile once instead would cost {_n(x['rru_if_every_profile_were_read'])} RRU each time."
        f" Deployed, the job runs every {r['deployed_cadence']['rate_minutes']} min:"
        f" {_n(r['deployed_cadence']['fixed_queries_per_day'])} Queries a day however few timers are due"
        f" (>= {_n(r['deployed_cadence']['fixed_rru_per_day_min'])} RRU).\n"
        f"  Section took {r['run_s']:.0f} s (simulated week {r['setup']['simulated_s']:.0f} s, clones"
        f" {r['setup']['cloned_s']:.0f} s, sizing {r['metered_s']:.0f} s)."
    )
    return "\n".join(out)


def findings(results: dict[str, Any]) -> list[str]:
    found = []
    for c in ("webhook", "batch"):
        cost = results["cost"][c]
        top = max(cost["share"], key=cost["share"].get)
        found.append(
            f"{c}: {SERVICE_LABELS[top]} is {cost['share'][top] * 100:.0f}% of the cost per event "
            f"({_usd(cost['usd_per_million_events'][top])} of {_usd(cost['usd_per_million_events_total'])}"
            " per million)."
        )
    for name in ("webhook_new_customer", "webhook_returning_customer", "batch"):
        d = results["aws"]["cases"][name]["dynamodb"]
        if not d["wru"]:
            continue
        label = CASE_LABELS[name].strip()
        mark = d["by_item"].get("BatchWriteItem idempotency record", {}).get("wru", 0)
        if mark:
            found.append(
                f"{label}: marking events published re-writes every idempotency record in a second "
                f"BatchWriteItem: {mark:g} of {d['wru']:g} WRU ({mark / d['wru'] * 100:.0f}%) and one more call."
            )
        if d["unchanged_alias_puts"]:
            found.append(
                f"{label}: {d['unchanged_alias_puts']} alias item(s) already pointing at the profile were "
                f"re-written in the transaction: {d['unchanged_alias_wru']:g} WRU "
                f"({d['unchanged_alias_wru'] / d['wru'] * 100:.0f}%) that change nothing but updated_at."
            )
    batch = results["aws"]["cases"]["batch"]
    tx = batch["calls_by_operation"].get("dynamodb:TransactWriteItems", 0)
    if tx > 1:
        profile = batch["dynamodb"]["by_item"].get("TransactWriteItems profile", {})
        found.append(
            f"batch: the calls form {tx} runs of differing customer references, so the profile is looked up, "
            f"read and written {tx} times in one request ({profile.get('wru', 0):g} WRU for "
            f"{profile.get('items_written', 0)} profile writes)."
        )
    log = batch["dynamodb"]["by_item"].get("TransactWriteItems event log entry", {})
    if log.get("wru"):
        found.append(
            f"batch: event log entries (the event as compressed JSON, avg "
            f"{log['bytes_written'] / log['items_written']:.0f} bytes an item) cost "
            f"{log['wru'] / log['items_written']:g} WRU each inside the transaction (1 KB units, doubled): "
            f"{log['wru']:g} of {batch['dynamodb']['wru']:g} WRU."
        )
    found += rules_findings(results["rules"], results["schedule"])
    found += recommend.findings(results["recommend"])
    found += privacy.findings(results["privacy"])
    if "analytics" in results:
        found += analytics.findings(results["analytics"])
    if "imports" in results:
        found += imports_bench.findings(results["imports"])
    if "campaigns" in results:
        found += campaigns_bench.findings(results["campaigns"])
    if "predict" in results:
        found += predict_bench.findings(results["predict"])
    if "incentives" in results:
        found += incentives_bench.findings(results["incentives"])
    return found


def rules_findings(rules_run: dict[str, Any], sched: dict[str, Any]) -> list[str]:
    found = []
    cpu_us = rules_run["cpu_us_per_event"]
    on, pure = cpu_us["on_event"]["median"], cpu_us["evaluation"]["median"]
    segments, load = cpu_us["evaluation_segments_only"]["median"], cpu_us["profile_load"]["median"]
    found.append(
        f"rules: segments dominate the evaluation: evaluate_segments is {segments:.0f} of the {pure:.0f} µs per event"
        f" ({segments / pure * 100:.0f}%): every segment (and when it can next change) is evaluated on every event,"
        f" while only the triggers listening to the event's type are; predictions take"
        f" {cpu_us['evaluation_scoring']['median']:.0f} µs."
    )
    copy = cpu_us["derived_deep_copy"]["median"]
    found.append(
        f"rules: the pure evaluation is {pure / on * 100:.0f}% of on_event ({on:,.0f} µs); validating the profile"
        f" document takes {load:.0f} µs ({load / on * 100:.0f}%), and the remaining"
        f" {cpu_us['on_event_minus_evaluation_and_load']['median']:.0f} µs go mostly to copies of the derived state"
        f" ({copy:.0f} µs each, 3 per event with the in-memory store: {3 * copy:.0f} µs), the outbox events and the"
        " commit."
    )
    run, db, x = sched["run"], sched["dynamodb"], sched["extrapolated_1m"]
    found.append(
        f"schedule: one day's run read {_n(run['profiles_distinct'])} of {_n(sched['profiles'])} profiles"
        f" ({run['fraction_of_profiles_touched'] * 100:.1f}%), those with a due timer, for {_n(db['rru_total'])} RRU;"
        f" at 1M profiles {_n(x['rru_total'])} RRU for such a day against {_n(x['rru_if_every_profile_were_read'])}"
        " for reading every profile once."
    )
    days = sched["setup"]["timers_due_by_day_ahead"]
    peak_day, peak = max(days.items(), key=lambda kv: kv[1]["profiles"])
    share = peak["profiles"] / sched["profiles"]
    if share > 2 * run["fraction_of_profiles_touched"]:
        found.append(
            f"schedule: the day measured is a quiet one: {share * 100:.0f}% of all profiles are already due"
            f" on {peak_day} ({_n(peak['timers'])} timers; {_n(sched['week_ahead']['timers_per_day_mean'])} a day"
            f" on average over the week against {_n(run['timers_due'])} measured), a week after the newsletter went"
            " to every subscriber:"
            " its delivery re-set their review (prediction-based segments re-score every profile weekly, even"
            " anonymous ones with no order) and armed absence triggers (not opened within 7 / 30 days)."
        )
    stale = sum(run["timers_stale"].values())
    if stale:
        found.append(
            f"schedule: {_n(stale)} of {_n(run['timers_due'])} due timers were stale (superseded by a later review time"
            f" or arm): each still costs a load; {_n(run.get('superseded', 0))} reviews the derived state no longer"
            " named were skipped without an evaluation or a write (timers are not deleted when superseded)."
        )
    usd = sched["usd_dynamodb"]
    write_share = usd["writes"] / (usd["reads"] + usd["writes"])
    items = sorted(db.get("wru_by_item", {}).items(), key=lambda kv: -kv[1]["wru"])[:4]
    parts = ", ".join(f"{name} {v['wru'] / max(1, run['timers_due']):.2f}" for name, v in items)
    found.append(
        f"schedule: writes dominate the job's DynamoDB cost: {sched['per_timer']['wru']:.2f} WRU per due timer"
        f" ({parts}) against {sched['per_timer']['rru_load']:.1f} RRU to load it; {write_share * 100:.0f}% of the"
        " run's DynamoDB cost."
    )
    return found


# ---- main --------------------------------------------------------------------------------------


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def show_section(
    section: str,
    result: dict[str, Any],
    text: str,
    found: list[str],
    prefixes: str | tuple[str, ...],
    *,
    output: Path | None,
    merge: bool,
) -> None:
    """What ``python -m bench.<section>`` does with its figures: prints the report and the findings, writes the
    figures as JSON to ``output`` if given, and with ``merge`` puts them into bench/results.json (merge_section)."""
    print(text)
    print("\nFindings")
    print("\n".join(f"  - {f}" for f in found))
    if output:
        output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    if merge:
        merge_section(section, result, found, prefixes)
        print(f"Merged into {RESULTS.name}.")


def merge_section(
    section: str, result: dict[str, Any], found: list[str], prefixes: str | tuple[str, ...], path: Path = RESULTS
) -> None:
    """One section measured alone (``python -m bench.<section> --merge``), put into a full run's results: the
    section's figures, and its findings (those starting with ``prefixes``) replaced; the rest of the file stays
    as that run left it."""
    data = json.loads(path.read_text())
    data[section] = _rounded(result)
    data["findings"] = [f for f in data.get("findings", []) if not f.startswith(prefixes)] + found
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# Each section: what it measures, as (the keys it puts into results.json, the function measuring them). `ingest`
# measures sections 1-4 of the report together (CPU, decompression, AWS calls, cost); cost and the cold start are
# derived from them and the cold import wherever those were measured.
SECTIONS = (
    "cold_import",
    "ingest",
    "rules",
    "schedule",
    "journeys",
    "dispatch",
    "recommend",
    "soak",
    "conformance",
    "privacy",
    "analytics",
    "imports",
    "campaigns",
    "predict",
    "incentives",
)


def _phase(label: str) -> float:
    print(f"  {label} ...", flush=True)
    return time.perf_counter()


def measure_section(name: str, plan: dict[str, Any], prices: dict[str, Any], output: Path | None) -> dict[str, Any]:
    """Measures one section; returns the keys it sets in results.json."""
    if name == "cold_import":
        _phase("cold imports")
        return {"cold_import": cold_import.measure(plan["import_runs"]).summary()}
    if name == "ingest":
        _phase("CPU time, in-process")
        cpu_results = run_cpu(plan)
        _phase("the decompression path (gzip bodies)")
        decode_run = decode.measure()
        _phase("AWS calls against the local emulator")
        aws = run_aws()
        cpu_summary = {k: v.summary() for k, v in cpu_results.items()}
        cost = {
            "webhook": cost_case(
                aws.cases["webhook_new_customer"],
                cpu_summary["webhook"]["cpu_us_per_request"]["median"],
                prices,
                cpu_summary["publisher_webhook"]["cpu_us_per_request"]["median"],
            ),
            "batch": cost_case(
                aws.cases["batch"],
                cpu_summary["batch"]["cpu_us_per_request"]["median"],
                prices,
                cpu_summary["publisher_batch"]["cpu_us_per_request"]["median"],
            ),
        }
        for key in ("webhook", "batch"):
            if cost[key]["canonical_events_per_request"] != cpu_results[key].events_per_request:
                raise RuntimeError(f"{key}: the emulator run and the CPU run disagree on events per request")
        emf_bytes = statistics.mean(
            [
                cpu_results["webhook_metrics_on"].stdout_bytes_per_request,
                cpu_results["batch_metrics_on"].stdout_bytes_per_request,
            ]
        )
        logs_price = prices["not_in_the_total"]["cloudwatch_logs"]["usd_per_gb_ingested"]
        return {
            "cpu": cpu_summary,
            "decode": decode_run,
            "aws": {
                "emulator_startup_s": aws.startup_s,
                "cases": {name: case.summary() for name, case in aws.cases.items()},
                "_run": aws,  # for the cold start below; not written
            },
            "cost": cost,
            "not_in_total": {
                "emf_bytes_per_request": emf_bytes,
                "cloudwatch_logs_usd_per_million_requests": emf_bytes / 1024**3 * logs_price * 1e6,
            },
        }
    started = time.perf_counter()
    if name == "rules":
        _phase("rules: trigger and segment evaluation per event")
        run = rules.measure(
            ROOT,
            customers=plan["rules_customers"],
            events=plan["rules_events"],
            reps=plan["rules_reps"],
            warmup=plan["rules_warmup"],
        ).summary()
    elif name == "schedule":
        _phase(f"rules: the scheduled job over {plan['schedule_profiles']:,} profiles")
        run = schedule.measure(ROOT, profiles=plan["schedule_profiles"], templates=plan["schedule_templates"])
        ddb = prices["services"]["dynamodb_on_demand"]
        rru_usd, wru_usd = ddb["usd_per_million_rru"] / 1e6, ddb["usd_per_million_wru"] / 1e6
        run["usd_dynamodb"] = {
            "reads": run["dynamodb"]["rru_total"] * rru_usd,
            "writes": run["dynamodb"]["wru_total"] * wru_usd,
            "reads_1m": run["extrapolated_1m"]["rru_total"] * rru_usd,
            "writes_1m": run["extrapolated_1m"]["wru_total"] * wru_usd,
        }
    elif name == "journeys":
        _phase("journeys: the smartphone onboarding for four customers on the local runtime")
        run = journeys.measure(prices)
    elif name == "dispatch":
        _phase("dispatch: CPU per message in memory, AWS requests per message against the emulator")
        run = dispatch.measure()
    elif name == "recommend":
        _phase(
            f"recommendations: evaluation, model over {plan['recommend_customers']:,} baskets, CPU and DynamoDB"
            " reads per request"
        )
        run = recommend.measure(products=plan["recommend_products"], customers=plan["recommend_customers"])
        run["dynamodb"]["usd_reads_per_million_requests"] = (
            run["dynamodb"]["rru_per_request_mean"] * prices["services"]["dynamodb_on_demand"]["usd_per_million_rru"]
        )
    elif name == "soak":
        _phase(
            f"soak: emma dev's write path, {plan['soak_customers']:,} customers x 10 events"
            f" (a line every {plan['soak_checkpoint']:,})"
        )
        print(soak.HEADER, flush=True)
        result = soak.run(
            plan["soak_customers"], plan["soak_checkpoint"], progress=lambda c: print(soak.row(c), flush=True)
        )
        run = {**result.as_dict(), "verdict": soak.verdict(result)}
        if output is not None:
            soak.svg(result, output.with_name("soak.svg"))
    elif name == "conformance":
        _phase(f"the OpenAPI document against the local API: {plan['conformance_cases']:,} generated cases")
        run = conformance.measure(plan["conformance_cases"])
    elif name == "privacy":
        _phase("privacy: one GDPR export and one erasure of two customers against the emulator")
        run = privacy.measure(prices)
    elif name == "analytics":
        _phase("analytics: the consumer's DynamoDB cost per event and per message, the reports' reads")
        run = analytics.measure(prices, analytics.Plan(customers=plan["analytics_customers"]))
    elif name == "imports":
        _phase(f"imports: a history of {plan['imports_customers']:,} customers imported, scaled to 100,000")
        run = imports_bench.measure(prices, imports_bench.Plan(customers=plan["imports_customers"]))
    elif name == "campaigns":
        _phase(
            f"campaigns: the weekly newsletter's fan-out to {plan['campaign_recipients']:,} recipients and"
            f" {plan['campaign_dispatch_sample']} of its messages dispatched, scaled to 100,000"
        )
        run = campaigns_bench.measure(
            prices,
            campaigns_bench.Plan(
                recipients=plan["campaign_recipients"], dispatch_sample=plan["campaign_dispatch_sample"]
            ),
        )
    elif name == "predict":
        _phase(f"predictions on real customers: CDNOW ({plan['predict_data']}) against BG/NBD and recency")
        run = predict_bench.measure(plan["predict_data"])
    elif name == "incentives":
        _phase("incentives: the coupon policies on a simulated shop with known response models")
        run = incentives_bench.measure(
            **(incentives_bench.FULL if plan["incentives"] == "full" else incentives_bench.QUICK)
        )
    else:
        raise ValueError(f"unknown section {name!r}; the sections are {', '.join(SECTIONS)}")
    if name in {"rules", "schedule", "journeys", "dispatch", "soak", "privacy", "analytics", "imports"}:
        run["run_s"] = time.perf_counter() - started
    return {name: run}


def _sections(text: str | None) -> list[str]:
    if not text:
        return list(SECTIONS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise SystemExit(f"bench: unknown section(s) {', '.join(unknown)}; the sections are {', '.join(SECTIONS)}")
    return [n for n in SECTIONS if n in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations, to try the benchmark out")
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the results (default bench/results.json; --quick writes nothing unless given)",
    )
    parser.add_argument(
        "--sections",
        help="comma-separated sections to measure (" + ", ".join(SECTIONS) + "); the others are kept as the"
        " results file has them, and each section records the commit it was measured at (measured_at)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="take the sections an interrupted run of this commit kept in <output>.progress.json, measure the rest",
    )
    args = parser.parse_args(argv)
    names = _sections(args.sections)
    output = args.output or (None if args.quick else RESULTS)
    plan = QUICK if args.quick else FULL
    started = time.perf_counter()
    prices = json.loads(PRICES.read_text())
    ASSUMPTIONS["lambda_cpu_share"] = lambda_cpu_share(ASSUMPTIONS["lambda_memory_mb"])

    partial = len(names) < len(SECTIONS)
    results: dict[str, Any] = {}
    if partial:  # the sections not measured now: as the output file has them, else as bench/results.json has them
        for path in (output, RESULTS):
            if path is not None and path.exists():
                results = json.loads(path.read_text())
                if "environment" in results:
                    break
    env = environment()
    print(
        f"Emma benchmark ({'quick' if args.quick else 'full'} run" + (f"; {', '.join(names)}" if partial else "") + ")",
        flush=True,
    )
    measured_at = dict(results.get("measured_at", {}))
    progress = Progress(output, env, "quick" if args.quick else "full", names)
    kept = progress.resume() if args.resume else progress.start()
    if args.resume:
        print(f"Resuming: {', '.join(kept) or 'nothing'} kept from {progress.path}", flush=True)
    aws_run: AwsRun | None = None
    for name in names:
        if name in kept:
            results.update(kept[name]["figures"])
            measured_at[name] = kept[name]["measured_at"]
            continue
        try:
            got = measure_section(name, plan, prices, output)
        except BaseException:
            missing = [n for n in names if n not in progress.sections and n != name]
            kept_note = (
                f"the sections measured so far are kept in {progress.path} (the same command with --resume, at this"
                f" commit, measures {', '.join([name, *missing])} only)"
                if progress.path is not None
                else "nothing is kept (a run without an output file writes nothing)"
            )
            print(f"\nbench: the {name} section failed; {kept_note}", file=sys.stderr, flush=True)
            raise
        if "aws" in got:
            aws_run = got["aws"].pop("_run")
        so_far = results | got
        if aws_run is not None and "cold_import" in so_far:
            webhook_cpu = so_far["cpu"]["webhook"]["cpu_us_per_request"]["median"]
            got["cold_start"] = cold_start(aws_run, so_far["cold_import"], prices, webhook_cpu)
            aws_run = None
        results.update(got)
        measured_at[name] = env["git_commit"] + (" (dirty)" if env["git_worktree_dirty"] else "")
        progress.keep(name, got, measured_at[name])
    results.update(
        {
            "environment": env,
            "measured_at": {n: measured_at[n] for n in SECTIONS if n in measured_at},
            "assumptions": ASSUMPTIONS,
            "prices": {k: prices[k] for k in ("as_of", "region", "currency", "note")} | {"file": "bench/prices.json"},
            "output": str(output.relative_to(ROOT) if output and output.is_relative_to(ROOT) else output),
        }
    )
    results["findings"] = findings(results)
    results["run_seconds"] = time.perf_counter() - started
    text = report(results)
    print()
    print(text)
    if output is not None:
        output.write_text(json.dumps(_rounded(results), indent=2, ensure_ascii=False) + "\n")
    progress.done()
    return 0


class Progress:
    """The sections a run has measured so far, written after each one to ``<output>.progress.json`` (a run
    without an output keeps nothing), so that a section failing an hour into a full run loses only itself:
    ``--resume`` takes back the sections of a run of the same clean commit, plan and sections. Removed when the
    run has written its results."""

    def __init__(self, output: Path | None, env: dict[str, Any], plan: str, names: list[str]) -> None:
        self.path = output.with_suffix(".progress.json") if output is not None else None
        self.commit = None if env["git_worktree_dirty"] is not False else env["git_commit"]
        self.plan, self.names = plan, list(names)
        self.sections: dict[str, dict[str, Any]] = {}

    def start(self) -> dict[str, dict[str, Any]]:
        """A run without --resume starts afresh; it says so when it replaces what another run kept."""
        if self.path is not None and self.path.exists():
            try:
                kept = ", ".join(json.loads(self.path.read_text()).get("sections", {})) or "nothing"
            except ValueError:
                kept = "unreadable"
            print(f"bench: replacing {self.path} (it kept: {kept}; --resume would have taken them)", flush=True)
        return {}

    def resume(self) -> dict[str, dict[str, Any]]:
        if self.path is None:
            raise SystemExit("bench: --resume needs an output file (a quick run writes none unless --output is given)")
        if not self.path.exists():
            return {}
        kept = json.loads(self.path.read_text())
        mine = (self.commit, self.plan, self.names)
        theirs = (kept.get("commit"), kept.get("plan"), kept.get("names"))
        if self.commit is None or mine != theirs:
            raise SystemExit(
                f"bench: {self.path} was kept by a {theirs[1]} run of {', '.join(theirs[2] or [])} at {theirs[0]};"
                f" this is a {self.plan} run of {', '.join(self.names)} at {self.commit or 'a dirty worktree'}: resume"
                " the same command at the same clean commit"
            )
        self.sections = dict(kept["sections"])
        return self.sections

    def keep(self, name: str, figures: dict[str, Any], measured_at: str) -> None:
        if self.path is None:
            return
        self.sections[name] = {"figures": figures, "measured_at": measured_at}
        data = {"commit": self.commit, "plan": self.plan, "names": self.names, "sections": self.sections}
        scratch = self.path.with_suffix(".tmp")
        scratch.write_text(json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n")
        scratch.replace(self.path)

    def done(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
