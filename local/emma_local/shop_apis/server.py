"""The local runtime's stand-ins of the shops' admin APIs, served over real HTTP on one port.

A shop of the local configuration whose coupons entry names a platform (shopify, woocommerce, shopware) but no
URL of its own gets that platform's stand-in, at ``http://127.0.0.1:<port>/<shop>``, with the credentials from
its entry: Emma's coupon adapters then talk HTTP to it exactly as they would to the shop. The stand-ins run on
the runtime's clock (codes expire, rate limits refill on local time).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from emma.clock import Clock
from emma.offers.config import ShopifyCoupons, ShopwareCoupons, WooCommerceCoupons
from emma.shops import ShopConfig
from emma_local.shop_apis.shopify import ShopifyStandIn
from emma_local.shop_apis.shopware import ShopwareStandIn, promotion
from emma_local.shop_apis.woocommerce import WooCommerceStandIn

log = logging.getLogger("emma.local.shop_apis")
MAX_BODY = 1024 * 1024


class StandIn(Protocol):
    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]: ...


class ShopApis:
    """The stand-ins by shop, and the one HTTP server in front of them."""

    def __init__(self, clock: Clock, host: str = "127.0.0.1") -> None:
        self.clock = clock
        self.stand_ins: dict[str, Any] = {}
        self._host = host
        self._server: ThreadingHTTPServer | None = None
        self.base_url = ""

    def start(self) -> ShopApis:
        apis = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                body = self.rfile.read(length) if length else b""
                shop, _, rest = self.path.lstrip("/").partition("/")
                stand_in = apis.stand_ins.get(shop)
                if stand_in is None:
                    status, headers, out = 404, {"Content-Type": "text/plain"}, f"no stand-in for {shop!r}".encode()
                else:
                    status, headers, out = stand_in.handle(self.command, "/" + rest, dict(self.headers), body)
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("shop api: " + format, *args)

        self._server = ThreadingHTTPServer((self._host, 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://{self._host}:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name="emma-shop-apis", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def url(self, shop: str) -> str:
        return f"{self.base_url}/{shop}"

    def adopt(self, shop: ShopConfig, percents: Mapping[str, int] | None = None) -> ShopConfig:
        """The shop as the runtime stores it: a platform coupons entry without a URL gets a stand-in (made
        here, with the entry's credentials) and its URL; anything else is returned unchanged. ``percents``: the
        discount of each template with a coupon (a Shopware stand-in's promotions give them)."""
        coupons = shop.coupons
        url = self.url(shop.shop)
        if isinstance(coupons, ShopifyCoupons) and not coupons.api_url:
            domain = coupons.domain or shop.shopify_domain or f"{shop.shop}.myshopify.com"
            self.stand_ins[shop.shop] = ShopifyStandIn(
                access_token=coupons.access_token or "", shop_domain=domain, currency=shop.currency, clock=self.clock
            )
            api_url = f"{url}/admin/api/{coupons.api_version}/graphql.json"
            return shop.model_copy(update={"coupons": coupons.model_copy(update={"api_url": api_url})})
        if isinstance(coupons, WooCommerceCoupons) and not coupons.url:
            self.stand_ins[shop.shop] = WooCommerceStandIn(
                coupons.consumer_key or "", coupons.consumer_secret or "", clock=self.clock, base_url=url
            )
            return shop.model_copy(update={"coupons": coupons.model_copy(update={"url": url})})
        if isinstance(coupons, ShopwareCoupons) and not coupons.url:
            promotions = [
                promotion(ident, (percents or {}).get(name, 10), name=f"Emma {name}")
                for name, ident in coupons.promotions.items()
            ]
            self.stand_ins[shop.shop] = ShopwareStandIn(
                coupons.client_id or "",
                coupons.client_secret or "",
                promotions=promotions,
                clock=self.clock,
                base_url=url,
            )
            return shop.model_copy(update={"coupons": coupons.model_copy(update={"url": url})})
        return shop
