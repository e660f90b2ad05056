"""Infra tests share two synths per session: the default app, and the app with every option
configured (the Shopify partner event source, and the EmmaEdge stack in front of the API). A Python
CDK synth takes seconds and a node process of its own, so every test reads these two cloud
assemblies instead of synthesizing again."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "infra") not in sys.path:
    sys.path.insert(0, str(ROOT / "infra"))

from aws_cdk import App, Stack  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402
from constructs import IConstruct  # noqa: E402

from emma_infra import STACK_NAME, build_app  # noqa: E402
from emma_infra.edge import EDGE_STACK_NAME  # noqa: E402
from emma_infra.paths import CDK_JSON  # noqa: E402

PARTNER_SOURCE = "aws.partner/shopify.com/123/emma"
EDGE_API_DOMAIN = "abc123def4.execute-api.eu-central-1.amazonaws.com"
# Keep synthesizing when a validation plugin reports errors, so the tests can read and name them
# from validation-report.json (instead of one exception failing the whole session).
REPORT_ONLY = {"@aws-cdk/core:failSynthOnValidationErrors": False}


def cdk_json_context() -> dict[str, Any]:
    """The context the CLI would pass: cdk.json's feature flags."""
    return dict(json.loads(CDK_JSON.read_text())["context"])


@dataclass(frozen=True)
class Synth:
    app: App
    stack: Stack
    outdir: Path
    template_file: Path
    template_json: dict[str, Any]
    template: Template
    report: dict[str, Any]
    edge_template_file: Path | None = None  # the EmmaEdge stack's, when the app has it
    edge_template_json: dict[str, Any] | None = None

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.template_json["Resources"].items() if r["Type"] == type_}

    def asset_dir(self, s3_key: str) -> Path:
        """The staged asset directory behind a template's Code.S3Key (``<hash>.zip``)."""
        return self.outdir / f"asset.{s3_key.removesuffix('.zip')}"

    def construct(self, path: str) -> Any:
        """The (Python) construct at ``path`` below the stack, e.g. "ShopifyPartner/ShopifyPartnerQueue"."""
        found: Any = self.stack
        for part in path.split("/"):
            found = found.node.find_child(part)
        return found

    def logical_id(self, construct: IConstruct) -> str:
        """The template logical id of an L2 construct's resource (or of an L1 resource)."""
        resource = construct.node.default_child or construct
        return str(self.stack.get_logical_id(resource))  # type: ignore[arg-type]

    def properties(self, construct: IConstruct) -> dict[str, Any]:
        return self.template_json["Resources"][self.logical_id(construct)]["Properties"]


def synthesize(outdir: Path, **context: Any) -> Synth:
    app = build_app(context={**cdk_json_context(), **REPORT_ONLY, **context}, outdir=str(outdir))
    app.synth()
    stack = app.node.find_child(STACK_NAME)
    template_file = outdir / f"{STACK_NAME}.template.json"
    template_json = json.loads(template_file.read_text())
    report = json.loads((outdir / "validation-report.json").read_text())
    edge_file = outdir / f"{EDGE_STACK_NAME}.template.json"
    edge = json.loads(edge_file.read_text()) if edge_file.exists() else None
    return Synth(
        app,
        stack,
        outdir,
        template_file,
        template_json,
        Template.from_json(template_json),
        report,
        edge_file if edge is not None else None,
        edge,
    )


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    yield synthesize(tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def partner_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    yield synthesize(
        tmp_path_factory.mktemp("cdk-partner"), shopifyEventSourceName=PARTNER_SOURCE, edgeApiDomain=EDGE_API_DOMAIN
    )


@pytest.fixture(scope="session", params=["default", "partner"])
def any_synth(request: pytest.FixtureRequest) -> Synth:
    return request.getfixturevalue(f"{request.param}_synth")
