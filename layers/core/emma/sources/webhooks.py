"""The shop platforms that post signed webhooks, behind one protocol.

The ingest route (``POST /webhooks/<platform>/<shop>``) knows no platform: it finds the source by the
URL's platform in ``WEBHOOK_SOURCES``, takes the shop's secret for that platform
(``ShopConfig.webhook_secrets[source.name]``) and asks the source, in this order, to verify the
signature over the raw body, to check that the delivery is meant for this shop, whether the delivery
is a ping, which topic and delivery id it carries, and which canonical events its body becomes.
Nothing is parsed before the signature is verified.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from emma.events.model import CanonicalEvent
from emma.sources import shopify, shopware, woocommerce

if TYPE_CHECKING:
    from emma.shops import ShopConfig


class WebhookSource(Protocol):
    """One platform's webhooks."""

    @property
    def name(self) -> str:
        """The platform in the URL and the key of its secret in ``ShopConfig.webhook_secrets``."""
        ...

    def verify(self, secret: str, body: bytes, headers: Mapping[str, str]) -> None:
        """Raise InvalidSignature unless the raw body was signed with ``secret``. ``headers`` are lower-cased."""
        ...

    def check_shop(self, shop: ShopConfig, headers: Mapping[str, str]) -> None:
        """Raise InvalidSignature if a correctly signed delivery names another shop than ``shop``
        (one secret may sign for several shops)."""
        ...

    def is_ping(self, body: bytes) -> bool:
        """True for the platform's ping (signed, carries no data): answered with 200, nothing stored."""
        ...

    def delivery_of(self, headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
        """(topic, delivery id): the delivery id is the idempotency key of the events it becomes."""
        ...

    def map_delivery(
        self, shop: str, topic: str, delivery_id: str, payload: dict[str, Any], received_at: datetime
    ) -> list[CanonicalEvent]:
        """The canonical events of one delivery (``payload`` is the JSON body); an empty list is a
        valid delivery with nothing to record."""
        ...


def _no_ping(body: bytes) -> bool:
    return False


def _any_shop(shop: ShopConfig, headers: Mapping[str, str]) -> None:
    """The signature is the only proof: the platform's deliveries name no shop to compare."""


@dataclass(frozen=True)
class Webhooks:
    """A WebhookSource made of a platform module's functions."""

    name: str
    verify: Callable[[str, bytes, Mapping[str, str]], None]
    delivery_of: Callable[[Mapping[str, str], bytes], tuple[str, str]]
    map_delivery: Callable[[str, str, str, dict[str, Any], datetime], list[CanonicalEvent]]
    is_ping: Callable[[bytes], bool] = _no_ping
    check_shop: Callable[[ShopConfig, Mapping[str, str]], None] = _any_shop


SHOPIFY = Webhooks("shopify", shopify.verify, shopify.delivery_of, shopify.map_delivery, check_shop=shopify.check_shop)
WOOCOMMERCE = Webhooks(
    "woocommerce", woocommerce.verify, woocommerce.delivery_of, woocommerce.map_delivery, is_ping=woocommerce.is_ping
)
SHOPWARE = Webhooks("shopware", shopware.verify, shopware.delivery_of, shopware.map_delivery)

WEBHOOK_SOURCES: dict[str, WebhookSource] = {source.name: source for source in (SHOPIFY, WOOCOMMERCE, SHOPWARE)}
