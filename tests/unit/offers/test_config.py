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


def test_an_incentives_entry_that_does_not_validate_falls_back_to_the_defaults_and_keeps_the_shop(caplog):
    shop = ShopConfig.model_validate(
        {"shop": "elektro-emma", "write_keys": ["wk"], "incentives": {"control_share": 0.6, "explor_share": 0.1}}
    )
    assert shop.write_keys == ("wk",) and shop.incentives.control_share == 0.1
    assert "incentives.control_share" in caplog.text and "the defaults apply" in caplog.text


def test_a_pool_makes_referral_codes_only_from_a_pool_of_their_own():
    from datetime import UTC, datetime

    from emma.offers.pool import PoolProvider
    from emma.offers.ports import PoolCode, ProviderRefused
    from emma.offers.service import make_offer
    from emma_local.fakes import InMemoryCodePool

    now = datetime(2026, 11, 2, tzinfo=UTC)
    pool = InMemoryCodePool()
    pool.add("s1", "default", [PoolCode("ONE-USE-1")])
    pool.add("s1", "friends", [PoolCode("FRIENDS-1")])
    referral = make_offer(
        shop="s1",
        code="EMMA-AAAA-BBBB",
        template="review-and-referral-invite",
        reference="referral:x",
        kind="referral",
        percent=10,
        valid_days=365,
        minimum_order=None,
        now=now,
        customer_email=None,
        customer_id=None,
    )
    with pytest.raises(ProviderRefused, match="a pool of their own"):
        PoolProvider(pool, PoolCoupons(provider="pool"), lambda: now).issue(referral)
    issued = PoolProvider(pool, PoolCoupons(provider="pool", pools={"referral": "friends"}), lambda: now).issue(
        referral
    )
    assert issued.code == "FRIENDS-1"
