"""The Shopify coupon adapter against the Shopify stand-in, called in-process: create, idempotent retry,
errors, rate limits; and the stand-in's redemption read back by Emma's Shopify webhook mapping."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from emma.adapters.coupons import shopify
from emma.adapters.coupons.http import HttpRequest, HttpResponse, json_request
from emma.adapters.coupons.shopify import ShopifyCoupons
from emma.events.model import EventType
from emma.offers.model import CouponOffer
from emma.offers.ports import ProviderMisconfigured, ProviderRefused, ProviderTransient
from emma.sources import shopify as shopify_source
from emma_local.fakes.clock import FixedClock
from emma_local.shop_apis.shopify import INVALID_TOKEN, RedeemRefused, ShopifyStandIn
from emma_local.shop_apis.transport import in_process

DOMAIN = "elektro-emma.myshopify.com"
TOKEN = "shpat_0123456789abcdef"
START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
OFFER = CouponOffer(
    shop="elektro-emma",
    code="EMMA-7K2P-Q9XD",
    kind="offer",
    percent=10,
    starts_at=START,
    ends_at=START + timedelta(days=7),
    reference="cart-coupon:3f9a0c1d2e",
    title="Emma cart-coupon 3f9a0c1d2e",
    template="cart-coupon",
    minimum_order=Decimal("50.00"),
    customer_id="7008001",
    customer_email="lena.schmidt@example.de",
)


class Timeline:
    """One fake time for both sides: the stand-in's clock and the adapter's monotonic clock and sleep."""

    def __init__(self) -> None:
        self.clock = FixedClock(START)
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return (self.clock.at - START).total_seconds()

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds=seconds)


@pytest.fixture(autouse=True)
def _fresh_throttle_state():
    shopify.THROTTLE.clear()
    yield
    shopify.THROTTLE.clear()


@pytest.fixture
def time_() -> Timeline:
    return Timeline()


def make(time_: Timeline, token: str = TOKEN, **stand_in_options):
    stand_in = ShopifyStandIn(access_token=TOKEN, shop_domain=DOMAIN, clock=time_.clock, **stand_in_options)
    adapter = ShopifyCoupons(
        DOMAIN,
        token,
        api_url=f"http://127.0.0.1:9/admin/api/{shopify.API_VERSION}/graphql.json",
        transport=in_process(stand_in),
        sleep=time_.sleep,
        monotonic=time_.monotonic,
    )
    return stand_in, adapter


def operations(stand_in: ShopifyStandIn) -> list[str]:
    return [operation for operation, _ in stand_in.requests]


# ---- create -----------------------------------------------------------------------------------------


def test_issue_creates_the_discount_code_with_the_offers_terms(time_):
    stand_in, adapter = make(time_)
    issued = adapter.issue(OFFER)

    assert issued.code == OFFER.code
    assert issued.provider == "shopify"
    assert issued.provider_id.startswith("gid://shopify/DiscountCodeNode/")
    assert issued.ends_at == OFFER.ends_at
    created = stand_in.codes[OFFER.code]
    assert created.id == issued.provider_id
    assert created.title == OFFER.title
    assert created.percent == 10
    assert created.usage_limit == 1
    assert created.applies_once_per_customer is True
    assert (created.starts_at, created.ends_at) == (OFFER.starts_at, OFFER.ends_at)
    assert created.minimum_subtotal == Decimal("50.00")
    assert created.customers == ("gid://shopify/Customer/7008001",)
    assert created.combines_with == {"productDiscounts": False, "orderDiscounts": False, "shippingDiscounts": False}
    assert created.uses == 0


def test_the_request_is_the_documented_mutation_with_the_token_header():
    seen: list[HttpRequest] = []
    stand_in = ShopifyStandIn(access_token=TOKEN, shop_domain=DOMAIN)

    def spy(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return in_process(stand_in)(request)

    ShopifyCoupons(DOMAIN, TOKEN, transport=spy).issue(OFFER)
    request = seen[0]
    assert request.method == "POST"
    assert request.url == f"https://{DOMAIN}/admin/api/2025-10/graphql.json"
    assert request.headers["X-Shopify-Access-Token"] == TOKEN
    assert request.headers["Content-Type"] == "application/json"
    body = HttpResponse(200, {}, request.body).json()
    assert "discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount)" in body["query"]
    assert body["variables"]["basicCodeDiscount"] == {
        "title": OFFER.title,
        "code": OFFER.code,
        "startsAt": "2025-03-03T09:00:00Z",
        "endsAt": "2025-03-10T09:00:00Z",
        "customerGets": {"value": {"percentage": 0.1}, "items": {"all": True}},
        "usageLimit": 1,
        "appliesOncePerCustomer": True,
        "context": {"customers": {"add": ["gid://shopify/Customer/7008001"]}},
        "combinesWith": {"productDiscounts": False, "orderDiscounts": False, "shippingDiscounts": False},
        "minimumRequirement": {"subtotal": {"greaterThanOrEqualToSubtotal": "50.00"}},
    }


def test_without_a_shopify_customer_id_the_code_is_open_to_all_buyers_and_a_referral_code_has_no_limit(time_):
    stand_in, adapter = make(time_)
    referral = replace(
        OFFER, code="EMMA-REF1-2345", kind="referral", ends_at=None, usage_limit=None, customer_id="profile-17"
    )
    adapter.issue(referral)
    created = stand_in.codes["EMMA-REF1-2345"]
    assert created.customers is None  # context {all: ALL}
    assert (created.usage_limit, created.ends_at, created.minimum_subtotal) == (None, None, Decimal("50.00"))
    assert created.applies_once_per_customer is True


# ---- idempotent retry -------------------------------------------------------------------------------


def test_a_retry_finds_its_own_code_and_creates_no_second_discount(time_):
    stand_in, adapter = make(time_)
    first = adapter.issue(OFFER)
    again = adapter.issue(OFFER)

    assert again == first
    assert list(stand_in.codes) == [OFFER.code]
    assert operations(stand_in) == ["create", "create", "lookup"]


def test_a_code_taken_by_another_discount_is_refused(time_):
    stand_in, adapter = make(time_)
    adapter.issue(replace(OFFER, code="emma-7k2p-q9xd", title="Summer sale"))  # the same code, another case
    with pytest.raises(ProviderRefused, match="not this message's"):
        adapter.issue(OFFER)
    assert len(stand_in.codes) == 1


def test_a_taken_message_without_the_taken_code_counts_as_taken_too(time_):
    stand_in, adapter = make(time_)
    adapter.issue(OFFER)

    def old_style(request: HttpRequest) -> HttpResponse:
        response = in_process(stand_in)(request)
        body = response.json()
        for error in (body.get("data") or {}).get("discountCodeBasicCreate", {}).get("userErrors", []):
            error["code"] = None  # older API versions: the message only
        return HttpResponse(response.status, response.headers, json_request("POST", "x", body).body)

    retry = ShopifyCoupons(DOMAIN, TOKEN, api_url=adapter.api_url, transport=old_style)
    assert retry.issue(OFFER).provider_id == stand_in.codes[OFFER.code].id


# ---- errors -----------------------------------------------------------------------------------------


def test_a_wrong_token_is_a_misconfiguration_that_names_the_shop_but_not_the_token(time_):
    stand_in, adapter = make(time_, token="shpat_wrong_token")
    with pytest.raises(ProviderMisconfigured) as caught:
        adapter.issue(OFFER)
    message = str(caught.value)
    assert message.startswith(f"Shopify refused the access token for {DOMAIN}: HTTP 401")
    assert INVALID_TOKEN in message
    assert "shpat_wrong_token" not in message and TOKEN not in message
    assert stand_in.codes == {}


def test_a_missing_token_is_a_misconfiguration_without_a_call(time_):
    stand_in, adapter = make(time_, token="")
    with pytest.raises(ProviderMisconfigured, match="no Shopify access token"):
        adapter.issue(OFFER)
    assert stand_in.requests == []


def test_a_token_without_the_discount_scopes_is_a_misconfiguration(time_):
    _, adapter = make(time_, scopes=("read_orders",))
    with pytest.raises(ProviderMisconfigured, match="write_discounts"):
        adapter.issue(OFFER)


def test_503_is_transient_and_the_next_attempt_succeeds(time_):
    stand_in, adapter = make(time_)
    stand_in.fail_next(1)
    with pytest.raises(ProviderTransient, match="HTTP 503") as caught:
        adapter.issue(OFFER)
    assert caught.value.retry_after == 30.0  # no Retry-After: the shared default
    assert adapter.issue(OFFER).code == OFFER.code


def test_an_unreachable_shop_is_transient():
    def down(request: HttpRequest) -> HttpResponse:
        raise ProviderTransient(f"{request.url} unreachable: TimeoutError")

    with pytest.raises(ProviderTransient, match="unreachable"):
        ShopifyCoupons(DOMAIN, TOKEN, transport=down).issue(OFFER)


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"percent": 150}, "basicCodeDiscount.customerGets.value.percentage", "VALUE_OUTSIDE_RANGE"),
        ({"ends_at": START - timedelta(days=1)}, "basicCodeDiscount.endsAt", "INVALID"),
        ({"code": "X" * 256}, "basicCodeDiscount.code", "TOO_LONG"),
        ({"title": " "}, "basicCodeDiscount.title", "BLANK"),
        ({"usage_limit": 0}, "basicCodeDiscount.usageLimit", "VALUE_OUTSIDE_RANGE"),
    ],
)
def test_a_validation_error_is_refused_naming_the_field(time_, changes, field, code):
    stand_in, adapter = make(time_)
    with pytest.raises(ProviderRefused) as caught:
        adapter.issue(replace(OFFER, **changes))
    assert f"{field}: " in str(caught.value) and f"({code})" in str(caught.value)
    assert stand_in.codes == {}


# ---- rate limits ------------------------------------------------------------------------------------


def offers(count: int) -> list[CouponOffer]:
    return [replace(OFFER, code=f"EMMA-BURST-{i:04d}", title=f"Emma cart-coupon burst{i}") for i in range(count)]


def test_a_burst_that_drains_the_bucket_waits_briefly_for_it(time_):
    stand_in, adapter = make(time_, maximum_available=50, restore_rate=10)
    for offer in offers(5):  # 5 x 10 points: the bucket is empty
        adapter.issue(offer)
    assert time_.slept == []

    adapter.issue(replace(OFFER, code="EMMA-BURST-LAST"))
    assert time_.slept == [pytest.approx(1.0)]  # 10 points at 10 points/s
    assert len(stand_in.codes) == 6
    assert all(status == 200 for _, status in stand_in.requests)  # never throttled by the shop


def test_a_burst_defers_without_calling_when_the_bucket_needs_longer(time_):
    stand_in, adapter = make(time_, maximum_available=50, restore_rate=2)
    for offer in offers(5):
        adapter.issue(offer)
    calls = len(stand_in.requests)

    with pytest.raises(ProviderTransient, match="not calling") as caught:
        adapter.issue(replace(OFFER, code="EMMA-BURST-LAST"))
    assert caught.value.retry_after == pytest.approx(5.0)  # 10 points at 2 points/s
    assert len(stand_in.requests) == calls
    assert time_.slept == []

    time_.clock.advance(seconds=5)
    assert adapter.issue(replace(OFFER, code="EMMA-BURST-LAST")).code == "EMMA-BURST-LAST"


@pytest.mark.parametrize("status", [200, 429])
def test_throttled_by_the_shop_is_transient_with_the_time_the_bucket_needs(time_, status):
    stand_in, adapter = make(time_, restore_rate=2, throttle_status=status)
    stand_in.drain()  # other clients of the app used the bucket up
    with pytest.raises(ProviderTransient, match=f"throttled create \\(HTTP {status}\\)") as caught:
        adapter.issue(OFFER)
    assert caught.value.retry_after == pytest.approx(5.0)  # (10 requested - 0 available) / 2 per second
    assert stand_in.requests == [("create", status)]
    assert stand_in.codes == {}

    with pytest.raises(ProviderTransient, match="not calling"):  # the answer's status is remembered
        adapter.issue(OFFER)
    assert len(stand_in.requests) == 1

    time_.clock.advance(seconds=5)
    assert adapter.issue(OFFER).code == OFFER.code


def test_a_429_without_a_cost_report_uses_retry_after():
    def proxy(request: HttpRequest) -> HttpResponse:
        return HttpResponse(429, {"retry-after": "7"}, b"Too Many Requests")

    with pytest.raises(ProviderTransient) as caught:
        ShopifyCoupons(DOMAIN, TOKEN, transport=proxy).issue(OFFER)
    assert caught.value.retry_after == 7.0


def test_the_throttle_state_is_kept_per_shop(time_):
    _, adapter = make(time_, maximum_available=10, restore_rate=1)
    adapter.issue(OFFER)
    assert shopify.THROTTLE[DOMAIN].available == 0
    other = ShopifyStandIn(access_token=TOKEN, shop_domain="fahrrad-franz.myshopify.com", clock=time_.clock)
    ShopifyCoupons("fahrrad-franz.myshopify.com", TOKEN, transport=in_process(other), monotonic=time_.monotonic).issue(
        OFFER
    )
    assert shopify.THROTTLE["fahrrad-franz.myshopify.com"].available == 1990
    assert shopify.THROTTLE[DOMAIN].costs == {"create": 10}


# ---- redemption -------------------------------------------------------------------------------------


def test_a_redemption_reaches_emma_as_coupon_redeemed(time_):
    stand_in, adapter = make(time_)
    adapter.issue(OFFER)
    time_.clock.advance(hours=2)
    order = stand_in.redeem(OFFER.code, 5502001, "lena.schmidt@example.de", "1099.00", customer_id=7008001)

    events = shopify_source.map_delivery("elektro-emma", "orders/create", "wh-9", order, time_.clock.now())
    placed = events[0]
    assert placed.type is EventType.ORDER_PLACED
    assert list(placed.properties.discount_codes) == [OFFER.code]
    assert placed.properties.total == Decimal("989.10")
    coupon = next(e for e in events if e.type is EventType.COUPON_REDEEMED)
    assert coupon.id == f"shopify:wh-9:coupon:{OFFER.code}"
    assert coupon.properties.code == OFFER.code
    assert coupon.properties.amount == Decimal("109.90")
    assert coupon.properties.order_id == "5502001"
    assert stand_in.codes[OFFER.code].uses == 1


# ---- the stand-in itself ----------------------------------------------------------------------------


def test_the_stand_in_enforces_the_usage_limit_dates_customer_and_minimum(time_):
    stand_in, adapter = make(time_)
    adapter.issue(OFFER)
    with pytest.raises(RedeemRefused, match="not for this customer"):
        stand_in.redeem(OFFER.code, 1, "someone@example.de", "100.00", customer_id=1234)
    with pytest.raises(RedeemRefused, match="below the minimum"):
        stand_in.redeem(OFFER.code, 1, "lena.schmidt@example.de", "49.99", customer_id=7008001)

    stand_in.redeem(OFFER.code, 1, "lena.schmidt@example.de", "100.00", customer_id=7008001)
    with pytest.raises(RedeemRefused, match="used up"):
        stand_in.redeem(OFFER.code, 2, "lena.schmidt@example.de", "100.00", customer_id=7008001)
    assert stand_in.codes[OFFER.code].uses == 1

    adapter.issue(replace(OFFER, code="EMMA-LATE-0001", customer_id=None, usage_limit=5))
    time_.clock.advance(days=8)
    with pytest.raises(RedeemRefused, match="expired"):
        stand_in.redeem("EMMA-LATE-0001", 3, "max@example.de", "100.00")
    with pytest.raises(RedeemRefused, match="no such discount code"):
        stand_in.redeem("NOPE", 4, "max@example.de", "100.00")


def test_the_stand_in_speaks_shopifys_shapes(time_):
    stand_in = ShopifyStandIn(access_token=TOKEN, clock=time_.clock)
    status, _, body = stand_in.handle("POST", "/admin/api/2025-10/graphql.json", {}, b"{}")
    assert (status, body) == (401, b'{"errors": "' + INVALID_TOKEN.encode() + b'"}')
    assert stand_in.handle("POST", "/admin/api/2025-10/products.json", {}, b"")[0] == 404

    query = "query($c: String!) { codeDiscountNodeByCode(code: $c) { id } }"
    request = json_request("POST", "x", {"query": query, "variables": {"c": "NONE"}})
    status, headers, body = stand_in.handle(
        "POST", "/admin/api/2025-10/graphql.json", {"x-shopify-access-token": TOKEN}, request.body
    )
    answer = HttpResponse(status, headers, body).json()
    assert status == 200 and answer["data"] == {"codeDiscountNodeByCode": None}
    assert answer["extensions"]["cost"] == {
        "requestedQueryCost": 4,
        "actualQueryCost": 3,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1997, "restoreRate": 100.0},
    }


def create_input(**changes) -> dict:
    data = shopify.discount_input(OFFER)
    data.update(changes)
    return {key: value for key, value in data.items() if value is not ...}


def ask(stand_in: ShopifyStandIn, query: str, variables: dict) -> dict:
    body = json_request("POST", "x", {"query": query, "variables": variables}).body
    status, headers, answer = stand_in.handle(
        "POST", "/admin/api/2025-10/graphql.json", {"X-Shopify-Access-Token": TOKEN}, body
    )
    assert status == 200
    return HttpResponse(status, headers, answer).json()


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"context": ...}, ["basicCodeDiscount", "context"], "BLANK"),
        ({"customerSelection": {"all": True}}, ["basicCodeDiscount", "context"], "INVALID"),
        (
            {"context": {"customers": {"add": ["gid://shopify/Order/1"]}}},
            ["basicCodeDiscount", "context", "customers", "add"],
            "INVALID",
        ),
        ({"context": {"customers": {"add": []}}}, ["basicCodeDiscount", "context", "customers"], "INVALID"),
        (
            {"context": {"all": "ALL", "customers": {"add": ["gid://shopify/Customer/1"]}}},
            ["basicCodeDiscount", "context"],
            "INVALID",
        ),
        ({"code": ""}, ["basicCodeDiscount", "code"], "BLANK"),
        ({"code": "A\nB"}, ["basicCodeDiscount", "code"], "INVALID"),
        ({"customerGets": ...}, ["basicCodeDiscount", "customerGets"], "BLANK"),
        (
            {"customerGets": {"value": {"percentage": 0.1}, "items": {"products": {}}}},
            ["basicCodeDiscount", "customerGets", "items"],
            "INVALID",
        ),
        (
            {"customerGets": {"value": {"discountAmount": {"amount": 5}}, "items": {"all": True}}},
            ["basicCodeDiscount", "customerGets", "value"],
            "INVALID",
        ),
        (
            {"minimumRequirement": {"subtotal": {"greaterThanOrEqualToSubtotal": "-1"}}},
            ["basicCodeDiscount", "minimumRequirement", "subtotal", "greaterThanOrEqualToSubtotal"],
            "GREATER_THAN_OR_EQUAL_TO",
        ),
    ],
)
def test_the_stand_in_validates_the_input_like_shopify(time_, changes, field, code):
    stand_in = ShopifyStandIn(access_token=TOKEN, clock=time_.clock)
    answer = ask(stand_in, shopify.CREATE, {"basicCodeDiscount": create_input(**changes)})
    payload = answer["data"]["discountCodeBasicCreate"]
    assert payload["codeDiscountNode"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(field, code)]
    assert stand_in.codes == {}


@pytest.mark.parametrize(
    "changes",
    [
        {"endsAt": "next tuesday"},
        {"usageLimit": "1"},
        {"customerGets": {"value": {"percentage": "10%"}, "items": {"all": True}}},
        {"context": {"all": True}},
        {"minimumRequirement": {"subtotal": {"greaterThanOrEqualToSubtotal": "fifty"}}},
    ],
)
def test_the_stand_in_refuses_values_of_the_wrong_type_before_running(time_, changes):
    stand_in = ShopifyStandIn(access_token=TOKEN, clock=time_.clock)
    answer = ask(stand_in, shopify.CREATE, {"basicCodeDiscount": create_input(**changes)})
    assert "data" not in answer
    assert answer["errors"][0]["message"].startswith(
        "Variable $basicCodeDiscount of type DiscountCodeBasicInput! was provided invalid value"
    )
    assert answer["extensions"]["cost"]["actualQueryCost"] == 0


def test_the_stand_in_answers_only_what_it_knows(time_):
    stand_in = ShopifyStandIn(access_token=TOKEN, clock=time_.clock)
    headers = {"X-Shopify-Access-Token": TOKEN}
    path = "/admin/api/2025-10/graphql.json"
    assert stand_in.handle("GET", path, headers, b"")[0] == 405
    assert stand_in.handle("POST", path, headers, b"not json")[0] == 400
    assert "errors" in ask(stand_in, "{ shop { name } }", {})
    with pytest.raises(ValueError, match="200 or 429"):
        ShopifyStandIn(throttle_status=500)


@pytest.mark.parametrize(
    ("status", "body", "error", "says"),
    [
        (404, b'{"errors":"Not Found"}', ProviderMisconfigured, "HTTP 404"),
        (200, b"<html>proxy</html>", ProviderTransient, "without a JSON body"),
        (200, b'{"data":{"discountCodeBasicCreate":null}}', ProviderTransient, "no payload"),
        (
            200,
            b'{"errors":[{"message":"Internal error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}',
            ProviderTransient,
            "Internal error",
        ),
        (
            200,
            b'{"errors":[{"message":"Field \'tags\' doesn\'t exist on type \'DiscountCodeBasicInput\'"}]}',
            ProviderMisconfigured,
            "rejected the create request",
        ),
    ],
)
def test_unexpected_answers_are_classified(status, body, error, says):
    def canned(request: HttpRequest) -> HttpResponse:
        return HttpResponse(status, {"content-type": "application/json"}, body)

    with pytest.raises(error, match=says):
        ShopifyCoupons(DOMAIN, TOKEN, transport=canned).issue(OFFER)


def test_a_customer_gid_is_used_as_it_is():
    data = shopify.discount_input(replace(OFFER, customer_id="gid://shopify/Customer/42"))
    assert data["context"] == {"customers": {"add": ["gid://shopify/Customer/42"]}}
