"""Load campaigns/*.yaml with errors naming the file and line, and check what each campaign names: its
segments (audience and exclusions), journeys (exclusions), template (and its content for the channel, and its
topic where the audience is a topic), and topic (one of the shops' topics)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from emma.campaigns.definitions import Campaign
from emma.journeys.definitions import Journey
from emma.rules.loader import (
    DefinitionError,
    Definitions,
    line_of_value,
    load_document,
)
from emma.shops import DEFAULT_TOPICS
from emma.templates.library import TemplateSet


def _reference_problems(
    campaign: Campaign,
    rules: Definitions,
    journeys: Iterable[Journey],
    templates: TemplateSet | None,
    topics: set[str],
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    segments = {s.id for s in rules.segments}
    for segment in (*campaign.audience.segments, *campaign.audience.exclude.segments):
        if segment not in segments:
            problems.append((segment, f"segment {segment!r} is not defined in segments/"))
    known_journeys = {j.id for j in journeys}
    for journey in campaign.audience.exclude.journeys:
        if journey not in known_journeys:
            problems.append((journey, f"journey {journey!r} is not defined in journeys/"))
    topic = campaign.audience.topic
    if topic is not None and topic not in topics:
        problems.append((topic, f"topic {topic!r} is not one of the shops' topics ({', '.join(sorted(topics))})"))
    if templates is not None:
        if campaign.template not in templates.names():
            problems.append((campaign.template, f"template {campaign.template!r} is not defined in templates/"))
        else:
            template = templates.get("", campaign.template)
            if campaign.channel != "best" and campaign.channel not in template.channels:
                problems.append(
                    (
                        campaign.template,
                        f"template {campaign.template!r} has no {campaign.channel} content "
                        f"(it has: {', '.join(template.channels)})",
                    )
                )
            if template.purpose != "marketing":
                problems.append(
                    (campaign.template, f"template {campaign.template!r} is {template.purpose}, not marketing")
                )
            elif topic is not None and template.topic != topic:
                problems.append(
                    (
                        topic,
                        f"the audience is the subscribers of {topic!r} but template {campaign.template!r} is "
                        f"about {template.topic!r} (dispatch honours the template's topic)",
                    )
                )
    return problems


def load_campaigns(
    root: Path,
    rules: Definitions,
    journeys: Iterable[Journey] = (),
    templates: TemplateSet | None = None,
    topics: Iterable[str] | None = None,
) -> list[Campaign]:
    """Every campaigns/*.yaml under ``root`` (none: an empty list), checked against the segments, journeys,
    templates and topics it names; DefinitionError lists every problem as FILE:LINE: message."""
    known_topics = set(topics) if topics is not None else {t.id for t in DEFAULT_TOPICS}
    journeys = list(journeys)
    problems: list[str] = []
    campaigns: list[Campaign] = []
    ids: dict[str, Path] = {}
    for path in sorted((root / "campaigns").glob("*")):
        if path.suffix not in (".yaml", ".yml", ".json"):
            continue
        campaign, errors, data, lines = load_document(
            path, Campaign, expected="id, template, audience, schedule", fallback="campaign", clean=True
        )
        problems += errors
        if campaign is None:
            continue
        if path.stem != campaign.id:
            problems.append(
                f"{path}:{lines.get(('id',), 1)}: the file is named {path.stem!r} but defines {campaign.id!r}; "
                "name the file after the id"
            )
        if campaign.id in ids:
            line = lines.get(("id",), 1)
            problems.append(f"{path}:{line}: campaign {campaign.id!r} is also defined in {ids[campaign.id]}")
        ids[campaign.id] = path
        for value, problem in _reference_problems(campaign, rules, journeys, templates, known_topics):
            problems.append(f"{path}:{line_of_value(data, lines, value)}: {problem}")
        campaigns.append(campaign)
    if problems:
        raise DefinitionError(problems)
    return campaigns
