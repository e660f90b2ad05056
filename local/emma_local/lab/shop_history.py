"""A generated shop history to import: customers and their orders over three years, as a shop would export
them (the demo's sample in events/imports/, the import benchmark, the scale run).

Customers register over the years; about 60 % subscribe to the newsletter (consent with its proof: the
form, the time, the double opt-in where the shop had one) and a few unsubscribe later. Each customer buys
by a buy-till-you-die process (a personal rate of purchases, a chance to drop out after each purchase), as
real shop customers do: most buy once, some come back for years. A first order is often a device
(smartphone, tablet, watch, headphones), later orders often accessories that fit what they own. Some orders
are guest checkouts (email only), a few are cancelled or partly refunded, some carry a coupon.

Written as Emma's generic customers CSV (emma.imports.formats.generic) and Shopify's orders CSV export (one
row per line item, the order's fields on its first row), the two formats the demo shows.

    python -m emma_local.lab.shop_history --customers 300 --out events/imports
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from emma.events.model import Channel, LineItem
from emma.imports.model import CustomerRecord, ImportedConsent, OrderRecord

ROOT = Path(__file__).resolve().parents[3]
CATALOG = ROOT / "events" / "catalog" / "elektro-emma.csv"
END = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # the sample's export time (fixed: the sample is reproducible)
YEARS = 3
DEVICES = ("smartphones", "tablets", "smartwatches", "headphones")
FIRST = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Jonas", "Katrin", "Leon", "Mia"]
FIRST += ["Noah", "Olivia", "Paul", "Lea", "Lukas", "Sophie", "Tim", "Laura", "Jan", "Marie", "Finn", "Lena"]
LAST = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann"]
LAST += ["Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger"]
CITIES = [("Berlin", "DE"), ("Hamburg", "DE"), ("München", "DE"), ("Köln", "DE"), ("Leipzig", "DE"), ("Wien", "AT")]
CITIES += [("Zürich", "CH"), ("Dresden", "DE"), ("Stuttgart", "DE"), ("Bremen", "DE")]


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    category: str
    brand: str
    price: Decimal
    sku: str
    compatible_with: tuple[str, ...]


def catalog(path: Path = CATALOG) -> list[Product]:
    with open(path, newline="") as f:
        return [
            Product(
                row["product_id"],
                row["name"],
                row["category"],
                row["brand"],
                Decimal(row["price"]),
                row["sku"],
                tuple(p for p in (row.get("compatible_with") or "").split("|") if p),
            )
            for row in csv.DictReader(f)
        ]


def generate(
    customers: int, seed: int = 16, end: datetime = END, dropout: tuple[float, float] = (1.2, 3.0)
) -> tuple[list[CustomerRecord], list[OrderRecord]]:
    """Customers in registration order, orders in time order (as the shops export them: oldest first).
    ``dropout``: the Beta distribution of each customer's chance to stop buying after a purchase (the default
    gives about 2.5 orders per customer; (1.0, 4.6) about 3)."""
    rng = random.Random(seed)
    products = catalog()
    devices = [p for p in products if p.category in DEVICES]
    others = [p for p in products if p.category not in DEVICES]
    start = end - timedelta(days=365 * YEARS)
    people: list[CustomerRecord] = []
    orders: list[OrderRecord] = []
    for i in range(customers):
        created = start + timedelta(seconds=rng.randrange(int((end - start).total_seconds()) - 86_400))
        first, last = rng.choice(FIRST), rng.choice(LAST)
        city, country = rng.choice(CITIES)
        email = f"{_ascii(first)}.{_ascii(last)}.{i}@example.de".lower()
        people.append(
            CustomerRecord(
                line=i + 2,
                customer_id=str(7_100_000 + i),
                email=email,
                first_name=first,
                last_name=last,
                locale="de-AT" if country == "AT" else "de-CH" if country == "CH" else "de-DE",
                country=country,
                city=city,
                created_at=created,
                consents=_consents(rng, created, end),
                tags=("b2b",) if rng.random() < 0.03 else (),
            )
        )
        orders += _orders(rng, i, people[-1], devices, others, end, dropout)
    orders.sort(key=lambda o: o.placed_at)
    return people, orders


def _ascii(name: str) -> str:
    return name.replace("ü", "ue").replace("ö", "oe").replace("ä", "ae").replace("ß", "ss")


def _consents(rng: random.Random, created: datetime, end: datetime) -> tuple[ImportedConsent, ...]:
    if rng.random() >= 0.6:
        return ()
    at = created + timedelta(minutes=rng.randrange(0, 60 * 24 * 14))
    if at >= end:
        return ()
    doi = rng.random() < 0.7
    grant = ImportedConsent(
        channel=Channel.EMAIL,
        granted=True,
        at=at,
        source="elektro-emma:newsletter-form",
        double_opt_in=doi,
        wording="Ja, ich möchte den Newsletter von Elektro Emma erhalten.",
    )
    out = [grant]
    if rng.random() < 0.12:
        later = at + timedelta(days=rng.randrange(10, 700))
        if later < end:
            withdrawn = ImportedConsent(
                channel=Channel.EMAIL, granted=False, at=later, source="elektro-emma:unsubscribe"
            )
            out.append(withdrawn)
    return tuple(out)


def _orders(
    rng: random.Random,
    i: int,
    person: CustomerRecord,
    devices: Sequence[Product],
    others: Sequence[Product],
    end: datetime,
    dropout_beta: tuple[float, float] = (1.2, 3.0),
) -> Iterator[OrderRecord]:
    """Pareto/NBD-like: a personal purchase rate (gamma) and a chance to drop out after each purchase."""
    assert person.created_at is not None
    rate_per_day = rng.gammavariate(0.8, 1 / 0.8) / 140  # mean one purchase in 140 days while alive
    dropout = rng.betavariate(*dropout_beta)
    at = person.created_at + timedelta(days=rng.expovariate(1 / 6))  # most buy soon after registering
    owned: list[Product] = []
    n = 0
    while at < end - timedelta(hours=1):
        basket = _basket(rng, owned, devices, others, first=n == 0)
        owned += basket
        items = tuple(
            LineItem(
                product_id=p.product_id,
                sku=p.sku,
                name=p.name,
                category=p.category,
                brand=p.brand,
                quantity=1,
                price=p.price,
            )
            for p in basket
        )
        subtotal = sum((p.price for p in basket), Decimal(0))
        code = "WILLKOMMEN10" if n == 0 and rng.random() < 0.15 else ("SOMMER15" if rng.random() < 0.05 else None)
        discount = (subtotal * Decimal("0.10")).quantize(Decimal("0.01")) if code else Decimal(0)
        total = subtotal - discount
        roll = rng.random()
        cancelled = at + timedelta(hours=rng.randrange(1, 48)) if roll < 0.03 else None
        refunded = (items[0].price or Decimal(0)) if 0.03 <= roll < 0.06 and len(items) > 1 else None
        yield OrderRecord(
            line=1,  # numbered when written
            order_id=str(5_500_000_000 + i * 100 + n),
            order_number=f"#{10_000 + i * 100 + n}",
            customer_id=None if rng.random() < 0.15 else person.customer_id,  # guest checkouts
            email=person.email,
            placed_at=at,
            currency="EUR",
            total=total,
            subtotal=subtotal,
            discount_total=discount if code else None,
            discount_codes=(code,) if code else (),
            items=items,
            cancelled_at=cancelled if cancelled and cancelled < end else None,
            refunded=refunded,
            first_name=person.first_name,
            last_name=person.last_name,
            country=person.country,
            city=person.city,
        )
        n += 1
        if rng.random() < dropout:
            return
        at += timedelta(days=min(rng.expovariate(rate_per_day), 36_500) + 1)  # a rate near 0: never again


def _basket(
    rng: random.Random, owned: list[Product], devices: Sequence[Product], others: Sequence[Product], first: bool
) -> list[Product]:
    owned_ids = {p.product_id for p in owned}
    fitting = [p for p in others if set(p.compatible_with) & owned_ids and p.product_id not in owned_ids]
    if first or not fitting or rng.random() < 0.3:
        device = rng.choice(devices)
        basket = [device]
        matching = [p for p in others if device.product_id in p.compatible_with]
        if matching and rng.random() < 0.5:
            basket.append(rng.choice(matching))
        return basket
    return rng.sample(fitting, min(len(fitting), rng.choice((1, 1, 2))))


# ---- writers ------------------------------------------------------------------------------------

EMMA_CUSTOMER_COLUMNS = [
    "customer_id",
    "email",
    "first_name",
    "last_name",
    "locale",
    "country",
    "city",
    "created_at",
    "tags",
    "email_consent",
    "email_consent_at",
    "email_consent_source",
    "email_consent_double_opt_in",
]


def write_emma_customers(people: Sequence[CustomerRecord], path: Path) -> None:
    """Emma's generic customers CSV: a customer's latest email consent statement with its proof."""
    with open(path, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(EMMA_CUSTOMER_COLUMNS)
        for p in people:
            consent = p.consents[-1] if p.consents else None
            out.writerow(
                [
                    p.customer_id,
                    p.email,
                    p.first_name,
                    p.last_name,
                    p.locale,
                    p.country,
                    p.city,
                    p.created_at.isoformat() if p.created_at else "",
                    ", ".join(p.tags),
                    "" if consent is None else ("granted" if consent.granted else "denied"),
                    "" if consent is None else consent.at.isoformat(),
                    "" if consent is None else consent.source,
                    "" if consent is None else str(consent.double_opt_in).lower(),
                ]
            )


SHOPIFY_ORDER_COLUMNS = [
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Fulfilled at",
    "Accepts Marketing",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Code",
    "Discount Amount",
    "Shipping Method",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem compare at price",
    "Lineitem sku",
    "Lineitem requires shipping",
    "Lineitem taxable",
    "Lineitem fulfillment status",
    "Billing Name",
    "Billing Street",
    "Billing Address1",
    "Billing Address2",
    "Billing Company",
    "Billing City",
    "Billing Zip",
    "Billing Province",
    "Billing Country",
    "Billing Phone",
    "Shipping Name",
    "Shipping Street",
    "Shipping Address1",
    "Shipping Address2",
    "Shipping Company",
    "Shipping City",
    "Shipping Zip",
    "Shipping Province",
    "Shipping Country",
    "Shipping Phone",
    "Notes",
    "Note Attributes",
    "Cancelled at",
    "Payment Method",
    "Payment Reference",
    "Refunded Amount",
    "Vendor",
    "Outstanding Balance",
    "Employee",
    "Location",
    "Device ID",
    "Id",
    "Tags",
    "Risk Level",
    "Source",
    "Lineitem discount",
    "Tax 1 Name",
    "Tax 1 Value",
    "Tax 2 Name",
    "Tax 2 Value",
    "Tax 3 Name",
    "Tax 3 Value",
    "Tax 4 Name",
    "Tax 4 Value",
    "Tax 5 Name",
    "Tax 5 Value",
    "Phone",
    "Receipt Number",
    "Duties",
    "Billing Province Name",
    "Shipping Province Name",
    "Payment ID",
    "Payment Terms Name",
    "Next Payment Due At",
    "Payment References",
]


def _shopify_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000")


def write_shopify_orders(orders: Sequence[OrderRecord], path: Path) -> None:
    """Shopify's orders CSV export: one row per line item, the order's own fields on its first row only.
    Shopify exports carry no customer id (the order's email names the customer) and no product id (the SKU)."""
    with open(path, "w", newline="", encoding="utf-8-sig") as f:  # Shopify's export starts with a BOM
        out = csv.DictWriter(f, SHOPIFY_ORDER_COLUMNS, lineterminator="\n")
        out.writeheader()
        for order in orders:
            status = "refunded" if order.cancelled_at else "partially_refunded" if order.refunded else "paid"
            for n, item in enumerate(order.items):
                row = {
                    "Name": order.order_number,
                    "Lineitem quantity": item.quantity,
                    "Lineitem name": item.name,
                    "Lineitem price": f"{item.price:.2f}",
                    "Lineitem sku": item.sku,
                    "Lineitem requires shipping": "true",
                    "Lineitem taxable": "true",
                    "Lineitem fulfillment status": "fulfilled",
                    "Vendor": item.brand,
                }
                if n == 0:
                    name = f"{order.first_name} {order.last_name}"
                    row |= {
                        "Email": order.email,
                        "Financial Status": status,
                        "Paid at": _shopify_time(order.placed_at),
                        "Fulfillment Status": "fulfilled",
                        "Accepts Marketing": "no",
                        "Currency": order.currency,
                        "Subtotal": f"{order.subtotal:.2f}",
                        "Shipping": "0.00",
                        "Taxes": f"{(order.total * Decimal(19) / Decimal(119)).quantize(Decimal('0.01'))}",
                        "Total": f"{order.total:.2f}",
                        "Discount Code": ", ".join(order.discount_codes),
                        "Discount Amount": f"{order.discount_total:.2f}" if order.discount_total else "0.00",
                        "Shipping Method": "Standard",
                        "Created at": _shopify_time(order.placed_at),
                        "Billing Name": name,
                        "Billing City": order.city,
                        "Billing Country": order.country,
                        "Shipping Name": name,
                        "Shipping City": order.city,
                        "Shipping Country": order.country,
                        "Cancelled at": _shopify_time(order.cancelled_at) if order.cancelled_at else "",
                        "Payment Method": "Shopify Payments",
                        "Refunded Amount": f"{order.refunded:.2f}" if order.refunded else "0.00",
                        "Outstanding Balance": "0.00",
                        "Id": order.order_id,
                        "Risk Level": "Low",
                        "Source": "web",
                    }
                out.writerow(row)


EMMA_TIME_COLUMNS = ("created_at", "email_consent_at")
SHOPIFY_TIME_COLUMNS = ("Paid at", "Created at", "Cancelled at", "Fulfilled at")


def shift(source: Path, target: Path, by: timedelta) -> None:
    """The sample files (events/imports) with every time moved by ``by``: the same history, exported later
    (the demo moves it so that the export was made on the local clock's day, whenever it runs)."""
    target.mkdir(parents=True, exist_ok=True)
    with open(source / "customers.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(target / "customers.csv", "w", newline="") as f:
        out = csv.DictWriter(f, EMMA_CUSTOMER_COLUMNS, lineterminator="\n")
        out.writeheader()
        for row in rows:
            out.writerow(
                {
                    k: (datetime.fromisoformat(v) + by).isoformat() if k in EMMA_TIME_COLUMNS and v else v
                    for k, v in row.items()
                }
            )
    with open(source / "orders.csv", newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    with open(target / "orders.csv", "w", newline="", encoding="utf-8-sig") as f:
        out = csv.DictWriter(f, SHOPIFY_ORDER_COLUMNS, lineterminator="\n")
        out.writeheader()
        for row in rows:
            out.writerow(
                {
                    k: _shopify_time(datetime.strptime(v, "%Y-%m-%d %H:%M:%S %z") + by)
                    if k in SHOPIFY_TIME_COLUMNS and v
                    else v
                    for k, v in row.items()
                }
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=300)  # the demo's sample
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ROOT / "events" / "imports")
    args = parser.parse_args(argv)
    people, orders = generate(args.customers, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    write_emma_customers(people, args.out / "customers.csv")
    write_shopify_orders(orders, args.out / "orders.csv")
    rows = sum(len(o.items) for o in orders)
    print(f"{len(people):,} customers, {len(orders):,} orders ({rows:,} rows) in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
