"""A shop's coupon set-up, as it stands in the shop's secret next to its webhook secrets (docs/offers.md).

``coupons`` names the platform API that creates the codes (or the pool of codes the shop uploaded);
``incentives`` the shares of the incentive policy's random arms. A coupons entry that does not validate (an
unknown provider, a mistyped field) does not disable the shop: it becomes ``BrokenCoupons``, and every message
with a coupon is deferred with the problem as its reason and an alarm, while everything else goes on.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from emma.offers.model import PROVIDERS


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def __repr__(self) -> str:  # never print credentials
        return f"{type(self).__name__}(provider={getattr(self, 'provider', '?')!r})"

    __str__ = __repr__


class ShopifyCoupons(_Config):
    """Discount codes through the Shopify Admin GraphQL API (scope write_discounts)."""

    provider: Literal["shopify"]
    access_token: str | None = Field(None, description="the app's Admin API access token (shpat_...)")
    domain: str | None = Field(None, description="the shop's myshopify.com domain; default: the shop's shopify_domain")
    api_version: str = Field("2025-10", pattern=r"^\d{4}-\d{2}$")
    api_url: str | None = Field(None, description="overrides https://<domain>/admin/api/<version>/graphql.json")


class WooCommerceCoupons(_Config):
    """Coupons through the WooCommerce REST API (/wp-json/wc/v3/coupons), with a read/write API key."""

    provider: Literal["woocommerce"]
    url: str | None = Field(None, description="the shop's base URL, e.g. https://shop.example")
    consumer_key: str | None = None
    consumer_secret: str | None = None


class ShopwareCoupons(_Config):
    """Individual promotion codes through the Shopware 6 Admin API (an integration's access key)."""

    provider: Literal["shopware"]
    url: str | None = Field(None, description="the shop's base URL; the Admin API is under /api")
    client_id: str | None = None
    client_secret: str | None = None
    promotions: dict[str, str] = Field(
        default_factory=dict,
        description="template (or kind: offer, reward, referral) -> id of the promotion with individual codes "
        "that gives that template's discount",
    )


class PoolCoupons(_Config):
    """Codes the shop uploaded (POST /v1/coupons/pools/{pool}, emma coupons upload), each handed out once."""

    provider: Literal["pool"]
    pools: dict[str, str] = Field(
        default_factory=dict, description="template (or kind) -> pool name; anything else uses the pool 'default'"
    )
    low_alarm: int = Field(100, ge=0, description="alarm when a pool has fewer codes left than this")


class BrokenCoupons(_Config):
    """A coupons entry that does not validate: kept so the shop's messages can say why they wait."""

    provider: Literal["broken"] = "broken"
    problem: str


CouponConfig = Annotated[
    ShopifyCoupons | WooCommerceCoupons | ShopwareCoupons | PoolCoupons, Field(discriminator="provider")
]


AnyCoupons = ShopifyCoupons | WooCommerceCoupons | ShopwareCoupons | PoolCoupons | BrokenCoupons


class _Holder(BaseModel):
    coupons: CouponConfig


def parse_coupons(value: Any) -> AnyCoupons:
    """The shop's coupons entry, or BrokenCoupons naming what is wrong with it (never raises)."""
    if isinstance(value, AnyCoupons):
        return value
    if not isinstance(value, dict):
        return BrokenCoupons(problem=f"coupons must be an object with a provider, not {type(value).__name__}")
    if value.get("provider") == "broken" and isinstance(value.get("problem"), str):  # one that was dumped
        return BrokenCoupons(problem=value["problem"])
    try:
        return _Holder.model_validate({"coupons": value}).coupons
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][2:]) or "provider"
        provider = value.get("provider")
        if provider not in PROVIDERS:
            problem = f"coupons.provider {provider!r} is not one of {', '.join(PROVIDERS)}"
        else:
            problem = f"coupons.{where}: {first['msg']}"
        return BrokenCoupons(problem=problem)


class IncentiveConfig(_Config):
    """The incentive policy's random arms (docs/offers.md#the-incentive-policy). Shares are of the messages
    with a coupon, decided per customer and template by a stable hash."""

    control_share: float = Field(
        0.10,
        ge=0.0,
        le=0.5,
        description="of the customers a policy would give a coupon, this share gets the message without it (the "
        "control group that measures what the coupons add)",
    )
    explore_share: float = Field(
        0.05,
        ge=0.0,
        le=0.5,
        description="of the customers the predicted policy withholds the coupon from, this share gets it anyway "
        "(measures whether they would have needed it)",
    )
    window_days: int = Field(14, ge=1, le=90, description="orders this long after the message count for its arm")
    margin: float = Field(
        0.30,
        ge=0.0,
        le=1.0,
        description="the shop's gross margin on an order's value before the discount: what a coupon's added "
        "orders earn, against the discount it gives (emma.offers.uplift)",
    )
    min_per_arm: int = Field(
        200, ge=10, le=1_000_000, description="customers each arm of a band needs before its uplift decides"
    )
