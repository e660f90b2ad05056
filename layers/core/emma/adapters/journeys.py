"""Journey adapters: state items in the profiles table, executions in Step Functions, message
requests on the messages queue. The only boto3 users of the journeys code; errors are wrapped.
The state item's key comes from emma.adapters.keys (see docs/data-model.md).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emma.adapters import keys
from emma.adapters.ddb import Table, conditional_failed, key, number, string, wrap_error
from emma.adapters.stepfunctions import execution_arn, settle
from emma.dispatch.request import MessageRequest
from emma.errors import TransientError
from emma.journeys.state import JourneyState, StaleJourneyState


class DynamoJourneyStore(Table):
    def get(self, shop: str, profile_id: str, journey: str) -> JourneyState | None:
        try:
            item = self._client.get_item(
                TableName=self._table,
                ConsistentRead=True,
                Key=key(keys.profile_pk(shop, profile_id), keys.journey_sk(journey)),
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "GetItem") from exc
        return self._state(item) if item else None

    def list(self, shop: str, profile_id: str) -> list[JourneyState]:
        items = self._query_prefix(keys.profile_pk(shop, profile_id), keys.JOURNEY_PREFIX)
        return [self._state(i) for i in items]

    def put(self, shop: str, profile_id: str, state: JourneyState) -> None:
        expected = state.version
        state.version = expected + 1
        condition = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if expected == 0
            else {"ConditionExpression": "v = :v", "ExpressionAttributeValues": {":v": number(expected)}}
        )
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **key(keys.profile_pk(shop, profile_id), keys.journey_sk(state.journey)),
                    "v": number(state.version),
                    "state": string(state.model_dump_json(exclude={"version"})),
                },
                **condition,
            )
        except ClientError as exc:
            state.version = expected
            if conditional_failed(exc):
                raise StaleJourneyState(f"journey state {state.journey} of {profile_id} changed meanwhile") from exc
            raise wrap_error(exc, "PutItem") from exc
        except BotoCoreError as exc:
            state.version = expected
            raise wrap_error(exc, "PutItem") from exc

    @staticmethod
    def _state(item: dict[str, Any]) -> JourneyState:
        return JourneyState.model_validate({**json.loads(item["state"]["S"]), "version": int(item["v"]["N"])})


class StepFunctionsExecutions:
    def __init__(self, client: Any, state_machines: dict[str, str]) -> None:
        self._client = client
        self._machines = state_machines  # journey id -> state machine ARN

    def arn(self, journey: str, name: str) -> str:
        machine = self._machines.get(journey)
        if machine is None:
            raise TransientError(f"no state machine for journey {journey!r} (EMMA_JOURNEY_STATE_MACHINES)")
        return execution_arn(machine, name)

    @staticmethod
    def _call(operation: str, method: Any, settled: tuple[str, ...], **kwargs: Any) -> bool:
        """Call ``method``; True when it went through, False when AWS answered with one of the
        ``settled`` error codes (nothing left to do), TransientError otherwise."""
        return settle(operation, method, settled, **kwargs) is not None

    def start(self, journey: str, name: str, payload: dict[str, Any]) -> None:
        # ExecutionAlreadyExists: this entry already has its execution (a re-delivery after it closed)
        self._call(
            "StartExecution",
            self._client.start_execution,
            ("ExecutionAlreadyExists",),
            stateMachineArn=self._machines[journey],
            name=name,
            input=json.dumps(payload),
        )

    def stop(self, arn: str, cause: str) -> None:
        settled = ("ExecutionDoesNotExist", "ExecutionNotRunning", "ValidationException")  # already ended
        self._call(
            "StopExecution",
            self._client.stop_execution,
            settled,
            executionArn=arn,
            error="JourneyExit",
            cause=cause[:32000],
        )

    def resume(self, token: str, output: dict[str, Any]) -> bool:
        settled = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist", "ExecutionNotRunning")
        return self._call(
            "SendTaskSuccess", self._client.send_task_success, settled, taskToken=token, output=json.dumps(output)
        )


class SqsMessageRequests:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client, self._url = client, queue_url

    def request(self, message: MessageRequest) -> None:
        try:
            self._client.send_message(QueueUrl=self._url, MessageBody=json.dumps(message.model_dump(mode="json")))
        except (ClientError, BotoCoreError) as exc:
            code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else type(exc).__name__
            raise TransientError(f"SQS SendMessage failed: {code}") from exc
