"""The preference centre and the double opt-in confirmation: plain HTML pages (no JavaScript), German
and English, reached by signed links in Emma's messages.

    GET  /v1/preferences?t=<token>   the customer's channels, topics and a pause, as one form
    POST /v1/preferences?t=<token>   saves what changed, each change a consent statement with proof
    GET  /v1/confirm?t=<token>       the confirmation mail's link: a page with one button (mail
                                     scanners that open links confirm nobody)
    POST /v1/confirm?t=<token>       records the confirmation: email consent by double opt-in

Tokens are signed with the shop's signing secret (emma.dispatch.tokens) and expire: a damaged or
forged link answers 400, an expired one 410, an erased customer 404, each an HTML page saying so,
and nothing changes. Every change goes through ingest as a ``consent.changed`` event whose proof
names the page (source, time, the wording and its version, IP, user agent), like one-click
unsubscribe (messages.py): it is on the profile and in its event log at once, so the very next
message request honours it, and in the customer's export. Email switched on again is a grant
without double opt-in: where the shop requires it, Emma sends the confirmation mail
(docs/dispatch.md#double-opt-in) and marketing email waits for the click.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from emma.dispatch.policy import customer_locale, pending_email_grant
from emma.dispatch.tokens import (
    ExpiredToken,
    InvalidToken,
    token_shop,
    verify_confirmation,
    verify_preferences,
)
from emma.errors import NotFound, ShopNotFound
from emma.events.model import CanonicalEvent, Channel, Source, SourceKind, parse_event
from emma.profiles.model import Profile
from emma.shops import ShopConfig
from ingest import deps
from ingest.http import raw_body, received_at

router = APIGatewayHttpRouter()
PAUSES = (30, 90)  # days a customer may pause marketing messages for ("less often")
WORDING_VERSION = "preferences@1"  # bump when the page's wording changes: the proof names it

_TEXT: dict[str, dict[str, str]] = {
    "de": {
        "title": "Deine Einstellungen",
        "intro": "Hier entscheidest du, wie und worüber {shop} dir schreibt.",
        "channels": "Kanäle",
        "channel.email": "E-Mail",
        "channel.sms": "SMS",
        "channel.push": "Push-Nachrichten in der App",
        "pending": "wartet auf deine Bestätigung per E-Mail",
        "topics": "Themen",
        "pause": "Weniger Nachrichten",
        "pause.none": "Keine Pause",
        "pause.keep": "Pause bis {until} beibehalten",
        "pause.days": "{days} Tage lang keine Werbung",
        "save": "Speichern",
        "saved": "Gespeichert.",
        "unchanged": "Nichts geändert.",
        "doi_sent": "Wir schicken dir eine E-Mail: Bitte bestätige darin, dass du wieder E-Mails erhalten möchtest.",
        "note": "Nachrichten zu Bestellungen und Lieferungen erhältst du weiterhin.",
        "bad": "Dieser Link ist ungültig. Bitte kopiere den vollständigen Link aus der Nachricht. "
        "Es wurde nichts geändert.",
        "expired": "Dieser Link ist abgelaufen. Die nächste Nachricht von {shop} enthält einen neuen; "
        "der Abmeldelink in jeder Nachricht funktioniert immer. Es wurde nichts geändert.",
        "gone": "Zu diesem Link haben wir keine Daten mehr. Es wurde nichts geändert.",
        "confirm.title": "Anmeldung bestätigen",
        "confirm.ask": "Bestätige, dass du E-Mails von {shop} mit Neuigkeiten, Tipps und Angeboten erhalten möchtest.",
        "confirm.wording": "Ja, ich möchte E-Mails von {shop} mit Neuigkeiten, Tipps und Angeboten erhalten. "
        "Abmelden geht jederzeit mit einem Klick.",
        "confirm.button": "Ja, ich möchte E-Mails erhalten",
        "confirm.done": "Danke! Deine Anmeldung ist bestätigt.",
        "confirm.already": "Deine Anmeldung ist bereits bestätigt. Es wurde nichts geändert.",
        "confirm.withdrawn": "Diese Anmeldung wurde inzwischen zurückgezogen. Es wurde nichts geändert; "
        "in deinen Einstellungen kannst du dich wieder anmelden.",
        "confirm.none": "Es gibt nichts zu bestätigen: Dieser Shop verlangt keine Bestätigung.",
        "confirm.stale": "Dieser Link gehört zu einer früheren Anmeldung. Es wurde nichts geändert; bitte nutze den "
        "Link aus der neuesten Bestätigungs-E-Mail.",
        "manage": "Einstellungen ändern",
    },
    "en": {
        "title": "Your preferences",
        "intro": "Choose how and about what {shop} writes to you.",
        "channels": "Channels",
        "channel.email": "Email",
        "channel.sms": "SMS",
        "channel.push": "Push notifications in the app",
        "pending": "awaiting your confirmation by email",
        "topics": "Topics",
        "pause": "Fewer messages",
        "pause.none": "No pause",
        "pause.keep": "Keep the pause until {until}",
        "pause.days": "No marketing for {days} days",
        "save": "Save",
        "saved": "Saved.",
        "unchanged": "Nothing changed.",
        "doi_sent": "We are sending you an email: please confirm in it that you want emails again.",
        "note": "Messages about your orders and deliveries still reach you.",
        "bad": "This link is not valid. Please copy the whole link from the message. Nothing was changed.",
        "expired": "This link has expired. The next message from {shop} carries a new one; the unsubscribe "
        "link in every message always works. Nothing was changed.",
        "gone": "We no longer hold any data for this link. Nothing was changed.",
        "confirm.title": "Confirm your subscription",
        "confirm.ask": "Confirm that you want emails from {shop} with news, tips and offers.",
        "confirm.wording": "Yes, I want emails from {shop} with news, tips and offers. "
        "I can unsubscribe at any time with one click.",
        "confirm.button": "Yes, I want emails",
        "confirm.done": "Thank you! Your subscription is confirmed.",
        "confirm.already": "Your subscription is already confirmed. Nothing was changed.",
        "confirm.withdrawn": "This subscription was withdrawn since. Nothing was changed; you can subscribe "
        "again in your preferences.",
        "confirm.none": "There is nothing to confirm: this shop does not ask for a confirmation.",
        "confirm.stale": "This link belongs to an earlier subscription. Nothing was changed; please use the link in "
        "the newest confirmation email.",
        "manage": "Change your preferences",
    },
}
_STYLE = (
    "body{font-family:Helvetica,Arial,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#1f2933}"
    "fieldset{border:1px solid #d1d5db;border-radius:6px;margin:0 0 1rem;padding:.75rem 1rem}"
    "legend{font-weight:bold}label{display:block;padding:.35rem 0}.muted{color:#6b7280;font-size:.9rem}"
    "button{padding:.75rem 1.5rem;font-size:1rem}.notice{background:#ecfdf5;padding:.75rem 1rem;border-radius:6px}"
)


# ---- the request ------------------------------------------------------------------------------


def _header_locale() -> str:
    accept = (router.current_event.headers or {}).get("accept-language", "")
    return "de" if accept.lower().startswith("de") else "en"


def _token() -> str:
    return (router.current_event.query_string_parameters or {}).get("t", "")


def _form() -> dict[str, list[str]]:
    return parse_qs(raw_body(router.current_event).decode("utf-8", "replace"), keep_blank_values=True)


def _client() -> tuple[str | None, str | None]:
    http = (router.current_event.raw_event.get("requestContext") or {}).get("http") or {}
    agent = http.get("userAgent") or (router.current_event.headers or {}).get("user-agent")
    return http.get("sourceIp"), (agent[:1000] if agent else None)


def _page(
    status: int, locale: str, title: str, body: str, *, style: str = _STYLE, headers: dict[str, str] | None = None
) -> Response:
    """A page of Emma's own (this centre, the confirmation, the survey): never cached, no referrer."""
    html = (
        f'<!DOCTYPE html><html lang="{locale}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{escape(title)}</title><style>{style}</style></head>'
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return Response(
        status_code=status,
        content_type="text/html; charset=utf-8",
        body=html,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", **(headers or {})},
    )


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _open(verify: Callable[[str, str, str, datetime], Any]) -> tuple[ShopConfig, Any, Profile, datetime]:
    """The shop, the verified token, the customer and the time of the request; _Refused with the page
    that says why not (nothing changes then)."""
    locale = _header_locale()
    text = _TEXT[locale]
    now = received_at(router.current_event)
    components = deps.intake()
    try:
        shop = components.shops.get(token_shop(_token()))
        if not shop.signing_secret:
            raise InvalidToken("this shop does not sign links")
        token = verify(shop.signing_secret, _token(), shop.shop, now)
    except ExpiredToken:
        name = escape(shop.name or shop.shop)
        raise _Refused(_page(410, locale, text["title"], f"<p>{text['expired'].format(shop=name)}</p>")) from None
    except (InvalidToken, ShopNotFound):
        raise _Refused(_page(400, locale, text["title"], f"<p>{text['bad']}</p>")) from None
    try:
        profile = components.service.resolve(shop.shop, token.profile_id)
    except NotFound:
        raise _Refused(_page(404, locale, text["title"], f"<p>{text['gone']}</p>")) from None
    return shop, token, profile, now


def _consent_event(
    shop: ShopConfig, profile: Profile, event_id: str, at: datetime, source: Source, properties: dict[str, Any]
) -> CanonicalEvent:
    return parse_event(
        {
            "id": event_id[:256],
            "type": "consent.changed",
            "shop": shop.shop,
            "occurred_at": at.isoformat(),
            "received_at": at.isoformat(),
            "source": source.model_dump(),
            "customer": profile.references().model_dump(exclude_none=True),
            "properties": properties,
        }
    )


# ---- the preference centre ----------------------------------------------------------------------


def _paused_until(profile: Profile, now: datetime) -> datetime | None:
    return profile.pause.until if profile.pause is not None and profile.pause.until > now else None


def _topic_wanted(profile: Profile, topic: str) -> bool:
    state = profile.topic_consent.get(topic)
    return state is None or state.granted


def _preferences_form(shop: ShopConfig, profile: Profile, locale: str, now: datetime, notice: str = "") -> str:
    text = _TEXT[locale]
    name = escape(shop.name or shop.shop)
    parts = [
        f'<p class="notice" role="status">{notice}</p>' if notice else "",
        f"<p>{text['intro'].format(shop=name)}</p>",
    ]
    parts.append(f'<form method="post" action="?t={escape(_token(), quote=True)}">')
    parts.append(f"<fieldset><legend>{text['channels']}</legend>")
    pending = pending_email_grant(profile, shop.dispatch)
    for channel in (Channel.EMAIL, Channel.SMS, Channel.PUSH):
        state = profile.consent.get(channel)
        checked = " checked" if state is not None and state.granted else ""
        note = f' <span class="muted">({text["pending"]})</span>' if channel == Channel.EMAIL and pending else ""
        parts.append(
            f'<label><input type="checkbox" name="channel" value="{channel}"{checked}> '
            f"{text['channel.' + str(channel)]}{note}</label>"
        )
    parts.append("</fieldset>")
    if shop.dispatch.topics:
        parts.append(f"<fieldset><legend>{text['topics']}</legend>")
        for topic in shop.dispatch.topics:
            checked = " checked" if _topic_wanted(profile, topic.id) else ""
            about = topic.description.get(locale)  # type: ignore[call-overload]
            parts.append(
                f'<label><input type="checkbox" name="topic" value="{escape(topic.id, quote=True)}"{checked}> '
                f"{escape(topic.label[locale])}"  # type: ignore[index]
                + (f' <span class="muted">{escape(about)}</span>' if about else "")
                + "</label>"
            )
        parts.append("</fieldset>")
    parts.append(f"<fieldset><legend>{text['pause']}</legend>")
    until = _paused_until(profile, now)
    options = [("keep", text["pause.keep"].format(until=until.date().isoformat()))] if until else []
    options += [("none", text["pause.none"])] + [(str(d), text["pause.days"].format(days=d)) for d in PAUSES]
    for n, (value, label) in enumerate(options):
        checked = " checked" if n == 0 else ""
        parts.append(f'<label><input type="radio" name="pause" value="{value}"{checked}> {escape(label)}</label>')
    parts.append("</fieldset>")
    parts.append('<input type="hidden" name="form" value="preferences">')
    parts.append(f'<button type="submit">{text["save"]}</button></form>')
    parts.append(f'<p class="muted">{text["note"]}</p>')
    return "".join(parts)


@router.get("/v1/preferences", cors=False, include_in_schema=False)
def preferences_page():
    try:
        shop, _, profile, now = _open(verify_preferences)
    except _Refused as refused:
        return refused.response
    locale = customer_locale(profile, shop.dispatch)
    return _page(200, locale, _TEXT[locale]["title"], _preferences_form(shop, profile, locale, now))


@router.post("/v1/preferences", cors=False, include_in_schema=False)
def save_preferences():
    try:
        shop, token, profile, now = _open(verify_preferences)
    except _Refused as refused:
        return refused.response
    locale = customer_locale(profile, shop.dispatch)
    text = _TEXT[locale]
    form = _form()
    if form.get("form", [""])[0] != "preferences":  # not our form (an empty or foreign POST): change nothing
        return _page(400, locale, text["title"], f"<p>{text['bad']}</p>")
    ip, agent = _client()
    request_id = (router.current_event.raw_event.get("requestContext") or {}).get("requestId") or now.isoformat()
    source = Source(kind=SourceKind.EMMA, name="preferences", delivery_id=token.message or None)

    def proof(wording: str) -> dict[str, Any]:
        return {
            "source": f"emma:preferences:{token.message}",
            "at": now.isoformat(),
            "wording": wording,
            "wording_version": f"{WORDING_VERSION}/{locale}",
            "ip": ip,
            "user_agent": agent,
        }

    events: list[CanonicalEvent] = []

    def change(subject: str, properties: dict[str, Any]) -> None:
        event_id = f"pref:{token.message}:{request_id}:{subject}"
        events.append(_consent_event(shop, profile, event_id, now, source, properties))

    wanted_channels = set(form.get("channel", []))
    doi_requested = False
    for channel in (Channel.EMAIL, Channel.SMS, Channel.PUSH):
        state = profile.consent.get(channel)
        has = state is not None and state.granted
        wants = str(channel) in wanted_channels
        if wants != has:
            label = text["channel." + str(channel)]
            wording = (
                f"{text['channels']}: {label} {'an' if locale == 'de' else 'on'}"
                if wants
                else (f"{text['channels']}: {label} {'aus' if locale == 'de' else 'off'}")
            )
            change(f"channel:{channel}", {"channel": str(channel), "granted": wants, "proof": proof(wording)})
            doi_requested |= wants and channel == Channel.EMAIL and shop.dispatch.double_opt_in
    wanted_topics = set(form.get("topic", []))
    for topic in shop.dispatch.topics:
        wants = topic.id in wanted_topics
        if wants != _topic_wanted(profile, topic.id):
            label = topic.label[locale]  # type: ignore[index]
            wording = (
                f"{text['topics']}: {label} {'an' if locale == 'de' else 'on'}"
                if wants
                else (f"{text['topics']}: {label} {'aus' if locale == 'de' else 'off'}")
            )
            change(f"topic:{topic.id}", {"topic": topic.id, "granted": wants, "proof": proof(wording)})
    pause = form.get("pause", ["keep"])[0]
    if pause in {str(d) for d in PAUSES}:
        days = int(pause)
        wording = f"{text['pause']}: {text['pause.days'].format(days=days)}"
        until = now + timedelta(days=days)
        change("pause", {"paused_until": until.isoformat(), "granted": False, "proof": proof(wording)})
    elif pause == "none" and _paused_until(profile, now) is not None:
        wording = f"{text['pause']}: {text['pause.none']}"
        change("pause", {"paused_until": now.isoformat(), "granted": True, "proof": proof(wording)})
    if events:
        deps.intake().service.ingest(events)
        profile = deps.intake().service.resolve(shop.shop, profile.profile_id)
    notice = text["saved"] if events else text["unchanged"]
    if doi_requested:
        notice += " " + text["doi_sent"]
    return _page(200, locale, text["title"], _preferences_form(shop, profile, locale, now, notice))


# ---- the double opt-in confirmation ---------------------------------------------------------------


@router.get("/v1/confirm", cors=False, include_in_schema=False)
def confirmation_page():
    try:
        shop, token, profile, _ = _open(verify_confirmation)
    except _Refused as refused:
        return refused.response
    locale = customer_locale(profile, shop.dispatch)
    text = _TEXT[locale]
    name = escape(shop.name or shop.shop)
    answer = _confirmation_state(shop, profile, text, token.grant)
    if answer is not None:
        return _page(200 if answer[0] == "already" else 409, locale, text["confirm.title"], f"<p>{answer[1]}</p>")
    form = (
        f'<form method="post" action="?t={escape(_token(), quote=True)}">'
        '<input type="hidden" name="form" value="confirm">'
        f'<button type="submit">{text["confirm.button"]}</button></form>'
    )
    wording = text["confirm.wording"].format(shop=name)
    body = f'<p>{text["confirm.ask"].format(shop=name)}</p><p class="muted">{wording}</p>{form}'
    return _page(200, locale, text["confirm.title"], body)


def _confirmation_state(
    shop: ShopConfig, profile: Profile, text: dict[str, str], grant: datetime
) -> tuple[str, str] | None:
    """Why there is nothing to confirm (already confirmed, withdrawn, a link of an earlier grant, not
    required), or None. A grant of an address that belonged to an erased customer needs the confirmation
    whatever the shop requires (ConsentState.confirm_required)."""
    state = profile.consent.get(Channel.EMAIL)
    if state is not None and state.granted and state.proof.double_opt_in:
        return "already", text["confirm.already"]
    if state is None or not state.granted:
        return "withdrawn", text["confirm.withdrawn"]
    if abs((state.started - grant).total_seconds()) >= 1:  # the link of a grant withdrawn since
        return "stale", text["confirm.stale"]
    if not shop.dispatch.double_opt_in and not state.confirm_required:
        return "already", text["confirm.none"]
    return None


@router.post("/v1/confirm", cors=False, include_in_schema=False)
def confirm():
    try:
        shop, token, profile, now = _open(verify_confirmation)
    except _Refused as refused:
        return refused.response
    locale = customer_locale(profile, shop.dispatch)
    text = _TEXT[locale]
    answer = _confirmation_state(shop, profile, text, token.grant)
    if answer is not None:  # a second click, or a withdrawal since: nothing changes
        return _page(200 if answer[0] == "already" else 409, locale, text["confirm.title"], f"<p>{answer[1]}</p>")
    ip, agent = _client()
    proof = {
        "source": "emma:doi",
        "at": now.isoformat(),
        "wording": text["confirm.wording"].format(shop=shop.name or shop.shop),
        "wording_version": token.wording or None,
        "double_opt_in": True,
        "ip": ip,
        "user_agent": agent,
    }
    source = Source(kind=SourceKind.EMMA, name="doi")
    # One id per confirmed grant: two clicks racing each other are stored once.
    event_id = f"doi:{profile.profile_id}:{token.grant.timestamp():.0f}:confirmed"
    properties = {"channel": "email", "granted": True, "proof": proof}
    deps.intake().service.ingest([_consent_event(shop, profile, event_id, now, source, properties)])
    return _page(200, locale, text["confirm.title"], f"<p>{text['confirm.done']}</p>")
