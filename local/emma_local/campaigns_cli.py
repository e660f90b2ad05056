"""`emma campaigns list|estimate`: the shop's campaigns and who one would ask for now, through the admin API
(GET /v1/campaigns, GET /v1/campaigns/{id}/estimate)."""

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
        print("emma: name the campaign: emma campaigns estimate <id>", file=err)
        return 2
    path = f"/v1/campaigns/{quote(campaign, safe='')}/estimate"
    status, body = client.call("GET", path)
    if status != 200:
        return client.fail(f"GET {path}", status, body)
    print(f"{body['campaign']} for shop {body['shop']}, as of {body['at']}:", file=out)
    print(f"  {body['included']:,} of {body['candidates']:,} candidates would be asked for", file=out)
    for reason, n in body["left_out"].items():
        print(f"  {n:>8,}  left out: {reason}", file=out)
    return 0
