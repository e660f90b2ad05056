"""Load trigger and segment definitions from YAML (or JSON) files, with errors naming file and line.

Used at build time (`make test`, `cdk synth`, `emma dev`, `emma rules validate`), which bundle the
validated definitions as JSON for the functions: the Lambda code never parses YAML.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from emma.rules.definitions import All, Any_, Compare, Condition, DaysSince, InSegment, Not, Segment, Trigger

M = TypeVar("M", bound=BaseModel)
PROFILE_ROOTS = {
    "shop",
    "profile_id",
    "created_at",
    "updated_at",
    "customer_ids",
    "emails",
    "anonymous_ids",
    "phones",
    "traits",
    "consent",
    "suppressions",
    "orders",
    "products_owned",
    "categories_owned",
    "affinities",
    "channels",
    "cart",
    "coupons_redeemed",
    "tutorials_watched",
    "last_survey",
    "reviews",
    "referrals",
    "event_counts",
    "event_times",
    "first_seen_at",
    "last_seen_at",
    "last_active_at",
    "last_seen",
    "email",
    "customer_id",
    "known",
    "segments",
    "lifecycle_stage",
    "loyalty_tier",
    "rfm",
    "predictions",
}
EVENT_ROOTS = {
    "id",
    "shop",
    "type",
    "occurred_at",
    "received_at",
    "source",
    "customer",
    "context",
    "properties",
    "extra",
}


class DefinitionError(Exception):
    """One or more invalid definitions; each message names the file and line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class Definitions:
    triggers: list[Trigger] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)

    def for_shop(self, shop: str) -> Definitions:
        return Definitions(
            [t for t in self.triggers if t.applies_to(shop)], [s for s in self.segments if s.applies_to(shop)]
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "triggers": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in self.triggers],
                "segments": [s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in self.segments],
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Definitions:
        data = json.loads(text)
        return cls(
            [Trigger.model_validate(t) for t in data["triggers"]], [Segment.model_validate(s) for s in data["segments"]]
        )


# ---- YAML with line numbers -------------------------------------------------------------------


def _yaml_loader() -> Any:
    """SafeLoader with YAML 1.2 booleans: only true/false. YAML 1.1 reads `on:` (a trigger's key),
    `yes`, `no` and `off` as booleans, which would turn `on: order.placed` into `True: ...`."""
    import re as regex

    import yaml  # build-time only

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", regex.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return Loader


def _yaml_with_lines(text: str, path: Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    import yaml  # build-time only

    loader = _yaml_loader()
    try:
        node = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise DefinitionError([f"{path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from exc
    lines: dict[tuple[Any, ...], int] = {}

    def walk(n: Any, at: tuple[Any, ...]) -> None:
        lines[at] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                lines[(*at, key.value)] = key.start_mark.line + 1
                walk(value, (*at, key.value))
                lines[(*at, key.value)] = key.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                walk(item, (*at, i))

    if node is not None:
        walk(node, ())
    return yaml.load(text, Loader=loader), lines  # noqa: S506 - a SafeLoader subclass


def _line(data: Any, lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int:
    """Follow a pydantic error location through the data, skipping union tags; the deepest line."""
    at: tuple[Any, ...] = ()
    node = data
    for part in loc:
        key = "in" if part == "in_" else "not" if part == "not_" else part
        if (isinstance(node, dict) and key in node) or (
            isinstance(node, list) and isinstance(key, int) and key < len(node)
        ):
            at, node = (*at, key), node[key]
    while at and at not in lines:
        at = at[:-1]
    return lines.get(at, 1)


# ---- checks beyond the schema ----------------------------------------------------------------


def _walk(cond: Condition | None) -> list[Any]:
    if cond is None:
        return []
    if isinstance(cond, All):
        return [cond, *[n for c in cond.all for n in _walk(c)]]
    if isinstance(cond, Any_):
        return [cond, *[n for c in cond.any for n in _walk(c)]]
    if isinstance(cond, Not):
        return [cond, *_walk(cond.not_)]
    return [cond]


def _field_problem(path: str, has_event: bool) -> str | None:
    root, _, rest = path.partition(".")
    head = rest.split(".", 1)[0]
    if root == "event":
        if not has_event:
            return f"{path}: segments have no triggering event; use profile fields"
        if head not in EVENT_ROOTS:
            return f"{path}: unknown event field {head!r}; one of {sorted(EVENT_ROOTS)}"
    elif head not in PROFILE_ROOTS:
        return f"{path}: unknown profile field {head!r}; one of {sorted(PROFILE_ROOTS)}"
    return None


LADDER_NAMES = {"lifecycle": "a lifecycle stage", "loyalty": "a loyalty tier"}


def _references(
    model: BaseModel, has_event: bool, segment_ids: set[str], ladder_ids: dict[str, str]
) -> list[tuple[str, str]]:
    """(offending value, problem) for fields and segments the schema alone cannot check."""
    problems = []
    in_segment = not has_event
    for node in _walk(getattr(model, "when", None)):
        if isinstance(node, Compare | DaysSince):
            path = node.field if isinstance(node, Compare) else node.days_since
            problem = _field_problem(path, has_event)
            if problem:
                problems.append((path, problem))
            elif in_segment and path.startswith(
                ("profile.lifecycle_stage", "profile.loyalty_tier", "profile.segments")
            ):
                problems.append(
                    (
                        path,
                        f"{path}: a segment cannot read this (stages, tiers and memberships are decided "
                        "together); use {segment: <id>} for other segments, or a trigger",
                    )
                )
        if isinstance(node, InSegment):
            if node.segment not in segment_ids:
                problems.append(
                    (node.segment, f"segment {node.segment!r} is not defined (known: {sorted(segment_ids)})")
                )
            elif in_segment and node.segment in ladder_ids:
                problems.append(
                    (
                        node.segment,
                        f"segment {node.segment!r} is {LADDER_NAMES[ladder_ids[node.segment]]}, decided after "
                        "the other segments: use it in triggers, not in segments",
                    )
                )
    return problems


def _line_of_value(data: Any, lines: dict[tuple[Any, ...], int], value: str) -> int:
    """The line of the first scalar equal to ``value`` in the document."""
    stack: list[tuple[tuple[Any, ...], Any]] = [((), data)]
    while stack:
        at, node = stack.pop(0)
        if node == value:
            return lines.get(at, 1)
        if isinstance(node, dict):
            stack += [((*at, k), v) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [((*at, i), v) for i, v in enumerate(node)]
    return 1


def _segment_cycles(segments: list[Segment]) -> list[str]:
    deps = {s.id: {n.segment for n in _walk(s.when) if isinstance(n, InSegment)} for s in segments}
    problems, done, active = [], set(), []

    def visit(seg: str) -> None:
        if seg in active:
            problems.append(f"segment {seg!r} depends on itself: {' -> '.join([*active[active.index(seg) :], seg])}")
            return
        if seg in done or seg not in deps:
            return
        active.append(seg)
        for dep in sorted(deps[seg]):
            visit(dep)
        active.pop()
        done.add(seg)

    for seg in sorted(deps):
        visit(seg)
    return problems


def topological(segments: list[Segment]) -> list[Segment]:
    """Segments ordered so that each comes after the segments its conditions refer to."""
    by_id = {s.id: s for s in segments}
    ordered: list[Segment] = []
    seen: set[str] = set()

    def visit(seg: Segment) -> None:
        if seg.id in seen:
            return
        seen.add(seg.id)
        for node in _walk(seg.when):
            if isinstance(node, InSegment) and node.segment in by_id:
                visit(by_id[node.segment])
        ordered.append(seg)

    for seg in segments:
        visit(seg)
    return ordered


# ---- loading ----------------------------------------------------------------------------------


_CONDITION_TAGS = frozenset({"compare", "days_since", "count", "orders", "revenue", "segment"})


def load_document(
    path: Path,
    model: type[M],
    *,
    expected: str,
    skip: frozenset[str] = frozenset(),
    fallback: str = "",
    clean: bool = False,
) -> tuple[M | None, list[str], Any, dict[tuple[Any, ...], int]]:
    """One definition file read and validated as ``model``: (the model or None, its problems as FILE:LINE, the
    data, the line of each location). ``expected``: what a mapping holds, for a file that is none; ``skip``: union
    tags in error locations that are not keys of the file; ``fallback``: the location's name when it is empty;
    ``clean``: without pydantic's "Value error, " prefix. Every definition loader reads its files with it."""
    text = path.read_text(encoding="utf-8")
    try:
        data, lines = _yaml_with_lines(text, path)
    except DefinitionError as exc:
        return None, exc.problems, None, {}
    if not isinstance(data, dict):
        return None, [f"{path}:1: expected a mapping ({expected}), got {type(data).__name__}"], data, lines
    try:
        return model.model_validate(data), [], data, lines
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = ".".join(str(p) for p in loc if p not in skip or p in data) or fallback
            got = f" (got {err['input']!r})" if isinstance(err.get("input"), str | int | float) else ""
            message = err["msg"].removeprefix("Value error, ") if clean else err["msg"]
            problems.append(f"{path}:{_line(data, lines, loc)}: {where}: {message}{got}")
        return None, problems, data, lines


def load_definitions(root: Path) -> Definitions:
    """Read root/triggers/*.yaml and root/segments/*.yaml (also .yml, .json); raise DefinitionError
    listing every problem with file and line."""
    problems: list[str] = []
    loaded: dict[str, list[tuple[BaseModel, Path, Any, dict]]] = {"triggers": [], "segments": []}
    for folder, model in (("triggers", Trigger), ("segments", Segment)):
        for path in sorted((root / folder).glob("*")):
            if path.suffix not in (".yaml", ".yml", ".json"):
                continue
            item, errors, data, lines = load_document(
                path, model, expected="id, ..., when", skip=_CONDITION_TAGS, fallback="definition"
            )
            problems += errors
            if item is not None:
                loaded[folder].append((item, path, data, lines))
    segment_ids = {s.id for s, *_ in loaded["segments"]}
    ladder_ids = {
        s.id: s.kind  # type: ignore[attr-defined]
        for s, *_ in loaded["segments"]
        if s.kind in LADDER_NAMES  # type: ignore[attr-defined]
    }
    for folder in ("triggers", "segments"):
        seen: dict[str, Path] = {}
        for item, path, data, lines in loaded[folder]:
            if item.id in seen:  # type: ignore[attr-defined]
                problems.append(
                    f"{path}:{lines.get(('id',), 1)}: id {item.id!r} is already used by "  # type: ignore[attr-defined]
                    f"{seen[item.id]}"
                )  # type: ignore[attr-defined]
            seen[item.id] = path  # type: ignore[attr-defined]
            if path.stem != item.id:  # type: ignore[attr-defined]
                problems.append(
                    f"{path}:{lines.get(('id',), 1)}: the file is named {path.stem!r} but defines "
                    f"{item.id!r}; name the file after the id"
                )  # type: ignore[attr-defined]
            for value, problem in _references(item, folder == "triggers", segment_ids, ladder_ids):
                problems.append(f"{path}:{_line_of_value(data, lines, value)}: {problem}")
    segments = [s for s, *_ in loaded["segments"]]
    problems += [f"{root / 'segments'}: {p}" for p in _segment_cycles(segments)]  # type: ignore[arg-type]
    if problems:
        raise DefinitionError(problems)
    return Definitions([t for t, *_ in loaded["triggers"]], topological(segments))  # type: ignore[misc]


# Public names for the other definition loaders (journeys, templates): one YAML reader, one way to
# turn a validation error into file:line.
read_yaml_with_lines = _yaml_with_lines
line_of_location = _line
line_of_value = _line_of_value
