"""Emma's own import format, for any shop system: the same field names in CSV, a JSON array or JSON
Lines. Customers carry their consent with its proof; orders carry their items (in CSV one row per item,
``item_*`` columns, the rows of an order one after the other). The format: docs/import-formats.md."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from emma.events.model import Channel
from emma.imports.formats.base import CellError, Entry, Item, Layout, ReadContext, cleaned, grouped
from emma.imports.formats.values import (
    amount,
    build,
    compact,
    currency,
    listed,
    quantity,
    quoted,
    records,
    required_amount,
    required_time,
    timestamp,
    yes_no,
)
from emma.imports.model import CustomerRecord, ImportKind, LineError, OrderRecord

CONSENT_CHANNELS = (Channel.EMAIL, Channel.SMS)
CONSENT_FIELDS = ("", "_at", "_source", "_double_opt_in", "_ip", "_wording")
CUSTOMER_FIELDS = frozenset(
    {"customer_id", "email", "phone", "first_name", "last_name", "locale", "country", "city", "created_at", "tags"}
    | {f"{channel}_consent{suffix}" for channel in CONSENT_CHANNELS for suffix in CONSENT_FIELDS}
)
ITEM_FIELDS = ("product_id", "variant_id", "sku", "name", "category", "brand", "quantity", "price")
COLUMNS = {
    **{name: name for name in CUSTOMER_FIELDS},
    **{f"items.{name}": f"item_{name}" for name in ITEM_FIELDS},
    **{f"consents.{name}": f"consent_{name}" for name in ("at", "source", "ip", "wording")},
}
_GRANTED = {"granted": True, "denied": False}


# ---- consent ----------------------------------------------------------------------------------


def consents(entry: Entry, ctx: ReadContext) -> list[dict[str, Any]]:
    """``email_consent`` (granted / denied) with its proof: ``email_consent_at`` and
    ``email_consent_source`` required, ``_double_opt_in``, ``_ip``, ``_wording`` optional; same for sms."""
    found = []
    for channel in CONSENT_CHANNELS:
        name = f"{channel}_consent"
        value = entry.raw(name)
        if value is None:
            continue
        granted = _GRANTED.get(value.lower()) if isinstance(value, str) else None
        if granted is None:
            try:
                granted = yes_no(name, value)
            except CellError:
                raise CellError(f"{name} {quoted(value)} is neither granted nor denied") from None
        at = timestamp(f"{name}_at", entry.raw(f"{name}_at"), ctx.zone, ctx.decimal_comma)
        source = entry.text(f"{name}_source")
        if at is None or source is None:
            raise CellError(f"{name} needs {name}_at and {name}_source (the proof)")
        found.append(
            compact(
                {
                    "channel": channel,
                    "granted": granted,
                    "at": at,
                    "source": source,
                    "double_opt_in": yes_no(f"{name}_double_opt_in", entry.raw(f"{name}_double_opt_in")),
                    "ip": entry.text(f"{name}_ip"),
                    "wording": entry.text(f"{name}_wording"),
                }
            )
        )
    return found


# ---- customers --------------------------------------------------------------------------------


def is_customers(header: frozenset[str]) -> bool:
    return bool(header & {"customer_id", "email", "phone"}) and "order_id" not in header


def read_customers(entries: Iterator[Entry | LineError], ctx: ReadContext) -> Iterator[Item]:
    return records(entries, ctx, CustomerRecord, _customer_fields, COLUMNS)


def _customer_fields(entry: Entry, ctx: ReadContext) -> dict[str, Any]:
    customer_id, email, phone = entry.text("customer_id"), entry.text("email"), entry.text("phone")
    if not (customer_id or email or phone):
        raise CellError("customer_id, email and phone are all empty: a customer needs one of them")
    traits = {name: _trait(value) for name, value in entry.values.items() if name not in CUSTOMER_FIELDS}
    return compact(
        {
            "customer_id": customer_id,
            "email": email,
            "phone": phone,
            "first_name": entry.text("first_name"),
            "last_name": entry.text("last_name"),
            "locale": entry.text("locale"),
            "country": entry.text("country"),
            "city": entry.text("city"),
            "created_at": timestamp("created_at", entry.raw("created_at"), ctx.zone, ctx.decimal_comma),
            "tags": listed("tags", entry.raw("tags")),
            "consents": consents(entry, ctx),
            "traits": compact(traits),
        }
    )


def _trait(value: object) -> object:
    """A trait kept as given; a JSON number as a number (int, or float for a fraction), text trimmed."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


# ---- orders -----------------------------------------------------------------------------------


def is_orders(header: frozenset[str]) -> bool:
    return {"order_id", "placed_at", "total"} <= header


def read_orders_csv(entries: Iterator[Entry | LineError], ctx: ReadContext) -> Iterator[Item]:
    """CSV: an order's rows one after the other (same order_id), one item per row."""
    for group in grouped(entries, lambda entry: entry.text("order_id")):
        if isinstance(group, LineError):
            yield group
            continue
        yield _order(group[0], group, "item_", ctx)


def read_orders_json(entries: Iterator[Entry | LineError], ctx: ReadContext) -> Iterator[Item]:
    """JSON: one object per order, its items a list of objects (the names without ``item_``)."""
    for entry in entries:
        if isinstance(entry, LineError):
            yield entry
            continue
        try:
            items = _json_items(entry)
        except CellError as exc:
            yield ctx.error(entry.line, exc.message)
            continue
        yield _order(entry, items, "", ctx)


def _json_items(entry: Entry) -> list[Entry]:
    value = entry.values.get("items")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise CellError("items: expected a list of objects")
    return [Entry(line=entry.line, values=cleaned(item)) for item in value]


def _order(first: Entry, items: list[Entry], prefix: str, ctx: ReadContext) -> OrderRecord | LineError:
    try:
        fields = _order_fields(first, ctx)
        fields["items"] = tuple(item for row in items if (item := _item(row, prefix, ctx)) is not None)
    except CellError as exc:
        return ctx.error(exc.line or first.line, exc.message)
    return build(OrderRecord, fields, ctx, first.line, COLUMNS)


def _order_fields(first: Entry, ctx: ReadContext) -> dict[str, Any]:
    order_id = first.text("order_id")
    if order_id is None:
        raise CellError("order_id is empty: an order needs its id")
    decimal_comma = ctx.decimal_comma
    return compact(
        {
            "order_id": order_id,
            "order_number": first.text("order_number"),
            "customer_id": first.text("customer_id"),
            "email": first.text("email"),
            "phone": first.text("phone"),
            "placed_at": required_time("placed_at", first.raw("placed_at"), ctx.zone, ctx.decimal_comma),
            "currency": currency("currency", first.text("currency"), ctx.options.currency),
            "total": required_amount("total", first.raw("total"), decimal_comma),
            "subtotal": amount("subtotal", first.raw("subtotal"), decimal_comma),
            "discount_total": amount("discount_total", first.raw("discount_total"), decimal_comma),
            "discount_codes": listed("discount_codes", first.raw("discount_codes")),
            "cancelled_at": timestamp("cancelled_at", first.raw("cancelled_at"), ctx.zone, ctx.decimal_comma),
            "refunded": amount("refunded", first.raw("refunded"), decimal_comma),
            "refunded_at": timestamp("refunded_at", first.raw("refunded_at"), ctx.zone, ctx.decimal_comma),
            "test": yes_no("test", first.raw("test")),
            "first_name": first.text("first_name"),
            "last_name": first.text("last_name"),
            "country": first.text("country"),
            "city": first.text("city"),
            "consents": consents(first, ctx),
        }
    )


def _item(row: Entry, prefix: str, ctx: ReadContext) -> dict[str, Any] | None:
    values = {name: row.raw(prefix + name) for name in ITEM_FIELDS}
    if all(value is None for value in values.values()):
        return None
    try:
        product_id = row.text(prefix + "product_id") or row.text(prefix + "sku")
        if product_id is None:
            raise CellError(f"{prefix}product_id is empty (and no {prefix}sku): an item needs its product")
        return compact(
            {
                "product_id": product_id,
                "variant_id": row.text(prefix + "variant_id"),
                "sku": row.text(prefix + "sku"),
                "name": row.text(prefix + "name"),
                "category": row.text(prefix + "category"),
                "brand": row.text(prefix + "brand"),
                "quantity": quantity(prefix + "quantity", values["quantity"]),
                "price": amount(prefix + "price", values["price"], ctx.decimal_comma),
            }
        )
    except CellError as exc:
        raise CellError(exc.message, row.line) from None


LAYOUTS = (
    Layout("emma", ImportKind.CUSTOMERS, "Emma customers (CSV)", "csv", is_customers, read_customers),
    Layout("emma", ImportKind.ORDERS, "Emma orders (CSV)", "csv", is_orders, read_orders_csv),
    # JSON: the first object's keys tell orders (order_id) from customers; orders are tried first.
    Layout("emma", ImportKind.ORDERS, "Emma orders (JSON)", "json", lambda keys: "order_id" in keys, read_orders_json),
    Layout("emma", ImportKind.CUSTOMERS, "Emma customers (JSON)", "json", lambda keys: True, read_customers),
)
