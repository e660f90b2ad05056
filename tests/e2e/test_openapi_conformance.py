"""The served OpenAPI document tells the truth (bench/conformance.py says how): 2,000 generated
cases (``EMMA_CONFORMANCE_CASES``) against the local API; `make bench` runs 10,000."""

from __future__ import annotations

import os

import pytest

from bench.conformance import run

pytestmark = pytest.mark.e2e
CASES = int(os.environ.get("EMMA_CONFORMANCE_CASES", "2000"))


# Coverage's tracer would slow the generator, the server and the emulator, all in this process, by half
# again: this test is about the document, not about which lines run (the other tests measure those).
@pytest.mark.no_cover
def test_the_served_document_tells_the_truth(runtime_url):
    outcome = run(runtime_url, CASES)
    assert outcome.cases >= CASES, f"only {outcome.cases} cases were generated"
    assert not outcome.failures, "\n\n".join(outcome.failures)
    # The cases reach behind authentication: most are answered by the routes themselves.
    assert outcome.statuses[200] > CASES * 0.25 and outcome.statuses[400] > CASES * 0.1, outcome.statuses
    assert all(status < 500 for status in outcome.statuses)


@pytest.fixture(scope="module")
def runtime_url():
    from emma_local.config import load_config
    from emma_local.runtime import LocalRuntime

    runtime = LocalRuntime(load_config(), port=0, log_level="ERROR", environments=0, schedule=False, tap=False)
    runtime.start()
    for pump in runtime.pumps.values():  # the document is about the API; the consumers are not needed
        pump.stop()
    yield runtime.api_url
    runtime.stop()
