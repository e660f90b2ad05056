"""A template's coupon through the dispatcher: the incentive policy's arms, the code created in the shop before
the message names it (once per message), and what a provider that cannot create it does to the message."""

from __future__ import annotations

from datetime import timedelta

import pytest

from emma.errors import TransientError
from emma.offers.config import IncentiveConfig, PoolCoupons
from emma.offers.pool import PoolProvider
from emma.offers.ports import PoolCode, PoolEmpty, ProviderMisconfigured, ProviderRefused, ProviderTransient
from emma.offers.service import CouponIssuer
from emma_local.fakes import InMemoryCodePool
from tests.factories import T0, order

from .conftest import NOW, SHOP, World


def loyal_customer(world: World, cid: str = "c-9") -> str:
    """A customer who orders every ten days and did yesterday: predicted to buy within 30 days anyway."""
    pid = world.customer(cid)
    refs = {"customer_id": cid, "email": f"{cid}@example.com"}
    world.ingest.ingest(
        [order(f"o-{cid}-{i}", "40.00", customer=refs, at=NOW - timedelta(days=1 + 10 * i)) for i in range(12)]
    )
    return pid


def coupon_stages(report):
    return [d for d in report.decisions if d["stage"] == "incentive"]


def test_a_customer_who_needs_an_incentive_gets_a_code_the_shop_created_before_the_send(world):
    pid = world.customer()
    report = world.service.dispatch(world.request(pid, template="cart-coupon", channel="email"))
    assert report.outcome == "sent"
    record = world.log.get("elektro-emma", pid, report.key)
    offer = world.provider.offer(record.coupon)
    assert offer is not None and record.coupon in world.sent("email")[0].html  # created, then sent
    assert (offer.percent, offer.usage_limit, offer.customer_email, offer.customer_id) == (
        10,
        1,
        "c-1@example.com",
        "c-1",
    )
    assert offer.ends_at == NOW + timedelta(days=7) and offer.kind == "offer"
    assert record.incentive == {"policy": "predicted", "arm": "coupon"}  # a new customer: no prediction
    assert world.coupons.get("elektro-emma", record.coupon.lower()).message_key == report.key  # found without case
    (sent,) = [e for e in world.publisher.published if e.type == "email.sent"]
    assert sent.properties.coupon == record.coupon


def test_a_customer_predicted_to_buy_anyway_gets_the_same_message_without_the_code(world):
    pid = loyal_customer(world)
    report = world.service.dispatch(world.request(pid, template="cart-coupon", channel="email"))
    assert report.outcome == "sent" and world.provider.calls == 0  # nothing created in the shop
    record = world.log.get("elektro-emma", pid, report.key)
    assert record.coupon is None and record.incentive["arm"] == "withheld" and record.incentive["p"] >= 0.5
    assert "Rabatt" not in world.sent("email")[0].subject  # the template's branch without a coupon


def test_policy_always_gives_it_to_the_loyal_customer_too(world):
    pid = loyal_customer(world)
    report = world.service.dispatch(world.request(pid, template="referral-reward", channel="email"))
    assert report.outcome == "sent" and world.provider.calls == 1
    assert world.log.get("elektro-emma", pid, report.key).incentive["arm"] == "coupon"


def test_the_control_group_gets_no_code_and_a_promised_reward_is_never_withheld():
    world = World(SHOP.model_copy(update={"incentives": IncentiveConfig(control_share=0.5, explore_share=0.5)}))
    arms = {}
    for n in range(40):
        pid = world.customer(f"k-{n}")
        report = world.service.dispatch(world.request(pid, template="cart-coupon", channel="email"))
        arms[pid] = world.log.get("elektro-emma", pid, report.key).incentive["arm"]
        reward = world.service.dispatch(world.request(pid, template="referral-reward", channel="email"))
        assert world.log.get("elektro-emma", pid, reward.key).incentive["arm"] == "coupon"
    assert 8 <= list(arms.values()).count("control") <= 32  # about half, by a stable hash
    for pid, arm in arms.items():
        sent = [m for m in world.sent("email") if m.profile_id == pid and m.template == "cart-coupon"]
        assert ("Rabatt" in sent[0].subject) == (arm == "coupon")


def test_a_retry_reuses_the_code_without_asking_the_shop_again(world):
    pid = world.customer()
    request = world.request(pid, template="cart-coupon", channel="email")
    world.senders["email"].fail = TransientError("ses busy")
    with pytest.raises(TransientError):
        world.service.dispatch(request)
    world.senders["email"].fail = None
    assert world.service.dispatch(request).outcome == "sent"
    assert world.provider.calls == 1 and len(world.provider.created) == 1


def test_a_busy_provider_defers_the_message_and_it_goes_out_with_a_code_later(world):
    pid = world.customer()
    request = world.request(pid, template="cart-coupon", channel="email")
    world.provider.fail = ProviderTransient("Shopify throttled the request", retry_after=12)
    report = world.service.dispatch(request)
    assert report.outcome == "deferred" and not world.sent("email")
    assert world.log.get("elektro-emma", pid, request.key).not_before == NOW + timedelta(seconds=12)
    assert coupon_stages(report)[-1]["outcome"] == "defer" and "throttled" in coupon_stages(report)[-1]["reason"]
    world.provider.fail = None
    world.clock.advance(seconds=13)
    assert world.service.dispatch(request.model_copy(update={"released": True})).outcome == "sent"
    assert world.sent("email")[0].html.count(world.log.get("elektro-emma", pid, request.key).coupon) >= 1


def test_a_misconfigured_provider_defers_with_an_alarm_and_gives_up_after_two_days(world):
    pid = world.customer()
    request = world.request(pid, template="cart-coupon", channel="email")
    world.provider.fail = ProviderMisconfigured("Shopify refused the access token: HTTP 401")
    report = world.service.dispatch(request)
    assert report.outcome == "deferred" and report.metrics == {"CouponProviderFailures": 1.0}
    assert "HTTP 401" in report.reason and not world.sent("email")
    world.clock.advance(hours=49)
    late = world.service.dispatch(request.model_copy(update={"released": True}))
    assert late.outcome == "skipped" and "waited since" in late.reason and not world.sent("email")
    skipped = [e for e in world.publisher.published if e.type == "message.skipped"]
    assert skipped and skipped[-1].properties.reason == "incentive"


@pytest.mark.parametrize(
    "error", [ProviderRefused("code taken by a discount that is not this message's"), PoolEmpty("no code left")]
)
def test_a_refusal_or_an_empty_pool_skips_at_once_never_a_dead_code(world, error):
    pid = world.customer()
    world.provider.fail = error
    report = world.service.dispatch(world.request(pid, template="cart-coupon", channel="email"))
    assert report.outcome == "skipped" and str(error) in report.reason and not world.sent("email")


def test_a_shop_without_a_coupon_provider_sends_without_a_code_and_says_so():
    world = World(SHOP.model_copy(update={"coupons": None}))
    pid = world.customer()
    report = world.service.dispatch(world.request(pid, template="cart-coupon", channel="email"))
    assert report.outcome == "sent" and world.provider.calls == 0
    record = world.log.get("elektro-emma", pid, report.key)
    assert record.coupon is None and record.incentive["arm"] == "unavailable"
    assert "no coupon provider" in coupon_stages(report)[0]["reason"]


def test_a_pool_hands_each_code_out_once_and_reports_when_it_runs_low(world):
    pool = InMemoryCodePool()
    pool.add("elektro-emma", "default", [PoolCode("POOL-1"), PoolCode("POOL-2", ends_at=T0 - timedelta(days=1))])
    pool.add("elektro-emma", "default", [PoolCode("POOL-3")])
    config = PoolCoupons(provider="pool", low_alarm=3)
    world.service._coupons = CouponIssuer(world.coupons, lambda shop: PoolProvider(pool, config, world.clock.now))
    first, second, third = (world.customer(f"q-{n}") for n in range(3))
    one = world.service.dispatch(world.request(first, template="cart-coupon", channel="email"))
    two = world.service.dispatch(world.request(second, template="cart-coupon", channel="email"))
    three = world.service.dispatch(world.request(third, template="cart-coupon", channel="email"))
    codes = [world.log.get("elektro-emma", p, r.key).coupon for p, r in ((first, one), (second, two))]
    assert sorted(codes) == ["POOL-1", "POOL-3"]  # POOL-2 had expired: never handed out
    assert one.metrics == {"CouponPoolLow": 1.0} and three.outcome == "skipped" and "no code left" in three.reason
    assert pool.add("elektro-emma", "default", [PoolCode("pool-1")]) == 0  # handed out once: never again


def test_where_the_measured_uplift_says_the_coupon_pays_a_likely_buyer_gets_it_too():
    from emma.offers.uplift import ArmCounts, estimate

    world = World()
    counts = {  # above 0.5: the coupon turned 10 % into 40 % in the exploration group
        band: {
            "explore": ArmCounts(customers=300, converted=120, orders=120, revenue=9600.0, discount=1200.0),
            "withheld": ArmCounts(customers=300, converted=30, orders=30, revenue=2700.0),
        }
        for band in (5, 6)
    }
    table = estimate(counts, NOW)
    world.service._uplift = lambda shop: {"cart-coupon": table}
    pid = loyal_customer(world)
    report = world.service.dispatch(world.request(pid, template="cart-coupon", channel="email"))
    record = world.log.get("elektro-emma", pid, report.key)
    assert record.incentive["arm"] == "coupon" and record.incentive["method"] == "uplift" and record.coupon
    other = world.service.dispatch(world.request(pid, template="winback-coupon", channel="email"))
    assert world.log.get("elektro-emma", pid, other.key).incentive["method"] == "propensity"  # no table of its own


def test_an_invite_creates_the_customers_referral_code_once_and_keeps_it_on_the_profile(world):
    pid = world.customer()
    first = world.service.dispatch(world.request(pid, template="review-and-referral-invite", channel="email"))
    assert first.outcome == "sent"
    profile = world.ingest.resolve("elektro-emma", pid)
    code = profile.traits["referral_code"].value
    offer = world.provider.offer(code)
    assert offer.kind == "referral" and offer.usage_limit is None and offer.once_per_customer
    assert offer.ends_at is None and offer.customer_email is None and offer.percent == 10  # for any friend
    assert code in world.sent("email")[0].html
    record = world.coupons.get("elektro-emma", code)
    assert record.kind == "referral" and record.profile_id == pid
    again = world.service.dispatch(world.request(pid, template="review-and-referral-invite", channel="email"))
    assert again.outcome == "sent" and world.provider.calls == 1 and code in world.sent("email")[1].html


def test_a_provider_that_cannot_make_referral_codes_lets_the_invite_go_without_one(world):
    pid = world.customer()
    world.provider.fail = ProviderRefused("Shopware individual codes are single-use")
    report = world.service.dispatch(world.request(pid, template="review-and-referral-invite", channel="email"))
    assert report.outcome == "sent" and "referral_code" not in world.ingest.resolve("elektro-emma", pid).traits
    assert "/referral" in world.sent("email")[0].html  # the shop's referral page instead


def test_a_retry_keeps_the_first_decision_and_its_code_whatever_changed_meanwhile(world):
    from emma_local.fakes import StaticShopDirectory

    pid = world.customer()
    request = world.request(pid, template="cart-coupon", channel="email")
    world.senders["email"].fail = TransientError("ses busy")
    with pytest.raises(TransientError):
        world.service.dispatch(request)
    first = world.log.get("elektro-emma", pid, request.key)
    assert first.incentive["arm"] == "coupon" and first.coupon  # decided and created before the send failed
    world.service._shops = StaticShopDirectory([SHOP.model_copy(update={"coupons": None})])  # the provider is gone
    world.senders["email"].fail = None
    assert world.service.dispatch(request).outcome == "sent"
    record = world.log.get("elektro-emma", pid, request.key)
    assert record.incentive["arm"] == "coupon" and record.coupon == first.coupon  # not "unavailable", code kept
    assert first.coupon in world.sent("email")[0].html and world.provider.calls == 1


def test_the_patience_counts_from_the_first_failure_not_from_the_request(world):
    pid = world.customer()
    request = world.request(pid, template="cart-coupon", channel="email")
    world.clock.advance(hours=72)  # the request waited (a paused campaign, say) before its code was first asked for
    world.provider.fail = ProviderTransient("Shopify throttled the request", retry_after=30)
    assert world.service.dispatch(request).outcome == "deferred"  # not skipped: the shop failed only just now
    world.clock.advance(hours=47)
    assert world.service.dispatch(request.model_copy(update={"released": True})).outcome == "deferred"
    world.clock.advance(hours=2)
    late = world.service.dispatch(request.model_copy(update={"released": True}))
    assert late.outcome == "skipped" and "waited since" in late.reason


def test_the_arm_follows_the_customer_not_the_profile_id():
    shop = SHOP.model_copy(update={"incentives": IncentiveConfig(control_share=0.5, explore_share=0.5)})
    arms = []
    for _ in range(2):  # two stores, two random profile ids for the same shop customer
        world = World(shop)
        arms.append([])
        for n in range(12):
            pid = world.customer(f"same-{n}")
            report = world.service.dispatch(world.request(pid, template="cart-coupon", channel="email"))
            arms[-1].append(world.log.get("elektro-emma", pid, report.key).incentive["arm"])
    assert arms[0] == arms[1] and set(arms[0]) == {"coupon", "control"}
