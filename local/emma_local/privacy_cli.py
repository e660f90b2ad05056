"""`emma privacy export|erase|job|audit`: a customer's data through the admin API, for shops whose platform
has no compliance webhooks (WooCommerce, Shopware) and for support staff. Every call is recorded in the
shop's audit trail under the admin key's id, as through the API."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

POLL_SECONDS = 2.0


class _Api:
    def __init__(self, api: str, admin_key: str, shop: str | None, session: Any, err: TextIO) -> None:
        self.base = api.rstrip("/")
        self.headers = {"authorization": f"Bearer {admin_key}"}
        self.params = {"shop": shop} if shop else {}
        self.session = session
        self.err = err

    def call(self, method: str, path: str, *, body: Any = None, **params: Any) -> tuple[int, dict[str, Any]]:
        import requests

        try:
            resp = self.session.request(
                method,
                f"{self.base}{path}",
                headers=self.headers,
                params={**self.params, **params},
                json=body,
                timeout=60,
            )
        except requests.RequestException as exc:
            print(f"emma: {self.base}: {type(exc).__name__}: is the API running (emma dev)?", file=self.err)
            return 0, {}
        try:
            body = resp.json()
        except ValueError:
            body = {"message": resp.text[:200]}
        return resp.status_code, body

    def fail(self, what: str, status: int, body: dict[str, Any]) -> int:
        if status:
            print(f"emma: {what}: {status} {body.get('message', body)}", file=self.err)
        return 2 if status in (400, 401, 403, 404) else 1


def _key(admin_key: str | None, err: TextIO) -> str | None:
    key = admin_key or os.environ.get("EMMA_ADMIN_KEY")
    if not key:
        print("emma: give the shop's admin key with --admin-key or EMMA_ADMIN_KEY", file=err)
    return key


def _ref(ref: str) -> str:
    return quote(ref, safe="@:")


def run_privacy(
    command: str,
    target: str | None,
    *,
    api: str,
    admin_key: str | None,
    shop: str | None = None,
    out: Path | None = None,
    yes: bool = False,
    wait_seconds: float = 600.0,
    month: str | None = None,
    session: Any = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    import requests

    stdout, err, stdin = stdout or sys.stdout, stderr or sys.stderr, stdin or sys.stdin
    key = _key(admin_key, err)
    if key is None:
        return 2
    client = _Api(api, key, shop, session or requests.Session(), err)
    if command == "export":
        assert target is not None
        status, body = client.call("GET", f"/v1/profiles/{_ref(target)}/export")
        if status != 200:
            return client.fail(f"export of {target}", status, body)
        text = json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False)
        if out is None:
            print(text, file=stdout)
        else:
            out.write_text(text + "\n", encoding="utf-8")
            items = body["summary"]["items"]
            print(f"{out}: {sum(items.values())} items of {target} in {len(items)} item types", file=stdout)
        return 0
    if command == "erase":
        assert target is not None
        if not yes:
            if not stdin.isatty():
                print(f"emma: erasing {target} cannot be undone: add --yes to confirm", file=err)
                return 2
            print(
                f"Erase every item of {target}? This cannot be undone. Type the reference again: ", end="", file=stdout
            )
            stdout.flush()
            if stdin.readline().strip() != target:
                print("emma: not confirmed, nothing erased", file=err)
                return 2
        status, body = client.call("DELETE", f"/v1/profiles/{_ref(target)}")
        if status not in (200, 202):
            return client.fail(f"erasure of {target}", status, body)
        job = body["job"]
        deadline = time.monotonic() + wait_seconds
        while job["status"] != "done" and time.monotonic() < deadline:
            print(f"{job['job_id']}: {job['status']}, finishing on the privacy schedule...", file=stdout)
            sleep(POLL_SECONDS)
            status, body = client.call("GET", f"/v1/privacy/jobs/{job['job_id']}")
            if status != 200:
                return client.fail(f"job {job['job_id']}", status, body)
            job = body["job"]
        if job["status"] != "done":
            print(f"emma: {job['job_id']} is still {job['status']}: see `emma privacy job {job['job_id']}`", file=err)
            return 1
        counts = ", ".join(f"{k} {v}" for k, v in sorted(job["counts"].items()))
        print(
            f"{target}: erased {sum(job['counts'].values())} items ({counts}); {job['stopped_executions']} journeys "
            f"stopped; {job['suppressed']} addresses kept as salted hashes; job {job['job_id']}",
            file=stdout,
        )
        return 0
    if command == "job":
        assert target is not None
        status, body = client.call("GET", f"/v1/privacy/jobs/{quote(target, safe='')}")
        if status != 200:
            return client.fail(f"job {target}", status, body)
        print(json.dumps(body["job"], indent=2, sort_keys=True), file=stdout)
        return 0
    status, body = client.call("GET", "/v1/privacy/audit", **({"month": month} if month else {}))
    if status != 200:
        return client.fail("audit trail", status, body)
    for entry in body["entries"]:
        detail = entry["detail"]
        items = detail.get("items") or {}
        print(
            f"{entry['at']}  {entry['action']:<12} {entry['actor']:<24} subject {entry['subject'][:16]}  "
            f"{sum(items.values()) if items else ''}",
            file=stdout,
        )
    return 0
