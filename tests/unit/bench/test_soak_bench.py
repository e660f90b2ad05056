"""The soak's load and its verdict (the run itself is `make bench`, section 10)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from bench import soak
from emma.sources import segment


def test_each_soak_customer_is_ten_valid_calls_that_map_to_emmas_own_types():
    calls = soak.customer_calls("t", 7)
    assert len(calls) == 10 and len({c["messageId"] for c in calls}) == 10
    events = [e for c in calls for e in segment.map_call("elektro-emma", c["type"], c, datetime.now(UTC))]
    types = Counter(str(e.type) for e in events)
    assert "custom" not in types, types  # every call exercises a mapped type, not the fallback
    assert types["order.placed"] == 1 and types["customer.identified"] == 1 and types["product.viewed"] == 2


def _point(customers: int, rss: float, p50: float, single: float) -> soak.Checkpoint:
    return soak.Checkpoint(customers, customers * 10, rss, p50, p50 * 1.3, p50 * 2, single, customers * 27, 1.0)


def test_the_verdict_calls_linear_memory_and_steady_latency_flat():
    points = [_point(n, 400 + 0.064 * n, 300 + (n % 3), 70) for n in range(10_000, 100_001, 10_000)]
    verdict = soak.verdict(soak.SoakResult(100_000, 10, 10, points))
    assert verdict["memory_flat"] and verdict["latency_flat"]
    assert all(60 < kb < 70 for kb in verdict["rss_kb_per_customer"])


def test_the_verdict_catches_memory_that_grows_faster_and_writes_that_slow_down():
    growing = [_point(n, 400 + 0.000002 * n * n, 300, 70) for n in range(10_000, 100_001, 10_000)]
    assert not soak.verdict(soak.SoakResult(100_000, 10, 10, growing))["memory_flat"]
    slowing = [_point(n, 400 + 0.064 * n, 300 + n / 100, 70 + n / 1000) for n in range(10_000, 100_001, 10_000)]
    assert not soak.verdict(soak.SoakResult(100_000, 10, 10, slowing))["latency_flat"]


def test_the_plot_and_the_report_show_every_checkpoint(tmp_path):
    points = [_point(n, 400 + 0.064 * n, 300, 70) for n in range(1000, 5001, 1000)]
    result = soak.SoakResult(5000, 10, 10, points)
    path = tmp_path / "soak.svg"
    soak.svg(result, path)
    assert path.read_text().startswith("<svg") and path.read_text().count("<polyline") == 4
    text = soak.report({**result.as_dict(), "verdict": soak.verdict(result), "run_s": 12.0})
    assert text.count("\n") >= 8 and "memory flat" in text and "latency flat" in text
