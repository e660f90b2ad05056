"""Signed tokens and codes derived from the shop's signing secret.

Unsubscribe tokens go into the List-Unsubscribe header and the footer link: they name the shop, the
profile, the channel and the message, are signed with HMAC-SHA256 (truncated to 128 bits) and never
expire (an unsubscribe link must keep working for as long as the email sits in an inbox). Coupon
codes are derived from the message key, so a retried send carries the same code.

Preference-centre, double opt-in confirmation and survey tokens are signed the same way, over their
kind as well (one kind of token never passes for another), name their shop (a token of one shop fails
against another shop's secret and is refused for another shop) and expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from emma.errors import EmmaError

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed by people


class InvalidToken(EmmaError):
    status = 400
    code = "invalid_token"


class ExpiredToken(InvalidToken):
    status = 410
    code = "expired_token"


@dataclass(frozen=True)
class UnsubscribeToken:
    shop: str
    profile_id: str
    channel: str
    message: str  # message_ref of the message it came with


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()[:16])


def message_ref(key: str) -> str:
    """A short, tag-safe id of a message request key (SES tags allow [A-Za-z0-9_.@-] only)."""
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def sign_unsubscribe(secret: str, token: UnsubscribeToken) -> str:
    payload = _b64(json.dumps([token.shop, token.profile_id, token.channel, token.message]).encode())
    return f"{payload}.{_mac(secret, payload)}"


def token_shop(text: str) -> str:
    """The shop a token claims to be from (unverified: to find the secret to verify it with)."""
    try:
        payload = json.loads(_unb64(text.split(".", 1)[0]))
        return str(payload["s"] if isinstance(payload, dict) else payload[0])
    except (ValueError, IndexError, TypeError, KeyError) as exc:
        raise InvalidToken("the link is damaged: copy the whole link from the email") from exc


def verify_unsubscribe(secret: str, text: str) -> UnsubscribeToken:
    payload, _, mac = text.partition(".")
    if not mac or not hmac.compare_digest(mac, _mac(secret, payload)):
        raise InvalidToken("the unsubscribe link is not valid: copy the whole link from the email")
    try:
        shop, profile_id, channel, message = json.loads(_unb64(payload))
    except (ValueError, TypeError) as exc:
        raise InvalidToken("the unsubscribe link is damaged") from exc
    return UnsubscribeToken(str(shop), str(profile_id), str(channel), str(message))


@dataclass(frozen=True)
class PreferenceToken:
    """Opens the customer's preference centre (every marketing message carries one)."""

    shop: str
    profile_id: str
    message: str  # message_ref of the message it came with
    expires: datetime


@dataclass(frozen=True)
class ConfirmToken:
    """Confirms an email grant by double opt-in (the confirmation mail carries one)."""

    shop: str
    profile_id: str
    grant: datetime  # when the grant it confirms began (ConsentState.started): one mail per grant
    wording: str  # the version of the confirmation mail's wording (template, content hash, locale)
    expires: datetime


@dataclass(frozen=True)
class SurveyToken:
    """Answers a survey Emma hosts (/v1/survey): the eleven score links of a survey mail share one."""

    shop: str
    profile_id: str
    message: str  # message_ref of the message it came with
    survey: str  # the survey's id, e.g. "satisfaction"
    locale: str  # the language of the mail, and so of the page
    issued: datetime  # when the message was built: answers since then are answers to this mail
    expires: datetime


def _sign(secret: str, kind: str, fields: dict[str, Any]) -> str:
    payload = _b64(json.dumps({"k": kind, **fields}, separators=(",", ":")).encode())
    return f"{payload}.{_mac(secret, f'{kind}:{payload}')}"


def _verify(secret: str, text: str, kind: str, shop: str, now: datetime) -> dict[str, Any]:
    payload, _, mac = (text or "").partition(".")
    if not mac or not hmac.compare_digest(mac, _mac(secret, f"{kind}:{payload}")):
        raise InvalidToken("the link is not valid: copy the whole link from the email")
    try:
        fields = json.loads(_unb64(payload))
        if not isinstance(fields, dict) or fields.get("k") != kind:
            raise ValueError(kind)
        expires = datetime.fromtimestamp(int(fields["e"]), UTC)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise InvalidToken("the link is damaged") from exc
    if fields.get("s") != shop:
        raise InvalidToken("the link belongs to another shop")
    if now >= expires:
        raise ExpiredToken(f"the link expired on {expires.date().isoformat()}")
    return fields


def sign_preferences(secret: str, token: PreferenceToken) -> str:
    fields = {"s": token.shop, "p": token.profile_id, "m": token.message, "e": int(token.expires.timestamp())}
    return _sign(secret, "pref", fields)


def verify_preferences(secret: str, text: str, shop: str, now: datetime) -> PreferenceToken:
    """The token, if ``secret`` signed it for ``shop`` and it has not expired; else InvalidToken
    (ExpiredToken when only the time is up)."""
    f = _verify(secret, text, "pref", shop, now)
    return PreferenceToken(shop, str(f["p"]), str(f.get("m", "")), datetime.fromtimestamp(int(f["e"]), UTC))


def sign_confirmation(secret: str, token: ConfirmToken) -> str:
    fields = {
        "s": token.shop,
        "p": token.profile_id,
        "g": token.grant.timestamp(),
        "w": token.wording,
        "e": int(token.expires.timestamp()),
    }
    return _sign(secret, "doi", fields)


def verify_confirmation(secret: str, text: str, shop: str, now: datetime) -> ConfirmToken:
    f = _verify(secret, text, "doi", shop, now)
    try:
        grant = datetime.fromtimestamp(float(f["g"]), UTC)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise InvalidToken("the link is damaged") from exc
    return ConfirmToken(shop, str(f["p"]), grant, str(f.get("w", "")), datetime.fromtimestamp(int(f["e"]), UTC))


def sign_survey(secret: str, token: SurveyToken) -> str:
    fields = {
        "s": token.shop,
        "p": token.profile_id,
        "m": token.message,
        "v": token.survey,
        "l": token.locale,
        "i": int(token.issued.timestamp()),
        "e": int(token.expires.timestamp()),
    }
    return _sign(secret, "survey", fields)


def verify_survey(secret: str, text: str, shop: str, now: datetime) -> SurveyToken:
    f = _verify(secret, text, "survey", shop, now)
    try:
        issued = datetime.fromtimestamp(int(f["i"]), UTC)
        survey, locale = str(f["v"]), str(f["l"])
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise InvalidToken("the link is damaged") from exc
    expires = datetime.fromtimestamp(int(f["e"]), UTC)
    return SurveyToken(shop, str(f["p"]), str(f.get("m", "")), survey, locale, issued, expires)


def token_locale(text: str) -> str | None:
    """The locale a token claims, if it names one (unverified: only to choose the language of a page
    that says the link is not valid)."""
    try:
        payload = json.loads(_unb64((text or "").split(".", 1)[0]))
    except ValueError:
        return None
    locale = payload.get("l") if isinstance(payload, dict) else None
    return locale if isinstance(locale, str) else None


def coupon_code(secret: str, shop: str, key: str) -> str:
    """EMMA-XXXX-XXXX, the same for the same message (retries, duplicates), unguessable without the secret."""
    digest = hmac.new(secret.encode(), f"coupon|{shop}|{key}".encode(), hashlib.sha256).digest()
    chars = "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:8])
    return f"EMMA-{chars[:4]}-{chars[4:]}"


def link_code(key: str, url: str) -> str:
    """A short-link code: 12 URL-safe characters, the same for the same message and URL."""
    return _b64(hashlib.sha256(f"{key}|{url}".encode()).digest()[:9])
