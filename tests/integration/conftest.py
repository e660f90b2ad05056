"""Adapters against moto (in-process). Resources come from the same definitions as CDK and `emma dev`."""

import boto3
import pytest
from moto import mock_aws

from emma.shops import ShopConfig
from emma_local.provision import provision

SHOP = ShopConfig(
    shop="elektro-emma",
    name="Elektro Emma",
    write_keys=("wk_test",),
    admin_keys=("ak_test",),
    webhook_secrets={"shopify": "shpss_test"},
    shopify_domain="elektro-emma.myshopify.com",
)


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        session = boto3.Session(region_name="eu-central-1")
        yield session, provision(session, [SHOP])
