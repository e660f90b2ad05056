"""JSON files, streamed: a JSON array of objects (read element by element, however long the file or
its lines), or JSON Lines (one object per line). Numbers become Decimal (amounts stay exact); keys
are compared as ``column_name`` writes them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from emma.imports.formats.base import Entry, cleaned, column_name
from emma.imports.formats.textio import Source, TextChunks, TextProblem
from emma.imports.model import LineError

MAX_ELEMENT_CHARS = 16 * 1024 * 1024  # one record; beyond it the array is not an export Emma reads
_DROP_AFTER = 256 * 1024  # text already read is dropped once this long
_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder(parse_float=Decimal)


def kind_hint(head: str) -> str | None:
    """``[`` for a JSON array, ``{`` for JSON Lines, None for anything else (CSV)."""
    stripped = head.lstrip("\ufeff \t\r\n")
    return stripped[:1] if stripped[:1] in ("[", "{") else None


def keys_in(head: str) -> frozenset[str]:
    """The keys the first bytes of a JSON file name (enough to tell orders from customers)."""
    return frozenset(column_name(key) for key in re.findall(r'"([^"\\]{1,64})"\s*:', head))


def _entry(file: str, line: int, value: Any) -> Entry | LineError:
    if not isinstance(value, dict):
        return LineError(file=file, line=line, message=f"expected a JSON object, got {_json_type(value)}")
    return Entry(line=line, values=cleaned(value))


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a text"
    if value is None:
        return "null"
    return "a boolean" if isinstance(value, bool) else "a number"


def json_lines(file: str, source: Source) -> Iterator[Entry | LineError]:
    """One object per line; blank lines are skipped, a line that is not a JSON object is a LineError."""
    number = 0
    lines = source.lines()
    while True:
        try:
            line = next(lines)
        except StopIteration:
            return
        except TextProblem as exc:
            yield LineError(file=file, line=exc.line, message=exc.message)
            return
        number += 1
        if not line.strip():
            continue
        try:
            value = _DECODER.decode(line)
        except json.JSONDecodeError as exc:
            yield LineError(file=file, line=number, message=f"not valid JSON: {exc.msg} (character {exc.colno})")
            continue
        yield _entry(file, number, value)


class _ArrayReader:
    """A JSON array read element by element from text chunks, counting lines as it goes."""

    def __init__(self, file: str, source: Source) -> None:
        self.file = file
        self.chunks = TextChunks(source)
        self.pos = 0
        self.line = 1
        self._counted = 0  # text before this index is counted in ``line``

    def line_at(self, index: int) -> int:
        self.line += self.chunks.text.count("\n", self._counted, index)
        self._counted = index
        return self.line

    def skip_space(self) -> str | None:
        """The next character that is not white space (reading on as needed), or None at the end."""
        while True:
            self.pos = _SPACE.match(self.chunks.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.chunks.text):
                return self.chunks.text[self.pos]
            if not self.chunks.more():
                return None

    def compact(self) -> None:
        if self.pos > _DROP_AFTER:
            self.line_at(self.pos)
            self.chunks.drop(self.pos)
            self._counted -= self.pos
            self.pos = 0

    def error(self, index: int, message: str) -> LineError:
        if self.chunks.problem is not None:
            return LineError(file=self.file, line=self.chunks.problem.line, message=self.chunks.problem.message)
        return LineError(file=self.file, line=self.line_at(index), message=message)

    def element(self) -> tuple[Any, int] | LineError:
        """The value starting at ``pos``: decoded, reading more text while it is incomplete."""
        start = self.pos
        while True:
            text = self.chunks.text
            try:
                value, end = _DECODER.raw_decode(text, start)
                return value, end
            except json.JSONDecodeError as exc:
                incomplete = exc.pos >= len(text) - 10 or exc.msg.startswith("Unterminated string")
                if incomplete and len(text) - start < MAX_ELEMENT_CHARS and self.chunks.more():
                    continue
                return self.error(min(exc.pos, len(text)), f"not valid JSON: {exc.msg}")

    def items(self) -> Iterator[Entry | LineError]:
        first = self.skip_space()
        if first != "[":
            yield self.error(self.pos, "a JSON file must be an array of objects ([{...}, {...}]) or JSON Lines")
            return
        self.pos += 1
        count = 0
        while True:
            char = self.skip_space()
            if char is None:
                yield self.error(self.pos, "the file ends inside the array (a ] is missing)")
                return
            if char == "]":
                break
            if count:
                if char != ",":
                    yield self.error(self.pos, f"expected , or ] between the array's objects, found {char!r}")
                    return
                self.pos += 1
                if self.skip_space() is None:
                    yield self.error(self.pos, "the file ends inside the array (a ] is missing)")
                    return
            line = self.line_at(self.pos)
            found = self.element()
            if isinstance(found, LineError):
                yield found
                return
            value, self.pos = found
            count += 1
            yield _entry(self.file, line, value)
            self.compact()
        self.pos += 1
        if self.skip_space() is not None:
            yield self.error(self.pos, "text after the end of the array")
        elif self.chunks.problem is not None:
            yield self.error(self.pos, "")


def json_array(file: str, source: Source) -> Iterator[Entry | LineError]:
    """The objects of a top-level JSON array, each with the line it starts on."""
    return _ArrayReader(file, source).items()
