"""The satisfaction survey Emma hosts: one question (how likely is the customer to recommend the shop,
0-10), reached by the eleven signed score links of a survey mail (``survey_links`` in the template
context, emma.dispatch.context). Plain HTML, no JavaScript, German or English by the mail's language.

    GET  /v1/survey?t=<token>&score=N   the question with N chosen, an optional comment, a "Send" button
    POST /v1/survey?t=<token>           records the answer (``survey.answered``) and thanks the customer

A click in the mail chooses the score; the answer is stored by the button. Mail scanners (Microsoft
Defender's Safe Links, Proofpoint, Mimecast, Barracuda, ...) open every link of a mail before the
customer sees it: on this mail that is all eleven scores, in no particular order, so recording on GET
would give the journey a random answer to branch on for every customer behind such a scanner. GET
therefore stores nothing (like /v1/confirm and /v1/unsubscribe); the page costs the customer one more
click and offers the comment box in return.

POST records ``survey.answered`` through ingest (source ``emma``/``survey``, a customer's own action):
``{survey_id, score, answers: {locale, comment?}}``, so ``profile.last_survey`` is what the flagship
journey's branch reads, the event log and the export hold it. Repeated answers:

- The same score again for the same mail (a double click, the form sent twice, the back button) changes
  nothing: the profile's answer since the mail went out already says so (a new comment with it is
  ignored too), and two submissions racing each other share one event id.
- Another score later replaces the answer (the newest answer wins on the profile): the event id names
  the mail, the score and the answer it replaces, so 9, then 3, then 9 again ends at 9.

A damaged or forged link answers 400, an expired one 410 (the links live ``SURVEY_LINK_DAYS``), an
erased customer 404, a score outside 0-10 or a comment over 1,000 characters 400: each an HTML page
saying so, and nothing is stored.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from emma.dispatch.context import SURVEY_SCORES
from emma.dispatch.policy import customer_locale
from emma.dispatch.tokens import ExpiredToken, InvalidToken, SurveyToken, token_locale, token_shop, verify_survey
from emma.errors import NotFound, ShopNotFound
from emma.events.model import Source, SourceKind, parse_event
from emma.profiles.model import Profile
from emma.shops import ShopConfig
from ingest import deps
from ingest.http import raw_body, received_at
from ingest.routes.preferences import _STYLE as _PREFERENCES_STYLE  # the preference centre's look
from ingest.routes.preferences import _page as _preferences_page

router = APIGatewayHttpRouter()
MAX_COMMENT = 1000  # characters

_TEXT: dict[str, dict[str, str]] = {
    "de": {
        "title": "Deine Meinung",
        "intro": "Danke, dass du dir einen Moment für {shop} nimmst.",
        "question": "Wie wahrscheinlich ist es, dass du uns weiterempfiehlst?",
        "scale": "0 = gar nicht wahrscheinlich ... 10 = äußerst wahrscheinlich",
        "score": "{score} von 10",
        "comment": "Möchtest du uns noch etwas sagen? (freiwillig, höchstens 1.000 Zeichen)",
        "send": "Senden",
        "hint": "Deine Antwort wird gespeichert, wenn du auf „Senden“ klickst.",
        "answered": "Du hast schon geantwortet ({score} von 10). Hier kannst du deine Antwort ändern.",
        "thanks.title": "Vielen Dank!",
        "thanks": "Danke für deine Antwort ({score} von 10). Sie hilft uns, noch besser zu werden.",
        "thanks.again": "Deine Antwort ({score} von 10) hatten wir schon. Danke!",
        "thanks.change": "Möchtest du sie ändern? Klick einfach noch einmal auf eine Zahl in der E-Mail.",
        "no_score": "Bitte wähle eine Zahl von 0 bis 10. Es wurde nichts gespeichert.",
        "long": "Dein Kommentar ist länger als 1.000 Zeichen. Bitte kürze ihn. Es wurde nichts gespeichert.",
        "bad": "Dieser Link ist ungültig. Bitte kopiere den vollständigen Link aus der E-Mail. "
        "Es wurde nichts gespeichert.",
        "expired": "Diese Umfrage ist abgelaufen. Danke für dein Interesse! Es wurde nichts gespeichert.",
        "gone": "Zu diesem Link haben wir keine Daten mehr. Es wurde nichts gespeichert.",
    },
    "en": {
        "title": "Your opinion",
        "intro": "Thank you for taking a moment for {shop}.",
        "question": "How likely are you to recommend us to a friend?",
        "scale": "0 = not at all likely ... 10 = extremely likely",
        "score": "{score} out of 10",
        "comment": "Anything else you would like to tell us? (optional, at most 1,000 characters)",
        "send": "Send",
        "hint": "Your answer is saved when you press “Send”.",
        "answered": "You have answered already ({score} out of 10). You can change your answer here.",
        "thanks.title": "Thank you!",
        "thanks": "Thank you for your answer ({score} out of 10). It helps us get even better.",
        "thanks.again": "We already had your answer ({score} out of 10). Thank you!",
        "thanks.change": "Want to change it? Just click a number in the email again.",
        "no_score": "Please choose a number from 0 to 10. Nothing was saved.",
        "long": "Your comment is longer than 1,000 characters. Please shorten it. Nothing was saved.",
        "bad": "This link is not valid. Please copy the whole link from the email. Nothing was saved.",
        "expired": "This survey has closed. Thank you for your interest! Nothing was saved.",
        "gone": "We no longer hold any data for this link. Nothing was saved.",
    },
}
_STYLE = _PREFERENCES_STYLE + (
    ".scale{display:flex;flex-wrap:wrap;gap:.3rem;margin:.5rem 0}"
    ".scale label{display:inline-block;min-width:2.4rem;padding:.4rem .2rem;text-align:center;"
    "border:1px solid #d1d5db;border-radius:4px}"
    "textarea{width:100%;box-sizing:border-box;font:inherit;margin:.35rem 0 1rem}"
    ".warning{background:#fef2f2;padding:.75rem 1rem;border-radius:6px}"
)
# No script, no frames, no other origin; the stylesheet is the one inline <style>, allowed by its hash.
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


# ---- the request ------------------------------------------------------------------------------


def _token() -> str:
    return (router.current_event.query_string_parameters or {}).get("t", "")


def _fallback_locale() -> str:
    """The language of a page about a link that does not open: the one the token names, else the browser's."""
    claimed = token_locale(_token())
    if claimed in _TEXT:
        return claimed  # type: ignore[return-value]
    accept = (router.current_event.headers or {}).get("accept-language", "")
    return "de" if accept.lower().startswith("de") else "en"


def _form() -> dict[str, list[str]]:
    return parse_qs(raw_body(router.current_event).decode("utf-8", "replace"), keep_blank_values=True)


def _page(status: int, locale: str, title: str, body: str) -> Response:
    return _preferences_page(status, locale, title, body, style=_STYLE, headers={"Content-Security-Policy": CSP})


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _open() -> tuple[ShopConfig, SurveyToken, Profile, datetime, str]:
    """The shop, the verified token, the customer, the time of the request and the page's language;
    _Refused with the page that says why not (nothing is stored then)."""
    locale = _fallback_locale()
    text = _TEXT[locale]
    now = received_at(router.current_event)
    components = deps.intake()
    try:
        shop = components.shops.get(token_shop(_token()))
        if not shop.signing_secret:
            raise InvalidToken("this shop does not sign links")
        token = verify_survey(shop.signing_secret, _token(), shop.shop, now)
    except ExpiredToken:
        raise _Refused(_page(410, locale, text["title"], f"<p>{text['expired']}</p>")) from None
    except (InvalidToken, ShopNotFound):
        raise _Refused(_page(400, locale, text["title"], f"<p>{text['bad']}</p>")) from None
    try:
        profile = components.service.resolve(shop.shop, token.profile_id)
    except NotFound:
        raise _Refused(_page(404, locale, text["title"], f"<p>{text['gone']}</p>")) from None
    if token.locale not in _TEXT:
        locale = customer_locale(profile, shop.dispatch)
    return shop, token, profile, now, locale


def _score(value: str | None) -> int | None:
    """A score of 0-10 as the link or the form sent it; None when absent; ValueError when not a score."""
    if value is None or not value.strip():
        return None
    score = int(value.strip()) if value.strip().isascii() and value.strip().isdigit() else -1
    if score not in SURVEY_SCORES:
        raise ValueError(value)
    return score


def _answer(profile: Profile, token: SurveyToken) -> dict[str, Any] | None:
    """The customer's answer to this survey since the mail went out, if any (profile.last_survey)."""
    last = profile.last_survey
    if not last or last.get("survey_id") != token.survey or last.get("score") is None:
        return None
    try:
        answered = datetime.fromisoformat(str(last.get("at")))
    except ValueError:
        return None
    return last if answered >= token.issued else None


def _shown(score: float) -> str:
    return str(int(score)) if float(score).is_integer() else str(score)


# ---- the pages ----------------------------------------------------------------------------------


def _survey_form(
    shop: ShopConfig,
    profile: Profile,
    token: SurveyToken,
    locale: str,
    score: int | None,
    comment: str = "",
    notice: str = "",
) -> str:
    text = _TEXT[locale]
    parts = [notice, f"<p>{text['intro'].format(shop=escape(shop.name or shop.shop))}</p>"]
    answer = _answer(profile, token)
    if answer is not None and not notice:
        parts.append(f'<p class="notice" role="status">{text["answered"].format(score=_shown(answer["score"]))}</p>')
    parts.append(f'<form method="post" action="?t={escape(_token(), quote=True)}">')
    parts.append(
        f'<fieldset aria-describedby="scale"><legend>{text["question"]}</legend>'
        f'<p class="muted" id="scale">{text["scale"]}</p><div class="scale">'
    )
    for n in SURVEY_SCORES:
        checked = " checked" if n == score else ""
        parts.append(
            f'<label title="{text["score"].format(score=n)}">'
            f'<input type="radio" name="score" value="{n}" required{checked}> {n}</label>'
        )
    parts.append("</div></fieldset>")
    parts.append(
        f'<label for="comment">{text["comment"]}</label>'
        f'<textarea id="comment" name="comment" rows="4" maxlength="{MAX_COMMENT}">{escape(comment)}</textarea>'
    )
    parts.append('<input type="hidden" name="form" value="survey">')
    parts.append(f'<button type="submit">{text["send"]}</button></form>')
    parts.append(f'<p class="muted">{text["hint"]}</p>')
    return "".join(parts)


def _warning(message: str) -> str:
    return f'<p class="warning" role="alert">{message}</p>'


@router.get("/v1/survey", cors=False, include_in_schema=False)
def survey_page():
    """The question with the score of the link chosen: nothing is stored (mail scanners open every link)."""
    try:
        shop, token, profile, _, locale = _open()
    except _Refused as refused:
        return refused.response
    text = _TEXT[locale]
    try:
        score = _score((router.current_event.query_string_parameters or {}).get("score"))
    except ValueError:
        body = _survey_form(shop, profile, token, locale, None, notice=_warning(text["no_score"]))
        return _page(400, locale, text["title"], body)
    return _page(200, locale, text["title"], _survey_form(shop, profile, token, locale, score))


@router.post("/v1/survey", cors=False, include_in_schema=False)
def answer_survey():
    try:
        shop, token, profile, now, locale = _open()
    except _Refused as refused:
        return refused.response
    text = _TEXT[locale]
    form = _form()
    if form.get("form", [""])[0] != "survey":  # not our form (an empty or foreign POST): store nothing
        return _page(400, locale, text["title"], f"<p>{text['bad']}</p>")
    comment = form.get("comment", [""])[0].replace("\r\n", "\n").replace("\r", "\n").strip()
    try:
        score = _score(form.get("score", [None])[0])
    except ValueError:
        score = None
    if score is None:
        body = _survey_form(shop, profile, token, locale, None, comment, _warning(text["no_score"]))
        return _page(400, locale, text["title"], body)
    if len(comment) > MAX_COMMENT:
        body = _survey_form(shop, profile, token, locale, score, comment, _warning(text["long"]))
        return _page(400, locale, text["title"], body)
    answer = _answer(profile, token)
    change = f"<p>{text['thanks.change']}</p>"
    if answer is not None and float(answer["score"]) == score:  # sent again: the answer stands as it is
        body = f"<p>{text['thanks.again'].format(score=score)}</p>{change}"
        return _page(200, locale, text["thanks.title"], body)
    answers = {"locale": locale, **({"comment": comment} if comment else {})}
    # One id per mail, score and the answer it replaces: a repeat (or a race of two) is stored once, and
    # a score changed back (9, 3, 9) is a new answer.
    replaces = (profile.last_survey or {}).get("at") or "-"
    event = parse_event(
        {
            "id": f"survey:{token.message}:{token.survey}:{score}:{replaces}"[:256],
            "type": "survey.answered",
            "shop": shop.shop,
            "occurred_at": now.isoformat(),
            "received_at": now.isoformat(),
            "source": Source(kind=SourceKind.EMMA, name="survey", delivery_id=token.message or None).model_dump(),
            "customer": profile.references().model_dump(exclude_none=True),
            "properties": {"survey_id": token.survey, "score": score, "answers": answers},
        }
    )
    deps.intake().service.ingest([event])
    return _page(200, locale, text["thanks.title"], f"<p>{text['thanks'].format(score=score)}</p>{change}")
