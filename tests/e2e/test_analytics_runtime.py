"""Analytics end to end on the local runtime, over real HTTP: a customer's double opt-in mail is sent by the
journey, SES reports its delivery, a person's open and a click (the outbox publishes them on the default bus
as SES would), the customer orders and cancels; the analytics consumer (its own queue) counts each event once
however often it arrives, and the admin API's reports say so. The hourly KPI snapshot runs there too (one
runtime for the module)."""

import uuid
from datetime import timedelta

import pytest
import requests

pytestmark = pytest.mark.e2e
ADMIN = {"authorization": "Bearer ak_local_elektro_emma"}
OTHER = {"authorization": "Bearer ak_local_fahrrad_franz"}
KEY = ("wk_local_elektro_emma", "")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def call(rt, kind, body):
    body.setdefault("messageId", str(uuid.uuid4()))
    resp = requests.post(f"{rt.api_url}/v1/{kind}", json=body, auth=KEY, timeout=10)
    assert resp.status_code == 200, resp.text
    rt.drain()


def report(rt, path, **params):
    # the API's default range: the 30 days up to today in the shop's timezone, by the runtime's clock (a
    # range computed here from the UTC date missed the order made just after midnight in Berlin)
    resp = requests.get(f"{rt.api_url}/v1/analytics/{path}", params=params, headers=ADMIN, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def doi_row(rt):
    rows = report(rt, "messages", group_by="template,channel")["rows"]
    return next(r for r in rows if r["group"]["template"] == "doi-confirmation")


def test_a_message_its_feedback_and_an_order_are_counted_once_and_attributed(runtime):
    rt = runtime
    user = f"analytics-{uuid.uuid4().hex[:8]}"
    email = f"{user}@example.com"
    call(
        rt,
        "identify",
        {
            "userId": user,
            "traits": {"email": email, "first_name": "Ida"},
            "context": {"consent": {"email": {"granted": True, "double_opt_in": False, "wording": "Newsletter"}}},
        },
    )
    assert rt.settle(timeout=60)  # the double opt-in journey has run and its mail is in the outbox
    assert rt.outbox is not None
    mails = [m for m in rt.outbox.messages if m.to.endswith(email) and m.template == "doi-confirmation"]
    assert len(mails) == 1, [m.template for m in rt.outbox.messages[-5:]]
    mail = mails[0]
    sent = rt.now()
    rt.advance(seconds=600)  # the customer reads the mail within the next minutes, then orders
    for _ in range(2):  # each SES event delivered twice, as EventBridge and SQS may
        rt.outbox.ses_event(mail, "Open", user_agent="Mozilla/5.0", ip="17.58.1.2", at=sent)  # Apple's proxy
        rt.outbox.ses_event(mail, "Open", user_agent=FIREFOX, ip="198.51.100.7", at=sent + timedelta(minutes=5))
        rt.outbox.ses_event(mail, "Click", link="https://elektro-emma.example/", at=sent + timedelta(minutes=6))
        rt.drain()
    row = doi_row(rt)
    counts = row["counts"]
    assert (counts["requested"], counts["sent"], counts["delivered"]) == (1, 1, 1)
    assert (counts["opened"], counts["opens"], counts["machine_opens"], counts["clicked"]) == (1, 1, 1, 1)
    assert row["rates"]["open_rate"] == 1.0 and row["group"]["channel"] == "email"

    order = {"order_id": f"{user}-1", "total": 120.0, "currency": "EUR", "products": [{"product_id": "case-9"}]}
    call(rt, "track", {"userId": user, "event": "Order Completed", "properties": order})
    counts = doi_row(rt)["counts"]
    assert counts["conversions_last_touch"] == 1 and counts["revenue_last_touch"] == 120.0
    attribution = report(rt, "attribution", group_by="template")
    row = next(r for r in attribution["rows"] if r["group"]["template"] == "doi-confirmation")
    assert row["revenue"] == {"last_touch": 120.0, "linear": 120.0, "position": 120.0, "coupon": 0.0}
    assert attribution["attributed"]["last_touch"] >= 120.0

    call(rt, "track", {"userId": user, "event": "Order Cancelled", "properties": {"order_id": f"{user}-1"}})
    counts = doi_row(rt)["counts"]
    assert counts["conversions_last_touch"] == 0 and counts["revenue_last_touch"] == 0

    journey = report(rt, "journeys/double-opt-in")
    assert journey["totals"]["entered"] >= 1 and any(s["counts"]["entered"] >= 1 for s in journey["steps"])


def test_reports_answer_csv_and_refuse_bad_requests(runtime):
    rt = runtime
    resp = requests.get(f"{rt.api_url}/v1/analytics/kpis", params={"format": "csv"}, headers=ADMIN, timeout=30)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    experiments = requests.get(f"{rt.api_url}/v1/analytics/experiments", headers=ADMIN, timeout=30).json()
    assert {e["journey"] for e in experiments["experiments"]} == {"newsletter-interest"}
    for path, params, headers, status in [
        ("messages", {}, {}, 401),
        ("messages", {"shop": "elektro-emma"}, OTHER, 403),
        ("messages", {"since": "2026-01-02", "until": "2026-01-01"}, ADMIN, 400),
        ("messages", {"since": "2025-01-01", "until": "2026-03-01"}, ADMIN, 400),
        ("messages", {"group_by": "colour"}, ADMIN, 400),
        ("messages", {"template": "no-such-template"}, ADMIN, 404),
        ("journeys/no-such-journey", {}, ADMIN, 404),
        ("experiments", {"journey": "no-such-journey"}, ADMIN, 404),
    ]:
        resp = requests.get(f"{rt.api_url}/v1/analytics/{path}", params=params, headers=headers, timeout=30)
        assert resp.status_code == status, (path, params, resp.text)
        assert resp.json()["message"]


# The KPI snapshot (docs/kpis.md): the hourly schedule runs the real handler on the local clock, and
# GET /v1/analytics/kpis shows the shop's snapshot of the day from the segment sizes the rules function keeps.
def test_the_hourly_snapshot_runs_locally_and_the_kpi_report_shows_it(runtime):
    identify = {
        "userId": "kpi-1",
        "messageId": "kpi-1-identify",
        "traits": {"email": "kpi-1@example.de"},
        "context": {"consent": {"email": {"granted": True, "double_opt_in": True}}},
    }
    resp = requests.post(f"{runtime.api_url}/v1/identify", json=identify, auth=KEY, timeout=10)
    assert resp.status_code == 200, resp.text
    runtime.drain()
    result = runtime.run_schedule(force=True, only={"analytics_snapshot"})
    written = result["analytics_snapshot"]["written"]
    assert not result["analytics_snapshot"]["failed"] and "elektro-emma" in written
    report = requests.get(f"{runtime.api_url}/v1/analytics/kpis", headers=ADMIN, timeout=10).json()
    assert report["latest_day"] == written["elektro-emma"]
    latest = report["latest"]
    assert latest["customers"] >= 1 and latest["active_30d"] >= 1 and latest["new_30d"] >= 1
    assert latest["segment:known-customers"] == latest["customers"]
    assert {"reachable_email", "reachable_sms", "reachable_push", "lapsed", "never_opens"} <= set(latest)
    assert any(name.startswith("stage:") for name in latest)
    # Not again within the hour on the local clock, unless forced: the schedule's rate is respected.
    assert "analytics_snapshot" not in runtime.run_schedule(only={"analytics_snapshot"})
