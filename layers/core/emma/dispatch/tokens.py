"""Signed tokens and codes derived from the shop's signing secret.

Unsubscribe tokens go into the List-Unsubscribe header and the footer link: they name the shop, the
profile, the channel and the message, are signed with HMAC-SHA256 (truncated to 128 bits) and never
expire (an unsubscribe link must keep working for as long as the email sits in an inbox). Coupon
codes are derived from the message key, so a retried send carries the same code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from emma.errors import EmmaError

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed by people


class InvalidToken(EmmaError):
    status = 400
    code = "invalid_token"


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
        return str(json.loads(_unb64(text.split(".", 1)[0]))[0])
    except (ValueError, IndexError, TypeError) as exc:
        raise InvalidToken("the unsubscribe link is damaged: copy the whole link from the email") from exc


def verify_unsubscribe(secret: str, text: str) -> UnsubscribeToken:
    payload, _, mac = text.partition(".")
    if not mac or not hmac.compare_digest(mac, _mac(secret, payload)):
        raise InvalidToken("the unsubscribe link is not valid: copy the whole link from the email")
    try:
        shop, profile_id, channel, message = json.loads(_unb64(payload))
    except (ValueError, TypeError) as exc:
        raise InvalidToken("the unsubscribe link is damaged") from exc
    return UnsubscribeToken(str(shop), str(profile_id), str(channel), str(message))


def coupon_code(secret: str, shop: str, key: str) -> str:
    """EMMA-XXXX-XXXX, the same for the same message (retries, duplicates), unguessable without the secret."""
    digest = hmac.new(secret.encode(), f"coupon|{shop}|{key}".encode(), hashlib.sha256).digest()
    chars = "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:8])
    return f"EMMA-{chars[:4]}-{chars[4:]}"


def link_code(key: str, url: str) -> str:
    """A short-link code: 12 URL-safe characters, the same for the same message and URL."""
    return _b64(hashlib.sha256(f"{key}|{url}".encode()).digest()[:9])
