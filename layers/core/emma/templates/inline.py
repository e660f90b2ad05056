"""Inline CSS into an email's HTML: many mail clients ignore <style> blocks, all honour style="".

Emma's layouts use simple selectors only (``tag``, ``.class``, ``tag.class``, comma lists), which this
inliner supports fully; anything else (descendant/child combinators, ids, attribute selectors,
pseudo-classes) is refused with InlineError, so a layout that would lose styling fails validation
instead of rendering differently in each client. ``@media`` blocks stay in a <style> element for the
clients that support them. Declarations already in a ``style`` attribute win over the stylesheet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser

_SIMPLE = re.compile(r"^(?P<tag>[a-z][a-z0-9]*)?(?P<classes>(\.[A-Za-z_][A-Za-z0-9_-]*)*)$")
_STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I)
_COMMENT = re.compile(r"/\*.*?\*/", re.S)


class InlineError(ValueError):
    """The stylesheet uses CSS this inliner does not support."""


@dataclass(frozen=True)
class _Rule:
    tag: str | None
    classes: frozenset[str]
    specificity: tuple[int, int]
    order: int
    declarations: tuple[tuple[str, str], ...]

    def matches(self, tag: str, classes: set[str]) -> bool:
        return (self.tag is None or self.tag == tag) and self.classes <= classes


def _declarations(body: str) -> tuple[tuple[str, str], ...]:
    out = []
    for part in body.split(";"):
        name, colon, value = part.partition(":")
        if colon and name.strip() and value.strip():
            out.append((name.strip().lower(), value.replace("!important", "").strip()))
    return tuple(out)


def _split_media(css: str) -> tuple[str, str]:
    """(plain rules, @media blocks kept verbatim)."""
    plain, media, i = [], [], 0
    while i < len(css):
        at = css.find("@media", i)
        if at < 0:
            plain.append(css[i:])
            break
        plain.append(css[i:at])
        depth, j = 0, css.index("{", at)
        while j < len(css):
            depth += {"{": 1, "}": -1}.get(css[j], 0)
            j += 1
            if depth == 0:
                break
        media.append(css[at:j])
        i = j
    return "".join(plain), "\n".join(media)


def parse_stylesheet(css: str) -> tuple[list[_Rule], str]:
    """The inlinable rules and the @media text to keep; InlineError on unsupported selectors."""
    css = _COMMENT.sub("", css)
    plain, media = _split_media(css)
    rules: list[_Rule] = []
    for order, match in enumerate(re.finditer(r"([^{}]+)\{([^{}]*)\}", plain)):
        declarations = _declarations(match.group(2))
        for selector in match.group(1).split(","):
            selector = selector.strip()
            parsed = _SIMPLE.match(selector)
            if not selector or parsed is None:
                raise InlineError(f"unsupported CSS selector {selector!r}: use tag, .class or tag.class")
            classes = frozenset(c for c in parsed.group("classes").split(".") if c)
            tag = parsed.group("tag")
            rules.append(_Rule(tag, classes, (len(classes), 1 if tag else 0), order, declarations))
    return rules, media


class _Inliner(HTMLParser):
    def __init__(self, rules: list[_Rule]) -> None:
        super().__init__(convert_charrefs=False)
        self.rules = rules
        self.out: list[str] = []

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]], closing: bool) -> None:
        classes = {c for value in (v for k, v in attrs if k == "class" and v) for c in value.split()}
        matched = sorted((r for r in self.rules if r.matches(tag, classes)), key=lambda r: (r.specificity, r.order))
        style: dict[str, str] = {}
        for rule in matched:
            style.update(rule.declarations)
        existing = next((v for k, v in attrs if k == "style" and v), "")
        style.update(_declarations(existing))
        parts = [tag]
        for name, value in attrs:
            if name == "style":
                continue
            parts.append(name if value is None else f'{name}="{escape(value, quote=True)}"')
        if style:
            parts.append('style="' + escape("; ".join(f"{k}: {v}" for k, v in style.items()), quote=True) + '"')
        self.out.append("<" + " ".join(parts) + (" />" if closing else ">"))

    def handle_starttag(self, tag, attrs):
        self._tag(tag, attrs, closing=False)

    def handle_startendtag(self, tag, attrs):
        self._tag(tag, attrs, closing=True)

    def handle_endtag(self, tag):
        self.out.append(f"</{tag}>")

    def handle_data(self, data):
        self.out.append(data)

    def handle_entityref(self, name):
        self.out.append(f"&{name};")

    def handle_charref(self, name):
        self.out.append(f"&#{name};")

    def handle_comment(self, data):
        self.out.append(f"<!--{data}-->")

    def handle_decl(self, decl):
        self.out.append(f"<!{decl}>")

    def handle_pi(self, data):
        self.out.append(f"<?{data}>")

    def unknown_decl(self, data):
        self.out.append(f"<![{data}]>")


def inline_css(html: str) -> str:
    """The HTML with every <style> block's simple rules moved into style attributes."""
    css = "\n".join(_STYLE_BLOCK.findall(html))
    if not css.strip():
        return html
    rules, media = parse_stylesheet(css)
    first = True

    def keep_media(_: re.Match[str]) -> str:
        nonlocal first
        if first and media:
            first = False
            return f"<style>\n{media}\n</style>"
        return ""

    html = _STYLE_BLOCK.sub(keep_media, html)
    inliner = _Inliner(rules)
    inliner.feed(html)
    inliner.close()
    return "".join(inliner.out)
