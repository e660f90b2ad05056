"""Email addresses and phone numbers, checked once and the same way at ingest and at dispatch.

An **email address** is valid when a provider such as SES can deliver to it:

- no control characters (C0, DEL, C1), no line or paragraph separators and no invisible formatting
  or bidi characters (Unicode category Cf: U+202E right-to-left override, U+200B zero-width space,
  U+FEFF, the soft hyphen), and no whitespace inside it;
- exactly one ``@``;
- the local part is an ASCII dot-atom (RFC 5321/5322: letters, digits, ``!#$%&'*+/=?^_`{|}~-`` and
  single dots between them), at most 64 octets. Quoted local parts and non-ASCII local parts
  (SMTPUTF8) are refused: SES delivers neither;
- the domain has at least two labels, each valid under IDNA 2008 (UTS 46 mapping, non-transitional:
  ``straße.de`` stays ``straße.de``, it is not ``strasse.de``), and a top-level label of letters
  (or an internationalised one, ``xn--``): no IP literals;
- the whole address is at most 254 octets in the form sent (RFC 5321's 256-octet path minus the
  angle brackets), measured with the domain as its A-label.

The **stored form** (``check_email(...).address``) is lower case with the domain in Unicode
(U-label): ``Kunde@MÜLLER.de`` and ``kunde@xn--mller-kva.de`` are both ``kunde@müller.de``, so one
mailbox is one identity alias however it was spelled, and the address reads as the customer typed
it. Providers get the ASCII form (``ascii_email``: ``kunde@xn--mller-kva.de``), as SES requires.
At ingest, spaces, tabs and line breaks around the address (form and CSV artefacts) are dropped
before the check; at dispatch nothing is dropped.

A **phone number** is stored in E.164: ``+`` and 8 to 15 digits, the first not 0. Common spellings
are read: spaces, dashes, dots, slashes and brackets between digits, ``00`` for ``+``, and the
German ``+49 (0)151 ...`` (the bracketed trunk 0 is dropped). A number without a country code
(``0151 1234567``) is not E.164: which country it belongs to is not known.

Everything here is pure: the same input always gives the same answer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import idna

MAX_EMAIL_OCTETS = 254
MAX_LOCAL_OCTETS = 64
MAX_SHOWN_CHARS = 256

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_PHONE_SEPARATORS = re.compile(r"[\s().\-/]")
_AROUND = " \t\r\n"  # dropped around an address at ingest (form fields, CSV cells)
# Unicode categories that never belong in an address: controls, formatting (bidi overrides,
# zero-width characters), line/paragraph separators, surrogates, private use, unassigned.
_FORBIDDEN = {"Cc": "a control character", "Cf": "an invisible formatting character", "Zl": "a line separator"}
_FORBIDDEN |= {"Zp": "a paragraph separator", "Cs": "a lone surrogate", "Co": "a private-use character"}
_FORBIDDEN |= {"Cn": "an unassigned character"}


@dataclass(frozen=True)
class Checked:
    """The result of a check: the address in its stored form, or the reason it is not valid."""

    address: str | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _invalid(problem: str) -> Checked:
    return Checked(None, problem)


_CONTROL_NAMES = {0: "NUL", 9: "tab", 10: "line feed", 13: "carriage return", 0x7F: "delete"}


def _char_name(char: str) -> str:
    name = _CONTROL_NAMES.get(ord(char)) or unicodedata.name(char, "").lower()
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def _forbidden_char(value: str) -> str | None:
    for position, char in enumerate(value):
        what = _FORBIDDEN.get(unicodedata.category(char))
        if what is not None:
            return f"contains {what} ({_char_name(char)}) at position {position}"
    return None


def shown(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """``value`` as text that is safe to store and show: control, formatting and other invisible
    characters escaped (``\\n``, ``\\u202e``), cut after ``limit`` characters."""
    text = value if isinstance(value, str) else repr(value)
    out = []
    for char in text[: limit + 1]:
        if unicodedata.category(char) in _FORBIDDEN or char == "\\":
            out.append(char.encode("unicode_escape").decode("ascii") if char != "\\" else "\\\\")
        else:
            out.append(char)
    result = "".join(out)
    return result[:limit] + "…" if len(text) > limit else result


def _domain(domain: str) -> tuple[str, str] | str:
    """(U-label form, A-label form) of a domain, or the problem with it."""
    labels = domain.lower().split(".")
    if not all(labels):
        return "the domain has an empty label (a dot at either end, or two in a row)"
    if domain.isascii() and all(_LDH_LABEL.fullmatch(label) and label[2:4] != "--" for label in labels):
        unicode_form = ascii_form = ".".join(labels)  # the common case, without the IDNA tables
    else:
        try:
            ascii_form = idna.encode(domain, uts46=True, std3_rules=True, transitional=False).decode("ascii")
            unicode_form = idna.decode(ascii_form)
        except (idna.IDNAError, UnicodeError) as exc:
            return f"the domain is not a valid domain name ({exc})"
        labels = ascii_form.split(".")
    if len(labels) < 2:
        return "the domain has no top-level domain (a dot is missing)"
    top = labels[-1]
    if top.isdigit():
        return "the domain is a number, not a name (IP addresses are not accepted)"
    if not (top.startswith("xn--") or (top.isalpha() and len(top) >= 2)):
        return f"the top-level domain {top!r} does not exist (they are letters only)"
    return unicode_form, ascii_form


def check_email(raw: object, *, strip: bool = True) -> Checked:
    """The stored form of an email address, or why it is not valid (see the module's rules).
    ``strip`` drops spaces, tabs and line breaks around it (ingest); dispatch checks as stored."""
    if not isinstance(raw, str):
        return _invalid(f"expected text, got {type(raw).__name__}")
    value = raw.strip(_AROUND) if strip else raw
    if not value:
        return _invalid("empty")
    problem = _forbidden_char(value)
    if problem:
        return _invalid(problem)
    if any(char.isspace() for char in value):
        return _invalid("contains a space")
    ats = value.count("@")
    if ats != 1:
        return _invalid("is not an email address: it has no @" if ats == 0 else f"has {ats} @ (exactly one is allowed)")
    local, _, domain = value.partition("@")
    if not local:
        return _invalid("nothing before the @")
    if not domain:
        return _invalid("nothing after the @")
    if not local.isascii():
        return _invalid("the part before the @ has non-ASCII characters (SMTPUTF8 addresses cannot be sent)")
    if len(local) > MAX_LOCAL_OCTETS:
        return _invalid(f"the part before the @ is {len(local)} octets long (at most {MAX_LOCAL_OCTETS})")
    if not _DOT_ATOM.fullmatch(local):
        return _invalid(
            "the part before the @ has characters or dots email does not allow (a dot at either end, two "
            "dots in a row, quotes, brackets, commas, semicolons)"
        )
    forms = _domain(domain)
    if isinstance(forms, str):
        return _invalid(forms)
    unicode_domain, ascii_domain = forms
    local = local.lower()
    octets = len(local) + 1 + len(ascii_domain)
    stored = f"{local}@{unicode_domain}"
    if octets > MAX_EMAIL_OCTETS or len(stored.encode("utf-8")) > MAX_EMAIL_OCTETS:
        return _invalid(f"the address is {max(octets, len(stored.encode()))} octets long (at most {MAX_EMAIL_OCTETS})")
    return Checked(stored)


def email_problem(address: str | None) -> str | None:
    """Why ``address`` cannot be mailed, or None. Strict: nothing around it is dropped."""
    if not address:
        return "no email address"
    checked = check_email(address, strip=False)
    return None if checked.ok else f"the email address is not valid: {checked.problem}"


def ascii_email(address: str) -> str:
    """The form a provider gets: the domain as its IDNA A-label (``kunde@xn--mller-kva.de``).
    ``address`` must be valid (``email_problem`` is None)."""
    local, _, domain = address.partition("@")
    forms = _domain(domain)
    if isinstance(forms, str):
        raise ValueError(forms)
    return f"{local.lower()}@{forms[1]}"


def check_phone(raw: object) -> Checked:
    """The E.164 form of a phone number, or why it is not one."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return _invalid(f"expected text, got {type(raw).__name__}")
    value = str(raw).strip(_AROUND)
    if not value:
        return _invalid("empty")
    problem = _forbidden_char(value)
    if problem:
        return _invalid(problem)
    if value.startswith("00"):
        value = "+" + value[2:]
    if value.startswith("+"):
        value = value.replace("(0)", "", 1)  # +49 (0)151 ...: the trunk 0 is dialled only at home
    compact = _PHONE_SEPARATORS.sub("", value)
    digits = compact.removeprefix("+")
    if not (digits.isdigit() and digits.isascii()):
        return _invalid("is not a phone number (only digits, +, spaces, dashes, dots, slashes and brackets)")
    if not compact.startswith("+"):
        return _invalid("has no country code (write it as +49 151 ...): not E.164")
    if not _E164.fullmatch(compact):
        return _invalid("is not E.164: + and 8 to 15 digits, the first not 0")
    return Checked(compact)


def normalise_phone(raw: str | None) -> str | None:
    """E.164 (+4915112345678) from common spellings, or None."""
    return check_phone(raw).address if raw else None
