"""A shop's coupons entry: each provider validates, and one that does not keeps the shop working, with the
problem to show on its messages."""

from __future__ import annotations

import pytest

from emma.offers.config import BrokenCoupons, PoolCoupons, ShopifyCoupons, ShopwareCoupons, WooCommerceCoupons
from emma.shops import ShopConfig


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        ({"provider": "shopify", "access_token": "shpat_x"}, ShopifyCoupons),
        (
            {"provider": "woocommerce", "url": "https://shop.example", "consumer_key": "ck", "consumer_secret": "cs"},
            WooCommerceCoupons,
        ),
        (
            {"provider": "shopware", "url": "https://shop.example", "promotions": {"cart-coupon": "a" * 32}},
            ShopwareCoupons,
        ),
        ({"provider": "pool", "pools": {"winback-coupon": "winter"}, "low_alarm": 50}, PoolCoupons),
    ],
)
def test_each_provider_validates(entry, kind):
    shop = ShopConfig.model_validate({"shop": "elektro-emma", "coupons": entry})
    assert isinstance(shop.coupons, kind)
    assert "shpat" not in repr(shop.coupons)  # credentials never printed
    assert ShopConfig.model_validate(shop.model_dump(mode="json")).coupons == shop.coupons


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"provider": "magento"}, "coupons.provider 'magento' is not one of shopify, woocommerce, shopware, pool"),
        ({"provider": "shopify", "acces_token": "x"}, "coupons.acces_token: Extra inputs are not permitted"),
        ({"provider": "pool", "low_alarm": -1}, "coupons.low_alarm: Input should be greater than or equal to 0"),
        ("shopify", "coupons must be an object with a provider, not str"),
    ],
)
def test_an_entry_that_does_not_validate_keeps_the_shop_and_names_the_problem(entry, problem):
    shop = ShopConfig.model_validate({"shop": "elektro-emma", "write_keys": ["wk"], "coupons": entry})
    assert shop.write_keys == ("wk",)  # the shop works: ingest is not disabled by its coupon set-up
    assert isinstance(shop.coupons, BrokenCoupons) and shop.coupons.problem == problem
    again = ShopConfig.model_validate(shop.model_dump(mode="json"))
    assert again.coupons == shop.coupons  # a dumped broken entry keeps its problem


def test_missing_credentials_are_not_a_validation_error():
    shop = ShopConfig.model_validate({"shop": "elektro-emma", "coupons": {"provider": "woocommerce"}})
    assert isinstance(shop.coupons, WooCommerceCoupons) and shop.coupons.consumer_key is None  # the factory says why
    assert shop.incentives.control_share == 0.1 and shop.incentives.explore_share == 0.05
