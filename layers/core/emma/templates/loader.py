"""Load templates/ with errors naming the file and line:

    templates/<name>.yaml                   one message, content per locale and channel
    templates/layouts/<layout>.html         Jinja layouts the email HTML extends
    templates/shops/<shop>/<name>.yaml      a shop's own version of a message
    templates/shops/<shop>/layouts/*.html   a shop's own layouts (same names replace the defaults)

Beyond the schema, every part of every template is compiled, checked for variables Emma does not
provide, and rendered in each locale with sample customers (known, new, long names) in the sandbox
with StrictUndefined: a typo, a missing guard for an optional value, an SMS over two segments or a
layout using CSS the inliner cannot inline fails here, not when a customer's message is rendered.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from emma.content.loader import load_content
from emma.events.model import Channel
from emma.rules.loader import DefinitionError, load_document
from emma.templates.context import ALLOWED_VARIABLES, samples
from emma.templates.definitions import LOCALES, Template
from emma.templates.library import ShopTemplates, TemplateSet
from emma.templates.render import Renderer, RenderError

TEMPLATES_DIR = "templates"
SHOP_DIR = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_PARTS = ("subject", "preheader", "html", "text", "sms")


def _part_line(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...], value: str, lineno: int | None) -> int:
    base = lines.get(loc, 1)
    if "\n" in value.rstrip("\n") or value.endswith("\n"):  # a block scalar starts on the next line
        return base + (lineno or 1)
    return base


def _layouts(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {f"layouts/{p.name}": p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.html"))}


def _read(path: Path, problems: list[str]) -> tuple[Template | None, Any, dict[tuple[Any, ...], int]]:
    template, errors, data, lines = load_document(path, Template, expected="template, purpose, locales")
    problems += errors
    if template is not None and path.stem != template.template:
        problems.append(
            f"{path}:{lines.get(('template',), 1)}: the file is named {path.stem!r} but defines "
            f"{template.template!r}; name the file after the template"
        )
    return template, data, lines


def _sources(template: Template) -> list[tuple[tuple[Any, ...], str]]:
    out: list[tuple[tuple[Any, ...], str]] = []
    for locale, content in template.locales.items():
        for part in _PARTS:
            value = getattr(content, part)
            if value:
                out.append((("locales", locale, part), value))
        if content.push is not None:
            out.append((("locales", locale, "push", "title"), content.push.title))
            out.append((("locales", locale, "push", "body"), content.push.body))
    return out


def _static_problems(path: Path, template: Template, lines: dict[tuple[Any, ...], int], env: Any) -> list[str]:
    problems = []
    confirms: set[str] = set()  # the locales whose HTML has the confirmation link
    for loc, source in _sources(template):
        where = ".".join(map(str, loc))
        try:
            ast = env.parse(source)
        except TemplateSyntaxError as exc:
            problems.append(f"{path}:{_part_line(lines, loc, source, exc.lineno)}: {where}: {exc.message}")
            continue
        used = meta.find_undeclared_variables(ast)
        if "confirm_url" in used:
            if template.confirmation:
                confirms.add(str(loc[1]))
            else:
                problems.append(
                    f"{path}:{_part_line(lines, loc, source, None)}: {where}: confirm_url is only set in "
                    "confirmation templates (purpose: confirmation)"
                )
        unknown = sorted(used - ALLOWED_VARIABLES)
        if unknown:
            problems.append(
                f"{path}:{_part_line(lines, loc, source, None)}: {where}: unknown variable"
                f"{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} (templates may use: "
                f"{', '.join(sorted(ALLOWED_VARIABLES))})"
            )
    if template.confirmation:
        for locale in LOCALES:
            if locale not in confirms:
                problems.append(
                    f"{path}:{lines.get(('locales', locale), lines.get(('purpose',), 1))}: locales.{locale}: "
                    "a confirmation template must show the confirmation link ({{ confirm_url }})"
                )
    return problems


def _render_problems(
    path: Path, shop: str, template: Template, lines: dict[tuple[Any, ...], int], renderer: Renderer
) -> list[str]:
    problems: list[str] = []
    for locale in LOCALES:
        for channel in template.channels:
            contexts = samples(locale, str(channel))
            known = contexts[0][1]  # a new customer has no coupon: a template with one gets the known one's
            if template.coupon is not None:  # and the policy may withhold it: the known customer without it too
                withheld = known.model_copy(update={"coupon": None})
                contexts = [*contexts, (f"{contexts[0][0]} without the coupon", withheld)]
            for sample, context in contexts:
                if template.recommendations is None:
                    context = context.model_copy(update={"recommendations": []})
                if template.coupon is None:
                    context = context.model_copy(update={"coupon": None})
                elif context.coupon is None and not sample.endswith("without the coupon"):
                    context = context.model_copy(update={"coupon": known.coupon})
                try:
                    renderer.render(shop, template.template, locale, channel, context.variables())
                except RenderError as exc:
                    part = "sms" if channel == Channel.SMS else "push" if channel == Channel.PUSH else "html"
                    line = lines.get(("locales", locale, part), lines.get(("locales", locale), 1))
                    problems.append(f"{path}:{line}: {channel} for {sample}: {exc}")
                    break  # one report per locale and channel is enough
    return problems


def load_templates(root: Path) -> TemplateSet:
    """Every template under ``root``/templates, validated; DefinitionError lists each problem."""
    base = root / TEMPLATES_DIR
    problems: list[str] = []
    env = ImmutableSandboxedEnvironment()
    layouts = _layouts(base / "layouts")
    if "layouts/email.html" not in layouts:
        problems.append(f"{base / 'layouts'}:1: the default email layout layouts/email.html is missing")
    for name, source in layouts.items():
        try:
            env.parse(source)
        except TemplateSyntaxError as exc:
            problems.append(f"{base / name}:{exc.lineno}: {exc.message}")

    read: list[tuple[str, Path, Template, dict[tuple[Any, ...], int]]] = []  # (shop or "", path, template, lines)
    templates: dict[str, Template] = {}
    for path in sorted(base.glob("*.yaml")):
        template, _, lines = _read(path, problems)
        if template is not None:
            templates[template.template] = template
            read.append(("", path, template, lines))
    shops: dict[str, ShopTemplates] = {}
    shops_dir = base / "shops"
    for folder in sorted(p for p in shops_dir.glob("*") if p.is_dir()) if shops_dir.is_dir() else []:
        if not SHOP_DIR.match(folder.name):
            problems.append(f"{folder}:1: not a shop id (a-z, 0-9 and -)")
            continue
        own: dict[str, Template] = {}
        for path in sorted(folder.glob("*.yaml")):
            template, _, lines = _read(path, problems)
            if template is not None:
                own[template.template] = template
                read.append((folder.name, path, template, lines))
        shop_layouts = _layouts(folder / "layouts")
        for name, source in shop_layouts.items():
            try:
                env.parse(source)
            except TemplateSyntaxError as exc:
                problems.append(f"{folder / name}:{exc.lineno}: {exc.message}")
        shops[folder.name] = ShopTemplates(own, shop_layouts)
    try:
        content = load_content(root)
    except DefinitionError as exc:
        problems += exc.problems
        content = {}
    kinds = {b.kind for b in content.values()}
    for _, path, template, lines in read:
        if template.content is not None:
            for kind in template.content.kinds:
                if kind not in kinds:
                    line = lines.get(("content", "kinds"), lines.get(("content",), 1))
                    problems.append(f"{path}:{line}: content.kinds: no block of kind {kind!r} in content/")
    library = TemplateSet(templates, layouts, shops, content)
    if problems:  # syntax first: rendering broken layouts would only repeat the same problems
        raise DefinitionError(problems)
    renderer = Renderer(library)
    for shop, path, template, lines in read:
        static = _static_problems(path, template, lines, env)
        problems += static or _render_problems(path, shop or "_default", template, lines, renderer)
    if problems:
        raise DefinitionError(problems)
    return library
