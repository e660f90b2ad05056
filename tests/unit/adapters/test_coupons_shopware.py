"""Shopware 6 coupons: the adapter against the in-process stand-in of the Admin API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest

from emma.adapters.coupons import shopware as adapter_module
from emma.adapters.coupons.http import HttpRequest, HttpResponse
from emma.adapters.coupons.shopware import ShopwareCoupons, code_id
from emma.events.model import EventType
from emma.offers.model import CouponOffer
from emma.offers.ports import ProviderMisconfigured, ProviderRefused, ProviderTransient
from emma.sources import shopware as shopware_source
from emma_local.shop_apis.shopware import CouponRejected, ShopwareStandIn, promotion
from emma_local.shop_apis.transport import in_process

from .coupon_fixtures import NOW, Clock, make_offer

URL = "http://127.0.0.1:8000"
CLIENT_ID, CLIENT_SECRET = "SWIATESTCLIENT0000000000000", "integration-secret"
CART_PROMO = "0192bbccddeeff00112233445566aa01"
WINBACK_PROMO = "0192bbccddeeff00112233445566aa02"
REFERRAL_PROMO = "0192bbccddeeff00112233445566aa03"


def offer(code: str = "EMMA-7K2P-Q9XD", reference: str = "cart-coupon:3f9a0c1d2e", **changes) -> CouponOffer:
    return make_offer("elektro-emma", code, reference, **changes)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    adapter_module.clear_caches()
    yield
    adapter_module.clear_caches()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def standin(clock: Clock, *promotions: dict, **options) -> ShopwareStandIn:
    seeded = promotions or (
        promotion(CART_PROMO, 10, name="Emma cart", valid_until=NOW + timedelta(days=3)),
        promotion(WINBACK_PROMO, 15, name="Emma winback"),
    )
    return ShopwareStandIn(CLIENT_ID, CLIENT_SECRET, promotions=seeded, clock=clock, **options)


@pytest.fixture
def shop(clock: Clock) -> ShopwareStandIn:
    return standin(clock)


def adapter(shop: ShopwareStandIn, clock: Clock, secret: str = CLIENT_SECRET, **promotions: str) -> ShopwareCoupons:
    mapping = promotions or {"cart-coupon": CART_PROMO, "winback-coupon": WINBACK_PROMO}
    return ShopwareCoupons(
        URL,
        CLIENT_ID,
        secret,
        mapping,
        transport=in_process(shop),
        monotonic=clock.monotonic,
        wall_clock=clock.now,
    )


# ---- create and retry -------------------------------------------------------------------------


def test_issue_writes_emmas_code_as_an_individual_code(shop: ShopwareStandIn, clock: Clock) -> None:
    issued = adapter(shop, clock).issue(offer())
    row = code_id("elektro-emma", "cart-coupon:3f9a0c1d2e")
    assert len(row) == 32 and int(row, 16) >= 0
    assert (issued.code, issued.provider, issued.provider_id) == ("EMMA-7K2P-Q9XD", "shopware", row)
    assert issued.ends_at == NOW + timedelta(days=3)  # the promotion ends before the template's 7 days
    stored = shop.codes[row]
    assert (stored["code"], stored["promotionId"], stored["payload"]) == ("EMMA-7K2P-Q9XD", CART_PROMO, None)


def test_sync_body_is_the_documented_list_of_operations(shop: ShopwareStandIn, clock: Clock) -> None:
    sent: list[HttpRequest] = []
    inner = in_process(shop)

    def spy(request: HttpRequest) -> HttpResponse:
        sent.append(request)
        return inner(request)

    coupons = adapter(shop, clock)
    coupons.transport = spy
    coupons.issue(offer())
    sync = next(r for r in sent if r.url.endswith("/api/_action/sync"))
    assert json.loads(sync.body) == [
        {
            "key": "emma-coupon",
            "action": "upsert",
            "entity": "promotion_individual_code",
            "payload": [
                {
                    "id": code_id("elektro-emma", "cart-coupon:3f9a0c1d2e"),
                    "promotionId": CART_PROMO,
                    "code": "EMMA-7K2P-Q9XD",
                }
            ],
        }
    ]
    assert sync.headers["Authorization"].startswith("Bearer ")


def test_promotion_end_after_the_template_keeps_the_templates_end(shop: ShopwareStandIn, clock: Clock) -> None:
    issued = adapter(shop, clock).issue(offer(template="winback-coupon", percent=15, ends_at=NOW + timedelta(days=14)))
    assert issued.ends_at == NOW + timedelta(days=14)  # the winback promotion has no end


def test_retry_rewrites_the_same_row(shop: ShopwareStandIn, clock: Clock) -> None:
    coupons = adapter(shop, clock)
    assert coupons.issue(offer()) == coupons.issue(offer())
    assert len(shop.codes) == 1


def test_code_taken_by_another_row_is_refused(shop: ShopwareStandIn, clock: Clock) -> None:
    adapter(shop, clock).issue(offer(reference="cart-coupon:someone-else"))
    with pytest.raises(ProviderRefused, match="belongs to another individual code"):
        adapter(shop, clock).issue(offer())
    assert len(shop.codes) == 1


# ---- token ------------------------------------------------------------------------------------


def test_bad_credentials_are_misconfigured_without_echoing_the_secret(shop: ShopwareStandIn, clock: Clock) -> None:
    with pytest.raises(ProviderMisconfigured, match="refused the integration getting an access token") as caught:
        adapter(shop, clock, secret="wrong-secret").issue(offer())
    assert "wrong-secret" not in str(caught.value)
    assert not shop.codes


def test_token_is_cached_across_issues(shop: ShopwareStandIn, clock: Clock) -> None:
    for n in range(20):
        adapter(shop, clock).issue(offer(f"EMMA-{n:04d}-TEST", f"cart-coupon:{n}"))
    assert shop.token_requests == 1
    assert len(shop.codes) == 20
    searches = [r for r in shop.requests if r[1] == "/api/search/promotion"]
    assert len(searches) == 1  # the promotion was validated once


def test_token_is_renewed_before_it_expires(shop: ShopwareStandIn, clock: Clock) -> None:
    coupons = adapter(shop, clock)
    coupons.issue(offer("EMMA-AAAA-AAAA", "t:1"))
    clock.advance(600 - 30 - 1)
    coupons.issue(offer("EMMA-BBBB-BBBB", "t:2"))
    assert shop.token_requests == 1
    clock.advance(2)
    coupons.issue(offer("EMMA-CCCC-CCCC", "t:3"))
    assert shop.token_requests == 2


def test_rejected_cached_token_is_replaced_once(shop: ShopwareStandIn, clock: Clock) -> None:
    coupons = adapter(shop, clock)
    coupons.issue(offer("EMMA-AAAA-AAAA", "t:1"))
    shop.expire_tokens()  # e.g. the shop restarted or rotated its keys
    assert coupons.issue(offer("EMMA-BBBB-BBBB", "t:2")).code == "EMMA-BBBB-BBBB"
    assert shop.token_requests == 2


def test_throttled_token_route_is_transient_with_retry_after(clock: Clock) -> None:
    shop = standin(clock, token_rate_limit=(1, 60.0))
    adapter(shop, clock).issue(offer("EMMA-AAAA-AAAA", "t:1"))
    adapter_module.clear_caches()  # another Lambda, without the cached token
    clock.advance(20)
    with pytest.raises(ProviderTransient) as caught:
        adapter(shop, clock).issue(offer("EMMA-BBBB-BBBB", "t:2"))
    assert caught.value.retry_after == 40


def test_unavailable_shop_is_transient(shop: ShopwareStandIn, clock: Clock) -> None:
    shop.fail_next(1, 503, retry_after=90)
    with pytest.raises(ProviderTransient) as caught:
        adapter(shop, clock).issue(offer())
    assert caught.value.retry_after == 90
    assert adapter(shop, clock).issue(offer()).provider == "shopware"


def test_unavailable_sync_is_transient(shop: ShopwareStandIn, clock: Clock) -> None:
    coupons = adapter(shop, clock)
    coupons.issue(offer("EMMA-AAAA-AAAA", "t:1"))  # token and promotion cached
    shop.fail_next(1, 503, retry_after=None)
    with pytest.raises(ProviderTransient):
        coupons.issue(offer())


# ---- the promotion's set-up -------------------------------------------------------------------


def test_promotion_with_another_percentage_is_misconfigured(shop: ShopwareStandIn, clock: Clock) -> None:
    coupons = adapter(shop, clock, **{"cart-coupon": WINBACK_PROMO})
    message = f"promotion {WINBACK_PROMO} for cart-coupon gives 15 %, the template 10 %"
    with pytest.raises(ProviderMisconfigured, match=message):
        coupons.issue(offer())
    assert not shop.codes


@pytest.mark.parametrize(
    ("seeded", "reason"),
    [
        (promotion(CART_PROMO, 10, active=False), "is not active"),
        (promotion(CART_PROMO, 10, use_individual_codes=False), "does not use individual codes"),
        (promotion(CART_PROMO, 10, valid_until=NOW - timedelta(days=1)), "ended at"),
        (promotion(CART_PROMO, 10, discount_type="absolute"), "gives no percentage on the cart"),
        (promotion(CART_PROMO, 10, scope="delivery"), "gives no percentage on the cart"),
        (promotion(WINBACK_PROMO, 10), f"promotion {CART_PROMO} for cart-coupon does not exist"),
    ],
)
def test_promotion_set_up_wrong_is_misconfigured(clock: Clock, seeded: dict, reason: str) -> None:
    shop = standin(clock, seeded)
    with pytest.raises(ProviderMisconfigured, match=reason):
        adapter(shop, clock, **{"cart-coupon": CART_PROMO}).issue(offer())


def test_template_without_a_promotion_is_misconfigured(shop: ShopwareStandIn, clock: Clock) -> None:
    with pytest.raises(ProviderMisconfigured, match="no Shopware promotion is configured for loyalty-gift"):
        adapter(shop, clock).issue(offer(template="loyalty-gift"))


def test_a_kind_may_stand_for_its_templates(shop: ShopwareStandIn, clock: Clock) -> None:
    issued = adapter(shop, clock, reward=CART_PROMO).issue(offer(kind="reward", template="referral-reward"))
    assert shop.codes[issued.provider_id]["promotionId"] == CART_PROMO


def test_fixed_promotion_is_read_again_after_a_mismatch(clock: Clock) -> None:
    shop = standin(clock, promotion(CART_PROMO, 15))
    coupons = adapter(shop, clock, **{"cart-coupon": CART_PROMO})
    with pytest.raises(ProviderMisconfigured):
        coupons.issue(offer())
    shop.promotions[CART_PROMO]["discounts"][0]["value"] = 10.0  # the shop fixes its promotion
    assert coupons.issue(offer()).provider == "shopware"


def test_referral_codes_are_refused(shop: ShopwareStandIn, clock: Clock) -> None:
    referral = offer(kind="referral", template="referral-invite", usage_limit=None, ends_at=None)
    with pytest.raises(ProviderRefused, match="single-use"):
        adapter(shop, clock).issue(referral)
    with pytest.raises(ProviderRefused, match="single-use"):
        adapter(shop, clock, referral=CART_PROMO).issue(referral)
    fixed = standin(clock, promotion(REFERRAL_PROMO, 10, code="FREUNDE10"))  # one code for everybody: whose friend?
    with pytest.raises(ProviderRefused, match="everybody's"):
        adapter(fixed, clock, referral=REFERRAL_PROMO).issue(referral)
    assert not shop.codes and not fixed.codes


# ---- the stand-in -------------------------------------------------------------------------------


def test_stand_in_answers_in_shopwares_error_shape(shop: ShopwareStandIn) -> None:
    status, _, raw = shop.handle("POST", "/api/search/promotion", {}, b"{}")
    error = json.loads(raw)["errors"][0]
    assert status == 401 and set(error) >= {"status", "code", "title", "detail"}
    status, _, raw = shop.handle("POST", "/api/oauth/token", {}, json.dumps({"grant_type": "password"}).encode())
    assert (status, json.loads(raw)["errors"][0]["code"]) == (400, "2")


def test_stand_in_sync_takes_the_older_keyed_form(shop: ShopwareStandIn) -> None:
    token = json.loads(
        shop.handle(
            "POST",
            "/api/oauth/token",
            {},
            json.dumps(
                {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
            ).encode(),
        )[2]
    )["access_token"]
    row = "0" * 31 + "1"
    body = {
        "write-code": {
            "entity": "promotion_individual_code",
            "action": "upsert",
            "payload": [{"id": row, "promotionId": CART_PROMO, "code": "KEYED-1"}],
        }
    }
    status, _, raw = shop.handle(
        "POST", "/api/_action/sync", {"Authorization": f"Bearer {token}"}, json.dumps(body).encode()
    )
    assert status == 200 and json.loads(raw)["data"] == {"promotion_individual_code": [row]}


# ---- redemption, through Emma's Shopware mapping ------------------------------------------------


def test_redeemed_code_maps_to_coupon_redeemed(shop: ShopwareStandIn, clock: Clock) -> None:
    issued = adapter(shop, clock).issue(offer())
    webhook = json.loads(json.dumps(shop.redeem("EMMA-7K2P-Q9XD", "10042", "lena.schmidt@example.de", "119.00")))
    topic, delivery = shopware_source.delivery_of({}, json.dumps(webhook).encode())
    events = shopware_source.map_delivery("elektro-emma", topic, delivery, webhook, NOW)
    placed = next(e for e in events if e.type is EventType.ORDER_PLACED)
    redeemed = [e for e in events if e.type is EventType.COUPON_REDEEMED]
    assert topic == "checkout.order.placed"
    assert [e.properties.code for e in redeemed] == ["EMMA-7K2P-Q9XD"]
    assert redeemed[0].properties.amount == Decimal("11.9")
    assert placed.properties.total == Decimal("107.1")
    assert placed.properties.order_number == "10042"
    assert shop.codes[issued.provider_id]["payload"]["orderId"] == placed.properties.order_id
    with pytest.raises(CouponRejected, match="already been marked as redeemed"):
        shop.redeem("EMMA-7K2P-Q9XD", "10043", "lena.schmidt@example.de", "50")


def test_redeem_follows_the_promotions_dates(shop: ShopwareStandIn, clock: Clock) -> None:
    adapter(shop, clock).issue(offer())
    clock.advance(4 * 86400)  # the cart promotion ended after 3 days
    with pytest.raises(CouponRejected, match="outside the promotion's dates"):
        shop.redeem("EMMA-7K2P-Q9XD", "1", "lena.schmidt@example.de", "50")
    with pytest.raises(CouponRejected, match="has not been found"):
        shop.redeem("UNKNOWN", "1", "lena.schmidt@example.de", "50")
