"""A shop's page on its own origin for the browser test: the page (index.html, shop.js) and
analytics.js exactly as npm ships it (@segment/analytics-next's browser bundle and the chunks it
may load lazily), served by a small static server on http://localhost:<port>."""

from __future__ import annotations

import mimetypes
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode, urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
BUNDLES = ROOT / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd"
BUNDLE_PATH = "/analytics-next/bundles/"  # where the page tells analytics.js its chunks are (window.analytics._cdn)


class ShopPage:
    """`with ShopPage() as shop:` serves the page until the block ends; `shop.url(**query)`, `shop.served`."""

    def __init__(self) -> None:
        if not (BUNDLES / "index.js").is_file():
            raise FileNotFoundError(f"{BUNDLES}/index.js is missing: run `make node_modules/.installed` (npm ci)")
        self.served: list[str] = []  # paths asked for, in order
        page = self

        class Static(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                page.served.append(path)
                if path in ("/", "/index.html"):
                    file = HERE / "index.html"
                elif path == "/shop.js":
                    file = HERE / "shop.js"
                elif path.startswith(BUNDLE_PATH) and "/" not in path[len(BUNDLE_PATH) :]:
                    file = BUNDLES / path[len(BUNDLE_PATH) :]
                else:
                    file = None
                if file is None or not file.is_file():
                    self._send(404, b"not found", "text/plain")
                    return
                kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                self._send(200, file.read_bytes(), kind)

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("content-type", f"{kind}; charset=utf-8" if kind.startswith("text/") else kind)
                self.send_header("content-length", str(len(body)))
                self.send_header("cache-control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Static)
        self._server.daemon_threads = True
        self.origin = f"http://localhost:{self._server.server_address[1]}"  # not the API's 127.0.0.1: cross-origin
        self._thread = threading.Thread(target=self._server.serve_forever, name="shop-page", daemon=True)

    def url(self, **query: str) -> str:
        return f"{self.origin}/?{urlencode(query)}"

    def __enter__(self) -> ShopPage:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
