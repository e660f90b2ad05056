"""The Emma console: server-rendered pages for a shop's admins (docs/console.md).

    GET  /console/                       the overview (KPIs, trends, attribution); signed out: the sign-in form
    POST /console/sign-in                shop id + admin key -> a session cookie, 303 to the console
    POST /console/sign-out               clears the session cookie
    GET  /console/journeys               every journey's totals
    GET  /console/journeys/<journey>     its graph with the funnel per step, its experiments' readouts
    GET  /console/messages               message metrics per template and channel
    GET  /console/templates/<template>   a template rendered for a sample (or a real) customer
    GET  /console/segments               segment sizes now and over time, a searchable member list
    GET  /console/customers              find a customer; ?ref=: their timeline, consent, segments, predictions
    GET  /console/offers                 the coupons' incentive readout per template and band, the uplift verdict
    GET  /console/static/<name>          the stylesheet and the icon
    GET  /console                        303 to /console/

Sessions (ingest.console.session): the admin key is sent once, in the sign-in form's POST body; the
cookie holds a token signed with it (shop, expiry, key fingerprint), HttpOnly, SameSite=Strict,
Path=/console, Secure over https, 8 hours. Every page verifies it against the shop's current admin keys.
State-changing requests (sign-in, sign-out: the only ones) are refused when the browser says they come
from another site (Origin, Sec-Fetch-Site). Pages send a strict Content-Security-Policy (no script at
all), nosniff, no referrer and no-store. Ranges are 7, 30 or 90 days (400 otherwise); an unknown
journey, template or customer is a 404 page; every error is a page, in the reader's language.
"""

from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from markupsafe import Markup

from emma.analytics.model import band_of_step
from emma.analytics.reports import ATTRIBUTION_MODELS, DateRange, Experiment, IncentiveTemplate, Reports, date_range
from emma.analytics.service import shop_day, windows_of
from emma.errors import EmmaError, NotFound, Unauthorized
from emma.events.model import Channel
from emma.journeys.definitions import (
    BranchStep,
    EmitStep,
    Journey,
    SendStep,
    SplitStep,
    UpdateStep,
    WaitStep,
)
from emma.offers.uplift import BandUplift
from emma.shops import ShopConfig
from emma.wiring.definitions import read_definitions, read_journeys
from ingest import deps
from ingest.console import environment, static_files
from ingest.console import preview as previews
from ingest.console.charts import Series, bar_chart, line_chart
from ingest.console.graph import Node, journey_graph
from ingest.console.i18n import LANGUAGES, Formats, Words, language
from ingest.console.session import COOKIE, LIFETIME, PATH, issue, read_cookie, verify
from ingest.console.timeline import scalar, timeline
from ingest.http import lower_headers, raw_body

logger = Logger(child=True)
router = APIGatewayHttpRouter()

RANGES = (7, 30, 90)
DEFAULT_RANGE = 30
HTML = "text/html; charset=utf-8"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
HISTORY, MESSAGES = 200, 100  # what the customer page reads of the profile
MEMBERS_PAGE = 50
TREND_SERIES = 6  # segments drawn in the sizes-over-time chart
TIMELINE_KINDS = ("event", "message", "journey", "consent")
_NEXT = re.compile(r"^/console/[A-Za-z0-9\-._~/%?=&+:@,]*$")
_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class _Answer(Exception):
    """Stop here and answer this (a redirect, the sign-in form, an error page)."""

    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass
class Request:
    lang: str
    words: Words
    query: dict[str, str]
    path: str
    headers: dict[str, str]
    started: float
    shop: ShopConfig | None = None
    fmt: Formats = field(default_factory=lambda: Formats("en"))


_current: contextvars.ContextVar[Request | None] = contextvars.ContextVar("console_request", default=None)


def _now() -> datetime:
    """Wall-clock time for sessions (never the local runtime's fast clock)."""
    return datetime.now(UTC)


def _request() -> Request:
    found = _current.get()
    if found is not None:
        return found
    event = router.current_event
    headers = lower_headers(event)
    query = dict(event.query_string_parameters or {})
    lang = language(query.get("lang"), headers.get("accept-language"))
    req = Request(lang, Words(lang), query, event.path, headers, time.perf_counter(), fmt=Formats(lang))
    _current.set(req)
    return req


def _guard(fn: Callable[..., Response]) -> Callable[..., Response]:
    """Every page: an answer raised on the way is returned; a domain error becomes an error page with its
    status, anything else a logged 500 page (never a stack trace, never JSON)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Response:
        token = _current.set(None)
        try:
            return fn(*args, **kwargs)
        except _Answer as answer:
            return answer.response
        except EmmaError as exc:
            log = logger.error if exc.status >= 500 else logger.info
            log("console page refused", extra={"error": exc.code, "status": exc.status, "reason": exc.message})
            return _error(_request(), exc.status)
        except Exception:
            logger.exception("console page failed")
            return _error(_request(), 500)
        finally:
            _current.reset(token)

    return run


# ---- answers ------------------------------------------------------------------------------------


def _headers(csp: str = CSP, started: float | None = None) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
    }
    if started is not None:
        headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return headers


def _url(req: Request, path: str, **params: Any) -> str:
    """A console link keeping the reader's language."""
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    clean["lang"] = req.lang
    return f"{path}?{urlencode(clean)}"


def _here(req: Request, **changes: Any) -> str:
    """This page's link with some parameters changed (None: removed)."""
    params: dict[str, Any] = {k: v for k, v in req.query.items() if k != "lang"}
    params.update(changes)
    return _url(req, req.path, **params)


def _switch(req: Request, lang: str) -> str:
    params = {k: v for k, v in req.query.items() if k != "lang" and v not in (None, "")}
    params["lang"] = lang
    return f"{req.path}?{urlencode(params)}"


def _static(name: str) -> str:
    found = static_files().get(name)
    return f"/console/static/{name}" + (f"?v={found.version}" if found else "")


def _render(req: Request, status: int, page: str, /, csp: str = CSP, **context: Any) -> Response:
    body = (
        environment()
        .get_template(page)
        .render(
            t=req.words,
            fmt=req.fmt,
            lang=req.lang,
            languages=LANGUAGES,
            shop=req.shop,
            section=context.pop("section", ""),
            url=functools.partial(_url, req),
            here=functools.partial(_here, req),
            switch=functools.partial(_switch, req),
            static=_static,
            **context,
        )
    )
    return Response(status_code=status, content_type=HTML, body=body, headers=_headers(csp, req.started))


def _error(req: Request, status: int, message: str | None = None) -> Response:
    key = {400: "error.bad_request", 403: "error.forbidden", 404: "error.not_found"}.get(status, "error.title")
    if message is None:
        message = req.words({503: "error.unavailable"}.get(status, "error.internal") if status >= 500 else key)
    response = _render(req, status, "error.html", title=req.words(key), message=message)
    if status == 503:
        response.headers["Retry-After"] = "1"
    return response


def _redirect(location: str, cookies: list[Cookie] | None = None) -> Response:
    return Response(
        status_code=303,
        content_type=HTML,
        body="",
        headers={**_headers(), "Location": location},
        cookies=cookies or [],
    )


# ---- the session ----------------------------------------------------------------------------------


def _https(req: Request) -> bool:
    """Whether the browser reached us over https: API Gateway says so in X-Forwarded-Proto (and serves
    nothing but https on its own domains); the local runtime speaks plain http."""
    proto = req.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    if proto:
        return proto == "https"
    domain = (router.current_event.raw_event.get("requestContext") or {}).get("domainName") or ""
    return domain.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def _session_cookie(req: Request, value: str, max_age: int) -> Cookie:
    return Cookie(
        name=COOKIE,
        value=value,
        path=PATH,
        secure=_https(req),
        http_only=True,
        max_age=max_age,
        same_site=SameSite.STRICT_MODE,
    )


def _token() -> str | None:
    event = router.current_event
    return read_cookie(event.cookies, lower_headers(event).get("cookie"))


def _session(req: Request) -> ShopConfig | None:
    token = _token()
    config = verify(token, deps.intake().shops, _now()) if token else None
    if config is not None:
        req.shop = config
        req.fmt = Formats(req.lang, config.currency, config.timezone)
    return config


def _signed_in(req: Request) -> ShopConfig:
    """The signed-in shop, or a redirect to the sign-in form (which comes back here afterwards)."""
    config = _session(req)
    if config is None:
        here = req.path + ("?" + urlencode(req.query) if req.query else "")
        raise _Answer(_redirect(_url(req, "/console", next=here, expired="1" if _token() else None)))
    return config


def _same_site(req: Request) -> bool:
    """CSRF defence for the POSTs, besides SameSite=Strict. Sec-Fetch-Site, which browsers set and pages
    cannot, must say same-origin; an Origin must be this API's own host. Our pages' Referrer-Policy
    (no-referrer) makes browsers send ``Origin: null`` even on our own forms, so a null Origin passes only
    with Sec-Fetch-Site: same-origin. A request with neither header is no browser's cross-site form (and
    would carry no SameSite=Strict cookie from one)."""
    site = req.headers.get("sec-fetch-site", "").strip().lower()
    if site and site not in ("same-origin", "none"):
        return False
    origin = req.headers.get("origin", "").strip()
    if not origin:
        return True
    if origin.lower() == "null":
        return site == "same-origin"
    context = router.current_event.raw_event.get("requestContext") or {}
    ours = {h.strip().lower() for h in (req.headers.get("host"), req.headers.get("x-forwarded-host")) if h}
    if context.get("domainName"):
        ours.add(str(context["domainName"]).lower())
    return urlsplit(origin).netloc.lower() in ours


def _form(req: Request) -> dict[str, str]:
    parsed = parse_qs(raw_body(router.current_event).decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items() if v}


def _safe_next(value: str | None) -> str | None:
    """Where to go after signing in: a console page of this API, never another site."""
    if not value or "//" in value or "\\" in value or not _NEXT.match(value):
        return None
    return value


def _sign_in_page(req: Request, status: int, *, error: str = "", notice: str = "", shop_id: str = "") -> Response:
    return _render(
        req,
        status,
        "signin.html",
        title=req.words("signin.title"),
        error=error,
        notice=notice,
        shop_id=shop_id,
        next=_safe_next(req.query.get("next")) or "",
    )


@router.post("/console/sign-in", cors=False, include_in_schema=False)
@_guard
def sign_in():
    req = _request()
    req.path = "/console"  # the language switch of the page answered here links to the form itself
    form = _form(req)
    if form.get("lang") in LANGUAGES and "lang" not in req.query:
        req.lang, req.words, req.fmt = form["lang"], Words(form["lang"]), Formats(form["lang"])
    req.query = {k: v for k, v in {"next": form.get("next", "")}.items() if v}
    shop_id = form.get("shop", "").strip().lower()[:63]
    if not _same_site(req):
        return _sign_in_page(req, 403, error=req.words("signin.cross_site"), shop_id=shop_id)
    key = form.get("key", "").strip()
    if not shop_id or not key:
        return _sign_in_page(req, 400, error=req.words("signin.missing"), shop_id=shop_id)
    try:
        config = deps.intake().shops.by_admin_key(key)
    except Unauthorized:
        logger.info("console sign-in refused", extra={"shop": shop_id, "reason": "unknown admin key"})
        return _sign_in_page(req, 401, error=req.words("signin.wrong"), shop_id=shop_id)
    if config.shop != shop_id:
        logger.info("console sign-in refused", extra={"shop": shop_id, "reason": "another shop's admin key"})
        return _sign_in_page(req, 403, error=req.words("signin.other_shop", shop=shop_id), shop_id=shop_id)
    cookie = _session_cookie(req, issue(config.shop, key, _now()), int(LIFETIME.total_seconds()))
    logger.info("console sign-in", extra={"shop": config.shop})
    return _redirect(_safe_next(form.get("next")) or _url(req, "/console"), [cookie])


@router.post("/console/sign-out", cors=False, include_in_schema=False)
@_guard
def sign_out():
    req = _request()
    req.path = "/console"
    form = _form(req)
    lang = form.get("lang") if form.get("lang") in LANGUAGES else req.lang
    if not _same_site(req):
        return _error(req, 403)
    cookie = _session_cookie(req, "", 0)
    return _redirect(f"/console/?{urlencode({'lang': lang, 'signed_out': '1'})}", [cookie])


# ---- shared page parts ------------------------------------------------------------------------


class _OncePerRequest:
    """The analytics store, each of its reads done once per page: the overview's KPIs and attribution read
    the same counters, and the journeys page reads every journey's funnel from the same items."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._seen: dict[tuple[Any, ...], Any] = {}

    def _once(self, *key: Any) -> Any:
        if key not in self._seen:
            self._seen[key] = getattr(self._store, key[0])(*key[1:])
        return self._seen[key]

    def counters(self, shop: str, kind: str, since: str, until: str) -> Any:
        return self._once("counters", shop, kind, since, until)

    def arms(self, shop: str, journey: str | None = None) -> Any:
        return self._once("arms", shop, journey)

    def snapshots(self, shop: str, since: str, until: str) -> Any:
        return self._once("snapshots", shop, since, until)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _reports() -> Reports:
    """deps.analytics() reading each counter range once per request. Reports has no public hook for a
    store of the caller's choosing, so this looks at its store and journeys; should they be named
    otherwise one day, the reports are used as they are (correct, only slower)."""
    reports = deps.analytics()
    store, journeys = getattr(reports, "_store", None), getattr(reports, "_journeys", None)
    if store is None or not isinstance(journeys, dict):
        return reports
    return Reports(_OncePerRequest(store), list(journeys.values()))


def _range(req: Request, config: ShopConfig) -> tuple[int, DateRange]:
    raw = req.query.get("days") or str(DEFAULT_RANGE)
    if raw not in {str(n) for n in RANGES}:
        raise _Answer(_error(req, 400, req.words("range.bad")))
    days = int(raw)
    today = date.fromisoformat(shop_day(config, deps.wiring().clock.now()))
    return days, date_range(None, today, today, default_days=days)


def _model(req: Request) -> str:
    model = req.query.get("model") or "last_touch"
    if model not in ATTRIBUTION_MODELS:
        raise _Answer(_error(req, 400, req.words("model.bad")))
    return model


def _dates(days: DateRange) -> list[str]:
    return [(days.since + timedelta(days=i)).isoformat() for i in range(days.days)]


def _channel_name(req: Request, channel: str) -> str:
    return req.words(f"channel.{channel}") if req.words.has(f"channel.{channel}") else channel


def _axis_money(fmt: Formats) -> Callable[[float], str]:
    """Money on a chart's axis: whole amounts without cents."""

    def show(value: float) -> str:
        text = fmt.money(value)
        if float(value).is_integer():
            cents = ",00" if fmt.lang == "de" else ".00"
            text = text.replace(cents, "")
        return text

    return show


# ---- the overview ----------------------------------------------------------------------------------


SNAPSHOT_KPIS = (
    "customers",
    "reachable_email",
    "reachable_sms",
    "reachable_push",
    "active_30d",
    "active_90d",
    "new_30d",
    "lapsed",
    "never_opens",
    "never_opens_share",
)


# The overview is /console (the deployed HTTP API's route: a route key cannot end in "/"; API Gateway and
# the resolver both take /console/ for it); /console/ is served too, for `emma dev` and old bookmarks.
@router.get("/console", cors=False, include_in_schema=False)
@router.get("/console/", cors=False, include_in_schema=False)
@_guard
def overview():
    req = _request()
    config = _session(req)
    if config is None:
        notice = req.words("signout.done") if req.query.get("signed_out") else ""
        expired = req.words("signin.expired") if req.query.get("expired") else ""
        return _sign_in_page(req, 200, notice=notice or expired)
    n, days = _range(req, config)
    model = _model(req)
    reports = _reports()
    kpis = reports.kpis(config.shop, days, config.currency)
    windows = windows_of(config)
    attribution = reports.attribution(
        config.shop,
        days,
        config.currency,
        {
            "email_open": windows.email_open,
            "email_click": windows.email_click,
            "sms_click": windows.sms_click,
            "push_click": windows.push_click,
        },
        ["journey", "channel"],
    )
    fmt, t = req.fmt, req.words
    dates = _dates(days)
    labels = [fmt.short_date(d) for d in dates]
    by_day = {d.day.isoformat(): d for d in kpis.days}

    def daily(read: Callable[[Any], float | None], missing: float | None = 0.0) -> list[float | None]:
        return [read(by_day[d]) if d in by_day else missing for d in dates]

    model_name = t(f"model.{model}")
    money = _axis_money(fmt)
    revenue_chart = line_chart(
        labels,
        [
            Series(t("series.revenue"), daily(lambda d: d.revenue)),
            Series(t("series.attributed", model=model_name), daily(lambda d: d.attributed.get(model, 0.0))),
        ],
        chart_id="trend-revenue",
        title=t("trend.revenue"),
        y_format=money,
        desc=f"{t('kpi.revenue')}: {fmt.money(kpis.totals['revenue'])}; "
        f"{t('kpi.attributed')}: {fmt.money(kpis.totals['attributed_' + model])}",
    )
    orders_chart = line_chart(
        labels,
        [Series(t("series.orders"), daily(lambda d: d.orders))],
        chart_id="trend-orders",
        title=t("trend.orders"),
        y_format=fmt.num,
        desc=f"{t('kpi.orders')}: {fmt.num(kpis.totals['orders'])}",
    )
    messages_chart = line_chart(
        labels,
        [
            Series(t("series.sent"), daily(lambda d: d.sent)),
            Series(t("series.delivered"), daily(lambda d: d.delivered)),
        ],
        chart_id="trend-messages",
        title=t("trend.messages"),
        y_format=fmt.num,
        desc=f"{t('kpi.sent')}: {fmt.num(kpis.totals['sent'])}; {t('kpi.delivered')}: "
        f"{fmt.num(kpis.totals['delivered'])}",
    )
    customers = daily(lambda d: d.snapshot.get("customers"), None)
    customers_chart = (
        line_chart(
            labels,
            [Series(t("series.customers"), customers)],
            chart_id="trend-customers",
            title=t("trend.customers"),
            y_format=fmt.num,
        )
        if any(v is not None for v in customers)
        else ""
    )
    by_channel: dict[str, float] = {}
    by_journey: dict[str, float] = {}
    for row in attribution.rows:
        value = row.revenue.get(model, 0.0)
        by_channel[row.group["channel"]] = by_channel.get(row.group["channel"], 0.0) + value
        by_journey[row.group["journey"]] = by_journey.get(row.group["journey"], 0.0) + value
    channel_items = sorted(by_channel.items(), key=lambda kv: (-kv[1], kv[0]))
    journey_items = sorted(by_journey.items(), key=lambda kv: (-kv[1], kv[0]))
    channel_chart = bar_chart(
        [(_channel_name(req, c), v) for c, v in channel_items],
        chart_id="attr-channel",
        title=t("attr.by_channel", model=model_name),
        value_format=fmt.money,
        empty=t("attr.none"),
    )
    journey_chart = bar_chart(
        [(j if j != "-" else t("journey.none"), v) for j, v in journey_items],
        chart_id="attr-journey",
        title=t("attr.by_journey", model=model_name),
        value_format=fmt.money,
        empty=t("attr.none"),
    )
    totals = kpis.totals
    snapshot = [(k, kpis.latest[k]) for k in SNAPSHOT_KPIS if k in kpis.latest]
    stages = sorted((k.split(":", 1)[1], v) for k, v in kpis.latest.items() if k.startswith("stage:"))
    return _render(
        req,
        200,
        "overview.html",
        section="overview",
        title=t("overview.title"),
        ranges=RANGES,
        days_selected=n,
        days=days,
        models=ATTRIBUTION_MODELS,
        model=model,
        totals=totals,
        bounce_rate=(totals["bounced"] / totals["sent"]) if totals["sent"] else None,
        complaint_rate=(totals["complained"] / totals["delivered"]) if totals["delivered"] else None,
        attributed_share=(totals[f"attributed_{model}"] / totals["revenue"]) if totals["revenue"] else None,
        snapshot=snapshot,
        stages=stages,
        latest_day=kpis.latest_day,
        charts={
            "revenue": Markup(revenue_chart),  # noqa: S704 - built by charts.py, every text escaped there
            "orders": Markup(orders_chart),  # noqa: S704
            "messages": Markup(messages_chart),  # noqa: S704
            "customers": Markup(customers_chart),  # noqa: S704
            "channel": Markup(channel_chart),  # noqa: S704
            "journey": Markup(journey_chart),  # noqa: S704
        },
        by_channel=channel_items,
        by_journey=journey_items,
        attribution=attribution,
        model_names=ATTRIBUTION_MODELS,
    )


# ---- journeys --------------------------------------------------------------------------------------


@functools.cache
def _journeys_at(path: Any) -> dict[str, Journey]:
    return {j.id: j for j in read_journeys(path)}


def _journey_definition(journey_id: str) -> Journey | None:
    """The journey as defined (templates, waits, split arms) for the graph's labels: the reports' own
    definitions, else read once; the funnel alone when the definitions cannot be read."""
    known = getattr(deps.analytics(), "_journeys", None)
    if isinstance(known, dict) and isinstance(known.get(journey_id), Journey):
        return known[journey_id]
    try:
        return _journeys_at(deps.report_settings().definitions).get(journey_id)
    except Exception:  # the graph keeps its shape from the report without them
        logger.warning("journey definitions unreadable", exc_info=True)
        return None


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _step_detail(step: Any) -> str:
    if isinstance(step, SendStep):
        channel = "" if step.send.channel == "best" else f" · {step.send.channel}"
        return f"{step.send.template}{channel}"
    if isinstance(step, WaitStep):
        wait = step.wait
        if wait.for_ is not None:
            return _duration(wait.for_)
        if wait.until_time is not None:
            return f"→ {wait.until_time}"
        return f"{wait.until_event.value if wait.until_event else ''} ≤ {_duration(wait.timeout or timedelta())}"
    if isinstance(step, SplitStep):
        total = sum(v.weight for v in step.split) or 1
        return " / ".join(f"{v.name} {v.weight / total:.0%}" for v in step.split)
    if isinstance(step, UpdateStep):
        return ", ".join(f"{k} = {v}" for k, v in step.update.set.items())
    if isinstance(step, EmitStep):
        return f"journey.{step.emit.event}"
    return ""


def _edge_labels(req: Request, journey: Journey | None) -> dict[tuple[str, str], str]:
    if journey is None:
        return {}
    labels: dict[tuple[str, str], str] = {}
    for index, step in enumerate(journey.steps):
        if isinstance(step, SplitStep):
            total = sum(v.weight for v in step.split) or 1
            for v in step.split:
                labels[(step.id, v.goto)] = f"{v.name} {v.weight / total:.0%}"
        elif isinstance(step, BranchStep):
            conditions: dict[str, list[str]] = {}
            for n, arm in enumerate(step.branch, 1):
                conditions.setdefault(arm.target, []).append(str(n) if arm.when is not None else "")
            for target, numbers in conditions.items():
                texts = [req.words("journey.when", n=", ".join(n for n in numbers if n))] if any(numbers) else []
                if "" in numbers:
                    texts.append(req.words("journey.otherwise"))
                labels[(step.id, target)] = " / ".join(texts)
        elif isinstance(step, WaitStep) and step.wait.until_event is not None:
            successors = journey.successors(index)
            if successors and step.wait.until_event is not None:
                labels[(step.id, successors[0])] = step.wait.until_event.value
            if step.wait.on_timeout:
                labels[(step.id, step.wait.on_timeout)] = req.words("journey.timeout")
    return labels


def _note(req: Request, experiment: Experiment) -> str:
    """The readout's one-line note in the reader's language: Emma's own (emma.analytics.stats) in English,
    the same statement in German."""
    if req.lang != "de":
        return experiment.note
    fmt, control = req.fmt, experiment.control
    compared = [a for a in experiment.arms if a.lift_abs is not None]
    if not compared:
        return f"Noch kein Vergleich: {control} oder jede andere Gruppe hat keine Kunden."
    best = next((a for a in compared if a.name == experiment.winner), None) or max(
        compared, key=lambda a: a.lift_abs or 0
    )
    lift = best.lift_abs or 0.0
    low, high = best.lift_abs_ci or (0.0, 0.0)
    p = 1.0 if best.p_value is None else best.p_value
    size = (
        f"{fmt.num(abs(lift) * 100, 1)} Prozentpunkte {'besser' if lift > 0 else 'schlechter'} als"
        if round(lift * 100, 1)
        else "genauso gut wie"
    )
    p_text = "p < 0,001" if p < 0.001 else f"p = {fmt.num(p, 3 if p < 0.01 else 2)}"
    text = (
        f"{best.name} konvertiert {size} {control} "
        f"(95-%-KI {fmt.num(low * 100, 1)} bis {fmt.num(high * 100, 1)}), {p_text}"
    )
    if experiment.winner:
        return text
    if best.significant:
        return f"Keine Gruppe schlägt {control}: {text}"
    more = best.more_customers_needed
    return f"Keine Gruppe schlägt {control} bisher signifikant: {text}" + (
        f"; etwa {fmt.num(more)} weitere Kunden je Gruppe würden einen Unterschied dieser Größe zeigen" if more else ""
    )


@router.get("/console/journeys", cors=False, include_in_schema=False)
@_guard
def journeys():
    req = _request()
    config = _signed_in(req)
    n, days = _range(req, config)
    reports = _reports()
    rows = []
    for journey_id in reports.journey_ids(config.shop):
        funnel = reports.journey(config.shop, journey_id, days)
        definition = _journey_definition(journey_id)
        rows.append(
            {
                "id": journey_id,
                "description": definition.description if definition else "",
                "steps": len(funnel.steps),
                "totals": funnel.totals,
            }
        )
    return _render(
        req,
        200,
        "journeys.html",
        section="journeys",
        title=req.words("journeys.title"),
        rows=rows,
        ranges=RANGES,
        days_selected=n,
        days=days,
    )


@router.get("/console/journeys/<journey>", cors=False, include_in_schema=False)
@_guard
def journey(journey: str):
    req = _request()
    config = _signed_in(req)
    n, days = _range(req, config)
    reports = _reports()
    t = req.words
    if journey not in reports.journey_ids(config.shop):
        raise _Answer(_error(req, 404, t("journey.unknown", journey=journey)))
    funnel = reports.journey(config.shop, journey, days)
    definition = _journey_definition(journey)
    steps = {s.id: s for s in definition.steps} if definition else {}
    nodes = [
        Node(
            id=s.step,
            kind=s.kind,
            kind_label=t(f"kind.{s.kind}") if t.has(f"kind.{s.kind}") else s.kind,
            detail=_step_detail(steps[s.step]) if s.step in steps else "",
            counts=s.counts,
        )
        for s in funnel.steps
    ]
    first = funnel.steps[0].counts.get("entered", 0) if funnel.steps else 0
    graph = journey_graph(
        nodes,
        funnel.edges,
        chart_id="journey-graph",
        title=t("journey.graph"),
        counts=[(k, t(f"count.{k}")) for k in ("entered", "waiting", "converted", "exited")],
        count_format=req.fmt.num,
        edge_labels=_edge_labels(req, definition),
        desc=t("journey.graph.desc", steps=len(nodes), entered=req.fmt.num(first)),
        test_id="journey-graph",
    )
    experiments = reports.experiments(config.shop, config.analytics.experiment_days, journey)
    templates = {s.id: s.send.template for s in steps.values() if isinstance(s, SendStep)}
    return _render(
        req,
        200,
        "journey.html",
        section="journeys",
        title=t("journey.title", journey=journey),
        journey=journey,
        description=definition.description if definition else "",
        funnel=funnel,
        graph=Markup(graph),  # noqa: S704 - built by graph.py, every text escaped there
        experiments=experiments.experiments,
        notes=[_note(req, e) for e in experiments.experiments],
        templates=templates,
        ranges=RANGES,
        days_selected=n,
        days=days,
    )


# ---- messages and previews -------------------------------------------------------------------------

MESSAGE_COUNTS = ("requested", "sent", "skipped", "delivered", "opened", "clicked", "bounced", "complained")
MESSAGE_RATES = ("delivery_rate", "open_rate", "click_rate", "click_to_open_rate", "bounce_rate", "unsubscribe_rate")


@router.get("/console/messages", cors=False, include_in_schema=False)
@_guard
def messages():
    req = _request()
    config = _signed_in(req)
    n, days = _range(req, config)
    report = _reports().messages(config.shop, days, ["template", "channel"])
    names = deps.template_names(config.shop)
    return _render(
        req,
        200,
        "messages.html",
        section="messages",
        title=req.words("messages.title"),
        report=report,
        counts=MESSAGE_COUNTS,
        rates=MESSAGE_RATES,
        templates=names,
        ranges=RANGES,
        days_selected=n,
        days=days,
    )


def _public_url(req: Request) -> str:
    """This API's own address (links in a preview point here, as a sent message's do)."""
    host = req.headers.get("x-forwarded-host") or req.headers.get("host") or "localhost"
    return f"{'https' if _https(req) else 'http'}://{host}"


def _preview_csp(html: str) -> str:
    """The page's policy, which the srcdoc iframe inherits, plus exactly the email's own styles (by
    hash) and https images (the shop's logo and products)."""
    hashes, attributes = previews.style_hashes(html)
    styles = " ".join(["'self'", *(["'unsafe-hashes'"] if attributes else []), *hashes])
    return CSP.replace("style-src 'self'", f"style-src {styles}").replace(
        "img-src 'self' data:", "img-src 'self' data: https:"
    )


@router.get("/console/templates/<template>", cors=False, include_in_schema=False)
@_guard
def template_preview(template: str):
    req = _request()
    config = _signed_in(req)
    t = req.words
    if not deps.has_template(config.shop, template):
        raise _Answer(_error(req, 404, t("template.unknown", template=template)))
    definition = deps.templates().get(config.shop, template)
    channels = [str(c) for c in definition.channels]
    channel = req.query.get("channel") or channels[0]
    locale = req.query.get("locale") or req.lang
    if locale not in LANGUAGES:
        raise _Answer(_error(req, 400, t("error.bad_request")))
    context: dict[str, Any] = {
        "section": "messages",
        "title": t("template.title", template=template),
        "template": template,
        "definition": definition,
        "channels": channels,
        "channel": channel,
        "locale": locale,
        "ref": req.query.get("ref", ""),
        "rendered": None,
        "problem": "",
        "profile_id": "",
        "sample": {"name": f"{t('sample.first_name')} {t('sample.last_name')}", "email": previews.SAMPLE_EMAIL},
    }
    if channel not in channels:
        context["problem"] = t("template.no_channel", channel=channel)
        return _render(req, 400, "template.html", **context)
    ref = context["ref"].strip()
    if ref:
        try:
            profile = deps.intake().service.resolve(config.shop, ref)
        except NotFound:
            raise _Answer(_error(req, 404, t("customer.not_found", ref=ref))) from None
        context["profile_id"] = profile.profile_id
    else:
        profile = previews.sample_profile(
            config.shop, t("sample.first_name"), t("sample.last_name"), locale, deps.wiring().clock.now()
        )
    try:
        rendered = previews.render(_public_url(req), config.shop, template, profile, Channel(channel), locale)
    except EmmaError as exc:
        if exc.status >= 500:
            raise
        context["problem"] = t("template.cannot", reason=exc.message)
        return _render(req, 422, "template.html", **context)
    context["rendered"] = rendered
    csp = _preview_csp(rendered.html) if channel == Channel.EMAIL else CSP
    return _render(req, 200, "template.html", csp=csp, **context)


# ---- segments --------------------------------------------------------------------------------------


@functools.cache
def _segment_definitions_at(path: Any) -> Any:
    return read_definitions(path)


def _segment_descriptions(shop: str) -> dict[str, str]:
    try:
        definitions = _segment_definitions_at(deps.report_settings().definitions).for_shop(shop)
    except Exception:  # the page shows the sizes without descriptions
        logger.warning("segment definitions unreadable", exc_info=True)
        return {}
    return {s.id: s.description for s in definitions.segments}


def _members(reads: Any, shop: str, segment: str, query: str, cursor: str) -> tuple[bool, list[dict], str | None]:
    """(available, members, next cursor): the member list where this deployment has one."""
    if not hasattr(reads, "segment_members"):
        return False, [], None
    found, next_cursor = reads.segment_members(shop, segment, query or None, MEMBERS_PAGE, cursor or None)
    members = []
    for member in found:
        data = member if isinstance(member, dict) else getattr(member, "__dict__", {"profile_id": str(member)})
        members.append(dict(data))
    return True, members, next_cursor


@router.get("/console/segments", cors=False, include_in_schema=False)
@_guard
def segments():
    req = _request()
    config = _signed_in(req)
    n, days = _range(req, config)
    t, fmt = req.words, req.fmt
    reads = deps.reads()
    sizes = {k: int(v) for k, v in reads.segment_sizes(config.shop).items()}
    descriptions = _segment_descriptions(config.shop)
    known = set(sizes) | set(descriptions)
    rows = sorted(((s, sizes.get(s, 0), descriptions.get(s, "")) for s in known), key=lambda r: (-r[1], r[0]))
    segment = (req.query.get("segment") or "").strip()
    if segment and (not _SEGMENT.match(segment) or segment not in known):
        raise _Answer(_error(req, 404, f"{t('segments.segment')} {segment}: {t('error.not_found')}"))
    size_chart = bar_chart(
        [(s, float(size)) for s, size, _ in rows if size][:25],
        chart_id="segment-sizes",
        title=t("segments.sizes"),
        value_format=fmt.num,
        empty=t("segments.none"),
    )
    kpis = _reports().kpis(config.shop, days, config.currency)
    by_day = {d.day.isoformat(): d.snapshot for d in kpis.days}
    trend_keys = sorted({k for snap in by_day.values() for k in snap if k.startswith("segment:")})
    if segment:
        trend_keys = [k for k in trend_keys if k == f"segment:{segment}"]
    latest = {k: max((by_day[d].get(k, 0) for d in by_day), default=0) for k in trend_keys}
    trend_keys = sorted(trend_keys, key=lambda k: (-latest[k], k))[:TREND_SERIES]
    dates = _dates(days)
    trend_chart = (
        line_chart(
            [fmt.short_date(d) for d in dates],
            [Series(k.split(":", 1)[1], [by_day.get(d, {}).get(k) for d in dates]) for k in trend_keys],
            chart_id="segment-trend",
            title=t("segments.trend"),
            y_format=fmt.num,
            legend=True,
        )
        if trend_keys
        else ""
    )
    available, members, next_cursor = (True, [], None)
    if segment:
        available, members, next_cursor = _members(
            reads, config.shop, segment, req.query.get("q", "")[:254], req.query.get("cursor", "")[:1400]
        )
    else:
        available = hasattr(reads, "segment_members")
    return _render(
        req,
        200,
        "segments.html",
        section="segments",
        title=t("segments.title"),
        rows=rows,
        segment=segment,
        query=req.query.get("q", ""),
        size_chart=Markup(size_chart),  # noqa: S704 - built by charts.py, every text escaped there
        trend_chart=Markup(trend_chart),  # noqa: S704
        members_available=available,
        members=members,
        next_cursor=next_cursor,
        ranges=RANGES,
        days_selected=n,
        days=days,
    )


# ---- a customer ------------------------------------------------------------------------------------


def _shower(req: Request) -> Callable[[Any], str]:
    """A prediction's value as the reader's language writes it: yes/no, numbers, moments, else the text."""

    def show(value: Any) -> str:
        if isinstance(value, bool):
            return req.words("yes" if value else "no")
        if isinstance(value, int | float):
            return req.fmt.num(value, None if float(value).is_integer() else 2)
        if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", value):
            return req.fmt.datetime(value)
        return scalar(value)

    return show


def _name(view: dict[str, Any]) -> str:
    traits = view.get("traits") or {}
    return " ".join(str(traits[k]) for k in ("first_name", "last_name") if traits.get(k))


@router.get("/console/customers", cors=False, include_in_schema=False)
@_guard
def customer():
    req = _request()
    config = _signed_in(req)
    t = req.words
    ref = (req.query.get("ref") or "").strip()[:512]
    kind = req.query.get("kind") or ""
    if kind and kind not in TIMELINE_KINDS:
        raise _Answer(_error(req, 400, t("error.bad_request")))
    context: dict[str, Any] = {
        "section": "customer",
        "title": t("customer.title"),
        "ref": ref,
        "kind": kind,
        "kinds": TIMELINE_KINDS,
        "view": None,
        "problem": "",
    }
    if not ref:
        return _render(req, 200, "customer.html", **context)
    try:
        profile = deps.intake().service.resolve(config.shop, ref)
    except NotFound:
        context["problem"] = t("customer.not_found", ref=ref)
        return _render(req, 404, "customer.html", **context)
    view = deps.reads().view(profile, history=HISTORY, messages=MESSAGES)
    entries = timeline(view, {kind} if kind else None)
    context.update(
        view=view,
        name=_name(view),
        entries=entries,
        show=_shower(req),
        channels=[str(c) for c in Channel],
        topics=[(topic.id, topic.label.get(req.lang, topic.id)) for topic in config.dispatch.topics],
    )
    return _render(req, 200, "customer.html", **context)


# ---- offers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Verdict:
    """The uplift's word on one band: pays, does_not_pay, not_measured (no_band: before a first order)."""

    status: str
    text: str


def _band_label(req: Request, low: float, high: float) -> str:
    return req.words("offers.band", low=req.fmt.pct(low, 0), high=req.fmt.pct(high, 0))


def _more_per_arm(band: BandUplift, min_per_arm: int) -> int:
    """Customers each arm of the band's closest pair still needs before the band is measured."""
    short = [max(0, min_per_arm - min(p.treated, p.untreated)) for p in band.pairs]
    return min(short, default=min_per_arm)


def _verdict(req: Request, band: BandUplift | None, min_per_arm: int, margin: float) -> _Verdict:
    t, fmt = req.words, req.fmt
    if band is None:
        return _Verdict("no_band", t("offers.verdict.no_band"))
    if band.status != "measured" or band.needed is None:
        more = _more_per_arm(band, min_per_arm)
        return _Verdict(
            "not_measured",
            t(
                "offers.verdict.not_measured",
                more=fmt.num(more),
                min=fmt.num(min_per_arm),
                treated=fmt.num(band.treated),
                untreated=fmt.num(band.untreated),
            ),
        )
    values = {
        "lift": fmt.pct(band.lift),
        "ci": fmt.interval((band.lift_low, band.lift_high) if band.lift_low is not None else None),
        "value": fmt.money(band.value),
        "margin": fmt.pct(margin, 0),
    }
    if band.needed:
        return _Verdict("pays", t("offers.verdict.pays", **values))
    return _Verdict("does_not_pay", t("offers.verdict.does_not_pay", **values))


def _coupon_terms(req: Request, shop: str, template: str) -> str:
    """What the template gives, as defined: "10 % off, valid for 7 days · minimum order … · policy: …"."""
    t, fmt = req.words, req.fmt
    if not deps.has_template(shop, template):  # a template no longer defined keeps its readout
        return ""
    definition = deps.templates().get(shop, template)
    coupon = definition.coupon
    if coupon is None:
        return ""
    parts = [t("offers.coupon", percent=coupon.percent, days=coupon.valid_days)]
    if coupon.minimum_order is not None:
        parts.append(t("offers.minimum", amount=fmt.money(float(coupon.minimum_order))))
    if coupon.kind == "reward":
        parts.append(t("offers.kind.reward"))
    elif definition.incentive:
        parts.append(t("offers.policy", policy=t(f"offers.policy.{definition.incentive}")))
    return " · ".join(parts)


def _coupon_templates(shop: str) -> list[str]:
    found = []
    try:
        library = deps.templates()
        for name in deps.template_names(shop):
            if library.get(shop, name).coupon is not None:
                found.append(name)
    except Exception:  # the empty state without the list
        logger.warning("template definitions unreadable", exc_info=True)
    return found


def _offer(req: Request, shop: ShopConfig, entry: IncentiveTemplate) -> dict[str, Any]:
    """One template's readout: its bands with arms (in the report's order), each with its verdict."""
    table = entry.uplift
    by_index = {b.band: b for b in table.bands}
    steps: dict[str, list[Experiment]] = {}
    for comparison in entry.comparisons:
        steps.setdefault(comparison.step, []).append(comparison)
    bands = []
    for step, comparisons in steps.items():
        index = band_of_step(step)
        uplift = by_index.get(index) if index >= 0 else None
        bands.append(
            {
                "step": step,
                "label": _band_label(req, uplift.low, uplift.high) if uplift else req.words("offers.band.none"),
                "comparisons": comparisons,
                "notes": [_note(req, c) for c in comparisons],
                "verdict": _verdict(req, uplift, table.min_per_arm, table.margin),
            }
        )
    seen = {band_of_step(step) for step in steps}
    untouched = [_band_label(req, b.low, b.high) for b in table.bands if b.band not in seen]
    return {
        "template": entry.template,
        "terms": _coupon_terms(req, shop.shop, entry.template),
        "previewable": deps.has_template(shop.shop, entry.template),
        "bands": bands,
        "untouched": untouched,
        "measured": len(table.measured),
        "band_count": len(table.bands),
    }


def _provider(req: Request, shop: ShopConfig) -> str:
    """The coupon provider's name (never its credentials)."""
    coupons = shop.coupons
    if coupons is None:
        return req.words("offers.provider.none")
    name = str(getattr(coupons, "provider", ""))
    if name == "broken":
        return req.words("offers.provider.broken", problem=getattr(coupons, "problem", ""))
    key = f"offers.provider.{name}"
    return req.words(key) if req.words.has(key) else name


@router.get("/console/offers", cors=False, include_in_schema=False)
@_guard
def offers():
    req = _request()
    config = _signed_in(req)
    t, fmt = req.words, req.fmt
    settings = config.incentives
    report = _reports().incentives(config.shop, settings, deps.wiring().clock.now())
    facts = [
        ("provider", t("offers.provider"), _provider(req, config)),
        ("control-share", t("offers.control_share"), fmt.pct(settings.control_share)),
        ("explore-share", t("offers.explore_share"), fmt.pct(settings.explore_share)),
        ("window", t("offers.window"), t("offers.window.days", days=settings.window_days)),
        ("margin", t("offers.margin"), fmt.pct(settings.margin)),
        ("min-per-arm", t("offers.min_per_arm"), fmt.num(settings.min_per_arm)),
    ]
    return _render(
        req,
        200,
        "offers.html",
        section="offers",
        title=t("offers.title"),
        facts=facts,
        window_days=report.window_days,
        offers=[_offer(req, config, entry) for entry in report.templates],
        coupon_templates=[] if report.templates else _coupon_templates(config.shop),
    )


# ---- static files ----------------------------------------------------------------------------------


@router.get("/console/static/<name>", cors=False, include_in_schema=False)
def static(name: str):
    found = static_files().get(name)
    if found is None:
        return Response(status_code=404, content_type="text/plain; charset=utf-8", body="not found", headers=_headers())
    return Response(
        status_code=200,
        content_type=found.content_type,
        body=found.body,
        headers={
            "Cache-Control": "public, max-age=86400",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'self'",
        },
    )
