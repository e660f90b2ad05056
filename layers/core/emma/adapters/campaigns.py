"""Campaign audiences (emma.campaigns.audience.AudienceReader): segment member lists by shard, candidates with
their derived state and journey states in one BatchGetItem per page."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emma.adapters import keys
from emma.adapters.ddb import Table, key, string, wrap_error
from emma.adapters.journeys import DynamoJourneyStore
from emma.campaigns.audience import Candidate
from emma.profiles.model import Profile
from emma.rules.state import MEMBER_SHARDS, Derived


class DynamoAudienceReader(Table):
    def members(self, shop: str, segment: str) -> Iterator[str]:
        """Every shard of the segment's member list, page by page (eventually consistent Query)."""
        for shard in range(MEMBER_SHARDS):
            start: dict[str, Any] | None = None
            while True:
                params: dict[str, Any] = {
                    "TableName": self._table,
                    "KeyConditionExpression": "pk = :pk",
                    "ExpressionAttributeValues": {":pk": string(keys.member_pk(shop, segment, shard))},
                    "ProjectionExpression": "profile_id",
                }
                if start:
                    params["ExclusiveStartKey"] = start
                try:
                    page = self._client.query(**params)
                except (ClientError, BotoCoreError) as exc:
                    raise wrap_error(exc, "Query") from exc
                for item in page.get("Items", []):
                    yield item["profile_id"]["S"]
                start = page.get("LastEvaluatedKey")
                if not start:
                    break

    def candidates(self, shop: str, profile_ids: Sequence[str], journeys: Sequence[str]) -> list[Candidate]:
        wanted = []
        for pid in profile_ids:
            pk = keys.profile_pk(shop, pid)
            wanted += [key(pk, keys.PROFILE_SK), key(pk, keys.DERIVED_SK)]
            wanted += [key(pk, keys.journey_sk(j)) for j in journeys]
        items = {(i["pk"]["S"], i["sk"]["S"]): i for i in self._batch_get(wanted, consistent=False)} if wanted else {}
        out = []
        for pid in profile_ids:
            pk = keys.profile_pk(shop, pid)
            doc = items.get((pk, keys.PROFILE_SK))
            if doc is None or "merged_into" in doc:
                continue  # gone (erased) or merged away: its winner is listed under its own id
            derived = items.get((pk, keys.DERIVED_SK))
            segments = Derived.model_validate_json(derived["doc"]["S"]).segments if derived else []
            active = []
            for journey in journeys:
                state = items.get((pk, keys.journey_sk(journey)))
                if state is not None and DynamoJourneyStore._state(state).status == "active":
                    active.append(journey)
            out.append(Candidate(Profile.model_validate_json(doc["doc"]["S"]), frozenset(segments), frozenset(active)))
        return out
