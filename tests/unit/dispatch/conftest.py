"""A dispatcher over in-memory ports, a shop like the local example and customers built by events."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from emma.dispatch.recorder import IngestRecorder
from emma.dispatch.request import MessageRequest
from emma.dispatch.service import DispatchService
from emma.ingest.service import IngestService
from emma.offers.config import IncentiveConfig, ShopifyCoupons
from emma.offers.service import CouponIssuer
from emma.recommend.build import rebuild
from emma.recommend.service import RecommendationService
from emma.shops import Brand, DispatchConfig, ShopConfig
from emma.templates.loader import load_templates
from emma_local.fakes import (
    FixedClock,
    InMemoryCapStore,
    InMemoryCatalog,
    InMemoryCoupons,
    InMemoryDeferrals,
    InMemoryLinks,
    InMemoryMessageLog,
    InMemoryModelStore,
    InMemoryProfileRepository,
    InMemoryPublisher,
    InMemoryShopHistory,
    RecordingCouponProvider,
    RecordingSender,
    StaticShopDirectory,
)
from tests.factories import T0, event

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = load_templates(ROOT)
SHOP = ShopConfig(
    shop="elektro-emma",
    name="Elektro Emma",
    signing_secret="sig-test",
    dispatch=DispatchConfig(
        sender="news@elektro-emma.example",
        push_application_arn="arn:aws:sns:eu-central-1:1:app/GCM/test",
        brand=Brand(url="https://shop.example", address="Hauptstraße 1, Berlin"),
    ),
    coupons=ShopifyCoupons(provider="shopify", access_token="shpat_test"),  # the tests' recording provider
    incentives=IncentiveConfig(control_share=0.0, explore_share=0.0),  # no random arms unless a test sets them
)
# 10:00 in Berlin on a Monday: outside quiet hours
NOW = T0 + timedelta(hours=1)


class World:
    def __init__(self, shop: ShopConfig = SHOP, suppressions: Any = None) -> None:
        self.clock = FixedClock(NOW)
        self.repo = InMemoryProfileRepository()
        self.catalog = InMemoryCatalog(self.repo)
        self.publisher = InMemoryPublisher()  # what ingest publishes, and the dispatcher's skips
        self.ingest = IngestService(self.repo, self.catalog, self.publisher, self.clock, suppressions=suppressions)
        self.log = InMemoryMessageLog()
        self.caps = InMemoryCapStore()
        self.deferrals = InMemoryDeferrals()
        self.links = InMemoryLinks()
        self.models = InMemoryModelStore()
        self.senders = {"email": RecordingSender(), "sms": RecordingSender(), "push": RecordingSender()}
        self.shops = StaticShopDirectory([shop])
        self.coupons = InMemoryCoupons()
        self.provider = RecordingCouponProvider()
        self.service = DispatchService(
            profiles=self.ingest.resolve,
            shops=self.shops,
            templates=TEMPLATES,
            log_store=self.log,
            caps=self.caps,
            deferrals=self.deferrals,
            links=self.links,
            senders=lambda shop, channel: self.senders[str(channel)],
            recorder=IngestRecorder(self.ingest, self.publisher),
            catalog=self.catalog,
            recommender=RecommendationService(self.models, self.catalog, self.clock),
            clock=self.clock,
            public_url="https://api.example/",
            coupons=CouponIssuer(self.coupons, lambda shop: self.provider),
        )
        self._n = 0

    def build_model(self) -> None:
        """The scheduled recommendations build, over this world's profiles and catalog."""
        rebuild(InMemoryShopHistory(self.repo, self.catalog), self.models, self.clock)

    def customer(
        self,
        cid: str = "c-1",
        *,
        email: bool = True,
        doi: bool = True,
        sms: bool = False,
        push: bool = False,
        timezone: str = "Europe/Berlin",
        locale: str = "de-DE",
        **traits: Any,
    ) -> str:
        refs = {"customer_id": cid, "email": f"{cid}@example.com"}
        proof = {"source": "shop:signup", "at": T0.isoformat(), "wording": "Newsletter", "double_opt_in": doi}
        events = [
            event(
                "customer.registered",
                customer=refs,
                at=T0 - timedelta(days=30),
                first_name="Anna",
                timezone=timezone,
                locale=locale,
                phone="+49 151 1234567",
                traits={"push_token": "tok-1", **traits} if push else traits,
            ),
        ]
        for channel, wanted in (("email", email), ("sms", sms), ("push", push)):
            if wanted:
                events.append(
                    event(
                        "consent.changed",
                        customer=refs,
                        at=T0 - timedelta(days=30),
                        channel=channel,
                        granted=True,
                        proof=proof,
                    )
                )
        self.ingest.ingest(events)
        return self.ingest.resolve("elektro-emma", f"cid:{cid}").profile_id

    def request(self, profile_id: str, template: str = "cart-reminder", **kw: Any) -> MessageRequest:
        self._n += 1
        data = {
            "key": f"exec-{self._n}:step:1",
            "shop": "elektro-emma",
            "profile_id": profile_id,
            "template": template,
            "channel": "best",
            "requested_at": self.clock.now().isoformat(),
            "journey": "abandoned-cart",
            **kw,
        }
        return MessageRequest.model_validate(data)

    def sent(self, channel: str = "email") -> list[Any]:
        return self.senders[channel].sent


@pytest.fixture
def world() -> World:
    return World()
