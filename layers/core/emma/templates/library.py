"""The validated templates of a deployment: the defaults, each shop's overrides and the layouts.
Built by emma.templates.loader from templates/ (tests, CLI, synth) or read back from the definitions
file the Lambda functions get."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emma.content.model import ContentBlock
from emma.errors import NotFound
from emma.templates.definitions import Template


class UnknownTemplate(NotFound):
    """A message request names a template this deployment does not have."""


@dataclass(frozen=True)
class ShopTemplates:
    templates: dict[str, Template] = field(default_factory=dict)
    layouts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplateSet:
    templates: dict[str, Template]
    layouts: dict[str, str]  # "layouts/email.html" -> Jinja source
    shops: dict[str, ShopTemplates] = field(default_factory=dict)
    content: dict[str, ContentBlock] = field(default_factory=dict)  # the content library (content/*.yaml)

    def get(self, shop: str, name: str) -> Template:
        own = self.shops.get(shop)
        if own is not None and name in own.templates:
            return own.templates[name]
        try:
            return self.templates[name]
        except KeyError:
            raise UnknownTemplate(f"no template {name!r} (known: {', '.join(sorted(self.names()))})") from None

    def names(self) -> set[str]:
        return set(self.templates) | {n for s in self.shops.values() for n in s.templates}

    def shop_layouts(self, shop: str) -> dict[str, str]:
        own = self.shops.get(shop)
        return own.layouts if own is not None else {}

    def to_json(self) -> dict[str, Any]:
        def dump(templates: dict[str, Template]) -> dict[str, Any]:
            return {n: t.model_dump(mode="json", exclude_none=True) for n, t in sorted(templates.items())}

        return {
            "templates": dump(self.templates),
            "layouts": dict(sorted(self.layouts.items())),
            "shops": {
                shop: {"templates": dump(s.templates), "layouts": dict(sorted(s.layouts.items()))}
                for shop, s in sorted(self.shops.items())
            },
            "content": {i: b.model_dump(mode="json", exclude_none=True) for i, b in sorted(self.content.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TemplateSet:
        def load(templates: dict[str, Any]) -> dict[str, Template]:
            return {n: Template.model_validate(t) for n, t in templates.items()}

        return cls(
            templates=load(data.get("templates", {})),
            layouts=dict(data.get("layouts", {})),
            shops={
                shop: ShopTemplates(load(s.get("templates", {})), dict(s.get("layouts", {})))
                for shop, s in data.get("shops", {}).items()
            },
            content={i: ContentBlock.model_validate(b) for i, b in data.get("content", {}).items()},
        )
