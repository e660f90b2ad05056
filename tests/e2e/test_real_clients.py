"""The README's promise, "any Segment-compatible client works by changing its host", kept with the
public clients themselves, unmodified, against `emma dev` (the local runtime over real HTTP):

- Segment's Python SDK (segment-analytics-python), `host` set to Emma;
- RudderStack's Python SDK (rudder-sdk-python), `dataPlaneUrl` set to Emma, gzip on (its default);
- analytics.js (@segment/analytics-next from npm) on a shop page served from another origin than the
  API, in a real headless Chromium, with both delivery strategies (one request per call, batching).

Each visitor browses anonymously, logs in (identify with a user id and the Segment spec's traits,
the nested address included) and acts again; the test then reads the merged profile over HTTP.
The clients swallow delivery errors by default, so every test records what went over the wire
(the SDKs' own requests sessions get a response hook; the browser is watched through Playwright
and the DevTools protocol, preflights included) and fails on any refused or failed request.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

pytestmark = pytest.mark.e2e
WRITE_KEY = "wk_local_elektro_emma"
BASIC = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
ADMIN = {"authorization": "Bearer ak_local_elektro_emma"}
DEADLINE = 20.0  # seconds a client gets to deliver; a healthy run needs about one


def traits(name: str, email: str) -> dict[str, Any]:
    """The traits of the Segment spec's identify example, plus one of the shop's own."""
    return {
        "name": name,
        "email": email,
        "plan": "premium",
        "logins": 5,
        "address": {
            "street": "6th St",
            "city": "San Francisco",
            "state": "CA",
            "postalCode": "94103",
            "country": "USA",
        },
        "preferred_store": "Berlin-Mitte",  # a custom trait
    }


PRODUCT = {
    "product_id": "pixel-9-pro",
    "sku": "GA05",
    "name": "Pixel 9 Pro",
    "category": "smartphones",
    "brand": "Google",
    "price": 1099,
    "currency": "EUR",
}


# --- What went over the wire -------------------------------------------------------------------------------------


@dataclass
class Exchange:
    """One HTTP request a client made to Emma and what Emma answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None  # None: no answer (connection refused, CORS failure, ...)
    response: str = ""
    response_headers: dict[str, str] = field(default_factory=dict)
    failure: str | None = None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def payload(self) -> Any:
        body = self.body
        if (self.header("content-encoding") or "").lower() == "gzip":
            body = gzip.decompress(body)
        return json.loads(body)

    def calls(self) -> list[dict[str, Any]]:
        """The Segment calls the request carried: a batch envelope's, or the body itself."""
        payload = self.payload()
        return payload["batch"] if isinstance(payload, dict) and "batch" in payload else [payload]

    @property
    def ok(self) -> bool:
        """Answered 2xx with no call rejected: Emma answers a batch 200 and lists the calls it refused
        in `rejected`, which no SDK reads (they see success and drop the calls)."""
        return self.status is not None and 200 <= self.status < 300 and not self.rejected()

    def rejected(self) -> list[Any]:
        try:
            answer = json.loads(self.response)
        except ValueError:
            return []
        return answer.get("rejected") or [] if isinstance(answer, dict) else []

    def describe(self) -> str:
        shown = {k: v for k, v in self.headers.items() if k.lower() in _SHOWN_HEADERS}
        try:
            body = json.dumps(self.payload())
        except (ValueError, OSError):
            body = repr(self.body)
        answer = self.failure or f"{self.status} {self.response[:300]}"
        if self.method == "OPTIONS":
            allowed = {k: v for k, v in self.response_headers.items() if k.lower().startswith("access-control-")}
            answer = f"{answer} {allowed}"
        return f"{self.method} {self.path} {shown} {body[:400]}... -> {answer}"


_SHOWN_HEADERS = {"content-type", "content-encoding", "authorization", "origin", "access-control-request-headers"}


def wire_log(exchanges: list[Exchange]) -> str:
    return "\n  ".join(["what went over the wire:", *(e.describe() for e in exchanges)])


@contextmanager
def recorded(session: requests.Session):
    """Every request an SDK sends through its own requests session (observed, not changed)."""
    log: list[Exchange] = []

    def hook(resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        req = resp.request
        body = req.body.encode() if isinstance(req.body, str) else (req.body or b"")
        log.append(
            Exchange(
                req.method,
                urlsplit(req.url).path,
                dict(req.headers),
                body,
                resp.status_code,
                resp.text,
                dict(resp.headers),
            )
        )

    session.hooks["response"].append(hook)
    try:
        yield log
    finally:
        session.hooks["response"].remove(hook)


def delivered(exchanges: list[Exchange]) -> list[dict[str, Any]]:
    """The calls Emma accepted (a call listed in a batch answer's `rejected` was not)."""
    out = []
    for e in exchanges:
        if e.method == "POST" and e.status is not None and 200 <= e.status < 300:
            refused = {r.get("index") for r in e.rejected()}
            out += [call for i, call in enumerate(e.calls()) if i not in refused]
    return out


def kinds(calls: list[dict[str, Any]]) -> Counter:
    return Counter((c["type"], c.get("event")) for c in calls)


# --- Reading what Emma made of it --------------------------------------------------------------------------------


def profile(runtime, ref: str, history: int = 0) -> dict[str, Any]:
    resp = requests.get(f"{runtime.api_url}/v1/profiles/{ref}", params={"history": history}, headers=ADMIN, timeout=10)
    assert resp.status_code == 200, f"GET /v1/profiles/{ref}: {resp.status_code} {resp.text[:300]}"
    return resp.json()


def assert_merged_profile(runtime, *, user_id: str, anonymous_id: str, sent: dict[str, Any], calls: list[dict]):
    """One profile carries the anonymous id and the user id, every call's event and the traits."""
    message_ids = {c["messageId"] for c in calls}
    deadline = time.monotonic() + 10  # ingest stores before it answers; this only absorbs a slow machine
    while True:
        known = profile(runtime, f"cid:{user_id}", history=50)
        stored = {e["source"].get("delivery_id") for e in known["history"]}
        if message_ids <= stored or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert message_ids <= stored, f"calls missing from the profile's history: {sorted(message_ids - stored)}"
    assert profile(runtime, f"anon:{anonymous_id}")["profile_id"] == known["profile_id"], "not merged"
    assert user_id in known["customer_ids"] and anonymous_id in known["anonymous_ids"]
    assert known["known"] is True and known["email"] == sent["email"]
    for trait in ("address", "plan", "logins", "preferred_store"):
        assert known["traits"].get(trait) == sent[trait], f"trait {trait}: {known['traits'].get(trait)!r}"
    assert known["traits"]["address"] == sent["address"]  # the whole nested object: street, state, postalCode too
    return known


def event_types(known: dict[str, Any]) -> set[str]:
    return {e["type"] for e in known["history"]}


# --- Segment's Python SDK ----------------------------------------------------------------------------------------


@contextmanager
def segment_client(runtime, write_key: str = WRITE_KEY):
    from segment import analytics
    from segment.analytics import request as segment_request

    errors: list[tuple[Exception, list[dict]]] = []
    client = analytics.Client(
        write_key,
        host=runtime.api_url,  # the only change a Segment user makes
        on_error=lambda error, batch: errors.append((error, batch)),
        max_retries=1,  # a failing server fails the test in a second, not after ten backoffs
    )
    with recorded(segment_request._session) as wire:
        try:
            yield client, errors, wire
        finally:
            client.shutdown()


def test_segment_python_sdk_builds_one_profile_with_events_and_traits(runtime):
    anonymous_id, user_id = "seg-anon-5f1d", "7009001"
    sent = traits("Peter Gibbons", "peter.gibbons@example.de")
    with segment_client(runtime) as (client, errors, wire):
        client.page(
            anonymous_id=anonymous_id,
            category="Smartphones",
            name="Pixel 9 Pro",
            properties={"url": "https://www.elektro-emma.example/p/pixel-9-pro", "path": "/p/pixel-9-pro"},
        )
        client.track(anonymous_id=anonymous_id, event="Product Viewed", properties=PRODUCT)
        client.track(anonymous_id=anonymous_id, event="Tutorial Watched", properties={"tutorial": "camera-night-mode"})
        client.identify(user_id=user_id, anonymous_id=anonymous_id, traits=sent)
        client.track(
            user_id=user_id, anonymous_id=anonymous_id, event="Product Added", properties={**PRODUCT, "quantity": 1}
        )
        client.flush()
    assert not errors, f"refused: {[str(e) for e, _ in errors]}\n  {wire_log(wire)}"
    assert wire and all(e.ok for e in wire), wire_log(wire)

    # What the SDK sends (segment/analytics/request.py): batches to <host>/v1/batch, JSON, not compressed
    # unless gzip=True, the write key both as HTTP Basic user and in the envelope.
    for e in wire:
        assert (e.method, e.path) == ("POST", "/v1/batch")
        assert e.header("content-type") == "application/json" and e.header("content-encoding") is None
        assert e.header("authorization") == BASIC
        assert set(e.payload()) == {"batch", "sentAt", "writeKey"} and e.payload()["writeKey"] == WRITE_KEY
    calls = delivered(wire)
    assert kinds(calls) == Counter(
        {
            ("page", None): 1,
            ("track", "Product Viewed"): 1,
            ("track", "Tutorial Watched"): 1,
            ("identify", None): 1,
            ("track", "Product Added"): 1,
        }
    )
    assert all(c["messageId"] and c["context"]["library"]["name"] == "analytics-python" for c in calls)

    known = assert_merged_profile(runtime, user_id=user_id, anonymous_id=anonymous_id, sent=sent, calls=calls)
    assert {"page.viewed", "product.viewed", "tutorial.watched"} <= event_types(known)
    assert "camera-night-mode" in known["tutorials_watched"]  # the shop's own naming, {"tutorial": ...}
    assert "pixel-9-pro" in known["affinities"]["products"]


# --- RudderStack's Python SDK ------------------------------------------------------------------------------------


@contextmanager
def rudder_client(runtime, write_key: str = WRITE_KEY):
    """The SDK's documented module-level set-up (rudder_analytics.write_key / dataPlaneUrl)."""
    import rudderstack.analytics as rudder_analytics
    from rudderstack.analytics import request as rudder_request

    errors: list[tuple[Exception, list[dict]]] = []
    saved = {k: getattr(rudder_analytics, k) for k in ("write_key", "dataPlaneUrl", "on_error", "max_retries")}
    rudder_analytics.write_key = write_key
    rudder_analytics.dataPlaneUrl = runtime.api_url  # the only change a RudderStack user makes; gzip stays on
    rudder_analytics.on_error = lambda error, batch: errors.append((error, batch))
    rudder_analytics.max_retries = 1  # see segment_client
    rudder_analytics.default_client = None
    with recorded(rudder_request._session) as wire:
        try:
            yield rudder_analytics, errors, wire
        finally:
            rudder_analytics.shutdown()
            rudder_analytics.default_client = None
            for k, v in saved.items():
                setattr(rudder_analytics, k, v)


def test_rudderstack_python_sdk_with_gzip_builds_one_profile_with_events_and_traits(runtime):
    anonymous_id, user_id = "rs-anon-8c2e", "7009002"
    sent = traits("Samir Nagheenanajar", "samir@example.de")
    with rudder_client(runtime) as (rudder, errors, wire):
        rudder.page(
            anonymous_id=anonymous_id,
            category="Smartphones",
            name="Pixel 9 Pro",
            properties={"url": "https://www.elektro-emma.example/p/pixel-9-pro", "path": "/p/pixel-9-pro"},
        )
        rudder.track(anonymous_id=anonymous_id, event="Product Viewed", properties=PRODUCT)
        rudder.identify(user_id=user_id, anonymous_id=anonymous_id, traits=sent)
        rudder.track(
            user_id=user_id, anonymous_id=anonymous_id, event="Product Added", properties={**PRODUCT, "quantity": 1}
        )
        rudder.flush()
    assert not errors, f"refused: {[str(e) for e, _ in errors]}\n  {wire_log(wire)}"
    assert wire and all(e.ok for e in wire), wire_log(wire)

    # What the SDK sends (rudderstack/analytics/request.py): gzip-compressed JSON batches to
    # <dataPlaneUrl>/v1/batch, the write key only as HTTP Basic user (not in the body).
    for e in wire:
        assert (e.method, e.path) == ("POST", "/v1/batch")
        assert e.header("content-type") == "application/json" and e.header("content-encoding") == "gzip"
        assert e.header("authorization") == BASIC
        assert set(e.payload()) == {"batch", "sentAt"}
    calls = delivered(wire)
    assert kinds(calls) == Counter(
        {("page", None): 1, ("track", "Product Viewed"): 1, ("identify", None): 1, ("track", "Product Added"): 1}
    )
    assert all(c["messageId"] and c["channel"] == "server" and c["integrations"] == {"All": True} for c in calls)

    known = assert_merged_profile(runtime, user_id=user_id, anonymous_id=anonymous_id, sent=sent, calls=calls)
    assert {"page.viewed", "product.viewed"} <= event_types(known)


# --- A refused request reaches the SDKs' error callbacks with Emma's code and message ----------------------------


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
def test_python_sdks_report_a_refused_request_with_emmas_error_and_do_not_retry_it(runtime, sdk):
    """Both SDKs read `code` and `message` from the error JSON (a RudderStack client meeting a body
    without them raises KeyError, which it takes for a network error and retries)."""
    from rudderstack.analytics.request import APIError as RudderAPIError
    from segment.analytics.request import APIError as SegmentAPIError

    client_of = segment_client if sdk == "segment" else rudder_client
    with client_of(runtime, write_key="wk_not_a_key_of_any_shop") as (client, errors, wire):
        client.track(anonymous_id=f"{sdk}-refused", event="Product Viewed", properties=PRODUCT)
        client.flush()
    assert len(errors) == 1, f"{errors}\n  {wire_log(wire)}"
    error, batch = errors[0]
    assert isinstance(error, SegmentAPIError | RudderAPIError), f"{type(error).__name__}: {error}\n  {wire_log(wire)}"
    assert error.status == 401 and [m["event"] for m in batch] == ["Product Viewed"]
    emma = json.loads(wire[0].response)  # Emma's error JSON: {"error", "code", "message"}
    assert error.code == emma["code"] and error.message == emma["message"] and error.message, emma
    assert len(wire) == 1, f"a 401 is final, yet the SDK retried:\n  {wire_log(wire)}"


# --- analytics.js in a real browser ------------------------------------------------------------------------------


class BrowserWire:
    """What a page sent to the API origin: the requests with their answers (Playwright), the CORS
    preflights and network failures (the DevTools protocol: Playwright does not report preflights),
    and any request to a third origin (there must be none: no cdn.segment.com, no api.segment.io)."""

    def __init__(self, context, page, api_origin: str, page_origin: str) -> None:
        self.api_origin, self.page_origin = api_origin, page_origin
        self.answered: list[Any] = []  # Playwright responses from the API origin
        self.failed: list[Any] = []  # Playwright requests to the API origin that got no answer
        self.foreign: list[str] = []
        self.preflights: dict[str, dict[str, Any]] = {}  # DevTools request id -> request, response
        self.console: list[str] = []
        self._bodies: dict[int, str] = {}  # id(response) -> its text, read once
        page.on("response", self._on_response)
        page.on("requestfailed", lambda r: self.failed.append(r) if r.url.startswith(api_origin) else None)
        page.on("request", self._on_request)
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        cdp = context.new_cdp_session(page)
        cdp.on("Network.requestWillBeSent", self._on_cdp_request)
        cdp.on("Network.responseReceived", self._on_cdp_response)
        cdp.on("Network.loadingFailed", self._on_cdp_failure)
        cdp.send("Network.enable")

    def _on_request(self, request) -> None:
        if not request.url.startswith((self.api_origin, self.page_origin, "data:")):
            self.foreign.append(f"{request.method} {request.url}")

    def _on_response(self, response) -> None:
        if response.url.startswith(self.api_origin):
            self.answered.append(response)

    def _on_cdp_request(self, event: dict[str, Any]) -> None:
        if event["request"]["method"] == "OPTIONS" and event["request"]["url"].startswith(self.api_origin):
            self.preflights[event["requestId"]] = {"request": event["request"]}

    def _on_cdp_response(self, event: dict[str, Any]) -> None:
        if event["requestId"] in self.preflights:
            self.preflights[event["requestId"]]["response"] = event["response"]

    def _on_cdp_failure(self, event: dict[str, Any]) -> None:
        if event["requestId"] in self.preflights:
            self.preflights[event["requestId"]]["failure"] = event.get("corsErrorStatus") or event.get("errorText")

    def exchanges(self) -> list[Exchange]:
        """Everything so far, as Exchanges (preflights first, then the requests in order)."""
        out = []
        for p in self.preflights.values():
            resp = p.get("response") or {}
            out.append(
                Exchange(
                    "OPTIONS",
                    urlsplit(p["request"]["url"]).path,
                    p["request"]["headers"],
                    b"",
                    resp.get("status"),
                    "",
                    resp.get("headers") or {},
                    p.get("failure"),
                )
            )
        for r in self.answered:
            req = r.request
            if id(r) not in self._bodies:
                try:
                    self._bodies[id(r)] = r.text()
                except Exception as error:  # the page may have gone; the status still tells
                    self._bodies[id(r)] = f"(body unreadable: {error})"
            out.append(
                Exchange(
                    req.method,
                    urlsplit(req.url).path,
                    req.headers,
                    req.post_data_buffer or b"",
                    r.status,
                    self._bodies[id(r)],
                    r.headers,
                )
            )
        for req in self.failed:
            out.append(
                Exchange(
                    req.method, urlsplit(req.url).path, req.headers, req.post_data_buffer or b"", failure=req.failure
                )
            )
        return out

    def problems(self) -> list[str]:
        bad = [
            e.describe()
            for e in self.exchanges()
            if e.failure or (e.status is not None and e.status >= 300) or (e.method == "POST" and not e.ok)
        ]
        return bad + [f"third-party request: {f}" for f in self.foreign]

    def wait_for(self, page, expected: Counter) -> list[dict[str, Any]]:
        """Polls until the calls in `expected` were accepted by Emma; fails at the first refusal."""
        deadline = time.monotonic() + DEADLINE
        while True:
            posts = [e for e in self.exchanges() if e.method == "POST"]
            calls = delivered(posts)
            errors = page.evaluate("() => shop.errors")
            problems = self.problems() + [f"analytics.js error event: {e}" for e in errors]
            if problems or not expected - kinds(calls) or time.monotonic() > deadline:
                break
            page.wait_for_timeout(100)  # lets Playwright dispatch the events it received
        missing = expected - kinds(calls)
        assert not problems and not missing, "\n  ".join(
            [
                "refused or failed:",
                *problems,
                f"not delivered: {dict(missing)}",
                wire_log(self.exchanges()),
                *self.console,
            ]
        )
        return calls


def open_shop(chromium, shop_page, runtime, strategy: str, write_key: str = WRITE_KEY):
    api = urlsplit(runtime.api_url)
    context = chromium.new_context()
    page = context.new_page()
    wire = BrowserWire(context, page, runtime.api_url, shop_page.origin)
    page.goto(shop_page.url(writeKey=write_key, apiHost=f"{api.netloc}/v1", strategy=strategy))
    return context, page, wire


@pytest.mark.parametrize(("strategy", "user_id"), [("standard", "7009003"), ("batching", "7009004")])
def test_analytics_js_on_a_shop_page_builds_one_profile_with_events_and_traits(
    runtime, chromium, shop_page, strategy, user_id
):
    """analytics.js 1.84 from npm on http://localhost:<port>, Emma on http://127.0.0.1:<port>: every
    call is a CORS request with a preflight (analytics.js sends the write key as an Authorization header)."""
    sent = traits("Ada Lovelace", f"ada.{strategy}@example.de")
    context, page, wire = open_shop(chromium, shop_page, runtime, strategy)
    try:
        # on load the page sent page() and "Product Viewed"; then the visitor logs in and adds to the cart
        anonymous_id = page.evaluate("([id, traits]) => shop.logIn(id, traits)", [user_id, sent])
        page.click("#add")
        calls = wire.wait_for(
            page,
            Counter(
                {
                    ("page", None): 1,
                    ("track", "Product Viewed"): 1,
                    ("identify", None): 1,
                    ("track", "Product Added"): 1,
                }
            ),
        )
        posts = [e for e in wire.exchanges() if e.method == "POST"]
        cookies = {c["name"]: c["value"] for c in context.cookies()}
    finally:
        context.close()

    # What analytics.js sends (plugins/segmentio): text/plain JSON (a "simple" content type), the write
    # key in the body and as HTTP Basic user, no cookies (fetch's default credentials: same-origin).
    paths = Counter(e.path for e in posts)
    if strategy == "standard":
        assert paths == Counter({"/v1/p": 1, "/v1/t": 2, "/v1/i": 1}), wire_log(posts)
        assert all({"writeKey", "sentAt", "messageId"} <= set(e.payload()) for e in posts)
    else:
        assert set(paths) == {"/v1/b"}, wire_log(posts)
        assert all(set(e.payload()) == {"writeKey", "batch", "sentAt"} for e in posts)
        assert all("sentAt" not in c for c in calls)  # one sentAt per batch
    for e in posts:
        assert e.header("content-type") == "text/plain" and e.header("authorization") == BASIC
        assert e.header("cookie") is None
    assert all(c["writeKey"] == WRITE_KEY and c["messageId"].startswith("ajs-next-") for c in calls)
    assert cookies["ajs_anonymous_id"] == anonymous_id and cookies["ajs_user_id"] == user_id  # on the shop's domain
    asked = {p.header("access-control-request-headers") for p in wire.exchanges() if p.method == "OPTIONS"}
    assert asked == {"authorization"}, asked

    known = assert_merged_profile(runtime, user_id=user_id, anonymous_id=anonymous_id, sent=sent, calls=calls)
    assert {"page.viewed", "product.viewed"} <= event_types(known)
    assert "pixel-9-pro" in known["affinities"]["products"]


@pytest.mark.parametrize("strategy", ["standard", "batching"])
def test_the_browser_test_sees_a_refused_request_that_analytics_js_keeps_quiet(runtime, chromium, shop_page, strategy):
    """With a wrong write key Emma answers 401. analytics.js drops 4xx without retrying; the standard
    dispatcher emits an `error` event, the batching one says nothing at all. The wire log catches both."""
    context, page, wire = open_shop(chromium, shop_page, runtime, strategy, write_key="wk_not_a_key_of_any_shop")
    try:
        deadline = time.monotonic() + DEADLINE
        while not [e for e in wire.exchanges() if e.method == "POST"] and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        posts = [e for e in wire.exchanges() if e.method == "POST"]
        assert posts and posts[0].status == 401, wire_log(wire.exchanges())
        assert any("401" in p for p in wire.problems())
        if strategy == "standard":
            while not page.evaluate("() => shop.errors") and time.monotonic() < deadline:
                page.wait_for_timeout(100)
            errors = page.evaluate("() => shop.errors")
            assert errors and errors[0]["code"] == "delivery_failure" and "401" in errors[0]["reason"]
    finally:
        context.close()


def test_analytics_js_delivers_what_a_visitor_did_while_offline(runtime, chromium, shop_page):
    """A visitor on a flaky connection: analytics.js keeps calls made offline and sends them when the
    browser is back online, often as retries with an `X-Retry-Count` header. That header is not
    CORS-safelisted: Emma's preflight answer must allow it (Chromium then reuses that answer for
    Access-Control-Max-Age; had it not allowed it, Chromium would ask again for
    `authorization,x-retry-count` and block the retry)."""
    context, page, wire = open_shop(chromium, shop_page, runtime, "standard")
    try:
        wire.wait_for(page, Counter({("page", None): 1, ("track", "Product Viewed"): 1}))
        context.set_offline(True)
        page.click("#add")  # "Product Added" while offline: kept in analytics.js's queue (and localStorage)
        anonymous_id = page.evaluate("() => shop.anonymousId()")
        context.set_offline(False)
        calls = wire.wait_for(
            page, Counter({("page", None): 1, ("track", "Product Viewed"): 1, ("track", "Product Added"): 1})
        )
        retried = [e for e in wire.exchanges() if e.method == "POST" and e.header("x-retry-count")]
        allowed = [
            {h.strip().lower() for h in (p.response_headers.get("access-control-allow-headers") or "").split(",")}
            for p in wire.exchanges()
            if p.method == "OPTIONS" and p.path == "/v1/t"
        ]
    finally:
        context.close()
    assert allowed and all("x-retry-count" in a for a in allowed), allowed
    # Whether analytics.js tries while the browser is offline (then retries with X-Retry-Count, which the
    # preflight answer above allows) or waits for it to come back online depends on timing inside the
    # library; either way the call made offline arrives once, and every retry was answered 2xx.
    assert all(r.ok and int(r.header("x-retry-count")) >= 1 for r in retried), [r.describe() for r in retried]
    assert {c["event"] for r in retried for c in r.calls()} <= {"Product Added"}
    # the profile is stored before each call is answered; its history (the event log) is written by the publisher
    # from the table's stream, a moment later
    deadline = time.monotonic() + 10
    while True:
        visitor = profile(runtime, f"anon:{anonymous_id}", history=20)
        logged = {e["source"].get("delivery_id") for e in visitor["history"]}
        if {c["messageId"] for c in calls} <= logged or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert {c["messageId"] for c in calls} <= logged
