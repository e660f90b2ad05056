"""`emma campaigns list|estimate|start|pause|resume|cancel|status|runs|test`: the shop's campaigns, who one would
ask for now, and sending them, through the admin API (/v1/campaigns...)."""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO
from urllib.parse import quote

from emma_local.privacy_cli import _Api


def run_campaigns(
    command: str,
    campaign: str | None,
    *,
    api: str,
    admin_key: str | None,
    shop: str | None = None,
    run_id: str | None = None,
    profile: str | None = None,
    session: Any = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    import requests

    out, err = stdout or sys.stdout, stderr or sys.stderr
    key = admin_key or os.environ.get("EMMA_ADMIN_KEY")
    if not key:
        print("emma: give the shop's admin key with --admin-key or EMMA_ADMIN_KEY", file=err)
        return 2
    client = _Api(api, key, shop, session or requests.Session(), err)
    if command == "list":
        status, body = client.call("GET", "/v1/campaigns")
        if status != 200:
            return client.fail("GET /v1/campaigns", status, body)
        for c in body["campaigns"]:
            audience = c["audience"]
            whom = ", ".join(
                [*audience.get("segments", []), *([f"topic {audience['topic']}"] if audience.get("topic") else [])]
            )
            print(f"{c['id']:<28} {c['template']:<28} {c.get('channel', 'email'):<6} {whom}", file=out)
        return 0
    if not campaign:
        print(f"emma: name the campaign: emma campaigns {command} <id>", file=err)
        return 2
    base = f"/v1/campaigns/{quote(campaign, safe='')}"
    if command in ("start", "pause", "resume", "cancel"):
        status, body = client.call("POST", f"{base}/{command}")
        if status not in (200, 202):
            return client.fail(f"POST {base}/{command}", status, body)
        run = body["run"] if command == "start" else body
        if command == "start" and not body["started"]:
            print(f"{campaign}: run {run['run']} exists already ({run['status']}): nothing changed", file=out)
        else:
            print(f"{campaign}: run {run['run']} {run['status']} (begins {run['start']})", file=out)
        return 0
    if command == "test":
        status, body = client.call("POST", f"{base}/test", body={"profile_id": profile} if profile else {})
        if status != 202:
            return client.fail(f"POST {base}/test", status, body)
        for send in body["sends"]:
            subject = send.get("subject")
            shown = f" (subject {subject})" if subject else ""
            print(f"test send to {send['to']}{shown}, personalised for {body['profile_id']}", file=out)
        return 0
    if command == "runs":
        status, body = client.call("GET", f"{base}/runs")
        if status != 200:
            return client.fail(f"GET {base}/runs", status, body)
        for run in body["runs"]:
            print(
                f"{run['run']}  {run['status']:<10} {run['queued']:>8,} of {run['included']:>8,} handed over", file=out
            )
        return 0
    if command == "status":
        path = f"{base}/runs/{quote(run_id or 'latest', safe='')}"
        status, body = client.call("GET", path)
        if status != 200:
            return client.fail(f"GET {path}", status, body)
        _print_progress(body, out)
        return 0
    path = f"{base}/estimate"
    status, body = client.call("GET", path)
    if status != 200:
        return client.fail(f"GET {path}", status, body)
    print(f"{body['campaign']} for shop {body['shop']}, as of {body['at']}:", file=out)
    print(f"  {body['included']:,} of {body['candidates']:,} candidates would be asked for", file=out)
    for reason, n in body["left_out"].items():
        print(f"  {n:>8,}  left out: {reason}", file=out)
    return 0


def _print_progress(body: dict[str, Any], out: TextIO) -> None:
    print(
        f"{body['campaign']} run {body['run']}: {body['status']} (began {body['start']}, {body['rate']:g}/s)", file=out
    )
    print(f"  audience   {body['included']:>8,} of {body['candidates']:,} candidates", file=out)
    for reason, n in body["left_out"].items():
        print(f"  {n:>17,}  left out: {reason}", file=out)
    print(f"  handed to dispatch {body['queued']:>8,}", file=out)
    print(f"  sent       {body['sent']:>8,}   skipped {body['skipped']:,}", file=out)
    for stage, n in body["skipped_by"].items():
        print(f"  {n:>17,}  skipped at {stage}", file=out)
    print(f"  delivered  {body['delivered']:>8,}   opened {body['opened']:,}   clicked {body['clicked']:,}", file=out)
    if body.get("eta_seconds") is not None:
        print(f"  the rest takes about {body['eta_seconds'] // 60} min {body['eta_seconds'] % 60} s", file=out)
    if body.get("subjects"):
        for variant, subject in body["subjects"].items():
            counts = body["variants"].get(variant, {})
            mark = "  <- winner" if body.get("winner") == variant else ""
            print(
                f"  {variant}: {subject}: sent {counts.get('sent', 0)}, clicked {counts.get('clicked', 0)}{mark}",
                file=out,
            )
