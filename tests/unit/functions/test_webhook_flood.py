"""A flood of unsigned or badly signed webhooks, and of webhooks naming shops that do not exist, is
refused before any store read: the handler wired to counting stores and a counting Secrets Manager
fake (the real SecretsShopDirectory with its cache)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emma.adapters.shops import SecretsShopDirectory
from emma.ingest.reads import ProfileReads
from emma.ingest.service import IngestService
from emma.sources.signatures import sign_base64, sign_hex
from emma.wiring.ingest import Intake
from emma_local.fakes import FixedClock, InMemoryCatalog, InMemoryProfileRepository, InMemoryPublisher
from factories import T0
from tests.unit.adapters.test_shops import PREFIX, Clock, FakeSecrets
from tests.unit.functions.conftest import SHOP, Api


class Counting:
    """A store double that records every method called on it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return attr(*args, **kwargs)

        return call


@pytest.fixture
def flood(monkeypatch):
    from ingest import deps
    from ingest.handler import lambda_handler

    repo = InMemoryProfileRepository()
    profiles, catalog, publisher = Counting(repo), Counting(InMemoryCatalog(repo)), Counting(InMemoryPublisher())
    service = IngestService(profiles, catalog, publisher, FixedClock(T0), sleep=lambda s: None)
    secrets, clock = FakeSecrets(SHOP), Clock()
    shops = SecretsShopDirectory(secrets, PREFIX, ttl_seconds=300, clock=clock)
    intake = Intake(service, shops)
    reads = ProfileReads(service, Counting(object()), Counting(object()), Counting(object()))
    links = Counting(object())
    monkeypatch.setattr(deps, "intake", lambda: intake)
    monkeypatch.setattr(deps, "reads", lambda: reads)
    monkeypatch.setattr(deps, "links", lambda: links)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Emma")
    stores = [
        profiles,
        catalog,
        publisher,
        reads.rules,
        reads.journeys,
        reads.messages,
        links,
    ]
    return Api(lambda_handler, None), stores, secrets, clock


def shopify_headers(signature: str | None) -> dict[str, str]:
    headers = {
        "x-shopify-topic": "orders/create",
        "x-shopify-webhook-id": "d-1",
        "x-shopify-shop-domain": "elektro-emma.myshopify.com",
    }
    if signature is not None:
        headers["x-shopify-hmac-sha256"] = signature
    return headers


def test_unsigned_badly_signed_and_unknown_shop_floods_read_no_store_and_the_secrets_once_per_interval(flood):
    api, stores, secrets, clock = flood
    body = json.dumps({"id": 1, "email": "lena.schmidt@example.de"}).encode()
    answers: list[int] = []
    for second in range(0, 600, 2):  # ten minutes, 5 requests every 2 s
        clock.t = float(second)
        answers.append(api.call("POST", "/webhooks/shopify/elektro-emma", body, shopify_headers(None))[0])
        answers.append(api.call("POST", "/webhooks/shopify/elektro-emma", body, shopify_headers("AAAA"))[0])
        wrong = sign_base64("not-the-secret", body)
        answers.append(api.call("POST", "/webhooks/shopify/elektro-emma", body, shopify_headers(wrong))[0])
        sw = {"shopware-shop-signature": sign_hex("not-the-secret", body)}
        answers.append(api.call("POST", "/webhooks/shopware/elektro-emma", body, sw)[0])
        answers.append(api.call("POST", f"/webhooks/shopify/nope-{second}", body, shopify_headers(wrong))[0])

    assert sorted(set(answers)) == [401, 404]
    assert answers.count(404) == 300  # the unknown shops; all others 401
    assert {type(s._inner).__name__: s.calls for s in stores if s.calls} == {}  # not one store call
    # Known shop: one read per 5-minute TTL (at 0 s and 300 s). Unknown shops: at most one earlier
    # refresh per 30 s miss interval for all of them together, never one per request.
    assert secrets.calls["ListSecrets"] <= 600 // 30 + 1
    assert secrets.calls["BatchGetSecretValue"] == secrets.calls["ListSecrets"]


def test_a_signed_webhook_still_goes_through(flood):
    api, stores, _, _ = flood
    body = json.dumps({"id": 1, "email": "lena.schmidt@example.de", "customer": {"id": 7}}).encode()
    headers = {**shopify_headers(sign_base64("s-shopify", body)), "x-shopify-topic": "customers/create"}
    status, answer = api.call("POST", "/webhooks/shopify/elektro-emma", body, headers)
    assert status == 200, answer
    assert stores[0].calls  # and it reaches the store: the counting doubles see calls
