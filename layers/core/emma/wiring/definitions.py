"""Reading the validated definitions: definitions.json from the definitions layer (built by `cdk synth`),
or, in the local runtime, the repository folder with the YAML files (build-time loaders, never on Lambda)."""

from __future__ import annotations

import json
from pathlib import Path

from emma.campaigns.definitions import Campaign
from emma.journeys.definitions import JourneySet
from emma.rules.loader import Definitions
from emma.templates.library import TemplateSet


def read_definitions(path: Path) -> Definitions:
    """Triggers and segments."""
    if path.is_dir():
        from emma.rules.loader import load_definitions

        return load_definitions(path)
    return Definitions.from_json(path.read_text(encoding="utf-8"))


def read_journeys(path: Path) -> JourneySet:
    """The journeys with their groups (journeys/_groups.yaml)."""
    if path.is_dir():
        from emma.journeys.loader import load_journeys
        from emma.rules.loader import load_definitions

        return load_journeys(path, load_definitions(path))
    return JourneySet.from_json(json.loads(path.read_text(encoding="utf-8")))


def read_campaigns(path: Path) -> list[Campaign]:
    if path.is_dir():
        from emma.campaigns.loader import load_campaigns  # build-time code (YAML): only off Lambda
        from emma.journeys.loader import load_journeys
        from emma.rules.loader import load_definitions
        from emma.templates.loader import load_templates

        rules, templates = load_definitions(path), load_templates(path)
        return load_campaigns(path, rules, load_journeys(path, rules, templates), templates)
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Campaign.model_validate(c) for c in data.get("campaigns", [])]


def read_templates(path: Path) -> TemplateSet:
    if path.is_dir():
        from emma.templates.loader import load_templates  # build-time code (YAML): only off Lambda

        return load_templates(path)
    return TemplateSet.from_json(json.loads(path.read_text(encoding="utf-8")).get("templates", {}))
