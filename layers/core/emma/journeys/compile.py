"""Compile a journey to Amazon States Language (JSONPath; the emulator runs no JSONata).

Step Functions Standard bills every state entered, so a step costs a state only where it must: states
are named after the step they start with, plus a few of Emma's own (``journey.*``, ``<step>.route``,
``<step>.wait``, ``<step>.again``):

    send / update / emit      Task: the journey-steps function does it and records it. Consecutive
                              steps fold into one task (a SequencePayload running their actions in
                              order, each keyed on its own step): further sends, updates and emits,
                              then at most one of the end or an exit step (the task records completion
                              and ends the execution), a branch or split (the task decides, a Choice
                              follows), a time-of-day wait (the task asks for the time), an event wait
                              (the task parks the token). A folded step reached from elsewhere too
                              keeps a state of its own for that way in.
    wait for                  Wait with Seconds (one transition, however long)
    wait until_time           Task (the next HH:MM in the customer's timezone) + Wait on TimestampPath
    wait until_event          Task lambda:invoke.waitForTaskToken with TimeoutSeconds: the function
                              parks the token, the journeys function hands it back when the event
                              arrives; States.Timeout goes to on_timeout. When a branch follows, whoever
                              hands the token back decides it and the output carries the route: only
                              the branch's Choice runs (decided_on_arrival)
    branch / split            Task (decide, record) + Choice on the route it returns (no Choice when
                              every arm leads to the same step)
    branch checking again     a branch with an arm that waits a duration and comes back to it
                              (upgrade-check -> a-month-later -> upgrade-check): one
                              lambda:invoke.waitForTaskToken task whose TimeoutSeconds is the wait. The
                              function decides; the waiting arm leaves the token parked, the timeout
                              leads to the check again (two states taking turns, <step> and
                              <step>.again); any other arm hands the token back with the route for the
                              Choice. One transition per check instead of three (poll_wait)
    exit                      Task "finish" (record completion), then the execution ends

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
    PollPayload,
    PollSpec,
    SendPayload,
    SendSpec,
    SequencePayload,
    SplitPayload,
    UntilPayload,
    UntilSpec,
    UpdatePayload,
    UpdateSpec,
)

STEPS_FUNCTION = "${StepsFunctionArn}"
FAILED, FAILED_END, FINISH = "journey.failed", "journey.failed.end", "journey.finish"
AGAIN = ".again"  # the second state of a branch that checks again later (PollPayload)
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


def poll_wait(journey: Journey, step: Any) -> WaitStep | None:
    """The wait of a branch that checks again later (an arm -> ``wait: {for: ...}`` -> back to the branch),
    or None. Such a branch runs as one callback task (PollPayload): the wait is its timeout."""
    if not isinstance(step, BranchStep):
        return None
    index = {s.id: i for i, s in enumerate(journey.steps)}
    for arm in step.branch:
        wait = journey.step(arm.target)
        if (
            isinstance(wait, WaitStep)
            and wait.wait.for_ is not None
            and journey.successors(index[wait.id]) == [step.id]
        ):
            return wait
    return None


def decided_on_arrival(journey: Journey, step_id: str) -> BranchStep | None:
    """The branch that comes right after the event wait ``step_id`` when the event arrives, decided by
    whoever hands the task token back (the journeys function, or the steps function when the event came
    before the token was parked): the callback's output carries the route, and only the branch's Choice
    runs. None for any other step (and for a branch that checks again later: poll_wait)."""
    index = {s.id: i for i, s in enumerate(journey.steps)}
    step = journey.step(step_id) if step_id in index else None
    if not isinstance(step, WaitStep) or step.wait.until_event is None:
        return None
    successors = journey.successors(index[step_id])
    after = journey.step(successors[0]) if successors else None
    if isinstance(after, BranchStep) and poll_wait(journey, after) is None:
        return after
    return None


class _Compiler:
    """States are made for the steps a state leads to, starting with the first: a step folded into the task
    of the step before it gets no state of its own unless something else leads to it."""

    def __init__(self, journey: Journey) -> None:
        self.journey, self.jid = journey, journey.id
        self.index = {s.id: i for i, s in enumerate(journey.steps)}
        self.states: dict[str, Any] = {}
        self.pending: list[str] = []

    def need(self, target: str) -> str:
        """A state for ``target`` (a step, or journey.finish): made later if not there yet."""
        if target not in self.states and target not in self.pending:
            self.pending.append(target)
        return target

    def successors(self, step: Any) -> list[str]:
        return self.journey.successors(self.index[step.id])

    def next_of(self, step: Any) -> str:
        successors = self.successors(step)
        return successors[0] if successors else FINISH

    def compile(self) -> dict[str, Any]:
        self.need(self.journey.steps[0].id)
        while self.pending:
            sid = self.pending.pop(0)
            if sid == FINISH:
                finish = FinishPayload.task(self.jid, FINISH, None, FinishSpec(reason="end of journey"))
                self.states[FINISH] = _task(finish, None)
            else:
                self.states[sid] = {}  # being made (a poll's timeout leads back to it)
                self.state(self.journey.step(sid))
        return self.states

    def action(self, step: Any) -> dict[str, Any]:
        """The payload of the task that would run ``step`` on its own (send, update, emit, exit)."""
        jid, sid, nxt = self.jid, step.id, self.next_of(step)
        if isinstance(step, SendStep):
            spec = SendSpec.model_validate({**_spec(step.send), "max_messages": self.journey.max_messages})
            return SendPayload.task(jid, sid, nxt, spec)
        if isinstance(step, UpdateStep):
            return UpdatePayload.task(jid, sid, nxt, UpdateSpec.model_validate(_spec(step.update)))
        if isinstance(step, EmitStep):
            return EmitPayload.task(jid, sid, nxt, EmitSpec.model_validate(_spec(step.emit)))
        assert isinstance(step, ExitStep)
        return FinishPayload.task(jid, sid, None, FinishSpec(reason="exit step"))

    def run(self, step: Any) -> list[Any]:
        """``step`` (a send, update or emit) and the steps folded into its task: further sends, updates and
        emits, then at most one of: the end or an exit step (the task finishes the journey), a branch or split
        (the task decides), a time-of-day wait (the task asks for the time), an event wait (the task parks the
        token). A duration wait, and a branch that checks again later, keep states of their own."""
        run = [step]
        while True:
            successors = self.successors(run[-1])
            if not successors:
                return run
            after = self.journey.step(successors[0])
            if isinstance(after, SendStep | UpdateStep | EmitStep) and after not in run:
                run.append(after)
                continue
            folds = isinstance(after, ExitStep | SplitStep) or (
                isinstance(after, BranchStep) and poll_wait(self.journey, after) is None
            )
            if isinstance(after, WaitStep):
                folds = after.wait.for_ is None
            return [*run, after] if folds else run

    def state(self, step: Any) -> None:
        sid = step.id
        if isinstance(step, SendStep | UpdateStep | EmitStep):
            run = self.run(step)
            payloads = [self.payload(s) for s in run]
            if isinstance(run[-1], SendStep | UpdateStep | EmitStep) and not self.successors(run[-1]):
                # the journey's last step: its task finishes the journey (no journey.finish task after it)
                payloads.append(FinishPayload.task(self.jid, FINISH, None, FinishSpec(reason="end of journey")))
            self.sequence(sid, payloads, run[-1])
        elif isinstance(step, ExitStep):
            self.states[sid] = _task(self.action(step), None)
        elif isinstance(step, WaitStep) and step.wait.for_ is not None:
            self.states[sid] = {
                "Type": "Wait",
                "Seconds": int(step.wait.for_.total_seconds()),
                "Next": self.need(self.next_of(step)),
            }
        elif (wait := poll_wait(self.journey, step)) is not None:
            spec = PollSpec(branch=step.branch, wait=wait.id)
            payload = PollPayload.task(self.jid, sid, None, spec)
            assert wait.wait.for_ is not None
            seconds, route = int(wait.wait.for_.total_seconds()), self.route(step, wait.id)
            # Two states taking turns (the timeout of each leads to the other): a state whose Catch leads back
            # to itself is what the emulator (moto) takes for "no Catch target" and goes on to Next.
            again = f"{sid}{AGAIN}"
            self.states[again] = {}
            self.states[sid] = self.callback(payload, seconds, again, route, "$.last")
            self.states[again] = self.callback(payload, seconds, sid, route, "$.last")
        else:
            self.sequence(sid, [self.payload(step)], step)

    def payload(self, step: Any) -> dict[str, Any]:
        """The payload of ``step``'s task (for a wait: the task part of it)."""
        jid, sid, nxt = self.jid, step.id, self.next_of(step)
        if isinstance(step, BranchStep):
            return BranchPayload.task(jid, sid, None, step.branch)
        if isinstance(step, SplitStep):
            return SplitPayload.task(jid, sid, None, step.split)
        if isinstance(step, WaitStep) and step.wait.until_time is not None:
            return UntilPayload.task(jid, sid, sid, UntilSpec(until_time=step.wait.until_time))
        if isinstance(step, WaitStep):
            assert step.wait.until_event is not None  # duration waits are Wait states
            return AwaitPayload.task(jid, sid, nxt, AwaitSpec(event=step.wait.until_event.value))
        return self.action(step)

    def sequence(self, name: str, payloads: list[dict[str, Any]], last: Any) -> None:
        """The task ``name`` running ``payloads`` (one, or a SequencePayload of several), and what follows
        the last step of it."""
        jid = self.jid
        payload = (
            payloads[0]
            if len(payloads) == 1
            else SequencePayload.task(jid, payloads[0]["step"], payloads[-1]["then"], payloads)
        )
        kind = payloads[-1]["action"]
        if kind == "finish":
            self.states[name] = _task(payload, None)
        elif kind in ("branch", "split"):
            self.states[name] = _task(payload, self.route(last))
        elif kind == "until":
            self.states[name] = _task(payload, f"{last.id}.wait")
            self.states[f"{last.id}.wait"] = {
                "Type": "Wait",
                "TimestampPath": "$.last.until",
                "Next": self.need(self.next_of(last)),
            }
        elif kind == "await":
            assert last.wait.timeout is not None  # the model guarantees it
            successors = self.successors(last) or [FINISH]
            decided = decided_on_arrival(self.journey, last.id)
            if decided is not None:
                self.states[name] = self.callback(
                    payload, int(last.wait.timeout.total_seconds()), successors[-1], self.route(decided), "$.last"
                )
            else:
                nxt = self.need(self.next_of(last))
                self.states[name] = self.callback(
                    payload, int(last.wait.timeout.total_seconds()), successors[-1], nxt, "$.awaited"
                )
        else:
            self.states[name] = _task(payload, self.need(self.next_of(last)))

    def callback(self, payload: dict[str, Any], timeout: int, on_timeout: str, nxt: str, result: str) -> dict[str, Any]:
        """A lambda:invoke.waitForTaskToken task: the token comes back with the output, or the timeout
        leads to ``on_timeout``."""
        return {
            "Type": "Task",
            "Resource": LAMBDA_CALLBACK,
            "Parameters": {"FunctionName": STEPS_FUNCTION, "Payload": payload},
            "TimeoutSeconds": timeout,
            "ResultPath": result,
            "Retry": RETRY,
            "Catch": [
                {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.timeout", "Next": self.need(on_timeout)},
                CATCH_ALL,
            ],
            "Next": nxt,
        }

    def route(self, step: Any, exclude: str | None = None) -> str:
        """Where a decision of ``step`` (a branch or split) leads: its Choice on ``$.last.route``, or its
        one target when all its arms (but ``exclude``) lead there."""
        targets = list(dict.fromkeys(self.need(t) for t in self.successors(step) if t != exclude))
        if len(targets) == 1:
            return targets[0]
        self.states[f"{step.id}.route"] = _choice(targets)
        return f"{step.id}.route"


def compile_journey(journey: Journey) -> dict[str, Any]:
    """The journey as an ASL document (a dict; json.dumps it for CreateStateMachine)."""
    states = _Compiler(journey).compile()
    failed = _task(FailedPayload.task(journey.id, FAILED, None, None), FAILED_END)
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
