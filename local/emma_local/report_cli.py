"""`emma report messages|attribution|journeys|journey|experiments|incentives|kpis`: the analytics reports of a running
API (GET /v1/analytics/...) as readable tables, or as CSV (``--csv FILE``, ``-`` for stdout).

The renderers (``render_*``) take the API's JSON and return lines; the demo prints its summaries with them."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

REPORTS = ("messages", "attribution", "journeys", "journey", "experiments", "incentives", "kpis")
MODELS = ("last_touch", "linear", "position", "coupon")


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if digits:
        return f"{float(value):,.{digits}f}"
    return f"{float(value):,.0f}" if float(value) == int(float(value)) else f"{float(value):,.2f}"


def _pct(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * float(value):.{digits}f} %"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Columns as wide as their widest cell; the first left-aligned, the rest right-aligned."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return (
            indent
            + "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()
        )

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def render_messages(body: dict[str, Any]) -> list[str]:
    group = body["group_by"]
    headers = [
        " / ".join(group) or "all",
        "requested",
        "sent",
        "skipped",
        "delivered",
        "opened",
        "machine",
        "clicked",
        "bounced",
        "complaints",
        "unsubs",
        "orders (last touch)",
        "revenue (last touch)",
    ]

    def row(label: str, counts: dict[str, float], rates: dict[str, float | None]) -> list[str]:
        return [
            label,
            _num(counts.get("requested")),
            _num(counts.get("sent")),
            _num(counts.get("skipped")),
            f"{_num(counts.get('delivered'))} ({_pct(rates.get('delivery_rate'), 0)})",
            f"{_num(counts.get('opened'))} ({_pct(rates.get('open_rate'), 0)})",
            _num(counts.get("opened_machine")),
            f"{_num(counts.get('clicked'))} ({_pct(rates.get('click_rate'), 1)})",
            _num(counts.get("bounced")),
            _num(counts.get("complained")),
            _num(counts.get("unsubscribed")),
            _num(counts.get("conversions_last_touch")),
            _num(counts.get("revenue_last_touch"), 2),
        ]

    rows = [row(" / ".join(r["group"][g] for g in group), r["counts"], r["rates"]) for r in body["rows"]]
    rows.append(row("total", body["total"]["counts"], body["total"]["rates"]))
    title = f"Messages of {body['shop']}, {body['since']} to {body['until']} (by the day of the send)"
    return [title, *table(headers, rows)]


def render_attribution(body: dict[str, Any]) -> list[str]:
    cur = body["currency"]
    lines = [
        f"Attribution of {body['shop']}, {body['since']} to {body['until']}: {_num(body['orders'])} orders, "
        f"{_num(body['revenue'], 2)} {cur}",
        "  attributed to Emma's messages: "
        + ", ".join(
            f"{m.replace('_', ' ')} {_num(body['attributed'][m], 2)} ({_pct(body['attributed_share'][m])})"
            for m in MODELS
        ),
        "  windows: "
        + ", ".join(f"{k.replace('_', ' ')} {v} h" for k, v in sorted(body.get("windows_hours", {}).items())),
    ]
    group = body["group_by"]
    rows = [
        [" / ".join(r["group"][g] for g in group)]
        + [f"{_num(r['revenue'][m], 2)} ({_num(r['conversions'][m], 2)})" for m in MODELS]
        for r in body["rows"]
    ]
    if rows:
        lines += table([" / ".join(group), *(f"{m.replace('_', ' ')}: {cur} (orders)" for m in MODELS)], rows)
    return lines


def render_journeys(body: dict[str, Any]) -> list[str]:
    rows = [
        [
            j["journey"],
            _num(j.get("entered")),
            _num(j.get("completed")),
            _num(j.get("exited")),
            _num(j.get("failed")),
            _num(j.get("converted"), 2),
            _num(j.get("revenue"), 2),
        ]
        for j in body["journeys"]
    ]
    headers = ["journey", "entered", "completed", "exited", "failed", "orders (last touch)", "revenue"]
    return [f"Journeys of {body['shop']}, {body['since']} to {body['until']}", *table(headers, rows)]


def render_funnel(body: dict[str, Any]) -> list[str]:
    rows = [
        [
            f"{s['step']} ({s['kind']})",
            _num(s["counts"].get("entered")),
            _num(s["counts"].get("waiting")),
            _num(s["counts"].get("converted"), 2),
            _num(s["counts"].get("exited")),
            _num(s["counts"].get("completed")),
        ]
        for s in body["steps"]
    ]
    t = body["totals"]
    title = (
        f"Journey {body['journey']} of {body['shop']}, {body['since']} to {body['until']}: entered "
        f"{_num(t.get('entered'))}, completed {_num(t.get('completed'))}, exited {_num(t.get('exited'))}"
    )
    return [title, *table(["step", "reached", "waited", "orders", "exited", "completed"], rows)]


def render_experiments(body: dict[str, Any]) -> list[str]:
    lines = [f"Experiments of {body['shop']}"]
    for e in body["experiments"]:
        lines.append(f"  {e['journey']} / {e['step']} (control {e['control']}, {e['window_days']}-day window)")
        rows = []
        for a in e["arms"]:
            ci = a.get("lift_abs_ci")
            rows.append(
                [
                    a["name"] + (" (holdout)" if a["holdout"] else "") + (" *" if a["is_control"] else ""),
                    _num(a["customers"]),
                    f"{_pct(a['conversion_rate'], 2)}",
                    "-" if a.get("lift_abs") is None else f"{100 * a['lift_abs']:+.2f} pts",
                    "-" if not ci else f"{100 * ci[0]:+.2f} to {100 * ci[1]:+.2f}",
                    "-" if a.get("p_value") is None else f"{a['p_value']:.3f}",
                    _pct(a.get("prob_beat_control"), 0),
                    _num(a["revenue_per_customer"], 2),
                    _num(a.get("net_incremental"), 2),
                    _num(a.get("more_customers_needed")),
                ]
            )
        lines += table(
            [
                "arm",
                "customers",
                "conversion",
                "lift",
                "95 % interval",
                "p",
                "P(beat ctrl)",
                "revenue/customer",
                "net incremental",
                "still needed",
            ],
            rows,
            indent="    ",
        )
        lines.append(f"    {e['note']}")
    if not body["experiments"]:
        lines.append("  (no journey has a split step)")
    return lines


def render_incentives(body: dict[str, Any]) -> list[str]:
    """Per template with a coupon: each band's arms (the coupon against its control) and the uplift per band."""
    lines = [f"Incentives of {body['shop']} (orders within {body['window_days']} days of the message)"]
    for t in body["templates"]:
        lines.append(f"  {t['template']}")
        rows = []
        for e in t["comparisons"]:
            for a in e["arms"]:
                ci = a.get("lift_abs_ci")
                rows.append(
                    [
                        e["step"],
                        a["name"] + (" *" if a["is_control"] else ""),
                        _num(a["customers"]),
                        _pct(a["conversion_rate"], 1),
                        "-" if a.get("lift_abs") is None else f"{100 * a['lift_abs']:+.1f} pts",
                        "-" if not ci else f"{100 * ci[0]:+.1f} to {100 * ci[1]:+.1f}",
                        _num(a["discount"], 2),
                        _num(a.get("net_incremental"), 2),
                    ]
                )
        lines += table(
            ["band", "arm", "customers", "conversion", "lift", "95 % interval", "discount", "net incremental"],
            rows,
            indent="    ",
        )
        measured = [b for b in t["uplift"]["bands"] if b["status"] == "measured"]
        for b in measured:
            verdict = "pays" if b["needed"] else "does not pay"
            lines.append(
                f"    P(buy) {b['low']:.2f}-{b['high']:.2f}: the coupon adds {100 * b['lift']:+.1f} pts, "
                f"{b['value']:+.2f} a customer at the shop's margin: it {verdict} there"
            )
        if not measured:
            lines.append(
                f"    no band measured yet (each arm of a band needs {t['uplift']['min_per_arm']} customers): "
                "the policy decides by the purchase probability"
            )
    if not body["templates"]:
        lines.append("  (no message with a coupon sent yet)")
    return lines


def render_kpis(body: dict[str, Any]) -> list[str]:
    cur = body["currency"]
    t = body["totals"]
    lines = [
        f"KPIs of {body['shop']}, {body['since']} to {body['until']}: {_num(t['orders'])} orders, "
        f"{_num(t['revenue'], 2)} {cur}, attributed (last touch) {_num(t['attributed_last_touch'], 2)} {cur}",
        f"  emails: {_num(t['sent'])} sent, {_num(t['delivered'])} delivered, bounce rate "
        f"{_pct(t['bounced'] / t['sent'] if t['sent'] else None, 2)}, complaint rate "
        f"{_pct(t['complained'] / t['delivered'] if t['delivered'] else None, 3)} (Gmail's limit: 0.3 %)",
    ]
    if body.get("latest"):
        latest = body["latest"]
        lines.append(f"  snapshot of {body['latest_day']}: " + ", ".join(f"{k} {_num(v)}" for k, v in latest.items()))
    rows = [
        [
            d["day"],
            _num(d["orders"]),
            _num(d["revenue"], 2),
            _num(d["attributed"]["last_touch"], 2),
            _num(d["sent"]),
            _pct(d["bounce_rate"], 2),
            _pct(d["complaint_rate"], 3),
        ]
        for d in body["days"]
    ]
    if rows:
        lines += table(["day", "orders", "revenue", "attributed", "sent", "bounces", "complaints"], rows)
    return lines


RENDER = {
    "messages": render_messages,
    "attribution": render_attribution,
    "journeys": render_journeys,
    "journey": render_funnel,
    "experiments": render_experiments,
    "incentives": render_incentives,
    "kpis": render_kpis,
}


def run_report(
    report: str,
    *,
    api: str,
    admin_key: str | None,
    shop: str | None = None,
    journey: str | None = None,
    since: str | None = None,
    until: str | None = None,
    group_by: str | None = None,
    template: str | None = None,
    channel: str | None = None,
    csv: str | None = None,
    session: Any = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    import requests

    key = admin_key or os.environ.get("EMMA_ADMIN_KEY")
    if not key:
        print("emma: give the shop's admin key with --admin-key or EMMA_ADMIN_KEY", file=err)
        return 2
    if report == "journey" and not journey:
        print("emma: report journey needs the journey's id: emma report journey <id>", file=err)
        return 2
    path = (
        f"/v1/analytics/journeys/{quote(journey or '', safe='')}" if report == "journey" else f"/v1/analytics/{report}"
    )
    if report == "experiments" and journey:
        params: dict[str, str] = {"journey": journey}
    else:
        params = {}
    for name, value in (
        ("shop", shop),
        ("since", since),
        ("until", until),
        ("group_by", group_by),
        ("template", template),
        ("channel", channel),
    ):
        if value:
            params[name] = value
    if csv:
        params["format"] = "csv"
    base = api.rstrip("/")
    try:
        resp = (session or requests).get(
            f"{base}{path}", params=params, headers={"authorization": f"Bearer {key}"}, timeout=60
        )
    except requests.RequestException as exc:
        print(f"emma: {base}: {type(exc).__name__}: is the API running (emma dev)?", file=err)
        return 1
    if resp.status_code != 200:
        try:
            message = resp.json().get("message", resp.text[:200])
        except ValueError:
            message = resp.text[:200]
        print(f"emma: {path}: {resp.status_code} {message}", file=err)
        return 2 if resp.status_code in (400, 401, 403, 404) else 1
    if csv:
        if csv == "-":
            out.write(resp.text)
        else:
            Path(csv).write_text(resp.text, encoding="utf-8")
            print(f"wrote {csv}", file=out)
        return 0
    for line in RENDER[report](resp.json()):
        print(line, file=out)
    return 0
