"""The requests the benchmarks send, built from the samples in events/ with fresh identities.

Each request gets its own delivery / message ids AND its own customer (customer id, email, cart
token, anonymous id), so every request takes the "new event, new customer" path unless a case
deliberately repeats one. Values are replaced wherever they occur in the payload (a walk over the
parsed JSON), so the samples can change shape without breaking the benchmark.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emma.sources.signatures import sign_base64

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
SHOP = "elektro-emma"  # config/emma.local.example.toml
SHOPIFY_SECRET = "shpss_local_elektro_emma"
WRITE_KEY = "wk_local_elektro_emma"
WEBHOOK_PATH = f"/webhooks/shopify/{SHOP}"
BATCH_PATH = "/v1/batch"


@dataclass(frozen=True)
class Request:
    """One HTTP request: what the benchmark sends, in-process or over HTTP."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def _replace(value: Any, mapping: dict[Any, Any]) -> Any:
    """Replace every scalar equal to a key of ``mapping`` (compared with its type) in nested JSON."""
    if isinstance(value, dict):
        return {k: _replace(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, mapping) for v in value]
    if isinstance(value, str | int) and not isinstance(value, bool):
        return mapping.get((type(value), value), value)
    return value


def _key(value: Any) -> tuple[type, Any]:
    return (type(value), value)


class ShopifyOrders:
    """orders/create webhooks for Shopify, each a distinct delivery by a distinct new customer."""

    topic = "orders/create"

    def __init__(self, sample: Path = EVENTS / "shopify" / "orders_create.json") -> None:
        self.sample = json.loads(sample.read_text(encoding="utf-8"))
        customer = self.sample.get("customer") or {}
        self._customer_id = customer.get("id")
        emails = (self.sample.get("email"), self.sample.get("contact_email"), customer.get("email"))
        self._emails = {e for e in emails if e}
        self._cart = self.sample.get("cart_token")
        self._checkout = self.sample.get("checkout_token")
        self._order_id = self.sample.get("id")

    def request(self, tag: str, n: int, delivery_id: str | None = None) -> Request:
        mapping: dict[Any, Any] = {}
        if isinstance(self._customer_id, int):
            mapping[_key(self._customer_id)] = 900_000_000 + n
        for email in self._emails:
            mapping[_key(email)] = f"bench-{tag}-{n}@example.de"
        if self._cart:
            mapping[_key(self._cart)] = f"{tag}cart{n:024d}"
        if self._checkout:
            mapping[_key(self._checkout)] = f"{tag}chk{n:024d}"
        if isinstance(self._order_id, int):
            mapping[_key(self._order_id)] = 800_000_000 + n
        body = json.dumps(_replace(self.sample, mapping), ensure_ascii=False).encode()
        headers = {
            "content-type": "application/json",
            "x-shopify-topic": self.topic,
            "x-shopify-webhook-id": delivery_id or f"bench-{tag}-{n}",
            "x-shopify-hmac-sha256": sign_base64(SHOPIFY_SECRET, body),
        }
        return Request("POST", WEBHOOK_PATH, headers, body)


class TrackerBatches:
    """Segment /v1/batch calls: the sample session with fresh message ids and a fresh visitor."""

    def __init__(self, sample: Path = EVENTS / "tracker" / "batch_session.json") -> None:
        self.sample = json.loads(sample.read_text(encoding="utf-8"))
        calls = self.sample.get("batch") or []
        self.calls = len(calls)
        self._message_ids = {c["messageId"] for c in calls if isinstance(c.get("messageId"), str)}
        self._anonymous_ids = {c["anonymousId"] for c in calls if isinstance(c.get("anonymousId"), str)}
        self._user_ids = {c["userId"] for c in calls if c.get("userId") is not None}
        emails: set[str] = set()
        for call in calls:
            for traits in (call.get("traits"), (call.get("context") or {}).get("traits")):
                if isinstance(traits, dict) and isinstance(traits.get("email"), str):
                    emails.add(traits["email"])
        self._emails = emails

    def request(self, tag: str, n: int) -> Request:
        mapping: dict[Any, Any] = {}
        for mid in self._message_ids:
            mapping[_key(mid)] = f"bench-{tag}-{n}-{mid}"
        for i, anon in enumerate(sorted(self._anonymous_ids)):
            mapping[_key(anon)] = f"anon-{tag}-{n}-{i}"
        for i, uid in enumerate(sorted(self._user_ids, key=str)):
            mapping[_key(uid)] = f"{700_000_000 + n * 10 + i}" if isinstance(uid, str) else 700_000_000 + n * 10 + i
        for i, email in enumerate(sorted(self._emails)):
            mapping[_key(email)] = f"visitor-{tag}-{n}-{i}@example.de"
        body = json.dumps(_replace(self.sample, mapping), ensure_ascii=False).encode()
        headers = {"content-type": "application/json", "authorization": basic_auth(WRITE_KEY)}
        return Request("POST", BATCH_PATH, headers, body)

    def gzipped(self, tag: str, n: int) -> Request:
        """The same batch gzip-compressed, as RudderStack's SDKs send it (Content-Encoding: gzip)."""
        plain = self.request(tag, n)
        headers = {**plain.headers, "content-encoding": "gzip"}
        return Request(plain.method, plain.path, headers, gzip.compress(plain.body, 6))


def basic_auth(username: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{username}:".encode()).decode("ascii")
