"""Reading an upload of pool codes (docs/offers.md#pools-of-codes): a CSV file the shop exported from its platform
or its till, checked whole before anything is stored. Pure.

The file: UTF-8 (a byte order mark is ignored), lines ending in LF or CRLF, a header row first. The header names
the column ``code`` (required) and optionally ``expires_at`` or ``ends_at`` (the same thing, one of the two); other
columns are ignored, names are compared without case. The delimiter is read from the header: ``,``, ``;`` or a tab,
whichever it holds most of (a file of only ``code`` is one column; a code holding the delimiter must be quoted).

A code is 3 to 64 printable characters with no whitespace (spaces around it are stripped); two codes that differ
only in case are the same code (platforms compare them so). An expiry is an ISO 8601 date or time: a date
(2025-12-31) means the code works through that day in UTC, so it ends at the next midnight UTC; a time without an
offset is UTC. A code that has already ended is refused.

Every problem is named ``SOURCE:LINE: what`` (the line of the file, counting the header as line 1); all of them
are collected and raised as one InvalidCodes, nothing is stored.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime, time, timedelta

from emma.errors import BadRequest, EmmaError, PayloadTooLarge
from emma.offers.ports import PoolCode

MAX_CODES = 100_000  # in one file
MAX_SHOWN = 20  # problems named in the error's message; the rest are counted
MIN_LENGTH, MAX_LENGTH = 3, 64
CODE_COLUMN = "code"
EXPIRY_COLUMNS = ("expires_at", "ends_at")
DELIMITERS = (",", ";", "\t")
POOL_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_WHITESPACE = re.compile(r"\s")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


class InvalidCodes(EmmaError):
    """An upload of codes that does not validate: ``problems`` names each as ``SOURCE:LINE: what``."""

    status = 422
    code = "invalid_codes"

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:MAX_SHOWN]
        more = f" (and {len(problems) - MAX_SHOWN} more)" if len(problems) > MAX_SHOWN else ""
        super().__init__("; ".join(shown) + more + "; nothing stored")
        self.problems = problems


class TooManyCodes(PayloadTooLarge):
    code = "too_many_codes"


class InvalidPoolName(BadRequest):
    code = "invalid_pool_name"


def check_pool_name(name: str) -> str:
    """The pool's name as given, if it is one (lower-case letters, digits and '-', 1 to 63, not starting with
    '-'); InvalidPoolName otherwise."""
    if not POOL_NAME.match(name):
        raise InvalidPoolName(
            f"pool name {name!r} is not valid: 1 to 63 lower-case letters, digits and '-', starting with a letter "
            "or digit (e.g. winback-10)"
        )
    return name


def decode(data: bytes, source: str) -> str:
    """The bytes of an upload as text: UTF-8, a byte order mark dropped; InvalidCodes naming the line of the
    first byte that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidCodes(
            [f"{source}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8"]
        ) from None


def parse_codes(text: str, source: str, *, now: datetime | None = None, limit: int = MAX_CODES) -> list[PoolCode]:
    """The codes of a CSV upload, in file order (see the module). ``now``: codes that ended before it are
    refused. InvalidCodes with every problem; TooManyCodes (413) over ``limit`` codes."""
    return [code for _, code in read_codes(text, source, now=now, limit=limit)]


def read_codes(
    text: str, source: str, *, now: datetime | None = None, limit: int = MAX_CODES
) -> list[tuple[int, PoolCode]]:
    """parse_codes, each code with the line of the file it is on."""
    text = text.removeprefix("\ufeff")
    header_line = next((line for line in text.splitlines() if line.strip()), None)
    if header_line is None:
        raise InvalidCodes([f"{source}: the file is empty; the first line must be a header naming the column code"])
    delimiter = max(DELIMITERS, key=header_line.count) if any(d in header_line for d in DELIMITERS) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    problems: list[str] = []
    found: list[tuple[int, PoolCode]] = []
    seen: dict[str, int] = {}  # folded code -> its line
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        header_at = reader.line_num
        if header is None:  # only empty quoted cells
            raise InvalidCodes([f"{source}: the file is empty; the first line must be a header naming the column code"])
        names = [cell.strip().lower() for cell in header]
        columns = _columns(names, source, header_at)
        code_at, expiry_at = columns
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # a blank line
            if len(found) + len(problems) >= limit:
                raise TooManyCodes(
                    f"{source}: more than {limit:,} codes in one file; split it into files of at most {limit:,}"
                )
            if len(row) > len(names):
                problems.append(
                    f"{source}:{line}: {len(row)} fields, the header has {len(names)} (a code holding "
                    f"{_shown(delimiter)} must be in double quotes)"
                )
                continue
            value = row[code_at].strip() if code_at < len(row) else ""
            problem = _code_problem(value)
            if problem:
                problems.append(f"{source}:{line}: {problem}")
                continue
            folded = value.casefold()
            if folded in seen:
                problems.append(f"{source}:{line}: code {_q(value)} is already on line {seen[folded]}")
                continue
            seen[folded] = line
            ends_at = None
            if expiry_at is not None:
                raw = row[expiry_at].strip() if expiry_at < len(row) else ""
                try:
                    ends_at = parse_expiry(raw) if raw else None
                except ValueError:
                    problems.append(
                        f"{source}:{line}: {names[expiry_at]} {_q(raw)} is not an ISO date (2025-12-31) or time "
                        f"(2025-12-31T18:00:00+01:00) between the years 2000 and {LATEST_YEAR}"
                    )
                    continue
                if ends_at is not None and now is not None and ends_at <= now:
                    problems.append(f"{source}:{line}: code {_q(value)} ended at {ends_at.isoformat()}, before now")
                    continue
            found.append((line, PoolCode(value, ends_at)))
    except csv.Error as exc:
        problems.append(f"{source}:{reader.line_num}: not readable as CSV ({exc})")
    if problems:
        raise InvalidCodes(problems)
    if not found:
        raise InvalidCodes([f"{source}: no codes after the header"])
    return found


def _columns(names: list[str], source: str, line: int) -> tuple[int, int | None]:
    if CODE_COLUMN not in names:
        shown = ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
        raise InvalidCodes(
            [
                f"{source}:{line}: the header has no column 'code' (found {shown}); the first line must be a header "
                "naming the column code, and optionally expires_at"
            ]
        )
    problems = [
        f"{source}:{line}: the column {n!r} is there twice"
        for n in (CODE_COLUMN, *EXPIRY_COLUMNS)
        if names.count(n) > 1
    ]
    expiries = [n for n in EXPIRY_COLUMNS if n in names]
    if len(expiries) > 1:
        problems.append(f"{source}:{line}: give one of the columns expires_at and ends_at, not both")
    if problems:
        raise InvalidCodes(problems)
    return names.index(CODE_COLUMN), (names.index(expiries[0]) if expiries else None)


def _code_problem(value: str) -> str | None:
    if not value:
        return "no code"
    if _WHITESPACE.search(value):
        return f"code {_q(value)} has whitespace inside"
    if not value.isprintable():
        return f"code {_q(value)} has a character that is not printable"
    if len(value) < MIN_LENGTH:
        return f"code {_q(value)} is shorter than {MIN_LENGTH} characters"
    if len(value) > MAX_LENGTH:
        return f"code {_q(value[:MAX_LENGTH])}... is longer than {MAX_LENGTH} characters"
    return None


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _shown(delimiter: str) -> str:
    return "a tab" if delimiter == "\t" else f"'{delimiter}'"


LATEST_YEAR = 2199  # an end further off is a typo, not a coupon


def parse_expiry(value: str) -> datetime:
    """When a code stops working: a date is the end of that day in UTC (the next midnight), a time without an
    offset is UTC. ValueError if it is neither."""
    try:
        if _DATE.fullmatch(value):
            ends = datetime.combine(date.fromisoformat(value) + timedelta(days=1), time(), UTC)
        elif _DATETIME.match(value):
            parsed = datetime.fromisoformat(value)
            ends = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        else:
            raise ValueError(value)
    except OverflowError as exc:  # 9999-12-31 (its next day), 0001-01-01T00:00+01:00 (before year 1 in UTC)
        raise ValueError(value) from exc
    if not 2000 <= ends.year <= LATEST_YEAR:
        raise ValueError(value)
    return ends


def to_csv(codes: list[PoolCode]) -> str:
    """Codes as an upload (header code,expires_at; times in UTC): what emma coupons upload sends in parts."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([CODE_COLUMN, EXPIRY_COLUMNS[0]])
    for code in codes:
        writer.writerow([code.code, code.ends_at.isoformat() if code.ends_at else ""])
    return out.getvalue()
