"""Triggers and segments as typed data (files in triggers/ and segments/, reviewed like code).

Conditions are a small language of typed nodes; each YAML mapping is one node, recognised by its
key:

    {field: profile.orders.count, gte: 2}              compare a profile or event field
    {days_since: profile.orders.last_order_at, gt: 180} time since a timestamp field, in days
    {count: email.opened, within: 30d, gte: 2}          occurrences of an event type in a window
    {orders: {within: 90d}, gte: 2}                     counted orders in a window
    {revenue: {within: 365d}, gt: 500}                  revenue of counted orders in a window
    {segment: big-baskets}                              membership of another segment
    {all: [...]}, {any: [...]}, {not: {...}}            logic

A trigger fires on an event (``on``) when ``when`` holds; with ``absent`` it is armed by the event
and fires later, with no further event, if the absent event did not happen within the window.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    field_validator,
    model_validator,
)

from emma.events.model import EventType
from emma.profiles.model import MAX_EVENT_TIMES

SLUG = r"^[a-z0-9][a-z0-9-]{1,62}$"
_DURATION = re.compile(r"^\s*(\d+)\s*(m|h|d|w)\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_WINDOW = timedelta(days=3 * 365)
COMPARE_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists")


def parse_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration like 30m, 2h, 90d or 4w")
    duration = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if not timedelta(minutes=1) <= duration <= MAX_WINDOW:
        raise ValueError(f"{value!r} must be between 1m and {MAX_WINDOW.days}d")
    return duration


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds // 60}m"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    Field(json_schema_extra={"examples": ["2h", "30d"]}),
]
EventTypes = Annotated[
    list[EventType], BeforeValidator(lambda v: [v] if isinstance(v, str) else v), Field(min_length=1)
]
OP_FIELDS = {"eq", "ne", "gt", "gte", "lt", "lte", "in_", "not_in", "contains", "exists"}


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Comparison(_Node):
    """Exactly one operator and its operand."""

    eq: Any = None
    ne: Any = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    in_: list[Any] | None = Field(None, alias="in")
    not_in: list[Any] | None = None
    contains: Any = None
    exists: bool | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> _Comparison:
        given = sorted(self._given_ops())
        if len(given) != 1:
            raise ValueError(f"give exactly one operator of {', '.join(COMPARE_OPS)}; got {given or 'none'}")
        return self

    def _given_ops(self) -> set[str]:
        return {("in" if name == "in_" else name) for name in self.model_fields_set & OP_FIELDS}

    @cached_property
    def op(self) -> str:
        return next(iter(self._given_ops()))

    @cached_property
    def operand(self) -> Any:
        return getattr(self, "in_" if self.op == "in" else self.op)


class Compare(_Comparison):
    field: str = Field(description="profile.<path> or event.<path>")

    @field_validator("field")
    @classmethod
    def _rooted(cls, value: str) -> str:
        if not re.match(r"^(profile|event)(\.[A-Za-z0-9_-]+)+$", value):
            raise ValueError(f"{value!r}: a field starts with profile. or event. (e.g. profile.orders.count)")
        return value


class DaysSince(_Comparison):
    days_since: str

    @field_validator("days_since")
    @classmethod
    def _rooted(cls, value: str) -> str:
        return Compare._rooted(value)

    @model_validator(mode="after")
    def _sane(self) -> DaysSince:
        if self.op in ("eq", "ne", "in", "not_in", "contains"):
            raise ValueError(f"days_since compares with gt, gte, lt, lte or exists, not {self.op}")
        if self.op != "exists" and not (isinstance(self.operand, int | float) and 0 <= self.operand <= 36_500):
            raise ValueError("days_since needs a number of days between 0 and 36500")
        return self


class CountEvents(_Comparison):
    count: EventType
    within: Duration | None = None

    @model_validator(mode="after")
    def _bounded(self) -> CountEvents:
        if self.within is not None and self.op in ("gt", "gte", "lt", "lte", "eq", "ne"):
            limit = float(self.operand) + (1 if self.op in ("gt", "lte") else 0)
            if limit > MAX_EVENT_TIMES:
                raise ValueError(
                    f"a windowed count can compare up to {MAX_EVENT_TIMES} occurrences "
                    f"(profiles keep the newest {MAX_EVENT_TIMES} times per event type)"
                )
        return self


class Window(_Node):
    within: Duration | None = None


class CountOrders(_Comparison):
    orders: Window


class Revenue(_Comparison):
    revenue: Window


class InSegment(_Node):
    segment: str = Field(pattern=SLUG)


class All(_Node):
    all: list[Condition] = Field(min_length=1)


class Any_(_Node):
    any: list[Condition] = Field(min_length=1)


class Not(_Node):
    not_: Condition = Field(alias="not")


def keyed_union(variants: Sequence[tuple[str, str, type[BaseModel]]], what: str, error_type: str) -> Any:
    """A union of models told apart, YAML style, by the one key a mapping has: (key, tag, model).

    Used for conditions here and for journey steps (emma.journeys.definitions)."""
    by_key = {key: tag for key, tag, _ in variants}

    def tag_of(value: Any) -> str | None:
        if isinstance(value, dict):
            keys = [k for k in value if k in by_key]
            return by_key[keys[0]] if len(keys) == 1 else None
        return next((tag for _, tag, model in variants if isinstance(value, model)), None)

    members = [Annotated[model, Tag(tag)] for _, tag, model in variants]
    return Annotated[
        functools.reduce(operator.or_, members),
        Discriminator(
            tag_of,
            custom_error_type=error_type,
            custom_error_message=f"{what} needs exactly one of: " + ", ".join(by_key),
        ),
    ]


CONDITION_KEYS = (
    ("field", "compare", Compare),
    ("days_since", "days_since", DaysSince),
    ("count", "count", CountEvents),
    ("orders", "orders", CountOrders),
    ("revenue", "revenue", Revenue),
    ("segment", "segment", InSegment),
    ("all", "all", All),
    ("any", "any", Any_),
    ("not", "not", Not),
)
Condition = keyed_union(CONDITION_KEYS, "a condition", "unknown_condition")
for _model in (All, Any_, Not):
    _model.model_rebuild()


def _as_condition(value: Any) -> Any:
    """A list of conditions means all of them."""
    return {"all": value} if isinstance(value, list) else value


Conditions = Annotated[Condition, BeforeValidator(_as_condition)]


class Absence(_Node):
    event: EventTypes = Field(description="the event(s) whose absence is awaited")
    within: Duration


class Trigger(_Node):
    id: str = Field(pattern=SLUG)
    description: str = ""
    shops: list[str] = Field(default_factory=lambda: ["*"])
    on: EventTypes = Field(description="event type(s) that fire (or arm) the trigger")
    when: Conditions | None = None
    absent: Absence | None = None
    cooldown: Duration | None = Field(None, description="do not fire again for the same customer within")
    once: bool = Field(False, description="fire at most once per customer")

    def applies_to(self, shop: str) -> bool:
        return "*" in self.shops or shop in self.shops


class Segment(_Node):
    id: str = Field(pattern=SLUG)
    description: str = ""
    kind: Literal["engagement", "tier", "lifecycle", "loyalty", "rfm", "custom"] = "custom"
    priority: int = Field(
        100,
        description="lifecycle stages and loyalty tiers: a profile is in the first matching stage (and the first "
        "matching tier), lowest first",
    )
    shops: list[str] = Field(default_factory=lambda: ["*"])
    when: Conditions

    def applies_to(self, shop: str) -> bool:
        return "*" in self.shops or shop in self.shops
