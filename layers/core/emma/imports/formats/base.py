"""What every export format shares: the options an operator states, the error for a file Emma cannot
read, one entry of a file (a CSV row or a JSON object, with its line) and the layouts that describe
which columns make a format."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from emma.errors import BadRequest
from emma.imports.model import TIME_REFUSED, CustomerRecord, ImportKind, LineError, OrderRecord, refused_time

Item = CustomerRecord | OrderRecord | LineError
Syntax = Literal["csv", "json"]


class ImportFormatError(BadRequest):
    """A file (or the options given for it) Emma cannot read as the kind of export asked for."""

    code = "import_format"


class CellError(ValueError):
    """A value a shop owner can fix, named by its column; ``line`` when it is not the record's first."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class ReadOptions:
    """What the operator states about a file that the file does not say itself."""

    # The export's date: the proof time for formats whose consent column has no date (naive: in `timezone`).
    consent_as_of: datetime | None = None
    # The shop's currency, for rows (or formats) without a currency.
    currency: str | None = None
    # IANA zone for timestamps without an offset (the shop's timezone).
    timezone: str = "UTC"


@dataclass(frozen=True)
class ReadContext:
    """What a format's reader needs besides the entries: the file's name (for messages), the options
    checked, and how the file writes numbers: ``decimal_comma`` for a ``;``-separated file, as a German
    spreadsheet saves CSV (amounts ``1.234,50``, dates ``01.05.2023 10:15``)."""

    file: str
    options: ReadOptions
    zone: ZoneInfo
    consent_as_of: datetime | None
    decimal_comma: bool = False

    def error(self, line: int, message: str) -> LineError:
        return LineError(file=self.file, line=line, message=message)


def context(file: str, options: ReadOptions) -> ReadContext:
    """The options checked once: a timezone Emma does not know, or a currency that is not three letters,
    is the operator's mistake, reported before anything is read."""
    try:
        zone = ZoneInfo(options.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImportFormatError(
            f"timezone {options.timezone!r} is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)"
        ) from None
    if options.currency is not None and not (len(options.currency) == 3 and options.currency.isalpha()):
        raise ImportFormatError(f"currency {options.currency!r} is not a 3-letter currency code (e.g. EUR)")
    as_of = options.consent_as_of
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=zone)
    if as_of is not None and refused_time(as_of):
        raise ImportFormatError(f"consent_as_of {as_of.isoformat()!r}: {TIME_REFUSED}")
    return ReadContext(file=file, options=options, zone=zone, consent_as_of=as_of)


@lru_cache(maxsize=4096)
def column_name(name: str) -> str:
    """A header as Emma compares it: trimmed, inner spaces collapsed, lower case, without a BOM."""
    return " ".join(name.replace("\ufeff", "").split()).lower()


def cleaned(values: Mapping[str, object]) -> dict[str, object]:
    """Values as entries hold them: keys as ``column_name`` writes them (the first of two equal ones
    wins), text trimmed, empty text and null left out."""
    out: dict[str, object] = {}
    for key, value in values.items():
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            continue
        out.setdefault(column_name(key), value)
    return out


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of a CSV file (values are text) or one object of a JSON file (values as JSON gives
    them: text, numbers as Decimal or int, booleans, lists, objects), as ``cleaned`` leaves them;
    ``line`` is its first physical line."""

    line: int
    values: Mapping[str, object] = field(default_factory=dict)

    def raw(self, name: str) -> object:
        return self.values.get(name)

    def text(self, name: str) -> str | None:
        """The value as text, or None when it is empty or absent."""
        value = self.values.get(name)
        if value is None or type(value) is str:
            return value  # type: ignore[return-value]
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | Decimal):
            return str(value)
        raise CellError(f"{name}: expected text, got a JSON {'list' if isinstance(value, list) else 'object'}")

    def first(self, *names: str) -> str | None:
        """The first of these columns that has a value."""
        for name in names:
            value = self.text(name)
            if value is not None:
                return value
        return None


Reader = Callable[[Iterator[Entry | LineError], ReadContext], Iterator[Item]]


@dataclass(frozen=True)
class Layout:
    """One way a format writes a kind of file: which columns tell it apart, and how its entries become
    records. A format (``fmt``) may have several layouts (Shopify's current and older customer exports
    are one; WooCommerce's extension and Analytics downloads are two)."""

    fmt: str
    kind: ImportKind
    label: str
    syntax: Syntax
    matches: Callable[[frozenset[str]], bool]
    read: Reader


def grouped(
    entries: Iterator[Entry | LineError], key: Callable[[Entry], str | None]
) -> Iterator[list[Entry] | LineError]:
    """Consecutive entries with the same key, together (an order's rows); an entry without a key is a
    group of its own. Only one group is held at a time."""
    group: list[Entry] = []
    current: str | None = None
    for entry in entries:
        if isinstance(entry, LineError):
            yield entry
            continue
        value = key(entry)
        if group and value is not None and value == current:
            group.append(entry)
            continue
        if group:
            yield group
        group, current = [entry], value
    if group:
        yield group
