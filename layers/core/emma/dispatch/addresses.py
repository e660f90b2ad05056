"""Address checks before any send: a syntactically deliverable email address, an E.164 phone number."""

from __future__ import annotations

import re

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")


def email_problem(address: str | None) -> str | None:
    """Why ``address`` cannot be mailed, or None (RFC 5321 lengths, dot-atom local part, DNS labels)."""
    if not address:
        return "no email address"
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return f"{address!r} is not an email address"
    if len(address) > 254 or len(local) > 64:
        return f"{address!r} is too long for an email address"
    if not _LOCAL.match(local):
        return f"{address!r}: the part before @ has characters email does not allow"
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or not labels[-1].isalpha():
        return f"{address!r}: {domain!r} is not a valid domain"
    return None


def normalise_phone(raw: str | None) -> str | None:
    """E.164 (+4915112345678) from common spellings (spaces, dashes, brackets, a leading 00), or None."""
    if not raw:
        return None
    digits = re.sub(r"[\s().-]", "", raw)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    return digits if _E164.match(digits) else None
