"""Reading the content library (content/*.yaml, emma.content.model) with every problem as FILE:LINE: the shape,
the file's name against the block's id, an id defined twice. Build-time code (YAML): the Lambda functions get the
library inside the templates of the definitions file (emma.templates.library.TemplateSet.content)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from emma.content.model import ContentBlock
from emma.rules.loader import DefinitionError, line_of_location, read_yaml_with_lines

CONTENT_DIR = "content"


def load_content(root: Path) -> dict[str, ContentBlock]:
    """Every block under ``root``/content (none if the folder does not exist); DefinitionError lists each problem."""
    problems: list[str] = []
    blocks: dict[str, ContentBlock] = {}
    where: dict[str, Path] = {}
    for path in sorted((root / CONTENT_DIR).glob("*.yaml")):
        try:
            data, lines = read_yaml_with_lines(path.read_text(encoding="utf-8"), path)
        except DefinitionError as exc:
            problems += exc.problems
            continue
        if not isinstance(data, dict):
            problems.append(f"{path}:1: expected a mapping (id, kind, topics, ...), got {type(data).__name__}")
            continue
        try:
            block = ContentBlock.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                got = f" (got {err['input']!r})" if isinstance(err.get("input"), str | int | float) else ""
                line = line_of_location(data, lines, loc)
                problems.append(f"{path}:{line}: {'.'.join(map(str, loc)) or 'block'}: {err['msg']}{got}")
            continue
        if path.stem != block.id:
            problems.append(f"{path}:{lines.get(('id',), 1)}: the file is named {path.stem!r} but defines {block.id!r}")
        if block.id in blocks:
            problems.append(f"{path}:{lines.get(('id',), 1)}: block {block.id!r} is defined in {where[block.id]} too")
        blocks[block.id] = block
        where[block.id] = path
    if problems:
        raise DefinitionError(problems)
    return blocks
