"""The console's session: a signed, expiring token in an HttpOnly cookie, never the admin key itself.

    <shop>.<expires (unix seconds)>.<key fingerprint>.<HMAC-SHA256>

The HMAC is keyed with the admin key that signed in, over the first three parts. The server keeps no
session state: every request looks the shop up and checks the HMAC against each of the shop's admin
keys (constant-time comparisons), so rotating or removing the key ends its sessions (within the shop
directory's cache time). The fingerprint (a hash of the key, not the key) only names which key signed;
the token proves nothing without the key. Tokens expire after 8 hours."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta

from emma.errors import ShopNotFound
from emma.shops import ShopConfig, ShopDirectory

COOKIE = "emma_console"
PATH = "/console"
LIFETIME = timedelta(hours=8)
_SHOP = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_MAC_CONTEXT = b"emma-console-session-v1\0"
_FINGERPRINT_CONTEXT = b"emma-console-key-v1\0"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def fingerprint(key: str) -> str:
    """Which admin key signed a token (16 hex digits of a hash of the key)."""
    return hashlib.sha256(_FINGERPRINT_CONTEXT + key.encode("utf-8")).hexdigest()[:16]


def _mac(key: str, payload: str) -> str:
    return _b64(hmac.new(key.encode("utf-8"), _MAC_CONTEXT + payload.encode("utf-8"), hashlib.sha256).digest())


def issue(shop: str, key: str, now: datetime) -> str:
    """A session token for ``shop``, signed with the admin key ``key``, valid for LIFETIME from ``now``."""
    payload = f"{shop}.{int((now + LIFETIME).timestamp())}.{fingerprint(key)}"
    return f"{payload}.{_mac(key, payload)}"


def verify(token: str, shops: ShopDirectory, now: datetime) -> ShopConfig | None:
    """The shop the token was issued for, if it is well formed, unexpired and signed by one of the shop's
    current admin keys; None otherwise. A transient failure to read the shop propagates (503), it does
    not sign anybody out."""
    parts = token.split(".")
    if len(parts) != 4:
        return None
    shop, expires, printed, mac = parts
    if not _SHOP.match(shop) or not expires.isdigit() or len(expires) > 12:
        return None
    remaining = int(expires) - now.timestamp()
    if remaining <= 0 or remaining > LIFETIME.total_seconds() + 300:
        return None
    try:
        config = shops.get(shop)
    except ShopNotFound:
        return None
    payload = f"{shop}.{expires}.{printed}"
    valid = False
    for key in config.admin_keys:  # every key, each compared in constant time
        same_key = hmac.compare_digest(fingerprint(key), printed)
        same_mac = hmac.compare_digest(_mac(key, payload), mac)
        valid |= same_key and same_mac
    return config if valid else None


def read_cookie(cookies: list[str] | None, header: str | None, name: str = COOKIE) -> str | None:
    """The value of cookie ``name``: from API Gateway's ``cookies`` list (payload 2.0 moves the Cookie
    header there) or from a Cookie header (the local runtime keeps it)."""
    pieces = list(cookies or [])
    if header:
        pieces += header.split(";")
    for piece in pieces:
        key, sep, value = piece.strip().partition("=")
        if sep and key.strip() == name:
            return value.strip().strip('"')
    return None
