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
the profile's journey state before the execution fails: no customer is dropped silently. The steps
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


def _payload(journey: Journey, action: str, step: str, then: str | None, spec: Any) -> dict[str, Any]:
    return {
        "action": action,
        "journey": journey.id,
        "step": step,
        "then": then,
        "spec": spec,
        "shop.$": "$.shop",
        "profile_id.$": "$.profile_id",
        "execution.$": "$$.Execution.Name",
        "entered.$": "$$.State.EnteredTime",
    }


def _task(journey: Journey, action: str, step: str, then: str | None, spec: Any, nxt: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": STEPS_FUNCTION, "Payload": _payload(journey, action, step, then, spec)},
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
    for index, step in enumerate(journey.steps):
        successors = journey.successors(index)
        nxt = successors[0] if successors else FINISH
        sid = step.id
        if isinstance(step, SendStep):
            spec = {**_spec(step.send), "max_messages": journey.max_messages}
            states[sid] = _task(journey, "send", sid, nxt, spec, nxt)
        elif isinstance(step, UpdateStep):
            states[sid] = _task(journey, "update", sid, nxt, _spec(step.update), nxt)
        elif isinstance(step, EmitStep):
            states[sid] = _task(journey, "emit", sid, nxt, _spec(step.emit), nxt)
        elif isinstance(step, ExitStep):
            states[sid] = _task(journey, "finish", sid, None, {"reason": "exit step"}, None)
        elif isinstance(step, BranchStep | SplitStep):
            action = "branch" if isinstance(step, BranchStep) else "split"
            spec = [_spec(arm) for arm in (step.branch if isinstance(step, BranchStep) else step.split)]
            states[sid] = _task(journey, action, sid, None, spec, f"{sid}.route")
            states[f"{sid}.route"] = _choice(successors)
        elif isinstance(step, WaitStep):
            wait = step.wait
            if wait.for_ is not None:
                states[sid] = {"Type": "Wait", "Seconds": int(wait.for_.total_seconds()), "Next": nxt}
            elif wait.until_time is not None:
                states[sid] = _task(journey, "until", sid, sid, {"until_time": wait.until_time}, f"{sid}.wait")
                states[f"{sid}.wait"] = {"Type": "Wait", "TimestampPath": "$.last.until", "Next": nxt}
            else:
                assert wait.until_event is not None and wait.timeout is not None  # the model guarantees it
                on_timeout = successors[-1]
                payload = _payload(journey, "await", sid, nxt, {"event": wait.until_event.value})
                payload["token.$"] = "$$.Task.Token"
                states[sid] = {
                    "Type": "Task",
                    "Resource": LAMBDA_CALLBACK,
                    "Parameters": {"FunctionName": STEPS_FUNCTION, "Payload": payload},
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
        states[FINISH] = _task(journey, "finish", FINISH, None, {"reason": "end of journey"}, None)
    failed = _task(journey, "failed", FAILED, None, None, FAILED_END)
    failed["Parameters"]["Payload"]["error.$"] = "$.error"
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
