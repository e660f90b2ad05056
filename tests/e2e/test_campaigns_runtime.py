"""Campaigns end to end on the local runtime, over real HTTP: a generated shop history imported, then the Advent
newsletter (campaigns/advent-newsletter.yaml: a subject-line test on a fifth of the audience, the winner after
two hours) tested on the seed list, started (twice: the second start changes nothing), run on the campaign state
machine in the emulator, its sample sent, the decision taken on the local clock, the rest sent: every recipient
exactly once, in the outbox, with live progress from analytics. A weekly campaign's scheduled run is paused,
resumed and cancelled, its execution stopped."""

from __future__ import annotations

import io
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from emma_local.campaigns_cli import run_campaigns
from emma_local.catalog_import import run_import as import_catalog
from emma_local.config import load_config
from emma_local.imports import run_import
from emma_local.lab.shop_history import generate, write_emma_customers, write_shopify_orders
from emma_local.runtime import LocalRuntime

pytestmark = pytest.mark.e2e
SHOP = "elektro-emma"
KEY = "ak_local_elektro_emma"
ADMIN = {"authorization": f"Bearer {KEY}"}
ROOT = Path(__file__).resolve().parents[2]
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def rt(tmp_path_factory):
    runtime = LocalRuntime(load_config(), port=0, log_level="ERROR", environments=0, schedule=False).start()
    folder = tmp_path_factory.mktemp("history")
    people, orders = generate(120, seed=5)
    write_emma_customers(people, folder / "customers.csv")
    write_shopify_orders(orders, folder / "orders.csv")
    out = io.StringIO()
    assert (
        import_catalog(ROOT / "events" / "catalog" / "elektro-emma.csv", shop=SHOP, api=runtime.api_url, admin_key=KEY)
        == 0
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("EMMA_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    for kind in ("customers", "orders"):
        code = run_import(kind, folder / f"{kind}.csv", shop=SHOP, api=runtime.api_url, admin_key=KEY, out=out, err=out)
        assert code == 0, out.getvalue()
    runtime.drain()
    # 10:00 in Berlin tomorrow: outside the quiet hours, so that messages go out when asked
    local = runtime.now().astimezone(BERLIN)
    target = (local + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    runtime.advance(seconds=(target - local).total_seconds())
    yield runtime
    mp.undo()
    runtime.stop()


def call(rt, method, path, **kw):
    return requests.request(method, f"{rt.api_url}{path}", headers=ADMIN, timeout=30, **kw)


def progress(rt, campaign="advent-newsletter", run="latest"):
    resp = call(rt, "GET", f"/v1/campaigns/{campaign}/runs/{run}")
    assert resp.status_code == 200, resp.text
    return resp.json()


def until(rt, status, campaign="advent-newsletter", timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = progress(rt, campaign)
        if found["status"] in status:
            return found
        time.sleep(0.1)
    raise AssertionError(f"the run did not reach {status}: {found}")


def emails(rt):
    rt.drain()
    rt.outbox.collect()  # what SES took by now (the collector's own tick may not have come yet)
    return [m for m in rt.outbox.messages if m.channel == "email"]


def test_a_test_send_goes_to_the_seeds_only(rt):
    before = len(emails(rt))
    resp = call(rt, "POST", "/v1/campaigns/advent-newsletter/test", json={})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert len(body["sends"]) == 2 and {s["to"] for s in body["sends"]} == {"marketing@elektro-emma.example"}
    out = io.StringIO()
    assert run_campaigns("test", "advent-newsletter", api=rt.api_url, admin_key=KEY, stdout=out) == 0
    assert out.getvalue().count("test send to marketing@elektro-emma.example") == 2
    before += 2
    new = emails(rt)[before - 2 :]
    assert {m.to for m in new} == {"marketing@elektro-emma.example"} and len(new) == 4
    assert all(m.subject.startswith("[Test] ") for m in new)
    assert call(rt, "POST", "/v1/campaigns/advent-newsletter/test", json={"profile_id": 7}).status_code == 400
    assert call(rt, "POST", "/v1/campaigns/no-such/test", json={}).status_code == 404


def test_the_advent_newsletter_reaches_each_recipient_once_with_the_winning_subject(rt):
    estimate = call(rt, "GET", "/v1/campaigns/advent-newsletter/estimate").json()
    before = len(emails(rt))
    first = call(rt, "POST", "/v1/campaigns/advent-newsletter/start")
    assert first.status_code == 202, first.text
    again = call(rt, "POST", "/v1/campaigns/advent-newsletter/start")
    assert again.status_code == 200 and again.json()["started"] is False
    assert again.json()["run"]["run"] == first.json()["run"]["run"]

    testing = until(rt, {"testing"})
    assert testing["included"] == estimate["included"] and testing["left_out"] == estimate["left_out"]
    sample = emails(rt)[before:]
    assert 0 < len(sample) < testing["included"]
    subjects = Counter(m.subject for m in sample)
    assert len(subjects) >= 2  # both subject lines (German and English readers: up to four texts)

    rt.advance(hours=2)  # the decision is due: the rest goes out with the winner's subject
    done = until(rt, {"done"})
    everyone = emails(rt)[before:]
    recipients = Counter(m.to for m in everyone)
    assert set(recipients.values()) == {1}
    assert done["queued"] == done["included"]
    assert done["winner"] in ("a", "b") and set(done["decision"]) == {"a", "b"}
    rest = everyone[len(sample) :]
    winner = done["subjects"][done["winner"]]
    assert rest and {m.subject for m in rest} <= set(winner.values())

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # analytics counts what the dispatcher settled (seconds behind)
        view = progress(rt)
        if view["settled"] == done["included"]:
            break
        time.sleep(0.2)
    everyone = emails(rt)[before:]  # a message settled since the first look is in the outbox too
    assert view["settled"] == done["included"] and view["sent"] == len(everyone)
    assert view["sent"] + view["skipped"] == view["settled"]
    assert set(view["variants"]) == {"a", "b", "rest"}
    out = io.StringIO()
    assert run_campaigns("status", "advent-newsletter", api=rt.api_url, admin_key=KEY, stdout=out) == 0
    shown = out.getvalue()
    assert f"run {done['run']}: done" in shown and f"sent       {view['sent']:>8,}" in shown
    assert "<- winner" in shown
    out = io.StringIO()
    assert run_campaigns("runs", "advent-newsletter", api=rt.api_url, admin_key=KEY, stdout=out) == 0
    assert out.getvalue().startswith(f"{done['run']}  done")
    runs = call(rt, "GET", "/v1/campaigns/advent-newsletter/runs").json()["runs"]
    assert [r["run"] for r in runs] == [done["run"]]
    assert call(rt, "POST", "/v1/campaigns/advent-newsletter/cancel").status_code == 409  # nothing in progress


def test_a_scheduled_run_is_paused_resumed_and_cancelled(rt):
    out = io.StringIO()
    assert run_campaigns("start", "weekly-newsletter", api=rt.api_url, admin_key=KEY, stdout=out) == 0
    assert "scheduled" in out.getvalue()
    started = call(rt, "POST", "/v1/campaigns/weekly-newsletter/start")
    assert started.status_code == 200 and not started.json()["started"], started.text
    run = started.json()["run"]
    assert run["status"] == "scheduled"
    paused = call(rt, "POST", "/v1/campaigns/weekly-newsletter/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert call(rt, "POST", "/v1/campaigns/weekly-newsletter/resume").json()["status"] == "scheduled"
    cancelled = call(rt, "POST", "/v1/campaigns/weekly-newsletter/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    sfn = rt.emulator.session().client("stepfunctions")
    arn = cancelled.json()["execution"]
    deadline = time.monotonic() + 10
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)  # the emulator stops the execution's thread at its next step
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    again = call(rt, "POST", "/v1/campaigns/weekly-newsletter/start")  # the recurrence goes on with the next run
    assert again.status_code == 202 and again.json()["run"]["run"] > run["run"]
    call(rt, "POST", "/v1/campaigns/weekly-newsletter/cancel")


def test_bad_requests_get_clear_answers(rt):
    assert call(rt, "POST", "/v1/campaigns/no-such/start").status_code == 404
    assert call(rt, "GET", "/v1/campaigns/advent-newsletter/runs/2020-01-01").status_code == 404
    assert call(rt, "GET", "/v1/campaigns/advent-newsletter/runs/" + "x" * 1500).status_code == 404
    too_long = call(rt, "POST", "/v1/campaigns/advent-newsletter/test", json={"profile_id": "p" * 300})
    assert too_long.status_code == 400 and "profile_id" in too_long.text
    resp = call(rt, "POST", "/v1/campaigns/advent-newsletter/test", data=b"{not json")
    assert resp.status_code == 400
    other = requests.post(
        f"{rt.api_url}/v1/campaigns/advent-newsletter/start",
        headers={"authorization": "Bearer ak_local_fahrrad_franz"},
        params={"shop": SHOP},
        timeout=10,
    )
    assert other.status_code == 403
