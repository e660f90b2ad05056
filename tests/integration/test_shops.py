import pytest

from emma.adapters.shops import SecretsShopDirectory
from emma.errors import ShopNotFound, Unauthorized
from emma.resources import SHOP_SECRET_PREFIX


class Clock:
    t = 0.0

    def __call__(self):
        return self.t


@pytest.fixture
def shops(aws):
    session, _ = aws
    clock = Clock()
    return SecretsShopDirectory(session.client("secretsmanager"), SHOP_SECRET_PREFIX, clock=clock), session, clock


def test_lookups_by_shop_write_key_admin_key_and_domain(shops):
    directory, _, _ = shops
    assert directory.get("elektro-emma").name == "Elektro Emma"
    assert directory.by_write_key("wk_test").shop == "elektro-emma"
    assert directory.by_admin_key("ak_test").shop == "elektro-emma"
    assert directory.by_shopify_domain("Elektro-Emma.myshopify.com").shop == "elektro-emma"
    with pytest.raises(Unauthorized):
        directory.by_write_key("ak_test")  # an admin key is no write key
    with pytest.raises(ShopNotFound):
        directory.get("nope")


def test_a_new_shop_is_found_after_a_miss_and_a_broken_secret_disables_only_itself(shops):
    directory, session, clock = shops
    directory.get("elektro-emma")
    secrets = session.client("secretsmanager")
    secrets.create_secret(Name=f"{SHOP_SECRET_PREFIX}neu", SecretString='{"shop": "neu", "write_keys": ["wk_neu"]}')
    secrets.create_secret(Name=f"{SHOP_SECRET_PREFIX}kaputt", SecretString='{"shop": "kaputt", "write_keys": 5}')
    clock.t = 31  # past the miss-refresh interval
    assert directory.by_write_key("wk_neu").shop == "neu"
    with pytest.raises(ShopNotFound):
        directory.get("kaputt")
    assert directory.get("elektro-emma").shop == "elektro-emma"


def test_shop_config_never_prints_its_secrets(shops):
    directory, _, _ = shops
    text = f"{directory.get('elektro-emma')!r} {directory.get('elektro-emma')}"
    assert "wk_test" not in text and "shpss_test" not in text
