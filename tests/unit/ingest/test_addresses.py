"""Invalid addresses at ingest: the event is stored, the address is kept on the profile as invalid
with the reason, and it never becomes the profile's email, phone or an identity alias (issue 12)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from emma.errors import ProfileNotFound
from emma.ingest.ports import AliasKey
from emma.ingest.service import IngestService
from emma.sources import shopify
from emma_local.fakes import FixedClock, InMemoryCatalog, InMemoryProfileRepository, InMemoryPublisher
from factories import T0, event

SHOPIFY = Path(__file__).parents[3] / "events" / "shopify"


@pytest.fixture
def repo():
    return InMemoryProfileRepository()


@pytest.fixture
def service(repo):
    return IngestService(repo, InMemoryCatalog(repo), InMemoryPublisher(), FixedClock(T0), sleep=lambda s: None)


INVALID = [
    ("abc\n@example.de", "abc\\n@example.de", "line feed"),
    ("abc\x00@example.de", "abc\\x00@example.de", "NUL"),
    ("abc\t@example.de", "abc\\t@example.de", "tab"),
    ("abc\u202e@example.de", "abc\\u202e@example.de", "right-to-left override"),
    ("a@b@c.de", "a@b@c.de", "has 2 @"),
    ("l" * 65 + "@example.de", "l" * 65 + "@example.de", "65 octets"),
    ("l" * 64 + "@" + ".".join(["d" * 63, "d" * 63, "d" * 59]) + ".de", None, "255 octets"),
]


@pytest.mark.parametrize(("address", "shown", "reason"), INVALID)
def test_an_invalid_email_is_stored_as_invalid_never_as_the_email_nor_an_alias(service, repo, address, shown, reason):
    report = service.ingest(
        [event("customer.registered", customer={"customer_id": "c-1", "email": address}, first_name="Lena")]
    )
    assert len(report.accepted) == 1  # stored, not refused
    lena = service.resolve("elektro-emma", "cid:c-1")
    assert lena.emails == [] and lena.email is None and lena.traits["first_name"].value == "Lena"
    (invalid,) = lena.invalid_addresses
    assert invalid.kind == "email" and reason in invalid.reason
    assert invalid.value == (shown or address) and invalid.source == "tracker:customer.registered"
    assert invalid.first_seen_at == invalid.last_seen_at == T0
    assert [key.kind for (_, key) in repo.aliases] == ["cid"]  # no email alias
    with pytest.raises(ProfileNotFound):
        service.resolve("elektro-emma", f"email:{address}")
    assert lena.view()["invalid_addresses"][0]["reason"] == invalid.reason


def test_an_invalid_address_cannot_merge_two_customers(service, repo):
    """Placeholders such as "none@none" fail the check: were they identities, they would merge
    strangers. Two customers sending the same invalid value stay two profiles."""
    for cid in ("c-1", "c-2"):
        service.ingest([event("customer.registered", customer={"customer_id": cid, "email": "keine@@angabe.de"})])
    assert (
        service.resolve("elektro-emma", "cid:c-1").profile_id != service.resolve("elektro-emma", "cid:c-2").profile_id
    )


def test_the_same_invalid_address_again_updates_when_and_where_it_was_seen(service):
    refs = {"customer_id": "c-1", "email": "a@b@c.de"}
    service.ingest([event("customer.registered", customer=refs)])
    service.ingest([event("customer.updated", customer=refs, minutes=30, source="shopify")])
    (invalid,) = service.resolve("elektro-emma", "cid:c-1").invalid_addresses
    assert invalid.first_seen_at == T0 and invalid.last_seen_at.minute == 30
    assert invalid.source == "shopify:customer.updated"


def test_a_valid_address_later_becomes_the_email_and_the_invalid_one_stays_on_record(service):
    service.ingest([event("customer.registered", customer={"customer_id": "c-1", "email": "lena\n@example.de"})])
    service.ingest([event("customer.updated", customer={"customer_id": "c-1", "email": "lena@example.de"})])
    lena = service.resolve("elektro-emma", "lena@example.de")
    assert lena.email == "lena@example.de" and len(lena.invalid_addresses) == 1


def test_an_event_whose_only_reference_is_an_invalid_address_is_skipped_not_refused(service, repo):
    report = service.ingest([event("order.placed", customer={"email": "a@b@c.de"}, source="shopify", **_order())])
    assert report.skipped and not report.accepted and not repo.profiles


def test_an_internationalised_domain_is_one_identity_however_it_is_spelled(service):
    service.ingest([event("customer.registered", customer={"customer_id": "c-1", "email": "Kunde@MÜLLER.de"})])
    service.ingest([event("email.opened", customer={"email": "kunde@xn--mller-kva.de"}, source="ses")])
    kunde = service.resolve("elektro-emma", "kunde@müller.de")
    assert kunde.emails == ["kunde@müller.de"] and kunde.customer_id == "c-1"
    assert kunde.event_counts["email.opened"] == 1  # the A-label spelling found the same profile
    assert service.resolve("elektro-emma", "email:kunde@xn--mller-kva.de").profile_id == kunde.profile_id


@pytest.mark.parametrize(
    "spelled", ["+49 151 1234567", "0049 151 1234567", "+49 (0)151 1234567", "0049 (151) 123-4567"]
)
def test_phone_numbers_are_stored_in_e164(service, spelled):
    service.ingest([event("customer.registered", customer={"customer_id": "c-1", "phone": spelled}, phone=spelled)])
    lena = service.resolve("elektro-emma", "cid:c-1")
    assert lena.phones == ["+491511234567"] and not lena.invalid_addresses
    assert lena.traits["phone"].value == spelled  # the trait keeps what the customer wrote


def test_an_invalid_phone_number_is_stored_as_invalid(service):
    service.ingest([event("customer.registered", customer={"customer_id": "c-1"}, phone="0151 1234567")])
    lena = service.resolve("elektro-emma", "cid:c-1")
    assert lena.phones == []
    assert [(a.kind, a.value) for a in lena.invalid_addresses] == [("phone", "0151 1234567")]
    assert "country code" in lena.invalid_addresses[0].reason


def test_a_shopify_order_with_a_newline_in_the_email_is_stored_with_the_reason(service, repo):
    payload = json.loads((SHOPIFY / "orders_create.json").read_text(encoding="utf-8"))
    payload["email"] = payload["contact_email"] = "abc\n@example.de"
    payload["customer"]["email"] = "abc\n@example.de"
    events = shopify.map_delivery("elektro-emma", "orders/create", "wh-1", payload, datetime(2025, 1, 15, tzinfo=UTC))
    report = service.ingest(events)
    assert len(report.accepted) == len(events)
    lena = service.resolve("elektro-emma", "cid:7008001")
    assert lena.orders.count == 1 and lena.emails == []
    assert {(a.value, a.source) for a in lena.invalid_addresses} == {("abc\\n@example.de", "shopify:orders/create")}
    assert AliasKey("email", "abc\n@example.de") not in {key for (_, key) in repo.aliases}


def _order() -> dict:
    return {"order_id": "o-1", "total": "10.00", "currency": "EUR"}
