"""Content blocks as typed data (content/*.yaml): what the personalised newsletter is made of (brand stories,
sponsorships, product news, partnerships, technology: seed 000) and the tutorial library the flagship's weekly
tutorial series draws from.

    id: night-mode-tutorial
    kind: tutorial                      # story, sponsorship, product-news, partnership, technology, tutorial
    topics: [camera, night-photography] # what a reader who clicks or reads it is interested in
    devices: [smartphones]              # only for owners of a product in these categories (tutorials)
    order: 3                            # tutorials: its place in the series (basics first), a tie-break
    published: 2026-11-02               # not shown before; expires: not after (optional)
    url: https://www.elektro-emma.example/tutorials/night-mode
    locales:
      de: {title: ..., summary: ..., cta: Zum Tutorial}
      en: {title: ..., summary: ..., cta: Watch the tutorial}

A template asks for blocks with ``content: {kinds: [...], full: 5, short: 2}`` (emma.templates.definitions);
emma.content.select picks them per reader.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emma.events.model import TOPIC_PATTERN
from emma.rules.definitions import SLUG

KINDS = ("story", "sponsorship", "product-news", "partnership", "technology", "tutorial")
Kind = Literal["story", "sponsorship", "product-news", "partnership", "technology", "tutorial"]
Topic = Annotated[str, Field(pattern=TOPIC_PATTERN)]


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BlockText(_Node):
    title: str = Field(min_length=1, max_length=120)
    summary: str = Field(min_length=1, max_length=600)
    cta: str = Field(min_length=1, max_length=40, description="the link's words")


class ContentBlock(_Node):
    id: str = Field(pattern=SLUG)
    kind: Kind
    topics: tuple[Topic, ...] = Field(min_length=1, max_length=8)
    devices: tuple[Topic, ...] = Field((), description="product categories its reader owns (empty: anyone)")
    order: int = Field(0, ge=0, le=999, description="tutorials: the place in the series (lower first)")
    published: date
    expires: date | None = None
    url: str = Field(pattern=r"^https://\S+$", max_length=1024)
    image_url: str | None = Field(None, pattern=r"^https://\S+$", max_length=1024)
    locales: dict[Literal["de", "en"], BlockText]

    @model_validator(mode="after")
    def _complete(self) -> ContentBlock:
        if set(self.locales) != {"de", "en"}:
            raise ValueError("locales: both de and en")
        if self.expires is not None and self.expires <= self.published:
            raise ValueError("expires must come after published")
        return self


class ContentSlot(_Node):
    """A template's ``content:``: which kinds of block, and how many for engaged and for occasional readers."""

    kinds: tuple[Kind, ...] = Field(min_length=1)
    full: int = Field(5, ge=1, le=10, description="blocks for an engaged reader")
    short: int = Field(2, ge=1, le=10, description="blocks for an occasional reader (seed 002: no long newsletters)")
    per_kind: int = Field(2, ge=1, le=10, description="at most this many blocks of one kind in a message")

    @model_validator(mode="after")
    def _short_is_shorter(self) -> ContentSlot:
        if self.short > self.full:
            raise ValueError("short must not be longer than full")
        return self
