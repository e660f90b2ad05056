"""Build the CDK app: the Emma stack (and, with the ``edgeApiDomain`` context value, the optional
EmmaEdge stack in us-east-1) plus the cdk-nag AwsSolutions checks over all of it."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from aws_cdk import App, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from emma.rules.loader import DefinitionError
from emma_infra.edge import EDGE_CONTEXT_KEY, EDGE_STACK_NAME, EmmaEdgeStack
from emma_infra.stack import EmmaStack

STACK_NAME = "Emma"


def build_app(
    *,
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    definitions_root: Path | None = None,
) -> App:
    """The app; ``context``/``outdir``/``definitions_root`` are for tests (the CLI passes cdk.json's
    context itself; the definitions are triggers/, segments/ and journeys/ of the repository)."""
    app = App(context=dict(context) if context else None, outdir=outdir)
    stack = EmmaStack(
        app,
        STACK_NAME,
        description="Emma: serverless marketing automation for online shops "
        "(ingest, profiles, rules, journeys, dispatch)",
        definitions_root=definitions_root,
    )
    Tags.of(stack).add("project", "emma")
    api_domain = app.node.try_get_context(EDGE_CONTEXT_KEY)
    if api_domain:
        edge = EmmaEdgeStack(
            app,
            EDGE_STACK_NAME,
            api_domain=str(api_domain),
            description="Emma edge: CloudFront and a WAF web ACL limiting webhooks per shop in front of the ingest API",
        )
        Tags.of(edge).add("project", "emma")
    # cdk-nag 3 is a CDK policy-validation plugin: it runs after synthesis, fails the synth on
    # unacknowledged errors, prints warnings, and writes everything to validation-report.json in
    # the cloud assembly. Acknowledgements sit next to the resources they are about.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def main(*, definitions_root: Path | None = None, stderr: TextIO = sys.stderr) -> int:
    """`infra/app.py`: synthesize, or explain invalid trigger/segment/journey/template definitions and return 1 (which
    fails `cdk synth` and `cdk deploy`)."""
    try:
        app = build_app(definitions_root=definitions_root)
    except DefinitionError as exc:
        print(f"emma: {len(exc.problems)} problem(s) in the trigger/segment/journey/template definitions:", file=stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=stderr)
        return 1
    app.synth()
    return 0
