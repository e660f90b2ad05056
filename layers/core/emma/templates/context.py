"""What a template may use: the variables (checked at build time) and sample contexts that every
template is rendered with during validation (a well-known customer, a brand-new one, long values).
The samples are the same model a real send builds (emma.dispatch.context.TemplateContext)."""

from __future__ import annotations

from typing import Any

from emma.dispatch.context import (
    BlockContext,
    CartContext,
    CartLineContext,
    CouponContext,
    CustomerContext,
    MessageContext,
    ProductContext,
    RecommendationContext,
    ShopContext,
    SurveyLinkContext,
    TemplateContext,
)

# customer, shop, last_purchase, recommendations, coupon, cart, message, unsubscribe_url, preferences_url,
# confirm_url, survey_links, blocks, length, link (see TemplateContext), and the rendered preheader, which the
# renderer adds for the email layout
ALLOWED_VARIABLES = frozenset(TemplateContext.model_fields) | {"preheader"}


def sample_link(url: str) -> str:
    return "https://abcdef1234.execute-api.eu-central-1.amazonaws.com/v1/r/elektro-emma/AbCdEfGhIjKl"


def _shop(name: str) -> ShopContext:
    return ShopContext(
        name=name,
        url="https://www.elektro-emma.example",
        support_email="hilfe@elektro-emma.example",
        address="Hauptstraße 1, 10115 Berlin",
        color="#0f766e",
        logo_url=None,
    )


def samples(locale: str, channel: str = "email") -> list[tuple[str, TemplateContext]]:
    """(name, context) pairs: a template must render with each of them, in each locale."""
    bought = ProductContext(
        product_id="phone-x",
        title="Phone X 128 GB",
        category="smartphones",
        brand="Acme",
        url="https://www.elektro-emma.example/p/phone-x",
    )
    full = TemplateContext(
        customer=CustomerContext(
            first_name="Anna",
            last_name="Schmidt",
            name="Anna Schmidt",
            email="anna@example.com",
            city="Berlin",
            country="DE",
            locale=locale,
            traits={"plan": "plus"},
            orders_count=3,
            tier="tier-silver",
            lifecycle_stage="stage-use",
            segments=["champions", "loyal", "reachable-email", "stage-use", "tier-silver"],
        ),
        shop=_shop("Elektro Emma"),
        last_purchase=bought,
        recommendations=[
            RecommendationContext(
                product_id=f"acc-{n}",
                title=f"Accessory {n}",
                url=f"https://www.elektro-emma.example/p/acc-{n}",
                price="19,99 €",
                reason="Passt zu deinem Phone X",
            )
            for n in range(3)
        ],
        coupon=CouponContext(code="EMMA-7K2P-Q9XD", percent=10, valid_until="06.12.2026"),
        cart=CartContext(
            items=[
                CartLineContext(product_id="cam-1", title="Kamera 1", quantity=1, price="299,00 €"),
                CartLineContext(product_id="sd-64", title="SD-Karte 64 GB", quantity=2, price="12,99 €"),
            ],
            value="324,98 €",
            recovery_url="https://www.elektro-emma.example/cart/recover/abc",
        ),
        message=MessageContext(channel=channel, template="sample", journey="sample-journey"),
        unsubscribe_url="https://abcdef1234.execute-api.eu-central-1.amazonaws.com/v1/unsubscribe?t=x",
        preferences_url="https://abcdef1234.execute-api.eu-central-1.amazonaws.com/v1/preferences?t=x",
        confirm_url="https://abcdef1234.execute-api.eu-central-1.amazonaws.com/v1/confirm?t=x",
        survey_links=[
            SurveyLinkContext(
                score=n, url=f"https://abcdef1234.execute-api.eu-central-1.amazonaws.com/v1/survey?t=x&score={n}"
            )
            for n in range(11)
        ],
        blocks=[
            BlockContext(
                id=f"block-{n}",
                kind=kind,
                title=f"Ein Beitrag über {kind} mit einem etwas längeren Titel ({n})",
                summary="Worum es geht, in zwei Sätzen. Und warum es dich interessieren könnte.",
                cta="Weiterlesen",
                url=f"https://www.elektro-emma.example/magazin/block-{n}",
                topics=["smartphones"],
                target=f"https://www.elektro-emma.example/magazin/block-{n}",
            )
            for n, kind in enumerate(("story", "technology", "tutorial"))
        ],
        length="full",
        link=sample_link,
    )
    new = full.model_copy(
        update={
            "customer": CustomerContext(
                first_name=None,
                last_name=None,
                name="",
                email="new@example.com",
                city=None,
                country=None,
                locale=locale,
                traits={},
                orders_count=0,
                tier=None,
                lifecycle_stage=None,
                segments=[],
            ),
            "last_purchase": None,
            "recommendations": [],
            "coupon": None,
            "cart": None,
            "blocks": [],
            "length": "short",
        }
    )
    long = full.model_copy(
        update={
            "customer": full.customer.model_copy(
                update={"first_name": "Maximiliane-Charlotte", "name": "Maximiliane-Charlotte B."}
            ),
            "shop": _shop("Elektrofachmarkt Emma & Söhne"),
            "last_purchase": bought.model_copy(update={"title": "Phone X Pro Max Ultra 1 TB Titan Edition"}),
        }
    )
    return [("a known customer", full), ("a new customer", new), ("long names", long)]


def sample_contexts(locale: str, channel: str = "email") -> list[tuple[str, dict[str, Any]]]:
    """The samples as the renderer takes them (``TemplateContext.variables()``)."""
    return [(name, context.variables()) for name, context in samples(locale, channel)]
