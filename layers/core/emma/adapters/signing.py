"""How Emma signs what it POSTs to a shop (message webhooks, privacy notifications). A module of its own: the
privacy adapter (on ingest's path, for suppressions) needs it without the channel adapters' imports."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable


def signed_headers(secret: str, body: bytes, now: Callable[[], float] = time.time) -> dict[str, str]:
    """X-Emma-Timestamp, and X-Emma-Signature: sha256=HMAC(secret, "<timestamp>.<body>")."""
    stamp = str(int(now()))
    signature = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Emma-Timestamp": stamp, "X-Emma-Signature": f"sha256={signature}"}
