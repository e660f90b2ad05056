"""Templates: the loader's file:line errors, the sandbox, CSS inlining, the text part, SMS segments."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from emma.events.model import Channel
from emma.rules.loader import DefinitionError
from emma.templates.context import sample_contexts
from emma.templates.inline import InlineError, inline_css
from emma.templates.loader import load_templates
from emma.templates.render import Renderer, RenderError, sms_segments
from emma.templates.text import html_to_text

from .conftest import ROOT, TEMPLATES


def copy_templates(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    shutil.copytree(ROOT / "content", tmp_path / "content")
    return tmp_path


def problems(root: Path) -> list[str]:
    with pytest.raises(DefinitionError) as exc:
        load_templates(root)
    return exc.value.problems


def test_every_shipped_template_is_valid_and_covers_the_journeys():
    assert len(TEMPLATES.names()) >= 19 and {"cart-reminder", "tutorial-next"} <= TEMPLATES.names()


def test_an_unknown_variable_fails_with_file_and_line(tmp_path):
    root = copy_templates(tmp_path)
    path = root / "templates" / "cart-reminder.yaml"
    path.write_text(path.read_text().replace("{{ shop.name }}: Dein", "{{ shopname }}: Dein"))
    (problem,) = problems(root)
    assert problem.startswith(f"{path}:") and "unknown variable shopname" in problem and "sms" in problem


def test_a_missing_guard_fails_the_sample_render(tmp_path):
    root = copy_templates(tmp_path)
    path = root / "templates" / "cart-reminder.yaml"
    path.write_text(
        path.read_text().replace('Hallo {{ customer.first_name or "" }}', "Hallo {{ last_purchase.title }}")
    )
    (problem,) = problems(root)
    assert "a new customer" in problem and "html" in problem


def test_a_syntax_error_and_a_missing_locale_are_reported(tmp_path):
    root = copy_templates(tmp_path)
    (root / "templates" / "broken.yaml").write_text(
        "template: broken\nlocales:\n  de:\n    subject: '{{ oops'\n    html: x\n"
    )
    (problem,) = problems(root)
    assert "broken.yaml" in problem and "missing: en" in problem


def test_an_sms_over_two_segments_fails(tmp_path):
    root = copy_templates(tmp_path)
    path = root / "templates" / "cart-reminder.yaml"
    path.write_text(
        path.read_text().replace("Dein Warenkorb wartet noch. Weiter:", "Dein Warenkorb wartet noch. " * 12)
    )
    assert any("segments" in p for p in problems(root))


def test_shop_overrides_replace_a_template(tmp_path):
    root = copy_templates(tmp_path)
    own = root / "templates" / "shops" / "fahrrad-franz"
    own.mkdir(parents=True)
    text = (
        (root / "templates" / "cart-reminder.yaml").read_text().replace("dein Warenkorb wartet noch", "dein Rad wartet")
    )
    (own / "cart-reminder.yaml").write_text(text)
    library = load_templates(root)
    renderer = Renderer(library)
    ctx = sample_contexts("de")[0][1]
    assert "Rad" in renderer.render("fahrrad-franz", "cart-reminder", "de", Channel.EMAIL, ctx).subject
    assert "Warenkorb" in renderer.render("elektro-emma", "cart-reminder", "de", Channel.EMAIL, ctx).subject


def test_the_sandbox_refuses_python_internals():
    from emma.templates.definitions import Template
    from emma.templates.library import TemplateSet

    content = {"subject": "{{ customer.__class__.__mro__ }}", "html": "x"}
    template = Template(template="evil", topic="newsletter", locales={"de": content, "en": content})
    renderer = Renderer(TemplateSet({"evil": template}, TEMPLATES.layouts))
    with pytest.raises(RenderError):
        renderer.render("s", "evil", "de", Channel.EMAIL, sample_contexts("de")[0][1])


def test_html_is_escaped():
    ctx = sample_contexts("de")[0][1]
    ctx["customer"] = {**ctx["customer"], "first_name": "<script>x</script>"}
    out = Renderer(TEMPLATES).render("s", "cart-reminder", "de", Channel.EMAIL, ctx)
    assert "<script>x" not in out.html and "&lt;script&gt;" in out.html


def test_css_is_inlined_with_specificity_and_existing_styles_win():
    html = (
        "<html><head><style>p { color: red; margin: 0 } .x { color: blue } p.x { font-weight: bold }"
        "@media (max-width: 600px) { p { color: green } }</style></head>"
        '<body><p class="x" style="margin: 4px">a</p><p>b</p></body></html>'
    )
    out = inline_css(html)
    assert 'style="color: blue; margin: 4px; font-weight: bold"' in out
    assert '<p style="color: red; margin: 0">b</p>' in out and "@media" in out
    with pytest.raises(InlineError):
        inline_css("<style>div p { color: red }</style><p>x</p>")


def test_text_part_keeps_links_and_drops_the_preheader():
    html = '<head><style>p{}</style></head><span class="preheader">hidden</span><h1>Hi</h1><p>Go <a href="https://x.de">here</a></p>'
    text = html_to_text(html)
    assert "hidden" not in text and "Hi" in text and "here: https://x.de" in text


def test_sms_segments():
    assert sms_segments("a" * 160) == (1, "GSM-7")
    assert sms_segments("a" * 161) == (2, "GSM-7")
    assert sms_segments("€" * 80) == (1, "GSM-7")  # extension characters count twice
    assert sms_segments("ü" * 70) == (1, "GSM-7")
    assert sms_segments("ł" * 71) == (2, "UCS-2")


def test_an_unknown_incentive_policy_or_a_coupon_without_one_fails_with_file_and_line(tmp_path):
    root = copy_templates(tmp_path)
    path = root / "templates" / "winback-coupon.yaml"
    text = path.read_text()
    path.write_text(text.replace("incentive: predicted", "incentive: sometimes"))
    (problem,) = problems(root)
    line = text.splitlines().index("incentive: predicted") + 1
    assert problem.startswith(f"{path}:{line}:") and "incentive" in problem and "'always' or 'predicted'" in problem
    path.write_text(text.replace("incentive: predicted\n", ""))
    (problem,) = problems(root)
    assert problem.startswith(f"{path}:") and "declares its incentive policy" in problem


def test_a_coupon_template_must_render_without_the_coupon_too(tmp_path):
    root = copy_templates(tmp_path)
    path = root / "templates" / "cart-coupon.yaml"
    path.write_text(
        path.read_text().replace(
            "{% if coupon %}{{ coupon.percent }} % Rabatt", "{{ coupon.percent }} % Rabatt{% if coupon %}"
        )
    )
    (problem,) = problems(root)
    assert "without the coupon" in problem
