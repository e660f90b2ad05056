"""`emma coupons upload|remaining`: the pools of coupon codes a shop uploads (docs/offers.md#pools-of-codes),
through the admin API (POST/GET /v1/coupons/pools/{pool}) of `emma dev` or a deployed stack.

``upload`` checks the whole file first with the API's own rules (emma.offers.upload): any bad line ends the command
with exit code 2 and one ``emma: FILE:LINE: what`` per problem, and nothing is sent. Then the codes go out in parts
of PART codes (the API's most per request); the API adds each code once, so running the same upload again is safe
(the codes count as already known), also after it stopped half way.

The admin key: --admin-key, else $EMMA_ADMIN_KEY, else the shop's first admin key in the local config
(emma.local.toml, as `emma dev` reads it).

Exit codes: 0 done; 1 the API refused or could not be reached; 2 bad arguments, a bad file, no admin key.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from emma.offers.ports import PoolCode
from emma.offers.upload import InvalidCodes, InvalidPoolName, TooManyCodes, check_pool_name, decode, read_codes, to_csv
from emma_local.http_retry import with_retries

DEFAULT_API = "http://127.0.0.1:8787"
PART = 2_000  # codes per request: the API's MAX_REQUEST_CODES (functions/ingest/routes/coupons.py)
MAX_PRINTED_PROBLEMS = 50
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
_BODY_LINE = re.compile(r"\bbody:(\d+):")


class _Failed(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def register(sub: Any) -> None:
    """Add `emma coupons upload|remaining` to the CLI's subcommands."""
    coupons = sub.add_parser("coupons", help="pools of coupon codes the shop uploads: upload a CSV, codes left")
    coupons_sub = coupons.add_subparsers(dest="coupons_command", required=True)
    upload = coupons_sub.add_parser(
        "upload",
        help="check a CSV of codes and add them to a pool (each code once; running it again is safe)",
        description="A CSV with a header row naming the column code and optionally expires_at (an ISO date: the "
        "code works through that day, UTC; or an ISO time); ',', ';' or tab as delimiter. The whole file is "
        "checked first: any bad line is named FILE:LINE and nothing is sent.",
    )
    upload.add_argument("file", type=Path, help="the CSV of codes")
    upload.add_argument("--dry-run", action="store_true", help="check the file, send nothing")
    remaining = coupons_sub.add_parser("remaining", help="how many codes a pool has left")
    for parser in (upload, remaining):
        parser.add_argument("--shop", required=True, help="the shop id (must be the admin key's shop)")
        parser.add_argument("--pool", required=True, help="the pool's name, e.g. default or winback-10")
        parser.add_argument("--api", default=DEFAULT_API, help=f"the ingest API's base URL (default {DEFAULT_API})")
        parser.add_argument(
            "--admin-key",
            default=None,
            help="the shop's admin key (default: $EMMA_ADMIN_KEY, else the shop's key in the local config)",
        )
        parser.set_defaults(func=_command)


def _command(args: Any) -> int:
    if args.coupons_command == "upload":
        return run_upload(
            args.file, shop=args.shop, pool=args.pool, api=args.api, admin_key=args.admin_key, dry_run=args.dry_run
        )
    return run_remaining(shop=args.shop, pool=args.pool, api=args.api, admin_key=args.admin_key)


def local_admin_key(shop: str) -> str | None:
    """The shop's first admin key in the local config, if there is one that names the shop."""
    from emma_local.config import ConfigError, load_config

    try:
        found = next((s for s in load_config().shops if s.shop == shop), None)
    except (ConfigError, OSError):  # no readable local config: the caller says how to give the key
        return None
    return found.admin_keys[0] if found is not None and found.admin_keys else None


def _key(admin_key: str | None, shop: str, err: TextIO) -> str | None:
    key = admin_key or os.environ.get("EMMA_ADMIN_KEY") or local_admin_key(shop)
    if not key:
        print(
            f"emma: give shop {shop!r}'s admin key with --admin-key or EMMA_ADMIN_KEY (the local config has none)",
            file=err,
        )
    return key


def read_file(file: Path, now: datetime) -> list[tuple[int, PoolCode]]:
    """The file's codes with their lines, checked as the API checks them (InvalidCodes, TooManyCodes)."""
    return read_codes(decode(file.read_bytes(), str(file)), str(file), now=now)


def run_upload(
    file: Path,
    *,
    shop: str,
    pool: str,
    api: str = DEFAULT_API,
    admin_key: str | None = None,
    dry_run: bool = False,
    part: int = PART,
    session: Any = None,
    now: datetime | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        check_pool_name(pool)
    except InvalidPoolName as exc:
        print(f"emma: --pool: {exc.message}", file=err)
        return 2
    try:
        lines = read_file(file, now or datetime.now(UTC))
    except FileNotFoundError:
        print(f"emma: {file}: no such file", file=err)
        return 2
    except IsADirectoryError:
        print(f"emma: {file}: is a directory", file=err)
        return 2
    except InvalidCodes as exc:
        _print_problems(exc.problems, err)
        print(f"emma: {file}: nothing was sent", file=err)
        return 2
    except TooManyCodes as exc:
        print(f"emma: {exc.message}", file=err)
        return 2
    parts = [lines[i : i + part] for i in range(0, len(lines), part)]
    if dry_run:
        print(f"{file}: {len(lines):,} valid codes, {len(parts)} request(s); nothing sent (--dry-run)", file=out)
        return 0
    key = _key(admin_key, shop, err)
    if key is None:
        return 2
    if session is None:
        import requests

        session = requests.Session()
    url = f"{api.rstrip('/')}/v1/coupons/pools/{quote(pool, safe='')}"
    received = added = known = sent = 0
    answer: dict[str, Any] = {}
    try:
        for number, chunk in enumerate(parts, 1):
            answer = _send(session, url, key, shop, chunk, file, sleep)
            received += int(answer["received"])
            added += int(answer["added"])
            known += int(answer["already_known"])
            sent += len(chunk)
            if len(parts) > 1:
                print(f"{file}: part {number} of {len(parts)}: {sent:,} of {len(lines):,} codes sent", file=err)
    except _Failed as exc:
        print(f"emma: {exc}", file=err)
        if sent:
            print(
                f"emma: {sent:,} of {len(lines):,} codes were added before the error; running the upload again is "
                "safe (they count as already known)",
                file=err,
            )
        return exc.code
    print(
        f"{file}: {received:,} codes for pool {pool} of {shop}: {added:,} added, {known:,} already known; "
        f"{int(answer.get('remaining', 0)):,} left in the pool",
        file=out,
    )
    return 0


def _send(
    session: Any,
    url: str,
    key: str,
    shop: str,
    chunk: list[tuple[int, PoolCode]],
    file: Path,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    body = to_csv([code for _, code in chunk]).encode("utf-8")
    headers = {"authorization": f"Bearer {key}", "content-type": "text/csv; charset=utf-8"}
    resp = with_retries(
        lambda: session.post(url, params={"shop": shop}, data=body, headers=headers, timeout=60),
        delays=RETRY_DELAYS,
        sleep=sleep,
        unreachable=lambda exc: _Failed(f"POST {url}: {type(exc).__name__}: is the API running (emma dev)?"),
    )
    answer = _json(resp)
    if resp.status_code == 200:
        return answer
    problems = answer.get("problems")
    if resp.status_code == 422 and isinstance(problems, list) and problems:
        located = [_locate(str(p), chunk, file) for p in problems]
        raise _Failed("\nemma: ".join(located), code=2)
    message = _locate(str(answer.get("message", answer)), chunk, file)
    raise _Failed(f"POST {url}: {resp.status_code} {message}", code=2 if resp.status_code in (400, 401, 403) else 1)


def _locate(message: str, chunk: list[tuple[int, PoolCode]], file: Path) -> str:
    """The API names the lines of the part it got (body:LINE, the header being line 1): the file's lines."""

    def repl(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 2
        return f"{file}:{chunk[index][0]}:" if 0 <= index < len(chunk) else f"{file}:"

    return _BODY_LINE.sub(repl, message)


def _json(resp: Any) -> dict[str, Any]:
    try:
        found = resp.json()
    except ValueError:
        return {"message": resp.text[:200]}
    return found if isinstance(found, dict) else {"message": str(found)[:200]}


def _print_problems(problems: list[str], err: TextIO) -> None:
    for problem in problems[:MAX_PRINTED_PROBLEMS]:
        print(f"emma: {problem}", file=err)
    if len(problems) > MAX_PRINTED_PROBLEMS:
        print(f"emma: ... and {len(problems) - MAX_PRINTED_PROBLEMS} more", file=err)


def run_remaining(
    *,
    shop: str,
    pool: str,
    api: str = DEFAULT_API,
    admin_key: str | None = None,
    session: Any = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    import requests

    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        check_pool_name(pool)
    except InvalidPoolName as exc:
        print(f"emma: --pool: {exc.message}", file=err)
        return 2
    key = _key(admin_key, shop, err)
    if key is None:
        return 2
    session = session or requests.Session()
    url = f"{api.rstrip('/')}/v1/coupons/pools/{quote(pool, safe='')}"
    try:
        resp = session.get(url, params={"shop": shop}, headers={"authorization": f"Bearer {key}"}, timeout=60)
    except requests.RequestException as exc:
        print(f"emma: GET {url}: {type(exc).__name__}: is the API running (emma dev)?", file=err)
        return 1
    answer = _json(resp)
    if resp.status_code != 200:
        print(f"emma: GET {url}: {resp.status_code} {answer.get('message', answer)}", file=err)
        return 2 if resp.status_code in (400, 401, 403) else 1
    print(f"pool {answer['pool']} of {shop}: {int(answer['remaining']):,} codes left", file=out)
    return 0
