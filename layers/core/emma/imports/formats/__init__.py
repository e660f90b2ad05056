"""The export files Emma imports, read into typed records (``emma.imports.model``): Shopify's and
WooCommerce's customer and order exports, and Emma's own format (CSV, JSON array, JSON Lines).

``detect`` tells a file's format from its first bytes; ``read`` streams its records in file order, a
``LineError`` (file, line, reason) in place of each record that cannot be read. The formats, their
columns and their sources: docs/import-formats.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from emma.imports.formats import generic, shopify, woocommerce
from emma.imports.formats.base import ImportFormatError, Item, Layout, ReadOptions, context
from emma.imports.formats.csvfile import delimiter_of, first_line, header_of, rows
from emma.imports.formats.jsonfile import json_array, json_lines, keys_in, kind_hint
from emma.imports.formats.textio import Readable, Source
from emma.imports.formats.values import quoted
from emma.imports.model import ImportKind

__all__ = ["FORMATS", "LAYOUTS", "ImportFormatError", "ReadOptions", "detect", "read"]

# Most specific first: Emma's generic CSV layouts accept any header with an email (or an order_id).
LAYOUTS: tuple[Layout, ...] = (*shopify.LAYOUTS, *woocommerce.LAYOUTS, *generic.LAYOUTS)
FORMATS: dict[ImportKind, tuple[str, ...]] = {
    kind: tuple(dict.fromkeys(layout.fmt for layout in LAYOUTS if layout.kind == kind)) for kind in ImportKind
}


@dataclass(frozen=True)
class _Found:
    layout: Layout
    delimiter: str = ","
    json: str | None = None  # "[" a JSON array, "{" JSON Lines


def detect(kind: ImportKind, file: str, head: bytes) -> str:
    """The format of a file from its first bytes (header row / first JSON value). Raises
    ImportFormatError naming file:1 and the formats known when nothing matches (e.g. an orders export
    given to ``emma import customers``)."""
    return _find(ImportKind(kind), file, head, None).layout.fmt


def read(kind: ImportKind, file: str, stream: Readable, options: ReadOptions, fmt: str | None = None) -> Iterator[Item]:
    """Records in file order; a record that cannot be read is a LineError (file, its physical line, the
    column and value at fault) and reading goes on. Streams: only one record (one order's rows) is held
    at a time. ``file`` is only used in messages. The format is checked before the first record (an
    ImportFormatError is raised here, not while iterating)."""
    ctx = context(file, options)
    source = Source(stream)
    found = _find(ImportKind(kind), file, source.head, fmt)
    if found.layout.syntax == "json":
        entries = json_array(file, source) if found.json == "[" else json_lines(file, source)
    else:
        entries = rows(file, source.lines(), found.delimiter)
        ctx = replace(ctx, decimal_comma=found.delimiter == ";")
    return found.layout.read(entries, ctx)


def _find(kind: ImportKind, file: str, head: bytes, fmt: str | None) -> _Found:
    if fmt is not None and fmt not in FORMATS[kind]:
        raise ImportFormatError(f"unknown {kind} format {fmt!r}: Emma reads {', '.join(FORMATS[kind])}")
    text = head.decode("utf-8", errors="replace")
    if not text.strip("\ufeff \t\r\n"):
        raise ImportFormatError(f"{file}:1: the file is empty")
    json = kind_hint(text)
    if json is not None:
        keys = keys_in(text)
        what = f"its keys ({_names(sorted(keys))})"
        matching = [_Found(layout, json=json) for layout in LAYOUTS if layout.syntax == "json" and layout.matches(keys)]
    else:
        delimiter = delimiter_of(first_line(text))
        header = header_of(text, delimiter)
        what = f"its header ({_names(header)})"
        matching = [
            _Found(layout, delimiter=delimiter)
            for layout in LAYOUTS
            if layout.syntax == "csv" and layout.matches(frozenset(header))
        ]
    if not matching:
        raise ImportFormatError(
            f"{file}:1: Emma does not know this file: {what} matches none of its {kind} formats "
            f"({', '.join(FORMATS[kind])}; their columns: docs/import-formats.md)"
        )
    best = matching[0]
    if best.layout.kind != kind:
        raise ImportFormatError(
            f"{file}:1: this is a {best.layout.label}, a file of {best.layout.kind}: "
            f"import it with `emma import {best.layout.kind}`"
        )
    if fmt is not None and best.layout.fmt != fmt:
        raise ImportFormatError(
            f"{file}:1: this is a {best.layout.label}, not a {fmt} {kind} file: leave out the format "
            f"or give {best.layout.fmt}"
        )
    return best


def _names(names: list[str], shown: int = 8) -> str:
    listed = ", ".join(quoted(name) for name in names[:shown])
    return listed + (f" and {len(names) - shown} more" if len(names) > shown else "") if names else "none"
