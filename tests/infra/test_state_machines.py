"""What every state machine of the stack has, as ``emma_infra.constructs.journeys.logged_machine`` builds them all:
the journeys' (one per journey file), the import machine and the campaign machine."""

from __future__ import annotations

from typing import Any

import pytest

from emma.resources import CAMPAIGN_MACHINE_NAME, IMPORT_MACHINE_NAME, state_machine_name
from tests.infra.conftest import Synth
from tests.infra.test_journeys import JOURNEY_FILES

MACHINE_NAMES = [*(state_machine_name(j) for j in JOURNEY_FILES), IMPORT_MACHINE_NAME, CAMPAIGN_MACHINE_NAME]


def state_machine(synth: Synth, name: str) -> tuple[str, dict[str, Any]]:
    """(logical id, resource) of the state machine named ``name``."""
    ((logical_id, resource),) = [
        (logical_id, resource)
        for logical_id, resource in synth.resources("AWS::StepFunctions::StateMachine").items()
        if resource["Properties"]["StateMachineName"] == name
    ]
    return logical_id, resource


def test_the_stack_has_exactly_these_state_machines(default_synth):
    names = [
        r["Properties"]["StateMachineName"]
        for r in default_synth.resources("AWS::StepFunctions::StateMachine").values()
    ]
    assert sorted(names) == sorted(MACHINE_NAMES)


@pytest.mark.parametrize("name", MACHINE_NAMES)
def test_every_machine_logs_every_transition_without_data_and_is_traced(default_synth, name):
    _, resource = state_machine(default_synth, name)
    props = resource["Properties"]
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is False  # customer data, keys and profile ids stay out of the logs
    (destination,) = logging["Destinations"]
    log_group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    log_group = default_synth.template_json["Resources"][log_group_id]
    assert log_group["Properties"]["LogGroupName"] == f"/aws/vendedlogs/states/{name}"
    assert log_group["Properties"]["RetentionInDays"] == 30
    assert log_group["DeletionPolicy"] == "Delete"
    assert props["TracingConfiguration"] == {"Enabled": True}


@pytest.mark.parametrize("name", MACHINE_NAMES)
def test_every_machine_waits_for_its_permissions(default_synth, name):
    _, resource = state_machine(default_synth, name)
    role_id = resource["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    (policy_id,) = [
        policy_id
        for policy_id, policy in default_synth.resources("AWS::IAM::Policy").items()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
    ]
    assert policy_id in resource["DependsOn"]
