"""Shopify's shop/redact on a runtime of its own (it erases the whole shop; a runtime per module:
two runtimes must never overlap in one process)."""

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
