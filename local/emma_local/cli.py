"""`emma`: the command line. dev (serve the API locally), demo (replay events/), schema (write the
JSON Schema and OpenAPI documents to docs/), sign (sign a webhook body for curl)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from emma_local.config import ROOT, ConfigError, load_config
from emma_local.documents import StaleDocument


def _cmd_dev(args: argparse.Namespace) -> int:
    from emma_local.runtime import LocalRuntime

    config = load_config(args.config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    runtime = LocalRuntime(config, port=args.port, log_level=args.log_level, environments=args.environments).start()
    shop = config.shops[0]
    print(f"Emma is serving {runtime.api_url} (config: {config.path})")
    print(f"  shops: {', '.join(s.shop for s in config.shops)}")
    print(
        f"  try:   curl -s {runtime.api_url}/v1/profiles/lena.schmidt@example.de "
        f"-H 'Authorization: Bearer {shop.admin_keys[0] if shop.admin_keys else '<admin key>'}'"
    )
    print("  stop:  Ctrl-C", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        runtime.stop()
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from emma_local.demo import run_demo

    return run_demo(load_config(args.config), events_dir=args.events)


def _cmd_schema(args: argparse.Namespace) -> int:
    from emma_local.documents import write_documents

    for path in write_documents(args.out, check=args.check):
        print(f"{'up to date' if args.check else 'wrote'} {path}")
    return 0


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
    dev.set_defaults(func=_cmd_dev)

    demo = sub.add_parser("demo", help="replay events/ through the real handlers over HTTP and report")
    demo.add_argument("--config", type=Path)
    demo.add_argument("--events", type=Path, default=ROOT / "events")
    demo.set_defaults(func=_cmd_demo)

    schema = sub.add_parser("schema", help="write docs/canonical-event.schema.json and docs/openapi.json")
    schema.add_argument("--out", type=Path, default=ROOT / "docs")
    schema.add_argument("--check", action="store_true", help="fail if the committed documents are stale")
    schema.set_defaults(func=_cmd_schema)

    sign = sub.add_parser("sign", help="print the signature header value for a webhook body")
    sign.add_argument("platform", choices=["shopify", "woocommerce", "shopware"])
    sign.add_argument("file", help="the exact body file you will send (curl --data-binary @FILE)")
    sign.add_argument("--secret", required=True, help="the shop's webhook secret for that platform")
    sign.set_defaults(func=_cmd_sign)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, StaleDocument) as exc:
        print(f"emma: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"emma: {exc.filename}: no such file", file=sys.stderr)
        return 2
    except json.JSONDecodeError as exc:
        print(f"emma: invalid JSON: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
