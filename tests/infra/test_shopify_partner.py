"""The Shopify partner event source variant (context shopifyEventSourceName set)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack

from emma.resources import QUEUES
from emma_infra.constructs.shopify_partner import PARTNER_QUEUES, ShopifyPartnerSource
from tests.infra.conftest import PARTNER_SOURCE, Synth

pytestmark = pytest.mark.infra


def test_partner_queue_defs_exist():
    assert PARTNER_QUEUES and all(q in QUEUES and q.bus == "shopify-partner" for q in PARTNER_QUEUES)


def test_partner_event_bus_is_bound_to_the_event_source(partner_synth):
    buses = partner_synth.resources("AWS::Events::EventBus")
    partner = [b for b in buses.values() if "EventSourceName" in b["Properties"]]
    assert len(buses) == 2 and len(partner) == 1
    assert partner[0]["Properties"] == {
        "EventSourceName": PARTNER_SOURCE,
        "Name": PARTNER_SOURCE,
        "Tags": [{"Key": "project", "Value": "emma"}],
    }
    assert "ShopifyPartnerBusName" in partner_synth.template_json["Outputs"]


@pytest.mark.parametrize("definition", PARTNER_QUEUES, ids=lambda d: d.logical_id)
def test_partner_queues_hang_off_the_partner_bus_and_exist_only_with_it(partner_synth, default_synth, definition):
    # Queue, dead-letter queue, rule and consumer in detail: test_consumers.py (every QueueDef).
    found = partner_synth.construct(f"ShopifyPartner/{definition.logical_id}")
    partner_bus_id = partner_synth.logical_id(partner_synth.construct("ShopifyPartner/PartnerBus"))
    assert partner_synth.properties(found.rule)["EventBusName"] == {"Ref": partner_bus_id}
    assert default_synth.stack.node.try_find_child("ShopifyPartner") is None
    handler = f"{definition.consumer}.handler.lambda_handler"
    assert not [
        f for f in default_synth.resources("AWS::Lambda::Function").values() if f["Properties"]["Handler"] == handler
    ]


def test_partner_dead_letter_queue_and_consumer_are_alarmed(partner_synth, default_synth):
    """The partner variant adds exactly the partner consumers' alarms to the default stack's."""
    (topic_id,) = partner_synth.resources("AWS::SNS::Topic")

    def alarms(synth: Synth) -> dict[str, dict[str, Any]]:
        return {k: a["Properties"] for k, a in synth.resources("AWS::CloudWatch::Alarm").items()}

    added = {k: a for k, a in alarms(partner_synth).items() if k not in alarms(default_synth)}
    metrics = sorted(f"{a.get('Namespace')}:{a.get('MetricName')}" for a in added.values())
    assert metrics == sorted(
        [
            *["AWS/Lambda:Errors", "AWS/Lambda:Throttles"] * len(PARTNER_QUEUES),
            *["AWS/SQS:ApproximateNumberOfMessagesVisible"] * 2 * len(PARTNER_QUEUES),  # both dead-letter queues
        ]
    )
    for definition in PARTNER_QUEUES:
        found = partner_synth.construct(f"ShopifyPartner/{definition.logical_id}")
        dlq_id = partner_synth.logical_id(found.dead_letter_queue)
        (dlq_alarm,) = [
            a
            for a in added.values()
            if a["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
        ]
        assert dlq_alarm["Statistic"] == "Maximum" and dlq_alarm["Threshold"] == 0
        fn_id = partner_synth.logical_id(found.consumer.function)
        fn_alarms = [
            a for a in added.values() if a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": fn_id}}]
        ]
        assert sorted(a["MetricName"] for a in fn_alarms) == ["Errors", "Throttles"]
    assert all(a["AlarmActions"] == [{"Ref": topic_id}] for a in added.values())


def test_a_name_that_is_no_shopify_partner_source_is_refused():
    stack = Stack(App(), "Probe")
    no_platform: Any = None  # the name is checked before anything is built
    with pytest.raises(ValueError, match="shopifyEventSourceName"):
        ShopifyPartnerSource(stack, "Shopify", event_source_name="emma-events", platform=no_platform)
