"""Previews of a template in the console: the real rendering of dispatch (emma.dispatch.service.
DispatchService.preview, the code path of a send minus the decisions, the stores and the provider) for
a sample customer or a real one, with the shop's configuration.

The preview's dispatch service is built from the ingest function's own parts (shops, templates,
catalog, recommender, clock); the parts a preview never touches (message log, caps, deferrals, links,
senders, recorder) are a stand-in that refuses any use. The email is shown in a sandboxed iframe
(srcdoc, sandbox=""); since a srcdoc document inherits the page's Content-Security-Policy, the page
allows exactly the email's own styles by their hashes (style_hashes) and nothing else."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

from emma.dispatch.service import DispatchService
from emma.events.model import Channel
from emma.profiles.model import Profile, Trait
from emma.templates.render import Rendered
from ingest import deps

SAMPLE_PROFILE = "p_console_sample"
SAMPLE_EMAIL = "erika.mustermann@example.com"
MAX_HASHES = 400  # styles allowed by hash on one preview page (an email has a few dozen)


class _NotInPreview:
    """A dependency a preview never uses: any use is a bug, not a silent no-op."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise RuntimeError(f"a preview does not use the {self._name} ({attribute})")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"a preview does not use the {self._name}")


@functools.lru_cache(maxsize=4)
def service(public_url: str) -> DispatchService:
    """The preview's dispatch service; links in the preview point at ``public_url`` (this API)."""
    intake = deps.intake()
    return DispatchService(
        profiles=intake.service.resolve,
        shops=intake.shops,
        templates=deps.templates(),
        log_store=_NotInPreview("message log"),  # type: ignore[arg-type]
        caps=_NotInPreview("frequency caps"),  # type: ignore[arg-type]
        deferrals=_NotInPreview("deferrals"),  # type: ignore[arg-type]
        links=_NotInPreview("short links"),  # type: ignore[arg-type]
        senders=_NotInPreview("providers"),
        recorder=_NotInPreview("send recorder"),  # type: ignore[arg-type]
        catalog=intake.service.catalog,
        recommender=deps.recommender(),
        clock=deps.wiring().clock,
        public_url=public_url,
    )


def sample_profile(shop: str, first_name: str, last_name: str, locale: str, now: datetime) -> Profile:
    """A fictitious customer: a name, an email address and a language, nothing bought, nothing in a cart."""
    return Profile(
        shop=shop,
        profile_id=SAMPLE_PROFILE,
        created_at=now,
        updated_at=now,
        emails=[SAMPLE_EMAIL],
        traits={
            "first_name": Trait(value=first_name, at=now),
            "last_name": Trait(value=last_name, at=now),
            "locale": Trait(value=locale, at=now),
        },
    )


def render(public_url: str, shop: str, template: str, profile: Profile, channel: Channel, locale: str) -> Rendered:
    rendered, _raw = service(public_url).preview(shop, template, profile, channel, locale)
    return rendered


class _StyleAttributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.values += [value or "" for name, value in attrs if name == "style"]

    handle_startendtag = handle_starttag


_STYLE_ELEMENT = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def style_hashes(html: str) -> tuple[list[str], bool]:
    """CSP sources allowing exactly the email's <style> elements and style attributes (by hash), and
    whether any of them is an attribute (those need 'unsafe-hashes' besides their hash)."""
    parser = _StyleAttributes()
    parser.feed(html)
    parser.close()
    elements = [_hash(m.group(1)) for m in _STYLE_ELEMENT.finditer(html)]
    attributes = [_hash(v) for v in parser.values]
    unique = list(dict.fromkeys(elements + attributes))[:MAX_HASHES]
    return unique, bool(attributes)
