"""The campaign state machine (AWS Step Functions, Standard): one execution per run, named after it
(emma.campaigns.runs.execution_name), so a second start of a run starts nothing.

    Begin     how long until the run's start (``at``, ``on``; 0 for ``now``)
    Until     waits that long (a start more than a week away is waited for a week at a time)
    Open      the run begins: selecting; the member-list shards to decide (none for a cancelled run)
    Select    a Map over the shards, MAX_SELECT_CONCURRENCY at once: each shard's audience decided and its
              recipients stored in chunks by phase and send time
    Selected  the shards' counts on the run; sending
    Wave      the next wave of recipients whose time has come onto the messages queue (rate x 10 s, each with a
              delay spreading it over the wave); ``more``: Pause, then the next wave; ``done``: Finish
    Pause     waits what the wave said: the wave's length, the next recipient's send time, the A/B decision
    Held      the run is paused: the execution ends; a resume starts a new one (input ``resume: true``) at Wave
              (a run paused before its audience was decided is still on its first execution, which goes on)
    Finish    the run is done; a recurring campaign's next run is created and started

The tasks keep no state in the execution: where the run stands (its cursor) is on the run's item, so a task
retried after a crash, or the execution redriven, goes on where the last one stopped, and what it hands over
twice the dispatcher's message log settles. ``${CampaignsFunctionArn}`` is filled in by CloudFormation
(DefinitionSubstitutions) or the local runtime.
"""

from __future__ import annotations

import json
from typing import Any

from emma.asl import LAMBDA_INVOKE, RETRY, lambda_task

FUNCTION = "${CampaignsFunctionArn}"
MAX_SELECT_CONCURRENCY = 8  # every member-list shard at once (emma.rules.state.MEMBER_SHARDS)
RUN = {"shop.$": "$.shop", "campaign.$": "$.campaign", "run.$": "$.run"}


def _task(action: str, result_path: str | None, nxt: str | None) -> dict[str, Any]:
    return lambda_task(FUNCTION, {"action": action, **RUN}, result_path, nxt)


def campaign_machine() -> dict[str, Any]:
    """The ASL. Its input: ``{"shop", "campaign", "run"}`` (emma.campaigns.service.CampaignService.start)."""
    return {
        "Comment": "Emma: one run of a campaign, its audience decided and handed to the dispatcher at its rate",
        "StartAt": "Entry",
        "States": {
            "Entry": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.resume", "IsPresent": True},
                            {"Variable": "$.resume", "BooleanEquals": True},
                        ],
                        "Next": "Wave",
                    }
                ],
                "Default": "Begin",
            },
            "Begin": _task("begin", "$.begin", "Until"),
            "Until": {"Type": "Wait", "SecondsPath": "$.begin.result.wait", "Next": "Open"},
            "Open": _task("open", "$.open", "Early"),
            "Early": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.open.result.early", "BooleanEquals": True, "Next": "Begin"}],
                "Default": "Select",
            },
            "Select": {
                "Type": "Map",
                "ItemsPath": "$.open.result.shards",
                "ItemSelector": {**RUN, "action": "select", "shard.$": "$$.Map.Item.Value"},
                "MaxConcurrency": MAX_SELECT_CONCURRENCY,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Shard",
                    "States": {
                        "Shard": {
                            "Type": "Task",
                            "Resource": LAMBDA_INVOKE,
                            "Parameters": {"FunctionName": FUNCTION, "Payload.$": "$"},
                            "ResultSelector": {"included.$": "$.Payload.included"},
                            "Retry": RETRY,
                            "End": True,
                        }
                    },
                },
                "ResultPath": None,
                "Next": "Selected",
            },
            "Selected": _task("selected", None, "Wave"),
            "Wave": _task("wave", "$.wave", "More"),
            "More": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.wave.result.state", "StringEquals": "more", "Next": "Pause"},
                    {"Variable": "$.wave.result.state", "StringEquals": "paused", "Next": "Held"},
                ],
                "Default": "Finish",
            },
            "Held": {"Type": "Succeed", "Comment": "paused: a resume starts a new execution at Wave"},
            "Pause": {"Type": "Wait", "SecondsPath": "$.wave.result.wait", "Next": "Wave"},
            "Finish": _task("finish", None, None),
        },
    }


def substitute(definition: dict[str, Any], function_arn: str) -> str:
    """The ASL as JSON with the function's ARN filled in (the local runtime; CloudFormation does it in AWS)."""
    return json.dumps(definition).replace(FUNCTION, function_arn)
