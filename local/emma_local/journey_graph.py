"""A journey as a Mermaid flowchart a marketer can review (GitHub and most wikis render it)."""

from __future__ import annotations

from emma.journeys.definitions import BranchStep, EmitStep, ExitStep, Journey, SendStep, SplitStep, UpdateStep, WaitStep
from emma.rules.definitions import Duration


def _days(value: Duration) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _label(step: object) -> tuple[str, str]:
    """(text, shape) of a step's node."""
    if isinstance(step, SendStep):
        extra = ", transactional" if step.send.transactional else ""
        return f"send {step.send.template}<br/>via {step.send.channel}{extra}", "rect"
    if isinstance(step, WaitStep):
        wait = step.wait
        if wait.for_ is not None:
            return f"wait {_days(wait.for_)}", "stadium"
        if wait.until_time is not None:
            return f"wait until {wait.until_time}<br/>customer's time", "stadium"
        assert wait.until_event is not None and wait.timeout is not None
        return f"wait for {wait.until_event.value}<br/>at most {_days(wait.timeout)}", "stadium"
    if isinstance(step, BranchStep):
        return "branch", "diamond"
    if isinstance(step, SplitStep):
        return "split " + " / ".join(f"{v.name} {v.weight:g}" for v in step.split), "diamond"
    if isinstance(step, UpdateStep):
        return "update " + ", ".join(f"{k} = {v}" for k, v in step.update.set.items()), "rect"
    if isinstance(step, EmitStep):
        return f"emit journey.{step.emit.event}", "rect"
    if isinstance(step, ExitStep):
        return "exit", "circle"
    return type(step).__name__, "rect"


_SHAPES = {"rect": ("[", "]"), "stadium": ("([", "])"), "diamond": ("{", "}"), "circle": ("((", "))")}


def _node(name: str) -> str:
    return "s_" + name.replace("-", "_")


_OPS = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "in": "in", "not_in": "not in"}


def _describe(node: object) -> str:
    if isinstance(node, list):
        return " and ".join(_describe(n) for n in node)
    if not isinstance(node, dict):
        return str(node)
    for key, joiner in (("all", " and "), ("any", " or ")):
        if isinstance(node.get(key), list):
            return joiner.join(_describe(n) for n in node[key])
    if "not" in node:
        return "not (" + _describe(node["not"]) + ")"
    subject = [str(v) for k, v in node.items() if k not in _OPS and not isinstance(v, dict | list)]
    nested = [f"{k} {_describe(v)}" for k, v in node.items() if isinstance(v, dict)]
    tests = [f"{_OPS[k]} {v}" for k, v in node.items() if k in _OPS]
    return " ".join([*nested, *subject, *tests])


def _condition_text(arm: object) -> str:
    when = getattr(arm, "when", None)
    if when is None:
        return "otherwise"
    data = when.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    return _describe(data).replace('"', "'")[:100]


def mermaid(journey: Journey) -> str:
    lines = ["flowchart TD", f'    start(["{journey.id}<br/>entry: {_entry(journey)}"])']
    lines.append(f"    start --> {_node(journey.steps[0].id)}")
    for index, step in enumerate(journey.steps):
        text, shape = _label(step)
        left, right = _SHAPES[shape]
        lines.append(f'    {_node(step.id)}{left}"{step.id}: {text}"{right}')
        successors = journey.successors(index)
        if isinstance(step, BranchStep):
            for arm in step.branch:
                lines.append(f'    {_node(step.id)} -->|"{_condition_text(arm)}"| {_node(arm.target)}')
        elif isinstance(step, SplitStep):
            for v in step.split:
                label = f"{v.name} {v.weight:g}" + (" holdout" if v.holdout else "")
                lines.append(f'    {_node(step.id)} -->|"{label}"| {_node(v.goto)}')
        elif isinstance(step, WaitStep) and step.wait.until_event is not None:
            lines.append(f'    {_node(step.id)} -->|"{step.wait.until_event.value}"| {_node(successors[0])}')
            lines.append(f'    {_node(step.id)} -.->|"timeout"| {_node(successors[-1])}')
        elif successors:
            lines.append(f"    {_node(step.id)} --> {_node(successors[0])}")
        elif not isinstance(step, ExitStep):
            lines.append(f"    {_node(step.id)} --> finish((end))")
    if journey.exit_on:
        lines.append(f'    exits["exits at once on: {", ".join(e.value for e in journey.exit_on)}"]')
    return "\n".join(lines) + "\n"


def _entry(journey: Journey) -> str:
    return f"trigger {journey.entry.trigger}" if journey.entry.trigger else f"segment {journey.entry.segment}"
