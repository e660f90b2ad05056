"""The six queue consumers: each a thin handler over emma.edge.sqs, loaded as Lambda loads it, with
its service name from the environment; the Shopify partner-event consumer through its Lambda handler."""

from __future__ import annotations

import json
import os
import sys
import uuid

import pytest

from emma.resources import QUEUES, REQUEST_QUEUES
from emma_local.lambdas import FUNCTIONS_DIR, LambdaContext, load_handler, service_name, sqs_event
from tests.unit.functions.conftest import EVENTS

CONSUMERS = ["triggers", "journeys", "dispatch", "ses_feedback", "shopify_events", "analytics"]
PAID = json.loads((EVENTS / "shopify" / "orders_paid.json").read_text(encoding="utf-8"))


def test_every_queue_has_one_of_the_consumers():
    assert {q.consumer for q in (*QUEUES, *REQUEST_QUEUES)} <= set(CONSUMERS)


@pytest.mark.parametrize("function", CONSUMERS)
def test_each_consumer_is_loaded_with_its_own_service_name_and_keeps_what_the_runtime_resets(function, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "emma-local")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    load_handler(function)  # the function's package on the path, as Lambda has it
    # Imported again here; the module other tests use is put back afterwards.
    monkeypatch.setattr(sys.modules[function], "handler", sys.modules[f"{function}.handler"])
    monkeypatch.delitem(sys.modules, f"{function}.handler")
    handler = load_handler(function)
    module = sys.modules[f"{function}.handler"]
    assert handler is module.lambda_handler and callable(module.components.cache_clear)
    assert module.logger.service == module.metrics.provider.service == service_name(function)
    assert service_name(function) == f"emma-{function.replace('_', '-')}"
    assert os.environ["POWERTOOLS_SERVICE_NAME"] == "emma-local"  # restored after the import


@pytest.fixture
def partner(world, monkeypatch):
    """The shopify_events handler wired to the same in-memory ports as the ingest handler."""
    from ingest import deps
    from shopify_events import handler

    intake = deps.intake()
    monkeypatch.setattr(handler, "components", lambda: intake)
    return handler


def entry(domain: str, delivery: str) -> dict:
    metadata = {"X-Shopify-Topic": "orders/paid", "X-Shopify-Webhook-Id": delivery, "X-Shopify-Shop-Domain": domain}
    return {"source": "aws.partner/shopify.com/1/emma", "detail": {"payload": PAID, "metadata": metadata}}


def run(handler, *bodies) -> list[int]:
    """The indexes of the records reported as failed."""
    messages = [
        {"MessageId": str(uuid.uuid4()), "ReceiptHandle": f"rh-{i}", "Body": b if isinstance(b, str) else json.dumps(b)}
        for i, b in enumerate(bodies)
    ]
    event = sqs_event(messages, "arn:aws:sqs:eu-central-1:123456789012:emma-shopify-partner")
    failed = {
        f["itemIdentifier"] for f in handler.lambda_handler(event, LambdaContext("shopify_events"))["batchItemFailures"]
    }
    return [i for i, m in enumerate(messages) if m["MessageId"] in failed]


def test_partner_events_of_known_stores_are_ingested_and_the_others_fail_alone(partner, world):
    unknown = entry("unknown-shop.myshopify.com", "eb-2")
    assert run(partner, entry("elektro-emma.myshopify.com", "eb-1"), unknown, "{not json", {"detail": {}}) == [1, 2, 3]
    assert world["publisher"].published and {e.shop for e in world["publisher"].published} == {"elektro-emma"}
    before = len(world["publisher"].published)
    assert run(partner, entry("ELEKTRO-EMMA.myshopify.com", "eb-1")) == []  # a re-delivery counts once
    assert len(world["publisher"].published) == before


def test_a_batch_of_partner_events_that_all_fail_is_a_function_error(partner):
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError):
        run(partner, "{not json")


def test_the_consumers_modules_import_no_powertools_batch_machinery_of_their_own():
    for function in CONSUMERS:
        text = (FUNCTIONS_DIR / function / "handler.py").read_text(encoding="utf-8")
        assert "process_partial_response" not in text and "BatchProcessor" not in text, function
