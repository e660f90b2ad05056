"""The demo's privacy part: a customer exports their data, another one is erased (GDPR Art. 15 and 17),
through the admin API as a shop would call it, with what each touched per item type."""

from __future__ import annotations

from typing import Any

import requests

from emma_local.config import LocalConfig
from emma_local.runtime import LocalRuntime

EXPORTED = "lena.schmidt@example.de"  # the Shopify customer of events/shopify (elektro-emma)
ERASED_SHOP = "fahrrad-franz"  # the WooCommerce tenant: its first customer by email is erased


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))


def run_privacy_demo(rt: LocalRuntime, config: LocalConfig, http: Any = requests) -> int:
    print("\n16. Privacy: a customer's data export and an erasure (admin API)")
    problems = []
    shop = config.shop("elektro-emma")
    admin = {"authorization": f"Bearer {shop.admin_keys[0]}"}
    resp = http.get(f"{rt.api_url}/v1/profiles/{EXPORTED}/export", headers=admin, timeout=30)
    if resp.status_code != 200:
        problems.append(f"export of {EXPORTED}: {resp.status_code}")
    else:
        doc = resp.json()
        items = doc["summary"]["items"]
        print(f"  200  GET /v1/profiles/{EXPORTED}/export: {sum(items.values())} items in {len(items)} item types")
        print(f"       {_counts(items)}")
    other = config.shop(ERASED_SHOP)
    admin = {"authorization": f"Bearer {other.admin_keys[0]}"}
    victim = _first_customer(rt, ERASED_SHOP)
    if victim is None:
        problems.append(f"no customer with an email in {ERASED_SHOP} to erase")
    else:
        resp = http.delete(f"{rt.api_url}/v1/profiles/{victim}", headers=admin, timeout=30)
        if resp.status_code != 200:
            problems.append(f"erasure of {victim}: {resp.status_code}")
        else:
            job = resp.json()["job"]
            print(
                f"  200  DELETE /v1/profiles/{victim}: {sum(job['counts'].values())} items deleted, "
                f"{job['stopped_executions']} journeys stopped, {job['suppressed']} addresses kept as salted hashes"
            )
            print(f"       {_counts(job['counts'])}")
            after = http.get(f"{rt.api_url}/v1/profiles/{victim}", headers=admin, timeout=10).status_code
            print(f"  {after}  GET /v1/profiles/{victim} afterwards")
            if after != 404:
                problems.append(f"{victim} still answers {after} after the erasure")
            trail = http.get(f"{rt.api_url}/v1/privacy/audit", headers=admin, timeout=10).json()["entries"]
            print("  200  GET /v1/privacy/audit: " + "; ".join(f"{e['action']} by {e['actor']}" for e in trail))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


def _first_customer(rt: LocalRuntime, shop: str) -> str | None:
    """The shop's first profile with an email address (alphabetically), from its aliases."""
    assert rt.emulator is not None
    ddb = rt.emulator.session().client("dynamodb")
    prefix = f"S#{shop}#A#email#"
    emails = []
    for page in ddb.get_paginator("scan").paginate(
        TableName=rt.resources.tables["ProfilesTable"],
        FilterExpression="begins_with(pk, :p)",
        ExpressionAttributeValues={":p": {"S": prefix}},
    ):
        emails += [i["pk"]["S"][len(prefix) :] for i in page["Items"]]
    return min(emails, default=None)
