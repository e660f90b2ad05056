"""End to end: the local runtime (moto server + real handlers) over real HTTP."""

import os
import socket

import pytest

from emma_local.config import load_config
from emma_local.runtime import LocalRuntime


@pytest.fixture(scope="module")
def runtime():
    rt = LocalRuntime(load_config(), port=0, log_level="ERROR", environments=3).start()
    yield rt
    rt.stop()


@pytest.fixture
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- A real browser for the Segment-compatible client tests (tests/e2e/test_real_clients.py) ---------------------
# Debian's Chromium (`make test` installs it), driven by Playwright; Playwright's own browser downloads are not used.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium for the module; each test opens its own context (fresh cookies and storage)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium package (or: apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives the browser a fresh temporary user data dir and removes it on close
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def shop_page():
    """The shop's page with analytics.js from npm, on http://localhost:<port> (another origin than the API)."""
    from .shop_page import ShopPage

    with ShopPage() as page:
        yield page
