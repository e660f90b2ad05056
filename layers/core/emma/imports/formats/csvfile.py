"""CSV as shops and spreadsheets write it: a header row, ``,`` or ``;`` between values (German Excel
saves with ``;``), values in double quotes when they hold the separator, a quote or a line break.
Each row keeps the physical line it starts on, so a Note with line breaks does not shift the lines
of the rows after it."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from emma.imports.formats.base import Entry, column_name
from emma.imports.formats.textio import TextProblem
from emma.imports.model import LineError

csv.field_size_limit(8 * 1024 * 1024)  # one value (a long Note); a row stays far below the line limit


def first_line(head: str) -> str:
    return head.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")


def delimiter_of(header: str) -> str:
    """``;`` when the header row has more semicolons than commas outside quotes, else ``,``."""
    counts = {",": 0, ";": 0}
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    return ";" if counts[";"] > counts[","] else ","


def header_of(head: str, delimiter: str) -> list[str]:
    line = first_line(head)
    if not line.strip():
        return []
    return [column_name(name) for name in next(csv.reader([line], delimiter=delimiter))]


class _Counted:
    """The lines given to the csv reader, counted: a row starts on the line after the last one read."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.count = 0

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.count += 1
        return line


def rows(file: str, lines: Iterator[str], delimiter: str) -> Iterator[Entry | LineError]:
    """The rows after the header as entries keyed by column name, values trimmed, empty ones left out
    (the first of two columns with the same name wins; values beyond the header are ignored). Blank
    lines are skipped; a row CSV cannot parse is a LineError; a TextProblem (not UTF-8) ends the file."""
    counted = _Counted(lines)
    reader = csv.reader(counted, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    while True:
        start = counted.count + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except TextProblem as exc:
            yield LineError(file=file, line=exc.line, message=exc.message)
            return
        except csv.Error as exc:
            yield LineError(file=file, line=start, message=_csv_problem(str(exc), delimiter))
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header = [column_name(cell) for cell in cells]
            continue
        values: dict[str, str] = {}
        for name, cell in zip(header, cells, strict=False):
            if name not in values and (value := cell.strip()):
                values[name] = value
        yield Entry(line=start, values=values)


def _csv_problem(reason: str, delimiter: str) -> str:
    if reason.startswith("unexpected end of data"):
        return 'a value opened with " on this line is never closed (the file ends inside it)'
    if reason.endswith("expected after '\"'"):
        return f'a " inside a quoted value must be doubled (""), and a closing " be followed by {delimiter}'
    return f"not valid CSV: {reason}"
