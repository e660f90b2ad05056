"""Campaigns' adapters: audiences (emma.campaigns.audience.AudienceReader: segment member lists by shard,
candidates with their derived state and journey states in one BatchGetItem per page), runs and their recipient
chunks (DynamoDB), the campaign state machine (Step Functions) and the messages queue (SQS)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emma.adapters import keys
from emma.adapters.ddb import Table, epoch, key, number, string, wrap_error
from emma.adapters.dynamodb import profile_of
from emma.adapters.journeys import DynamoJourneyStore
from emma.adapters.rules_store import derived_of
from emma.adapters.stepfunctions import execution_arn, settle
from emma.campaigns.audience import Candidate
from emma.campaigns.runs import CampaignState, Chunk, RunState, Selection
from emma.dispatch.request import MessageRequest
from emma.errors import ConcurrencyConflict, TransientError
from emma.rules.state import MEMBER_SHARDS


class DynamoAudienceReader(Table):
    def members(self, shop: str, segment: str) -> Iterator[str]:
        """Every shard of the segment's member list, page by page (eventually consistent Query)."""
        for shard in range(MEMBER_SHARDS):
            yield from self.members_in_shard(shop, segment, shard)

    def members_in_shard(self, shop: str, segment: str, shard: int) -> Iterator[str]:
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
                return

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
            segments = derived_of(derived).segments if derived else []
            active = []
            for journey in journeys:
                state = items.get((pk, keys.journey_sk(journey)))
                if state is not None and DynamoJourneyStore._state(state).status == "active":
                    active.append(journey)
            out.append(Candidate(profile_of(doc), frozenset(segments), frozenset(active)))
        return out


def _doc(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(item["doc"]["S"])


class DynamoCampaignRuns(Table):
    """Campaign runs (emma.campaigns.runs.CampaignRuns): the campaign's partition holds its state and its runs
    (one item each, a version for conditional writes); each run's partition its recipient chunks and the
    selection counts of its shards."""

    def _run_item(self, run: RunState) -> dict[str, Any]:
        return {
            **key(keys.campaign_pk(run.shop, run.campaign), keys.campaign_run_sk(run.run)),
            "doc": string(run.model_dump_json()),
            "status": string(run.status),
            "version": number(run.version),
            "expires_at": number(epoch(run.created_at + keys.CAMPAIGN_RUN_TTL)),
        }

    def create(self, run: RunState) -> bool:
        return self._put(self._run_item(run.model_copy(update={"version": 1})), "attribute_not_exists(pk)")

    def get(self, shop: str, campaign: str, run: str) -> RunState | None:
        item = self._get(keys.campaign_pk(shop, campaign), keys.campaign_run_sk(run))
        return RunState.model_validate(_doc(item)) if item else None

    def runs(self, shop: str, campaign: str, limit: int = 20) -> list[RunState]:
        try:
            found = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :run)",
                ExpressionAttributeValues={
                    ":pk": string(keys.campaign_pk(shop, campaign)),
                    ":run": string(keys.campaign_run_sk("")),
                },
                ScanIndexForward=False,
                Limit=limit,
                ConsistentRead=True,
            ).get("Items", [])
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "Query") from exc
        return [RunState.model_validate(_doc(i)) for i in found]

    def save(self, run: RunState) -> RunState:
        stored = run.model_copy(update={"version": run.version + 1})
        if not self._put(self._run_item(stored), "version = :v", {":v": number(run.version)}):
            raise ConcurrencyConflict(f"campaign run {run.campaign}/{run.run} changed meanwhile")
        return stored

    def status(self, shop: str, campaign: str, run: str) -> str | None:
        try:
            item = self._client.get_item(
                TableName=self._table,
                Key=key(keys.campaign_pk(shop, campaign), keys.campaign_run_sk(run)),
                ProjectionExpression="#s",
                ExpressionAttributeNames={"#s": "status"},
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "GetItem") from exc
        return item["status"]["S"] if item else None

    def put_chunks(self, shop: str, campaign: str, run: str, chunks: Sequence[Chunk]) -> None:
        pk = keys.campaign_run_pk(shop, campaign, run)
        expires = number(epoch(datetime.now(UTC) + keys.CAMPAIGN_CHUNK_TTL))
        self._batch_write(
            [
                {
                    "PutRequest": {
                        "Item": {
                            **key(pk, keys.chunk_sk(c.position)),
                            "doc": string(c.model_dump_json()),
                            "expires_at": expires,
                        }
                    }
                }
                for c in chunks
            ]
        )

    def chunks_from(self, shop: str, campaign: str, run: str, position: str | None, limit: int) -> list[Chunk]:
        try:
            found = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
                ExpressionAttributeValues={
                    ":pk": string(keys.campaign_run_pk(shop, campaign, run)),
                    ":from": string(keys.chunk_sk(position or "")),
                    ":to": string(keys.chunk_sk("~")),
                },
                Limit=limit,
                ConsistentRead=True,
            ).get("Items", [])
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "Query") from exc
        return [Chunk.model_validate(_doc(i)) for i in found]

    def put_selection(self, shop: str, campaign: str, run: str, selection: Selection) -> None:
        item = {
            **key(keys.campaign_run_pk(shop, campaign, run), keys.selection_sk(selection.shard)),
            "doc": string(selection.model_dump_json()),
            "expires_at": number(epoch(datetime.now(UTC) + keys.CAMPAIGN_CHUNK_TTL)),
        }
        self._put(item)

    def selections(self, shop: str, campaign: str, run: str) -> list[Selection]:
        found = self._query_all(  # strongly consistent: read right after the Map wrote them
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": string(keys.campaign_run_pk(shop, campaign, run)),
                ":prefix": string(keys.selection_sk(None)),
            },
            ConsistentRead=True,
        )
        return [Selection.model_validate(_doc(i)) for i in found]

    def campaign_state(self, shop: str, campaign: str) -> CampaignState | None:
        item = self._get(keys.campaign_pk(shop, campaign), keys.CAMPAIGN_STATE_SK)
        return CampaignState.model_validate(_doc(item)) if item else None

    def put_campaign_state(self, state: CampaignState) -> None:
        item = {
            **key(keys.campaign_pk(state.shop, state.campaign), keys.CAMPAIGN_STATE_SK),
            "doc": string(state.model_dump_json()),
        }
        self._put(item)


class CachedGate:
    """The dispatcher's look at a run's status, remembered for a few seconds per run (a run's thousands of
    messages cost a read every few seconds, not one each); a pause or cancel is honoured within ``seconds``."""

    def __init__(self, runs: DynamoCampaignRuns, seconds: float = 5.0, monotonic: Any = time.monotonic) -> None:
        self._runs, self._seconds, self._monotonic = runs, seconds, monotonic
        self._seen: dict[tuple[str, str, str], tuple[float, str | None]] = {}

    def status(self, shop: str, campaign: str, run: str) -> str | None:
        now = self._monotonic()
        found = self._seen.get((shop, campaign, run))
        if found is not None and now - found[0] < self._seconds:
            return found[1]
        status = self._runs.status(shop, campaign, run)
        if len(self._seen) > 1000:
            self._seen.clear()
        self._seen[(shop, campaign, run)] = (now, status)
        return status


class StepFunctionsCampaignExecutions:
    """One execution of the campaign state machine per run (emma.campaigns.runs.RunExecutions)."""

    def __init__(self, client: Any, machine_arn: str) -> None:
        self._client = client
        self._machine = machine_arn

    def start(self, name: str, payload: dict[str, object]) -> str:
        started = settle(
            "StartExecution",
            self._client.start_execution,
            ("ExecutionAlreadyExists",),  # this run's execution exists: the same name, the same run
            stateMachineArn=self._machine,
            name=name,
            input=json.dumps(payload),
        )
        return str(started["executionArn"]) if started else execution_arn(self._machine, name)

    def stop(self, arn: str, cause: str) -> None:
        settled = ("ExecutionDoesNotExist", "ExecutionNotRunning", "ValidationException")  # already ended
        settle("StopExecution", self._client.stop_execution, settled, executionArn=arn, cause=cause[:32000])


class SqsRequestQueue:
    """Message requests onto the messages queue: SendMessageBatch of ten, several calls at once for a big wave;
    an entry SQS refuses fails the wave (the task is retried; the requests already queued are duplicates the
    dispatcher's message log settles)."""

    def __init__(self, client: Any, queue_url: str, workers: int = 8) -> None:
        self._client, self._url, self._workers = client, queue_url, workers

    def _batch(self, entries: Sequence[tuple[MessageRequest, int]]) -> None:
        try:
            answer = self._client.send_message_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": str(i), "MessageBody": r.model_dump_json(), "DelaySeconds": max(0, min(900, delay))}
                    for i, (r, delay) in enumerate(entries)
                ],
            )
        except (ClientError, BotoCoreError) as exc:
            code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else type(exc).__name__
            raise TransientError(f"SQS SendMessageBatch failed: {code}") from exc
        if answer.get("Failed"):
            first = answer["Failed"][0]
            raise TransientError(f"SQS refused {len(answer['Failed'])} message requests: {first.get('Code')}")

    def put(self, requests: Sequence[tuple[MessageRequest, int]]) -> None:
        batches = [requests[i : i + 10] for i in range(0, len(requests), 10)]
        if len(batches) <= 2:
            for batch in batches:
                self._batch(batch)
            return
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            for done in pool.map(self._batch, batches):
                del done
