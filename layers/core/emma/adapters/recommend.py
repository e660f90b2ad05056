"""DynamoDB adapters of the recommender: the model's lists (in the catalog table, beside the
products) and the scans the scheduled build reads (every product and profile of a shop)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emma.adapters import keys
from emma.adapters.ddb import Table, key, plain_item, string, wrap_error
from emma.recommend.model import ShopModel

SCAN_SEGMENTS = 4  # segments of the parallel scan, read one after another here (a single reader keeps it simple)


class DynamoModelStore(Table):
    """Each list is one item (keys.MODEL_LIST): v = JSON [[product, score], ...]."""

    def load(self, shop: str, list_keys: Iterable[str]) -> dict[str, list[tuple[str, float]]]:
        wanted = [key(keys.model_pk(shop), keys.model_sk(k)) for k in dict.fromkeys(list_keys)]
        if not wanted:
            return {}
        items = self._batch_get(wanted, consistent=False)
        return {i["sk"]["S"]: [(str(p), float(v)) for p, v in json.loads(i["v"]["S"])] for i in items}

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
        puts = [
            {
                "PutRequest": {
                    "Item": {
                        **key(pk, keys.model_sk(k)),
                        "v": string(json.dumps(v, separators=(",", ":"))),
                        "built_at": string(built),
                    }
                }
            }
            for k, v in model.lists.items()
        ]
        gone = [{"DeleteRequest": {"Key": key(pk, keys.model_sk(k))}} for k in sorted(before - set(model.lists))]
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
            yield json.loads(item["doc"]["S"])
