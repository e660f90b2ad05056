"""Message templates as typed data: one templates/<name>.yaml per message, content per locale and channel.

A template says what it is (marketing or transactional), when it may go (now, or at the hour this
customer usually reads), what it offers (categories: never offered to someone who just bought one),
and which personalised parts it needs (recommendations, a coupon). Its content is Jinja2, rendered in
a sandbox; the email HTML extends a layout (templates/layouts/, per shop under templates/shops/<shop>/).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emma.content.model import ContentSlot
from emma.events.model import Channel

TEMPLATE_ID = r"^[a-z0-9][a-z0-9-]{1,62}$"
LOCALES = ("de", "en")  # every template has content for each of these
Locale = Literal["de", "en"]
SLOTS = ("accessories", "cross-sell", "upgrade", "interest", "cart", "new-arrivals")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PushContent(_Strict):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    body: Annotated[str, Field(min_length=1, max_length=1000)]


class LocaleContent(_Strict):
    subject: Annotated[str, Field(min_length=1, max_length=400)]
    preheader: Annotated[str, Field(max_length=400)] = ""
    html: Annotated[str, Field(min_length=1)]
    text: str | None = Field(None, description="plain-text part; derived from the HTML when absent")
    sms: str | None = None
    push: PushContent | None = None


class RecommendationsSpec(_Strict):
    slot: Literal["accessories", "cross-sell", "upgrade", "interest", "cart", "new-arrivals"]
    limit: Annotated[int, Field(ge=1, le=12)] = 3


class CouponSpec(_Strict):
    percent: Annotated[int, Field(ge=1, le=90)]
    valid_days: Annotated[int, Field(ge=1, le=365)] = 14
    minimum_order: Annotated[Decimal, Field(ge=0, le=1_000_000, decimal_places=2)] | None = Field(
        None, description="the order subtotal the code needs, in the shop's currency (where the platform has one)"
    )
    kind: Literal["offer", "reward"] = Field(
        "offer",
        description="offer: the incentive policy decides who gets it; reward: promised (a referral's), never withheld",
    )


class ReferralSpec(_Strict):
    """The customer's own referral code, for friends: created through the shop's coupon provider before the
    message goes out (once per customer, then kept as the trait referral_code), many uses, once per friend."""

    percent: Annotated[int, Field(ge=1, le=90)] = Field(description="the friend's discount")
    minimum_order: Annotated[Decimal, Field(ge=0, le=1_000_000, decimal_places=2)] | None = None


class Template(_Strict):
    template: Annotated[str, Field(pattern=TEMPLATE_ID)]
    description: str = ""
    purpose: Literal["marketing", "transactional", "confirmation"] = Field(
        "marketing",
        description="confirmation: the double opt-in mail Emma sends while an email grant awaits confirmation "
        "(transactional, with confirm_url)",
    )
    topic: Annotated[str, Field(pattern=TEMPLATE_ID)] | None = Field(
        None,
        description="marketing only, required there: the shop's topic (dispatch.topics) this message belongs "
        "to; customers choose topics in the preference centre",
    )
    send_time: Literal["now", "optimise"] = Field(
        "now", description="optimise: at the hour this customer usually opens or clicks (within a day)"
    )
    offers: tuple[Annotated[str, Field(min_length=1, max_length=128)], ...] = Field(
        (), description="categories this message offers: skipped for a customer who bought one recently"
    )
    recommendations: RecommendationsSpec | None = None
    content: ContentSlot | None = Field(
        None, description="content blocks from the library, chosen per reader (emma.content.select): `blocks`"
    )
    coupon: CouponSpec | None = None
    incentive: Literal["always", "predicted"] | None = Field(
        None,
        description="with a coupon, required: who gets it (emma.offers.policy): always, or predicted (only customers "
        "predicted not to buy without one); the others get the same message without the coupon",
    )
    referral: ReferralSpec | None = Field(
        None,
        description="the message shows the customer's referral code (customer.traits['referral_code']); Emma has "
        "the shop's coupon provider create it first where the customer has none",
    )
    locales: dict[Locale, LocaleContent]

    @model_validator(mode="after")
    def _same_parts_everywhere(self) -> Template:
        missing = [loc for loc in LOCALES if loc not in self.locales]
        if missing:
            raise ValueError(f"content for every locale is required; missing: {', '.join(missing)}")
        shapes = {loc: (c.sms is not None, c.push is not None) for loc, c in self.locales.items()}
        if len(set(shapes.values())) > 1:
            raise ValueError(f"every locale must have the same channels (sms, push): {shapes}")
        if self.purpose == "marketing" and self.topic is None:
            raise ValueError(
                "a marketing template declares its topic (topic: newsletter, tutorials, offers or one of the "
                "shop's own dispatch.topics): customers choose topics in the preference centre"
            )
        if self.purpose != "marketing" and self.topic is not None:
            raise ValueError(f"only marketing templates have a topic ({self.purpose} messages go to everyone)")
        if self.coupon is not None and self.incentive is None:
            raise ValueError(
                "a template with a coupon declares its incentive policy: incentive: always, or incentive: predicted "
                "(only customers predicted not to buy without one get it)"
            )
        if self.coupon is None and self.incentive is not None:
            raise ValueError("incentive is the policy of a coupon: this template has none")
        if self.purpose == "confirmation" and shapes[next(iter(shapes))] != (False, False):
            raise ValueError("a confirmation template is an email only (no sms, no push)")
        return self

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels this template has content for (email always)."""
        content = next(iter(self.locales.values()))
        out = [Channel.EMAIL]
        if content.sms is not None:
            out.append(Channel.SMS)
        if content.push is not None:
            out.append(Channel.PUSH)
        return tuple(out)

    @property
    def transactional(self) -> bool:
        return self.purpose != "marketing"

    @property
    def confirmation(self) -> bool:
        return self.purpose == "confirmation"
