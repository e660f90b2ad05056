"""The webhook sources: one object per platform, found by the platform in the URL."""

from __future__ import annotations

import inspect

import pytest

from emma.errors import InvalidSignature
from emma.shops import ShopConfig
from emma.sources.signatures import sign_base64
from emma.sources.webhooks import WEBHOOK_SOURCES, WebhookSource

SHOP = ShopConfig(shop="elektro-emma", shopify_domain="elektro-emma.myshopify.com")
MEMBERS = [name for name, _ in inspect.getmembers(WebhookSource) if not name.startswith("_")]


def test_every_platform_is_registered_under_its_name_with_every_member_of_the_protocol():
    assert sorted(WEBHOOK_SOURCES) == ["shopify", "shopware", "woocommerce"]
    assert sorted(MEMBERS) == ["check_shop", "delivery_of", "is_ping", "map_delivery", "name", "verify"]
    for name, source in WEBHOOK_SOURCES.items():
        assert source.name == name
        assert all(callable(getattr(source, m)) for m in MEMBERS if m != "name")


def test_only_woocommerce_has_a_ping():
    ping = b"webhook_id=42"
    assert {name for name, source in WEBHOOK_SOURCES.items() if source.is_ping(ping)} == {"woocommerce"}


@pytest.mark.parametrize("domain", [None, "elektro-emma.myshopify.com", "ELEKTRO-EMMA.myshopify.com"])
def test_shopify_accepts_a_delivery_of_the_shops_store_or_one_naming_none(domain):
    headers = {} if domain is None else {"x-shopify-shop-domain": domain}
    WEBHOOK_SOURCES["shopify"].check_shop(SHOP, headers)


def test_shopify_refuses_a_delivery_signed_for_another_store_and_the_others_compare_nothing():
    headers = {"x-shopify-shop-domain": "someone-else.myshopify.com"}
    with pytest.raises(InvalidSignature, match="not this shop's store"):
        WEBHOOK_SOURCES["shopify"].check_shop(SHOP, headers)
    WEBHOOK_SOURCES["shopify"].check_shop(SHOP.model_copy(update={"shopify_domain": None}), headers)
    for name in ("woocommerce", "shopware"):
        WEBHOOK_SOURCES[name].check_shop(SHOP, headers)


def test_verify_checks_the_platforms_own_header():
    body = b'{"id": 1}'
    WEBHOOK_SOURCES["woocommerce"].verify("s", body, {"x-wc-webhook-signature": sign_base64("s", body)})
    with pytest.raises(InvalidSignature, match="missing x-shopify-hmac-sha256"):
        WEBHOOK_SOURCES["shopify"].verify("s", body, {"x-wc-webhook-signature": sign_base64("s", body)})
