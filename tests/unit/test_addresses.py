"""The one address module ingest and dispatch share (emma.addresses)."""

import pytest

from emma.addresses import ascii_email, check_email, check_phone, email_problem, normalise_phone, shown

# 64 + 1 + 189 = 254 octets: the longest address RFC 5321 allows; one more octet is too long.
LONGEST = "l" * 64 + "@" + ".".join(["d" * 63, "d" * 63, "d" * 58]) + ".de"
TOO_LONG = "l" * 64 + "@" + ".".join(["d" * 63, "d" * 63, "d" * 59]) + ".de"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("abc\n@example.de", "control character (U+000A line feed) at position 3"),
        ("abc\x00@example.de", "control character (U+0000 NUL)"),
        ("abc\t@example.de", "control character (U+0009 tab)"),
        ("abc\x7f@example.de", "control character (U+007F delete)"),
        ("abc\x85@example.de", "control character (U+0085"),  # C1
        ("abc\u202e@example.de", "invisible formatting character (U+202E right-to-left override)"),
        ("ab\u200bc@example.de", "invisible formatting character (U+200B zero width space)"),
        ("kunde@exa\u200bmple.de", "U+200B"),  # IDNA would silently drop it: refused before
        ("abc\u2028@example.de", "line separator"),
        ("a@b@c.de", "has 2 @"),
        ("kunde.example.de", "no @"),
        ("@example.de", "nothing before the @"),
        ("kunde@", "nothing after the @"),
        ("an na@example.de", "contains a space"),
        ("anna\u00a0@example.de", "contains a space"),
        ("l" * 65 + "@example.de", "65 octets long (at most 64)"),
        (TOO_LONG, "255 octets long (at most 254)"),
        ("first..last@example.de", "dots"),
        (".anna@example.de", "dots"),
        ('"anna"@example.de', "characters"),
        ("jörg@example.de", "non-ASCII"),
        ("anna@localhost", "no top-level domain"),
        ("anna@192.168.0.1", "a number"),
        ("anna@example.d3", "top-level domain 'd3'"),
        ("anna@example.de.", "empty label"),
        ("anna@exa_mple.de", "not a valid domain name"),
        ("anna@-example.de", "not a valid domain name"),
        ("anna@ab--cd.de", "not a valid domain name"),
        ("anna@" + "d" * 64 + ".de", "not a valid domain name"),
        ("anna@☃.net", "not a valid domain name"),
        (42, "expected text, got int"),
        ("   ", "empty"),
    ],
)
def test_invalid_email_addresses_say_why(address, reason):
    checked = check_email(address)
    assert not checked.ok and checked.address is None
    assert reason in checked.problem
    assert email_problem(address if isinstance(address, str) else str(address))


@pytest.mark.parametrize(
    ("address", "stored", "sent"),
    [
        ("Lena.Schmidt@Example.DE", "lena.schmidt@example.de", "lena.schmidt@example.de"),
        ("kunde@müller.de", "kunde@müller.de", "kunde@xn--mller-kva.de"),
        ("Kunde@MÜLLER.de", "kunde@müller.de", "kunde@xn--mller-kva.de"),
        ("kunde@xn--mller-kva.de", "kunde@müller.de", "kunde@xn--mller-kva.de"),
        ("info@straße.de", "info@straße.de", "info@xn--strae-oqa.de"),  # IDNA 2008: not strasse.de
        ("o'brien+news@mail.example.co.uk", "o'brien+news@mail.example.co.uk", "o'brien+news@mail.example.co.uk"),
        (LONGEST, LONGEST, LONGEST),
    ],
)
def test_valid_addresses_are_stored_with_the_unicode_domain_and_sent_with_the_a_label(address, stored, sent):
    checked = check_email(address)
    assert checked.ok and checked.address == stored
    assert email_problem(stored) is None
    assert ascii_email(stored) == sent


def test_ingest_drops_whitespace_around_an_address_dispatch_does_not():
    assert check_email(" lena@example.de\r\n").address == "lena@example.de"
    assert "line feed" in email_problem("lena@example.de\n")  # the `$` of the old regex let this through
    assert email_problem(None) == "no email address"


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+49 151 1234567", "+491511234567"),
        ("0049 151 1234567", "+491511234567"),
        ("0049 (151) 123-4567", "+491511234567"),
        ("+49 (0)151 1234567", "+491511234567"),
        ("+49 (0) 151/123 45 67", "+491511234567"),
        ("+49.151.1234567", "+491511234567"),
        ("+1 (415) 555-0100", "+14155550100"),
        (" +491511234567\n", "+491511234567"),
    ],
)
def test_phone_numbers_in_common_spellings_become_e164(raw, e164):
    assert check_phone(raw).address == e164
    assert normalise_phone(raw) == e164


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("0151 1234567", "no country code"),
        (491511234567, "no country code"),
        ("+49 151 1234567 ext 5", "not a phone number"),
        ("+0151234567", "not E.164"),
        ("+49 151", "not E.164"),
        ("+49 151 1234567 1234567", "not E.164"),  # 16 digits
        ("+49\u202e1511234567", "U+202E"),
        ("+49\n1511234567", "line feed"),
        (True, "expected text"),
    ],
)
def test_invalid_phone_numbers_say_why(raw, reason):
    checked = check_phone(raw)
    assert checked.address is None and reason in checked.problem


def test_shown_escapes_what_cannot_be_shown_and_cuts():
    assert shown("abc\n@example.de") == "abc\\n@example.de"
    assert shown("abc\u202e@x.de") == "abc\\u202e@x.de"
    assert shown("a\\b") == "a\\\\b"  # an escape in the value cannot pass for an escaped character
    assert shown("x" * 300) == "x" * 256 + "…"
    assert shown(42) == "42"
