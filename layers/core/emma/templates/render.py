"""Render a template for one customer: Jinja2's sandbox with StrictUndefined (a template can neither
reach into Python nor print a missing value as nothing), HTML autoescaped, CSS inlined, a plain-text
part, SMS length checked in GSM-7/UCS-2 segments."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from jinja2 import ChoiceLoader, DictLoader, StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from emma.errors import EmmaError
from emma.events.model import Channel
from emma.templates.inline import InlineError, inline_css
from emma.templates.library import TemplateSet
from emma.templates.text import html_to_text

MAX_SMS_SEGMENTS = 2
# GSM 03.38 basic set + extension table (extension characters count twice).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = set("^{}\\[~]|€\f")


class RenderError(EmmaError):
    """A template failed to render (a missing value, a bug in the template, an SMS too long)."""

    status = 422


def sms_segments(text: str) -> tuple[int, str]:
    """(segments, encoding) an SMS of this text needs."""
    if all(c in _GSM_BASIC or c in _GSM_EXT for c in text):
        units = sum(2 if c in _GSM_EXT else 1 for c in text)
        return (1 if units <= 160 else -(-units // 153)), "GSM-7"
    units = sum(2 if ord(c) > 0xFFFF else 1 for c in text)  # UTF-16 code units
    return (1 if units <= 70 else -(-units // 67)), "UCS-2"


@dataclass(frozen=True)
class Rendered:
    channel: Channel
    locale: str
    subject: str = ""
    preheader: str = ""
    html: str = ""
    text: str = ""
    sms: str = ""
    push_title: str = ""
    push_body: str = ""

    @property
    def body(self) -> str:
        """What a person reads on this channel (the message log keeps a preview of it)."""
        return {Channel.EMAIL: self.text, Channel.SMS: self.sms, Channel.PUSH: f"{self.push_title}\n{self.push_body}"}[
            self.channel
        ]


class Record(SimpleNamespace):
    """A context object: templates read its fields as attributes (``cart.items`` is the cart's items,
    never a dict method)."""


def as_records(value: Any, key: str = "") -> Any:
    if isinstance(value, dict) and key != "traits":  # traits stay a mapping: customer.traits["plan"]
        return Record(**{k: as_records(v, k) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return [as_records(v) for v in value]
    return value


class Renderer:
    """Compiled templates are cached per shop, template, locale and part (safe across threads)."""

    def __init__(self, templates: TemplateSet) -> None:
        self.templates = templates
        self._envs: dict[tuple[str, bool], ImmutableSandboxedEnvironment] = {}
        self._compiled: dict[tuple[str, str, str, str], Any] = {}
        self._lock = threading.Lock()

    def _env(self, shop: str, html: bool) -> ImmutableSandboxedEnvironment:
        key = (shop, html)
        env = self._envs.get(key)
        if env is None:
            loader = ChoiceLoader([DictLoader(self.templates.shop_layouts(shop)), DictLoader(self.templates.layouts)])
            env = ImmutableSandboxedEnvironment(
                loader=loader,
                undefined=StrictUndefined,
                autoescape=html,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=False,
            )
            self._envs[key] = env
        return env

    def _template(self, shop: str, name: str, locale: str, part: str, source: str) -> Any:
        key = (shop, name, locale, part)
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._env(shop, part == "html").from_string(source)
                self._compiled[key] = compiled
        return compiled

    def render(self, shop: str, name: str, locale: str, channel: Channel, context: dict[str, Any]) -> Rendered:
        template = self.templates.get(shop, name)
        content = template.locales.get(locale) or template.locales["en"]  # type: ignore[index]
        locale = locale if locale in template.locales else "en"

        def part(field: str, source: str, ctx: dict[str, Any]) -> str:
            try:
                return self._template(shop, name, locale, field, source).render(ctx).strip()
            except TemplateError as exc:
                raise RenderError(f"{name} ({locale}, {field}): {type(exc).__name__}: {exc}") from exc

        message = {**context.get("message", {}), "locale": locale, "channel": str(channel)}
        ctx = {k: as_records(v, k) for k, v in {**context, "message": message}.items()}
        if channel == Channel.EMAIL:
            subject = part("subject", content.subject, ctx)
            preheader = part("preheader", content.preheader, ctx) if content.preheader else ""
            html = part("html", content.html, {**ctx, "preheader": preheader})
            try:
                inlined = inline_css(html)
            except InlineError as exc:
                raise RenderError(f"{name} ({locale}, html): {exc}") from exc
            text = part("text", content.text, ctx) + "\n" if content.text else html_to_text(html)
            return Rendered(
                channel, locale, subject=" ".join(subject.split()), preheader=preheader, html=inlined, text=text
            )
        if channel == Channel.SMS:
            if content.sms is None:
                raise RenderError(f"{name} has no SMS content")
            sms = " ".join(part("sms", content.sms, ctx).split())
            segments, encoding = sms_segments(sms)
            if segments > MAX_SMS_SEGMENTS:
                raise RenderError(
                    f"{name} ({locale}, sms): {len(sms)} characters need {segments} {encoding} segments; "
                    f"at most {MAX_SMS_SEGMENTS} allowed"
                )
            return Rendered(channel, locale, sms=sms)
        if content.push is None:
            raise RenderError(f"{name} has no push content")
        return Rendered(
            channel,
            locale,
            push_title=part("push.title", content.push.title, ctx),
            push_body=part("push.body", content.push.body, ctx),
        )
