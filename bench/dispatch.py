"""Dispatch: CPU per message (decisions + rendering + MIME, in-memory ports, network blocked) and the
AWS requests per message (the real wiring against the emulator, counted at botocore's before-call).

    python -m bench.run    (make bench) runs it with the rest; alone: python -m bench.dispatch
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from emma.dispatch.request import MessageRequest


def _request(n: int, profile_id: str, template: str, at: Any, channel: str = "best") -> MessageRequest:
    return MessageRequest(
        key=f"bench-{n}:send:1",
        shop="elektro-emma",
        profile_id=profile_id,
        template=template,
        channel=channel,
        requested_at=at,
        journey="bench",
        transactional=True,
    )


def measure_cpu(messages: int = 300) -> dict[str, Any]:
    """CPU per dispatched message with in-memory ports (transactional: no cap stops the run)."""
    from tests.unit.dispatch.conftest import World

    out: dict[str, Any] = {}
    for template, channel in (("warranty-extension", "email"), ("cart-reminder", "email"), ("cart-last-call", "sms")):
        world = World()
        pid = world.customer(sms=True)
        samples = []
        for n in range(messages):
            request = _request(n, pid, template, world.clock.now(), channel)
            started = time.process_time()
            report = world.service.dispatch(request)
            samples.append((time.process_time() - started) * 1e6)
            if report.outcome != "sent":
                raise RuntimeError(f"bench message not sent: {report.outcome} {report.reason}")
        samples = samples[10:]  # compiled templates are cached after the first renders
        out[f"{template} ({channel})"] = {
            "cpu_us_median": statistics.median(samples),
            "cpu_us_p95": sorted(samples)[int(len(samples) * 0.95)],
            "messages": len(samples),
        }
    return out


def measure_aws(messages: int = 20) -> dict[str, Any]:
    """AWS requests per message through build_dispatch against the emulator."""
    import os

    from emma.config import DispatchSettings, IngestSettings
    from emma.events.model import parse_event
    from emma.resources import DEFINITIONS_ENV, PUBLIC_API_URL_ENV
    from emma.wiring.dispatch import build_dispatch
    from emma.wiring.ingest import build_intake
    from emma_local.config import ROOT, load_config
    from emma_local.emulator import start_emulator
    from emma_local.provision import provision

    emulator = start_emulator()
    saved = dict(os.environ)
    try:
        os.environ.update(emulator.env())
        session = emulator.session()
        resources = provision(session, load_config().shops)
        os.environ.update(resources.env())
        os.environ[PUBLIC_API_URL_ENV] = "https://api.example"
        os.environ[DEFINITIONS_ENV] = str(ROOT)
        ingest = build_intake(IngestSettings(), session)  # type: ignore[call-arg]
        now = ingest.service._clock.now()
        proof = {"source": "bench", "at": (now - timedelta(days=1)).isoformat(), "double_opt_in": True}
        base = {
            "shop": "elektro-emma",
            "occurred_at": proof["at"],
            "received_at": proof["at"],
            "source": {"kind": "tracker", "name": "bench"},
            "customer": {"customer_id": "b-1", "email": "b1@example.com"},
        }
        ingest.service.ingest(
            [
                parse_event(
                    {
                        **base,
                        "id": "b-reg",
                        "type": "customer.registered",
                        "properties": {"first_name": "Bea", "timezone": "UTC", "locale": "de"},
                    }
                ),
                parse_event(
                    {
                        **base,
                        "id": "b-consent",
                        "type": "consent.changed",
                        "properties": {"channel": "email", "granted": True, "proof": proof},
                    }
                ),
            ]
        )
        pid = ingest.service.resolve("elektro-emma", "cid:b-1").profile_id
        calls: Counter[str] = Counter()

        def count(event_name: str, **_: Any) -> None:
            _, service, operation = event_name.split(".")[:3]
            calls[f"{service}:{operation}"] += 1

        session.events.register("before-call", count)
        dispatch = build_dispatch(DispatchSettings(), session)  # type: ignore[call-arg]
        dispatch.service.dispatch(_request(-1, pid, "warranty-extension", now))  # warm: shop secrets read once
        calls.clear()
        for n in range(messages):
            report = dispatch.service.dispatch(_request(n, pid, "warranty-extension", now))
            if report.outcome != "sent":
                raise RuntimeError(f"bench message not sent: {report.outcome} {report.reason}")
        duplicate = Counter(calls)
        dispatch.service.dispatch(_request(0, pid, "warranty-extension", now))  # a re-delivery
        duplicate = calls - duplicate
        return {
            "messages": messages,
            "requests_per_message": (sum(calls.values()) - sum(duplicate.values())) / messages,
            "by_operation_per_message": {
                k: (v - duplicate.get(k, 0)) / messages for k, v in sorted(calls.items()) if v - duplicate.get(k, 0)
            },
            "duplicate_delivery_requests": dict(sorted(duplicate.items())),
        }
    finally:
        os.environ.clear()
        os.environ.update(saved)
        emulator.stop()


def measure() -> dict[str, Any]:
    return {"cpu": measure_cpu(), "aws": measure_aws()}


def report(r: dict[str, Any]) -> str:
    lines = ["\n8. Dispatch: per message (decisions, rendering, MIME; transactional so no cap ends the run)"]
    for name, c in r["cpu"].items():
        lines.append(
            f"  {name:<36} CPU {c['cpu_us_median'] / 1000:6.2f} ms median, {c['cpu_us_p95'] / 1000:6.2f} ms p95"
        )
    aws = r["aws"]
    lines.append(f"  AWS requests per email sent: {aws['requests_per_message']:.1f}")
    for op, n in aws["by_operation_per_message"].items():
        lines.append(f"    {op:<40}{n:5.1f}")
    lines.append(
        f"  a duplicate delivery of a sent request: {sum(aws['duplicate_delivery_requests'].values())} requests "
        f"({', '.join(f'{k} {v}' for k, v in aws['duplicate_delivery_requests'].items())})"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(measure()))
