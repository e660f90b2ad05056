"""Shopify's and WooCommerce's exports, read from fixtures written as the platforms write them."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from emma.events.model import Channel, LineItem
from emma.imports.formats import ReadOptions, read
from emma.imports.formats.woocommerce import pipe_delimited
from emma.imports.model import CustomerRecord, ImportedConsent, ImportKind, LineError, OrderRecord

FIXTURES = Path(__file__).parents[2] / "fixtures" / "imports"
CUSTOMERS, ORDERS = ImportKind.CUSTOMERS, ImportKind.ORDERS
BERLIN = ZoneInfo("Europe/Berlin")
AS_OF = datetime(2024, 1, 31, 12, 0, tzinfo=UTC)
CEST, CET = timezone(timedelta(hours=2)), timezone(timedelta(hours=1))


def load(kind: ImportKind, name: str, **options) -> list[CustomerRecord | OrderRecord | LineError]:
    with (FIXTURES / name).open("rb") as stream:
        return list(read(kind, name, stream, ReadOptions(**options)))


def parse(kind: ImportKind, text: str, **options) -> list[CustomerRecord | OrderRecord | LineError]:
    return list(read(kind, "f.csv", io.BytesIO(text.encode()), ReadOptions(**options)))


# ---- Shopify customers ------------------------------------------------------------------------


def test_shopify_customers_are_read_with_ids_without_apostrophes_and_the_multi_line_note():
    ada, bob, cleo, nobody, dora = load(CUSTOMERS, "shopify-customers.csv")
    assert ada.line == 2
    assert (ada.customer_id, ada.email, ada.phone) == ("7110000000001", "ada@example.com", "+4915112345678")
    assert (ada.first_name, ada.last_name, ada.country, ada.city) == ("Ada", "Lovelace", "DE", "Berlin")
    assert ada.tags == ("vip", "newsletter")
    assert ada.traits["note"] == 'Stammkundin seit 2021\nmag "handgeschriebene" Karten\nkein Versand freitags'
    assert ada.traits["total_spent"] == "120.50" and ada.traits["province_code"] == "BE"
    assert ada.created_at is None  # the export has no creation date
    # The Note spans lines 2-4: Bob starts on line 5.
    assert (bob.line, bob.customer_id, bob.traits["company"]) == (5, "7110000000002", "Builder & Sons")
    assert (cleo.line, cleo.email) == (6, "cleo at example")  # invalid, kept: the event marks it invalid
    assert nobody == LineError(
        file="shopify-customers.csv",
        line=7,
        message="Customer ID, Email and Phone are all empty: a customer needs one of them",
    )
    assert (dora.line, dora.email, dora.phone) == (8, None, "+4917612345678")


def test_shopify_consent_without_the_exports_date_is_unproven():
    ada, bob, _, _, dora = load(CUSTOMERS, "shopify-customers.csv")
    assert ada.consents == () and ada.unproven == (Channel.EMAIL, Channel.SMS)
    assert bob.consents == () and bob.unproven == ()  # "no" records nothing, not a withdrawal
    assert dora.unproven == (Channel.SMS,)


def test_shopify_consent_with_the_exports_date_is_proven_by_it():
    ada, bob, _, _, dora = load(CUSTOMERS, "shopify-customers.csv", consent_as_of=AS_OF)
    assert ada.unproven == ()
    assert ada.consents == (
        ImportedConsent(channel=Channel.EMAIL, granted=True, at=AS_OF, source="shopify:customers-export"),
        ImportedConsent(channel=Channel.SMS, granted=True, at=AS_OF, source="shopify:customers-export"),
    )
    assert bob.consents == ()
    assert [c.channel for c in dora.consents] == [Channel.SMS]


def test_a_naive_consent_date_is_in_the_shops_timezone():
    [ada, *_] = load(CUSTOMERS, "shopify-customers.csv", consent_as_of=datetime(2024, 1, 31), timezone="Europe/Berlin")
    assert ada.consents[0].at == datetime(2024, 1, 31, tzinfo=BERLIN)


def test_older_shopify_customer_exports_are_keyed_by_email():
    erik, fay = load(CUSTOMERS, "shopify-customers-older.csv", consent_as_of=AS_OF)
    assert (erik.customer_id, erik.email, erik.country, erik.city, erik.tags) == (
        None,
        "erik@example.com",
        "SE",
        "Stockholm",
        ("wholesale",),
    )
    assert [c.channel for c in erik.consents] == [Channel.EMAIL]
    assert (fay.email, fay.consents, fay.traits["tax_exempt"]) == ("fay@example.com", (), "yes")


def test_shopify_customer_exports_between_the_two_headers_are_read():
    header = (
        "First Name,Last Name,Email,Accepts Email Marketing,Company,Address1,Address2,City,Province,Province Code,"
        "Country,Country Code,Zip,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Tags,Note,Tax Exempt\n"
    )
    row = "Ada,Lovelace,ada@example.com,yes,,,,Berlin,Berlin,BE,Germany,DE,'10115,'+4915112345678,no,0.00,0,,,no\n"
    [ada] = parse(CUSTOMERS, header + row)
    assert (ada.email, ada.phone, ada.country, ada.city, ada.unproven) == (
        "ada@example.com",
        "+4915112345678",
        "DE",
        "Berlin",
        (Channel.EMAIL,),
    )


def test_a_shopify_yes_no_that_is_neither_is_an_error_naming_the_column():
    [error] = parse(CUSTOMERS, "Customer ID,Email,Accepts Email Marketing\n1,a@example.com,maybe\n")
    assert error == LineError(file="f.csv", line=2, message="Accepts Email Marketing 'maybe' is neither yes nor no")


# ---- Shopify orders ---------------------------------------------------------------------------


def test_shopify_orders_are_grouped_by_name_with_their_items_and_discount():
    first, cancelled, *_ = load(ORDERS, "shopify-orders.csv")
    assert (first.line, first.order_id, first.order_number, first.email) == (
        2,
        "5550000001",
        "#1001",
        "ada@example.com",
    )
    assert first.placed_at == datetime(2023, 5, 1, 10, 15, tzinfo=CEST)
    assert (first.currency, first.total, first.subtotal) == ("EUR", Decimal("58.90"), Decimal("59.00"))
    assert (first.discount_codes, first.discount_total) == (("SPRING10",), Decimal("5.00"))
    assert first.items == (
        LineItem(
            product_id="FERN-1",
            sku="FERN-1",
            name="Botanical Fern Print",
            brand="Leaf & Co",
            quantity=2,
            price=Decimal("16.00"),
        ),
        LineItem(
            product_id="canvas-tote-bag", name="Canvas Tote Bag", brand="Leaf & Co", quantity=1, price=Decimal("27.00")
        ),
    )
    assert (first.first_name, first.last_name, first.country, first.city) == ("Ada", "Lovelace", "DE", "Berlin")
    assert (first.cancelled_at, first.refunded, first.test) == (None, None, False)
    # The first order's Notes span lines 2-3 and its second item is line 4: the next order starts on 5.
    assert cancelled.line == 5


def test_shopify_cancelled_refunded_and_partially_refunded_orders():
    _, cancelled, refunded, partial = load(ORDERS, "shopify-orders.csv")
    assert cancelled.cancelled_at == datetime(2023, 5, 3, 9, 0, tzinfo=CET)
    assert (refunded.refunded, refunded.refunded_at) == (Decimal("30.00"), None)
    assert partial.refunded == Decimal("10.00") and partial.cancelled_at is None
    assert (partial.email, partial.phone) == (None, "+4915112345678")  # a POS order known by phone


def test_a_shopify_order_refunded_without_an_amount_is_refunded_in_full():
    text = "Name,Email,Financial Status,Created at,Currency,Total,Refunded Amount,Lineitem name,Lineitem quantity\n"
    text += "#7,a@example.com,refunded,2023-05-01 10:15:00 +0200,EUR,19.90,,Mug,1\n"
    [order] = parse(ORDERS, text)
    assert order.refunded == Decimal("19.90")


def test_shopify_accepts_marketing_on_an_order_is_consent_only_with_the_exports_date():
    first, *_ = load(ORDERS, "shopify-orders.csv")
    assert first.unproven == (Channel.EMAIL,) and first.consents == ()
    first, *_ = load(ORDERS, "shopify-orders.csv", consent_as_of=AS_OF)
    assert first.consents == (
        ImportedConsent(channel=Channel.EMAIL, granted=True, at=AS_OF, source="shopify:orders-export"),
    )


def test_an_error_in_a_shopify_item_row_names_that_rows_line_and_leaves_out_the_order():
    text = (
        "Name,Email,Financial Status,Created at,Currency,Total,Notes,Lineitem name,Lineitem quantity,Lineitem price\n"
        '#1,a@example.com,paid,2023-05-01 10:15:00 +0200,EUR,10.00,"two\nlines",Mug,1,10.00\n'
        "#1,a@example.com,,,,,,Plate,-2,5.00\n"
        "#2,b@example.com,paid,2023-05-02 10:15:00 +0200,EUR,5.00,,Plate,1,5.00\n"
    )
    error, order = parse(ORDERS, text)
    assert error == LineError(file="f.csv", line=4, message="Lineitem quantity '-2' is negative")
    assert (order.order_id, order.line) == ("#2", 5)


# ---- WooCommerce customers --------------------------------------------------------------------


def test_woocommerce_extension_customers():
    greta, hans = load(CUSTOMERS, "woocommerce-customers.csv", timezone="Europe/Berlin")
    assert (greta.customer_id, greta.email, greta.phone) == ("12", "greta@example.com", "+4917612345678")
    assert (greta.first_name, greta.last_name, greta.country, greta.city) == ("Greta", "Gärtner", "DE", "München")
    assert greta.created_at == datetime(2022, 11, 3, 14, 20, 5, tzinfo=BERLIN)  # site time
    # A guest (customer_id 0): the extension's date_registered is its first order's date, not a registration.
    assert (hans.customer_id, hans.email, hans.created_at) == (None, "hans@example.com", None)


def test_woocommerce_analytics_customers_download():
    greta, hans = load(CUSTOMERS, "woocommerce-analytics-customers.csv", timezone="Europe/Berlin")
    assert (greta.customer_id, greta.email, greta.first_name, greta.last_name) == (
        None,
        "greta@example.com",
        "Greta",
        "Gärtner",
    )
    assert (greta.country, greta.city, greta.created_at) == (
        "DE",
        "München",
        datetime(2022, 11, 3, 14, 20, 5, tzinfo=BERLIN),
    )
    assert greta.traits == {
        "username": "greta",
        "last_active": "2023-06-01 12:00:00",
        "orders": "2",
        "total_spend": "95.80",
        "aov": "47.90",
        "region": "BY",
        "postcode": "80331",
    }
    assert hans.created_at is None


def test_the_emailed_analytics_export_headers_are_read_too():
    text = (
        "Name,Username,Last Active,Sign Up,Email,Orders,Total Spend,AOV,Country / Region,City,Region,Postal Code\n"
        "Ada Lovelace,ada,2023-06-01 12:00:00,2022-01-02 03:04:05,ada@example.com,1,10.00,10.00,GB,London,,N1\n"
    )
    [ada] = parse(CUSTOMERS, text)
    assert (ada.email, ada.created_at, ada.country) == (
        "ada@example.com",
        datetime(2022, 1, 2, 3, 4, 5, tzinfo=UTC),
        "GB",
    )


# ---- WooCommerce orders -----------------------------------------------------------------------


def test_woocommerce_orders_one_row_per_order_with_pipe_delimited_items_and_coupons():
    completed, cancelled, refunded = load(ORDERS, "woocommerce-orders.csv", timezone="Europe/Berlin")
    assert (completed.line, completed.order_id, completed.order_number, completed.customer_id) == (
        2,
        "1001",
        "1001",
        "12",
    )
    assert (completed.email, completed.phone) == ("greta@example.com", "+4917612345678")
    assert completed.placed_at == datetime(2023, 5, 1, 10, 15, tzinfo=BERLIN)
    assert (completed.total, completed.discount_total, completed.currency) == (Decimal("61.90"), Decimal("5.30"), "EUR")
    assert completed.discount_codes == ("fruehling10",)
    assert completed.items == (
        LineItem(product_id="77", sku="HERB-BAS", name="Kräutertopf: Basilikum", quantity=2, price=Decimal("12")),
        LineItem(product_id="78", sku="CAN-1", name="Gießkanne", quantity=1, price=Decimal("29")),
    )
    # The customer note spans lines 2-3.
    assert cancelled.line == 4
    assert cancelled.cancelled_at == cancelled.placed_at  # no cancellation date in the export
    assert (refunded.refunded, refunded.customer_id, refunded.email) == (Decimal("19.90"), None, "hans@example.com")
    # A deleted product: product_id 0 and the SKU "unknown_product"; the name is all that is left.
    assert refunded.items == (
        LineItem(product_id="samenmischung", name="Samenmischung", quantity=1, price=Decimal("15")),
    )


def test_woocommerce_orders_one_row_per_item_as_german_excel_saves_them():
    big, failed = load(ORDERS, "woocommerce-orders-items-de.csv", timezone="Europe/Berlin")
    assert (big.line, big.order_id, big.total) == (2, "2001", Decimal("1234.50"))
    assert big.placed_at == datetime(2023, 5, 1, 10, 15, tzinfo=BERLIN)
    assert big.items == (
        LineItem(product_id="90", sku="BED-L", name="Hochbeet Lärche", quantity=1, price=Decimal("999")),
        LineItem(product_id="91", sku="SOIL-40", name="Pflanzerde 40 l", quantity=3, price=Decimal("12.90")),
    )
    assert big.phone == "+49 176 12345678"  # as written; CustomerRefs stores it as E.164
    assert (failed.line, failed.cancelled_at) == (4, failed.placed_at)


WC_HEADER = "order_id,date,status,order_total,order_currency,billing_email,customer_id,line_items\n"


@pytest.mark.parametrize("status", ["checkout-draft", "wc-checkout-draft", "trash"])
def test_a_woocommerce_draft_is_not_an_order(status):
    [error] = parse(ORDERS, WC_HEADER + f"9,2023-05-01 10:15:00,{status},0.00,EUR,a@example.com,0,\n")
    assert error.line == 2 and "not an order a customer placed" in error.message


def test_a_woocommerce_refunded_order_without_a_refunded_total_is_refunded_in_full():
    text = (
        WC_HEADER.replace("line_items", "refunded_total")
        + "9,2023-05-01 10:15:00,wc-refunded,12.50,EUR,a@example.com,3,\n"
    )
    [order] = parse(ORDERS, text)
    assert order.refunded == Decimal("12.50") and order.customer_id == "3"


def test_pipe_delimited_items_unescape_their_separators():
    assert pipe_delimited("id:1|name:A\\:B \\| C\\; D|sku:X;id:2|name:Plain|meta:") == [
        {"id": "1", "name": "A:B | C; D", "sku": "X"},
        {"id": "2", "name": "Plain", "meta": ""},
    ]
    assert pipe_delimited("") == []


def test_woocommerce_errors_name_the_column_and_the_row():
    header = "order_id,date,status,order_total,order_currency,billing_email,item_product_id,item_name,item_quantity\n"
    text = header + (
        "5,2023-05-01 10:15:00,completed,9.00,EUR,a@example.com,1,Pot,1\n"
        "5,2023-05-01 10:15:00,completed,9.00,EUR,a@example.com,2,Saucer,-1\n"
        ",2023-05-02 10:15:00,completed,9.00,EUR,a@example.com,1,Pot,1\n"
        "7,2023-05-03 10:15:00,completed,9.00,EUR,a@example.com,0,,1\n"
    )
    negative, no_id, without_items = parse(ORDERS, text)
    assert negative == LineError(file="f.csv", line=3, message="item_quantity '-1' is negative")
    assert no_id == LineError(file="f.csv", line=4, message="order_id is empty: an order needs its id")
    assert (without_items.order_id, without_items.items) == ("7", ())  # a deleted product without a name
    [error] = parse(
        ORDERS, WC_HEADER + "9,2023-05-01 10:15:00,completed,1.00,EUR,a@example.com,0,name:Pot|quantity:x\n"
    )
    assert error.message == "line_items, item 1: quantity 'x' is not a whole number"


def test_woocommerce_customers_need_an_identity():
    header = "customer_id,email,date_registered,billing_email,billing_phone\n"
    [error] = parse(CUSTOMERS, header + "0,,2023-01-01 00:00:00,,\n")
    assert error.message == "customer_id, email and billing_phone are all empty: a customer needs one of them"
    analytics = "Name,Email,Orders,Total spend,Last active,Date registered\n"
    [error] = parse(CUSTOMERS, analytics + "Ada,,1,1.00,2023-01-01,\n")
    assert error.message == "Email is empty: a customer of the Analytics download needs one"
