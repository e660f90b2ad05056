"""The import state machine (AWS Step Functions, Standard): a file uploaded to the imports bucket, imported on
managed services, never in one long function.

    Check     the imports function reads the file once: every problem as FILE:LINE (the job fails with them,
              nothing written); otherwise the records are written as parts of 250 (JSON Lines) beside it
    Store     a Distributed Map over the parts (S3 ListObjectsV2): each part stored in backfill mode by one
              invocation, MAX_STORE_CONCURRENCY at once; the profiles each part touched are written beside it
    Plan      the touched profiles, each once, in chunks of 100 (one JSON array); the prior the conclusion will
              score with, on the job's record
    Conclude  a Distributed Map over the chunks: segments, lifecycle, predictions, the prior's counters
    Refit     the shop's prediction prior refitted on the history; unchanged (a customers file): done
    Rescore   a Distributed Map over the chunks again, with the refitted prior
    Finish    the job's record says done

Every task retries Lambda's transient errors and Emma's (TransientError, ConcurrencyConflict) with backoff;
a part or chunk that still fails fails its map run and the execution (Step Functions can redrive it: the
parts already stored answer duplicates, the chunks already concluded find their markers). The ASL is built
here so that the CDK app and the local runtime run the same machine; ``${ImportsFunctionArn}`` and
``${ImportsBucket}`` are filled in by CloudFormation (DefinitionSubstitutions) or the local runtime.
"""

from __future__ import annotations

from typing import Any

from emma.asl import LAMBDA_INVOKE, RETRY, lambda_task

FUNCTION = "${ImportsFunctionArn}"
BUCKET = "${ImportsBucket}"
MAX_STORE_CONCURRENCY = 8  # parts stored at once (DynamoDB on demand takes it; the profile commits are small)
MAX_CONCLUDE_CONCURRENCY = 4  # chunks concluded at once (the shop's counter items are shared by all)
CONTEXT = {"shop.$": "$.shop", "job.$": "$.job"}


def _task(action: str, parameters: dict[str, Any], result_path: str | None, nxt: str | None) -> dict[str, Any]:
    return lambda_task(FUNCTION, {"action": action, **parameters}, result_path, nxt)


def _map(reader: dict[str, Any], selector: dict[str, Any], concurrency: int, nxt: str) -> dict[str, Any]:
    return {
        "Type": "Map",
        "ItemReader": reader,
        "ItemSelector": selector,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Work",
            "States": {
                "Work": {
                    "Type": "Task",
                    "Resource": LAMBDA_INVOKE,
                    "Parameters": {"FunctionName": FUNCTION, "Payload.$": "$"},
                    "ResultSelector": {"done.$": "$.Payload.done"},
                    "Retry": RETRY,
                    "End": True,
                }
            },
        },
        "MaxConcurrency": concurrency,
        "ResultPath": None,
        "Next": nxt,
    }


def _chunks(phase: str, nxt: str) -> dict[str, Any]:
    return _map(
        {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket": BUCKET, "Key.$": "$.plan.result.chunks_key"},
        },
        {
            "action": "conclude",
            "phase": phase,
            "shop.$": "$.shop",
            "job.$": "$.job",
            "index.$": "$$.Map.Item.Index",
            "profiles.$": "$$.Map.Item.Value",
        },
        MAX_CONCLUDE_CONCURRENCY,
        nxt,
    )


def import_machine() -> dict[str, Any]:
    """The ASL. Its input: ``{"shop", "job", "kind", "key", "format", "options"}`` (POST /v1/imports)."""
    return {
        "Comment": "Emma: import a shop's customers or orders from a file in the imports bucket (backfill)",
        "StartAt": "Check",
        "States": {
            "Check": _task(
                "check",
                {**CONTEXT, "kind.$": "$.kind", "key.$": "$.key", "format.$": "$.format", "options.$": "$.options"},
                "$.check",
                "Valid",
            ),
            "Valid": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.check.result.invalid", "BooleanEquals": True, "Next": "Refused"}],
                "Default": "Store",
            },
            "Refused": {"Type": "Succeed", "Comment": "the file has problems: the job lists them, nothing written"},
            "Store": _map(
                {
                    "Resource": "arn:aws:states:::s3:listObjectsV2",
                    "Parameters": {"Bucket": BUCKET, "Prefix.$": "$.check.result.parts_prefix"},
                },
                {
                    "action": "store",
                    **CONTEXT,
                    "kind.$": "$.kind",
                    "format.$": "$.check.result.format",
                    "part.$": "$$.Map.Item.Value.Key",
                },
                MAX_STORE_CONCURRENCY,
                "Plan",
            ),
            "Plan": _task("plan", CONTEXT, "$.plan", "AnyProfiles"),
            "AnyProfiles": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.plan.result.chunks", "NumericEquals": 0, "Next": "Finish"}],
                "Default": "ScoredWith",
            },
            "ScoredWith": _task("scored_with", CONTEXT, None, "Conclude"),
            "Conclude": _chunks("conclude", "Refit"),
            "Refit": _task("refit", CONTEXT, "$.refit", "PriorChanged"),
            "PriorChanged": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.refit.result.changed", "BooleanEquals": False, "Next": "Finish"}],
                "Default": "Rescore",
            },
            "Rescore": _chunks("rescore", "Finish"),
            "Finish": _task("finish", CONTEXT, None, None),
        },
    }


def substitute(definition: dict[str, Any], function_arn: str, bucket: str) -> str:
    """The ASL as JSON with the placeholders filled in (the local runtime; CloudFormation does it in AWS)."""
    import json

    return json.dumps(definition).replace(FUNCTION, function_arn).replace(BUCKET, bucket)
