"""What a template sees: the context of one message, as pydantic models, and the one place it is built.

A real send (emma.dispatch.service) and the validation of every template at load time
(emma.templates.context.sample_contexts, with sample customers) both hand the renderer
``TemplateContext.variables()``: the same names, so a template that renders for the samples renders
for customers. Templates read fields as attributes (``customer.first_name``, ``cart.items``);
``customer.traits`` stays a mapping (``customer.traits["plan"]``). The renderer adds ``preheader``
(the rendered preheader, in the email HTML) and the final ``message.locale`` and ``message.channel``.

Every message carries ``survey_links``: the satisfaction survey's eleven score links (0-10), signed
(emma.dispatch.tokens.SurveyToken) and built here from the message, so a template shows them with a
loop and a send and the samples have the same shape (docs/dispatch.md#the-survey).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from emma.content.model import ContentBlock
from emma.content.select import length as content_length
from emma.content.select import pick
from emma.dispatch.formats import format_date, format_money
from emma.dispatch.policy import trait
from emma.dispatch.ports import Recommender
from emma.dispatch.request import MessageRequest
from emma.dispatch.tokens import SurveyToken, link_code, message_ref, sign_survey
from emma.errors import EmmaError
from emma.events.model import Channel
from emma.ingest.ports import CatalogRepository
from emma.offers.model import IssuedCoupon
from emma.profiles.model import Profile
from emma.rules.state import Derived
from emma.shops import ShopConfig
from emma.templates.definitions import Template

log = logging.getLogger(__name__)
MAX_CART_LINES = 5
SURVEY_ID = "satisfaction"  # the survey Emma hosts (/v1/survey); survey.answered carries it as survey_id
SURVEY_SCORES = range(11)  # 0 = not at all likely ... 10 = extremely likely (the NPS question)
SURVEY_LINK_DAYS = 30  # how long a survey mail's links take an answer

Link = Callable[[str], str]
# What the rules derived about a profile (emma.rules.ports.RulesStore.derived): (shop, profile id) -> the state.
DerivedState = Callable[[str, str], Derived | None]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CustomerContext(_Part):
    first_name: str | None
    last_name: str | None
    name: str = Field(description='first and last name, "" when neither is known')
    email: str | None
    city: str | None
    country: str | None
    locale: str = Field(description="the locale the message is rendered in")
    traits: dict[str, Any] = Field(description="every trait's value by name")
    orders_count: int
    tier: str | None = Field(description="the loyalty tier (a segment of kind loyalty, e.g. tier-gold), None without")
    lifecycle_stage: str | None = Field(description="the lifecycle stage (e.g. stage-buy), None when not known")
    segments: list[str] = Field(description="the ids of the segments the customer is in, sorted")


class ShopContext(_Part):
    name: str
    url: str = Field(description="the shop's URL, without a trailing slash")
    support_email: str | None
    address: str
    color: str
    logo_url: str | None


class ProductContext(_Part):
    """The product the customer bought last."""

    product_id: str
    title: str
    category: str | None
    brand: str | None
    url: str | None


class RecommendationContext(_Part):
    product_id: str
    title: str
    url: str | None
    price: str | None = Field(description="formatted in the message's locale")
    reason: str = Field(description="why it is offered, in the message's locale")
    strategy: str | None = None
    partner: str | None = None


class BlockContext(_Part):
    """A content block (content/*.yaml) chosen for this reader, in the message's locale."""

    id: str
    kind: str = Field(description="story, sponsorship, product-news, partnership, technology or tutorial")
    title: str
    summary: str
    cta: str = Field(description="the link's words")
    url: str = Field(description="the block's link (tracked: SES in email, a short link in SMS and push)")
    image_url: str | None = None
    topics: list[str]
    target: str = Field(exclude=True, description="where the link leads (what a click event names)")


class CouponContext(_Part):
    code: str = Field(description="a code the shop created for this message (emma.offers), or a sample's")
    percent: int
    valid_until: str = Field(description="formatted in the message's locale")
    minimum_order: str | None = Field(None, description="the order value the code needs, formatted; None: any")


class CartLineContext(_Part):
    product_id: str
    title: str
    quantity: int
    price: str | None


class CartContext(_Part):
    items: list[CartLineContext] = Field(description=f"the first {MAX_CART_LINES} lines")
    value: str | None
    recovery_url: str | None


class SurveyLinkContext(_Part):
    score: int = Field(description="0 (not at all likely) to 10 (extremely likely)")
    url: str = Field(description="the signed link that opens the survey page with this score chosen")


class MessageContext(_Part):
    channel: str
    template: str
    journey: str | None


class TemplateContext(_Part):
    customer: CustomerContext
    shop: ShopContext
    last_purchase: ProductContext | None
    recommendations: list[RecommendationContext]
    coupon: CouponContext | None
    cart: CartContext | None
    message: MessageContext
    unsubscribe_url: str
    preferences_url: str = Field(description="the customer's preference centre (signed link; expires)")
    confirm_url: str | None = Field(
        None, description="confirmation templates only: the double opt-in link that confirms the email grant"
    )
    survey_links: list[SurveyLinkContext] = Field(
        default_factory=list,
        description="the satisfaction survey's score links, 0 to 10 (signed, for this customer and message; expire)",
    )
    blocks: list[BlockContext] = Field(
        default_factory=list,
        description="the template's content blocks chosen for this reader (content:), best first (emma.content)",
    )
    length: Literal["short", "full"] = Field(
        "full", description="short for an occasional reader, full for an engaged one (emma.content.select.length)"
    )
    link: Link = Field(exclude=True, description="link(url): a tracked short link (SMS, push); the URL in email")

    def variables(self) -> dict[str, Any]:
        """The names a template renders with."""
        return {**self.model_dump(), "link": self.link}


def shop_context(shop: ShopConfig) -> ShopContext:
    brand = shop.dispatch.brand
    return ShopContext(
        name=shop.name or shop.shop,
        url=brand.url.rstrip("/"),
        support_email=brand.support_email,
        address=brand.address,
        color=brand.color,
        logo_url=brand.logo_url,
    )


class ContextBuilder:
    """Builds the context of one message: the customer (with the loyalty tier, lifecycle stage and segments the
    rules derived), the shop's brand, the last purchase and the cart (with catalog details), recommendations and a
    coupon when the template asks for them. Without ``derived`` (a preview without the rules' store) the
    customer has no tier, no stage and no segments."""

    def __init__(
        self,
        catalog: CatalogRepository,
        recommender: Recommender,
        public_url: str,
        derived: DerivedState | None = None,
    ) -> None:
        self._catalog = catalog
        self._recommender = recommender
        self._public_url = public_url.rstrip("/")
        self._derived = derived

    def build(
        self,
        request: MessageRequest,
        shop: ShopConfig,
        template: Template,
        profile: Profile,
        locale: str,
        channel: Channel,
        links: dict[str, dict[str, Any]],
        unsubscribe_url: str,
        preferences_url: str = "",
        confirm_url: str | None = None,
        now: datetime | None = None,
        library: Mapping[str, ContentBlock] | None = None,
        coupon: IssuedCoupon | None = None,
    ) -> TemplateContext:
        """The context of ``request``; the short links its template creates are added to ``links``
        (the caller saves them before the message goes out). ``now``: when the message is built (the
        survey links expire ``SURVEY_LINK_DAYS`` after it; the request's time if not given). ``coupon``: the
        code the shop created for the message (emma.offers); None: the template renders without one."""

        def link(url: str) -> str:
            if channel == Channel.EMAIL:
                return url  # SES rewrites links for click tracking
            code = link_code(request.key, url)
            links[code] = {
                "url": url,
                "profile_id": profile.profile_id,
                "channel": str(channel),
                "template": template.template,
                "journey": request.journey,
                "step": request.step,
                "variant": request.variant,
                "message": message_ref(request.key),
            }
            return f"{self._public_url}/v1/r/{shop.shop}/{code}"

        offered = None
        if template.coupon is not None and coupon is not None:
            valid = coupon.ends_at or request.requested_at + timedelta(days=template.coupon.valid_days)
            minimum = template.coupon.minimum_order
            offered = CouponContext(
                code=coupon.code,
                percent=template.coupon.percent,
                valid_until=format_date(valid, locale),
                minimum_order=None if minimum is None else format_money(minimum, shop.currency, locale),
            )
        at = now or request.requested_at
        reading = content_length(profile, at)
        recommendations: list[dict[str, Any]] = []
        if template.recommendations is not None:
            exclude = set(request.exclude_products)  # the recommender leaves out what is owned itself
            if profile.cart is not None:
                exclude |= set(profile.cart.items)
            limit = template.recommendations.limit
            if template.content is not None and reading == "short":  # a short issue: half the products too
                limit = max(1, limit // 2)
            recommendations = self._recommender.recommend(
                shop.shop, profile, template.recommendations.slot, limit, exclude, locale
            )
        blocks = []
        if template.content is not None and library:
            for block in pick(library.values(), template.content, profile, at):
                text = block.locales.get(locale) or block.locales["en"]  # type: ignore[index]
                blocks.append(
                    BlockContext(
                        id=block.id,
                        kind=block.kind,
                        title=text.title,
                        summary=text.summary,
                        cta=text.cta,
                        url=link(block.url),
                        image_url=block.image_url,
                        topics=list(block.topics),
                        target=block.url,
                    )
                )
        first = trait(profile, "first_name")
        last = trait(profile, "last_name")
        derived = self._derived_state(shop.shop, profile)
        return TemplateContext(
            customer=CustomerContext(
                first_name=first,
                last_name=last,
                name=" ".join(p for p in (first, last) if p),
                email=profile.email,
                city=trait(profile, "city"),
                country=trait(profile, "country"),
                locale=locale,
                traits={k: t.value for k, t in profile.traits.items()},
                orders_count=profile.orders.count,
                tier=derived.loyalty_tier if derived else None,
                lifecycle_stage=derived.lifecycle_stage if derived else None,
                segments=sorted(derived.segments) if derived else [],
            ),
            shop=shop_context(shop),
            last_purchase=self._last_purchase(shop.shop, profile),
            recommendations=[RecommendationContext.model_validate(r) for r in recommendations],
            coupon=offered,
            cart=self._cart(shop.shop, profile, locale),
            message=MessageContext(channel=str(channel), template=template.template, journey=request.journey),
            unsubscribe_url=unsubscribe_url,
            preferences_url=preferences_url,
            confirm_url=confirm_url,
            survey_links=self._survey_links(request, shop, profile, locale, at),
            blocks=blocks,
            length=reading,
            link=link,
        )

    def _derived_state(self, shop: str, profile: Profile) -> Derived | None:
        """The rules' conclusions about the customer; a failed read sends the message without them (logged)."""
        if self._derived is None:
            return None
        try:
            return self._derived(shop, profile.profile_id)
        except EmmaError:
            log.warning(
                "the derived state of %s could not be read; the message goes without tier and segments",
                profile.profile_id,
            )
            return None

    def _survey_links(
        self, request: MessageRequest, shop: ShopConfig, profile: Profile, locale: str, now: datetime
    ) -> list[SurveyLinkContext]:
        """One token for the message, the score in the query: /v1/survey?t=<token>&score=N."""
        token = SurveyToken(
            shop.shop,
            profile.profile_id,
            message_ref(request.key),
            SURVEY_ID,
            locale,
            now,
            now + timedelta(days=SURVEY_LINK_DAYS),
        )
        base = f"{self._public_url}/v1/survey?t={sign_survey(shop.signing_secret or '', token)}"
        return [SurveyLinkContext(score=n, url=f"{base}&score={n}") for n in SURVEY_SCORES]

    def _product(self, shop: str, product_id: str) -> dict[str, Any]:
        try:
            return self._catalog.get_product(shop, product_id) or {}
        except EmmaError:
            log.warning("catalog lookup of %s failed; the message goes without its details", product_id)
            return {}

    def _last_purchase(self, shop: str, profile: Profile) -> ProductContext | None:
        if not profile.products_owned:
            return None
        product_id, owned = max(profile.products_owned.items(), key=lambda kv: kv[1].last_bought_at)
        product = self._product(shop, product_id)
        return ProductContext(
            product_id=product_id,
            title=product.get("name") or product_id,
            category=owned.category or product.get("category"),
            brand=owned.brand or product.get("brand"),
            url=product.get("url"),
        )

    def _cart(self, shop: str, profile: Profile, locale: str) -> CartContext | None:
        cart = profile.cart
        if cart is None or not cart.items:
            return None
        lines = []
        for product_id, quantity in list(cart.items.items())[:MAX_CART_LINES]:
            product = self._product(shop, product_id)
            lines.append(
                CartLineContext(
                    product_id=product_id,
                    title=product.get("name") or product_id,
                    quantity=quantity,
                    price=format_money(product.get("price"), product.get("currency") or cart.currency, locale),
                )
            )
        return CartContext(
            items=lines,
            value=format_money(cart.value, cart.currency, locale),
            recovery_url=cart.recovery_url,
        )
