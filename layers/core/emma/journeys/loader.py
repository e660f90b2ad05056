"""Load journeys/*.yaml with errors naming the file and line, and check each journey as a graph:
targets exist, every step is reachable, every cycle waits, entries and events are known; and the
journeys together: groups (journeys/_groups.yaml) declared, excluded and allowed journeys defined,
exclusion conditions readable. ``collisions`` names the journeys that can message a customer at once
with no rule between them (`emma journeys validate`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from emma.campaigns.definitions import Campaign
from emma.journeys.conflicts import rivals
from emma.journeys.definitions import (
    MAX_WAIT,
    STEP_KEYS,
    Journey,
    JourneyGroup,
    JourneyGroups,
    JourneySet,
    WaitStep,
)
from emma.rules.definitions import All, Any_, Compare, Condition, DaysSince, InSegment, Not
from emma.rules.loader import (
    PROFILE_ROOTS,
    DefinitionError,
    Definitions,
    line_of_value,
    load_document,
)
from emma.templates.library import TemplateSet

_TAGS = frozenset(tag for _, tag, _ in STEP_KEYS)  # union tags in error locations, not keys of the file
_CONDITION_TAGS = frozenset({"compare", "days_since", "count", "orders", "revenue", "segment"})
GROUPS_FILE = "_groups.yaml"  # journeys/_groups.yaml; files starting with _ are not journeys


def _targets(journey: Journey) -> list[str]:
    out = []
    for step in journey.steps:
        out += [t for t in (getattr(step, "next", None),) if t]
        out += [arm.target for arm in getattr(step, "branch", [])]
        out += [v.goto for v in getattr(step, "split", [])]
        wait = getattr(step, "wait", None)
        if wait is not None and wait.on_timeout:
            out.append(wait.on_timeout)
    return out


def graph_problems(journey: Journey) -> list[tuple[str, str]]:
    """(offending value, problem) for the journey as a graph."""
    ids = [s.id for s in journey.steps]
    problems = [(i, f"step id {i!r} is used twice") for i in sorted({i for i in ids if ids.count(i) > 1})]
    known = set(ids)
    problems += [
        (t, f"no step {t!r} in this journey (steps: {', '.join(ids)})") for t in _targets(journey) if t not in known
    ]
    if problems:
        return problems
    index = {s.id: n for n, s in enumerate(journey.steps)}
    edges = {s.id: journey.successors(n) for n, s in enumerate(journey.steps)}
    seen, stack = set(), [ids[0]]
    while stack:
        step = stack.pop()
        if step not in seen:
            seen.add(step)
            stack += edges[step]
    problems += [(i, f"step {i!r} can never be reached from {ids[0]!r}") for i in ids if i not in seen]
    # A cycle must pass through a wait, or an execution would spin (and send) without end.
    waits = {s.id for s in journey.steps if isinstance(s, WaitStep)}
    state: dict[str, int] = {}

    def visit(step: str, path: list[str]) -> None:
        state[step] = 1
        for nxt in edges[step]:
            if nxt in waits:
                continue
            if state.get(nxt) == 1:
                loop = [*path[path.index(nxt) :], nxt] if nxt in path else [step, nxt]
                problems.append((nxt, f"cycle without a wait: {' -> '.join(loop)}"))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[step] = 2

    for step in sorted((s for s in ids if s not in waits), key=index.__getitem__):
        if step not in state:
            visit(step, [step])
    return problems


def _longest_wait(journey: Journey) -> tuple[timedelta, list[str]]:
    """The longest an execution can take along any path (cycles counted once), and that path."""
    edges = {s.id: journey.successors(n) for n, s in enumerate(journey.steps)}
    cost = {s.id: (s.wait.longest if isinstance(s, WaitStep) else timedelta(0)) for s in journey.steps}
    best: dict[str, tuple[timedelta, list[str]]] = {}

    def longest(step: str, on_path: frozenset[str]) -> tuple[timedelta, list[str]]:
        if step in best:
            return best[step]
        options = [longest(n, on_path | {n}) for n in edges[step] if n not in on_path]
        tail = max(options, key=lambda o: o[0], default=(timedelta(0), []))
        best[step] = (cost[step] + tail[0], [step, *tail[1]])
        return best[step]

    return longest(journey.steps[0].id, frozenset({journey.steps[0].id}))


def _reference_problems(journey: Journey, rules: Definitions) -> list[tuple[str, str]]:
    problems = []
    triggers, segments = {t.id for t in rules.triggers}, {s.id for s in rules.segments}
    for trigger in (journey.entry.trigger, *journey.entry.also):
        if trigger and trigger not in triggers:
            problems.append((trigger, f"entry trigger {trigger!r} is not defined in triggers/"))
    if journey.entry.segment and journey.entry.segment not in segments:
        problems.append((journey.entry.segment, f"entry segment {journey.entry.segment!r} is not defined in segments/"))
    return problems


def _template_problems(journey: Journey, templates: TemplateSet) -> list[tuple[str, str]]:
    known = templates.names()
    problems = []
    for step in journey.steps:
        send = getattr(step, "send", None)
        if send is None:
            continue
        if send.template not in known:
            problems.append((send.template, f"template {send.template!r} is not defined in templates/"))
            continue
        template = templates.get("", send.template)
        channel = getattr(send, "channel", "best")
        if channel not in ("best", None) and channel not in template.channels:
            problems.append(
                (
                    send.template,
                    f"template {send.template!r} has no {channel} content (it has: {', '.join(template.channels)})",
                )
            )
    return problems


def load_groups(root: Path) -> list[JourneyGroup]:
    """The journey groups declared in journeys/_groups.yaml (none without the file)."""
    groups, problems = _load_groups(root)
    if problems:
        raise DefinitionError(problems)
    return groups


def _load_groups(root: Path) -> tuple[list[JourneyGroup], list[str]]:
    path = root / "journeys" / GROUPS_FILE
    if not path.is_file():
        return [], []
    loaded, problems, _, lines = load_document(path, JourneyGroups, expected="groups: [{id, exclusive, description}]")
    if loaded is None:
        return [], problems
    seen: set[str] = set()
    for n, group in enumerate(loaded.groups):
        if group.id in seen:
            problems.append(f"{path}:{lines.get(('groups', n, 'id'), 1)}: group {group.id!r} is declared twice")
        seen.add(group.id)
    return loaded.groups, problems


def _walk(condition: Condition) -> list[Any]:
    if isinstance(condition, All):
        return [condition, *[n for c in condition.all for n in _walk(c)]]
    if isinstance(condition, Any_):
        return [condition, *[n for c in condition.any for n in _walk(c)]]
    if isinstance(condition, Not):
        return [condition, *_walk(condition.not_)]
    return [condition]


def _relation_problems(
    journey: Journey,
    known: set[str],
    groups: Mapping[str, JourneyGroup],
    rules: Definitions,
    path: Path,
    data: Any,
    lines: dict[tuple[Any, ...], int],
) -> list[str]:
    """Groups, excluded and allowed journeys, exclusion conditions: what the schema alone cannot check."""
    problems: list[str] = []

    def at(*loc: Any) -> str:
        while loc and loc not in lines:
            loc = loc[:-1]
        return f"{path}:{lines.get(loc, 1)}"

    if journey.group is not None and journey.group not in groups:
        declared = ", ".join(sorted(groups)) or f"none: no journeys/{GROUPS_FILE}"
        problems.append(
            f"{at('group')}: unknown group {journey.group!r} (declared in journeys/{GROUPS_FILE}: {declared})"
        )
    if journey.priority is not None and journey.group is None:
        problems.append(f"{at('priority')}: priority orders the journeys of a group; give the journey a group too")
    for field, named in (("excludes", journey.excludes.journeys), ("allows", journey.allows)):
        loc: tuple[Any, ...] = ("excludes", "journeys") if field == "excludes" else ("allows",)
        for n, other in enumerate(named):
            if other == journey.id:
                problems.append(f"{at(*loc, n)}: {field}: a journey cannot name itself")
            elif other not in known:
                problems.append(f"{at(*loc, n)}: {field}: no journey {other!r} (journeys: {', '.join(sorted(known))})")
            elif field == "allows" and other in journey.excludes.journeys:
                problems.append(f"{at(*loc, n)}: allows: {other!r} is excluded as well; say one of the two")
    segments = {s.id for s in rules.segments}
    for n, condition in enumerate(journey.excludes.when):
        for node in _walk(condition):
            where = at("excludes", "when", n)
            if isinstance(node, Compare | DaysSince):
                field_path = node.field if isinstance(node, Compare) else node.days_since
                root, _, rest = field_path.partition(".")
                head = rest.split(".", 1)[0]
                if root == "event":
                    problems.append(
                        f"{where}: excludes.when: {field_path}: an exclusion has no triggering event; "
                        "use profile fields"
                    )
                elif head not in PROFILE_ROOTS:
                    problems.append(
                        f"{where}: excludes.when: {field_path}: unknown profile field {head!r}; "
                        f"one of {sorted(PROFILE_ROOTS)}"
                    )
            elif isinstance(node, InSegment) and node.segment not in segments:
                problems.append(
                    f"{where}: excludes.when: segment {node.segment!r} is not defined (known: {sorted(segments)})"
                )
    return problems


def load_journeys(root: Path, rules: Definitions, templates: TemplateSet | None = None) -> JourneySet:
    """Every journeys/*.yaml under ``root`` (not the files starting with ``_``), validated against the triggers
    and segments it uses, the groups of journeys/_groups.yaml, the journeys it excludes or allows and, when
    given, the templates it sends; with those groups."""
    groups, problems = _load_groups(root)
    by_group = {g.id: g for g in groups}
    journeys: list[Journey] = []
    loaded: list[tuple[Journey, Path, Any, dict[tuple[Any, ...], int]]] = []
    for path in sorted((root / "journeys").glob("*")):
        if path.suffix not in (".yaml", ".yml", ".json") or path.name.startswith("_"):
            continue
        journey, errors, data, lines = load_document(
            path, Journey, expected="id, entry, steps", skip=_TAGS | _CONDITION_TAGS
        )
        problems += errors
        if journey is None:
            continue
        if path.stem != journey.id:
            problems.append(
                f"{path}:{lines.get(('id',), 1)}: the file is named {path.stem!r} but defines "
                f"{journey.id!r}; name the file after the id"
            )
        graph = graph_problems(journey)
        references = _reference_problems(journey, rules)
        if templates is not None:
            references += _template_problems(journey, templates)
        for value, problem in graph + references:
            problems.append(f"{path}:{line_of_value(data, lines, value)}: {problem}")
        if not graph:
            total, route = _longest_wait(journey)
            if total > MAX_WAIT:
                problems.append(
                    f"{path}:{lines.get(('steps',), 1)}: the waits along {' -> '.join(route)} add up to "
                    f"{total.days} days; a Step Functions execution lives at most {MAX_WAIT.days}"
                )
        journeys.append(journey)
        loaded.append((journey, path, data, lines))
    known = {j.id for j in journeys}
    for journey, path, data, lines in loaded:
        problems += _relation_problems(journey, known, by_group, rules, path, data, lines)
    if problems:
        raise DefinitionError(problems)
    return JourneySet(journeys, groups)


def collisions(journeys: list[Journey], groups: Mapping[str, JourneyGroup] | None = None) -> list[str]:
    """Pairs of journeys that can message the same customer at once with no rule between them: their shops
    overlap, both can send a message that is not transactional, and they share no exclusive group, neither
    excludes the other and neither allows the other. ``groups``: those of ``journeys`` (a JourneySet) if not
    given."""
    known = groups if groups is not None else getattr(journeys, "groups", {})
    found = []
    marketing = [j for j in journeys if j.markets()]
    for n, a in enumerate(marketing):
        for b in marketing[n + 1 :]:
            if not a.in_shop_scope_of(b) or a.coexists_with(b):
                continue
            if b.id in a.excludes.journeys or a.id in b.excludes.journeys or rivals(a, b, known):
                continue
            found.append(f"{a.id} + {b.id}: can message the same customer at once (no group, exclusion or allowance)")
    return found


def definitions_json(
    rules: Definitions,
    journeys: list[Journey],
    templates: TemplateSet | None = None,
    campaigns: list[Campaign] | None = None,
) -> str:
    """What the definitions layer holds in AWS: triggers, segments, journeys, templates and campaigns, validated."""
    data = json.loads(rules.to_json())
    data["journeys"] = [j.model_dump(mode="json", by_alias=True, exclude_none=True) for j in journeys]
    groups = getattr(journeys, "groups", {})  # a JourneySet (load_journeys) knows its groups
    data["journey_groups"] = [g.model_dump(mode="json") for g in groups.values()]
    data["campaigns"] = [c.model_dump(mode="json", exclude_none=True) for c in campaigns or []]
    if templates is not None:
        data["templates"] = templates.to_json()
    return json.dumps(data, sort_keys=True)
