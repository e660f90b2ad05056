"""Reading the values of export files: amounts, times, yes/no, quantities, ids, names; every problem
a ``CellError`` naming the column and the value as the shop owner sees them in the file."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from emma.addresses import shown
from emma.events.model import Channel
from emma.imports.formats.base import CellError, Entry, ReadContext
from emma.imports.model import ImportedConsent, LineError

M = TypeVar("M", bound=BaseModel)

MAX_DIGITS = 14  # emma.events.model.Money
MAX_PLACES = 4


def quoted(value: object) -> str:
    """A value for a message: quoted, invisible characters escaped, cut after 60 characters."""
    return f"'{shown(value if isinstance(value, str) else str(value), 60)}'"


def excel_text(value: str | None) -> str | None:
    """Text without the apostrophe spreadsheets and exports put before a number or a sign so that Excel
    keeps it as text (Shopify writes ``'0123`` zip codes and ids, WooCommerce's export ``'+49...``)."""
    if value is not None and value.startswith("'"):
        value = value[1:].strip()
    return value or None


def ident(value: str | None) -> str | None:
    """An id as the shop writes it; WooCommerce writes 0 for "none" (a guest, a deleted product)."""
    value = excel_text(value)
    return None if value in (None, "0") else value


# ---- amounts ----------------------------------------------------------------------------------

_DOT = re.compile(r"[+-]?\d+(?:\.\d+)?")
_COMMA = re.compile(r"[+-]?\d+,\d+")
_GROUPED_COMMA = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?")  # 1.234,50 / 1.234.567
_GROUPED_DOT_AMBIGUOUS = re.compile(r"[+-]?\d{1,3}\.\d{3}")  # 1.234: one thousand or one point two?


def amount(column: str, value: object, decimal_comma: bool = False) -> Decimal | None:
    """An amount: ``1234.50``; in a file whose numbers a comma-decimal spreadsheet wrote (``decimal_comma``:
    a ``;``-separated file, as German Excel saves CSV) also ``1234,50`` and ``1.234,50``. JSON numbers
    come as Decimal or int. More than 14 digits or 4 decimal places is refused (Emma's Money)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise CellError(f"{column} {quoted(value)} is not an amount")
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    else:
        number = _parse_amount(column, excel_text(value.strip()) or "", decimal_comma)
    if not number.is_finite():
        raise CellError(f"{column} {quoted(value)} is not an amount")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_PLACES:
        raise CellError(f"{column} {quoted(value)} has more than {MAX_PLACES} decimal places")
    if number and number.adjusted() >= MAX_DIGITS - MAX_PLACES:
        raise CellError(f"{column} {quoted(value)} is too large")
    return number


def _parse_amount(column: str, text: str, decimal_comma: bool) -> Decimal:
    try:
        if decimal_comma and _GROUPED_DOT_AMBIGUOUS.fullmatch(text):
            raise CellError(
                f"{column} {quoted(text)} is ambiguous: write {text.replace('.', '')} (thousands) "
                f"or {text.replace('.', ',')} (decimals)"
            )
        if _DOT.fullmatch(text):
            return Decimal(text)
        if decimal_comma and _COMMA.fullmatch(text):
            return Decimal(text.replace(",", "."))
        if decimal_comma and _GROUPED_COMMA.fullmatch(text):
            return Decimal(text.replace(".", "").replace(",", "."))
    except InvalidOperation:
        pass
    example = "1234.50 or 1234,50" if decimal_comma else "1234.50"
    raise CellError(f"{column} {quoted(text)} is not an amount (write it as {example})")


def required_amount(column: str, value: object, decimal_comma: bool = False) -> Decimal:
    found = amount(column, value, decimal_comma)
    if found is None:
        raise CellError(f"{column} is empty: an order needs its total")
    if found < 0:
        raise CellError(f"{column} {quoted(value)} is negative")
    return found


def currency(column: str, value: str | None, fallback: str | None) -> str:
    code = value or fallback
    if code is None:
        raise CellError(f"{column} is empty and no shop currency was given (the --currency option)")
    if not (len(code) == 3 and code.isascii() and code.isalpha()):
        raise CellError(f"{column} {quoted(code)} is not a 3-letter currency code (e.g. EUR)")
    return code.upper()


def quantity(column: str, value: object) -> int:
    """A quantity: a whole number, 0 or more (empty: 1)."""
    if value is None or value == "":
        return 1
    text = str(value).strip() if not isinstance(value, bool) else "?"
    if isinstance(value, Decimal) and value == value.to_integral_value():
        text = str(int(value))
    if not re.fullmatch(r"[+-]?\d+", text):
        raise CellError(f"{column} {quoted(value)} is not a whole number")
    count = int(text)
    if count < 0:
        raise CellError(f"{column} {quoted(value)} is negative")
    return count


# ---- times ------------------------------------------------------------------------------------

_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<time>\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,6})?)?))?"
    r"\s*(?P<zone>[Zz]|UTC|[+-]\d{2}(?::?\d{2})?)?"
)


_DOTTED = re.compile(
    r"(?P<day>\d{1,2})\.(?P<month>\d{1,2})\.(?P<year>\d{4})(?:,?\s+(?P<time>\d{1,2}:\d{2}(?::\d{2})?))?"
)


def timestamp(column: str, value: object, zone: tzinfo, dotted: bool = False) -> datetime | None:
    """A time as exports write it: ISO 8601 (``2023-05-01T10:15:00+02:00``, ``...Z``), Shopify's
    ``2023-05-01 10:15:00 +0200``, WooCommerce's ``2023-05-01 10:15:00`` or a date alone; with ``dotted``
    (a file a German spreadsheet saved) also ``01.05.2023 10:15``. Without an offset it is the shop's
    time (``zone``)."""
    if value is None or value == "":
        return None
    text = value.strip() if isinstance(value, str) else ""
    match = _TIME.fullmatch(text)
    german = _DOTTED.fullmatch(text) if dotted and match is None else None
    if match is None and german is None:
        example = "2023-05-01 10:15:00 +0200" + (" or 01.05.2023 10:15" if dotted else "")
        raise CellError(f"{column} {quoted(value)} is not a date and time (e.g. {example})")
    try:
        if german is not None:
            hours, _, rest = (german["time"] or "00:00").partition(":")
            day = f"{german['year']}-{int(german['month']):02d}-{int(german['day']):02d}"
            return datetime.fromisoformat(f"{day}T{int(hours):02d}:{rest}").replace(tzinfo=zone)
        assert match is not None
        return _iso(match, zone)
    except ValueError:
        raise CellError(f"{column} {quoted(value)} is not a valid date and time") from None


def _iso(match: re.Match[str], zone: tzinfo) -> datetime:
    time = (match["time"] or "00:00").replace(",", ".")
    offset = match["zone"]
    parsed = datetime.fromisoformat(f"{match['date']}T{time}")
    if offset is None:
        return parsed.replace(tzinfo=zone)
    if offset.upper() in ("Z", "UTC"):
        offset = "+00:00"
    elif len(offset) == 3:
        offset += ":00"
    elif ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    return datetime.fromisoformat(f"{match['date']}T{time}{offset}")


def required_time(column: str, value: object, zone: tzinfo, dotted: bool = False) -> datetime:
    found = timestamp(column, value, zone, dotted)
    if found is None:
        raise CellError(f"{column} is empty: an order needs the time it was placed")
    return found


# ---- yes / no ---------------------------------------------------------------------------------

_YES = frozenset({"yes", "true", "1", "y", "subscribed"})
_NO = frozenset({"no", "false", "0", "n", "not_subscribed", "unsubscribed", "pending", "invalid"})


def yes_no(column: str, value: object) -> bool | None:
    """yes/no as exports write it (Shopify: ``yes`` / ``no``; JSON: true / false); empty is None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise CellError(f"{column} {quoted(value)} is neither yes nor no")


# ---- names, tags, slugs -----------------------------------------------------------------------


def split_name(full: str | None) -> tuple[str | None, str | None]:
    """First and last name from one field ("Ada Lovelace", "Ada de la Cruz": the first word is the
    first name, the rest the last name)."""
    if not full:
        return None, None
    first, _, last = full.strip().partition(" ")
    return first or None, last.strip() or None


def listed(column: str, value: object) -> tuple[str, ...]:
    """A list: a JSON list of texts, or text separated by commas (``vip, newsletter``)."""
    if value is None or value == "":
        return ()
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise CellError(f"{column}: expected a list of texts")
        parts: Iterable[str] = value
    elif isinstance(value, str):
        parts = value.split(",")
    else:
        raise CellError(f"{column} {quoted(value)}: expected text or a list of texts")
    return tuple(dict.fromkeys(part.strip() for part in parts if part.strip()))


def slug(name: str) -> str:
    """A stable id from a product's name (``Botanical Fern Print`` -> ``botanical-fern-print``); a name
    without Latin letters or digits gets ``name-`` and a digest of itself."""
    ascii_form = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    found = re.sub(r"[^a-z0-9]+", "-", ascii_form.lower()).strip("-")[:120]
    return found or "name-" + hashlib.sha256(name.strip().encode()).hexdigest()[:12]


# ---- consent ----------------------------------------------------------------------------------


def export_consent(
    ctx: ReadContext, accepted: Iterable[Channel], source: str
) -> tuple[tuple[ImportedConsent, ...], tuple[Channel, ...]]:
    """Channels an export says the customer accepts, without saying when: consent proven by the export's
    date when the operator states it (``consent_as_of``), otherwise unproven (no consent is invented)."""
    channels = tuple(accepted)
    if ctx.consent_as_of is None:
        return (), channels
    consents = tuple(
        ImportedConsent(channel=channel, granted=True, at=ctx.consent_as_of, source=source) for channel in channels
    )
    return consents, ()


# ---- records ----------------------------------------------------------------------------------


def readable(exc: ValidationError, columns: Mapping[str, str], limit: int = 3) -> str:
    """A pydantic error in the file's words: ``Column: reason`` for the first few problems."""
    parts = []
    for error in exc.errors()[:limit]:
        loc = [str(part) for part in error.get("loc", ())]
        key = ".".join(p for p in loc if not p.isdigit())
        where = columns.get(key) or columns.get(loc[0] if loc else "") or key or "record"
        if loc and loc[0] == "items" and len(loc) > 1 and loc[1].isdigit():
            where = f"{where} (item {int(loc[1]) + 1})"
        parts.append(f"{where}: {error.get('msg')}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def build(
    model: type[M], fields: dict[str, Any], ctx: ReadContext, line: int, columns: Mapping[str, str]
) -> M | LineError:
    """The record, or a LineError naming the columns pydantic refused."""
    try:
        return model.model_validate({"line": line, **fields})
    except ValidationError as exc:
        return ctx.error(line, readable(exc, columns))


FieldsOf = Callable[[Entry, ReadContext], dict[str, Any]]


def records(
    entries: Iterator[Entry | LineError],
    ctx: ReadContext,
    model: type[M],
    fields_of: FieldsOf,
    columns: Mapping[str, str],
) -> Iterator[M | LineError]:
    """One record per entry (a row, or a JSON object): its fields, built into ``model``; a cell that cannot be
    read (CellError) or a record pydantic refuses is a LineError in its place, as is an entry that already was."""
    for entry in entries:
        if isinstance(entry, LineError):
            yield entry
            continue
        try:
            fields = fields_of(entry, ctx)
        except CellError as exc:
            yield ctx.error(exc.line or entry.line, exc.message)
            continue
        yield build(model, fields, ctx, entry.line, columns)


def compact(fields: dict[str, Any]) -> dict[str, Any]:
    """Fields without the empty ones (None, empty text, empty collections): the models' defaults apply."""
    return {key: value for key, value in fields.items() if not _empty(value)}


def _empty(value: object) -> bool:
    return value is None or (type(value) in (str, tuple, list, dict) and not value)  # type: ignore[arg-type]
