"""What a journey's state machine hands the journey-steps function: one typed payload per step action.

The compiler (emma.journeys.compile) writes every step task's ``Payload`` with ``<Model>.task(...)``:
the fields it knows (action, journey, step, then, spec) as JSON, the ones only the running execution
knows as JSONPath that Step Functions fills in (``"shop.$": "$.shop"``; see ``BOUND``). The step
service (emma.journeys.service) parses what arrives with ``parse_step`` and dispatches on the type.

The JSON is what deployed state machines pass today, key for key: a change here must keep them working.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, TypeAdapter, ValidationError

from emma.errors import EmmaError
from emma.journeys.definitions import BranchArm, Variant


class UnknownAction(EmmaError):
    status = 400
    code = "unknown_action"


class InvalidStepPayload(UnknownAction):
    """A known action with a payload that does not fit it (a field missing or of the wrong type)."""

    code = "invalid_step_payload"


# ---- what each action needs (the payload's ``spec``) -----------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SendSpec(_Spec):
    template: str
    channel: Literal["best", "email", "sms", "push"] = "best"
    transactional: bool = False
    max_messages: int | None = Field(None, description="the journey's max_messages (null: no cap)")


class UpdateSpec(_Spec):
    set: dict[str, str | int | float | bool] = Field(description="profile traits to set")


class EmitSpec(_Spec):
    event: str = Field(description="published as custom event journey.<event>")


class UntilSpec(_Spec):
    until_time: str = Field(description="HH:MM in the customer's timezone")


class AwaitSpec(_Spec):
    event: str = Field(description="the event type that ends the wait")


class FinishSpec(_Spec):
    reason: str


def _as_written(items: Sequence[BaseModel]) -> list[Any]:
    """Branch arms and split variants as the journey file spells them (aliases, no nulls)."""
    return [json.loads(item.model_dump_json(by_alias=True, exclude_none=True)) for item in items]


Arms = Annotated[list[BranchArm], PlainSerializer(_as_written)]
Variants = Annotated[list[Variant], PlainSerializer(_as_written)]


class PollSpec(_Spec):
    branch: Arms
    wait: str = Field(description="the arm's target that waits and checks again (its wait is the task's timeout)")


# ---- the payloads ----------------------------------------------------------------------------------


class StepPayloadBase(BaseModel):
    """What every step task passes: its place in the journey (written by the compiler) and the
    customer and execution it runs for (filled in by Step Functions)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    # field -> JSONPath: what Step Functions fills in when the task runs
    BOUND: ClassVar[dict[str, str]] = {
        "shop": "$.shop",
        "profile_id": "$.profile_id",
        "execution": "$$.Execution.Name",
        "entered": "$$.State.EnteredTime",
    }

    journey: str
    step: str
    then: str | None = Field(description="the step after this one (None: the state machine decides)")
    shop: str
    profile_id: str
    execution: str
    entered: str = Field(description="when the execution entered this step (ISO 8601)")

    @property
    def key(self) -> str:
        """This entry into this step: Step Functions' retries of the task share it, so effects happen once."""
        return f"{self.execution}:{self.step}:{self.entered}"

    @classmethod
    def task(cls, journey: str, step: str, then: str | None, spec: Any) -> dict[str, Any]:
        """The ``Payload`` of this step's task in a compiled state machine."""
        spec_type = _spec_type(cls)
        return {
            "action": cls.model_fields["action"].default,
            "journey": journey,
            "step": step,
            "then": then,
            "spec": spec_type.dump_python(spec_type.validate_python(spec), mode="json"),
            **{f"{name}.$": path for name, path in cls.BOUND.items()},
        }


@functools.cache
def _spec_type(payload: type[StepPayloadBase]) -> TypeAdapter[Any]:
    field = payload.model_fields["spec"]  # its type, with the serializer of Arms and Variants
    return TypeAdapter(Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation)


class SendPayload(StepPayloadBase):
    action: Literal["send"] = "send"
    spec: SendSpec


class UpdatePayload(StepPayloadBase):
    action: Literal["update"] = "update"
    spec: UpdateSpec


class EmitPayload(StepPayloadBase):
    action: Literal["emit"] = "emit"
    spec: EmitSpec


class BranchPayload(StepPayloadBase):
    action: Literal["branch"] = "branch"
    spec: Arms


class SplitPayload(StepPayloadBase):
    action: Literal["split"] = "split"
    spec: Variants


class UntilPayload(StepPayloadBase):
    """Asks for the next time of day to wait until (the Wait state after it reads ``until``)."""

    action: Literal["until"] = "until"
    spec: UntilSpec


class AwaitPayload(StepPayloadBase):
    """Parks the task token until the event arrives (lambda:invoke.waitForTaskToken)."""

    BOUND: ClassVar[dict[str, str]] = {**StepPayloadBase.BOUND, "token": "$$.Task.Token"}
    action: Literal["await"] = "await"
    spec: AwaitSpec
    token: str


class FinishPayload(StepPayloadBase):
    action: Literal["finish"] = "finish"
    spec: FinishSpec


class PollPayload(StepPayloadBase):
    """A branch that loops back to itself through a fixed wait (``otherwise`` -> wait for 30d -> the branch),
    run as one lambda:invoke.waitForTaskToken task whose TimeoutSeconds is the wait: the function decides;
    the wait arm leaves the token parked (the timeout is the wait, and leads back to this task), any other
    arm hands the token back at once with the route for the Choice after it. One transition per check
    instead of three (task, choice, wait)."""

    BOUND: ClassVar[dict[str, str]] = {**StepPayloadBase.BOUND, "token": "$$.Task.Token"}
    action: Literal["poll"] = "poll"
    spec: PollSpec
    token: str


class SequenceAction(BaseModel):
    """One action of a sequence: what a task of its own would pass, less what Step Functions fills in."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    action: str
    step: str
    then: str | None
    spec: Any = None


class SequencePayload(StepPayloadBase):
    """Consecutive steps run by one task, in order (the compiler folds a send, update or emit with the
    steps after it: another send, update or emit, the end or an exit step, a branch, split or time-of-day
    wait, an event wait). Each action is the payload its step's own task would pass, with this task's
    execution and entered time: its key (execution:step:entered) is its own and a retry of the task
    repeats none of the actions already done. ``token``: the task token when the last action parks it."""

    BOUND: ClassVar[dict[str, str]] = {**StepPayloadBase.BOUND, "token": "$$.Task.Token"}
    action: Literal["sequence"] = "sequence"
    spec: list[SequenceAction] = Field(min_length=2)
    token: str | None = Field(None, exclude_if=lambda v: v is None)  # only when the last action parks it

    CALLBACK: ClassVar[frozenset[str]] = frozenset({"await", "poll"})  # actions that park the task token

    @classmethod
    def task(cls, journey: str, step: str, then: str | None, spec: Any) -> dict[str, Any]:
        """The ``Payload`` of a task running the actions ``spec`` (each a compiled step payload, or a
        SequenceAction); ``step`` and ``then`` are the first action's step and the last one's then. When the
        last action parks the task token (the task is lambda:invoke.waitForTaskToken) the token too."""
        actions = [
            a.model_dump() if isinstance(a, BaseModel) else {k: a[k] for k in ("action", "step", "then", "spec")}
            for a in spec
        ]
        if len(actions) < 2 or any(a["action"] in ("sequence", "failed") for a in actions):
            raise ValueError("a sequence holds two or more actions, none of them a sequence or failed")
        if any(a["action"] in cls.CALLBACK for a in actions[:-1]):
            raise ValueError("only the last action of a sequence may park the task token")
        if (step, then) != (actions[0]["step"], actions[-1]["then"]):
            raise ValueError("a sequence's step is its first action's, its then its last action's")
        bound = cls.BOUND if actions[-1]["action"] in cls.CALLBACK else StepPayloadBase.BOUND
        return {
            "action": "sequence",
            "journey": journey,
            "step": step,
            "then": then,
            "spec": [SequenceAction.model_validate(a).model_dump(mode="json") for a in actions],
            **{f"{name}.$": path for name, path in bound.items()},
        }

    def actions(self) -> list[StepPayload]:
        """The actions as the typed payloads of their own tasks (UnknownAction, InvalidStepPayload)."""
        bound = {"journey": self.journey, "shop": self.shop, "profile_id": self.profile_id}
        bound |= {"execution": self.execution, "entered": self.entered, "token": self.token}
        out = []
        for action in self.spec:
            if action.action in ("sequence", "failed"):
                raise InvalidStepPayload(f"journey step 'sequence': cannot hold {action.action!r}")
            out.append(parse_step({**bound, **action.model_dump()}))
        return out


class FailedPayload(StepPayloadBase):
    """Records a failure caught by the state machine (``error``: Step Functions' Error and Cause)."""

    BOUND: ClassVar[dict[str, str]] = {**StepPayloadBase.BOUND, "error": "$.error"}
    action: Literal["failed"] = "failed"
    spec: None = None
    error: dict[str, Any] | None = None


StepPayload = Annotated[
    SendPayload
    | UpdatePayload
    | EmitPayload
    | BranchPayload
    | SplitPayload
    | UntilPayload
    | AwaitPayload
    | FinishPayload
    | FailedPayload
    | PollPayload
    | SequencePayload,
    Field(discriminator="action"),
]
STEP_PAYLOAD: TypeAdapter[StepPayload] = TypeAdapter(StepPayload)


def parse_step(payload: Any) -> StepPayload:
    """The payload a step task passed. UnknownAction when its action is none of the above,
    InvalidStepPayload when the rest does not fit the action."""
    try:
        return STEP_PAYLOAD.validate_python(payload)
    except ValidationError as exc:
        action = payload.get("action") if isinstance(payload, dict) else None
        if any(e["type"] in ("union_tag_invalid", "union_tag_not_found") for e in exc.errors()):
            raise UnknownAction(f"unknown journey step action {action!r}") from None
        raise InvalidStepPayload(f"journey step {action!r}: {str(exc)[:1000]}") from exc
