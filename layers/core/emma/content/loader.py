"""Reading the content library (content/*.yaml, emma.content.model) with every problem as FILE:LINE: the shape,
the file's name against the block's id, an id defined twice. Build-time code (YAML): the Lambda functions get the
library inside the templates of the definitions file (emma.templates.library.TemplateSet.content)."""

from __future__ import annotations

from pathlib import Path

from emma.content.model import ContentBlock
from emma.rules.loader import DefinitionError, load_document

CONTENT_DIR = "content"


def load_content(root: Path) -> dict[str, ContentBlock]:
    """Every block under ``root``/content (none if the folder does not exist); DefinitionError lists each problem."""
    problems: list[str] = []
    blocks: dict[str, ContentBlock] = {}
    where: dict[str, Path] = {}
    for path in sorted((root / CONTENT_DIR).glob("*.yaml")):
        block, errors, _, lines = load_document(path, ContentBlock, expected="id, kind, topics, ...", fallback="block")
        problems += errors
        if block is None:
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
