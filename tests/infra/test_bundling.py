"""Layer bundling without Docker: cache keys, atomic publication, the pip command (no synth)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from emma_infra import bundling
from emma_infra.runtime import PYTHON_VERSION

pytestmark = pytest.mark.infra


def make_package(root: Path) -> Path:
    pkg = root / "src" / "emma"
    (pkg / "sub" / "__pycache__").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "mod.py").write_text("X = 1\n")
    (pkg / "sub" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"junk")
    return pkg


def test_core_layer_is_the_package_under_python_without_bytecode(tmp_path):
    pkg = make_package(tmp_path)
    layer, digest = bundling.stage_core_layer(pkg, tmp_path / "cache")
    assert (layer / "python" / "emma" / "sub" / "mod.py").read_text() == "X = 1\n"
    assert not list(layer.rglob("__pycache__"))
    assert layer.name == f"core-{digest[:24]}"
    assert bundling.stage_core_layer(pkg, tmp_path / "cache") == (layer, digest)  # cached


def test_staging_a_new_core_version_sweeps_versions_and_leftovers_older_than_an_hour(tmp_path):
    cache = tmp_path / "cache"
    old_version, old_leftover, young_version = cache / "core-old", cache / ".core-killed", cache / "core-young"
    for directory in (old_version, old_leftover, young_version):
        directory.mkdir(parents=True)
    two_hours_ago = time.time() - 7200
    os.utime(old_version, (two_hours_ago, two_hours_ago))
    os.utime(old_leftover, (two_hours_ago, two_hours_ago))
    layer, _ = bundling.stage_core_layer(make_package(tmp_path), cache)
    assert sorted(p.name for p in cache.iterdir()) == sorted([layer.name, "core-young"])


def test_core_digest_follows_sources_not_bytecode(tmp_path):
    pkg = make_package(tmp_path)
    before = bundling.tree_digest(pkg)
    (pkg / "sub" / "__pycache__" / "other.pyc").write_bytes(b"more junk")
    assert bundling.tree_digest(pkg) == before
    (pkg / "sub" / "mod.py").write_text("X = 2\n")
    assert bundling.tree_digest(pkg) != before


def test_pip_command_targets_lambda_arm64_wheels_only(tmp_path):
    command = bundling.pip_install_command(Path("lambda.lock"), tmp_path / "python")
    assert command[1:4] == ["-m", "pip", "install"]
    joined = " ".join(command)
    assert "--platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64" in joined
    assert "--only-binary=:all:" in command and "--no-compile" in command
    assert f"--python-version {PYTHON_VERSION}" in joined and "--implementation cp" in joined
    assert command[-4:] == ["--target", str(tmp_path / "python"), "-r", "lambda.lock"]


def test_dependency_layer_cache_key_follows_lock_and_python(tmp_path):
    lock = tmp_path / "lambda.lock"
    lock.write_text("six==1.17.0\n")
    key = bundling.dependency_layer_key(lock)
    assert key.endswith(f"-cp{PYTHON_VERSION.replace('.', '')}-aarch64")
    lock.write_text("six==1.16.0\n")
    assert bundling.dependency_layer_key(lock) != key


def test_dependency_layer_is_built_once_then_served_from_the_cache(tmp_path, monkeypatch):
    lock = tmp_path / "lambda.lock"
    lock.write_text("six==1.17.0\n")
    calls = []

    def fake_pip(command, **_):
        calls.append(command)
        target = Path(command[command.index("--target") + 1])
        (target / "six").mkdir(parents=True)
        (target / "bin").mkdir()
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(bundling.subprocess, "run", fake_pip)
    layer, key = bundling.build_dependency_layer(lock, tmp_path / "cache")
    assert layer == tmp_path / "cache" / f"deps-{key}"
    assert (layer / "python" / "six").is_dir() and not (layer / "python" / "bin").exists()
    assert bundling.build_dependency_layer(lock, tmp_path / "cache") == (layer, key)
    assert len(calls) == 1
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [layer.name]  # no staging left over


def test_a_failed_build_leaves_no_cache_entry(tmp_path, monkeypatch):
    lock = tmp_path / "lambda.lock"
    lock.write_text("six==1.17.0\n")

    def failing_pip(command, **_):
        target = Path(command[command.index("--target") + 1])
        (target / "half").mkdir(parents=True)  # pip got half way
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(bundling.subprocess, "run", failing_pip)
    with pytest.raises(bundling.LayerBuildError, match="No matching distribution"):
        bundling.build_dependency_layer(lock, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_publish_lets_the_first_of_two_concurrent_builds_win(tmp_path):
    target = tmp_path / "deps-x"
    first, second = tmp_path / ".deps-1", tmp_path / ".deps-2"
    for staging, marker in ((first, "first"), (second, "second")):
        staging.mkdir()
        (staging / marker).write_text("")
    assert bundling._publish(first, target) == target
    assert bundling._publish(second, target) == target
    assert [p.name for p in target.iterdir()] == ["first"]
    assert not second.exists()


def test_definitions_layer_is_the_json_at_definitions_slash_definitions_json(tmp_path):
    layer, digest = bundling.stage_definitions_layer('{"segments": [], "triggers": []}', tmp_path / "cache")
    assert [p.relative_to(layer).as_posix() for p in layer.rglob("*") if p.is_file()] == [
        "definitions/definitions.json"
    ]
    assert (layer / bundling.DEFINITIONS_FILE).read_text() == '{"segments": [], "triggers": []}'
    assert layer.name == f"definitions-{digest[:24]}"
    assert bundling.stage_definitions_layer('{"segments": [], "triggers": []}', tmp_path / "cache") == (layer, digest)
    other, other_digest = bundling.stage_definitions_layer('{"segments": [], "triggers": [1]}', tmp_path / "cache")
    assert other_digest != digest and other != layer


def test_build_time_modules_stay_out_of_the_core_layer(tmp_path):
    """The journeys' compiler and the import machine's ASL run at synth and provisioning time only (the CDK app,
    the local runtime)."""
    pkg = make_package(tmp_path)
    (pkg / "journeys").mkdir()
    (pkg / "journeys" / "compile.py").write_text("ASL = 1\n")
    (pkg / "journeys" / "steps.py").write_text("STEP = 1\n")
    layer, _ = bundling.stage_core_layer(pkg, tmp_path / "cache")
    assert (layer / "python" / "emma" / "journeys" / "steps.py").is_file()
    assert not (layer / "python" / "emma" / "journeys" / "compile.py").exists()
    assert bundling.BUILD_TIME_ONLY == (
        "journeys/compile.py",
        "asl.py",
        "imports/machine.py",
        "campaigns/machine.py",
        "campaigns/loader.py",
    )
