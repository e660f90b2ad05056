"""cdk-nag (AwsSolutions) and cfn-lint over the synthesized app, both variants."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_sqs as sqs
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

from emma.resources import (
    CAMPAIGN_MACHINE_NAME,
    EXPORTS_BUCKET,
    IMPORT_MACHINE_NAME,
    IMPORTS_BUCKET,
    state_machine_name,
)
from emma_infra.edge import EDGE_REGION, EDGE_STACK_NAME
from emma_infra.paths import DEFINITIONS_ROOT
from tests.infra.conftest import REPORT_ONLY, Synth

pytestmark = pytest.mark.infra

JOURNEY_IDS = sorted(p.stem for p in (DEFINITIONS_ROOT / "journeys").glob("*.yaml") if not p.name.startswith("_"))

# Every acknowledged cdk-nag finding, with why. Adding one means adding it here, in review.
EXPECTED_ACKNOWLEDGEMENTS = {
    "AwsSolutions-APIG4": "authentication happens in the ingest function",
    "AwsSolutions-IAM5[Resource::*]": "X-Ray tracing; ListSecrets/BatchGetSecretValue; Step Functions log "
    "delivery and X-Ray; dispatch's sns:Publish (SMS to phone numbers, which have no ARN)",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*]": "dispatch "
    "sends from whichever SES identity verifies the From address, limited by ses:FromAddress to SenderDomains",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sns:<AWS::Region>:<AWS::AccountId>:app/*]": "dispatch "
    "registers devices with the push platform applications operators create per shop",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:"
    "secret:emma/shops/*]": "one secret per shop",
    "AwsSolutions-S1": "the exports and imports buckets: no server access logs; Emma's privacy audit log records "
    "the job of each export, the import job record each import, CloudTrail data events audit object access "
    "account-wide",
    f"AwsSolutions-IAM5[Resource::<{EXPORTS_BUCKET.logical_id}.Arn>/*]": "the ingest and privacy functions write "
    "and read one export object per privacy job, named at run time",
    f"AwsSolutions-IAM5[Resource::<{IMPORTS_BUCKET.logical_id}.Arn>/*]": "the imports function reads the uploads "
    "and the parts of each import and deletes them when the import finishes, named at run time",
    f"AwsSolutions-IAM5[Resource::<{IMPORTS_BUCKET.logical_id}.Arn>/jobs/*]": "the imports function writes, and "
    "the import state machine's ItemReaders read, the parts and chunks of each import (jobs/<shop>/<job>/...)",
    f"AwsSolutions-IAM5[Resource::<{IMPORTS_BUCKET.logical_id}.Arn>/*/uploads/*]": "the ingest API presigns the "
    "uploads of a shop (<shop>/uploads/<uuid>/<file>) and checks that they exist",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
    f"{IMPORT_MACHINE_NAME}:*]": "Distributed Map: Step Functions describes and stops the import machine's executions",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
    f"{IMPORT_MACHINE_NAME}/*]": "Distributed Map: the child workflow executions of the import machine's map runs, "
    "described, stopped and redriven",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
    f"{IMPORT_MACHINE_NAME}:import-*]": "the ingest API describes the execution of an import job (import-<job>)",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
    f"{CAMPAIGN_MACHINE_NAME}:*]": "the ingest API cancels a campaign run by stopping its execution, named after the "
    "shop, the campaign and the run",
    "AwsSolutions-SQS3": "the dead-letter queues of the EventBridge Scheduler targets and of the EventBridge rule "
    "targets (cdk-nag only sees RedrivePolicy)",
    **{
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
        f"{state_machine_name(journey_id)}:*]": "the journeys consumer stops (and describes) the executions of "
        "each journey, the ingest and privacy functions stop them (erasure): their names are only known at run time"
        for journey_id in JOURNEY_IDS
    },
}

# The optional EmmaEdge stack (CloudFront + WAF in us-east-1), in the partner synth.
EXPECTED_EDGE_ACKNOWLEDGEMENTS = {
    "AwsSolutions-CFR1": "no geo restriction: shops sell wherever they sell",
    "AwsSolutions-CFR3": "the HTTP API's access log and the web ACL's metrics record the requests",
    "AwsSolutions-CFR4": "the default cloudfront.net certificate has no settable minimum TLS version",
}

# cfn-lint findings CDK itself produces and we accept, with why.
CFN_LINT_IGNORED = {
    # CDK makes a function DependsOn its role (besides GetAtt-ing it) so that the role exists first
    # even when the role comes from elsewhere; redundant here, harmless.
    "W3005",
}
CFN_LINT_REGIONS = ["us-east-1", "eu-central-1", "eu-west-1"]


def findings(report: dict[str, Any]) -> list[str]:
    """Every error or warning in a validation-report.json, one line each (cdk-nag, annotations, ...)."""
    return [
        f"{plugin['pluginName']}: {violation['severity']} {violation['ruleName']} at {resource['constructPath']}"
        f" ({violation['description']})"
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        if violation["severity"] in {"error", "fatal", "warning"}
        for resource in violation["violatingConstructs"]
    ]


def test_cdk_nag_reports_nothing_unacknowledged(any_synth: Synth):
    assert findings(any_synth.report) == []


def test_cdk_nag_findings_would_be_caught(tmp_path: Path):
    """The collector above sees what cdk-nag reports: a bare SQS queue yields SQS3 and SQS4 errors."""
    app = App(context=REPORT_ONLY, outdir=str(tmp_path))
    sqs.Queue(Stack(app, "Probe"), "Bare")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()
    found = findings(json.loads((tmp_path / "validation-report.json").read_text()))
    assert any("AwsSolutions-SQS3" in f for f in found)
    assert any("AwsSolutions-SQS4" in f for f in found)


def acknowledgements(synth: Synth, artifact_id: str | None = None) -> dict[str, list[tuple[str, str]]]:
    """rule id -> [(construct path, reason)]: every Validations.of(...).acknowledge(...) of the stack
    (Emma's, or ``artifact_id``'s), as recorded in the cloud assembly's metadata (the audit trail that
    ships with each synth)."""
    metadata = json.loads((synth.outdir / f"{artifact_id or synth.stack.artifact_id}.metadata.json").read_text())
    found: dict[str, list[tuple[str, str]]] = {}
    for path, entries in metadata.items():
        for entry in entries:
            if entry["type"] == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule_id, reason in entry["data"].items():
                    found.setdefault(re.sub(r"^annotation::", "", rule_id, flags=re.IGNORECASE), []).append(
                        (path, reason)
                    )
    return found


def test_every_acknowledgement_is_expected_and_explained(any_synth: Synth):
    acks = acknowledgements(any_synth)
    assert set(acks) == set(EXPECTED_ACKNOWLEDGEMENTS)
    for rule_id, places in acks.items():
        for path, reason in places:
            assert len(reason) >= 60, f"{rule_id} at {path}: say precisely why, not {reason!r}"


def test_every_edge_acknowledgement_is_expected_and_explained(partner_synth: Synth):
    acks = acknowledgements(partner_synth, EDGE_STACK_NAME)
    assert set(acks) == set(EXPECTED_EDGE_ACKNOWLEDGEMENTS)
    for rule_id, places in acks.items():
        for path, reason in places:
            assert len(reason) >= 60, f"{rule_id} at {path}: say precisely why, not {reason!r}"


def lint(template: Path, regions: list[str]) -> list[str]:
    return [
        f"{m.rule.id} {m.message} ({m.linenumber}:{m.columnnumber})"
        for m in lint_file(template, config=ManualArgs(regions=regions))
        if m.rule.id not in CFN_LINT_IGNORED
    ]


def test_cfn_lint_finds_no_errors_or_warnings(any_synth: Synth):
    assert lint(any_synth.template_file, CFN_LINT_REGIONS) == []


def test_cfn_lint_finds_no_errors_or_warnings_in_the_edge_stack(partner_synth: Synth):
    assert partner_synth.edge_template_file is not None
    assert lint(partner_synth.edge_template_file, [EDGE_REGION]) == []
