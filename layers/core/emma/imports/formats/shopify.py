"""Shopify's CSV exports: customers (Admin > Customers > Export, current and older header) and orders
(Admin > Orders > Export > "Export orders": one row per line item, the order's own fields on its first
row). Columns and sources: docs/import-formats.md."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from emma.events.model import Channel
from emma.imports.formats.base import CellError, Entry, Item, Layout, ReadContext, grouped
from emma.imports.formats.values import (
    amount,
    build,
    compact,
    currency,
    excel_text,
    export_consent,
    listed,
    quantity,
    records,
    required_amount,
    required_time,
    slug,
    split_name,
    timestamp,
    yes_no,
)
from emma.imports.model import CustomerRecord, ImportKind, LineError, OrderRecord

CUSTOMERS_SOURCE = "shopify:customers-export"
ORDERS_SOURCE = "shopify:orders-export"

# ---- customers --------------------------------------------------------------------------------

CUSTOMER_COLUMNS = {
    "customer_id": "Customer ID",
    "email": "Email",
    "phone": "Phone",
    "first_name": "First Name",
    "last_name": "Last Name",
    "country": "Default Address Country Code",
    "city": "Default Address City",
    "tags": "Tags",
}


def is_customers(header: frozenset[str]) -> bool:
    current = "accepts email marketing" in header
    older = "accepts marketing" in header and "total orders" in header
    return "email" in header and (current or older) and "lineitem name" not in header


def read_customers(entries: Iterator[Entry | LineError], ctx: ReadContext) -> Iterator[Item]:
    return records(entries, ctx, CustomerRecord, _customer_fields, CUSTOMER_COLUMNS)


def _customer_fields(entry: Entry, ctx: ReadContext) -> dict[str, Any]:
    customer_id = excel_text(entry.text("customer id"))
    email = entry.text("email")
    phone = excel_text(entry.text("phone"))
    if not (customer_id or email or phone):
        raise CellError("Customer ID, Email and Phone are all empty: a customer needs one of them")
    accepted = [
        channel
        for channel, columns in (
            (Channel.EMAIL, ("accepts email marketing", "accepts marketing")),
            (Channel.SMS, ("accepts sms marketing",)),
        )
        if _accepts(entry, columns)
    ]
    consents, unproven = export_consent(ctx, accepted, CUSTOMERS_SOURCE)
    traits = {
        "company": entry.first("default address company", "company"),
        "province_code": entry.first("default address province code", "province code"),
        "total_spent": entry.text("total spent"),
        "total_orders": entry.text("total orders"),
        "tax_exempt": entry.text("tax exempt"),
        "note": entry.text("note"),
    }
    return compact(
        {
            "customer_id": customer_id,
            "email": email,
            "phone": phone,
            "first_name": entry.text("first name"),
            "last_name": entry.text("last name"),
            "country": entry.first("default address country code", "country code"),
            "city": entry.first("default address city", "city"),
            "tags": listed("Tags", entry.text("tags")),
            "consents": consents,
            "unproven": unproven,
            "traits": compact(traits),
        }
    )


def _accepts(entry: Entry, columns: tuple[str, ...]) -> bool:
    for column in columns:
        if column in entry.values:
            return yes_no(_title(column), entry.text(column)) is True
    return False


def _title(column: str) -> str:
    return " ".join(word.upper() if word == "sms" else word.capitalize() for word in column.split())


# ---- orders -----------------------------------------------------------------------------------

ORDER_COLUMNS = {
    "order_id": "Id",
    "order_number": "Name",
    "email": "Email",
    "phone": "Phone",
    "placed_at": "Created at",
    "currency": "Currency",
    "total": "Total",
    "subtotal": "Subtotal",
    "discount_total": "Discount Amount",
    "discount_codes": "Discount Code",
    "cancelled_at": "Cancelled at",
    "refunded": "Refunded Amount",
    "first_name": "Billing Name",
    "last_name": "Billing Name",
    "country": "Billing Country",
    "city": "Billing City",
    "items.product_id": "Lineitem sku",
    "items.sku": "Lineitem sku",
    "items.name": "Lineitem name",
    "items.brand": "Vendor",
    "items.quantity": "Lineitem quantity",
    "items.price": "Lineitem price",
}
_ORDER_HEADER = frozenset({"name", "email", "financial status", "created at", "lineitem name", "lineitem quantity"})


def is_orders(header: frozenset[str]) -> bool:
    return header >= _ORDER_HEADER


def _order_key(entry: Entry) -> str | None:
    return entry.text("name") or excel_text(entry.text("id"))


def read_orders(entries: Iterator[Entry | LineError], ctx: ReadContext) -> Iterator[Item]:
    for group in grouped(entries, _order_key):
        yield group if isinstance(group, LineError) else _order(group, ctx)


def _order(rows: list[Entry], ctx: ReadContext) -> OrderRecord | LineError:
    first = rows[0]
    try:
        fields = _order_fields(first, ctx)
        fields["items"] = tuple(item for row in rows if (item := _item(row, ctx)) is not None)
    except CellError as exc:
        return ctx.error(exc.line or first.line, exc.message)
    return build(OrderRecord, fields, ctx, first.line, ORDER_COLUMNS)


def _order_fields(first: Entry, ctx: ReadContext) -> dict[str, Any]:
    name = first.text("name")
    order_id = excel_text(first.text("id")) or name
    if order_id is None:
        raise CellError("Name and Id are empty: an order needs one of them")
    total = required_amount("Total", first.text("total"), ctx.decimal_comma)
    refunded = amount("Refunded Amount", first.text("refunded amount"), ctx.decimal_comma)
    if (first.text("financial status") or "").lower() == "refunded" and not refunded:
        refunded = total  # refunded in full, the amount column left empty
    first_name, last_name = split_name(first.first("billing name", "shipping name"))
    accepted = [Channel.EMAIL] if yes_no("Accepts Marketing", first.text("accepts marketing")) else []
    consents, unproven = export_consent(ctx, accepted, ORDERS_SOURCE)
    return compact(
        {
            "order_id": order_id,
            "order_number": name,
            "email": first.text("email"),
            "phone": excel_text(first.text("phone")),
            "placed_at": required_time("Created at", first.text("created at"), ctx.zone, ctx.decimal_comma),
            "currency": currency("Currency", first.text("currency"), ctx.options.currency),
            "total": total,
            "subtotal": amount("Subtotal", first.text("subtotal"), ctx.decimal_comma),
            "discount_total": amount("Discount Amount", first.text("discount amount"), ctx.decimal_comma),
            "discount_codes": listed("Discount Code", first.text("discount code")),
            "cancelled_at": timestamp("Cancelled at", first.text("cancelled at"), ctx.zone, ctx.decimal_comma),
            "refunded": refunded or None,
            "first_name": first_name,
            "last_name": last_name,
            "country": first.first("billing country", "shipping country"),
            "city": first.first("billing city", "shipping city"),
            "consents": consents,
            "unproven": unproven,
        }
    )


def _item(row: Entry, ctx: ReadContext) -> dict[str, Any] | None:
    name = row.text("lineitem name")
    sku = excel_text(row.text("lineitem sku"))
    if name is None and sku is None:
        return None
    try:
        return compact(
            {
                "product_id": sku or slug(name or ""),
                "sku": sku,
                "name": name,
                "brand": row.text("vendor"),
                "quantity": quantity("Lineitem quantity", row.text("lineitem quantity")),
                "price": amount("Lineitem price", row.text("lineitem price"), ctx.decimal_comma),
            }
        )
    except CellError as exc:
        raise CellError(exc.message, row.line) from None


LAYOUTS = (
    Layout("shopify", ImportKind.CUSTOMERS, "Shopify customers export", "csv", is_customers, read_customers),
    Layout("shopify", ImportKind.ORDERS, "Shopify orders export", "csv", is_orders, read_orders),
)
