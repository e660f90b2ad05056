"""SecretsShopDirectory against a counting fake of the Secrets Manager client: how many reads a
flood of lookups costs, and what happens while Secrets Manager fails."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emma.adapters.shops import SecretsShopDirectory
from emma.errors import ShopNotFound, StoreError, Unauthorized
from emma.shops import ShopConfig

PREFIX = "emma/shops/"
SHOP = ShopConfig(shop="elektro-emma", write_keys=("wk_1",), webhook_secrets={"shopify": "s-shopify"})
THROTTLED = ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "ListSecrets")


class FakeSecrets:
    """ListSecrets (paginated) and BatchGetSecretValue over a dict; counts the calls; can fail."""

    def __init__(self, *shops: ShopConfig) -> None:
        self.secrets = {f"{PREFIX}{s.shop}": s.model_dump_json() for s in shops}
        self.calls: Counter[str] = Counter()
        self.failure: Exception | None = None

    def get_paginator(self, operation: str) -> FakeSecrets:
        assert operation == "list_secrets"
        return self

    def paginate(self, **_: Any) -> Iterator[dict[str, Any]]:
        self.calls["ListSecrets"] += 1
        if self.failure is not None:
            raise self.failure
        yield {"SecretList": [{"Name": name} for name in self.secrets]}

    def batch_get_secret_value(self, SecretIdList: list[str]) -> dict[str, Any]:
        self.calls["BatchGetSecretValue"] += 1
        return {"SecretValues": [{"Name": n, "SecretString": self.secrets[n]} for n in SecretIdList]}


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def world() -> tuple[SecretsShopDirectory, FakeSecrets, Clock]:
    client, clock = FakeSecrets(SHOP), Clock()
    return SecretsShopDirectory(client, PREFIX, ttl_seconds=300, clock=clock), client, clock


def test_unknown_shop_names_cost_one_read_per_miss_interval_however_many_there_are(world):
    directory, client, clock = world
    for second in range(120):  # two minutes of a flood: 10 unknown names a second, all different
        clock.t = float(second)
        for n in range(10):
            with pytest.raises(ShopNotFound):
                directory.get(f"nope-{second}-{n}")
    # the first read, then one refresh per 30 s miss interval (30.x, 61, 92): 4 reads for 1,200 lookups
    assert client.calls["ListSecrets"] == 4
    assert directory.get("elektro-emma").shop == "elektro-emma"
    assert client.calls["ListSecrets"] == 4  # a known shop reads nothing within the TTL


def test_a_known_shop_costs_one_read_per_ttl(world):
    directory, client, clock = world
    for second in range(0, 900, 3):
        clock.t = float(second)
        directory.get("elektro-emma")
    assert client.calls["ListSecrets"] == 3  # at 0, after 300 s, after 600 s


def test_a_failing_read_is_not_repeated_per_request_and_the_shops_read_stay_in_use(world):
    directory, client, clock = world
    directory.get("elektro-emma")
    client.failure = THROTTLED
    clock.t = 301.0  # the cache is due; Secrets Manager throttles
    for _ in range(100):
        assert directory.get("elektro-emma").shop == "elektro-emma"  # the shops read before keep working
        with pytest.raises(ShopNotFound):
            directory.get("nope")
    assert client.calls["ListSecrets"] == 2  # one failed attempt, not one per request
    clock.t = 312.0  # after the backoff: one more attempt, which succeeds
    client.failure = None
    directory.get("elektro-emma")
    assert client.calls["ListSecrets"] == 3
    clock.t = 320.0
    directory.get("elektro-emma")
    assert client.calls["ListSecrets"] == 3  # fresh again for a TTL


def test_without_any_shops_read_requests_fail_transiently_without_a_call_each(world):
    directory, client, clock = world
    client.failure = THROTTLED
    for _ in range(50):
        with pytest.raises(StoreError, match="could not read shop secrets: ClientError"):
            directory.by_write_key("wk_1")
    assert client.calls["ListSecrets"] == 1
    clock.t = 11.0
    client.failure = None
    with pytest.raises(Unauthorized):
        directory.by_write_key("wk_nope")
    assert directory.by_write_key("wk_1").shop == "elektro-emma"
    assert client.calls["ListSecrets"] == 2
