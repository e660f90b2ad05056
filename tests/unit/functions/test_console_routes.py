"""The Emma console through the ingest handler, with in-memory parts: signing in with the admin key (a
signed, expiring cookie; never the key itself), refusing wrong keys, another shop's key and cross-site
posts, both languages, every page showing the reports' own figures, previews rendered by dispatch, the
customer timeline, escaping of customer data, the security headers, and error pages instead of 500s."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from emma.analytics.model import CounterDelta, Dims
from emma.analytics.reports import Reports, date_range
from emma.dispatch.request import MessageRequest
from emma.errors import TransientError
from emma.ingest.reads import ProfileReads
from emma.ingest.service import IngestService
from emma.journeys.state import JourneyState, LogEntry
from emma.recommend.service import RecommendationService
from emma.shops import ShopConfig
from emma.wiring.definitions import read_journeys, read_templates
from emma.wiring.ingest import Intake
from emma_local.config import ROOT
from emma_local.fakes import (
    FixedClock,
    InMemoryCatalog,
    InMemoryJourneyStore,
    InMemoryMessageLog,
    InMemoryModelStore,
    InMemoryProfileRepository,
    InMemoryPublisher,
    InMemoryRulesStore,
    StaticShopDirectory,
)
from emma_local.fakes.analytics import InMemoryAnalyticsStore
from emma_local.lambdas import LambdaContext, api_event, response_body
from factories import event
from ingest.console import i18n, session
from ingest.console.i18n import TEXT, Formats, language
from ingest.console.preview import style_hashes
from ingest.console.timeline import timeline

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)  # 11:00 in Berlin: the shop's day is 2026-12-05
TODAY = "2026-12-05"
SHOP = ShopConfig(
    shop="elektro-emma",
    name="Elektro <Emma>",
    admin_keys=("ak_emma_1", "ak_emma_2"),
    signing_secret="sig-1",
    dispatch={"sender": "news@elektro-emma.example", "sender_name": "Elektro Emma"},
)
OTHER = ShopConfig(shop="fahrrad-franz", name="Fahrrad Franz", admin_keys=("ak_franz",))
HOST = "console.test"
EVIL = '<img src=x onerror="alert(1)">Anna & <b>Co</b>'
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
MISS_YOU = Dims("winback", "miss-you", "winback-miss-you", "-", "email").encode()
CART_SMS = Dims("abandoned-cart", "reminder", "cart-reminder", "-", "sms").encode()


@pytest.fixture(scope="module")
def definitions():
    return read_journeys(ROOT), read_templates(ROOT)


def seed(store: InMemoryAnalyticsStore) -> None:
    """Ten days of counters: winback emails and cart SMS, orders, a funnel, a split's arms, snapshots."""
    for i in range(10):
        day = (NOW - timedelta(days=i)).date().isoformat()
        store.commit(
            "elektro-emma",
            f"p{i}",
            [],
            [
                CounterDelta(
                    "message",
                    day,
                    MISS_YOU,
                    {
                        "requested": Decimal(11 + i),
                        "sent": Decimal(10 + i),
                        "skipped": Decimal(1),
                        "delivered": Decimal(9 + i),
                        "opened": Decimal(4),
                        "clicked": Decimal(1),
                        "bounced": Decimal(1),
                        "conversions_last_touch": Decimal(1),
                        "revenue_last_touch": Decimal("49.90"),
                        "revenue_linear": Decimal("20"),
                    },
                ),
                CounterDelta("message", day, CART_SMS, {"sent": Decimal(2), "revenue_last_touch": Decimal("10")}),
                CounterDelta(
                    "shop",
                    day,
                    "",
                    {
                        "orders": Decimal(3),
                        "revenue": Decimal("149.70"),
                        "revenue_last_touch": Decimal("59.90"),
                        "revenue_linear": Decimal("20"),
                    },
                ),
                CounterDelta("journey", day, "winback|miss-you", {"entered": Decimal(5), "converted": Decimal(1)}),
                CounterDelta("journey", day, "winback|interested", {"entered": Decimal(5), "waiting": Decimal(4)}),
                CounterDelta("journey", day, "winback|-", {"entered": Decimal(5), "completed": Decimal(2)}),
            ],
        )
        store.put_snapshot(
            "elektro-emma",
            day,
            {"customers": Decimal(1000 + i), "reachable_email": Decimal(800), "segment:lapsed": Decimal(30 - i)},
        )
    store.commit(
        "elektro-emma",
        "px",
        [],
        [
            CounterDelta(
                "arm", "", "newsletter-interest|which-content|interests", {"customers": Decimal(400), "converted": 60}
            ),
            CounterDelta(
                "arm", "", "newsletter-interest|which-content|digest", {"customers": Decimal(400), "converted": 40}
            ),
            CounterDelta(
                "arm", "", "newsletter-interest|which-content|holdout", {"customers": Decimal(100), "converted": 8}
            ),
        ],
    )


class Members:
    """A rules store's member list as the console calls it (ProfileReads.segment_members)."""

    def __init__(self, members):
        self.members, self.calls = members, []

    def __call__(self, shop, segment, query, limit, cursor):
        self.calls.append((shop, segment, query, limit, cursor))
        found = [m for m in self.members if not query or m["email"].startswith(query)]
        return found[:limit], ("next-page" if cursor is None and len(found) > 1 else None)


class Reads:
    """ProfileReads with the member list of this test (or none: a deployment without one)."""

    def __init__(self, real: ProfileReads, members: Members | None) -> None:
        self._real = real
        if members is not None:
            self.segment_members = members

    def view(self, profile, *, history, messages):
        return self._real.view(profile, history=history, messages=messages)

    def segment_sizes(self, shop):
        return self._real.segment_sizes(shop)


@pytest.fixture
def world(monkeypatch, definitions):
    from ingest import deps
    from ingest.routes import console

    journeys, templates = definitions
    repo = InMemoryProfileRepository()
    clock = FixedClock(NOW)
    service = IngestService(repo, InMemoryCatalog(repo), InMemoryPublisher(), clock, sleep=lambda s: None)
    rules = InMemoryRulesStore(repo)
    rules.counters["elektro-emma"] = {"lapsed": 21, "champions": 7}
    message_log, journey_store = InMemoryMessageLog(), InMemoryJourneyStore()
    members = Members(
        [
            {"profile_id": "p_1", "email": "anna@example.com", "customer_id": "c-1", "since": NOW},
            {"profile_id": "p_2", "email": "bert@example.com", "customer_id": None, "since": NOW},
        ]
    )
    reads = Reads(ProfileReads(service, rules, journey_store, message_log), members)
    store = InMemoryAnalyticsStore()
    seed(store)
    reports = Reports(store, journeys)
    intake = Intake(service, StaticShopDirectory([SHOP, OTHER]))
    recommender = RecommendationService(InMemoryModelStore(), service.catalog, clock)
    monkeypatch.setattr(deps, "intake", lambda: intake)
    monkeypatch.setattr(deps, "reads", lambda: reads)
    monkeypatch.setattr(deps, "analytics", lambda: reports)
    monkeypatch.setattr(deps, "templates", lambda: templates)
    monkeypatch.setattr(deps, "recommender", lambda: recommender)
    monkeypatch.setattr(deps, "wiring", lambda: SimpleNamespace(clock=clock))
    monkeypatch.setattr(deps, "report_settings", lambda: SimpleNamespace(definitions=ROOT))
    monkeypatch.setattr(console, "_now", lambda: NOW)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Emma")
    refs = {"customer_id": "c-1", "email": "anna@example.com"}
    doi = {"source": "shop:signup", "at": (NOW - timedelta(days=2)).isoformat(), "double_opt_in": True}
    service.ingest(
        [
            event("customer.registered", customer=refs, at=NOW - timedelta(days=3), first_name=EVIL, locale="de-DE"),
            event(
                "consent.changed", customer=refs, at=NOW - timedelta(days=2), channel="email", granted=True, proof=doi
            ),
        ]
    )
    profile = service.resolve("elektro-emma", "cid:c-1")
    request = MessageRequest(
        key="winback:1",
        shop="elektro-emma",
        profile_id=profile.profile_id,
        template="winback-miss-you",
        channel="best",
        requested_at=NOW - timedelta(hours=5),
        journey="winback",
    )
    record = message_log.claim(request, NOW - timedelta(hours=5), NOW)
    skip = {"stage": "frequency", "outcome": "skip", "reason": "3 marketing messages in 7 days"}
    message_log.update(record, "skipped", [skip], NOW - timedelta(hours=5))
    journey_store.put(
        "elektro-emma",
        profile.profile_id,
        JourneyState(
            journey="winback",
            execution="x1",
            entered_at=NOW - timedelta(hours=6),
            step="miss-you",
            step_since=NOW - timedelta(hours=6),
            log=[LogEntry(at=NOW - timedelta(hours=6), execution="x1", step="miss-you", what="entered")],
        ),
    )
    return SimpleNamespace(
        service=service, store=store, reports=reports, profile=profile, members=members, rules=rules, intake=intake
    )


class Page(SimpleNamespace):
    def test(self, name: str) -> str:
        """The data-value of the element with data-test=name."""
        found = re.search(rf'data-test="{re.escape(name)}"[^>]*?data-value="([^"]*)"', self.body)
        assert found, f"no data-test={name} with a data-value"
        return found.group(1)

    def text(self, name: str) -> str:
        found = re.search(rf'data-test="{re.escape(name)}"[^>]*>(.*?)<', self.body, re.S)
        assert found, f"no data-test={name}"
        return unescape(found.group(1)).strip()


class Browser:
    """One browser: keeps the console's cookie the way a browser would (Path=/console)."""

    def __init__(self) -> None:
        self.cookie: str | None = None
        self.set_cookies: list[str] = []

    def call(self, method, path, query="", form=None, headers=None, lang=None):
        from ingest.handler import lambda_handler

        if lang:
            query = "&".join(p for p in (query, f"lang={lang}") if p)
        base = {"host": HOST, "content-type": "application/x-www-form-urlencoded", "user-agent": "Chrome"}
        if method == "POST":
            base["origin"] = f"http://{HOST}"
        if self.cookie is not None:
            base["cookie"] = f"{session.COOKIE}={self.cookie}"
        body = urlencode(form or {}).encode()
        result = lambda_handler(api_event(method, path, query, {**base, **(headers or {})}, body), LambdaContext("x"))
        cookies = result.get("cookies") or []
        self.set_cookies = cookies
        for cookie in cookies:
            name, _, rest = cookie.partition("=")
            if name == session.COOKIE:
                value = rest.split(";")[0]
                self.cookie = value if "Max-Age=0" not in cookie else None
        headers_out = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        return Page(status=result["statusCode"], headers=headers_out, body=response_body(result).decode())

    def get(self, path, query="", **kw):
        return self.call("GET", path, query, **kw)

    def sign_in(self, shop="elektro-emma", key="ak_emma_1", **kw):
        return self.call("POST", "/console/sign-in", form={"shop": shop, "key": key, **kw.pop("form", {})}, **kw)


@pytest.fixture
def browser(world):
    return Browser()


@pytest.fixture
def signed_in(browser):
    assert browser.sign_in().status == 303
    return browser


# ---- signing in -----------------------------------------------------------------------------------


def test_signed_out_the_console_shows_the_sign_in_form(browser):
    page = browser.get("/console/")
    assert page.status == 200 and 'action="/console/sign-in"' in page.body
    assert 'name="shop"' in page.body and 'name="key" type="password"' in page.body
    assert 'data-test="nav-overview"' not in page.body  # no navigation before signing in
    assert browser.get("/console").status == 200  # the deployed route (no trailing slash) serves the same


def test_signing_in_sets_a_signed_expiring_cookie_that_never_holds_the_key(browser):
    page = browser.sign_in()
    assert page.status == 303 and page.headers["location"] == "/console?lang=en"
    (cookie,) = browser.set_cookies
    attributes = [a.strip() for a in cookie.split(";")]
    assert {"Path=/console", "HttpOnly", "SameSite=Strict", "Max-Age=28800"} <= set(attributes)
    assert "Secure" not in attributes  # plain http (the local runtime)
    assert "ak_emma_1" not in cookie and "ak_emma_1" not in page.headers["location"]
    shop, expires, printed, mac = browser.cookie.split(".")
    assert shop == "elektro-emma" and int(expires) == int((NOW + timedelta(hours=8)).timestamp())
    assert printed == session.fingerprint("ak_emma_1") and len(mac) == 43
    overview = browser.get("/console/")
    assert overview.status == 200 and 'data-test="kpi-orders"' in overview.body
    assert "ak_emma_1" not in overview.body


def test_the_cookie_is_secure_when_the_browser_came_over_https(browser):
    browser.sign_in(headers={"x-forwarded-proto": "https", "origin": f"https://{HOST}"})
    assert "Secure" in [a.strip() for a in browser.set_cookies[0].split(";")]


@pytest.mark.parametrize(
    ("shop", "key", "status", "says"),
    [
        ("elektro-emma", "wrong", 401, "This admin key is not valid"),
        ("elektro-emma", "ak_franz", 403, "belongs to another shop than elektro-emma"),
        ("fahrrad-franz", "ak_emma_1", 403, "belongs to another shop than fahrrad-franz"),
        ("elektro-emma", "", 400, "Enter the shop id and the admin key"),
        ("", "ak_emma_1", 400, "Enter the shop id and the admin key"),
    ],
)
def test_a_wrong_key_gets_the_form_again_with_a_clear_message(browser, shop, key, status, says):
    page = browser.sign_in(shop=shop, key=key)
    assert page.status == status and says in unescape(page.body)
    assert 'action="/console/sign-in"' in page.body and browser.cookie is None
    assert not key or key not in page.body  # the key is never sent back
    assert f'value="{shop}"' in page.body  # the shop id typed stays; the key does not


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"origin": f"http://{HOST}", "sec-fetch-site": "cross-site"},
        {"origin": f"http://{HOST}.evil.example"},
    ],
)
def test_cross_site_posts_are_refused(browser, headers):
    page = browser.sign_in(headers=headers)
    assert page.status == 403 and browser.cookie is None and "another site" in page.body
    signed = Browser()
    signed.sign_in()
    out = signed.call("POST", "/console/sign-out", headers=headers)
    assert out.status == 403 and signed.cookie is not None  # still signed in


def test_our_own_form_passes_with_the_null_origin_no_referrer_makes_browsers_send(browser):
    page = browser.sign_in(headers={"origin": "null", "sec-fetch-site": "same-origin"})
    assert page.status == 303 and browser.cookie
    assert 'href="/console?lang=de"' in Browser().sign_in(key="wrong").body  # the switch leads to the form


def test_requests_without_an_origin_are_no_cross_site_form_and_pass(browser):
    assert browser.sign_in(headers={"origin": ""}).status == 303
    plain = Browser()
    page = plain.call(
        "POST",
        "/console/sign-in",
        form={"shop": "elektro-emma", "key": "ak_emma_2"},
        headers={"sec-fetch-site": "same-origin"},
    )
    assert page.status == 303 and plain.cookie


def test_signing_out_clears_the_cookie(signed_in):
    page = signed_in.call("POST", "/console/sign-out", form={"lang": "de"})
    assert page.status == 303 and signed_in.cookie is None
    assert "Max-Age=0" in signed_in.set_cookies[0] and "Path=/console" in signed_in.set_cookies[0]
    after = signed_in.get(urlsplit(page.headers["location"]).path, urlsplit(page.headers["location"]).query)
    assert "Du bist abgemeldet." in after.body and 'action="/console/sign-in"' in after.body


def test_the_offers_page_needs_a_session_too(browser):
    page = browser.get("/console/offers")
    assert page.status == 303 and 'action="/console/sign-in"' not in page.body
    location = urlsplit(page.headers["location"])
    assert location.path == "/console" and parse_qs(location.query)["next"] == ["/console/offers"]
    assert page.headers["cache-control"] == "no-store" and page.headers["content-security-policy"] == CSP


def test_pages_need_a_session_and_come_back_after_signing_in(browser):
    page = browser.get("/console/journeys", "days=7")
    assert page.status == 303
    location = urlsplit(page.headers["location"])
    assert location.path == "/console" and parse_qs(location.query)["next"] == ["/console/journeys?days=7"]
    form = browser.get(location.path, location.query)
    assert 'name="next" value="/console/journeys?days=7"' in form.body
    back = browser.sign_in(form={"next": "/console/journeys?days=7"})
    assert back.headers["location"] == "/console/journeys?days=7"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/v1/profiles/x", "/console/\\evil"])
def test_sign_in_never_redirects_elsewhere(browser, target):
    assert browser.sign_in(form={"next": target}).headers["location"] == "/console?lang=en"


def test_tampered_expired_or_rotated_sessions_are_signed_out(world, signed_in, monkeypatch):
    from ingest import deps
    from ingest.routes import console

    good = signed_in.cookie
    shop, expires, printed, mac = good.split(".")
    forged = [
        f"fahrrad-franz.{expires}.{printed}.{mac}",  # another shop
        f"{shop}.{int(expires) + 3600}.{printed}.{mac}",  # a longer life
        f"{shop}.{expires}.{printed}.{mac[:-2]}AA",
        "garbage",
        f"{shop}.{expires}.{session.fingerprint('ak_franz')}.{mac}",
    ]
    for token in forged:
        signed_in.cookie = token
        assert signed_in.get("/console/messages").status == 303, token
    signed_in.cookie = good
    assert signed_in.get("/console/messages").status == 200
    monkeypatch.setattr(console, "_now", lambda: NOW + timedelta(hours=8, seconds=1))
    page = signed_in.get("/console/messages")
    assert page.status == 303 and "expired=1" in page.headers["location"]
    monkeypatch.setattr(console, "_now", lambda: NOW)
    rotated = Intake(world.service, StaticShopDirectory([SHOP.model_copy(update={"admin_keys": ("ak_new",)})]))
    monkeypatch.setattr(deps, "intake", lambda: rotated)
    assert signed_in.get("/console/messages").status == 303  # the key that signed it is gone


def test_a_session_signed_with_the_second_key_works(browser):
    browser.sign_in(key="ak_emma_2")
    assert browser.get("/console/segments").status == 200


# ---- headers, languages ---------------------------------------------------------------------------

PAGES = [
    ("/console/", ""),
    ("/console/journeys", ""),
    ("/console/journeys/winback", ""),
    ("/console/journeys/newsletter-interest", "days=90"),
    ("/console/messages", "days=7"),
    ("/console/offers", ""),
    ("/console/templates/winback-miss-you", ""),
    ("/console/templates/cart-reminder", "channel=sms"),
    ("/console/templates/cart-reminder", "channel=push&locale=en"),
    ("/console/segments", ""),
    ("/console/segments", "segment=lapsed&q=anna"),
    ("/console/customers", ""),
    ("/console/customers", "ref=cid:c-1"),
    ("/console/customers", "ref=anna@example.com&kind=message"),
]


@pytest.mark.parametrize("lang", ["en", "de"])
def test_every_page_is_strict_escaped_and_in_one_language(signed_in, lang):
    other = "de" if lang == "en" else "en"
    own_only = {k: v for k, v in TEXT[lang].items() if v != TEXT[other][k] and len(v) > 3}
    labels = ("nav.", "col.", "kpi.")
    foreign_words = {v for k, v in TEXT[other].items() if k.startswith(labels) and v in own_only.values()}
    for path, query in PAGES:
        page = signed_in.get(path, query, lang=lang)
        assert page.status == 200, (path, query, page.body[:300])
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        csp = page.headers["content-security-policy"]
        if path.startswith("/console/templates/") and "channel=" not in query:
            assert csp.startswith("default-src 'none'; style-src 'self' 'unsafe-hashes' 'sha256-")
        else:
            assert csp == CSP
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
        assert f'<html lang="{lang}">' in page.body
        assert "<script" not in page.body.lower() and ' style="' not in page.body
        assert "onerror=" not in page.body.replace("onerror=&#34;", "").replace("onerror=&quot;", "")
        assert not foreign_words & set(re.findall(r">([^<>]+)<", page.body)), (path, foreign_words)
        switch = f'href="{path}?' if query else f'href="{path}?lang={other}"'
        assert switch in page.body and f'hreflang="{other}"' in page.body
        assert "ak_emma_1" not in page.body


def test_the_language_comes_from_the_query_then_accept_language_then_english(signed_in):
    assert "Übersicht" in signed_in.get("/console/", headers={"accept-language": "de-DE,de;q=0.9"}).body
    assert "Overview" in signed_in.get("/console/", headers={"accept-language": "fr-FR, de;q=0.5, en;q=0.8"}).body
    assert "Overview" in signed_in.get("/console/", headers={"accept-language": "fr"}).body
    assert "Overview" in signed_in.get("/console/", "lang=en", headers={"accept-language": "de"}).body
    assert language("xx", "de;q=0, en") == "en" and language(None, "de;q=abc, en;q=0.1") == "en"


def test_both_dictionaries_have_the_same_words_and_placeholders():
    assert set(TEXT["de"]) == set(TEXT["en"])
    for key, english in TEXT["en"].items():
        placeholders = set(re.findall(r"{(\w+)}", english))
        assert placeholders == set(re.findall(r"{(\w+)}", TEXT["de"][key])), key
    assert i18n.Words("de")("no.such.key") == "no.such.key"


@pytest.mark.parametrize(
    ("lang", "number", "money", "share", "day", "moment"),
    [
        ("de", "1.234,5", "1.234,50 €", "12,3 %", "05.12.2026", "05.12.2026 11:00"),
        ("en", "1,234.5", "€1,234.50", "12.3%", "5 Dec 2026", "5 Dec 2026 11:00"),
    ],
)
def test_numbers_and_dates_are_written_as_each_language_writes_them(lang, number, money, share, day, moment):
    fmt = Formats(lang, "EUR", "Europe/Berlin")
    assert fmt.num(1234.5) == number and fmt.num(1234) == number.split(number[5])[0][:5]
    assert fmt.money(1234.5) == money and fmt.pct(0.1234) == share
    assert fmt.date(NOW.date()) == day and fmt.date(TODAY) == day and fmt.datetime(NOW) == moment
    assert fmt.num(None) == fmt.money(None) == fmt.pct(None) == fmt.date(None) == i18n.DASH
    assert fmt.money(-5, "USD").startswith("-") and "$" in fmt.money(5, "USD") and "CHF" in fmt.money(5, "CHF")
    assert fmt.pval(0.0001).startswith("< ") and fmt.pval(None) == fmt.interval(None) == i18n.DASH
    assert fmt.datetime("not a time") == "not a time"
    assert fmt.short_date(TODAY) == ("5 Dec" if lang == "en" else "05.12.")


# ---- the pages show the reports' figures ----------------------------------------------------------


def test_the_overview_shows_the_kpis_and_attribution_of_the_reports(world, signed_in):
    page = signed_in.get("/console/", "days=7&model=linear")
    days = date_range(None, datetime.fromisoformat(TODAY).date(), datetime.fromisoformat(TODAY).date(), 7)
    kpis = world.reports.kpis("elektro-emma", days, "EUR")
    assert float(page.test("kpi-orders")) == kpis.totals["orders"] == 21
    assert float(page.test("kpi-revenue")) == pytest.approx(kpis.totals["revenue"]) == pytest.approx(7 * 149.70)
    assert float(page.test("kpi-attributed")) == pytest.approx(kpis.totals["attributed_linear"]) == 140
    assert float(page.test("kpi-sent")) == kpis.totals["sent"]
    assert float(page.test("kpi-bounce-rate")) == pytest.approx(kpis.totals["bounced"] / kpis.totals["sent"])
    assert page.text("kpi-revenue") == "€1,047.90" and float(page.test("snap-customers")) == 1000
    assert 'data-since="2026-11-29" data-until="2026-12-05"' in page.body
    assert float(page.test("attr-channel-email")) == pytest.approx(140)
    assert float(page.test("attr-journey-winback")) == pytest.approx(140)
    for chart in ("trend-revenue", "trend-orders", "trend-messages", "trend-customers", "attr-channel", "attr-journey"):
        assert f'id="{chart}"' in page.body
    german = signed_in.get("/console/", "days=7", lang="de")
    assert german.text("kpi-revenue") == "1.047,90 €" and "Bestellungen pro Tag" in german.body


@pytest.mark.parametrize(
    ("query", "says"), [("days=5", "7, 30 or 90"), ("days=x", "7, 30 or 90"), ("model=x", "model")]
)
def test_a_bad_range_or_model_is_a_400_page(signed_in, query, says):
    for path in ("/console/", "/console/journeys", "/console/messages", "/console/segments"):
        page = signed_in.get(path, query)
        if "model" in query and path != "/console/":
            continue
        assert page.status == 400 and says in page.body and "<!DOCTYPE html>" in page.body


def test_journeys_list_their_totals_and_a_journey_its_graph_funnel_and_experiments(world, signed_in):
    listing = signed_in.get("/console/journeys")
    assert float(listing.test("journey-winback-entered")) == 50 and "newsletter-interest" in listing.body
    page = signed_in.get("/console/journeys/winback")
    assert 'data-test="journey-graph"' in page.body
    assert re.search(r'data-step="miss-you".*?data-count="entered" data-value="50"', page.body, re.S)
    assert float(page.test("step-interested-waiting")) == 40
    assert "winback-miss-you" in page.body and "Zeit abgelaufen" not in page.body and ">timeout<" in page.body
    assert "This journey has no split step." in page.body
    onboarding = signed_in.get("/console/journeys/smartphone-onboarding")
    assert ">condition 2, 3<" in onboarding.body and ">condition 1<" in onboarding.body  # arms 2 and 3: one edge
    assert ">otherwise<" in onboarding.body
    split = signed_in.get("/console/journeys/newsletter-interest")
    readout = world.reports.experiments("elektro-emma", 30, "newsletter-interest").experiments[0]
    interests = next(a for a in readout.arms if a.name == "interests")
    assert float(split.test("arm-interests-customers")) == 400
    assert float(split.test("arm-interests-conversion")) == pytest.approx(interests.conversion_rate)
    assert unescape(readout.note) in unescape(split.body) and "interests 45%" in split.body
    german = signed_in.get("/console/journeys/newsletter-interest", lang="de")
    note = re.search(r'data-test="experiment-note">(.*?)</p>', german.body, re.S).group(1)
    assert "Hinweis" in note and "Prozentpunkte besser als holdout" in note and "95-%-KI" in note
    assert readout.note not in unescape(german.body)


def seed_incentives(store: InMemoryAnalyticsStore) -> None:
    """The incentive arms of cart-coupon as the analytics consumer counts them: a band where the coupon pays,
    one where it does not, one too small to say, and customers without a prediction."""
    arms = {
        ("band-2", "coupon"): (300, 60, "3000", "300"),
        ("band-2", "control"): (250, 30, "1500", "0"),
        ("band-4", "coupon"): (250, 30, "1200", "150"),
        ("band-4", "control"): (220, 26, "1300", "0"),
        ("band-6", "explore"): (20, 5, "400", "40"),
        ("band-6", "withheld"): (380, 150, "9000", "0"),
        ("band-none", "coupon"): (10, 1, "50", "5"),
    }
    store.commit(
        "elektro-emma",
        "p_incentives",
        [],
        [
            CounterDelta(
                "arm",
                "",
                f"incentive:cart-coupon|{band}|{arm}",
                {
                    "customers": Decimal(n),
                    "converted": Decimal(k),
                    "orders": Decimal(k),
                    "revenue": Decimal(revenue),
                    "discount": Decimal(discount),
                },
            )
            for (band, arm), (n, k, revenue, discount) in arms.items()
        ],
    )


def test_the_offers_page_shows_each_bands_arms_and_whether_the_coupon_pays(world, signed_in):
    seed_incentives(world.store)
    page = signed_in.get("/console/offers")
    assert page.status == 200 and page.headers["content-security-policy"] == CSP
    assert page.headers["cache-control"] == "no-store" and "<script" not in page.body
    assert 'data-test="nav-offers"' in page.body and 'aria-current="page" data-test="nav-offers"' in page.body
    assert 'data-test="offers-none"' not in page.body and 'data-test="offer-cart-coupon"' in page.body
    assert 'href="/console/templates/cart-coupon?lang=en"' in page.body
    assert "10% off, valid for 7 days · policy: predicted" in unescape(page.body)
    report = world.reports.incentives("elektro-emma", SHOP.incentives, NOW)
    (entry,) = report.templates
    for comparison in entry.comparisons:
        for arm in comparison.arms:
            key = f"offer-cart-coupon-{comparison.step}-{arm.name}"
            assert float(page.test(f"{key}-customers")) == arm.customers
            assert float(page.test(f"{key}-conversion")) == pytest.approx(arm.conversion_rate)
            assert float(page.test(f"{key}-discount")) == pytest.approx(arm.discount)
            if arm.net_incremental is not None:
                assert float(page.test(f"{key}-net")) == pytest.approx(arm.net_incremental)
                assert float(page.test(f"{key}-lift")) == pytest.approx(arm.lift_abs)
    band2 = re.search(r'data-test="band-cart-coupon-band-2">(.*?)</article>', page.body, re.S).group(1)
    assert "<h3>P(buy) 10% \u2013 20%</h3>" in band2
    assert band2.index('data-arm="control"') < band2.index('data-arm="coupon"')
    assert 'without the coupon <span class="chip">control</span>' in band2 and "Discount given" in band2
    assert "Net incremental revenue (after the discount)" in band2
    coupon = next(a for a in entry.comparisons[1].arms if a.name == "coupon")
    assert f'{Formats("en").pct(coupon.lift_abs)}<br><span class="muted">' in band2
    assert "€300.00" in band2  # the discount given
    verdicts = dict(re.findall(r'data-test="verdict-cart-coupon-([\w-]+)" data-value="(\w+)"', page.body))
    assert verdicts == {
        "band-none": "no_band",
        "band-2": "pays",
        "band-4": "does_not_pay",
        "band-6": "not_measured",
    }
    text = unescape(page.body)
    assert "the coupon pays here. Conversion with it minus without: 8.0% (95 % CI" in text
    assert "the coupon does not pay here." in text
    # band 6: explore has 20 of the 200 customers each arm needs
    assert "not measured yet: 180 more customers per arm needed (each arm needs 200; so far 20 with the" in text
    assert "No customer yet in P(buy) 0% \u2013 5%, P(buy) 5% \u2013 10%, P(buy) 20% \u2013 30%, P(buy) 50%" in text
    assert float(page.test("offer-cart-coupon-measured")) == 2
    # the settings, and the provider by name only
    assert page.text("setting-provider") == "none: coupon messages go without a code"
    assert page.text("setting-control-share") == "10.0%" and page.text("setting-explore-share") == "5.0%"
    assert page.text("setting-window") == "14 days after the message" and page.text("setting-margin") == "30.0%"
    assert page.text("setting-min-per-arm") == "200"
    german = signed_in.get("/console/offers", lang="de")
    assert "<h3>P(Kauf) 10 % \u2013 20 %</h3>" in german.body and "Der Gutschein lohnt sich hier." in german.body
    assert "Noch nicht gemessen: 180 weitere Kunden je Gruppe" in german.body and "Gewährter Rabatt" in german.body
    assert "Hinweis" in german.body and "Prozentpunkte" in german.body


def test_the_offers_page_names_the_coupon_provider_never_its_credentials(world, signed_in, monkeypatch):
    from ingest import deps

    seed_incentives(world.store)
    shopify = ShopConfig(
        **{
            **SHOP.model_dump(),
            "coupons": {"provider": "shopify", "access_token": "shpat_secret_1"},
            "incentives": {"margin": 0.4, "min_per_arm": 300, "window_days": 7},
        }
    )
    monkeypatch.setattr(deps, "intake", lambda: Intake(world.service, StaticShopDirectory([shopify, OTHER])))
    page = signed_in.get("/console/offers")
    assert page.status == 200 and page.text("setting-provider") == "Shopify"
    assert "shpat_secret_1" not in page.body and "access_token" not in page.body
    assert page.text("setting-margin") == "40.0%" and page.text("setting-window") == "7 days after the message"
    verdicts = dict(re.findall(r'data-test="verdict-cart-coupon-([\w-]+)" data-value="(\w+)"', page.body))
    assert verdicts["band-2"] == "not_measured"  # 250 in control: 50 short of this shop's 300 per arm
    assert "50 more customers per arm needed (each arm needs 300" in unescape(page.body)
    broken = ShopConfig(**{**SHOP.model_dump(), "coupons": {"provider": "shopify", "token": "shpat_secret_2"}})
    monkeypatch.setattr(deps, "intake", lambda: Intake(world.service, StaticShopDirectory([broken, OTHER])))
    page = signed_in.get("/console/offers")
    assert page.text("setting-provider").startswith("not valid, coupon messages wait: coupons.")
    assert "shpat_secret_2" not in page.body


def test_without_a_coupon_message_the_offers_page_says_so(signed_in):
    page = signed_in.get("/console/offers", lang="de")
    assert page.status == 200 and page.text("offers-none").startswith("Noch keine Nachricht mit Gutschein verschickt.")
    chips = re.findall(r'data-test="coupon-template">([^<]+)<', page.body)
    assert {"cart-coupon", "winback-coupon"} <= set(chips)
    assert 'data-test="offer-cart-coupon"' not in page.body and page.text("setting-provider").startswith("keiner:")


def test_an_unknown_journey_template_or_customer_is_a_404_page(signed_in):
    for path, query, says in [
        ("/console/journeys/no-such", "", "There is no journey no-such."),
        ("/console/templates/no-such", "", "There is no template no-such."),
        ("/console/customers", "ref=nobody@example.com", "No customer nobody@example.com in this shop."),
        ("/console/templates/cart-reminder", "ref=nobody@example.com", "No customer nobody@example.com"),
        ("/console/segments", "segment=no-such", "Not found"),
    ]:
        page = signed_in.get(path, query)
        assert page.status == 404 and says in page.body and "<!DOCTYPE html>" in page.body, path


def test_messages_show_counts_and_rates_per_template_and_channel(world, signed_in):
    page = signed_in.get("/console/messages", "days=7")
    days = date_range(None, datetime.fromisoformat(TODAY).date(), datetime.fromisoformat(TODAY).date(), 7)
    report = world.reports.messages("elektro-emma", days, ["template", "channel"])
    row = next(r for r in report.rows if r.group == {"template": "winback-miss-you", "channel": "email"})
    assert float(page.test("msg-winback-miss-you-email-sent")) == row.counts["sent"]
    assert float(page.test("msg-winback-miss-you-email-open_rate")) == pytest.approx(row.rates["open_rate"])
    assert float(page.test("msg-cart-reminder-sms-sent")) == 14
    assert float(page.test("msg-total-sent")) == report.total.counts["sent"]
    assert 'href="/console/templates/cart-reminder?channel=sms&amp;lang=en"' in page.body


def test_a_preview_is_the_real_rendering_in_a_sandboxed_frame_allowed_by_hashes(signed_in):
    page = signed_in.get("/console/templates/cart-reminder", lang="de")
    assert page.status == 200
    assert page.text("preview-subject") == "Erika, dein Warenkorb wartet noch"
    frame = re.search(r'<iframe [^>]*sandbox=""[^>]*srcdoc="([^"]*)"', page.body)
    assert frame, "the email is in a sandboxed srcdoc iframe"
    html = unescape(frame.group(1))
    assert html.startswith("<!DOCTYPE html>") and "Noch nicht ganz fertig?" in html and "Elektro &lt;Emma&gt;" in html
    assert f"http://{HOST}/v1/unsubscribe?t=" in html  # the links point at this API
    hashes, attributes = style_hashes(html)
    csp = page.headers["content-security-policy"]
    assert attributes and all(h in csp for h in hashes) and "'unsafe-hashes'" in csp and "'unsafe-inline'" not in csp
    assert "img-src 'self' data: https:" in csp and "script-src" not in csp
    sms = signed_in.get("/console/templates/cart-reminder", "channel=sms&locale=en")
    assert "your cart is still waiting" in sms.text("preview-sms")
    push = signed_in.get("/console/templates/cart-reminder", "channel=push")
    assert 'data-test="preview-push"' in push.body
    customer = signed_in.get("/console/templates/winback-miss-you", "ref=cid:c-1")
    assert customer.status == 200 and "Rendered for customer p_" in customer.body


def test_a_preview_that_cannot_be_rendered_says_why(signed_in, world, monkeypatch):
    assert signed_in.get("/console/templates/winback-miss-you", "channel=sms").status == 400
    assert signed_in.get("/console/templates/winback-miss-you", "locale=fr").status == 400
    from ingest import deps

    no_sender = Intake(world.service, StaticShopDirectory([ShopConfig(**{**SHOP.model_dump(), "dispatch": {}})]))
    monkeypatch.setattr(deps, "intake", lambda: no_sender)
    from ingest.console import preview

    preview.service.cache_clear()
    page = signed_in.get("/console/templates/winback-miss-you")
    preview.service.cache_clear()
    assert page.status == 422 and "no dispatch.sender" in unescape(page.body)


def test_segments_show_sizes_their_trend_and_a_searchable_member_list(world, signed_in):
    page = signed_in.get("/console/segments")
    assert float(page.test("segment-lapsed")) == 21 and float(page.test("segment-champions")) == 7
    assert float(page.test("segment-known-customers")) == 0  # defined, no member yet
    assert 'id="segment-sizes"' in page.body and 'id="segment-trend"' in page.body
    assert 'data-series="lapsed"' in page.body
    found = signed_in.get("/console/segments", "segment=lapsed&q=anna")
    assert world.members.calls[-1] == ("elektro-emma", "lapsed", "anna", 50, None)
    assert "anna@example.com" in found.body and 'href="/console/customers?ref=p_1&amp;lang=en"' in found.body
    more = signed_in.get("/console/segments", "segment=lapsed")
    assert 'data-test="members-more"' in more.body and "cursor=next-page" in more.body
    none = signed_in.get("/console/segments", "segment=lapsed&q=zz")
    assert 'data-test="members-none"' in none.body


def test_without_a_member_list_the_segments_page_still_works(world, signed_in, monkeypatch):
    from ingest import deps

    plain = Reads(deps.reads()._real, None)
    monkeypatch.setattr(deps, "reads", lambda: plain)
    for query in ("", "segment=lapsed"):
        page = signed_in.get("/console/segments", query)
        assert page.status == 200 and 'data-test="members-unavailable"' in page.body


def test_the_customer_page_merges_a_timeline_and_shows_consent_segments_predictions(world, signed_in):
    from emma.rules.state import Derived

    pid = world.profile.profile_id
    world.rules.derived_states[("elektro-emma", pid)] = Derived(
        profile_id=pid,
        segments=["lapsed", "champions"],
        lifecycle_stage="buy",
        predictions={"churn_risk": 0.5512, "would_buy_without_incentive": False, "next_at": "2027-03-05T17:46:19Z"},
    )
    page = signed_in.get("/console/customers", "ref=anna@example.com")
    assert page.status == 200 and page.text("profile-id") == world.profile.profile_id
    kinds = re.findall(r'<li class="entry (\w+)" data-kind="\w+">\s*<time datetime="([^"]+)"', page.body)
    assert [k for k, _ in kinds] == ["message", "journey", "consent", "event"]
    times = [datetime.fromisoformat(t) for _, t in kinds]
    assert times == sorted(times, reverse=True)
    assert "winback-miss-you by best channel: skipped" in page.body  # not sent: the channel asked for
    assert "frequency: 3 marketing messages in 7 days" in page.body
    assert "Email: granted" in unescape(page.body) and "confirmed (double opt-in)" in page.body
    assert "&lt;img src=x onerror=" in page.body and "<img src=x" not in page.body  # the name, escaped
    assert page.text("stage") == "buy" and 'href="/console/segments?segment=champions&amp;lang=en"' in page.body
    predictions = re.search(r'data-test="predictions">(.*?)</dl>', page.body, re.S).group(1)
    assert "<dd>0.55</dd>" in predictions and "<dd>no</dd>" in predictions
    assert "<dd>5 Mar 2027 18:46</dd>" in predictions  # the shop's time
    german = signed_in.get("/console/customers", "ref=anna@example.com", lang="de")
    assert "<dd>0,55</dd>" in german.body and "<dd>nein</dd>" in german.body
    assert "winback · miss-you: eingetreten" in german.body
    only = signed_in.get("/console/customers", "ref=cid:c-1&kind=consent")
    assert re.findall(r'data-kind="(\w+)"', only.body) == ["consent"]
    assert signed_in.get("/console/customers", "ref=cid:c-1&kind=bogus").status == 400


def test_store_failures_are_error_pages_never_json_500s(signed_in, monkeypatch):
    from ingest import deps

    class Broken:
        def __getattr__(self, name):
            raise TransientError("DynamoDB throttled")

    monkeypatch.setattr(deps, "analytics", lambda: Broken())
    page = signed_in.get("/console/", lang="de")
    assert page.status == 503 and "Bitte versuche es gleich noch einmal" in page.body
    assert page.headers["retry-after"] == "1" and page.headers["content-type"].startswith("text/html")

    class Bug:
        def __getattr__(self, name):
            raise ZeroDivisionError("a bug")

    monkeypatch.setattr(deps, "analytics", lambda: Bug())
    page = signed_in.get("/console/messages")
    assert page.status == 500 and "it is logged" in page.body and "ZeroDivisionError" not in page.body


def test_the_stylesheet_and_icon_are_served_and_versioned(signed_in):
    page = signed_in.get("/console/")
    href = re.search(r'href="(/console/static/console.css\?v=\w+)"', page.body).group(1)
    css = signed_in.get(*href.split("?"))
    assert css.status == 200 and css.headers["content-type"] == "text/css; charset=utf-8" and "--brand" in css.body
    assert signed_in.get("/console/static/favicon.svg").headers["content-type"] == "image/svg+xml"
    assert signed_in.get("/console/static/secrets.txt").status == 404
    assert "@import" not in css.body and "url(" not in css.body  # nothing from elsewhere


# ---- the parts --------------------------------------------------------------------------------------


def test_the_cookie_is_read_from_api_gateways_cookie_list_or_the_header():
    assert session.read_cookie(["a=1", "emma_console=tok"], None) == "tok"
    assert session.read_cookie(None, 'x=1; emma_console="tok2"; y=2') == "tok2"
    assert session.read_cookie(["emma_consolex=1"], "nope") is None


def test_a_token_verifies_only_within_its_life_and_with_a_current_key():
    shops = StaticShopDirectory([SHOP])
    token = session.issue("elektro-emma", "ak_emma_2", NOW)
    assert session.verify(token, shops, NOW + timedelta(hours=7)) == SHOP
    assert session.verify(token, shops, NOW + timedelta(hours=8)) is None
    assert session.verify(token, shops, NOW - timedelta(hours=1)) is None  # issued "in the future"
    assert session.verify(token.replace("elektro-emma", "unknown-shop"), shops, NOW) is None
    assert session.verify("a.b.c.d", shops, NOW) is None


def test_the_timeline_merges_and_orders_everything():
    sms_proof = {"source": "preferences", "at": "2026-12-02T10:00:00Z"}
    view = {
        "history": [
            {
                "type": "order.placed",
                "occurred_at": "2026-12-01T10:00:00Z",
                "source": {"kind": "shopify"},
                "properties": {"order_id": "1001", "total": "49.90", "items": [1], "note": None},
            },
            {
                "type": "consent.changed",
                "occurred_at": "2026-12-02T10:00:00Z",
                "properties": {"channel": "sms", "granted": False, "proof": sms_proof},
            },
            {"type": "broken", "occurred_at": "not a time"},
        ],
        "messages": [
            {
                "template": "t1",
                "status": "sent",
                "channel": "email",
                "requested_at": "2026-12-03T10:00:00+00:00",
                "decisions": [{"stage": "consent", "outcome": "pass", "reason": "ok"}],
            }
        ],
        "journeys": [{"journey": "j", "log": [{"at": "2026-12-01T10:00:00Z", "step": "s", "what": "entered"}]}],
        "consent": {
            "sms": {"granted": False, "proof": {"at": "2026-12-02T10:00:00Z"}},  # the event above: once
            "email": {"granted": True, "proof": {"at": "2026-01-01T00:00:00Z", "double_opt_in": True}},
        },
        "topic_consent": {"offers": {"granted": False, "proof": {"at": "2026-11-01T00:00:00Z"}}},
    }
    entries = timeline(view)
    assert [(e.kind, e.title) for e in entries] == [
        ("message", "t1"),
        ("consent", "sms"),
        ("journey", "j"),
        ("event", "order.placed"),
        ("consent", "offers"),
        ("consent", "email"),
    ]
    order = entries[3]
    assert ("source", "shopify") in order.details and ("order_id", "1001") in order.details
    assert not any(k in ("items", "note") for k, _ in order.details)
    assert entries[0].reasons == [] and entries[1].status == "withdrawn"
    assert [e.kind for e in timeline(view, {"journey"})] == ["journey"]
