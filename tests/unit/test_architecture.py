"""The rule of the house, checked on the source: handlers -> wiring -> domain -> ports <- adapters.

* no domain module imports an adapter (emma.adapters), the composition root (emma.wiring) or the
  handlers' shared plumbing (emma.edge);
* adapters import neither the composition root nor the edge;
* no import cycle between modules of layers/core/emma (imports inside functions count too: a cycle
  hidden in a function is still a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "layers" / "core"
OUTER = ("emma.adapters", "emma.wiring", "emma.edge")


def module_name(path: Path, root: Path = CORE) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path = CORE) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts}


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The emma modules ``path`` imports (anywhere in the file), resolved to module names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if candidate in known:
                    found.add(candidate)
                elif node.module in known:
                    found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
    return found


def graph(root: Path = CORE) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imports(path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a module importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def outward(edges: dict[str, set[str]]) -> list[str]:
    """Imports that run the wrong way: from a domain module into adapters, wiring or the edge, from
    adapters into wiring or the edge."""
    wrong = []
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            if source.startswith(("emma.wiring", "emma.edge")):
                continue
            if source.startswith("emma.adapters"):
                if target.startswith(("emma.wiring", "emma.edge")):
                    wrong.append(f"{source} -> {target}")
            elif target.startswith(OUTER):
                wrong.append(f"{source} -> {target}")
    return wrong


def test_domain_imports_no_adapter_and_no_wiring():
    assert outward(graph()) == []


def test_no_import_cycles_in_the_core():
    assert cycles(graph()) == []


@pytest.fixture
def tree(tmp_path):
    def write(files: dict[str, str]) -> Path:
        for name, text in files.items():
            path = tmp_path / Path(*name.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return tmp_path

    return write


def test_the_checks_find_a_domain_importing_an_adapter_and_a_hidden_cycle(tree):
    root = tree(
        {
            "emma/__init__.py": "",
            "emma/adapters/__init__.py": "",
            "emma/adapters/store.py": "from emma.events.model import Event\n",
            "emma/wiring/__init__.py": "",
            "emma/wiring/ingest.py": "from emma.adapters.store import X\n",
            "emma/profiles/__init__.py": "",
            "emma/profiles/model.py": "def f():\n    from emma.profiles import apply\n",
            "emma/profiles/apply.py": "from emma.profiles.model import f\nfrom emma.adapters import store\n",
            "emma/rules/evaluate.py": "import emma.wiring.ingest\n",
        }
    )
    edges = graph(root)
    assert outward(edges) == [
        "emma.profiles.apply -> emma.adapters.store",
        "emma.rules.evaluate -> emma.wiring.ingest",
    ]
    assert cycles(edges) == [["emma.profiles.apply", "emma.profiles.model"]]
