"""The KPI snapshot in the local runtime: the hourly schedule runs the real handler on the local clock, and
GET /v1/analytics/kpis shows the shop's snapshot of the day from the segment sizes the rules function keeps."""

import pytest
import requests

pytestmark = pytest.mark.e2e
ADMIN = {"authorization": "Bearer ak_local_elektro_emma"}
KEY = ("wk_local_elektro_emma", "")


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
