"""The local config: a coupons or incentives entry that does not validate is a file:line error here (in AWS it
only holds the shop's coupon messages back, or falls back to the defaults)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emma_local.config import EXAMPLE, ConfigError, load_config


def variant(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "emma.local.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_the_example_gives_elektro_emma_shopify_and_fahrrad_franz_woocommerce_coupons():
    config = load_config(EXAMPLE)
    assert [(s.shop, s.coupons.provider if s.coupons else None) for s in config.shops] == [
        ("elektro-emma", "shopify"),
        ("fahrrad-franz", "woocommerce"),
    ]


def test_an_unknown_coupon_provider_names_the_file_and_line(tmp_path):
    path = variant(tmp_path, 'provider = "shopify"', 'provider = "magento"')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path}:{line_of(path, 'magento')}: shops.0.coupons.provider 'magento' is not one of shopify, woocommerce, "
        "shopware, pool"
    )


def test_an_incentive_share_out_of_range_names_the_file_and_line(tmp_path):
    path = variant(tmp_path, "control_share = 0.10", "control_share = 0.75")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line_of(path, '0.75')}: shops.0.incentives.control_share: ")
    assert "less than or equal to 0.5" in message
