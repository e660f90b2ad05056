"""The demo's campaign part: the shop that just imported its history sends the personalised newsletter
(campaigns/winter-greeting.yaml) to two of its segments, as its admin would: the estimate, a test send to the seed
list, the start (a second start changes nothing), the run on the campaign state machine, its progress from
analytics, and two readers' newsletters from the outbox, each with the content blocks and products that match
what that reader clicked, read and bought, and a length that fits their engagement."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import requests

from emma_local.config import LocalConfig
from emma_local.runtime import LocalRuntime

SHOP = "elektro-emma"
CAMPAIGN = "winter-greeting"


def run_campaign_demo(rt: LocalRuntime, config: LocalConfig, http: Any = None, timeout: float = 90.0) -> int:
    http = http or requests.Session()
    key = config.shop(SHOP).admin_keys[0]
    headers = {"authorization": f"Bearer {key}"}
    base = f"{rt.api_url}/v1/campaigns/{CAMPAIGN}"
    problems: list[str] = []
    print(f"\n19. A campaign: the personalised newsletter to two segments (campaigns/{CAMPAIGN}.yaml)")
    rt.drain()
    sent_before = len(rt.outbox.messages) if rt.outbox else 0
    estimate = http.get(f"{base}/estimate", headers=headers, timeout=60).json()
    left = ", ".join(f"{n} {reason}" for reason, n in list(estimate["left_out"].items())[:4])
    print(
        f"  $ emma campaigns estimate {CAMPAIGN}: {estimate['included']} of {estimate['candidates']} candidates "
        f"(left out: {left or 'nobody'})"
    )
    test = http.post(f"{base}/test", headers=headers, json={}, timeout=60).json()
    print(f"  $ emma campaigns test {CAMPAIGN}: a test send to {test['sends'][0]['to']}, personalised for a reader")
    started = time.monotonic()
    first = http.post(f"{base}/start", headers=headers, timeout=60)
    again = http.post(f"{base}/start", headers=headers, timeout=60)
    run = first.json()["run"]
    print(
        f"  $ emma campaigns start {CAMPAIGN}: HTTP {first.status_code}, run {run['run']} {run['status']}; "
        f"started again: HTTP {again.status_code}, started {again.json()['started']}"
    )
    view: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rt.drain()
        view = http.get(f"{base}/runs/latest", headers=headers, timeout=60).json()
        if view.get("status") == "done" and view.get("settled", 0) >= view.get("included", 0):
            break
        time.sleep(0.2)
    else:
        problems.append(f"the campaign did not finish within {timeout:.0f} s: {view.get('status')}")
    skipped = ", ".join(f"{n} at {stage}" for stage, n in view.get("skipped_by", {}).items()) or "none"
    print(
        f"  $ emma campaigns status {CAMPAIGN}: {view.get('status')}; {view.get('included')} in the audience, "
        f"{view.get('queued')} handed to the dispatcher, {view.get('sent')} sent, {view.get('skipped')} skipped "
        f"({skipped}); {time.monotonic() - started:.1f} s on this machine"
    )
    new = rt.outbox.messages[sent_before:] if rt.outbox else []
    issues = [m for m in new if m.template == "personalised-newsletter" and not m.subject.startswith("[Test]")]
    twice = [to for to, n in Counter(m.to for m in issues).items() if n > 1]
    if twice:
        problems.append(f"{len(twice)} readers got the newsletter twice")
    if view.get("sent") != len(issues):
        problems.append(f"analytics counted {view.get('sent')} sent, the outbox holds {len(issues)}")
    problems += _two_readers(rt, http, headers, issues)
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    return 1 if problems else 0


def _two_readers(rt: LocalRuntime, http: Any, headers: dict[str, str], issues: list[Any]) -> list[str]:
    """Two readers whose newsletters differ the most: a full issue and a short one if there are both."""
    readers = []
    for mail in issues:
        found = http.get(f"{rt.api_url}/v1/profiles/{mail.to}", headers=headers, params={"messages": 5}, timeout=30)
        if found.status_code != 200:
            continue
        record = next(
            (m for m in found.json().get("messages", []) if m["key"].startswith(f"campaign:{CAMPAIGN}:")), None
        )
        if record is not None:
            readers.append((mail, record))
            if _full_and_short(readers):  # the pair below is found: the other readers need not be looked up
                break
    if len(readers) < 2:
        return ["fewer than two readers got the newsletter"]
    full = [r for r in readers if _is_full(r[1])]
    short = [r for r in readers if _is_short(r[1])]
    if full and short:
        pair = [full[0], short[0]]
    else:
        first = readers[0]
        pair = [first, next((r for r in readers[1:] if r[1].get("content") != first[1].get("content")), readers[1])]
    print("  Two readers' newsletters in the outbox (different blocks, products and length):")
    for mail, record in pair:
        blocks = [c["block_id"] for c in record.get("content") or []]
        products = [r["product_id"] for r in record.get("recommended") or []]
        kind = "full" if len(blocks) >= 5 else "short"
        print(f"    {mail.to}: a {kind} issue, {mail.path.relative_to(rt.outbox.directory.parent)}")  # type: ignore[union-attr]
        print(f"      subject: {mail.subject}")
        print(f"      blocks:   {', '.join(blocks) or 'none'}")
        print(f"      products: {', '.join(products) or 'none'}")
    if pair[0][1].get("content") == pair[1][1].get("content"):
        return ["the two readers got the same content blocks"]
    return []


def _is_full(record: dict[str, Any]) -> bool:
    return len(record.get("content") or []) >= 5


def _is_short(record: dict[str, Any]) -> bool:
    return 0 < len(record.get("content") or []) <= 2


def _full_and_short(readers: list[tuple[Any, dict[str, Any]]]) -> bool:
    return any(_is_full(r) for _, r in readers) and any(_is_short(r) for _, r in readers)
