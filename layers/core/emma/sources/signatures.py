"""Webhook signature checks: HMAC-SHA256 over the raw body, compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac

from emma.errors import InvalidSignature


def _digest(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()


def sign_base64(secret: str, body: bytes) -> str:
    """Shopify and WooCommerce: base64 of HMAC-SHA256(secret, raw body)."""
    return base64.b64encode(_digest(secret, body)).decode("ascii")


def sign_hex(secret: str, body: bytes) -> str:
    """Shopware 6 apps: lowercase hex of HMAC-SHA256(app secret, raw body)."""
    return _digest(secret, body).hex()


def verify_base64(secret: str, body: bytes, signature: str | None, header: str) -> None:
    if not signature:
        raise InvalidSignature(f"missing {header} header")
    if not hmac.compare_digest(sign_base64(secret, body).encode(), signature.strip().encode()):
        raise InvalidSignature(f"{header} does not match the body signed with this shop's secret")


def verify_hex(secret: str, body: bytes, signature: str | None, header: str) -> None:
    if not signature:
        raise InvalidSignature(f"missing {header} header")
    if not hmac.compare_digest(sign_hex(secret, body).encode(), signature.strip().lower().encode()):
        raise InvalidSignature(f"{header} does not match the body signed with this shop's secret")
