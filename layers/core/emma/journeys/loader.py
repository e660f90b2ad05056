"""Load journeys/*.yaml with errors naming the file and line, and check each journey as a graph:
targets exist, every step is reachable, every cycle waits, entries and events are known."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from emma.campaigns.definitions import Campaign
from emma.journeys.definitions import MAX_WAIT, STEP_KEYS, Journey, WaitStep
from emma.rules.loader import (
    DefinitionError,
    Definitions,
    line_of_value,
    load_document,
)
from emma.templates.library import TemplateSet

_TAGS = frozenset(tag for _, tag, _ in STEP_KEYS)  # union tags in error locations, not keys of the file


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


def load_journeys(root: Path, rules: Definitions, templates: TemplateSet | None = None) -> list[Journey]:
    """Every journeys/*.yaml under ``root``, validated against the triggers and segments it uses and,
    when given, the templates it sends."""
    problems: list[str] = []
    journeys: list[Journey] = []
    for path in sorted((root / "journeys").glob("*")):
        if path.suffix not in (".yaml", ".yml", ".json"):
            continue
        journey, errors, data, lines = load_document(path, Journey, expected="id, entry, steps", skip=_TAGS)
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
    if problems:
        raise DefinitionError(problems)
    return journeys


def definitions_json(
    rules: Definitions,
    journeys: list[Journey],
    templates: TemplateSet | None = None,
    campaigns: list[Campaign] | None = None,
) -> str:
    """What the definitions layer holds in AWS: triggers, segments, journeys, templates and campaigns, validated."""
    data = json.loads(rules.to_json())
    data["journeys"] = [j.model_dump(mode="json", by_alias=True, exclude_none=True) for j in journeys]
    data["campaigns"] = [c.model_dump(mode="json", exclude_none=True) for c in campaigns or []]
    if templates is not None:
        data["templates"] = templates.to_json()
    return json.dumps(data, sort_keys=True)
