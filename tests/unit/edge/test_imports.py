"""emma.edge is the handlers' plumbing (Powertools): no module of the core layer outside it imports it."""

from __future__ import annotations

from tests.unit.test_architecture import graph


def test_only_handlers_import_the_edge():
    edges = graph()
    assert "emma.edge.sqs" in edges
    wrong = sorted(
        f"{source} -> {target}"
        for source, targets in edges.items()
        if not source.startswith("emma.edge")
        for target in targets
        if target.startswith("emma.edge")
    )
    assert wrong == []
