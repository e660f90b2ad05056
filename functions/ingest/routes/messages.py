"""Public endpoints behind Emma's messages: one-click unsubscribe (RFC 8058) and tracked short links.

    GET  /v1/unsubscribe?t=<token>   a page with one button (link scanners never unsubscribe anybody)
    POST /v1/unsubscribe?t=<token>   unsubscribes at once: mail clients' one-click POST
                                     (List-Unsubscribe=One-Click) and the page's button
    GET  /v1/r/<shop>/<code>         counts the click (SMS, push) and redirects to the stored URL

The token is signed with the shop's signing secret and names the profile, the channel and the
message. Unsubscribing is a consent withdrawal with proof (when, from where, which wording, the
IP), stored through ingest like every other change, so the very next message request finds it.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from emma.dispatch.tokens import InvalidToken, token_shop, verify_unsubscribe
from emma.errors import NotFound, ShopNotFound
from emma.events.model import Channel, Source, SourceKind, parse_event
from ingest import deps
from ingest.http import raw_body, received_at

router = APIGatewayHttpRouter()

_TEXT = {
    "de": {
        "title": "Abmelden",
        "ask": "Möchtest du keine Nachrichten ({channel}) von {shop} mehr erhalten?",
        "button": "Abmelden",
        "done": "Du bist abgemeldet. Du erhältst keine Nachrichten ({channel}) mehr von {shop}.",
        "bad": "Dieser Abmeldelink ist ungültig. Bitte kopiere den vollständigen Link aus der Nachricht.",
    },
    "en": {
        "title": "Unsubscribe",
        "ask": "Stop receiving messages ({channel}) from {shop}?",
        "button": "Unsubscribe",
        "done": "You are unsubscribed. You will not receive messages ({channel}) from {shop} any more.",
        "bad": "This unsubscribe link is not valid. Please copy the whole link from the message.",
    },
}


def _locale() -> str:
    accept = (router.current_event.headers or {}).get("accept-language", "")
    return "de" if accept.lower().startswith("de") else "en"


def _page(status: int, body: str, locale: str) -> Response:
    html = (
        f'<!DOCTYPE html><html lang="{locale}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_TEXT[locale]["title"]}</title>'
        '<meta name="robots" content="noindex"></head>'
        '<body style="font-family: Helvetica, Arial, sans-serif; max-width: 32rem; margin: 3rem auto">'
        f"{body}</body></html>"
    )
    return Response(status_code=status, content_type="text/html; charset=utf-8", body=html)


def _token() -> str:
    return (router.current_event.query_string_parameters or {}).get("t", "")


def _verify(text: str):
    components = deps.intake()
    shop = components.shops.get(token_shop(text))
    if not shop.signing_secret:
        raise InvalidToken("this shop does not sign unsubscribe links")
    return shop, verify_unsubscribe(shop.signing_secret, text)


@router.get("/v1/unsubscribe", cors=False, include_in_schema=False)
def unsubscribe_page():
    locale = _locale()
    text = _TEXT[locale]
    try:
        shop, token = _verify(_token())
    except (InvalidToken, ShopNotFound):
        return _page(400, f"<p>{text['bad']}</p>", locale)
    question = text["ask"].format(channel=escape(token.channel), shop=escape(shop.name or shop.shop))
    form = (
        f'<form method="post" action="?t={escape(_token(), quote=True)}">'
        f'<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        f'<button type="submit" style="padding: .75rem 1.5rem; font-size: 1rem">{text["button"]}</button></form>'
    )
    return _page(200, f"<h1>{text['title']}</h1><p>{question}</p>{form}", locale)


@router.post("/v1/unsubscribe", cors=False, include_in_schema=False)
def unsubscribe():
    locale = _locale()
    text = _TEXT[locale]
    try:
        shop, token = _verify(_token())
    except (InvalidToken, ShopNotFound):
        return _page(400, f"<p>{text['bad']}</p>", locale)
    form = parse_qs(raw_body(router.current_event).decode("utf-8", "replace"))
    one_click = form.get("List-Unsubscribe", [""])[0] == "One-Click"
    components = deps.intake()
    try:
        profile = components.service.resolve(shop.shop, token.profile_id)
    except NotFound:
        return _page(
            200,
            f"<p>{text['done'].format(channel=escape(token.channel), shop=escape(shop.name or shop.shop))}</p>",
            locale,
        )
    at = received_at(router.current_event)
    refs = profile.references().model_dump(exclude_none=True)
    ip = ((router.current_event.raw_event.get("requestContext") or {}).get("http") or {}).get("sourceIp")
    source = Source(kind=SourceKind.EMMA, name="unsubscribe", delivery_id=token.message).model_dump()
    proof = {
        "source": f"emma:unsubscribe:{token.message}",
        "at": at.isoformat(),
        "wording": "one-click unsubscribe (List-Unsubscribe-Post)" if one_click else "unsubscribe page",
        "ip": ip,
    }
    base = {
        "shop": shop.shop,
        "occurred_at": at.isoformat(),
        "received_at": at.isoformat(),
        "source": source,
        "customer": refs,
    }
    events = [
        parse_event(
            {
                **base,
                "id": f"unsub:{token.message}:{token.channel}:consent",
                "type": "consent.changed",
                "properties": {"channel": token.channel, "granted": False, "proof": proof},
            }
        )
    ]
    if token.channel == Channel.EMAIL:
        events.append(
            parse_event(
                {
                    **base,
                    "id": f"unsub:{token.message}:email",
                    "type": "email.unsubscribed",
                    "properties": {"message_id": token.message, "message": token.message},
                }
            )
        )
    components.service.ingest(events)
    done = text["done"].format(channel=escape(token.channel), shop=escape(shop.name or shop.shop))
    return _page(200, f"<h1>{text['title']}</h1><p>{done}</p>", locale)


@router.get("/v1/r/<shop>/<code>", cors=False, include_in_schema=False)
def follow(shop: str, code: str):
    components = deps.intake()
    link = deps.links().get(shop, code)
    if link is None:
        return _page(404, "<p>This link has expired or never existed.</p>", "en")
    try:
        profile = components.service.resolve(shop, link["profile_id"])
    except NotFound:
        profile = None
    channel = link.get("channel", "sms")
    if profile is not None and channel in (Channel.SMS, Channel.PUSH):
        at = received_at(router.current_event)
        refs = profile.references().model_dump(exclude_none=True)
        request_id = (router.current_event.raw_event.get("requestContext") or {}).get("requestId", "")
        components.service.ingest(
            [
                parse_event(
                    {
                        "id": f"click:{code}:{request_id or at.isoformat()}"[:256],
                        "type": f"{channel}.clicked",
                        "shop": shop,
                        "occurred_at": at.isoformat(),
                        "received_at": at.isoformat(),
                        "source": Source(kind=SourceKind.EMMA, name="link", delivery_id=code).model_dump(),
                        "customer": refs,
                        "properties": {
                            "message_id": link.get("message"),
                            "message": link.get("message"),
                            "journey": link.get("journey"),
                            "step": link.get("step"),
                            "variant": link.get("variant"),
                            "template": link.get("template"),
                            "url": link["url"],
                        },
                    }
                )
            ]
        )
    return Response(status_code=302, headers={"Location": link["url"], "Cache-Control": "no-store"}, body="")
