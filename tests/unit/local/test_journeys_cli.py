"""`emma journeys validate`: every journey valid, and the pairs that can message a customer at once with no rule
between them named; --strict fails on them. The shipped journeys pass --strict."""

from __future__ import annotations

import shutil
from pathlib import Path

from emma_local.cli import main

ROOT = Path(__file__).resolve().parents[3]


def copy_definitions(tmp_path: Path) -> Path:
    for folder in ("triggers", "segments", "journeys"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def test_the_shipped_journeys_pass_strict(capsys):
    assert main(["journeys", "validate", "--strict"]) == 0
    out = capsys.readouterr().out
    assert "winback: 5 steps, entry segment lapsed: valid" in out and "no collisions" in out


def test_collisions_are_reported_and_strict_fails_on_them(tmp_path, capsys):
    root = copy_definitions(tmp_path)
    winback = root / "journeys" / "winback.yaml"
    text = winback.read_text(encoding="utf-8")
    start, end = text.index("group: marketing"), text.index("steps:")
    winback.write_text(text[:start] + text[end:], encoding="utf-8")  # no group, no exclusions
    assert main(["journeys", "validate", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert (
        "collision: smartphone-onboarding + winback: can message the same customer at once "
        "(no group, exclusion or allowance)"
    ) in out
    assert "collision: abandoned-cart + winback" in out  # no longer in the marketing group either
    assert "--strict fails on this" in out
    assert main(["journeys", "validate", "--root", str(root), "--strict"]) == 1


def test_an_unknown_group_stops_the_command_with_file_and_line(tmp_path, capsys):
    root = copy_definitions(tmp_path)
    cart = root / "journeys" / "abandoned-cart.yaml"
    cart.write_text(cart.read_text(encoding="utf-8").replace("group: marketing", "group: promos"), encoding="utf-8")
    assert main(["journeys", "validate", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    line = next(n for n, text in enumerate(cart.read_text().splitlines(), 1) if text.startswith("group: promos"))
    assert f"{cart}:{line}: unknown group 'promos'" in err
