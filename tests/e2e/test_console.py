"""The Emma console in a real browser (Debian's Chromium driven by Playwright) on the local runtime over
real HTTP. The shop gets a customer and an order through the tracking API, two messages through dispatch
(one of them the abandoned cart's coupon mail), and three weeks of analytics counters written straight into
the analytics store (as the analytics consumer would have counted them). Then a person signs in through the
form and opens every page: no console error and no CSP violation anywhere, the figures shown are the API's,
the admin key is in no URL, cookie or storage, German with ?lang=de, a wrong key gets 401 and signing out
works. Every page is saved as a screenshot under .cache/console-screenshots/ (git-ignored) and its load time
measured (navigation timing) and printed."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests

from emma.adapters.analytics import DynamoAnalyticsStore
from emma.analytics.model import CounterDelta, Dims
from emma.dispatch.request import MessageRequest
from emma.resources import MESSAGES_QUEUE, PROFILES_TABLE
from emma_local.config import ROOT, load_config
from emma_local.runtime import LocalRuntime

pytestmark = pytest.mark.e2e
SHOP = "elektro-emma"
KEY = "ak_local_elektro_emma"
ADMIN = {"authorization": f"Bearer {KEY}"}
WRITE_KEY = ("wk_local_elektro_emma", "")
USER = "console-1"
EMAIL = "zoe.console@example.de"
NAME = "Zoë <i>Tester</i>"
SHOTS = ROOT / ".cache" / "console-screenshots"
# The 1-second page budget is measured (and written with the screenshots: timings.json) for a person; under a
# loaded test run a warm page can take longer, so the test holds pages only to a liveness bound.
BUDGET_MS = 1000.0
LIVENESS_MS = 10_000.0
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def rt():
    runtime = LocalRuntime(load_config(), port=0, log_level="ERROR", environments=0, schedule=False).start()
    yield runtime
    runtime.stop()


def daytime(rt):
    """Move the local clock to 10:00 in Berlin when it is near the quiet hours (21:00-08:00)."""
    local = rt.now().astimezone(BERLIN)
    if not 9 <= local.hour < 18:
        target = local.replace(hour=10, minute=0, second=0, microsecond=0)
        if target <= local:
            target += timedelta(days=1)
        rt.advance(seconds=(target - local).total_seconds())


def api(rt, path, **params):
    resp = requests.get(f"{rt.api_url}{path}", headers=ADMIN, params=params, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def seed(rt):
    """A customer, an order and a sent email through the real API and functions; three weeks of counters,
    a journey's funnel, a split's arms and daily snapshots straight into the analytics store."""
    daytime(rt)
    now = rt.now()
    identify = {
        "type": "identify",
        "userId": USER,
        "messageId": str(uuid.uuid4()),
        "timestamp": (now - timedelta(hours=3)).isoformat(),
        "traits": {"email": EMAIL, "firstName": NAME, "lastName": "Müller & Söhne", "locale": "de-DE"},
        "context": {"consent": {"email": {"granted": True, "double_opt_in": True, "wording": "Newsletter"}}},
    }
    order = json.loads((ROOT / "events" / "tracker" / "track_order_completed.json").read_text())
    order.update(
        messageId=str(uuid.uuid4()), userId=USER, anonymousId=None, timestamp=(now - timedelta(hours=2)).isoformat()
    )
    order["properties"].update(order_id=f"EE-{uuid.uuid4().hex[:6]}", email=EMAIL)
    order.pop("sentAt", None)
    for call in (identify, order):
        path = "/v1/identify" if call["type"] == "identify" else "/v1/track"
        resp = requests.post(f"{rt.api_url}{path}", json=call, auth=WRITE_KEY, timeout=10)
        assert resp.status_code == 200, resp.text
    rt.drain()
    profile = api(rt, f"/v1/profiles/{EMAIL}")
    message = MessageRequest(
        key=f"console-{uuid.uuid4().hex[:8]}:cart-reminder",
        shop=SHOP,
        profile_id=profile["profile_id"],
        template="cart-reminder",
        channel="email",
        requested_at=now,
        journey="console-e2e",
    )
    # and the abandoned cart's coupon mail (a template with a coupon: the incentive policy puts the customer
    # into an arm, the shop's Shopify stand-in creates the code, analytics counts the arm)
    coupon = message.model_copy(
        update={"key": f"console-{uuid.uuid4().hex[:8]}:cart-coupon", "template": "cart-coupon"}
    )
    sqs = rt.emulator.session().client("sqs")
    for request in (message, coupon):
        sqs.send_message(
            QueueUrl=rt.resources.queue_urls[MESSAGES_QUEUE.logical_id], MessageBody=request.model_dump_json()
        )
    rt.drain()

    store = DynamoAnalyticsStore(
        rt.emulator.session().client("dynamodb"), rt.resources.tables[PROFILES_TABLE.logical_id]
    )
    today = now.astimezone(BERLIN).date()
    rows = [
        (Dims("winback", "miss-you", "winback-miss-you", "-", "email"), 40, 0.45, 0.08),
        (Dims("abandoned-cart", "reminder", "cart-reminder", "-", "email"), 25, 0.55, 0.15),
        (Dims("abandoned-cart", "reminder", "cart-reminder", "-", "sms"), 10, 0.0, 0.22),
        (Dims("newsletter-interest", "digest", "newsletter-digest", "digest", "email"), 60, 0.35, 0.05),
    ]
    for n in range(21):
        day = (today - timedelta(days=n)).isoformat()
        deltas = []
        for dims, sent, opened, clicked in rows:
            s = Decimal(sent + n % 5)
            revenue = Decimal("39.90") * (n % 3)
            deltas.append(
                CounterDelta(
                    "message",
                    day,
                    dims.encode(),
                    {
                        "requested": s + 1,
                        "sent": s,
                        "skipped": Decimal(1),
                        "skipped_frequency": Decimal(1),
                        "delivered": s - 1,
                        "opened": (s * Decimal(str(opened))).quantize(Decimal(1)),
                        "clicked": (s * Decimal(str(clicked))).quantize(Decimal(1)),
                        "bounced": Decimal(1) if n % 4 == 0 else Decimal(0),
                        "conversions_last_touch": Decimal(n % 3),
                        "revenue_last_touch": revenue,
                        "conversions_linear": Decimal(n % 3) / 2,
                        "revenue_linear": revenue / 2,
                    },
                )
            )
        attributed = Decimal("39.90") * (n % 3) * len(rows)
        deltas.append(
            CounterDelta(
                "shop",
                day,
                "",
                {
                    "orders": Decimal(5 + n % 4),
                    "revenue": Decimal("120.50") * (5 + n % 4),
                    "revenue_last_touch": attributed,
                    "revenue_linear": attributed / 2,
                },
            )
        )
        for step, entered, waiting, converted in (
            ("miss-you", 30, 0, 2),
            ("interested", 29, 20, 0),
            ("new-arrivals", 8, 0, 1),
            ("coupon", 15, 0, 2),
            ("done", 22, 0, 0),
        ):
            deltas.append(
                CounterDelta(
                    "journey",
                    day,
                    f"winback|{step}",
                    {"entered": Decimal(entered), "waiting": Decimal(waiting), "converted": Decimal(converted)},
                )
            )
        deltas.append(CounterDelta("journey", day, "winback|-", {"entered": Decimal(30), "completed": Decimal(22)}))
        store.commit(SHOP, f"p_console_seed_{n}", [], deltas)
        store.put_snapshot(
            SHOP,
            day,
            {
                "customers": Decimal(5000 - 12 * n),
                "reachable_email": Decimal(3100 - 9 * n),
                "reachable_sms": Decimal(800),
                "active_30d": Decimal(1400 + n),
                "segment:lapsed": Decimal(420 + 3 * n),
                "segment:champions": Decimal(150 - n),
                "stage:buy": Decimal(600),
            },
        )
    arms = {"interests": (900, 126), "digest": (880, 97), "holdout": (200, 14)}
    store.commit(
        SHOP,
        "p_console_seed_arms",
        [],
        [
            CounterDelta(
                "arm",
                "",
                f"newsletter-interest|which-content|{arm}",
                {"customers": Decimal(c), "converted": Decimal(k), "orders": Decimal(k), "revenue": Decimal(k) * 60},
            )
            for arm, (c, k) in arms.items()
        ],
    )
    return profile


def load_ms(page) -> float:
    """The navigation's duration: from the request's start to the end of the load event."""
    timing = page.evaluate(
        "() => { const t = performance.getEntriesByType('navigation')[0];"
        " return {start: t.startTime, load: t.loadEventEnd, response: t.responseEnd}; }"
    )
    return timing["load"] - timing["start"]


def value(page, test: str) -> float:
    raw = page.get_attribute(f"[data-test='{test}']", "data-value")
    assert raw not in (None, ""), test
    return float(raw)


def test_the_console_in_a_browser(rt, chromium):
    started = time.monotonic()
    profile = seed(rt)
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": 1366, "height": 768}, locale="en-GB")
    problems: list[str] = []
    urls: list[str] = []
    times: dict[str, tuple[float, float]] = {}
    shots: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("framenavigated", lambda f: urls.append(f.url))
        page.on("request", lambda r: urls.append(r.url))

        # ---- sign in through the form -------------------------------------------------------------
        page.goto(f"{rt.api_url}/console/")
        assert page.locator("h1").inner_text() == "Sign in"
        page.fill("#shop", SHOP)
        page.fill("#key", KEY)
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert urlsplit(page.url).path == "/console", page.content()[-1500:]
        assert page.locator("[data-test=kpi-orders]").count() == 1
        (cookie,) = [c for c in context.cookies() if c["name"] == "emma_console"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
        assert KEY not in cookie["value"] and cookie["value"].startswith(f"{SHOP}.")

        def visit(name: str, path: str, lang: str = "en") -> None:
            """Open a page twice (the first visit warms the function's caches), keep both load times."""
            url = f"{rt.api_url}{path}{'&' if '?' in path else '?'}lang={lang}"
            measured = []
            for _ in range(2):
                response = page.goto(url)
                assert response is not None and response.status == 200, (name, response and response.status)
                measured.append(load_ms(page))
            times[name] = (measured[0], measured[1])
            shot = SHOTS / f"{name}.png"
            page.screenshot(path=str(shot), full_page=True)
            shots.append(str(shot))
            assert KEY not in page.content()

        # ---- every page; the figures are the API's -------------------------------------------------
        visit("overview", "/console/?days=30")
        since = page.get_attribute("[data-test=range]", "data-since")
        until = page.get_attribute("[data-test=range]", "data-until")
        kpis = api(rt, "/v1/analytics/kpis", since=since, until=until)
        assert value(page, "kpi-orders") == kpis["totals"]["orders"] > 0
        assert value(page, "kpi-revenue") == pytest.approx(kpis["totals"]["revenue"])
        assert value(page, "kpi-attributed") == pytest.approx(kpis["totals"]["attributed_last_touch"])
        assert value(page, "kpi-sent") == kpis["totals"]["sent"] and value(page, "snap-customers") == 5000
        attribution = api(rt, "/v1/analytics/attribution", since=since, until=until, group_by="channel")
        by_channel = {r["group"]["channel"]: r["revenue"]["last_touch"] for r in attribution["rows"]}
        assert value(page, "attr-channel-email") == pytest.approx(by_channel["email"])
        assert value(page, "attributed-linear") == pytest.approx(attribution["attributed"]["linear"])
        assert page.locator("svg#trend-revenue > title").text_content() == "Revenue and attributed revenue per day"

        visit("journeys", "/console/journeys")
        journeys = {j["journey"]: j for j in api(rt, "/v1/analytics/journeys", since=since, until=until)["journeys"]}
        assert value(page, "journey-winback-entered") == journeys["winback"]["entered"] == 21 * 30

        visit("journey-winback", "/console/journeys/winback")
        funnel = api(rt, "/v1/analytics/journeys/winback", since=since, until=until)
        for step in funnel["steps"]:
            assert value(page, f"step-{step['step']}-entered") == step["counts"]["entered"]
        assert page.locator("svg[data-test=journey-graph] g.step").count() == len(funnel["steps"])

        visit("journey-experiment", "/console/journeys/newsletter-interest")
        (experiment,) = api(rt, "/v1/analytics/experiments", journey="newsletter-interest")["experiments"]
        for arm in experiment["arms"]:
            assert value(page, f"arm-{arm['name']}-customers") == arm["customers"]
            assert value(page, f"arm-{arm['name']}-conversion") == pytest.approx(arm["conversion_rate"])
        assert page.locator("[data-test=experiment-note]").inner_text().endswith(experiment["note"])

        visit("messages", "/console/messages")
        report = api(rt, "/v1/analytics/messages", since=since, until=until, group_by="template,channel")
        for row in report["rows"]:
            key = f"msg-{row['group']['template']}-{row['group']['channel']}"
            assert value(page, f"{key}-sent") == row["counts"]["sent"]
        assert value(page, "msg-total-delivered") == report["total"]["counts"]["delivered"]

        visit("template-preview", "/console/templates/cart-reminder?locale=de")
        assert "Warenkorb" in page.locator("[data-test=preview-subject]").inner_text()
        frame = page.frame_locator("[data-test=preview-frame]")
        assert "Noch nicht ganz fertig?" in frame.locator("h1").inner_text()
        assert page.get_attribute("[data-test=preview-frame]", "sandbox") == ""

        visit("segments", "/console/segments?segment=lapsed")
        sizes = api(rt, "/v1/segments")["segments"]
        for segment, size in sizes.items():
            if page.locator(f"[data-test='segment-{segment}']").count():
                assert value(page, f"segment-{segment}") == size
        assert page.locator("svg#segment-trend g.series[data-series=lapsed]").count() == 1
        assert page.locator("[data-test=members], [data-test=members-none], [data-test=members-unavailable]").count()

        visit("customer", f"/console/customers?ref={profile['profile_id']}")
        assert page.locator("[data-test=profile-email]").inner_text() == EMAIL
        assert NAME in page.locator("h1").inner_text()  # the name as text: its tags are escaped, not markup
        assert page.locator("main h1 i").count() == 0
        kinds = set(page.locator("[data-test=timeline] li").evaluate_all("els => els.map(e => e.dataset.kind)"))
        assert {"event", "message", "consent"} <= kinds

        # ---- offers: reached through the navigation; the coupon mail's arm is on the page -------------
        with page.expect_navigation():
            page.click("[data-test=nav-offers]")
        assert urlsplit(page.url).path == "/console/offers"
        assert page.locator("nav.main a[aria-current=page]").inner_text() == "Offers"
        visit("offers", "/console/offers")
        sent = next(
            m for m in api(rt, f"/v1/profiles/{profile['profile_id']}")["messages"] if m["template"] == "cart-coupon"
        )
        assert sent["status"] == "sent", sent
        arm = sent["incentive"]["arm"]
        step = f"band-{'none' if sent['incentive'].get('band') is None else sent['incentive']['band']}"
        assert page.locator("[data-test=offer-cart-coupon] h2").inner_text() == "cart-coupon"
        assert page.locator(f"[data-test=band-cart-coupon-{step}] tr[data-arm={arm}]").count() == 1
        incentives = {t["template"]: t for t in api(rt, "/v1/analytics/incentives")["templates"]}
        for comparison in incentives["cart-coupon"]["comparisons"]:
            for shown in comparison["arms"]:
                key = f"offer-cart-coupon-{comparison['step']}-{shown['name']}"
                assert value(page, f"{key}-customers") == shown["customers"]
        assert value(page, f"offer-cart-coupon-{step}-{arm}-customers") >= 1
        assert page.locator(f"[data-test=verdict-cart-coupon-{step}]").count() == 1
        assert page.locator("[data-test=setting-provider]").inner_text() == "Shopify"
        assert "shpat_" not in page.content()

        # ---- German -------------------------------------------------------------------------------
        visit("overview-de", "/console/?days=30", lang="de")
        assert page.get_attribute("html", "lang") == "de"
        assert page.locator("nav.main a[aria-current=page]").inner_text() == "Übersicht"
        assert page.locator("figcaption", has_text="Bestellungen pro Tag").count() == 1
        assert page.locator("[data-test=kpi-revenue]").inner_text().endswith(" €")  # 12.345,00 €
        visit("customer-de", f"/console/customers?ref={EMAIL}", lang="de")
        assert page.locator("h2", has_text="Zeitleiste").count() == 1

        # ---- the key is nowhere ---------------------------------------------------------------------
        storage = page.evaluate("() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
        assert KEY not in storage
        assert all(KEY not in c["value"] for c in context.cookies())
        assert urls and all(KEY not in u for u in urls)

        # ---- signing out ----------------------------------------------------------------------------
        with page.expect_navigation():
            page.click("[data-test=sign-out]")
        assert page.locator("[data-test=notice]").inner_text() == "Du bist abgemeldet."
        assert not [c for c in context.cookies() if c["name"] == "emma_console"]
        page.goto(f"{rt.api_url}/console/journeys")
        assert page.locator("[data-test=sign-in-form]").count() == 1  # back at the form
    finally:
        context.close()

    # ---- a wrong key ----------------------------------------------------------------------------------
    other = chromium.new_context(locale="de-DE")
    try:
        page = other.new_page()
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto(f"{rt.api_url}/console/")
        page.fill("#shop", SHOP)
        page.fill("#key", "ak_wrong_guess")
        with page.expect_navigation() as navigation:
            page.click("button[type=submit]")
        assert navigation.value.status == 401
        assert "Admin-Schlüssel ist ungültig" in page.locator("[data-test=error]").inner_text()
        assert page.locator("[data-test=sign-in-form]").count() == 1 and not other.cookies()
    finally:
        other.close()

    print("\nconsole page load times (navigation timing, ms: first visit / second visit):")
    for name, (first, second) in times.items():
        print(f"  {name:20s} {first:7.1f} / {second:7.1f}")
    print("screenshots:\n  " + "\n  ".join(shots))
    print(f"test runtime (seeding included): {time.monotonic() - started:.1f} s")
    assert not problems, problems
    # The first visit of a page in a fresh process also parses the YAML definitions (templates, journeys,
    # segments: on Lambda one JSON file from the definitions layer) and compiles the page's Jinja template;
    # the budget applies to a page as the function serves it once warm.
    (SHOTS / "timings.json").write_text(
        json.dumps({"budget_ms": BUDGET_MS, "pages_ms": {k: {"first": f, "warm": w} for k, (f, w) in times.items()}})
    )
    over = {name: second for name, (_, second) in times.items() if second >= BUDGET_MS}
    if over:
        print(f"over the {BUDGET_MS:.0f} ms budget in this run (a loaded machine?): {over}")
    stuck = {name: second for name, (_, second) in times.items() if second >= LIVENESS_MS}
    assert not stuck, f"pages over {LIVENESS_MS:.0f} ms: {stuck}"
