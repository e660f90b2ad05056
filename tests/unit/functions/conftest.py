import json
from pathlib import Path

import pytest

from emma.ingest.reads import ProfileReads
from emma.ingest.service import IngestService
from emma.recommend.service import RecommendationService
from emma.shops import ShopConfig
from emma.wiring.ingest import Intake
from emma_local.fakes import (
    FixedClock,
    InMemoryCatalog,
    InMemoryJourneyStore,
    InMemoryMessageLog,
    InMemoryModelStore,
    InMemoryProfileRepository,
    InMemoryPublisher,
    InMemoryRulesStore,
    StaticShopDirectory,
)
from emma_local.lambdas import LambdaContext, api_event, response_body
from factories import T0

EVENTS = Path(__file__).resolve().parents[3] / "events"
SHOP = ShopConfig(
    shop="elektro-emma",
    write_keys=("wk_1",),
    admin_keys=("ak_1",),
    webhook_secrets={"shopify": "s-shopify", "woocommerce": "s-woo", "shopware": "s-sw"},
    shopify_domain="elektro-emma.myshopify.com",
)
OTHER = ShopConfig(shop="fahrrad-franz", write_keys=("wk_2",), admin_keys=("ak_2",))


class QueuedPrivacy:
    """The privacy service as the webhook route uses it: requests queued, recorded here."""

    def __init__(self) -> None:
        self.requests: list[dict] = []

    def request(self, shop, kind, refs, actor, *, request_id, orders=(), notify=False):
        from emma.privacy.model import PrivacyJob

        self.requests.append(
            {
                "shop": shop.shop,
                "kind": kind,
                "refs": list(refs),
                "actor": actor,
                "orders": list(orders),
                "request_id": request_id,
                "notify": notify,
            }
        )
        return PrivacyJob(
            job_id=f"job-{len(self.requests)}",
            shop=shop.shop,
            kind=kind,
            actor=actor,
            subject="h",
            created_at=T0,
            updated_at=T0,
        )


class Api:
    def __init__(self, handler, world):
        self.handler = handler
        self.world = world

    def call(self, method, path, body=b"", headers=None, query=""):
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        result = self.handler(
            api_event(method, path, query, {"content-type": "application/json", **(headers or {})}, body),
            LambdaContext("ingest"),
        )
        raw = response_body(result)
        return result["statusCode"], (json.loads(raw) if raw else None)


@pytest.fixture
def world(monkeypatch):
    from ingest import deps

    repo, publisher = InMemoryProfileRepository(), InMemoryPublisher()
    service = IngestService(repo, InMemoryCatalog(repo), publisher, FixedClock(T0), sleep=lambda s: None)
    rules = InMemoryRulesStore(repo)
    rules.counters["elektro-emma"] = {"first-time-buyers": 3, "lapsed": 1}
    intake = Intake(service, StaticShopDirectory([SHOP, OTHER]))
    reads = ProfileReads(service, rules, InMemoryJourneyStore(), InMemoryMessageLog())
    recommender = RecommendationService(InMemoryModelStore(), service.catalog, service.clock)
    monkeypatch.setattr(deps, "intake", lambda: intake)
    monkeypatch.setattr(deps, "reads", lambda: reads)
    monkeypatch.setattr(deps, "recommender", lambda: recommender)
    privacy = QueuedPrivacy()
    monkeypatch.setattr(deps, "privacy", lambda: privacy)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Emma")
    return {"repo": repo, "publisher": publisher, "service": service, "privacy": privacy}


@pytest.fixture
def api(world):
    from ingest.handler import lambda_handler

    return Api(lambda_handler, world)
