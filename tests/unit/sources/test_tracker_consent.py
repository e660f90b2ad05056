"""Tracker calls carrying the visitor's cookie-consent choices (issue 14, item 7).

The payloads are shaped as the clients send them:
- analytics.js (@segment/analytics-next 1.8x, Segment.io plugin: ``writeKey``, ``sentAt``, ``_metadata``
  on every call; batches as ``text/plain`` with Basic auth, ``sentAt`` taken off the items) with
  @segment/analytics-consent-tools' stamping middleware, which sets
  ``context.consent = {...context.consent, categoryPreferences: await getCategories()}`` on every call;
- the OneTrust wrapper's categories: every OneTrust group id, true when active, else false;
- Segment's docs' example names (Advertising, Analytics, Functional, DataSharing);
- the retired @segment/consent-manager's ``{defaultDestinationBehavior, categoryPreferences,
  destinationPreferences}`` (categoryPreferences null until a choice);
- RudderStack's ``context.consentManagement`` (allowedConsentIds / deniedConsentIds).
"""

import base64
import copy
import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from emma.events.model import EventType
from emma.shops import ShopConfig, TrackerConsent
from emma.sources import segment
from emma_local.lambdas import LambdaContext, api_event, response_body
from tests.unit.functions.conftest import api, world  # noqa: F401 (fixtures for the HTTP tests)

RECEIVED = datetime(2026, 11, 20, 18, 40, 3, tzinfo=UTC)
SHOP = segment.TrackerShop("elektro-emma", "EUR")
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

# OneTrust's default groups: C0001 strictly necessary, C0002 performance, C0003 functional,
# C0004 targeting, C0005 social media. "Reject all" leaves only C0001 active.
ONETRUST_REJECT_ALL = {"C0001": True, "C0002": False, "C0003": False, "C0004": False, "C0005": False}
ONETRUST_ACCEPT_ALL = {"C0001": True, "C0002": True, "C0003": True, "C0004": True, "C0005": True}
ONETRUST_STATS_ONLY = {"C0001": True, "C0002": True, "C0003": True, "C0004": False, "C0005": False}


def ajs(call_type, preferences=None, *, anonymous_id="8f1c2e4a-6b0d-4c3e-9a57-2d1f0e9b7c64", n=1, **fields):
    """One call as analytics.js posts it to /v1/<t|p|i|...>, with consent-tools' consent object."""
    page = {
        "path": "/smartphones/pixel-9-pro",
        "referrer": "https://www.google.de/",
        "search": "",
        "title": "Pixel 9 Pro kaufen | Elektro Emma",
        "url": "https://www.elektro-emma.de/smartphones/pixel-9-pro",
    }
    context = {
        "page": page,
        "userAgent": UA,
        "userAgentData": {"brands": [{"brand": "Chromium", "version": "131"}], "mobile": False, "platform": "Windows"},
        "locale": "de-DE",
        "library": {"name": "analytics.js", "version": "npm:next-1.84.3"},
        "timezone": "Europe/Berlin",
    }
    if preferences is not None:
        context["consent"] = {"categoryPreferences": preferences}
    message = {
        "timestamp": "2026-11-20T18:40:02.118Z",
        "integrations": {},
        "type": call_type,
        "properties": {},
        "context": context,
        "messageId": f"ajs-next-1795200002118-{n:04d}a1b2-7c3d-4e5f-8a9b-0c1d2e3f4a5b",
        "anonymousId": anonymous_id,
        "writeKey": "wk_1",
        "userId": None,
        "sentAt": "2026-11-20T18:40:02.301Z",
        "_metadata": {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []},
    }
    if call_type == "page":
        message["properties"] = dict(page)
        message["category"] = "Smartphones"
        message["name"] = "Produktseite"
    message.update(fields)
    return message


def viewed(preferences=None, **kw):
    props = {"product_id": "pixel-9-pro", "name": "Pixel 9 Pro", "category": "smartphones", "brand": "Google"}
    return ajs("track", preferences, event="Product Viewed", properties={**props, "price": 1099}, **kw)


def mapped(message, shop=SHOP, batch_context=None):
    return segment.map_consented_call(shop, message["type"], message, RECEIVED, batch_context=batch_context)


def types(result):
    return [e.type for e in result.events], [w.type for w in result.withheld]


# ---- analytics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "preferences, said",
    [
        (ONETRUST_REJECT_ALL, "C0002 is false"),
        ({"Advertising": True, "Analytics": False, "Functional": True, "DataSharing": False}, "Analytics is false"),
        ({"analytics": False}, "analytics is false"),  # names compare without regard to case
        ({"c0002": False, "c0004": True}, "c0002 is false"),
        ({"statistics": False, "marketing": True}, "statistics is false"),  # Cookiebot's names
    ],
)
def test_analytics_denied_keeps_no_page_view_and_no_product_view(preferences, said):
    for message in (ajs("page", preferences), viewed(preferences)):
        result = mapped(message)
        assert result.events == []
        (withheld,) = result.withheld
        assert withheld.event_id == f"tracker:{message['messageId']}"
        assert withheld.message_id == message["messageId"]
        assert said in withheld.reason and "analytics consent denied" in withheld.reason
    assert mapped(viewed(preferences)).withheld[0].as_dict()["call"] == "track Product Viewed"


@pytest.mark.parametrize(
    "event, properties",
    [
        ("Products Searched", {"query": "pixel hülle"}),
        ("Product Added", {"product_id": "case-1", "price": 29.9, "quantity": 1}),
        ("Cart Viewed", {"cart_id": "c-1", "products": [{"product_id": "case-1", "price": 29.9}]}),
        ("Checkout Started", {"checkout_id": "co-1", "value": 29.9, "currency": "EUR"}),
        ("Tutorial Watched", {"tutorial_id": "camera-pro", "completion": 0.8}),
        ("Product List Viewed", {"list_id": "smartphones", "products": [{"product_id": "pixel-9-pro"}]}),
        ("Video Playback Started", {"session_id": "v-1"}),  # a custom event: behaviour too
        ("Push Notification Tapped", {"campaign_id": "m-1"}),
    ],
)
def test_analytics_denied_keeps_no_browsing_behaviour(event, properties):
    result = mapped(ajs("track", ONETRUST_REJECT_ALL, event=event, properties=properties))
    assert result.events == [] and len(result.withheld) == 1
    assert "browsing behaviour" in result.withheld[0].reason


def test_screen_calls_are_behaviour_too():
    screen = ajs("screen", {"Analytics": False}, name="Produktdetail", properties={"product_id": "pixel-9-pro"})
    assert types(mapped(screen)) == ([], [EventType.PAGE_VIEWED])


def test_a_visitor_who_consented_is_tracked_and_the_event_notes_it():
    result = mapped(viewed(ONETRUST_ACCEPT_ALL))
    (event,) = result.events
    assert result.withheld == []
    assert event.type is EventType.PRODUCT_VIEWED and event.properties.product.product_id == "pixel-9-pro"
    assert event.extra["_consent"] == {"analytics": "granted", "marketing": "granted"}


def test_a_call_without_a_consent_object_is_mapped_as_before():
    for message in (ajs("page"), viewed(), ajs("identify", userId="u-1", traits={"email_opt_in": True})):
        result = mapped(message)
        plain = segment.map_call(SHOP.shop, message["type"], message, RECEIVED)
        assert result.events == plain and result.withheld == []
        assert all("_consent" not in e.extra for e in result.events)


# ---- marketing -------------------------------------------------------------------------------


def test_marketing_denied_keeps_measurement_but_no_marketing_signal():
    """Statistics allowed, targeting refused (a common banner choice)."""
    kept = {
        "page": ajs("page", ONETRUST_STATS_ONLY),
        "custom": ajs("track", ONETRUST_STATS_ONLY, event="Product List Viewed", properties={"list_id": "x"}),
    }
    withheld = {
        "viewed": viewed(ONETRUST_STATS_ONLY),
        "searched": ajs("track", ONETRUST_STATS_ONLY, event="Products Searched", properties={"query": "pixel"}),
        "added": ajs("track", ONETRUST_STATS_ONLY, event="Product Added", properties={"product_id": "case-1"}),
        "checkout": ajs("track", ONETRUST_STATS_ONLY, event="Checkout Started", properties={"checkout_id": "co-1"}),
        "tutorial": ajs("track", ONETRUST_STATS_ONLY, event="Tutorial Watched", properties={"tutorial_id": "t-1"}),
    }
    for name, message in kept.items():
        result = mapped(message)
        assert len(result.events) == 1 and result.withheld == [], name
        assert result.events[0].extra["_consent"]["marketing"] == "denied"
    for name, message in withheld.items():
        result = mapped(message)
        assert result.events == [], name
        assert (
            "marketing consent denied (context.consent.categoryPreferences.C0004 is false)" in result.withheld[0].reason
        )


def test_marketing_denied_page_view_keeps_no_category_interest():
    (page,) = mapped(ajs("page", ONETRUST_STATS_ONLY)).events
    assert page.properties.category is None  # a page's category adds to the interest scores
    assert page.properties.url == "https://www.elektro-emma.de/smartphones/pixel-9-pro"
    assert page.extra["_consent"]["left_out"] == ["properties.category: interest in it is a marketing signal"]
    (allowed,) = mapped(ajs("page", ONETRUST_ACCEPT_ALL)).events
    assert allowed.properties.category == "Smartphones"


def test_no_opt_in_is_taken_from_a_call_that_denies_marketing_but_a_withdrawal_is():
    identify = ajs(
        "identify",
        {"Analytics": True, "Advertising": False},
        userId="7008001",
        traits={"email": "lena.schmidt@example.de", "email_opt_in": True, "sms_opt_in": False},
    )
    result = mapped(identify)
    assert [(e.type, getattr(e.properties, "granted", None)) for e in result.events] == [
        (EventType.CUSTOMER_IDENTIFIED, None),
        (EventType.CONSENT_CHANGED, False),  # the sms withdrawal stands
    ]
    (grant,) = result.withheld
    assert grant.event_id.endswith(":consent:email") and grant.type == "consent.changed"
    assert "no opt-in is taken from this call" in grant.reason

    signed_up = ajs(
        "track", ONETRUST_REJECT_ALL, event="Signed Up", userId="7008001", properties={"email_opt_in": True}
    )
    assert types(mapped(signed_up)) == ([EventType.CUSTOMER_REGISTERED], [EventType.CONSENT_CHANGED])


def test_an_opt_in_with_marketing_consent_is_recorded():
    identify = ajs("identify", ONETRUST_ACCEPT_ALL, userId="7008001", traits={"email_opt_in": True})
    assert types(mapped(identify)) == ([EventType.CUSTOMER_IDENTIFIED, EventType.CONSENT_CHANGED], [])


# ---- never withheld --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message, expected",
    [
        (ajs("identify", userId="7008001", traits={"email": "lena@example.de"}), EventType.CUSTOMER_IDENTIFIED),
        (ajs("alias", userId="7008001", previousId="8f1c2e4a"), EventType.CUSTOMER_IDENTIFIED),
        (ajs("group", userId="7008001", groupId="acme", traits={"name": "Acme"}), EventType.CUSTOM),
        (
            ajs(
                "track",
                event="Order Completed",
                userId="7008001",
                properties={"order_id": "o-1", "total": 1099, "currency": "EUR"},
            ),
            EventType.ORDER_PLACED,
        ),
        (ajs("track", event="Order Refunded", properties={"order_id": "o-1", "total": 50}), EventType.ORDER_REFUNDED),
        (ajs("track", event="Order Cancelled", properties={"order_id": "o-1"}), EventType.ORDER_CANCELLED),
        (ajs("track", event="Coupon Applied", properties={"coupon_id": "WILLKOMMEN10"}), EventType.COUPON_REDEEMED),
        (
            ajs("track", event="Product Reviewed", properties={"product_id": "p-1", "rating": 5}),
            EventType.REVIEW_SUBMITTED,
        ),
        (ajs("track", event="Survey Answered", properties={"survey_id": "nps", "score": 9}), EventType.SURVEY_ANSWERED),
        (ajs("track", event="Referral Made", properties={"referral_code": "LENA10"}), EventType.REFERRAL_MADE),
        # consent-tools sends the visitor's choice itself as a track call: it is the record of that choice
        (ajs("track", event="Segment Consent Preference Updated"), EventType.CUSTOM),
        (ajs("track", event="Segment Consent Preference"), EventType.CUSTOM),
    ],
)
def test_identities_transactions_and_declarations_are_kept_whatever_the_visitor_refused(message, expected):
    message["context"]["consent"] = {"categoryPreferences": ONETRUST_REJECT_ALL}
    result = mapped(message)
    assert [e.type for e in result.events] == [expected] and result.withheld == []
    assert result.events[0].extra["_consent"] == {"analytics": "denied", "marketing": "denied"}


def test_a_known_call_kept_as_custom_for_a_missing_field_is_judged_as_what_it_is():
    order = ajs("track", ONETRUST_REJECT_ALL, event="Order Completed", properties={"total": 1099})  # no order_id
    (event,) = mapped(order).events
    assert event.type is EventType.CUSTOM and "order_id" in event.properties.reason
    view = ajs("track", ONETRUST_STATS_ONLY, event="Product Viewed", properties={"category": "smartphones"})
    result = mapped(view)  # no product id: a custom event, still a marketing signal
    assert result.events == [] and result.withheld[0].type == "custom"
    assert "is a marketing signal" in result.withheld[0].reason


# ---- reading the consent object --------------------------------------------------------------


def test_an_empty_category_preferences_object_denies_every_category():
    """Segment: an empty categoryPreferences object means consent is false for all categories."""
    result = mapped(viewed({}))
    assert result.events == [] and "is empty: no category is consented" in result.withheld[0].reason


def test_a_category_not_named_is_not_stated_unless_the_shop_says_unlisted_categories_deny():
    necessary_only = {"C0001": True, "C0003": True}  # the shop's CMP has no performance or targeting group
    (event,) = mapped(viewed(necessary_only)).events
    assert event.extra["_consent"] == {"analytics": "not stated", "marketing": "not stated"}
    strict = segment.TrackerShop("elektro-emma", "EUR", TrackerConsent(unlisted_denies=True))
    result = mapped(viewed(necessary_only), shop=strict)
    assert result.events == [] and "unlisted categories count as denied" in result.withheld[0].reason
    # an identify of that visitor is kept with its identities, its opt-in is not
    identify = ajs("identify", necessary_only, userId="u-1", traits={"email_opt_in": True})
    assert types(mapped(identify, shop=strict)) == ([EventType.CUSTOMER_IDENTIFIED], [EventType.CONSENT_CHANGED])


def test_one_denied_category_of_a_purpose_denies_it():
    result = mapped(viewed({"Analytics": True, "C0002": False, "Advertising": True}))
    assert result.events == [] and "C0002 is false" in result.withheld[0].reason


def test_values_that_are_not_booleans_state_nothing():
    (event,) = mapped(viewed({"Analytics": "false", "Advertising": 0})).events
    assert "_consent" not in event.extra


def test_consent_managers_null_preferences_state_nothing_and_its_choices_count():
    before_choice = {"defaultDestinationBehavior": "imply", "categoryPreferences": None, "destinationPreferences": None}
    message = viewed()
    message["context"]["consent"] = before_choice
    assert len(mapped(message).events) == 1
    message["context"]["consent"] = {
        "defaultDestinationBehavior": "imply",
        "categoryPreferences": {"functional": True, "marketingAndAnalytics": False, "advertising": False},
        "destinationPreferences": {"Google Analytics": False},
    }
    result = mapped(message)
    assert result.events == [] and "marketingAndAnalytics is false" in result.withheld[0].reason


def test_channel_consent_under_context_consent_still_works_beside_category_preferences():
    message = ajs("identify", userId="7008001", traits={})
    message["context"]["consent"] = {
        "email": {"granted": True, "wording": "Newsletter: ja", "double_opt_in": True},
        "categoryPreferences": ONETRUST_ACCEPT_ALL,
    }
    _, email = mapped(message).events
    assert email.properties.granted is True and email.properties.proof.wording == "Newsletter: ja"


@pytest.mark.parametrize(
    "management, denied",
    [
        ({"allowedConsentIds": ["C0001"], "deniedConsentIds": ["C0002", "C0004"], "provider": "oneTrust"}, True),
        ({"allowedConsentIds": ["C0001", "C0002", "C0004"], "deniedConsentIds": [], "provider": "oneTrust"}, False),
        # rudder-sdk-js 1.x's OneTrust form: the allowed ids with their names
        ({"allowedConsentIds": {"C0001": "Strictly Necessary"}, "deniedConsentIds": ["C0002"]}, True),
        ({"allowedConsentIds": [], "deniedConsentIds": []}, False),  # not initialised: nothing stated
    ],
)
def test_rudderstacks_consent_management_counts_too(management, denied):
    message = viewed()
    message["context"] = {"consentManagement": management, "library": {"name": "RudderLabs JavaScript SDK"}}
    result = mapped(message)
    assert (result.events == []) is denied
    if denied:
        assert "deniedConsentIds has C0002" in result.withheld[0].reason


# ---- per shop --------------------------------------------------------------------------------


def test_a_shop_names_its_own_categories_and_marketing_events():
    policy = TrackerConsent(analytics=("C0007",), marketing=("C0008",), marketing_events=("Wishlist Viewed",))
    shop = segment.TrackerShop("elektro-emma", "EUR", policy)
    own = {"C0001": True, "C0007": True, "C0008": False, "C0002": False}
    assert mapped(viewed(own), shop=shop).events == []  # a marketing signal
    wishlist = ajs("track", own, event="wishlist_viewed", properties={"wishlist_id": "w-1"})
    assert "is a marketing signal" in mapped(wishlist, shop=shop).withheld[0].reason
    (page,) = mapped(ajs("page", own), shop=shop).events  # C0002 means nothing to this shop
    assert (page.extra["_consent"]["analytics"], page.extra["_consent"]["marketing"]) == ("granted", "denied")


def test_tracker_consent_is_part_of_the_shop_config():
    config = ShopConfig.model_validate(
        {"shop": "elektro-emma", "tracker_consent": {"analytics": ["C0002"], "unlisted_denies": True}}
    )
    assert config.tracker_consent.analytics == ("C0002",)
    assert config.tracker_consent.marketing == TrackerConsent().marketing
    assert "C0004" in ShopConfig(shop="elektro-emma").tracker_consent.marketing
    with pytest.raises(ValidationError):
        TrackerConsent.model_validate({"analytic": ["C0002"]})  # a misspelt key is refused, not ignored
    with pytest.raises(ValidationError):
        TrackerConsent(analytics=("",))


# ---- batches ---------------------------------------------------------------------------------


def test_each_call_of_a_batch_is_held_to_its_own_consent():
    denied, allowed = "anon-denied", "anon-allowed"
    body = {
        "batch": [
            {k: v for k, v in ajs("page", ONETRUST_REJECT_ALL, anonymous_id=denied, n=1).items() if k != "sentAt"},
            {k: v for k, v in viewed(ONETRUST_REJECT_ALL, anonymous_id=denied, n=2).items() if k != "sentAt"},
            {k: v for k, v in viewed(ONETRUST_ACCEPT_ALL, anonymous_id=allowed, n=3).items() if k != "sentAt"},
            {k: v for k, v in viewed(anonymous_id="anon-silent", n=4).items() if k != "sentAt"},
        ],
        "writeKey": "wk_1",
        "sentAt": "2026-11-20T18:40:02.301Z",
    }
    result = segment.map_batch(SHOP, body, RECEIVED)
    assert [e.customer.anonymous_id for e in result.events] == [allowed, "anon-silent"]
    assert [(w.index, w.type) for w in result.withheld] == [(0, "page.viewed"), (1, "product.viewed")]
    assert result.withheld[0].as_dict()["index"] == 0 and result.rejected == []


def test_a_batch_context_consent_counts_for_calls_without_their_own():
    body = {
        "batch": [viewed(anonymous_id="a-1", n=1), viewed(ONETRUST_ACCEPT_ALL, anonymous_id="a-2", n=2)],
        "context": {"consent": {"categoryPreferences": ONETRUST_REJECT_ALL}},
    }
    result = segment.map_batch(SHOP, body, RECEIVED)
    assert [e.customer.anonymous_id for e in result.events] == ["a-2"]  # its own object wins whole
    assert [w.index for w in result.withheld] == [0]


# ---- over HTTP, through the ingest handler ---------------------------------------------------


def basic(key):
    return {"authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def post(client, path, body, headers):
    """As analytics.js posts: text/plain (no preflight), the body JSON."""
    event = api_event("POST", path, "", {"content-type": "text/plain", **headers}, json.dumps(body).encode())
    result = client.handler(event, LambdaContext("ingest"))
    return result["statusCode"], json.loads(response_body(result))


def profile(client, anonymous_id):
    return client.call("GET", f"/v1/profiles/anon:{anonymous_id}", headers={"authorization": "Bearer ak_1"})


def test_http_a_denied_visitors_page_and_track_calls_build_no_profile(api, world):  # noqa: F811
    denied = "anon-denied"
    for path, message in (
        ("/v1/p", ajs("page", ONETRUST_REJECT_ALL, anonymous_id=denied, n=1)),
        ("/v1/t", viewed(ONETRUST_REJECT_ALL, anonymous_id=denied, n=2)),
    ):
        status, body = post(api, path, message, {})  # the write key in the body, as analytics.js sends it
        assert status == 200 and body["success"] is True
        assert (body["accepted"], body["skipped"], body["published"]) == (0, 1, 0)
        (withheld,) = body["withheld"]
        assert withheld["messageId"] == message["messageId"] and "C0002 is false" in withheld["reason"]
    assert profile(api, denied)[0] == 404
    assert world["repo"].profiles == {} and world["repo"].seen == {}  # no profile, no event, no idempotency record
    assert world["publisher"].published == []


def test_http_an_allowed_visitor_builds_a_profile(api, world):  # noqa: F811
    allowed = "anon-allowed"
    for path, message in (
        ("/v1/p", ajs("page", ONETRUST_ACCEPT_ALL, anonymous_id=allowed, n=1)),
        ("/v1/t", viewed(ONETRUST_ACCEPT_ALL, anonymous_id=allowed, n=2)),
    ):
        status, body = post(api, path, message, {})
        assert status == 200 and (body["accepted"], body["skipped"], body["withheld"]) == (1, 0, [])
    status, found = profile(api, allowed)
    assert status == 200
    assert found["event_counts"] == {"page.viewed": 1, "product.viewed": 1}
    assert "pixel-9-pro" in found["affinities"]["products"]


def test_http_batch_from_analytics_js_each_call_by_its_own_consent(api, world):  # noqa: F811
    denied, allowed = "anon-denied", "anon-allowed"
    calls = [
        ajs("page", ONETRUST_REJECT_ALL, anonymous_id=denied, n=1),
        viewed(ONETRUST_REJECT_ALL, anonymous_id=denied, n=2),
        ajs(
            "identify",
            ONETRUST_REJECT_ALL,
            anonymous_id=denied,
            n=3,
            userId="7008001",
            traits={"email": "lena.schmidt@example.de", "email_opt_in": True},
        ),
        ajs("page", ONETRUST_ACCEPT_ALL, anonymous_id=allowed, n=4),
        viewed(ONETRUST_STATS_ONLY, anonymous_id=allowed, n=5),
    ]
    batch = [{k: v for k, v in copy.deepcopy(c).items() if k != "sentAt"} for c in calls]
    body = {"writeKey": "wk_1", "batch": batch, "sentAt": "2026-11-20T18:40:02.400Z"}
    status, answer = post(api, "/v1/b", body, basic("wk_1"))
    assert status == 200 and answer["rejected"] == []
    assert [(w["index"], w["type"]) for w in answer["withheld"]] == [
        (0, "page.viewed"),
        (1, "product.viewed"),
        (2, "consent.changed"),  # no opt-in from a call that refuses marketing
        (4, "product.viewed"),  # statistics yes, targeting no: no interest in the product
    ]
    assert (answer["accepted"], answer["skipped"]) == (2, 4)
    # the visitor who refused everything: the login links the ids they gave, and nothing else
    status, lena = api.call("GET", "/v1/profiles/cid:7008001", headers={"authorization": "Bearer ak_1"})
    assert status == 200 and lena["event_counts"] == {"customer.identified": 1}
    assert lena["consent"] == {} and lena["affinities"]["products"] == {}
    status, other = profile(api, allowed)
    assert other["event_counts"] == {"page.viewed": 1}
