"""The core layer holds what the Lambda functions run, nothing else.

The layer the CDK app builds (``emma_infra.bundling.stage_core_layer``) is compared with the modules
reachable by imports from the handlers in functions/*/: every ``import`` and ``from ... import`` in a
module counts, wherever it stands (module level, inside functions, under ``TYPE_CHECKING``), as do
the packages above each module reached (their ``__init__`` runs first). Lab code, fakes and dev tools
live in emma_local (local/), which is never shipped.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from emma_infra import bundling
from emma_infra.paths import CORE_PACKAGE_DIR, FUNCTIONS_DIR

pytestmark = pytest.mark.infra

# In the layer although no function imports them, and why.
# Build-time modules stay out (bundling.BUILD_TIME_ONLY); these ship although no function imports them yet:
NOT_IMPORTED_BY_FUNCTIONS: dict[str, str] = {}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def find_module(name: str, roots: list[Path]) -> Path | None:
    """The file that ``import name`` would load from ``roots`` (a package's ``__init__.py``), or None
    (not ours: the standard library, boto3, pydantic, ...). A namespace package is its directory."""
    for root in roots:
        base = root.joinpath(*name.split("."))
        if (base / "__init__.py").is_file():
            return base / "__init__.py"
        if base.with_suffix(".py").is_file():
            return base.with_suffix(".py")
        if base.is_dir():
            return base
    return None


def imported_names(path: Path, module: str) -> set[str]:
    """Every module name an import statement of ``path`` may load: ``from a import b`` yields ``a``
    and ``a.b`` (b may be a submodule); relative imports are resolved against ``module``'s package."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def reachable_files(functions_dir: Path, layer_python: Path) -> set[Path]:
    """The module files imported, directly or not, by the handler of any function folder."""
    roots = [functions_dir, layer_python]
    todo = [f"{d.name}.handler" for d in sorted(functions_dir.iterdir()) if (d / "handler.py").is_file()]
    assert todo, f"no handlers under {functions_dir}"
    seen: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        if not name or name in seen:
            continue
        path = find_module(name, roots)
        if path is None:
            continue
        seen[name] = path
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # the packages above it
        if path.is_file():
            todo.extend(imported_names(path, name))
    return {p for p in seen.values() if p.is_file()}


def unimported_modules(functions_dir: Path, layer_python: Path) -> list[str]:
    """Modules of the layer's emma package that no function imports."""
    reached = reachable_files(functions_dir, layer_python)
    modules = sorted((layer_python / "emma").rglob("*.py"))
    assert modules, f"no modules under {layer_python / 'emma'}"
    return [module_name(p, layer_python) for p in modules if p not in reached]


def test_the_core_layer_holds_only_modules_the_functions_import(tmp_path):
    layer, _ = bundling.stage_core_layer(CORE_PACKAGE_DIR, tmp_path / "layers")
    unimported = unimported_modules(FUNCTIONS_DIR, layer / "python")
    unexpected = [m for m in unimported if m not in NOT_IMPORTED_BY_FUNCTIONS]
    assert not unexpected, (
        f"the Lambda layer ships modules no function imports: {unexpected}; move lab, fake and dev-only code to"
        " local/emma_local (emma_local.lab, emma_local.fakes), or list a module needed at runtime in"
        " NOT_IMPORTED_BY_FUNCTIONS with the reason"
    )
    stale = sorted(set(NOT_IMPORTED_BY_FUNCTIONS) - set(unimported))
    assert not stale, f"listed in NOT_IMPORTED_BY_FUNCTIONS but imported by a function or gone: {stale}"


def test_a_lab_module_put_back_into_the_layer_is_found(tmp_path):
    package = tmp_path / "src" / "emma"
    shutil.copytree(CORE_PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__"))
    lab = Path(__file__).resolve().parents[2] / "local" / "emma_local" / "lab" / "recommend" / "world.py"
    shutil.copy(lab, package / "recommend" / "evaluate.py")
    layer, _ = bundling.stage_core_layer(package, tmp_path / "layers")
    assert "emma.recommend.evaluate" in unimported_modules(FUNCTIONS_DIR, layer / "python")


def test_imports_are_followed_into_functions_packages_and_relative_imports(tmp_path):
    functions, layer = tmp_path / "functions", tmp_path / "layer"
    files = {
        functions / "api" / "__init__.py": "",
        functions / "api" / "handler.py": "from . import routes\n\ndef lambda_handler(event, context):\n"
        "    from api.lazy import run\n    return run()\n",
        functions / "api" / "routes.py": "import boto3\nfrom emma.a import b\n",
        functions / "api" / "lazy.py": "from emma.c.d import thing\n",
        functions / "plain" / "handler.py": "import emma.e as e\n",
        functions / "other" / "README.md": "no handler, not a function\n",
        layer / "emma" / "__init__.py": "",
        layer / "emma" / "a" / "__init__.py": "from .f import x\n",
        layer / "emma" / "a" / "b.py": "",
        layer / "emma" / "a" / "f.py": "",
        layer / "emma" / "c" / "__init__.py": "",
        layer / "emma" / "c" / "d.py": "from ..g import h\n",
        layer / "emma" / "e.py": "",
        layer / "emma" / "g.py": "",
        layer / "emma" / "unused.py": "import emma.e\n",
        layer / "emma" / "h" / "__init__.py": "",
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert unimported_modules(functions, layer) == ["emma.h", "emma.unused"]
