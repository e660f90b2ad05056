"""Every record Emma cannot take is a LineError at its physical line, naming the column and the value;
reading goes on. A quoted value with line breaks comes first in each file, so the lines are physical."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from emma.imports.formats import ReadOptions, read
from emma.imports.formats.base import CellError
from emma.imports.formats.values import amount, timestamp
from emma.imports.model import CustomerRecord, ImportKind, LineError, OrderRecord, events_of

CUSTOMERS, ORDERS = ImportKind.CUSTOMERS, ImportKind.ORDERS

ORDER_HEADER = "order_id,placed_at,currency,total,comment,item_product_id,item_quantity,item_price\n"
FIRST_ORDER = 'o-0,2023-05-01T10:00:00Z,EUR,10.00,"a comment\nover three\nlines",p-1,1,10.00\n'  # lines 2-4


def parse(kind: ImportKind, data: str | bytes, name: str = "f.csv", **options) -> list:
    raw = data.encode() if isinstance(data, str) else data
    return list(read(kind, name, io.BytesIO(raw), ReadOptions(**options)))


def one_error(kind: ImportKind, data: str | bytes, **options) -> LineError:
    items = parse(kind, data, **options)
    errors = [item for item in items if isinstance(item, LineError)]
    assert len(errors) == 1, items
    assert isinstance(items[0], CustomerRecord | OrderRecord)  # the record before the bad one was read
    return errors[0]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (",2023-05-01T10:00:00Z,EUR,10.00,,p-1,1,1.00", "order_id is empty: an order needs its id"),
        ("o-1,,EUR,10.00,,p-1,1,1.00", "placed_at is empty: an order needs the time it was placed"),
        ("o-1,2023-05-01T10:00:00Z,EUR,,,p-1,1,1.00", "total is empty: an order needs its total"),
        ("o-1,2023-05-01T10:00:00Z,EUR,-3.00,,p-1,1,1.00", "total '-3.00' is negative"),
        (
            "o-1,2023-05-01T10:00:00Z,EURO,10.00,,p-1,1,1.00",
            "currency 'EURO' is not a 3-letter currency code (e.g. EUR)",
        ),
        ("o-1,2023-05-01T10:00:00Z,EUR,10.00,,p-1,-1,1.00", "item_quantity '-1' is negative"),
        ("o-1,2023-05-01T10:00:00Z,EUR,10.00,,p-1,1.5,1.00", "item_quantity '1.5' is not a whole number"),
        (
            "o-1,01/05/2023,EUR,10.00,,p-1,1,1.00",
            "placed_at '01/05/2023' is not a date and time (e.g. 2023-05-01 10:15:00 +0200)",
        ),
        (
            "o-1,2023-02-30T10:00:00Z,EUR,10.00,,p-1,1,1.00",
            "placed_at '2023-02-30T10:00:00Z' is not a valid date and time",
        ),
        ("o-1,2023-05-01T10:00:00Z,EUR,ten,,p-1,1,1.00", "total 'ten' is not an amount (write it as 1234.50)"),
        ("o-1,2023-05-01T10:00:00Z,EUR,10.00,,p-1,1,1.00001", "item_price '1.00001' has more than 4 decimal places"),
        (
            "o-1,2023-05-01T10:00:00Z,EUR,10.00,,,1,1.00",
            "item_product_id is empty (and no item_sku): an item needs its product",
        ),
    ],
)
def test_an_order_emma_cannot_take_is_an_error_at_its_physical_line(row, message):
    error = one_error(ORDERS, ORDER_HEADER + FIRST_ORDER + row + "\n")
    assert error == LineError(file="f.csv", line=5, message=message)


def test_an_error_in_a_later_row_of_an_order_names_that_row():
    text = ORDER_HEADER + FIRST_ORDER + "o-1,2023-05-01T10:00:00Z,EUR,10.00,,p-1,1,1.00\no-1,,,,,p-2,-4,1.00\n"
    assert one_error(ORDERS, text) == LineError(file="f.csv", line=6, message="item_quantity '-4' is negative")


CUSTOMER_HEADER = "customer_id,email,phone,first_name,note,email_consent,email_consent_at,email_consent_source\n"
FIRST_CUSTOMER = 'c-0,a@example.com,,Ada,"a note\nover two lines",,,\n'  # lines 2-3


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (",,,Nobody,,,,", "customer_id, email and phone are all empty: a customer needs one of them"),
        (
            "c-1,b@example.com,,Bob,,granted,,",
            "email_consent needs email_consent_at and email_consent_source (the proof)",
        ),
        (
            "c-1,b@example.com,,Bob,,granted,2023-01-01,",
            "email_consent needs email_consent_at and email_consent_source (the proof)",
        ),
        (
            "c-1,b@example.com,,Bob,,granted,,signup-form",
            "email_consent needs email_consent_at and email_consent_source (the proof)",
        ),
        (
            "c-1,b@example.com,,Bob,,granted,yesterday,form",
            "email_consent_at 'yesterday' is not a date and time (e.g. 2023-05-01 10:15:00 +0200)",
        ),
        ("c-1,b@example.com,,Bob,,granted,2023-01-01,form", None),
    ],
)
def test_a_customer_emma_cannot_take_is_an_error_at_its_physical_line(row, message):
    items = parse(CUSTOMERS, CUSTOMER_HEADER + FIRST_CUSTOMER + row + "\n")
    if message is None:
        assert [type(item) for item in items] == [CustomerRecord, CustomerRecord]
        assert items[1].line == 4 and items[1].consents[0].source == "form"
        return
    assert items[1] == LineError(file="f.csv", line=4, message=message)


def test_an_invalid_email_is_not_an_error_the_event_keeps_it_as_invalid():
    [_, record] = parse(CUSTOMERS, CUSTOMER_HEADER + FIRST_CUSTOMER + "c-1,bob at example,,Bob,,,,\n")
    assert record.email == "bob at example"
    [event] = events_of("shop", "emma", record, datetime(2024, 1, 1, tzinfo=UTC))
    assert event.customer.email is None and event.customer.customer_id == "c-1"
    assert event.customer.invalid[0].kind == "email" and event.customer.invalid[0].value == "bob at example"


def test_a_value_the_model_refuses_is_one_readable_error_naming_the_column():
    long_name = "x" * 600
    [_, error] = parse(CUSTOMERS, CUSTOMER_HEADER + FIRST_CUSTOMER + f"c-1,b@example.com,,{long_name},,,,\n")
    assert error == LineError(file="f.csv", line=4, message="first_name: String should have at most 512 characters")


def test_reading_goes_on_after_an_error():
    text = CUSTOMER_HEADER + FIRST_CUSTOMER + ",,,Nobody,,,,\nc-2,c@example.com,,Cleo,,,,\n"
    items = parse(CUSTOMERS, text)
    assert [type(item).__name__ for item in items] == ["CustomerRecord", "LineError", "CustomerRecord"]
    assert items[2].line == 5


# ---- files --------------------------------------------------------------------------------------


def test_a_file_that_is_not_utf8_stops_at_its_first_bad_line():
    data = (
        CUSTOMER_HEADER + FIRST_CUSTOMER
    ).encode() + "c-1,b@example.com,,Jürgen,,,,\nc-2,c@example.com,,Cleo,,,,\n".encode("cp1252")
    first, error = parse(CUSTOMERS, data)
    assert first.customer_id == "c-0"
    assert error.line == 4
    assert error.message.startswith("the file is not UTF-8 (byte 0xFC at byte 21 of the line): save it as UTF-8")


def test_a_json_array_that_is_not_utf8_stops_at_its_first_bad_line():
    data = b'[\n{"email": "a@example.com"},\n{"email": "b@example.com", "first_name": "J' + b'\xfcrgen"}]'
    first, error = parse(CUSTOMERS, data, "c.json")
    assert first.email == "a@example.com"
    assert error.line == 3 and error.message.startswith("the file is not UTF-8 (byte 0xFC")


def test_bom_crlf_and_an_empty_last_line_are_fine():
    text = "\ufeffcustomer_id,email\r\nc-1,a@example.com\r\n\r\n"
    [record] = parse(CUSTOMERS, text)
    assert (record.line, record.customer_id, record.email) == (2, "c-1", "a@example.com")


def test_a_row_csv_cannot_parse_is_an_error_and_reading_goes_on():
    text = 'customer_id,email\nc-1,"a@exa"mple.com",x\nc-2,b@example.com\n'
    error, record = parse(CUSTOMERS, text)
    assert error == LineError(
        file="f.csv", line=2, message='a " inside a quoted value must be doubled (""), and a closing " be followed by ,'
    )
    assert (record.line, record.customer_id) == (3, "c-2")


def test_an_unclosed_quote_is_an_error_not_a_record_swallowing_the_file():
    text = 'customer_id,email,note\nc-0,a@example.com,\nc-1,b@example.com,"never closed\nc-2,c@example.com,\n'
    record, error = parse(CUSTOMERS, text)
    assert record.customer_id == "c-0"
    assert error == LineError(
        file="f.csv", line=3, message='a value opened with " on this line is never closed (the file ends inside it)'
    )


# ---- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "comma", "expected"),
    [
        ("1234.50", False, Decimal("1234.50")),
        ("-5", False, Decimal(-5)),
        ("'-5.00", False, Decimal("-5.00")),  # the WooCommerce extension's formula guard
        ("1234,50", True, Decimal("1234.50")),
        ("1.234,50", True, Decimal("1234.50")),
        ("1.234.567", True, Decimal(1234567)),
        ("1234.50", True, Decimal("1234.50")),
        ("", False, None),
    ],
)
def test_amounts(text, comma, expected):
    assert amount("Total", text, comma) == expected


@pytest.mark.parametrize(
    ("text", "comma", "message"),
    [
        ("1234,50", False, "Total '1234,50' is not an amount (write it as 1234.50)"),
        ("1,234.50", False, "Total '1,234.50' is not an amount (write it as 1234.50)"),
        ("1.234", True, "Total '1.234' is ambiguous: write 1234 (thousands) or 1,234 (decimals)"),
        ("12 EUR", True, "Total '12 EUR' is not an amount (write it as 1234.50 or 1234,50)"),
        ("123456789012.5", False, "Total '123456789012.5' is too large"),
    ],
)
def test_amounts_emma_refuses(text, comma, message):
    with pytest.raises(CellError) as info:
        amount("Total", text, comma)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("text", "dotted", "expected"),
    [
        ("2023-05-01T10:15:00+02:00", False, "2023-05-01T10:15:00+02:00"),
        ("2023-05-01T08:15:00Z", False, "2023-05-01T08:15:00+00:00"),
        ("2023-05-01 10:15:00 +0200", False, "2023-05-01T10:15:00+02:00"),  # Shopify
        ("2023-05-01 10:15:00 -04", False, "2023-05-01T10:15:00-04:00"),
        ("2023-05-01 10:15:00", False, "2023-05-01T10:15:00+02:00"),  # WooCommerce, site time
        ("2023-05-01T10:15:00.123456", False, "2023-05-01T10:15:00.123456+02:00"),
        ("2023-05-01", False, "2023-05-01T00:00:00+02:00"),
        ("01.05.2023 10:15", True, "2023-05-01T10:15:00+02:00"),  # German Excel
        ("1.5.2023", True, "2023-05-01T00:00:00+02:00"),
        ("2023-01-15 09:00:00", False, "2023-01-15T09:00:00+01:00"),  # winter time
    ],
)
def test_times(text, dotted, expected):
    found = timestamp("Created at", text, ZoneInfo("Europe/Berlin"), dotted)
    assert found == datetime.fromisoformat(expected)
    assert found.utcoffset() == datetime.fromisoformat(expected).utcoffset()


def test_dotted_dates_only_in_files_a_german_spreadsheet_wrote():
    with pytest.raises(CellError, match="is not a date and time"):
        timestamp("date", "01.05.2023 10:15", UTC)
