"""Build the CDK app: the Emma stack plus the cdk-nag AwsSolutions checks over all of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from emma_infra.stack import EmmaStack

STACK_NAME = "Emma"


def build_app(*, context: Mapping[str, Any] | None = None, outdir: str | None = None) -> App:
    """The app; ``context``/``outdir`` are for tests (the CLI passes cdk.json's context itself)."""
    app = App(context=dict(context) if context else None, outdir=outdir)
    stack = EmmaStack(
        app,
        STACK_NAME,
        description="Emma: serverless marketing automation for online shops (ingest, profiles, events)",
    )
    Tags.of(stack).add("project", "emma")
    # cdk-nag 3 is a CDK policy-validation plugin: it runs after synthesis, fails the synth on
    # unacknowledged errors, prints warnings, and writes everything to validation-report.json in
    # the cloud assembly. Acknowledgements sit next to the resources they are about.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app
