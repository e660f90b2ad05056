"""DynamoDB adapters of the recommender: the model's lists (in the catalog table, beside the
products) and the scans the scheduled build reads (every product and profile of a shop)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emma.adapters import keys
from emma.adapters.ddb import Table, key, plain_item, string, wrap_error
from emma.adapters.dynamodb import profile_json
from emma.recommend import layout
from emma.recommend.model import ShopModel

DECODED_ITEMS = 256  # shop-wide model items kept decoded per container (the oldest go first)
SCAN_SEGMENTS = 4  # segments of the parallel scan, read one after another here (a single reader keeps it simple)


class DynamoModelStore(Table):
    """The model's items (emma.recommend.layout: HEAD, G#<n>, N#<product>; keys.MODEL_LIST), each
    z = zlib-compressed JSON. Items of the old format (one list per item, v = JSON [[product, score],
    ...]) are still read, until the next build deletes them."""

    def __init__(self, client: Any, table: str, **kwargs: Any) -> None:
        super().__init__(client, table, **kwargs)
        # the shop-wide items every request reads (HEAD, group shards), decoded once per build and container
        self._decoded: dict[tuple[str, str], tuple[bytes, Any]] = {}

    def load(self, shop: str, list_keys: Iterable[str]) -> dict[str, Any]:
        wanted = [key(keys.model_pk(shop), keys.model_sk(k)) for k in dict.fromkeys(list_keys)]
        if not wanted:
            return {}
        items = self._batch_get(wanted, consistent=False)
        return {i["sk"]["S"]: self._value(shop, i) for i in items}

    def _value(self, shop: str, item: dict[str, Any]) -> Any:
        if "z" not in item:
            return json.loads(item["v"]["S"])  # the old format: one list
        sk, data = item["sk"]["S"], item["z"]["B"]
        if not sk.startswith((layout.HEAD, layout.GROUP_SHARD)):
            return layout.decompress(data)
        cached = self._decoded.get((shop, sk))
        if cached is None or cached[0] != data:
            if len(self._decoded) >= DECODED_ITEMS:
                self._decoded.pop(next(iter(self._decoded)))
            cached = (data, layout.decompress(data))
            self._decoded[(shop, sk)] = cached
        return cached[1]

    def save(self, model: ShopModel) -> int:
        pk = keys.model_pk(model.shop)
        before = {
            i["sk"]["S"]
            for i in self._query_all(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": string(pk)},
                ProjectionExpression="sk",
            )
        }
        built = model.built_at.isoformat()
        packed = layout.pack(model)
        # the neighbourhoods and shards first, HEAD last: a request that finds the new HEAD finds its lists
        order = sorted(packed, key=lambda k: k == layout.HEAD)
        puts = [
            {
                "PutRequest": {
                    "Item": {
                        **key(pk, keys.model_sk(k)),
                        "z": {"B": layout.compress(packed[k])},
                        "built_at": string(built),
                    }
                }
            }
            for k in order
        ]
        gone = [{"DeleteRequest": {"Key": key(pk, keys.model_sk(k))}} for k in sorted(before - set(packed))]
        self._batch_write(puts + gone)
        return len(puts)


class DynamoShopHistory:
    """Scans for the model build: the catalog table's products and the profiles table's profiles."""

    def __init__(self, client: Any, catalog_table: str, profiles_table: str) -> None:
        self._client = client
        self._catalog = catalog_table
        self._profiles = profiles_table

    def _scan(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for segment in range(SCAN_SEGMENTS):
            start: dict[str, Any] | None = None
            while True:
                page_args = {**kwargs, "Segment": segment, "TotalSegments": SCAN_SEGMENTS}
                if start:
                    page_args["ExclusiveStartKey"] = start
                try:
                    page = self._client.scan(**page_args)
                except (ClientError, BotoCoreError) as exc:
                    raise wrap_error(exc, "Scan") from exc
                yield from page.get("Items", [])
                start = page.get("LastEvaluatedKey")
                if not start:
                    break

    def shops(self) -> list[str]:
        found = set()
        for item in self._scan(
            TableName=self._catalog,
            FilterExpression="sk = :sk",
            ExpressionAttributeValues={":sk": string(keys.PRODUCT_SK)},
            ProjectionExpression="shop",
        ):
            if "shop" in item:
                found.add(item["shop"]["S"])
        return sorted(found)

    def products(self, shop: str) -> Iterator[dict[str, Any]]:
        for item in self._scan(
            TableName=self._catalog,
            FilterExpression="sk = :sk AND shop = :shop",
            ExpressionAttributeValues={":sk": string(keys.PRODUCT_SK), ":shop": string(shop)},
        ):
            yield plain_item(item)

    def profiles(self, shop: str) -> Iterator[dict[str, Any]]:
        for item in self._scan(
            TableName=self._profiles,
            FilterExpression="sk = :sk AND shop = :shop AND attribute_not_exists(merged_into)",
            ExpressionAttributeValues={":sk": string(keys.PROFILE_SK), ":shop": string(shop)},
            ProjectionExpression="doc",
        ):
            yield profile_json(item)
