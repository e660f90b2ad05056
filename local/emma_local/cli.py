"""`emma`: the command line. dev (serve the API locally), demo (replay events/), schema (write the
JSON Schema, OpenAPI and data model documents to docs/), sign (sign a webhook body for curl), replay (dead-letter
queues back to their queues)."""

from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from emma.rules.loader import DefinitionError
from emma_local.config import ROOT, ConfigError, load_config
from emma_local.documents import StaleDocument


def _cmd_dev(args: argparse.Namespace) -> int:
    from emma_local.runtime import LocalRuntime

    config = load_config(args.config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    runtime = LocalRuntime(
        config,
        port=args.port,
        log_level=args.log_level,
        environments=args.environments,
        speedup=args.speedup,
        timeout_seconds=args.timeout,
        tap=False,
    ).start()
    shop = config.shops[0]
    print(f"Emma is serving {runtime.api_url} (config: {config.path})")
    print(f"  shops: {', '.join(s.shop for s in config.shops)}")
    print(
        f"  try:   curl -s {runtime.api_url}/v1/profiles/lena.schmidt@example.de "
        f"-H 'Authorization: Bearer {shop.admin_keys[0] if shop.admin_keys else '<admin key>'}'"
    )
    print(f"  AWS:   the emulator at {runtime.emulator.endpoint} (emma replay --local --endpoint-url ...)")
    print("  stop:  Ctrl-C", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        # Wake up twice a second: a signal the kernel hands to another thread (the runtime has dozens) does not
        # interrupt a wait without a timeout, and Python runs its handler only when the main thread wakes.
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        # Stopping takes seconds; one that hangs prints every thread's stack and ends the process.
        faulthandler.dump_traceback_later(12, exit=True)
        runtime.stop()
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from emma_local.demo import run_demo

    return run_demo(load_config(args.config), events_dir=args.events, serve=args.serve, port=args.port)


def _cmd_schema(args: argparse.Namespace) -> int:
    from emma_local.documents import write_documents

    for path in write_documents(args.out, check=args.check):
        print(f"{'up to date' if args.check else 'wrote'} {path}")
    return 0


def _cmd_rules_validate(args: argparse.Namespace) -> int:
    from emma.campaigns.loader import load_campaigns
    from emma.journeys.loader import load_journeys
    from emma.rules.loader import load_definitions
    from emma.templates.loader import load_templates

    defs = load_definitions(args.root)
    journeys = load_journeys(args.root, defs)
    campaigns = load_campaigns(args.root, defs, journeys, load_templates(args.root))
    kinds: dict[str, int] = {}
    for segment in defs.segments:
        kinds[segment.kind] = kinds.get(segment.kind, 0) + 1
    print(
        f"{len(defs.triggers)} triggers, {len(defs.segments)} segments "
        f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}), {len(journeys)} journeys, "
        f"{len(campaigns)} campaigns: all valid"
    )
    return 0


def _cmd_templates_validate(args: argparse.Namespace) -> int:
    from emma.journeys.loader import load_journeys
    from emma.rules.loader import load_definitions
    from emma.templates.loader import load_templates

    templates = load_templates(args.root)
    load_journeys(args.root, load_definitions(args.root), templates)  # every template a journey sends exists
    for name in sorted(templates.names()):
        t = templates.get("", name) if name in templates.templates else None
        channels = ", ".join(t.channels) if t else "shop-specific"
        print(f"{name}: {channels}: valid")
    overrides = {s: sorted(o.templates) for s, o in templates.shops.items() if o.templates or o.layouts}
    print(
        f"{len(templates.names())} templates, {len(templates.layouts)} layouts, shop overrides: {overrides or 'none'}"
    )
    return 0


def _cmd_templates_preview(args: argparse.Namespace) -> int:
    from emma_local.preview import preview

    for path in preview(
        args.name, args.profile, shop=args.shop, locale=args.locale, channel=args.channel, out=args.out, root=args.root
    ):
        print(path)
    return 0


def _load_journeys(root: Path, name: str | None = None) -> list:
    from emma.journeys.loader import load_journeys
    from emma.rules.loader import load_definitions

    journeys = load_journeys(root, load_definitions(root))
    if name is None:
        return journeys
    chosen = [j for j in journeys if j.id == name]
    if not chosen:
        raise ConfigError(f"no journey {name!r} in {root / 'journeys'} (journeys: {', '.join(j.id for j in journeys)})")
    return chosen


def _cmd_journeys_validate(args: argparse.Namespace) -> int:
    from emma.journeys.loader import collisions

    journeys = _load_journeys(args.root)
    for journey in journeys:
        entry = f"trigger {journey.entry.trigger}" if journey.entry.trigger else f"segment {journey.entry.segment}"
        print(f"{journey.id}: {len(journey.steps)} steps, entry {entry}: valid")
    found = collisions(journeys)
    for collision in found:
        print(f"collision: {collision}")
    if found:
        print(
            f"{len(found)} pair(s) of journeys can message the same customer at once: give them an exclusive group "
            "(journeys/_groups.yaml), an exclusion (excludes:) or an allowance (allows:)"
            + ("" if args.strict else "; --strict fails on this")
        )
        return 1 if args.strict else 0
    print("no collisions: every pair of marketing journeys has a group, an exclusion or an allowance between them")
    return 0


def _cmd_journeys_compile(args: argparse.Namespace) -> int:
    from emma.journeys.compile import compile_journey

    for journey in _load_journeys(args.root, args.name):
        text = json.dumps(compile_journey(journey), indent=2, sort_keys=True) + "\n"
        if args.out is None:
            print(text, end="")
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{journey.id}.asl.json").write_text(text, encoding="utf-8")
        print(f"wrote {args.out / (journey.id + '.asl.json')}")
    return 0


def _cmd_journeys_graph(args: argparse.Namespace) -> int:
    from emma_local.journey_graph import mermaid

    (journey,) = _load_journeys(args.root, args.name)
    text = mermaid(journey)
    if args.out is None:
        print(text, end="")
    else:
        body = f"# Journey {journey.id}\n\n{journey.description}\n\n```mermaid\n{text}```\n"
        args.out.write_text(body if args.out.suffix == ".md" else text, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


def _cmd_predict_validate(args: argparse.Namespace) -> int:
    if args.data:  # real customers (CDNOW from the lifetimes dev extra) instead of the simulated shop
        from emma_local.lab.predict.real import main as real_main

        return real_main(["--data", args.data])
    from emma_local.lab.predict.validate import main as validate_main

    argv = [
        "--seed",
        str(args.seed),
        "--customers",
        str(args.customers),
        "--horizon-days",
        str(args.horizon_days),
        "--process",
        args.process,
    ]
    return validate_main(argv)


def _cmd_recommend_evaluate(args: argparse.Namespace) -> int:
    from emma_local.lab.recommend import main as evaluate_main

    argv = ["--seed", str(args.seed), "--customers", str(args.customers), "--products", str(args.products)]
    argv += ["--data", args.data] + (["--households", str(args.households)] if args.households else [])
    return evaluate_main(argv + (["--json"] if args.json else []))


def _cmd_segments(args: argparse.Namespace) -> int:
    import requests

    resp = requests.get(
        f"{args.api.rstrip('/')}/v1/segments", headers={"authorization": f"Bearer {args.key}"}, timeout=10
    )
    body = resp.json()
    if resp.status_code != 200:
        print(f"emma: {args.api}: {resp.status_code} {body.get('message', body)}", file=sys.stderr)
        return 2
    print(f"Segment sizes of {body['shop']}")
    for segment, size in sorted(body["segments"].items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {size:>8}  {segment}")
    return 0


def _cmd_catalog_import(args: argparse.Namespace) -> int:
    from emma_local.catalog_import import run_import

    return run_import(
        args.file, shop=args.shop, api=args.api, admin_key=args.admin_key, batch=args.batch, dry_run=args.dry_run
    )


def _cmd_import(args: argparse.Namespace) -> int:
    from emma_local.imports import run_import

    return run_import(
        args.kind,
        args.file,
        shop=args.shop,
        api=args.api,
        admin_key=args.admin_key,
        fmt=args.format,
        consent_as_of=args.consent_as_of,
        currency=args.currency,
        timezone=args.timezone,
        dry_run=args.dry_run,
        restart=args.restart,
        conclude_later=args.conclude_later,
        parallel=args.parallel,
    )


def _date(value: str) -> datetime:
    """YYYY-MM-DD (midnight UTC) or an ISO 8601 time with offset."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: expected YYYY-MM-DD or an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _cmd_campaigns(args: argparse.Namespace) -> int:
    from emma_local.campaigns_cli import run_campaigns

    return run_campaigns(
        args.campaigns_command,
        getattr(args, "campaign", None),
        api=args.api,
        admin_key=args.admin_key,
        shop=args.shop,
        run_id=getattr(args, "run", None),
        profile=getattr(args, "profile", None),
    )


def _cmd_privacy(args: argparse.Namespace) -> int:
    from emma_local.privacy_cli import run_privacy

    return run_privacy(
        args.privacy_command,
        getattr(args, "ref", None) or getattr(args, "job_id", None),
        api=args.api,
        admin_key=args.admin_key,
        shop=args.shop,
        out=getattr(args, "out", None),
        yes=getattr(args, "yes", False),
        month=getattr(args, "month", None),
    )


def _cmd_report(args: argparse.Namespace) -> int:
    from emma_local.report_cli import run_report

    return run_report(
        args.report,
        api=args.api,
        admin_key=args.admin_key,
        shop=args.shop,
        journey=args.journey,
        since=args.since,
        until=args.until,
        group_by=args.group_by,
        template=args.template,
        channel=args.channel,
        csv=args.csv,
    )


def _cmd_sign(args: argparse.Namespace) -> int:
    from emma.sources.signatures import sign_base64, sign_hex

    body = Path(args.file).read_bytes()
    print(sign_hex(args.secret, body) if args.platform == "shopware" else sign_base64(args.secret, body))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emma", description="Emma: marketing automation for online shops")
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="serve the ingest API locally against the in-process AWS emulator")
    dev.add_argument("--config", type=Path, help="local config TOML (default: ./emma.local.toml, else the example)")
    dev.add_argument("--port", type=int, help="port (default from the config: 8787; 0 picks a free one)")
    dev.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    dev.add_argument(
        "--environments",
        type=int,
        default=2,
        help="concurrent Lambda execution environments (processes) for the API; 0 runs in-process",
    )
    dev.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds an API request may run in its environment before it is stopped and answered 504 "
        "(as Lambda stops a function at its timeout; 30 s is API Gateway's longest)",
    )
    dev.add_argument(
        "--speedup",
        type=float,
        default=1.0,
        help="run the local clock this many times faster (e.g. 2016: a week in 5 minutes)",
    )
    dev.set_defaults(func=_cmd_dev)

    demo = sub.add_parser("demo", help="replay events/ through the real handlers over HTTP and report")
    demo.add_argument("--config", type=Path)
    demo.add_argument("--events", type=Path, default=ROOT / "events")
    demo.add_argument(
        "--serve",
        action="store_true",
        help="afterwards, keep the local stack serving (the console at /console/) until Ctrl-C",
    )
    demo.add_argument("--port", type=int, default=0, help="with --serve: the API's port (default: any free one)")
    demo.set_defaults(func=_cmd_demo)

    schema = sub.add_parser(
        "schema", help="write docs/canonical-event.schema.json, docs/openapi.json and docs/data-model.md"
    )
    schema.add_argument("--out", type=Path, default=ROOT / "docs")
    schema.add_argument("--check", action="store_true", help="fail if the committed documents are stale")
    schema.set_defaults(func=_cmd_schema)

    rules = sub.add_parser("rules", help="triggers and segments")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    validate = rules_sub.add_parser("validate", help="validate triggers/, segments/, journeys/ and campaigns/")
    validate.add_argument("--root", type=Path, default=ROOT)
    validate.set_defaults(func=_cmd_rules_validate)

    journeys = sub.add_parser("journeys", help="journeys: validate, compile to ASL, draw")
    journeys_sub = journeys.add_subparsers(dest="journeys_command", required=True)
    jvalidate = journeys_sub.add_parser("validate", help="validate journeys/ (with the triggers and segments they use)")
    jvalidate.add_argument("--root", type=Path, default=ROOT)
    jvalidate.add_argument(
        "--strict", action="store_true", help="exit 1 when journeys can message the same customer at once"
    )
    jvalidate.set_defaults(func=_cmd_journeys_validate)
    jcompile = journeys_sub.add_parser("compile", help="print (or write) the Step Functions ASL of journeys")
    jcompile.add_argument("name", nargs="?", help="one journey id (default: all)")
    jcompile.add_argument("--out", type=Path, help="write <id>.asl.json files into this folder")
    jcompile.add_argument("--root", type=Path, default=ROOT)
    jcompile.set_defaults(func=_cmd_journeys_compile)
    jgraph = journeys_sub.add_parser("graph", help="a journey as a Mermaid flowchart (.md: with a heading)")
    jgraph.add_argument("name", help="the journey id")
    jgraph.add_argument("--out", type=Path, help="write to this file (.md or .mmd)")
    jgraph.add_argument("--root", type=Path, default=ROOT)
    jgraph.set_defaults(func=_cmd_journeys_graph)

    templates = sub.add_parser("templates", help="message templates: validate, preview")
    templates_sub = templates.add_subparsers(dest="templates_command", required=True)
    tvalidate = templates_sub.add_parser("validate", help="validate templates/ (and that journeys send known ones)")
    tvalidate.add_argument("--root", type=Path, default=ROOT)
    tvalidate.set_defaults(func=_cmd_templates_validate)
    tpreview = templates_sub.add_parser("preview", help="render a template for a profile into files to open")
    tpreview.add_argument("name", help="template name (templates/<name>.yaml)")
    tpreview.add_argument(
        "--profile", type=Path, required=True, help="profile JSON (as GET /v1/profiles/{ref} returns)"
    )
    tpreview.add_argument("--shop", default=None, help="shop id from the local config (default: the first)")
    tpreview.add_argument("--locale", choices=["de", "en"], default=None, help="default: the profile's")
    tpreview.add_argument("--channel", choices=["email", "sms", "push"], default="email")
    tpreview.add_argument("--out", type=Path, default=ROOT / "outbox" / "previews")
    tpreview.add_argument("--root", type=Path, default=ROOT)
    tpreview.set_defaults(func=_cmd_templates_preview)

    predict = sub.add_parser("predict", help="predictive scores")
    predict_sub = predict.add_subparsers(dest="predict_command", required=True)
    pvalidate = predict_sub.add_parser("validate", help="validate the model on a simulated shop (seeded)")
    pvalidate.add_argument("--seed", type=int, default=7)
    pvalidate.add_argument("--customers", type=int, default=5000)
    pvalidate.add_argument("--horizon-days", type=float, default=30.0)
    pvalidate.add_argument(
        "--process",
        choices=("pareto_nbd", "model"),
        default="pareto_nbd",
        help="simulate the real-world process (default) or the model's own",
    )
    pvalidate.add_argument(
        "--data",
        choices=("cdnow", "cdnow-sample"),
        help="validate on real customers instead (CDNOW from the lifetimes dev extra: 23,570 or the 2,357 sample)",
    )
    pvalidate.set_defaults(func=_cmd_predict_validate)

    recommend = sub.add_parser("recommend", help="recommendations")
    recommend_sub = recommend.add_subparsers(dest="recommend_command", required=True)
    revaluate = recommend_sub.add_parser(
        "evaluate", help="hit-rate@5 against popularity on a simulated electronics shop (seeded)"
    )
    revaluate.add_argument("--seed", type=int, default=7)
    revaluate.add_argument("--customers", type=int, default=3000)
    revaluate.add_argument("--products", type=int, default=600)
    revaluate.add_argument("--json", action="store_true", help="print the results as JSON")
    revaluate.add_argument(
        "--data", choices=("simulated", "completejourney"), default="simulated", help="or real baskets (dev extra)"
    )
    revaluate.add_argument("--households", type=int, help="real baskets: a seeded sample of households")
    revaluate.set_defaults(func=_cmd_recommend_evaluate)

    segments = sub.add_parser("segments", help="segment sizes of a shop, from a running API")
    segments.add_argument("--api", default="http://127.0.0.1:8787")
    segments.add_argument("--key", default="ak_local_elektro_emma", help="the shop's admin key")
    segments.set_defaults(func=_cmd_segments)

    catalog = sub.add_parser("catalog", help="the product catalog: import")
    catalog_sub = catalog.add_subparsers(dest="catalog_command", required=True)
    cimport = catalog_sub.add_parser(
        "import", help="validate a CSV, JSON or JSON Lines file of products and send it to PUT /v1/catalog/products"
    )
    cimport.add_argument("file", type=Path, help="products: .csv (header row), .json or .jsonl")
    cimport.add_argument("--shop", required=True, help="the shop id (must be the admin key's shop)")
    cimport.add_argument("--api", default="http://127.0.0.1:8787", help="the ingest API's base URL")
    cimport.add_argument("--admin-key", default=None, help="the shop's admin key (default: $EMMA_ADMIN_KEY)")
    cimport.add_argument("--batch", type=int, default=100, help="products per request, 1 to 100")
    cimport.add_argument("--dry-run", action="store_true", help="validate the file, send nothing")
    cimport.set_defaults(func=_cmd_catalog_import)

    imp = sub.add_parser(
        "import", help="a shop's history (customers, orders) from its export, in backfill mode: nothing is sent"
    )
    imp.add_argument("kind", choices=["customers", "orders"])
    imp.add_argument("file", type=Path, help="a Shopify or WooCommerce CSV export, or Emma's format (csv/json/jsonl)")
    imp.add_argument("--shop", required=True, help="the shop id (must be the admin key's shop)")
    imp.add_argument("--format", choices=["shopify", "woocommerce", "emma"], help="default: detected from the header")
    imp.add_argument(
        "--consent-as-of",
        type=_date,
        help="the export's date, for formats whose marketing-consent column has no date (Shopify's exports): with it "
        "'accepts marketing' becomes consent with that date and the export as proof; without it, none is created",
    )
    imp.add_argument("--currency", help="the shop's currency, for exports without a currency column (EUR)")
    imp.add_argument("--timezone", default="UTC", help="the shop's timezone, for times without an offset")
    imp.add_argument("--api", default="http://127.0.0.1:8787", help="the ingest API's base URL")
    imp.add_argument("--admin-key", default=None, help="the shop's admin key (default: $EMMA_ADMIN_KEY)")
    imp.add_argument("--dry-run", action="store_true", help="check the file, send nothing")
    imp.add_argument("--restart", action="store_true", help="start from the first line even if a run stopped half way")
    imp.add_argument(
        "--parallel",
        type=int,
        default=2,
        help="requests in flight at once (default 2; `emma dev --environments N` serves N at a time)",
    )
    imp.add_argument(
        "--conclude-later",
        action="store_true",
        help="store only; the next import of the shop concludes these profiles with its own (customers, then orders: "
        "each profile's segments and predictions are worked out once)",
    )
    imp.set_defaults(func=_cmd_import)

    campaigns = sub.add_parser("campaigns", help="the shop's campaigns (campaigns/*.yaml) and their audiences")
    campaigns_sub = campaigns.add_subparsers(dest="campaigns_command", required=True)
    clist = campaigns_sub.add_parser("list", help="the campaigns that apply to the shop")
    cestimate = campaigns_sub.add_parser("estimate", help="who a campaign would ask for now, and why not the others")
    cestimate.add_argument("campaign", help="the campaign's id")
    commands = [clist, cestimate]
    for name, text in (
        ("start", "start the run of its schedule's day (a second start changes nothing)"),
        ("pause", "pause the run in progress (queued messages wait)"),
        ("resume", "resume the paused run where it stopped"),
        ("cancel", "cancel the run in progress and the campaign's recurrence"),
        ("runs", "the campaign's runs, newest first"),
    ):
        command = campaigns_sub.add_parser(name, help=text)
        command.add_argument("campaign", help="the campaign's id")
        commands.append(command)
    cstatus = campaigns_sub.add_parser("status", help="where a run stands: audience, sent, skipped, clicks, A/B")
    cstatus.add_argument("campaign", help="the campaign's id")
    cstatus.add_argument("--run", default=None, help="the run's day (default: the newest run)")
    ctest = campaigns_sub.add_parser("test", help="test sends to the campaign's seed list")
    ctest.add_argument("campaign", help="the campaign's id")
    ctest.add_argument(
        "--profile", default=None, help="personalise for this profile id (default: the audience's first)"
    )
    commands += [cstatus, ctest]
    for p in commands:
        p.add_argument("--api", default="http://127.0.0.1:8787", help="the ingest API's base URL")
        p.add_argument("--admin-key", default=None, help="the shop's admin key (default: $EMMA_ADMIN_KEY)")
        p.add_argument("--shop", default=None, help="the shop you mean (refused if the key is another's)")
        p.set_defaults(func=_cmd_campaigns)

    privacy = sub.add_parser("privacy", help="a customer's data: export, erase; privacy jobs and the audit trail")
    privacy_sub = privacy.add_subparsers(dest="privacy_command", required=True)
    ref_help = "the customer: p_<id>, an email address, cid:<shop customer id> or anon:<anonymous id>"
    pexport = privacy_sub.add_parser("export", help="everything Emma holds about a customer, as JSON")
    pexport.add_argument("ref", help=ref_help)
    pexport.add_argument("--out", type=Path, help="write the document here (default: print it)")
    perase = privacy_sub.add_parser("erase", help="erase a customer (asks to confirm unless --yes)")
    perase.add_argument("ref", help=ref_help)
    perase.add_argument("--yes", action="store_true", help="do not ask (scripts; required without a terminal)")
    pjob = privacy_sub.add_parser("job", help="a privacy job (erasure or data request)")
    pjob.add_argument("job_id")
    paudit = privacy_sub.add_parser("audit", help="the shop's privacy audit trail")
    paudit.add_argument("--month", help="YYYY-MM (default: this month)")
    for p in (pexport, perase, pjob, paudit):
        p.add_argument("--api", default="http://127.0.0.1:8787", help="the ingest API's base URL")
        p.add_argument("--admin-key", default=None, help="the shop's admin key (default: $EMMA_ADMIN_KEY)")
        p.add_argument("--shop", default=None, help="the shop you mean (refused if the key is another's)")
        p.set_defaults(func=_cmd_privacy)

    report = sub.add_parser(
        "report", help="analytics of a running API as tables (or CSV): messages, attribution, journeys, experiments"
    )
    report.add_argument(
        "report", choices=["messages", "attribution", "journeys", "journey", "experiments", "incentives", "kpis"]
    )
    report.add_argument("journey", nargs="?", help="journey: its id; experiments: only this journey's")
    report.add_argument("--since", help="first day, YYYY-MM-DD (default: 29 days before --until)")
    report.add_argument("--until", help="last day, inclusive (default: today in the shop's timezone)")
    report.add_argument("--group-by", help="messages, attribution: journey,step,template,variant,channel[,day]")
    report.add_argument("--template", help="messages: only this template")
    report.add_argument("--channel", choices=["email", "sms", "push"], help="messages: only this channel")
    report.add_argument("--csv", metavar="FILE", help="write the report as CSV to FILE (- for stdout)")
    report.add_argument("--api", default="http://127.0.0.1:8787", help="the ingest API's base URL")
    report.add_argument("--admin-key", default=None, help="the shop's admin key (default: $EMMA_ADMIN_KEY)")
    report.add_argument("--shop", default=None, help="the shop you mean (refused if the key is another's)")
    report.set_defaults(func=_cmd_report)

    sign = sub.add_parser("sign", help="print the signature header value for a webhook body")
    sign.add_argument("platform", choices=["shopify", "woocommerce", "shopware"])
    sign.add_argument("file", help="the exact body file you will send (curl --data-binary @FILE)")
    sign.add_argument("--secret", required=True, help="the shop's webhook secret for that platform")
    sign.set_defaults(func=_cmd_sign)

    from emma_local import coupons_cli, replay

    replay.register(sub)  # emma replay: dead-letter queues back to their queues (emma_local/replay.py)
    coupons_cli.register(sub)  # emma coupons upload|remaining: pools of coupon codes (emma_local/coupons_cli.py)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, StaleDocument) as exc:
        print(f"emma: {exc}", file=sys.stderr)
        return 2
    except DefinitionError as exc:
        for problem in exc.problems:
            print(f"emma: {problem}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"emma: {exc.filename}: no such file", file=sys.stderr)
        return 2
    except json.JSONDecodeError as exc:
        print(f"emma: invalid JSON: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
