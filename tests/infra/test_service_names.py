"""Every function's Powertools service name comes from POWERTOOLS_SERVICE_NAME (no handler hard-codes
one), and the local runtime names each function as the CDK app does."""

from __future__ import annotations

import re

import pytest

from emma_local.lambdas import FUNCTIONS_DIR, service_name

pytestmark = pytest.mark.infra


def test_the_local_runtime_names_every_function_as_the_cdk_app_does(partner_synth):
    names = {}
    for fn in partner_synth.resources("AWS::Lambda::Function").values():
        handler = fn["Properties"].get("Handler", "")
        if handler.endswith(".handler.lambda_handler"):
            names[handler.split(".")[0]] = fn["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    folders = {d.name for d in FUNCTIONS_DIR.iterdir() if (d / "handler.py").is_file()}
    assert set(names) == folders
    assert names == {folder: service_name(folder) for folder in folders}


def test_no_handler_names_its_service():
    hard_coded = re.compile(r"(Logger|Tracer|Metrics)\([^)]*service=")
    found = [
        f"{path.relative_to(FUNCTIONS_DIR)}:{n}"
        for path in sorted(FUNCTIONS_DIR.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if hard_coded.search(line)
    ]
    assert found == []
