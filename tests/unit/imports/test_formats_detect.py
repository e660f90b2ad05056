"""Telling an export file's format from its first bytes, and refusing a file (or options) Emma cannot read."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest

from emma.errors import EmmaError
from emma.imports.formats import FORMATS, ImportFormatError, ReadOptions, detect, read
from emma.imports.model import ImportKind

FIXTURES = Path(__file__).parents[2] / "fixtures" / "imports"
CUSTOMERS, ORDERS = ImportKind.CUSTOMERS, ImportKind.ORDERS


def head(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()[: 64 * 1024]


@pytest.mark.parametrize(
    ("name", "kind", "fmt"),
    [
        ("shopify-customers.csv", CUSTOMERS, "shopify"),
        ("shopify-customers-older.csv", CUSTOMERS, "shopify"),
        ("shopify-orders.csv", ORDERS, "shopify"),
        ("woocommerce-customers.csv", CUSTOMERS, "woocommerce"),
        ("woocommerce-analytics-customers.csv", CUSTOMERS, "woocommerce"),
        ("woocommerce-orders.csv", ORDERS, "woocommerce"),
        ("woocommerce-orders-items-de.csv", ORDERS, "woocommerce"),
        ("emma-customers.csv", CUSTOMERS, "emma"),
        ("emma-customers.json", CUSTOMERS, "emma"),
        ("emma-customers.jsonl", CUSTOMERS, "emma"),
        ("emma-orders.csv", ORDERS, "emma"),
        ("emma-orders.json", ORDERS, "emma"),
        ("emma-orders.jsonl", ORDERS, "emma"),
    ],
)
def test_each_fixture_is_detected(name, kind, fmt):
    assert detect(kind, name, head(name)) == fmt


def test_formats_known_per_kind():
    assert FORMATS == {CUSTOMERS: ("shopify", "woocommerce", "emma"), ORDERS: ("shopify", "woocommerce", "emma")}


@pytest.mark.parametrize(
    ("name", "kind", "hint"),
    [
        (
            "shopify-orders.csv",
            CUSTOMERS,
            "Shopify orders export, a file of orders: import it with `emma import orders`",
        ),
        ("woocommerce-orders.csv", CUSTOMERS, "emma import orders"),
        ("shopify-customers.csv", ORDERS, "Shopify customers export, a file of customers"),
        ("woocommerce-customers.csv", ORDERS, "emma import customers"),
        ("emma-customers.json", ORDERS, "Emma customers (JSON), a file of customers"),
    ],
)
def test_a_file_of_the_other_kind_is_refused_with_the_command_to_use(name, kind, hint):
    with pytest.raises(ImportFormatError) as info:
        detect(kind, name, head(name))
    assert str(info.value).startswith(f"{name}:1: this is a ")
    assert hint in str(info.value)


def test_an_unknown_header_names_the_file_its_columns_and_the_formats_known():
    with pytest.raises(ImportFormatError) as info:
        detect(ORDERS, "export.csv", b"Kunde,Datum,Betrag\nAda,2023-05-01,12.00\n")
    message = str(info.value)
    assert message.startswith("export.csv:1: Emma does not know this file: its header (")
    assert "'kunde', 'datum', 'betrag'" in message
    assert "shopify, woocommerce, emma" in message


def test_import_format_error_is_a_bad_request():
    assert issubclass(ImportFormatError, EmmaError)
    assert ImportFormatError("x").status == 400


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf\r\n  \n"])
def test_an_empty_file_is_refused(data):
    with pytest.raises(ImportFormatError, match=r"^empty.csv:1: the file is empty"):
        detect(CUSTOMERS, "empty.csv", data)


def test_semicolons_are_sniffed_from_the_header():
    data = b"customer_id;email;first_name\n1;ada@example.com;Ada\n"
    assert detect(CUSTOMERS, "de.csv", data) == "emma"
    [record] = read(CUSTOMERS, "de.csv", io.BytesIO(data), ReadOptions())
    assert (record.customer_id, record.email, record.first_name) == ("1", "ada@example.com", "Ada")


def test_headers_are_matched_trimmed_and_case_insensitively():
    data = b" CUSTOMER ID , first name,EMAIL,Accepts  Email Marketing\n'42,Ada,ada@example.com,no\n"
    assert detect(CUSTOMERS, "c.csv", data) == "shopify"
    [record] = read(CUSTOMERS, "c.csv", io.BytesIO(data), ReadOptions())
    assert (record.customer_id, record.first_name) == ("42", "Ada")


def test_a_format_given_must_match_the_file():
    with pytest.raises(ImportFormatError, match="this is a Shopify customers export, not a woocommerce customers file"):
        read(
            CUSTOMERS, "shopify-customers.csv", io.BytesIO(head("shopify-customers.csv")), ReadOptions(), "woocommerce"
        )
    with pytest.raises(ImportFormatError, match="unknown customers format 'magento'"):
        read(CUSTOMERS, "c.csv", io.BytesIO(b"email\n"), ReadOptions(), "magento")
    records = list(read(ORDERS, "o.csv", (FIXTURES / "shopify-orders.csv").open("rb"), ReadOptions(), "shopify"))
    assert len(records) == 4


def test_the_format_is_checked_when_read_is_called_not_when_iterating():
    with pytest.raises(ImportFormatError):
        read(ORDERS, "c.csv", io.BytesIO(head("shopify-customers.csv")), ReadOptions())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (ReadOptions(timezone="Mars/Olympus"), "timezone 'Mars/Olympus' is not an IANA time zone"),
        (ReadOptions(currency="EURO"), "currency 'EURO' is not a 3-letter currency code"),
        (
            ReadOptions(consent_as_of=datetime(1, 1, 1)),
            "consent_as_of '0001-01-01T00:00:00\\+00:00': a time on 0001-01-01",
        ),
        (ReadOptions(consent_as_of=datetime(9999, 12, 31)), "consent_as_of '9999-12-31.*in the years 9000-9999"),
    ],
)
def test_options_emma_cannot_use_are_refused_before_reading(options, message):
    with pytest.raises(ImportFormatError, match=message):
        read(CUSTOMERS, "c.csv", io.BytesIO(b"email\na@example.com\n"), options)
