"""WooCommerce's CSV exports: the Customer / Order / Coupon Export extension's default formats
(customers; orders one row per order with pipe-delimited ``line_items``, or one row per item with
``item_*`` columns) and the Analytics > Customers download. WooCommerce itself exports only products.
Columns and sources: docs/import-formats.md."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from emma.imports.formats.base import CellError, Entry, Item, Layout, ReadContext, grouped
from emma.imports.formats.values import (
    amount,
    build,
    compact,
    currency,
    excel_text,
    ident,
    quantity,
    records,
    required_amount,
    required_time,
    slug,
    split_name,
    timestamp,
)
from emma.imports.model import CustomerRecord, ImportKind, LineError, OrderRecord

# ---- customers (the extension's default customer format) --------------------------------------

CUSTOMER_COLUMNS = {
    "customer_id": "customer_id",
    "email": "email",
    "phone": "billing_phone",
    "first_name": "first_name",
    "last_name": "last_name",
    "country": "billing_country",
    "city": "billing_city",
    "created_at": "date_registered",
}


def is_customers(header: frozenset[str]) -> bool:
    return {"customer_id", "email", "date_registered", "billing_email"} <= header and "order_id" not in header


def read_customers(entries: Iterator[Entry | LineError], ctx: ReadContext) -> Iterator[Item]:
    return records(entries, ctx, CustomerRecord, _customer_fields, CUSTOMER_COLUMNS)


def _customer_fields(entry: Entry, ctx: ReadContext) -> dict[str, Any]:
    customer_id = ident(entry.text("customer_id"))
    email = entry.first("email", "billing_email")
    phone = excel_text(entry.text("billing_phone"))
    if not (customer_id or email or phone):
        raise CellError("customer_id, email and billing_phone are all empty: a customer needs one of them")
    # A guest (customer_id 0) is given its first order's date as date_registered: not a registration.
    registered = entry.text("date_registered") if customer_id else None
    traits = {
        "username": entry.text("user_login"),
        "company": entry.text("billing_company"),
        "postcode": excel_text(entry.text("billing_postcode")),
        "total_spent": entry.text("total_spent"),
        "order_count": entry.text("order_count"),
    }
    return compact(
        {
            "customer_id": customer_id,
            "email": email,
            "phone": phone,
            "first_name": entry.first("first_name", "billing_first_name"),
            "last_name": entry.first("last_name", "billing_last_name"),
            "country": entry.first("billing_country", "shipping_country"),
            "city": entry.first("billing_city", "shipping_city"),
            "created_at": timestamp("date_registered", registered, ctx.zone, ctx.decimal_comma),
            "traits": compact(traits),
        }
    )


# ---- customers (Analytics > Customers > Download) ---------------------------------------------


def is_analytics_customers(header: frozenset[str]) -> bool:
    registered = "date registered" in header or "sign up" in header
    return {"name", "email", "orders", "total spend", "last active"} <= header and registered


def read_analytics_customers(entries: Iterator[Entry | LineError], ctx: ReadContext) -> Iterator[Item]:
    return records(entries, ctx, CustomerRecord, _analytics_fields, CUSTOMER_COLUMNS)


def _analytics_fields(entry: Entry, ctx: ReadContext) -> dict[str, Any]:
    email = entry.text("email")
    if email is None:
        raise CellError("Email is empty: a customer of the Analytics download needs one")
    first_name, last_name = split_name(entry.text("name"))
    registered = entry.first("date registered", "sign up")
    registered = None if registered == "—" else registered  # the table's "no date"
    traits = {
        "username": entry.text("username"),
        "last_active": entry.text("last active"),
        "orders": entry.text("orders"),
        "total_spend": entry.text("total spend"),
        "aov": entry.text("aov"),
        "region": entry.text("region"),
        "postcode": excel_text(entry.text("postal code")),
    }
    return compact(
        {
            "email": email,
            "first_name": first_name,
            "last_name": last_name,
            "country": entry.text("country / region"),
            "city": entry.text("city"),
            "created_at": timestamp("Date registered", registered, ctx.zone, ctx.decimal_comma),
            "traits": compact(traits),
        }
    )


# ---- orders (the extension's default formats) -------------------------------------------------

ORDER_COLUMNS = {
    "order_id": "order_id",
    "order_number": "order_number",
    "customer_id": "customer_id",
    "email": "billing_email",
    "phone": "billing_phone",
    "placed_at": "date",
    "currency": "order_currency",
    "total": "order_total",
    "discount_total": "discount_total",
    "discount_codes": "coupon_items",
    "cancelled_at": "status",
    "refunded": "refunded_total",
    "first_name": "billing_first_name",
    "last_name": "billing_last_name",
    "country": "billing_country",
    "city": "billing_city",
    "items.product_id": "item_product_id",
    "items.sku": "item_sku",
    "items.name": "item_name",
    "items.quantity": "item_quantity",
    "items.price": "item_subtotal",
}
CANCELLED = frozenset({"cancelled", "failed"})
NOT_ORDERS = frozenset({"checkout-draft", "trash"})


def is_orders(header: frozenset[str]) -> bool:
    dated = "date" in header or "order_date" in header
    return {"order_id", "status", "order_total", "billing_email"} <= header and dated


def read_orders(entries: Iterator[Entry | LineError], ctx: ReadContext) -> Iterator[Item]:
    for group in grouped(entries, lambda entry: entry.text("order_id")):
        if isinstance(group, LineError):
            yield group
            continue
        status = (group[0].text("status") or "").lower().removeprefix("wc-")
        if status in NOT_ORDERS:
            yield ctx.error(group[0].line, f"status {status!r}: not an order a customer placed, not imported")
            continue
        yield _order(group, status, ctx)


def _order(rows: list[Entry], status: str, ctx: ReadContext) -> OrderRecord | LineError:
    first = rows[0]
    try:
        fields = _order_fields(first, status, ctx)
        if "line_items" in first.values:
            items = _pipe_items(first, ctx)
        else:
            items = [item for row in rows if (item := _row_item(row, ctx)) is not None]
        fields["items"] = tuple(items)
    except CellError as exc:
        return ctx.error(exc.line or first.line, exc.message)
    return build(OrderRecord, fields, ctx, first.line, ORDER_COLUMNS)


def _order_fields(first: Entry, status: str, ctx: ReadContext) -> dict[str, Any]:
    order_id = first.text("order_id")
    if order_id is None:
        raise CellError("order_id is empty: an order needs its id")
    placed_at = required_time("date", first.first("date", "order_date"), ctx.zone, ctx.decimal_comma)
    total = required_amount("order_total", first.text("order_total"), ctx.decimal_comma)
    refunded = amount("refunded_total", first.text("refunded_total"), ctx.decimal_comma)
    if status == "refunded" and not refunded:
        refunded = total
    return compact(
        {
            "order_id": order_id,
            "order_number": first.first("order_number_formatted", "order_number"),
            "customer_id": ident(first.text("customer_id")),
            "email": first.text("billing_email"),
            "phone": excel_text(first.text("billing_phone")),
            "placed_at": placed_at,
            "currency": currency("order_currency", first.text("order_currency"), ctx.options.currency),
            "total": total,
            "discount_total": amount("discount_total", first.text("discount_total"), ctx.decimal_comma),
            "discount_codes": tuple(_coupon_codes(first.text("coupon_items"))),
            # No cancellation date in the export: a cancelled or failed order ends when it was placed.
            "cancelled_at": placed_at if status in CANCELLED else None,
            "refunded": refunded or None,
            "first_name": first.first("billing_first_name", "shipping_first_name"),
            "last_name": first.first("billing_last_name", "shipping_last_name"),
            "country": first.first("billing_country", "shipping_country"),
            "city": first.first("billing_city", "shipping_city"),
        }
    )


def _row_item(row: Entry, ctx: ReadContext) -> dict[str, Any] | None:
    """An item of the one-row-per-item format (``item_*`` columns)."""
    values = {key.removeprefix("item_"): row.text(key) for key in row.values if key.startswith("item_")}
    if not (values.get("name") or values.get("sku") or ident(values.get("product_id"))):
        return None
    try:
        return _item(values, "item_", ctx)
    except CellError as exc:
        raise CellError(exc.message, row.line) from None


def _item(values: dict[str, str | None], prefix: str, ctx: ReadContext) -> dict[str, Any]:
    sku = excel_text(values.get("sku"))
    sku = None if sku == "unknown_product" else sku  # the extension's SKU for a deleted product
    name = values.get("name")
    count = quantity(f"{prefix}quantity", values.get("quantity"))
    subtotal = amount(f"{prefix}subtotal", values.get("subtotal"), ctx.decimal_comma)
    price = (subtotal / count).quantize(Decimal("0.0001")) if subtotal is not None and count > 0 else None
    product_id = ident(values.get("product_id")) or sku or (slug(name) if name else None)
    if product_id is None:
        raise CellError(f"{prefix}product_id, {prefix}sku and {prefix}name are empty: an item needs one of them")
    return compact({"product_id": product_id, "sku": sku, "name": name, "quantity": count, "price": price})


# ``key:value|key:value`` per item, items separated by ``;``; the extension escapes : | ; with a backslash.
_ITEMS = re.compile(r"(?<!\\);")
_FIELDS = re.compile(r"(?<!\\)\|")
_PAIR = re.compile(r"(?<!\\):")


def pipe_delimited(value: str | None) -> list[dict[str, str]]:
    """The extension's pipe-delimited items (``line_items``, ``coupon_items``) as key -> value."""
    items = []
    for text in _ITEMS.split(value or ""):
        if not text.strip():
            continue
        fields = {}
        for part in _FIELDS.split(text):
            pieces = _PAIR.split(part, maxsplit=1)
            fields[_unescape(pieces[0]).strip()] = _unescape(pieces[1]).strip() if len(pieces) == 2 else ""
        items.append(fields)
    return items


def _unescape(text: str) -> str:
    return text.replace("\\:", ":").replace("\\|", "|").replace("\\;", ";")


def _pipe_items(first: Entry, ctx: ReadContext) -> list[dict[str, Any]]:
    items = []
    for index, values in enumerate(pipe_delimited(first.text("line_items")), start=1):
        try:
            items.append(_item(dict(values), "", ctx))
        except CellError as exc:
            raise CellError(f"line_items, item {index}: {exc.message}") from None
    return items


def _coupon_codes(value: str | None) -> list[str]:
    return [code for item in pipe_delimited(value) if (code := item.get("code"))]


LAYOUTS = (
    Layout(
        "woocommerce",
        ImportKind.CUSTOMERS,
        "WooCommerce Customer / Order / Coupon Export customers (default format)",
        "csv",
        is_customers,
        read_customers,
    ),
    Layout(
        "woocommerce",
        ImportKind.CUSTOMERS,
        "WooCommerce Analytics > Customers download",
        "csv",
        is_analytics_customers,
        read_analytics_customers,
    ),
    Layout(
        "woocommerce",
        ImportKind.ORDERS,
        "WooCommerce Customer / Order / Coupon Export orders (default formats)",
        "csv",
        is_orders,
        read_orders,
    ),
)
