"""State transitions per customer for the whole smartphone onboarding, counted from the execution
histories of the demo's four customers (who behave differently) on the local runtime."""

from __future__ import annotations

import contextlib
import io
from typing import Any

from emma_local.config import load_config
from emma_local.journey_demo import JOURNEY, JourneyDemo
from emma_local.runtime import LocalRuntime


def _history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events, token = [], None
    while True:
        kwargs = {"executionArn": arn, "maxResults": 1000, **({"nextToken": token} if token else {})}
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def count(events: list[dict[str, Any]]) -> dict[str, int]:
    """Billed transitions: every state entered, plus every retry of a task (each attempt is one)."""
    entered = sum(e["type"].endswith("StateEntered") for e in events)
    scheduled = sum(e["type"] == "TaskScheduled" for e in events)
    task_states = sum(e["type"] == "TaskStateEntered" for e in events)
    return {
        "states_entered": entered,
        "retries": scheduled - task_states,
        "transitions": entered + scheduled - task_states,
        "lambda_invocations": scheduled,
    }


def measure(prices: dict[str, Any]) -> dict[str, Any]:
    runtime = LocalRuntime(load_config(), port=0, log_level="ERROR", schedule=False).start()
    try:
        demo = JourneyDemo(runtime)
        with contextlib.redirect_stdout(io.StringIO()):
            status = demo.run()
        personas = {pid[:60]: user.removeprefix("demo-").title() for user, pid in demo.profile_ids.items()}
        sfn = runtime.emulator.session().client("stepfunctions")  # type: ignore[union-attr]
        per_customer = {}
        for execution in runtime.executions(JOURNEY):
            events = _history(sfn, execution["executionArn"])
            persona = personas.get(execution["name"].rsplit("-", 1)[0], "")
            path = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]
            per_customer[execution["name"]] = {
                **count(events),
                "status": execution["status"],
                "persona": persona,
                "states": path,
            }
    finally:
        runtime.stop()
    sfn_price = prices["services"]["stepfunctions_standard"]["usd_per_1000_transitions"]
    lambda_price = prices["services"]["lambda_arm64"]["usd_per_million_requests"]
    transitions = [c["transitions"] for c in per_customer.values()]
    invocations = [c["lambda_invocations"] for c in per_customer.values()]
    return {
        "journey": JOURNEY,
        "demo_status": status,
        "customers": per_customer,
        "transitions_min": min(transitions),
        "transitions_max": max(transitions),
        "usd_per_customer_max": max(transitions) * sfn_price / 1000 + max(invocations) * lambda_price / 1e6,
        "usd_per_1000_customers_max": max(transitions) * sfn_price + max(invocations) * lambda_price / 1e3,
        "price_per_1000_transitions": sfn_price,
    }


def report(r: dict[str, Any]) -> str:
    lines = [f"\n7. Journeys: state transitions per customer, {r['journey']} (from execution histories)"]
    for name, c in r["customers"].items():
        who = f"{c['persona']} ({name[:24]}...)" if c.get("persona") else name[:40]
        lines.append(
            f"  {who:<41}{c['status']:<10}{c['transitions']:>4} transitions ({c['states_entered']} states, "
            f"{c['retries']} retries), {c['lambda_invocations']} Lambda invocations"
        )
    lines.append(
        f"  Standard workflows at ${r['price_per_1000_transitions']} per 1,000 transitions: at most "
        f"${r['usd_per_1000_customers_max']:.2f} per 1,000 customers for the whole ~11-month journey "
        f"(transitions + Lambda requests; Lambda compute and DynamoDB not included)"
    )
    return "\n".join(lines)
