"""Compile a journey to Amazon States Language (JSONPath; the emulator runs no JSONata).

One state per step, named after the step, plus a few of Emma's own (``journey.*``):

    send / update / emit      Task: the journey-steps function does it and records it
    wait for                  Wait with Seconds (one transition, however long)
    wait until_time           Task (the next HH:MM in the customer's timezone) + Wait on TimestampPath
    wait until_event          Task lambda:invoke.waitForTaskToken with TimeoutSeconds: the function
                              parks the token, the journeys function hands it back when the event
                              arrives; States.Timeout goes to on_timeout
    branch / split            Task (decide, record) + Choice on the route it returns
    exit, or the end          Task "finish" (record completion), then the execution ends

Every task retries with backoff, then catches into ``journey.failed``, which records the failure on
the profile's journey state before the execution fails: no customer is dropped silently. Each task's
Payload is one of the typed payloads of emma.journeys.steps, which the steps function parses back. The steps
function's ARN is the placeholder ``${StepsFunctionArn}`` (CDK DefinitionSubstitutions; the local
runtime substitutes it the same way).
"""

from __future__ import annotations

import json
from typing import Any

from emma.journeys.definitions import (
    BranchStep,
    EmitStep,
    ExitStep,
    Journey,
    SendStep,
    SplitStep,
    UpdateStep,
    WaitStep,
)
from emma.journeys.steps import (
    AwaitPayload,
    AwaitSpec,
    BranchPayload,
    EmitPayload,
    EmitSpec,
    FailedPayload,
    FinishPayload,
    FinishSpec,
    SendPayload,
    SendSpec,
    SplitPayload,
    UntilPayload,
    UntilSpec,
    UpdatePayload,
    UpdateSpec,
)

STEPS_FUNCTION = "${StepsFunctionArn}"
FAILED, FAILED_END, FINISH = "journey.failed", "journey.failed.end", "journey.finish"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
LAMBDA_CALLBACK = "arn:aws:states:::lambda:invoke.waitForTaskToken"
TRANSIENT = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
RETRY = [
    {"ErrorEquals": TRANSIENT, "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2.0},
    {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 5, "MaxAttempts": 3, "BackoffRate": 2.0},
]
CATCH_ALL = {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FAILED}


def _task(payload: dict[str, Any], nxt: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": STEPS_FUNCTION, "Payload": payload},
        "ResultSelector": {"route.$": "$.Payload.route", "until.$": "$.Payload.until"},
        "ResultPath": "$.last",
        "Retry": RETRY,
        "Catch": [CATCH_ALL],
    }
    if nxt is None:
        state["End"] = True
    else:
        state["Next"] = nxt
    return state


def _choice(targets: list[str]) -> dict[str, Any]:
    distinct = list(dict.fromkeys(targets))
    return {
        "Type": "Choice",
        "Choices": [{"Variable": "$.last.route", "StringEquals": t, "Next": t} for t in distinct[:-1]],
        "Default": distinct[-1],
    }


def _spec(model: Any) -> Any:
    return json.loads(model.model_dump_json(by_alias=True, exclude_none=True, exclude_defaults=False))


def compile_journey(journey: Journey) -> dict[str, Any]:
    """The journey as an ASL document (a dict; json.dumps it for CreateStateMachine)."""
    states: dict[str, Any] = {}
    jid = journey.id
    for index, step in enumerate(journey.steps):
        successors = journey.successors(index)
        nxt = successors[0] if successors else FINISH
        sid = step.id
        if isinstance(step, SendStep):
            spec = SendSpec.model_validate({**_spec(step.send), "max_messages": journey.max_messages})
            states[sid] = _task(SendPayload.task(jid, sid, nxt, spec), nxt)
        elif isinstance(step, UpdateStep):
            states[sid] = _task(UpdatePayload.task(jid, sid, nxt, UpdateSpec.model_validate(_spec(step.update))), nxt)
        elif isinstance(step, EmitStep):
            states[sid] = _task(EmitPayload.task(jid, sid, nxt, EmitSpec.model_validate(_spec(step.emit))), nxt)
        elif isinstance(step, ExitStep):
            states[sid] = _task(FinishPayload.task(jid, sid, None, FinishSpec(reason="exit step")), None)
        elif isinstance(step, BranchStep):
            states[sid] = _task(BranchPayload.task(jid, sid, None, step.branch), f"{sid}.route")
            states[f"{sid}.route"] = _choice(successors)
        elif isinstance(step, SplitStep):
            states[sid] = _task(SplitPayload.task(jid, sid, None, step.split), f"{sid}.route")
            states[f"{sid}.route"] = _choice(successors)
        elif isinstance(step, WaitStep):
            wait = step.wait
            if wait.for_ is not None:
                states[sid] = {"Type": "Wait", "Seconds": int(wait.for_.total_seconds()), "Next": nxt}
            elif wait.until_time is not None:
                spec = UntilSpec(until_time=wait.until_time)
                states[sid] = _task(UntilPayload.task(jid, sid, sid, spec), f"{sid}.wait")
                states[f"{sid}.wait"] = {"Type": "Wait", "TimestampPath": "$.last.until", "Next": nxt}
            else:
                assert wait.until_event is not None and wait.timeout is not None  # the model guarantees it
                on_timeout = successors[-1]
                states[sid] = {
                    "Type": "Task",
                    "Resource": LAMBDA_CALLBACK,
                    "Parameters": {
                        "FunctionName": STEPS_FUNCTION,
                        "Payload": AwaitPayload.task(jid, sid, nxt, AwaitSpec(event=wait.until_event.value)),
                    },
                    "TimeoutSeconds": int(wait.timeout.total_seconds()),
                    "ResultPath": "$.awaited",
                    "Retry": RETRY,
                    "Catch": [
                        {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.timeout", "Next": on_timeout},
                        CATCH_ALL,
                    ],
                    "Next": nxt,
                }
    if any(s.get("Next") == FINISH or s.get("Default") == FINISH for s in states.values()):
        states[FINISH] = _task(FinishPayload.task(jid, FINISH, None, FinishSpec(reason="end of journey")), None)
    failed = _task(FailedPayload.task(jid, FAILED, None, None), FAILED_END)
    del failed["Catch"]
    states[FAILED] = failed
    states[FAILED_END] = {"Type": "Fail", "Error": "JourneyStepFailed", "Cause": "recorded on the profile"}
    return {
        "Comment": f"Emma journey {journey.id}: {journey.description}".strip(": "),
        "StartAt": journey.steps[0].id,
        "States": states,
    }


def substitute(asl: dict[str, Any], steps_function_arn: str) -> str:
    """The definition with the steps function's ARN in place (what CDK's substitutions do in AWS)."""
    return json.dumps(asl).replace(STEPS_FUNCTION, steps_function_arn)
