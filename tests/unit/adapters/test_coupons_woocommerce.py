"""WooCommerce coupons: the adapter against the in-process stand-in of the REST API (wc/v3)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from decimal import Decimal

import pytest

from emma.adapters.coupons.http import HttpRequest, HttpResponse
from emma.adapters.coupons.woocommerce import WooCommerceCoupons, coupon_body
from emma.events.model import EventType
from emma.offers.model import CouponOffer
from emma.offers.ports import ProviderMisconfigured, ProviderRefused, ProviderTransient
from emma.sources import woocommerce as woo_source
from emma_local.shop_apis.transport import in_process
from emma_local.shop_apis.woocommerce import CouponRejected, WooCommerceStandIn

from .coupon_fixtures import NOW, Clock, make_offer

URL = "http://127.0.0.1"
KEY, SECRET = "ck_live_key", "cs_live_secret"


def offer(code: str = "EMMA-7K2P-Q9XD", reference: str = "cart-coupon:3f9a0c1d2e", **changes) -> CouponOffer:
    return make_offer("fahrrad-franz", code, reference, **changes)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def shop(clock: Clock) -> WooCommerceStandIn:
    return WooCommerceStandIn(KEY, SECRET, clock=clock)


def adapter(shop: WooCommerceStandIn, url: str = URL, key: str = KEY, secret: str = SECRET) -> WooCommerceCoupons:
    return WooCommerceCoupons(url, key, secret, transport=in_process(shop))


# ---- create and retry -------------------------------------------------------------------------


def test_issue_creates_the_coupon_as_asked(shop: WooCommerceStandIn) -> None:
    issued = adapter(shop).issue(offer(minimum_order=Decimal("50.00")))
    stored = shop.coupon("EMMA-7K2P-Q9XD")
    assert stored is not None
    assert (issued.code, issued.provider, issued.provider_id) == ("EMMA-7K2P-Q9XD", "woocommerce", str(stored["id"]))
    assert issued.ends_at == NOW + timedelta(days=7)
    assert stored["code"] == "emma-7k2p-q9xd"  # WooCommerce lower-cases codes on save
    assert (stored["discount_type"], stored["amount"], stored["individual_use"]) == ("percent", "10.00", True)
    assert (stored["usage_limit"], stored["usage_limit_per_user"]) == (1, 1)
    assert stored["email_restrictions"] == ["lena.schmidt@example.de"]
    assert stored["date_expires_gmt"] == "2025-03-08T09:00:00"
    assert stored["minimum_amount"] == "50.00"
    assert stored["description"] == "Emma cart-coupon 3f9a0c1d2e"
    assert [(m["key"], m["value"]) for m in stored["meta_data"]] == [("emma_reference", "cart-coupon:3f9a0c1d2e")]


def test_request_body_follows_the_offer() -> None:
    referral = offer(kind="referral", usage_limit=None, ends_at=None, customer_email=None, once_per_customer=True)
    body = coupon_body(referral)
    assert body["usage_limit"] is None and body["date_expires_gmt"] is None
    assert body["usage_limit_per_user"] == 1
    assert "email_restrictions" not in body and "minimum_amount" not in body
    assert "usage_limit_per_user" not in coupon_body(offer(once_per_customer=False))


def test_retry_finds_its_own_coupon(shop: WooCommerceStandIn) -> None:
    woo = adapter(shop)
    first = woo.issue(offer())
    again = woo.issue(offer())
    assert again == first
    assert len(shop.coupons) == 1
    assert shop.requests[-2:] == [
        ("POST", "/wp-json/wc/v3/coupons"),
        ("GET", "/wp-json/wc/v3/coupons?code=EMMA-7K2P-Q9XD"),
    ]


def test_code_taken_by_another_coupon_is_refused(shop: WooCommerceStandIn) -> None:
    # The shop's own coupon with the same code (any case): not Emma's for this message.
    shop.handle("POST", "/wp-json/wc/v3/coupons", _basic(), json.dumps({"code": "emma-7k2p-q9xd"}).encode())
    with pytest.raises(ProviderRefused, match="taken by coupon"):
        adapter(shop).issue(offer())


def test_code_of_another_emma_message_is_refused(shop: WooCommerceStandIn) -> None:
    adapter(shop).issue(offer(reference="cart-coupon:other"))
    with pytest.raises(ProviderRefused, match="not Emma's coupon for cart-coupon:3f9a0c1d2e"):
        adapter(shop).issue(offer())


# ---- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "secret"), [("ck_wrong", SECRET), (KEY, "cs_wrong")])
def test_bad_credentials_are_misconfigured_without_echoing_them(
    shop: WooCommerceStandIn, key: str, secret: str
) -> None:
    with pytest.raises(ProviderMisconfigured, match="woocommerce_rest_authentication_error") as caught:
        adapter(shop, key=key, secret=secret).issue(offer())
    assert key not in str(caught.value) and secret not in str(caught.value)
    assert not shop.coupons


def test_read_only_key_is_misconfigured(clock: Clock) -> None:
    shop = WooCommerceStandIn(KEY, SECRET, clock=clock, permissions="read")
    with pytest.raises(ProviderMisconfigured, match="read/write"):
        adapter(shop).issue(offer())


def test_missing_rest_api_is_misconfigured(shop: WooCommerceStandIn) -> None:
    with pytest.raises(ProviderMisconfigured, match=r"REST API not found at http://127.0.0.1/blog.*permalinks"):
        adapter(shop, url="http://127.0.0.1/blog/").issue(offer())


def test_plain_http_to_a_real_host_is_refused_before_any_request(shop: WooCommerceStandIn) -> None:
    with pytest.raises(ProviderMisconfigured, match="not https"):
        adapter(shop, url="http://shop.example").issue(offer())
    assert shop.requests == []


def test_host_rate_limit_is_transient_with_retry_after(clock: Clock) -> None:
    shop = WooCommerceStandIn(KEY, SECRET, clock=clock, rate_limit=(2, 60.0))
    woo = adapter(shop)
    woo.issue(offer("EMMA-AAAA-AAAA", "t:1"))
    woo.issue(offer("EMMA-BBBB-BBBB", "t:2"))
    clock.advance(15)
    with pytest.raises(ProviderTransient) as caught:
        woo.issue(offer("EMMA-CCCC-CCCC", "t:3"))
    assert caught.value.retry_after == 45
    clock.advance(45)
    assert woo.issue(offer("EMMA-CCCC-CCCC", "t:3")).code == "EMMA-CCCC-CCCC"


def test_unavailable_shop_is_transient_then_recovers(shop: WooCommerceStandIn) -> None:
    shop.fail_next(1, 503, retry_after=120)
    with pytest.raises(ProviderTransient) as caught:
        adapter(shop).issue(offer())
    assert caught.value.retry_after == 120
    assert adapter(shop).issue(offer()).provider == "woocommerce"


def test_server_error_is_transient(shop: WooCommerceStandIn) -> None:
    shop.fail_next(1, 500, retry_after=None)
    with pytest.raises(ProviderTransient, match="500"):
        adapter(shop).issue(offer())


def test_rejected_parameter_is_refused_by_name() -> None:
    body = {
        "code": "rest_invalid_param",
        "message": "Invalid parameter(s): amount",
        "data": {"status": 400, "params": {"amount": "amount is not numeric."}},
    }

    def send(request: HttpRequest) -> HttpResponse:
        return HttpResponse(400, {}, json.dumps(body).encode())

    with pytest.raises(ProviderRefused, match=r"rest_invalid_param \(amount: amount is not numeric.\)"):
        WooCommerceCoupons("https://shop.example", KEY, SECRET, transport=send).issue(offer())


def test_adapter_repr_hides_the_keys(shop: WooCommerceStandIn) -> None:
    assert SECRET not in repr(adapter(shop)) and KEY not in repr(adapter(shop))


# ---- the stand-in ---------------------------------------------------------------------------------


def test_stand_in_validates_like_the_rest_api(shop: WooCommerceStandIn) -> None:
    status, _, raw = shop.handle(
        "POST", "/wp-json/wc/v3/coupons", _basic(), json.dumps({"code": "x", "discount_type": "bogus"}).encode()
    )
    error = json.loads(raw)
    assert (status, error["code"]) == (400, "rest_invalid_param")
    assert "discount_type" in error["data"]["params"]
    status, _, raw = shop.handle("GET", "/wp-json/wc/v3/orders", _basic(), b"")
    assert (status, json.loads(raw)["code"]) == (404, "rest_no_route")
    status, _, raw = shop.handle("GET", "/wp-json/wc/v3/coupons", {}, b"")
    assert (status, json.loads(raw)["code"]) == (401, "woocommerce_rest_cannot_view")


def test_stand_in_looks_codes_up_in_any_case(shop: WooCommerceStandIn) -> None:
    adapter(shop).issue(offer())
    status, _, raw = shop.handle("GET", "/wp-json/wc/v3/coupons?code=Emma-7k2p-Q9XD", _basic(), b"")
    assert status == 200 and [c["code"] for c in json.loads(raw)] == ["emma-7k2p-q9xd"]


# ---- redemption, through Emma's WooCommerce mapping ---------------------------------------------


def test_redeemed_code_maps_to_coupon_redeemed(shop: WooCommerceStandIn) -> None:
    adapter(shop).issue(offer())
    order = json.loads(json.dumps(shop.redeem("EMMA-7K2P-Q9XD", 1042, "Lena.Schmidt@example.de", "119.00")))
    events = woo_source.map_delivery("fahrrad-franz", "order.created", "d-1", order, NOW)
    placed = next(e for e in events if e.type is EventType.ORDER_PLACED)
    redeemed = [e for e in events if e.type is EventType.COUPON_REDEEMED]
    assert [e.properties.code for e in redeemed] == ["emma-7k2p-q9xd"]
    assert redeemed[0].properties.code.casefold() == "EMMA-7K2P-Q9XD".casefold()
    assert redeemed[0].properties.amount == Decimal("10.00")  # 11.90 off, net of 19 % VAT
    assert redeemed[0].properties.order_id == "1042"
    assert placed.properties.total == Decimal("107.10")
    assert list(placed.properties.discount_codes) == ["emma-7k2p-q9xd"]
    assert shop.coupon("EMMA-7K2P-Q9XD")["usage_count"] == 1


def test_redeem_enforces_the_coupon_rules(shop: WooCommerceStandIn, clock: Clock) -> None:
    adapter(shop).issue(offer(minimum_order=Decimal("50")))
    with pytest.raises(CouponRejected, match="not yours"):
        shop.redeem("EMMA-7K2P-Q9XD", 1, "someone@example.de", "100")
    with pytest.raises(CouponRejected, match="minimum spend"):
        shop.redeem("EMMA-7K2P-Q9XD", 1, "lena.schmidt@example.de", "20")
    shop.redeem("EMMA-7K2P-Q9XD", 1, "lena.schmidt@example.de", "100")
    with pytest.raises(CouponRejected, match="usage limit"):
        shop.redeem("EMMA-7K2P-Q9XD", 2, "lena.schmidt@example.de", "100")
    adapter(shop).issue(offer("EMMA-LATE-LATE", "t:late"))
    clock.advance(8 * 86400)
    with pytest.raises(CouponRejected, match="expired"):
        shop.redeem("EMMA-LATE-LATE", 3, "lena.schmidt@example.de", "100")
    with pytest.raises(CouponRejected, match="does not exist"):
        shop.redeem("NOPE", 4, "lena.schmidt@example.de", "100")


def _basic() -> dict[str, str]:
    token = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
