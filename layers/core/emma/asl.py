"""What Emma's task state machines (emma.imports.machine, emma.campaigns.machine) share in their ASL: the Lambda
task resource and the retry of Lambda's and Emma's transient errors with backoff. Build-time code: the CDK app and
the local runtime build the machines; no Lambda function imports it."""

from __future__ import annotations

from typing import Any

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
RETRY = [
    {
        "ErrorEquals": [
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
            "TransientError",
            "StoreError",
            "ConcurrencyConflict",
        ],
        "IntervalSeconds": 2,
        "MaxAttempts": 6,
        "BackoffRate": 2.0,
        "JitterStrategy": "FULL",
    }
]


def lambda_task(function: str, payload: dict[str, Any], result_path: str | None, nxt: str | None) -> dict[str, Any]:
    """A Task invoking ``function`` with ``payload``, its answer at ``result_path`` (None: dropped) as
    ``{"result": ...}``, retried as RETRY says; then ``nxt`` (None: the end)."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": function, "Payload": payload},
        "ResultSelector": {"result.$": "$.Payload"},
        "ResultPath": result_path,
        "Retry": RETRY,
    }
    if nxt is None:
        state["End"] = True
    else:
        state["Next"] = nxt
    return state
