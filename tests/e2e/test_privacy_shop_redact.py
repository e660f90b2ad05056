"""Shopify's shop/redact on a runtime of its own (it erases the whole shop; a runtime per module:
two runtimes must never overlap in one process)."""

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from emma_local.config import load_config
from emma_local.runtime import LocalRuntime
from tests.e2e.test_privacy_runtime import ADMIN, call, leftovers, real, shopify

pytestmark = pytest.mark.e2e


def test_shopify_shop_redact_erases_every_customer_of_the_shop():
    runtime = LocalRuntime(load_config(), port=0, log_level="ERROR", environments=0, schedule=False).start()
    try:
        for n in range(3):
            customer = {**real("customers_create"), "id": 556000 + n, "email": f"kunde{n}@example.de"}
            assert shopify(runtime, "customers/create", customer, f"c-{n}").status_code == 200
        call(runtime, "page", {"anonymousId": "anon-shop-redact", "name": "Home"})
        runtime.settle()
        body = {**real("shop_redact"), "shop_domain": "elektro-emma.myshopify.com"}
        answer = shopify(runtime, "shop/redact", body, "sr-1")
        assert answer.status_code == 200, answer.text
        runtime.run_schedule(only={"privacy"}, force=True)
        job = requests.get(f"{runtime.api_url}/v1/privacy/jobs/{answer.json()['job_id']}", headers=ADMIN, timeout=10)
        assert job.json()["job"]["status"] == "done"
        assert leftovers(runtime, ["kunde0", "kunde1", "kunde2", "anon-shop-redact", "S#elektro-emma#P#"]) == []
        # the other shop is untouched, the audit trail stays
        trail = requests.get(f"{runtime.api_url}/v1/privacy/audit", headers=ADMIN, timeout=10).json()["entries"]
        assert [e["action"] for e in trail] == ["erase_shop"]
    finally:
        runtime.stop()


SCENARIO = """
import requests
from emma_local.config import load_config
from emma_local.runtime import LocalRuntime
from tests.e2e.test_privacy_runtime import ADMIN, build_customer

runtime = LocalRuntime(load_config(), port=0, log_level="DEBUG", environments=0, schedule=False).start()
try:
    build_customer(runtime, "log-1", "anon-log-1", "log.kunde@example.de", "+4915199999977")
    url = f"{runtime.api_url}/v1/profiles"
    assert requests.get(f"{url}/log.kunde@example.de/export", headers=ADMIN, timeout=10).status_code == 200
    assert requests.get(f"{url}/nobody.here@example.de", headers=ADMIN, timeout=10).status_code == 404
    assert requests.delete(f"{url}/log.kunde@example.de", headers=ADMIN, timeout=30).status_code == 200
finally:
    runtime.stop()
"""


def test_no_personal_data_reaches_the_logs():
    """The functions' logs (CloudWatch, 30 days) outlive an erasure: they must not hold the customer's
    addresses or ids, at the most verbose level the functions log at. A process of its own: the
    functions' loggers take their level when they are first imported."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", SCENARIO], cwd=root, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = done.stdout + done.stderr
    assert '"level":"DEBUG"' in text or '"level":"INFO"' in text  # the functions did log
    for needle in ("log.kunde", "4915199999977", "anon-log-1", "nobody.here", "Erika"):
        assert needle not in text, needle
