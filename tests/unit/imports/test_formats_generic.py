"""Emma's own format: the same records from CSV, a JSON array and JSON Lines; consent with its proof."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from emma.events.model import Channel, LineItem
from emma.imports.formats import ReadOptions, read
from emma.imports.model import CustomerRecord, ImportedConsent, ImportKind, LineError, OrderRecord

FIXTURES = Path(__file__).parents[2] / "fixtures" / "imports"
CUSTOMERS, ORDERS = ImportKind.CUSTOMERS, ImportKind.ORDERS


def load(kind: ImportKind, name: str, **options) -> list[CustomerRecord | OrderRecord | LineError]:
    with (FIXTURES / name).open("rb") as stream:
        return list(read(kind, name, stream, ReadOptions(**options)))


def parse(
    kind: ImportKind, text: str, name: str = "f.csv", **options
) -> list[CustomerRecord | OrderRecord | LineError]:
    return list(read(kind, name, io.BytesIO(text.encode()), ReadOptions(**options)))


def without_lines(records: list) -> list[dict]:
    return [record.model_dump(exclude={"line"}) for record in records]


@pytest.mark.parametrize("kind", [CUSTOMERS, ORDERS])
def test_csv_json_and_json_lines_read_to_equal_records(kind):
    name = f"emma-{kind}"
    csv, array, lines = (load(kind, f"{name}.{ext}", timezone="Europe/Berlin") for ext in ("csv", "json", "jsonl"))
    assert len(csv) == 3
    assert not [r for r in csv + array + lines if isinstance(r, LineError)]
    assert without_lines(csv) == without_lines(array) == without_lines(lines)


def test_records_carry_their_lines_in_each_syntax():
    assert [r.line for r in load(ORDERS, "emma-orders.csv")] == [2, 4, 5]  # o-1 spans lines 2-3
    assert [r.line for r in load(ORDERS, "emma-orders.jsonl")] == [1, 2, 3]
    assert [r.line for r in load(ORDERS, "emma-orders.json")] == [2, 38, 56]  # where each object starts


def test_generic_customers():
    ada, bob, cleo = load(CUSTOMERS, "emma-customers.json", timezone="Europe/Berlin")
    assert (ada.customer_id, ada.email, ada.phone, ada.locale) == ("c-1", "ada@example.com", "+4915112345678", "de-DE")
    assert ada.tags == ("vip", "newsletter")
    assert ada.traits == {"loyalty_tier": "gold"}  # an unknown field is a trait
    assert ada.consents == (
        ImportedConsent(
            channel=Channel.EMAIL,
            granted=True,
            at=datetime.fromisoformat("2021-03-04T09:05:00+01:00"),
            source="newsletter-form",
            double_opt_in=True,
            ip="203.0.113.7",
        ),
    )
    assert bob.consents[0].channel == Channel.SMS and bob.consents[0].granted is False
    assert cleo.created_at is not None and cleo.created_at.tzinfo is not None and cleo.customer_id is None


def test_generic_orders():
    first, cancelled, refunded = load(ORDERS, "emma-orders.csv")
    assert first.items == (
        LineItem(
            product_id="p-fern",
            sku="FERN-1",
            name="Botanical Fern Print",
            category="Prints",
            brand="Leaf & Co",
            quantity=2,
            price=Decimal("16.00"),
        ),
        LineItem(product_id="p-tote", name="Canvas Tote Bag", category="Bags", quantity=1, price=Decimal("27.00")),
    )
    assert first.discount_codes == ("SPRING10",) and first.discount_total == Decimal("5.00")
    assert cancelled.cancelled_at == datetime.fromisoformat("2023-05-03T09:00:00+01:00")
    assert (refunded.refunded, refunded.refunded_at) == (
        Decimal("30.00"),
        datetime.fromisoformat("2023-05-12T08:00:00+02:00"),
    )
    assert refunded.consents[0].source == "checkout-checkbox"


def test_json_traits_keep_their_json_types():
    [record] = parse(
        CUSTOMERS, '{"email": "a@example.com", "visits": 3, "score": 0.5, "vip": true, "pets": ["cat"]}\n', "c.jsonl"
    )
    assert record.traits == {"visits": 3, "score": 0.5, "vip": True, "pets": ["cat"]}


def test_the_shops_currency_fills_an_empty_currency():
    text = "order_id,placed_at,total,currency\no-1,2023-05-01,10.00,\no-2,2023-05-01,10.00,usd\n"
    first, second = parse(ORDERS, text, currency="EUR")
    assert (first.currency, second.currency) == ("EUR", "USD")
    [error, _] = parse(ORDERS, text)
    assert error.message == "currency is empty and no shop currency was given (the --currency option)"


def test_an_order_without_items_and_json_ids_as_numbers():
    [order] = parse(ORDERS, '[{"order_id": 17, "placed_at": "2023-05-01", "currency": "EUR", "total": 0}]', "o.json")
    assert (order.order_id, order.items, order.total) == ("17", (), Decimal(0))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"email": "a@example.com"}, 3]', "expected a JSON object, got a number"),
        ('[{"email": "a@example.com"} {"email": "b@example.com"}]', "expected , or ] between the array's objects"),
        ('[{"email": "a@example.com"},\n{"email": "b@example.com",}]', "not valid JSON: Expecting property name"),
        ('[{"email": "a@example.com"},\n{"email": "b@example.com"}', "the file ends inside the array"),
        ('[{"email": "a@example.com"}]\n{"x": 1}', "text after the end of the array"),
    ],
)
def test_a_broken_json_array_is_read_up_to_the_problem(text, message):
    records = parse(CUSTOMERS, text, "c.json")
    assert isinstance(records[0], CustomerRecord) and records[0].email == "a@example.com"
    assert isinstance(records[-1], LineError) and message in records[-1].message


def test_a_json_syntax_error_names_its_line():
    text = '[\n  {"email": "a@example.com"},\n  {"email": "b@example.com",\n   "first_name": }\n]\n'
    first, error = parse(CUSTOMERS, text, "c.json")
    assert first.line == 2
    assert error == LineError(file="c.json", line=4, message="not valid JSON: Expecting value")


def test_a_bad_json_line_is_lost_alone():
    text = '{"email": "a@example.com"}\n\n{"email": \n[1]\n{"email": "b@example.com"}\n'
    first, bad, not_object, last = parse(CUSTOMERS, text, "c.jsonl")
    assert (first.line, last.line, last.email) == (1, 5, "b@example.com")
    assert bad.line == 3 and bad.message.startswith("not valid JSON: Expecting value")
    assert not_object == LineError(file="c.jsonl", line=4, message="expected a JSON object, got a list")


def test_json_items_must_be_a_list_of_objects():
    [error] = parse(
        ORDERS,
        '{"order_id": "o", "placed_at": "2023-05-01", "currency": "EUR", "total": 1, "items": {"a": 1}}\n',
        "o.jsonl",
    )
    assert error == LineError(file="o.jsonl", line=1, message="items: expected a list of objects")


def test_consent_values_granted_denied_and_booleans():
    text = (
        "email,email_consent,email_consent_at,email_consent_source,sms_consent,sms_consent_at,sms_consent_source\n"
        "a@example.com,Denied,2023-01-01T00:00:00Z,unsubscribe-link,yes,2023-01-02T00:00:00Z,sms-keyword\n"
    )
    [record] = parse(CUSTOMERS, text)
    assert [(c.channel, c.granted, c.source) for c in record.consents] == [
        (Channel.EMAIL, False, "unsubscribe-link"),
        (Channel.SMS, True, "sms-keyword"),
    ]
    assert record.consents[0].at == datetime(2023, 1, 1, tzinfo=UTC)
    [error] = parse(CUSTOMERS, text.replace("Denied", "perhaps"))
    assert error.message == "email_consent 'perhaps' is neither granted nor denied"
