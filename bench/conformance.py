"""The OpenAPI document against the API it describes: schemathesis generates requests from the
document the API serves, valid and invalid ones, for every operation, sends them over real HTTP and
checks every answer against the document (no 5xx; documented status codes, content types, bodies and
headers; for a request the document calls valid, that it is accepted). `make test` runs 2,000 cases
(tests/e2e/test_openapi_conformance.py), `make bench` 10,000 (section 11).

The other direction, "every request the document calls invalid is refused", is not required: the API
deliberately reads more than it promises (an empty list for an empty object, ISO 8601 forms beyond
RFC 3339, ...). Credentials are real where the document asks for them (the local shop's write key or
admin key; a webhook body is signed with the shop's secret for its platform after generation), so
requests get past authentication and exercise what lies behind it.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests

WRITE_KEY = "wk_local_elektro_emma"
ADMIN_KEY = "ak_local_elektro_emma"
SHOP = "elektro-emma"
# The admin API (the document says adminKey), except the analytics reports, whose date ranges have limits across
# fields (since before until, at most 400 days) that JSON Schema cannot state: everything else under /v1/ takes
# the write key (and is refused with 401).
ADMIN_PATHS = ("/v1/profiles", "/v1/segments", "/v1/catalog", "/v1/imports", "/v1/campaigns", "/v1/privacy")


@dataclass
class Outcome:
    cases: int = 0  # distinct requests sent (a request generated again is neither sent nor counted)
    seen: set = field(default_factory=set)  # fingerprints of the requests sent
    by_operation: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)  # (operation, status, answer) -> cases
    seconds: Counter = field(default_factory=Counter)  # operation -> time spent sending and checking


def _secret(platform: str) -> str | None:
    from emma_local.config import load_config

    shop = next(s for s in load_config().shops if s.shop == SHOP)
    return shop.webhook_secrets.get(platform)


def _sign(platform: str, body: bytes) -> dict[str, str]:
    from emma.sources.signatures import sign_base64, sign_hex

    secret = _secret(platform)
    if not secret:
        return {}
    if platform == "shopify":
        return {"X-Shopify-Hmac-Sha256": sign_base64(secret, body)}
    if platform == "woocommerce":
        return {"X-WC-Webhook-Signature": sign_base64(secret, body)}
    return {"shopware-shop-signature": sign_hex(secret, body)}


def _request(case: Any, base_url: str) -> dict[str, Any]:
    """What schemathesis would send, with real credentials and the exact bytes a signature covers."""
    import base64

    kwargs = case.as_transport_kwargs(base_url=base_url)
    generated = kwargs.pop("headers", {}).items()  # credentials are set below, never generated ones
    headers = {k: v for k, v in generated if k.lower() not in ("x-schemathesis-testcaseid", "authorization")}
    if "json" in kwargs:
        kwargs["data"] = json.dumps(kwargs.pop("json")).encode()
    path = case.operation.path
    if path.startswith("/webhooks/"):
        platform = case.path_parameters.get("platform")
        body = kwargs.get("data") or b""
        headers.update(_sign(platform, body if isinstance(body, bytes) else str(body).encode()))
    elif path.startswith(ADMIN_PATHS):
        headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    elif path.startswith("/v1/"):
        headers["Authorization"] = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    kwargs["headers"] = headers
    kwargs.pop("cookies", None)
    return kwargs


def _fingerprint(request: dict[str, Any]) -> str:
    import hashlib

    headers = sorted((k.lower(), str(v)) for k, v in (request.get("headers") or {}).items())
    params = sorted((str(k), str(v)) for k, v in (request.get("params") or {}).items())
    body = request.get("data") or b""
    parts = [request["method"], request["url"], repr(headers), repr(params)]
    return hashlib.sha256(
        "\0".join(parts).encode() + b"\0" + (body if isinstance(body, bytes) else str(body).encode())
    ).hexdigest()


def _property(op, mode, share, seed, checks, label, overrides, base_url, session, outcome):
    from hypothesis import HealthCheck, Phase, assume, given, settings
    from hypothesis import seed as hypothesis_seed
    from schemathesis import GenerationMode

    @hypothesis_seed(seed)
    @settings(
        max_examples=share,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(op.as_strategy(generation_mode=mode, **overrides))
    def one(case: Any) -> None:
        if op.path == "/v1/catalog/products" and isinstance(case.body, dict):
            # The document says in words that product ids are unique within a request (422 otherwise);
            # JSON Schema cannot say it, so such a request is no valid one.
            ids = [p.get("product_id") for p in case.body.get("products") or [] if isinstance(p, dict)]
            assume(mode != GenerationMode.POSITIVE or len(ids) == len(set(ids)))
        request = _request(case, base_url)
        fingerprint = _fingerprint(request)
        if fingerprint in outcome.seen:
            return
        outcome.seen.add(fingerprint)
        outcome.cases += 1
        outcome.by_operation[label] += 1
        started = time.perf_counter()
        response = session.request(**request, timeout=60)
        outcome.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=checks)
        except BaseException as exc:  # schemathesis raises FailureGroup (an ExceptionGroup)
            kind = (label, response.status_code, response.text[:160])
            outcome.kinds[kind] += 1
            if outcome.kinds[kind] == 1 and len(outcome.failures) < 30:
                sent = _request(case, base_url)
                outcome.failures.append(
                    f"{label}: {response.status_code} {response.text[:300]!r}\n"
                    f"  sent {str(sent.get('data') or sent.get('params'))[:300]}\n  {str(exc)[:2000]}"
                )
        finally:
            outcome.seconds[label] += time.perf_counter() - started

    return one


def run(base_url: str, total: int, seed: int = 7) -> Outcome:
    """Send ``total`` generated cases (about half valid, half invalid per the document) spread over the
    operations of the document the API serves at ``base_url``."""
    import schemathesis
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        positive_data_acceptance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    document = requests.get(f"{base_url}/v1/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    plans = [(op, mode) for op in operations for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    outcome = Outcome()
    session = requests.Session()
    always = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        response_headers_conformance,
    ]
    remaining = list(plans)
    budget = total
    # Some operations have few distinct inputs (no parameters, no body): their share goes to the others.
    # Every round has a seed of its own, so a later round generates new requests, not the earlier ones.
    for round_ in range(50):
        if not remaining or budget <= 0:
            break
        share = math.ceil(budget / len(remaining))
        next_round = []
        for op, mode in remaining:
            label = f"{op.method.upper()} {op.path} ({mode.value})"
            before = outcome.cases
            overrides = {"path_parameters": {"shop": SHOP}} if "{shop}" in op.path else {}
            # A webhook body is "the platform's payload": the document does not restate every topic's
            # schema, so a body it calls valid may still lack what a topic needs (400, or 422 for an
            # unknown topic). Every other answer is checked the same way.
            accepts = mode == GenerationMode.POSITIVE and not op.path.startswith("/webhooks/")
            checks = always + ([positive_data_acceptance] if accepts else [])

            one = _property(op, mode, share, seed + round_, checks, label, overrides, base_url, session, outcome)
            with contextlib.suppress(Unsatisfiable):  # e.g. no invalid request exists for an operation
                one()
            made = outcome.cases - before
            if made >= max(1, share // 2):  # still finding new requests: it may have more
                next_round.append((op, mode))
        budget = total - outcome.cases
        remaining = next_round
    return outcome


def measure(total: int = 10_000) -> dict[str, Any]:
    """`make bench`: ``total`` cases against a fresh local runtime (as the test runs it)."""
    from emma_local.config import load_config
    from emma_local.runtime import LocalRuntime

    runtime = LocalRuntime(load_config(), port=0, log_level="ERROR", environments=0, schedule=False, tap=False)
    runtime.start()
    for pump in runtime.pumps.values():
        pump.stop()
    started = time.perf_counter()
    try:
        outcome = run(runtime.api_url, total)
    finally:
        runtime.stop()
    return {
        "cases": outcome.cases,  # distinct requests
        "operations": len({label.rsplit(" (", 1)[0] for label in outcome.by_operation}),
        "statuses": {str(k): v for k, v in sorted(outcome.statuses.items())},
        "server_errors": sum(v for k, v in outcome.statuses.items() if k >= 500),
        "violations": sum(outcome.kinds.values()),
        "distinct_violations": len(outcome.kinds),
        "first_violations": outcome.failures[:5],
        "run_s": time.perf_counter() - started,
    }


def report(r: dict[str, Any]) -> str:
    statuses = ", ".join(f"{k}: {v:,}" for k, v in r["statuses"].items())
    out = [
        f"\n11. The OpenAPI document against the local API (schemathesis, {r['cases']:,} generated cases over "
        f"{r['operations']} operations, valid and invalid)",
        f"  answers by status: {statuses}",
        f"  5xx: {r['server_errors']}; answers or acceptances that violate the document: {r['violations']} "
        f"({r['distinct_violations']} distinct). Took {r['run_s']:.0f} s.",
    ]
    out += [f"  - {v.splitlines()[0][:200]}" for v in r["first_violations"]]
    return "\n".join(out)
