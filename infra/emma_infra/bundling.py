"""Build the Lambda layers' contents without Docker.

* core layer: a copy of layers/core/emma as <dir>/python/emma (no __pycache__);
* dependency layer: `pip install --platform ... --only-binary=:all: --target <dir>/python -r
  requirements/lambda.lock`, i.e. the arm64 manylinux wheels pip would pick on Lambda itself;
* definitions layer: the validated trigger, segment and journey definitions as
  <dir>/definitions/definitions.json (the rules and journeys functions read JSON, never YAML).

All land under .cache/layers/ in a directory named after a digest of their inputs, so repeated
synths (and offline synths after the first) reuse them. Each is built in a temporary sibling and
renamed into place, so a build that is killed half way never leaves a half-filled cache entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from emma_infra.paths import CORE_PACKAGE_DIR, LAMBDA_LOCK_FILE, LAYER_CACHE_DIR
from emma_infra.runtime import PIP_PLATFORMS, PYTHON_VERSION

_IGNORED = ("__pycache__", "*.pyc", "*.pyo")
# Modules of the core package that only the CDK app and the local runtime run (at synth or provisioning
# time), never a Lambda function: left out of the layer (tests/infra/test_layer_contents.py checks that
# the layer holds exactly what the functions import).
BUILD_TIME_ONLY = (
    "journeys/compile.py",  # the journeys' compiler to Step Functions ASL
    "asl.py",  # what the import and campaign state machines' ASL share
    "imports/machine.py",  # the import state machine's ASL (the CDK app's `Imports`, the local runtime)
    "campaigns/machine.py",  # the campaign state machine's ASL (the CDK app's `Campaigns`, the local runtime)
    "campaigns/loader.py",  # campaigns/*.yaml read and checked at synth (the layer reads definitions.json)
)
_STALE_SECONDS = 3600


class LayerBuildError(RuntimeError):
    """The dependency layer could not be built (typically: no network on the very first synth)."""


def tree_digest(root: Path) -> str:
    """sha256 over the relative paths and contents of the files under ``root`` (bytecode ignored)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts or path.suffix in {".pyc", ".pyo"}:
            continue
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _sweep(cache_dir: Path, pattern: str, keep: Path | None = None) -> None:
    """Remove directories matching ``pattern`` older than an hour (younger ones may belong to a synth
    running right now), except ``keep``."""
    now = time.time()
    for old in cache_dir.glob(pattern):
        with contextlib.suppress(OSError):
            if old != keep and old.is_dir() and now - old.stat().st_mtime > _STALE_SECONDS:
                shutil.rmtree(old, ignore_errors=True)


def _publish(staging: Path, target: Path) -> Path:
    """Atomically move a finished ``staging`` directory to ``target`` (first writer wins)."""
    try:
        os.rename(staging, target)
    except OSError:
        if not target.is_dir():  # not a lost race but a real failure
            shutil.rmtree(staging, ignore_errors=True)
            raise
        shutil.rmtree(staging, ignore_errors=True)  # a concurrent synth published the same content
    return target


def _layer_ignore(source: Path) -> Any:
    skip = {(source / relative).resolve() for relative in BUILD_TIME_ONLY}
    by_pattern = shutil.ignore_patterns(*_IGNORED)

    def ignore(directory: str, names: list[str]) -> set[str]:
        return set(by_pattern(directory, names)) | {n for n in names if (Path(directory) / n).resolve() in skip}

    return ignore


def stage_core_layer(source: Path = CORE_PACKAGE_DIR, cache_dir: Path = LAYER_CACHE_DIR) -> tuple[Path, str]:
    """The core layer directory (containing python/emma, without BUILD_TIME_ONLY) and its content digest."""
    digest = hashlib.sha256(f"{tree_digest(source)} without {sorted(BUILD_TIME_ONLY)}".encode()).hexdigest()
    target = cache_dir / f"core-{digest[:24]}"
    if not target.is_dir():
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".core-", dir=cache_dir))
        shutil.copytree(source, staging / "python" / source.name, ignore=_layer_ignore(source))
        _publish(staging, target)
        _sweep(cache_dir, "core-*", keep=target)  # earlier versions of the core package
        _sweep(cache_dir, ".core-*")  # temporary directories of killed builds
    return target, digest


DEFINITIONS_FILE = Path("definitions") / "definitions.json"  # inside the layer: /opt/definitions/definitions.json


def stage_definitions_layer(definitions_json: str, cache_dir: Path = LAYER_CACHE_DIR) -> tuple[Path, str]:
    """The definitions layer directory (containing definitions/definitions.json) and its digest."""
    digest = hashlib.sha256(definitions_json.encode()).hexdigest()
    target = cache_dir / f"definitions-{digest[:24]}"
    if not target.is_dir():
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".definitions-", dir=cache_dir))
        (staging / DEFINITIONS_FILE).parent.mkdir(parents=True)
        (staging / DEFINITIONS_FILE).write_text(definitions_json, encoding="utf-8")
        _publish(staging, target)
        _sweep(cache_dir, "definitions-*", keep=target)  # earlier versions of the definitions
        _sweep(cache_dir, ".definitions-*")  # temporary directories of killed builds
    return target, digest


def dependency_layer_key(lock_file: Path = LAMBDA_LOCK_FILE) -> str:
    """Cache key of the dependency layer: the lock file's sha256 plus the wheel target."""
    lock_sha = hashlib.sha256(lock_file.read_bytes()).hexdigest()
    return f"{lock_sha}-cp{PYTHON_VERSION.replace('.', '')}-aarch64"


def pip_install_command(lock_file: Path, target: Path) -> list[str]:
    platforms = [arg for platform in PIP_PLATFORMS for arg in ("--platform", platform)]
    return [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-input",
        "--no-compile",  # .pyc for the build machine's Python would be dead weight on Lambda
        *platforms,
        "--only-binary=:all:",
        "--python-version", PYTHON_VERSION,
        "--implementation", "cp",
        "--target", str(target),
        "-r", str(lock_file),
    ]  # fmt: skip


def build_dependency_layer(lock_file: Path = LAMBDA_LOCK_FILE, cache_dir: Path = LAYER_CACHE_DIR) -> tuple[Path, str]:
    """The dependency layer directory (containing python/<packages>) and its cache key."""
    key = dependency_layer_key(lock_file)
    target = cache_dir / f"deps-{key}"
    if target.is_dir():
        return target, key
    cache_dir.mkdir(parents=True, exist_ok=True)
    _sweep(cache_dir, ".deps-*")  # temporary directories of killed builds
    staging = Path(tempfile.mkdtemp(prefix=".deps-", dir=cache_dir))
    print(f"emma: building the dependency layer from {lock_file.name} (once per lock file)", file=sys.stderr)
    command = pip_install_command(lock_file, staging / "python")
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise LayerBuildError(
            f"pip could not build the Lambda dependency layer (exit {result.returncode}).\n"
            f"command: {' '.join(command)}\n{result.stdout}{result.stderr}"
        )
    shutil.rmtree(staging / "python" / "bin", ignore_errors=True)  # console scripts: useless on Lambda
    return _publish(staging, target), key
