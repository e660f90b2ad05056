"""The trigger, segment, journey and template definitions (triggers/*.yaml, segments/*.yaml,
journeys/*.yaml and templates/ at the repository root).

Loaded and validated at synth time with the same loaders `make test` and the local runtime use: an
invalid definition fails `cdk synth` (and `cdk deploy`) with one file:line message per problem, so
nothing invalid ever reaches AWS. The validated definitions ship as one JSON file in a small layer of
their own, /opt/definitions/definitions.json, which only the functions that read them get (the rules,
journeys and dispatch functions): a change to a definition publishes a new layer version and updates
those functions, nothing else. The journeys are also compiled to one state machine each (`Journeys`);
the templates are checked (schema, variables, sample renders) and the journeys against them.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import AssetHashType
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from emma.campaigns.loader import load_campaigns
from emma.config import RulesSettings
from emma.journeys.loader import definitions_json, load_journeys
from emma.resources import TABLES
from emma.rules.loader import load_definitions
from emma.templates.loader import load_templates
from emma_infra.bundling import DEFINITIONS_FILE, stage_definitions_layer
from emma_infra.runtime import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME

LAYER_MOUNT = Path("/opt")  # where Lambda extracts layers
DEFINITIONS_PATH = (LAYER_MOUNT / DEFINITIONS_FILE).as_posix()  # /opt/definitions/definitions.json

# What the rules functions read from the environment, taken from their settings model itself so the
# two cannot drift: the definitions file and the tables (profiles, schedule) they work on.
_SETTINGS_ENV = {str(f.validation_alias): name for name, f in RulesSettings.model_fields.items()}
DEFINITIONS_ENV_VAR = next(alias for alias, name in _SETTINGS_ENV.items() if name == "definitions")
RULES_TABLES = tuple(t for t in TABLES if t.env_var in _SETTINGS_ENV)


class Definitions(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, root: Path) -> None:
        super().__init__(scope, construct_id)
        # Raises emma.rules.loader.DefinitionError listing every problem as file:line; emma_infra.main
        # prints them and exits non-zero, so `cdk synth` fails before anything is built.
        self.definitions = load_definitions(root)
        self.templates = load_templates(root)
        # checked against those triggers and segments, and the templates they send
        self.journeys = load_journeys(root, self.definitions, self.templates)
        self.campaigns = load_campaigns(root, self.definitions, self.journeys, self.templates)
        layer_dir, digest = stage_definitions_layer(
            definitions_json(self.definitions, self.journeys, self.templates, self.campaigns)
        )
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(str(layer_dir), asset_hash=digest, asset_hash_type=AssetHashType.CUSTOM),
            compatible_runtimes=[LAMBDA_RUNTIME],
            compatible_architectures=[LAMBDA_ARCHITECTURE],
            description=f"Emma definitions ({len(self.definitions.triggers)} triggers, "
            f"{len(self.definitions.segments)} segments, {len(self.journeys)} journeys, "
            f"{len(self.templates.templates)} templates, {len(self.campaigns)} campaigns) as {DEFINITIONS_PATH}",
        )

    @property
    def environment(self) -> dict[str, str]:
        return {DEFINITIONS_ENV_VAR: DEFINITIONS_PATH}
