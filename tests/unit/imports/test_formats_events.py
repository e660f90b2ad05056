"""Every fixture's records become canonical events that validate (emma.imports.model.events_of)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from emma.events.model import CanonicalEvent, EventType
from emma.imports.formats import ReadOptions, detect, read
from emma.imports.model import ImportKind, LineError, events_of

FIXTURES = Path(__file__).parents[2] / "fixtures" / "imports"
RECEIVED = datetime(2024, 2, 1, tzinfo=UTC)
AS_OF = datetime(2024, 1, 31, tzinfo=UTC)


def events(name: str) -> list[CanonicalEvent]:
    kind = ImportKind.ORDERS if "orders" in name else ImportKind.CUSTOMERS
    path = FIXTURES / name
    fmt = detect(kind, name, path.read_bytes()[:65536])
    out: list[CanonicalEvent] = []
    with path.open("rb") as stream:
        for item in read(kind, name, stream, ReadOptions(consent_as_of=AS_OF, timezone="Europe/Berlin"), fmt):
            if not isinstance(item, LineError):
                out += events_of("elektro-emma", fmt, item, RECEIVED)
    return out


def types(found: list[CanonicalEvent]) -> Counter[str]:
    return Counter(str(event.type) for event in found)


FIXTURE_NAMES = sorted(path.name for path in FIXTURES.iterdir())


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_fixture_becomes_events_that_validate(name):
    found = events(name)
    assert found
    by_id: dict[str, CanonicalEvent] = {}
    for event in found:  # one id, one event (the same consent stated by two orders is one statement)
        assert by_id.setdefault(event.id, event) == event
    assert all(event.source.kind == "import" for event in found)


def test_shopify_orders_become_placed_orders_with_items_coupons_cancellations_refunds_and_consent():
    found = events("shopify-orders.csv")
    assert types(found) == {
        "customer.updated": 4,
        "order.placed": 4,
        "coupon.redeemed": 1,
        "order.cancelled": 1,
        "order.refunded": 2,
        "consent.changed": 2,
    }
    placed = next(e for e in found if e.type == EventType.ORDER_PLACED)
    assert [item.product_id for item in placed.properties.items] == ["FERN-1", "canvas-tote-bag"]
    consent = next(e for e in found if e.type == EventType.CONSENT_CHANGED)
    assert consent.properties.proof.source == "shopify:orders-export" and consent.properties.proof.at == AS_OF
    phone_only = [e for e in found if e.type == EventType.ORDER_PLACED][-1]
    assert phone_only.customer.phone == "+4915112345678"


def test_shopify_customers_consent_events_carry_the_exports_date_as_proof():
    found = events("shopify-customers.csv")
    consents = [e for e in found if e.type == EventType.CONSENT_CHANGED]
    assert [(str(e.properties.channel), e.properties.granted) for e in consents] == [
        ("email", True),
        ("sms", True),
        ("sms", True),
    ]
    assert {e.properties.proof.source for e in consents} == {"shopify:customers-export"}
    invalid = [e for e in found if e.customer.invalid]
    assert [e.customer.invalid[0].value for e in invalid] == ["cleo at example"]


def test_woocommerce_orders_events():
    assert types(events("woocommerce-orders.csv")) == {
        "customer.updated": 3,
        "order.placed": 3,
        "coupon.redeemed": 1,
        "order.cancelled": 1,
        "order.refunded": 1,
    }
    found = events("woocommerce-orders-items-de.csv")
    assert types(found) == {"customer.updated": 2, "order.placed": 2, "order.cancelled": 1}
    assert next(e for e in found if e.type == EventType.ORDER_PLACED).customer.phone == "+4917612345678"


def test_generic_customers_events_registered_with_consent_and_its_proof():
    found = events("emma-customers.jsonl")
    assert types(found) == {"customer.registered": 3, "consent.changed": 2}
    consent = next(e for e in found if e.type == EventType.CONSENT_CHANGED)
    proof = consent.properties.proof
    assert (proof.source, proof.double_opt_in, proof.ip) == ("newsletter-form", True, "203.0.113.7")


def test_the_same_file_read_twice_gives_the_same_event_ids():
    assert [e.id for e in events("emma-orders.csv")] == [e.id for e in events("emma-orders.csv")]
    assert {e.id for e in events("emma-orders.csv")} == {e.id for e in events("emma-orders.json")}
