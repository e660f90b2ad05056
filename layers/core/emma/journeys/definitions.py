"""Journeys as typed data (journeys/*.yaml): an entry, steps, and journey-level settings.

Steps are recognised by their key, like conditions:

    - id: welcome
      send: {template: smartphone-welcome, channel: email}       # or channel: best
    - id: a-week
      wait: {for: 7d}                                            # a duration
    - id: morning
      wait: {until_time: "09:00"}                                # a time of day, customer's timezone
    - id: watched
      wait: {until_event: tutorial.watched, timeout: 7d, on_timeout: remind}
    - id: happy
      branch:                                                    # the first matching arm wins
        - when: [{field: profile.last_survey.score, gte: 8}]
          goto: invite-review
        - otherwise: service-follow-up
    - id: ab
      split: [{name: a, weight: 45, goto: offer-a}, {name: b, weight: 45, goto: offer-b},
              {name: holdout, weight: 10, goto: done, holdout: true}]
    - id: grant
      update: {set: {warranty_extended: true}}
    - id: tell
      emit: {event: referral-reward-due}
    - id: done
      exit: {}

A step continues with ``next`` (default: the step after it in the file); branch, split and the
timeout of an event wait name their targets. Validation (emma.journeys.loader) refuses unknown
targets, unreachable steps, cycles without a wait, waits beyond Step Functions' one-year limit, and
unknown events or segments, naming the file and line.

Journeys that know each other (docs/journeys.md#journeys-that-know-each-other): a journey may belong to
a ``group`` declared in ``journeys/_groups.yaml``; in an exclusive group a customer is in at most one of
its journeys at a time, the higher ``priority`` winning (on equal priority the one already running
keeps the customer). ``excludes`` names journeys it never runs beside and conditions under which it
does not run; ``allows`` names journeys it explicitly runs beside (over a shared exclusive group);
``on_conflict`` says what a send does when a conflict arose after the entry (``skip``: hold this
message and go on; ``exit``: end the journey).

    group: marketing
    priority: 20
    excludes:
      journeys: [smartphone-onboarding]
      when:                                   # each entry on its own excludes the customer
        - days_since: profile.orders.last_order_at
          lt: 30
    allows: [post-purchase-cross-sell]
    on_conflict: skip
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emma.events.model import Channel, EventType
from emma.rules.definitions import SLUG, Conditions, Duration, keyed_union

MAX_WAIT = timedelta(days=365)  # a Step Functions Standard execution lives at most one year
TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SendSpec(_Node):
    template: str = Field(pattern=SLUG)
    channel: Channel | Literal["best"] = "best"
    transactional: bool = Field(False, description="exempt from frequency caps (never from consent)")


class WaitSpec(_Node):
    for_: Duration | None = Field(None, alias="for")
    until_time: str | None = Field(None, description="HH:MM in the customer's timezone (the shop's if unknown)")
    until_event: EventType | None = None
    timeout: Duration | None = None
    on_timeout: str | None = Field(None, pattern=SLUG, description="step after a timeout (default: next)")

    @model_validator(mode="after")
    def _one_kind(self) -> WaitSpec:
        kinds = [k for k in ("for_", "until_time", "until_event") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a wait needs exactly one of: for, until_time, until_event")
        if self.until_time is not None and not TIME_OF_DAY.match(self.until_time):
            raise ValueError(f"until_time {self.until_time!r} is not HH:MM")
        if self.until_event is not None and self.timeout is None:
            raise ValueError("waiting for an event needs a timeout (e.g. timeout: 7d)")
        if self.until_event is None and (self.timeout is not None or self.on_timeout is not None):
            raise ValueError("timeout and on_timeout belong to until_event waits")
        for name in ("for_", "timeout"):
            value = getattr(self, name)
            if value is not None and value > MAX_WAIT:
                raise ValueError(f"waits are limited to {MAX_WAIT.days} days (Step Functions' execution limit)")
        return self

    @property
    def longest(self) -> timedelta:
        return self.for_ or self.timeout or timedelta(days=1)


class BranchArm(_Node):
    when: Conditions | None = None
    otherwise: str | None = Field(None, pattern=SLUG)
    goto: str | None = Field(None, pattern=SLUG)

    @model_validator(mode="after")
    def _shape(self) -> BranchArm:
        if (self.when is None) == (self.otherwise is None):
            raise ValueError("a branch arm has either when + goto, or otherwise: <step>")
        if self.when is not None and self.goto is None:
            raise ValueError("a branch arm with when needs goto")
        return self

    @property
    def target(self) -> str:
        return self.goto or self.otherwise or ""


class Variant(_Node):
    name: str = Field(pattern=SLUG)
    weight: float = Field(gt=0)
    goto: str = Field(pattern=SLUG)
    holdout: bool = Field(False, description="a control group: receives nothing, is measured like the others")


class UpdateSpec(_Node):
    set: dict[str, str | int | float | bool] = Field(min_length=1, description="profile traits to set")

    @field_validator("set")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.match(r"^[a-z][a-z0-9_]{0,63}$", name):
                raise ValueError(f"trait name {name!r} must be lower_snake_case")
        return value


class EmitSpec(_Node):
    event: str = Field(pattern=SLUG, description="published as custom event journey.<event>")


class _Step(_Node):
    id: str = Field(pattern=SLUG)
    next: str | None = Field(None, pattern=SLUG)


class SendStep(_Step):
    send: SendSpec


class WaitStep(_Step):
    wait: WaitSpec


class BranchStep(_Step):
    branch: list[BranchArm] = Field(min_length=1)

    @model_validator(mode="after")
    def _otherwise_last(self) -> BranchStep:
        fallbacks = [i for i, arm in enumerate(self.branch) if arm.otherwise is not None]
        if fallbacks != [len(self.branch) - 1]:
            raise ValueError("a branch ends with exactly one `otherwise:` arm")
        if self.next is not None:
            raise ValueError("a branch names its targets in its arms, not with next")
        return self


class SplitStep(_Step):
    split: list[Variant] = Field(min_length=2)

    @model_validator(mode="after")
    def _names_unique(self) -> SplitStep:
        names = [v.name for v in self.split]
        if len(names) != len(set(names)):
            raise ValueError("split variant names must be unique")
        return self


class UpdateStep(_Step):
    update: UpdateSpec


class EmitStep(_Step):
    emit: EmitSpec


class ExitStep(_Step):
    exit: dict[str, Any] = Field(default_factory=dict)


STEP_KEYS = (
    ("send", "send", SendStep),
    ("wait", "wait", WaitStep),
    ("branch", "branch", BranchStep),
    ("split", "split", SplitStep),
    ("update", "update", UpdateStep),
    ("emit", "emit", EmitStep),
    ("exit", "exit", ExitStep),
)
Step = keyed_union(STEP_KEYS, "a step", "unknown_step")


class Entry(_Node):
    trigger: str | None = Field(None, pattern=SLUG)
    segment: str | None = Field(None, pattern=SLUG, description="entering this segment starts the journey")
    also: tuple[Annotated[str, Field(pattern=SLUG)], ...] = Field(
        (),
        description="further triggers that start it (the flagship: a smartphone owner registering an account); "
        "a customer already in the journey is not started again, whichever came first",
    )

    @model_validator(mode="after")
    def _one(self) -> Entry:
        if (self.trigger is None) == (self.segment is None):
            raise ValueError("an entry is either trigger: <id> or segment: <id>")
        if self.also and self.trigger is None:
            raise ValueError("also: names further triggers of a trigger entry")
        return self

    def starts_on(self, trigger: str | None) -> bool:
        return trigger is not None and (trigger == self.trigger or trigger in self.also)


class Reentry(_Node):
    after: Duration


JourneySlug = Annotated[str, Field(pattern=SLUG)]


class Excludes(_Node):
    journeys: list[JourneySlug] = Field(
        default_factory=list, description="journeys this one never runs beside: not entered, and holds its sends"
    )
    when: list[Conditions] = Field(
        default_factory=list,
        description="conditions on the customer (profile, segments, predictions), each on its own excluding them",
    )


class JourneyGroup(_Node):
    """A group of journeys (journeys/_groups.yaml)."""

    id: str = Field(pattern=SLUG)
    exclusive: bool = Field(False, description="a customer is in at most one journey of the group at a time")
    description: str = ""


class JourneyGroups(_Node):
    """The file journeys/_groups.yaml."""

    groups: list[JourneyGroup] = Field(default_factory=list)


class Journey(_Node):
    id: str = Field(pattern=SLUG)
    description: str = ""
    shops: list[str] = Field(default_factory=lambda: ["*"])
    entry: Entry
    exit_on: list[EventType] = Field(default_factory=list, description="events that end an execution at once")
    reentry: Literal["never"] | Reentry = "never"
    max_messages: int | None = Field(None, ge=1, description="messages one execution may send at most")
    group: str | None = Field(None, pattern=SLUG, description="a group declared in journeys/_groups.yaml")
    priority: int | None = Field(None, description="in an exclusive group the higher wins (default 0)")
    excludes: Excludes = Field(default_factory=Excludes)
    allows: list[JourneySlug] = Field(default_factory=list, description="journeys this one may run beside")
    on_conflict: Literal["skip", "exit"] = Field(
        "skip", description="a conflict found before a send: skip this message (held) or exit the journey"
    )
    steps: list[Step] = Field(min_length=1)

    @property
    def rank(self) -> int:
        return self.priority or 0

    def coexists_with(self, other: Journey) -> bool:
        """Explicitly allowed to run beside ``other`` (either side may say so)."""
        return other.id in self.allows or self.id in other.allows

    def in_shop_scope_of(self, other: Journey) -> bool:
        """Whether the two journeys can run in a shop in common."""
        return "*" in self.shops or "*" in other.shops or bool(set(self.shops) & set(other.shops))

    def markets(self) -> bool:
        """Whether the journey can send a message that is not transactional."""
        return any(isinstance(s, SendStep) and not s.send.transactional for s in self.steps)

    @field_validator("exit_on", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def step(self, step_id: str) -> Any:
        return next(s for s in self.steps if s.id == step_id)

    def successors(self, index: int) -> list[str]:
        """The steps that can follow step ``index``."""
        step = self.steps[index]
        following = self.steps[index + 1].id if index + 1 < len(self.steps) else None
        if isinstance(step, ExitStep):
            return []
        if isinstance(step, BranchStep):
            return [arm.target for arm in step.branch]
        if isinstance(step, SplitStep):
            return [v.goto for v in step.split]
        default = step.next or following
        out = [default] if default else []
        if isinstance(step, WaitStep) and step.wait.until_event is not None:
            out.append(step.wait.on_timeout or default or "")
        return [s for s in dict.fromkeys(out) if s]


class JourneySet(list[Journey]):
    """The journeys with the groups they belong to (what load_journeys returns and definitions.json holds)."""

    def __init__(self, journeys: Iterable[Journey] = (), groups: Iterable[JourneyGroup] = ()) -> None:
        super().__init__(journeys)
        self.groups: dict[str, JourneyGroup] = {g.id: g for g in groups}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JourneySet:
        """From definitions.json: its ``journeys`` and ``journey_groups``."""
        return cls(
            [Journey.model_validate(j) for j in data.get("journeys", [])],
            [JourneyGroup.model_validate(g) for g in data.get("journey_groups", [])],
        )
