"""The plain-text part of an email, derived from its rendered HTML when the template has none:
paragraphs and headings on their own lines, links as "label: url", list and table rows on lines,
nothing from <head>, <style> or the hidden preheader."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "tr", "table", "ul", "ol", "li", "br", "hr", "td", "body"}
_SKIP = {"head", "style", "script", "title"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.hidden_tag: str | None = None  # the hidden preheader element, skipped with its content
        self.hidden_depth = 0
        self.href: list[str | None] = []
        self.link_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attr = dict(attrs)
        if self.hidden_tag:
            self.hidden_depth += tag == self.hidden_tag
            return
        if tag in _SKIP:
            self.skip += 1
            return
        if "preheader" in (attr.get("class") or "").split():
            self.hidden_tag, self.hidden_depth = tag, 1
            return
        if self.skip:
            return
        if tag == "a":
            self.href.append(attr.get("href"))
            self.link_text = []
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in ("h1", "h2", "h3"):
            self.parts.append("\n\n")
        elif tag in _BLOCKS:
            self.parts.append("\n")
        elif tag == "img" and attr.get("alt"):
            self.parts.append(attr["alt"] or "")

    def handle_endtag(self, tag):
        if self.hidden_tag:
            if tag == self.hidden_tag:
                self.hidden_depth -= 1
                if self.hidden_depth == 0:
                    self.hidden_tag = None
            return
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag == "a" and self.href:
            href = self.href.pop()
            label = "".join(self.link_text).strip()
            if href and not href.startswith("#") and href != label:
                self.parts.append(f": {href}" if label else href)
        elif tag in ("p", "h1", "h2", "h3", "table", "ul", "ol"):
            self.parts.append("\n")

    def handle_data(self, data):
        if self.skip or self.hidden_tag:
            return
        text = re.sub(r"\s+", " ", data)
        self.parts.append(text)
        if self.href:
            self.link_text.append(text)


def html_to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
