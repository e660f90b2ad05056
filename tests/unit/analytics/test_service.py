"""The analytics consumer: exactly-once counting, machine opens, attribution arithmetic per model (hand
computed), coupon credit, cancellations and refunds, experiments' arms, journey funnels."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from emma.analytics.model import Dims
from emma.analytics.reports import Reports, date_range
from emma.analytics.service import AnalyticsService
from emma.events.model import parse_event
from emma.resources import DISPATCH_SOURCE, EVENT_SOURCE, JOURNEYS_SOURCE
from emma.shops import ShopConfig
from emma_local.fakes.analytics import InMemoryAnalyticsStore
from emma_local.fakes.shops import StaticShopDirectory

SHOP = "demo-shop"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Berlin
CUSTOMER = {"email": "anna@example.com", "profile_id": "p_anna"}
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile"


def _shops(**analytics):
    return StaticShopDirectory([ShopConfig(shop=SHOP, analytics=analytics or {})])


@pytest.fixture
def store():
    return InMemoryAnalyticsStore()


@pytest.fixture
def service(store):
    return AnalyticsService(store, _shops())


def ev(type_, at, props=None, id_=None, customer=CUSTOMER, context=None, repeat=False):
    return parse_event(
        {
            "id": id_ or f"{type_}:{at.isoformat()}:{sorted((props or {}).items())}"[:250],
            "type": type_,
            "shop": SHOP,
            "occurred_at": at.isoformat(),
            "received_at": at.isoformat(),
            "source": {"kind": "emma", "name": "test"},
            "customer": customer,
            "properties": props or {},
            "context": context or {},
            "repeat": repeat,
        }
    )


def msg(ref, template="cart-reminder", journey="abandoned-cart", step="remind", channel="email", **more):
    return {"message": ref, "template": template, "journey": journey, "step": step, **more}


def sent(service, ref, at, channel="email", **props):
    return service.on_event(ev(f"{channel}.sent", at, msg(ref, channel=channel, **props), id_=f"dispatch:{ref}:sent"))


def counts(store, kind="message"):
    out: dict[str, Decimal] = {}
    for (_shop, k, _day, _key), row in store.counts.items():
        if k == kind:
            for name, value in row.items():
                out[name] = out.get(name, Decimal(0)) + value
    return {k: v for k, v in out.items() if v}


def ref(n: int) -> str:
    return f"{n:024x}"


# ---- counting ---------------------------------------------------------------------------------------


def test_every_event_counts_once_however_often_it_is_delivered(service, store):
    events = [
        ev("email.sent", T0, msg(ref(1)), id_=f"dispatch:{ref(1)}:sent"),
        ev("email.delivered", T0 + timedelta(seconds=5), msg(ref(1)), id_="ses:1:Delivery"),
        ev("email.opened", T0 + timedelta(hours=1), msg(ref(1)), id_="ses:1:Open:1", context={"user_agent": IPHONE}),
        ev("email.opened", T0 + timedelta(hours=2), msg(ref(1)), id_="ses:1:Open:2", context={"user_agent": IPHONE}),
        ev("email.clicked", T0 + timedelta(hours=2), msg(ref(1)), id_="ses:1:Click:1"),
    ]
    for event in events:
        service.on_event(event)
    first = counts(store)
    for event in events + list(reversed(events)):  # redelivered, and out of order
        assert service.on_event(event) == "duplicate"
    assert counts(store) == first
    assert first == {
        "requested": 1,
        "sent": 1,
        "delivered": 1,
        "opened": 1,
        "opens": 2,
        "clicked": 1,
        "clicks": 1,
    }


def test_a_crash_before_the_write_loses_nothing_and_counts_nothing_twice(service, store):
    sent(service, ref(1), T0)
    open_event = ev("email.opened", T0 + timedelta(hours=1), msg(ref(1)), id_="o1", context={"user_agent": IPHONE})
    store.fail_next_commit = RuntimeError("Lambda timed out")
    with pytest.raises(RuntimeError):
        service.on_event(open_event)
    assert "opened" not in counts(store)
    service.on_event(open_event)  # SQS delivers it again
    service.on_event(open_event)
    assert counts(store)["opened"] == 1 and counts(store)["opens"] == 1


def test_machine_opens_are_counted_apart_and_a_later_person_open_moves_the_message(service, store):
    sent(service, ref(1), T0)
    apple = {"user_agent": "Mozilla/5.0", "ip": "17.58.1.2"}
    service.on_event(ev("email.opened", T0 + timedelta(seconds=30), msg(ref(1)), id_="m1", context=apple))
    assert counts(store) == {"requested": 1, "sent": 1, "machine_opens": 1, "opened_machine": 1}
    service.on_event(ev("email.opened", T0 + timedelta(hours=3), msg(ref(1)), id_="h1", context={"user_agent": IPHONE}))
    c = counts(store)
    assert c["opened"] == 1 and c["opens"] == 1 and "opened_machine" not in c and c["machine_opens"] == 1


def test_a_click_without_an_open_counts_as_opened_images_were_blocked(service, store):
    sent(service, ref(1), T0)
    service.on_event(ev("email.clicked", T0 + timedelta(hours=1), msg(ref(1)), id_="c1"))
    assert counts(store)["opened"] == 1 and counts(store)["clicked"] == 1 and "opens" not in counts(store)


def test_skips_count_by_stage_and_a_retry_that_sends_moves_the_count(service, store):
    skipped = ev(
        "message.skipped",
        T0,
        msg(ref(2), reason="frequency", detail="2 in 7 days"),
        id_=f"dispatch:{ref(2)}:skipped",
        customer={"profile_id": "p_anna"},
    )
    assert service.on_event(skipped, source=EVENT_SOURCE).startswith("ignored")  # only the dispatcher says so
    service.on_event(skipped, source=DISPATCH_SOURCE)
    assert counts(store) == {"requested": 1, "skipped": 1, "skipped_frequency": 1}
    sent(service, ref(2), T0 + timedelta(minutes=1))
    assert counts(store) == {"requested": 1, "sent": 1}


def test_bounces_complaints_and_unsubscribes_count_once_per_message(service, store):
    sent(service, ref(1), T0)
    for n in range(2):
        service.on_event(ev("email.bounced", T0, msg(ref(1), bounce_type="Permanent"), id_=f"b{n}"))
        service.on_event(ev("email.complained", T0, msg(ref(1)), id_=f"c{n}"))
        service.on_event(ev("email.unsubscribed", T0, msg(ref(1)), id_=f"u{n}"))
    c = counts(store)
    assert (c["bounced"], c["bounced_permanent"], c["complained"], c["unsubscribed"]) == (1, 1, 1, 1)


def test_counters_fall_on_the_shops_day_of_the_send(service, store):
    late = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)  # already the 3rd in Berlin
    sent(service, ref(1), late)
    service.on_event(ev("email.delivered", late + timedelta(hours=2), msg(ref(1)), id_="d"))
    assert {day for (_s, _k, day, _key) in store.counts} == {"2026-11-03"}


# ---- attribution ------------------------------------------------------------------------------------


def _touched(service):
    """A opened 4 days before the order, B clicked 1 day before (with a coupon), C an SMS clicked 2 hours
    before, D a push clicked 30 hours before (outside push's 24 hours), E only delivered."""
    order_at = T0 + timedelta(days=10)
    sent(service, ref(0xA), order_at - timedelta(days=5), template="newsletter", journey="-", step="-")
    service.on_event(
        ev("email.opened", order_at - timedelta(days=4), msg(ref(0xA)), id_="oA", context={"user_agent": IPHONE})
    )
    sent(service, ref(0xB), order_at - timedelta(days=2), template="cart-coupon", coupon="EMMA-AB12-CD34")
    service.on_event(ev("email.clicked", order_at - timedelta(days=1), msg(ref(0xB)), id_="kB"))
    sent(service, ref(0xC), order_at - timedelta(hours=3), template="cart-last-call", channel="sms")
    service.on_event(ev("sms.clicked", order_at - timedelta(hours=2), msg(ref(0xC), channel="sms"), id_="kC"))
    sent(service, ref(0xD), order_at - timedelta(hours=31), template="upgrade-offer", channel="push")
    service.on_event(ev("push.clicked", order_at - timedelta(hours=30), msg(ref(0xD), channel="push"), id_="kD"))
    sent(service, ref(0xE), order_at - timedelta(hours=1), template="cross-sell")
    service.on_event(ev("email.delivered", order_at - timedelta(minutes=59), msg(ref(0xE)), id_="dE"))
    return order_at


def _order(at, total="100.00", codes=(), discount=None, order_id="1001", id_=None, type_="order.placed", **more):
    props = {"order_id": order_id, "total": total, "currency": "EUR", "discount_codes": list(codes), **more}
    if discount is not None:
        props["discount_total"] = discount
    return ev(type_, at, props, id_=id_ or f"shopify:{type_}:{order_id}")


def _by_template(store, counter):
    out = {}
    for (_s, kind, _day, key), row in store.counts.items():
        if kind == "message" and row.get(counter):
            out[Dims.decode(key).template] = out.get(Dims.decode(key).template, 0) + row[counter]
    return out


def test_each_model_credits_the_hand_computed_shares_and_adds_up_to_the_order(service, store):
    order_at = _touched(service)
    service.on_event(_order(order_at, codes=["emma-ab12-cd34"], discount="10.00"))
    assert _by_template(store, "revenue_last_touch") == {"cart-last-call": Decimal("100.00")}
    assert _by_template(store, "revenue_linear") == {
        "newsletter": Decimal("33.3333"),
        "cart-coupon": Decimal("33.3333"),
        "cart-last-call": Decimal("33.3334"),
    }
    assert _by_template(store, "revenue_position") == {
        "newsletter": Decimal("40.000"),
        "cart-coupon": Decimal("20.000"),
        "cart-last-call": Decimal("40.000"),
    }
    assert _by_template(store, "conversions_position") == {
        "newsletter": Decimal("0.4"),
        "cart-coupon": Decimal("0.2"),
        "cart-last-call": Decimal("0.4"),
    }
    # the coupon's message gets the order whatever the window, with the discount it cost
    assert _by_template(store, "revenue_coupon") == {"cart-coupon": Decimal("100.00")}
    assert _by_template(store, "discount_coupon") == {"cart-coupon": Decimal("10.00")}
    shop = counts(store, "shop")
    assert shop["orders"] == 1 and shop["revenue"] == Decimal("100.00")
    for model in ("last_touch", "linear", "position"):
        assert shop[f"revenue_{model}"] == Decimal("100.00")
        assert shop[f"conversions_{model}"] == 1
    assert counts(store, "journey")["converted"] == 2  # the journey row and its step row, last touch


def test_windows_are_the_shops(store):
    service = AnalyticsService(store, _shops(push_click_hours=48, sms_click_hours=1))
    order_at = _touched(service)
    service.on_event(_order(order_at))
    # the push (30 hours) is inside 48 hours now, the SMS (2 hours) outside 1 hour
    assert set(_by_template(store, "revenue_linear")) == {"newsletter", "cart-coupon", "upgrade-offer"}
    assert _by_template(store, "revenue_last_touch") == {"cart-coupon": Decimal("100.00")}


def test_an_order_without_a_touch_counts_for_the_shop_only(service, store):
    sent(service, ref(1), T0)
    service.on_event(_order(T0 + timedelta(days=1)))
    assert _by_template(store, "revenue_last_touch") == {}
    assert counts(store, "shop") == {"orders": 1, "revenue": Decimal("100.00")}


def test_repeated_and_test_orders_are_not_counted(service, store):
    service.on_event(_order(T0, test=True, order_id="t1"))
    service.on_event(ev("order.placed", T0, {"order_id": "2", "total": "5", "currency": "EUR"}, repeat=True))
    assert counts(store, "shop") == {}


def test_a_cancellation_takes_back_exactly_what_the_order_credited_once(service, store):
    order_at = _touched(service)
    service.on_event(_order(order_at, codes=["EMMA-AB12-CD34"], discount="10.00"))
    cancel = _order(order_at + timedelta(days=1), type_="order.cancelled")
    service.on_event(cancel)
    service.on_event(cancel)
    for name in ("revenue_last_touch", "revenue_linear", "revenue_position", "revenue_coupon", "conversions_linear"):
        assert _by_template(store, name) == {}, name
    assert {k: v for k, v in counts(store, "shop").items()} == {}
    assert "converted" not in counts(store, "journey")


def test_a_partial_refund_takes_back_its_share_of_the_money_and_keeps_the_conversion(service, store):
    order_at = _touched(service)
    service.on_event(_order(order_at))
    refund = ev(
        "order.refunded",
        order_at + timedelta(days=2),
        {"order_id": "1001", "refund_id": "r1", "amount": "25.00", "currency": "EUR"},
        id_="refund-1",
    )
    service.on_event(refund)
    service.on_event(refund)
    assert _by_template(store, "revenue_last_touch") == {"cart-last-call": Decimal("75.00")}
    assert _by_template(store, "conversions_last_touch") == {"cart-last-call": 1}
    assert counts(store, "shop")["revenue"] == Decimal("75.00")
    rest = ev(
        "order.refunded",
        order_at + timedelta(days=3),
        {"order_id": "1001", "refund_id": "r2", "amount": "75.00", "currency": "EUR"},
        id_="refund-2",
    )
    service.on_event(rest)
    assert _by_template(store, "conversions_last_touch") == {}
    assert counts(store, "shop") == {}


# ---- experiments and journeys -----------------------------------------------------------------------


def _journey_event(type_, profile, at, **props):
    base = {"journey": "winback", "execution": f"x-{profile}", "step": "ab"}
    return ev(
        type_,
        at,
        {**base, **props},
        id_=f"journey:{profile}:{type_}:{props.get('step', 'ab')}",
        customer={"profile_id": profile},
    )


def _at(customer, type_, days, order_id, total):
    props = {"order_id": order_id, "total": total, "currency": "EUR"}
    return ev(type_, T0 + timedelta(days=days), props, customer=customer)


def test_an_arm_counts_its_customers_from_assignment_even_without_a_message(service, store):
    for n, variant in enumerate(["a", "a", "holdout", "holdout"]):
        profile = f"p{n}"
        split = _journey_event("journey.split", profile, T0, variant=variant, holdout=variant == "holdout")
        assert service.on_event(split, source=EVENT_SOURCE).startswith("ignored")
        service.on_event(split, source=JOURNEYS_SOURCE)
        service.on_event(split, source=JOURNEYS_SOURCE)
    customer = {"profile_id": "p2", "email": "c@example.com"}
    service.on_event(
        ev(
            "order.placed",
            T0 + timedelta(days=3),
            {"order_id": "9", "total": "50", "currency": "EUR"},
            customer=customer,
        )
    )
    service.on_event(  # outside the 30-day window: not the experiment's
        ev(
            "order.placed",
            T0 + timedelta(days=40),
            {"order_id": "10", "total": "70", "currency": "EUR"},
            customer=customer,
        )
    )
    service.on_event(  # a second order inside the window: revenue, not another conversion
        ev(
            "order.placed",
            T0 + timedelta(days=5),
            {"order_id": "11", "total": "30", "currency": "EUR"},
            customer=customer,
        )
    )
    arms = {key: row for _d, key, row in store.arms(SHOP)}
    assert arms["winback|ab|a"] == {"customers": 2}
    holdout = arms["winback|ab|holdout"]
    assert holdout["customers"] == 2 and holdout["converted"] == 1 and holdout["orders"] == 2
    assert holdout["revenue"] == 80 and holdout["revenue_sq"] == 80 * 80  # one customer's 50 + 30, squared
    service.on_event(
        ev(
            "consent.changed",
            T0 + timedelta(days=6),
            {"channel": "email", "granted": False, "proof": {"source": "unsubscribe", "at": T0.isoformat()}},
            customer={"profile_id": "p0"},
            id_="unsub-p0",
        )
    )
    assert {key: row for _d, key, row in store.arms(SHOP)}["winback|ab|a"]["unsubscribed"] == 1
    # cancelling the first order takes back its revenue and, the customer still having one, not the conversion
    service.on_event(
        ev(
            "order.cancelled",
            T0 + timedelta(days=7),
            {"order_id": "9", "total": "50", "currency": "EUR"},
            customer=customer,
        )
    )
    holdout = {key: row for _d, key, row in store.arms(SHOP)}["winback|ab|holdout"]
    assert holdout["converted"] == 1 and holdout["orders"] == 1 and holdout["revenue"] == 30
    assert holdout["revenue_sq"] == 30 * 30


def test_journey_progress_counts_each_step_once(service, store):
    for _ in range(2):
        service.on_event(_journey_event("journey.entered", "p1", T0, step="welcome"), source=JOURNEYS_SOURCE)
        service.on_event(_journey_event("journey.step", "p1", T0, step="tips"), source=JOURNEYS_SOURCE)
        service.on_event(_journey_event("journey.waiting", "p1", T0, step="tips"), source=JOURNEYS_SOURCE)
        service.on_event(
            _journey_event("journey.ended", "p1", T0, step="tips", status="exited", reason="order.placed"),
            source=JOURNEYS_SOURCE,
        )
    rows = {key: row for (_s, kind, _d, key), row in store.counts.items() if kind == "journey"}
    assert rows == {
        "winback|-": {"entered": 1, "exited": 1},
        "winback|tips": {"entered": 1, "waiting": 1, "exited": 1},
    }


def test_a_refused_entry_counts_once_on_the_journey(service, store):
    reason = "smartphone-onboarding active since 2026-01-01"
    for _ in range(2):  # announced again by a redelivered entry event: the same id
        service.on_event(_journey_event("journey.refused", "p2", T0, step=None, reason=reason), source=JOURNEYS_SOURCE)
    rows = {key: row for (_s, kind, _d, key), row in store.counts.items() if kind == "journey"}
    assert rows == {"winback|-": {"refused": 1}}


# ---- the reports read what the consumer counted -----------------------------------------------------


def test_the_message_report_sums_days_and_groups_and_computes_rates(service, store):
    sent(service, ref(1), T0)
    sent(service, ref(2), T0 + timedelta(days=1), template="cart-coupon")
    for r in (ref(1), ref(2)):
        service.on_event(ev("email.delivered", T0 + timedelta(days=1), msg(r), id_=f"d{r}"))
    service.on_event(ev("email.opened", T0 + timedelta(days=1), msg(ref(1)), id_="o", context={"user_agent": IPHONE}))
    reports = Reports(store, [])
    days = date_range(None, None, (T0 + timedelta(days=2)).date())
    report = reports.messages(SHOP, days, group_by=["template"])
    assert [r.group["template"] for r in report.rows] == ["cart-coupon", "cart-reminder"]
    assert report.total.counts["sent"] == 2 and report.total.rates["open_rate"] == 0.5
    by_day = reports.messages(SHOP, days, group_by=["day"])
    assert [r.group["day"] for r in by_day.rows] == ["2026-11-02", "2026-11-03"]


def test_report_ranges_are_checked():
    today = datetime(2026, 12, 5).date()
    with pytest.raises(Exception, match="after until"):
        date_range(today, today - timedelta(days=1), today)
    with pytest.raises(Exception, match="at most 400 days"):
        date_range(today - timedelta(days=400), today, today)
    assert date_range(today - timedelta(days=399), today, today).days == 400
    with pytest.raises(Exception, match="give since"):
        date_range(None, date.min, today)


# ---- what the review found --------------------------------------------------------------------------


def _refund(at, refund_id, amount, id_, repeat=False):
    props = {"order_id": "1001", "refund_id": refund_id, "amount": amount, "currency": "EUR"}
    return ev("order.refunded", at, props, id_=id_, repeat=repeat)


def test_a_refund_restated_under_new_delivery_ids_is_taken_back_once(service, store):
    order_at = _touched(service)
    service.on_event(_order(order_at))
    service.on_event(_refund(order_at + timedelta(days=1), "r1", "10.00", "refund-r1"))
    for n in range(5):  # orders/updated restates every refund: ingest marks them repeats
        service.on_event(_refund(order_at + timedelta(days=2), "r1", "10.00", f"refund-r1-again-{n}", repeat=True))
    service.on_event(_refund(order_at + timedelta(days=2), "r1", "10.00", "refund-r1-new-id"))  # not marked
    assert counts(store, "shop")["revenue"] == Decimal("90.00")
    assert _by_template(store, "conversions_last_touch") == {"cart-last-call": 1}


def test_a_cancellation_after_partial_refunds_leaves_no_rounding_residue(service, store):
    order_at = _touched(service)
    service.on_event(_order(order_at))  # three touchpoints: linear thirds of 100.00
    service.on_event(_refund(order_at + timedelta(days=1), "r1", "1.00", "refund-1"))
    service.on_event(_refund(order_at + timedelta(days=1), "r2", "1.00", "refund-2"))
    service.on_event(_order(order_at + timedelta(days=2), type_="order.cancelled"))
    for name in ("revenue_linear", "revenue_position", "revenue_last_touch", "conversions_linear"):
        assert _by_template(store, name) == {}, (name, _by_template(store, name))
    assert counts(store, "shop") == {}


def test_a_cancellation_that_overtakes_its_order_leaves_the_late_order_uncredited(service, store):
    order_at = _touched(service)
    service.on_event(_order(order_at + timedelta(minutes=5), type_="order.cancelled"))
    service.on_event(_order(order_at))
    assert counts(store, "shop") == {} and _by_template(store, "revenue_last_touch") == {}


def test_an_open_after_the_order_counted_first_does_not_hide_the_one_before(service, store):
    sent(service, ref(1), T0)
    service.on_event(ev("email.opened", T0 + timedelta(hours=1), msg(ref(1)), id_="o1", context={"user_agent": IPHONE}))
    service.on_event(ev("email.opened", T0 + timedelta(hours=5), msg(ref(1)), id_="o2", context={"user_agent": IPHONE}))
    service.on_event(_order(T0 + timedelta(hours=3)))  # its event arrives after the later open's
    assert _by_template(store, "revenue_last_touch") == {"cart-reminder": Decimal("100.00")}


def test_a_coupon_sent_after_the_order_is_not_what_brought_it(service, store):
    sent(service, ref(1), T0 + timedelta(hours=2), template="welcome", coupon="WELCOME10")
    service.on_event(_order(T0, codes=["WELCOME10"], discount="10.00"))
    assert _by_template(store, "revenue_coupon") == {}


def test_only_withdrawals_made_with_emma_count_as_an_experiments_unsubscribes(service, store):
    split = _journey_event("journey.split", "p_anna", T0, variant="a")
    service.on_event(split, source=JOURNEYS_SOURCE)
    restated = parse_event(
        {
            "id": "tracker:identify-1",
            "type": "consent.changed",
            "shop": SHOP,
            "occurred_at": (T0 + timedelta(days=1)).isoformat(),
            "received_at": (T0 + timedelta(days=1)).isoformat(),
            "source": {"kind": "tracker", "name": "identify"},
            "customer": CUSTOMER,
            "properties": {"channel": "sms", "granted": False, "proof": {"source": "tracker", "at": T0.isoformat()}},
        }
    )
    assert service.on_event(restated).startswith("ignored")
    assert "unsubscribed" not in {key: row for _d, key, row in store.arms(SHOP)}["winback|ab|a"]


def test_the_analytics_queue_rule_forwards_exactly_the_types_the_consumer_counts():
    from emma.analytics.service import COUNTED_TYPES
    from emma.resources import ANALYTICS_EVENT_TYPES, ANALYTICS_QUEUE, DISPATCH_SOURCE, EVENT_SOURCE, JOURNEYS_SOURCE

    assert set(ANALYTICS_EVENT_TYPES) == {t.value for t in COUNTED_TYPES}
    assert ANALYTICS_QUEUE.event_pattern == {
        "source": [EVENT_SOURCE, DISPATCH_SOURCE, JOURNEYS_SOURCE],
        "$or": [{"detail": {"types": list(ANALYTICS_EVENT_TYPES)}}, {"detail-type": list(ANALYTICS_EVENT_TYPES)}],
    }


def test_events_of_a_shop_that_is_gone_are_acknowledged_not_retried(store):
    service = AnalyticsService(store, StaticShopDirectory([]))
    assert service.on_event(ev("email.sent", T0, msg(ref(1)), id_="x")).startswith("ignored: no shop")
    assert store.commits == 0


def test_a_message_with_a_coupon_puts_the_customer_into_its_incentive_arm_which_counts_orders_and_discount(
    service, store
):
    coupon = {"policy": "predicted", "arm": "coupon", "p": 0.12, "band": 2, "method": "propensity"}
    withheld = {"policy": "predicted", "arm": "withheld", "p": 0.71, "band": 6, "method": "propensity"}
    anna = {"profile_id": "p_anna", "email": "anna@example.com"}
    ben = {"profile_id": "p_ben", "email": "ben@example.com"}
    for who, ref_, incentive, code in ((anna, ref(1), coupon, "EMMA-AAAA-BBBB"), (ben, ref(2), withheld, None)):
        props = msg(ref_, template="cart-coupon", incentive=incentive, coupon=code)
        event = ev("email.sent", T0, props, id_=f"dispatch:{ref_}:sent", customer=who)
        service.on_event(event)
        service.on_event(event)  # a redelivery: counted once
    later = msg(ref(3), template="cart-coupon", incentive=coupon, coupon="EMMA-CCCC-DDDD")
    service.on_event(ev("email.sent", T0 + timedelta(days=8), later, id_="dispatch:3:sent", customer=anna))
    service.on_event(  # Anna orders with her code within the 14 days of the incentive window
        ev(
            "order.placed",
            T0 + timedelta(days=2),
            {
                "order_id": "7",
                "total": "90.00",
                "currency": "EUR",
                "discount_codes": ["emma-aaaa-bbbb"],
                "discount_total": "10.00",
            },
            customer=anna,
        )
    )
    service.on_event(  # Ben orders after the incentive window (14 days), inside the experiments' 30: not counted
        ev("order.placed", T0 + timedelta(days=20), {"order_id": "8", "total": "50", "currency": "EUR"}, customer=ben)
    )
    arms = {key: row for _d, key, row in store.arms(SHOP)}
    assert arms["incentive:cart-coupon|band-2|coupon"] == {
        "customers": 1,  # the second message of the template and band did not count her again
        "orders": 1,
        "revenue": 90,
        "revenue_sq": 8100,
        "converted": 1,
        "discount": 10,
    }
    assert arms["incentive:cart-coupon|band-6|withheld"] == {"customers": 1}


def test_a_message_sent_without_a_provider_joins_no_arm(service, store):
    unavailable = {"policy": "predicted", "arm": "unavailable"}
    service.on_event(
        ev("email.sent", T0, msg(ref(4), template="cart-coupon", incentive=unavailable), id_="dispatch:4:sent")
    )
    assert not [key for _d, key, _row in store.arms(SHOP)]


def test_the_incentive_readout_compares_each_bands_arms_and_estimates_whether_the_coupon_pays(service, store):
    from emma.offers.config import IncentiveConfig

    def customer(n, arm, band, converts):
        who = {"profile_id": f"p_{arm}_{n}", "email": f"{arm}{n}@example.com"}
        incentive = {"policy": "predicted", "arm": arm, "p": 0.15, "band": band}
        code = f"EMMA-{arm[:2].upper()}{n:02d}-0000" if arm in ("coupon", "explore") else None
        props = msg(ref(1000 + n + 100 * band), template="winback-coupon", incentive=incentive, coupon=code)
        service.on_event(ev("email.sent", T0, props, id_=f"dispatch:{arm}{n}:{band}:sent", customer=who))
        if converts:
            order = {"order_id": f"o-{arm}-{n}-{band}", "total": "90.00", "currency": "EUR"}
            if code:
                order |= {"discount_codes": [code], "discount_total": "10.00"}
            service.on_event(ev("order.placed", T0 + timedelta(days=3), order, customer=who))

    for n in range(30):  # band 2: 30 with the coupon, 12 convert; 30 without, 3 convert
        customer(n, "coupon", 2, n < 12)
        customer(n, "control", 2, n < 3)
    report = Reports(store, []).incentives(SHOP, IncentiveConfig(min_per_arm=20), T0 + timedelta(days=20))
    (template,) = report.templates
    (comparison,) = template.comparisons
    assert template.template == "winback-coupon" and comparison.step == "band-2" and comparison.control == "control"
    coupon = next(a for a in comparison.arms if a.name == "coupon")
    assert (coupon.customers, coupon.converted, coupon.discount) == (30, 12, 120.0)  # 10 off each order
    assert coupon.lift_abs == pytest.approx(0.3)  # 40 % against 10 %
    (band,) = [b for b in template.uplift.bands if b.band == 2]
    assert band.status == "measured" and band.needed is True  # 0.3 x (40 - 9) gross a customer > 4 of discount
    assert all(b.status == "no_data" for b in template.uplift.bands if b.band != 2)


def test_an_incentive_arm_counts_only_its_own_templates_coupon_discount(service, store):
    anna = {"profile_id": "p_anna", "email": "anna@example.com"}
    for n, template, code in ((1, "cart-coupon", "EMMA-CART-0001"), (2, "winback-coupon", None)):
        incentive = {"policy": "predicted", "arm": "coupon" if code else "control", "p": 0.1, "band": 2}
        props = msg(ref(n), template=template, incentive=incentive, coupon=code)
        service.on_event(ev("email.sent", T0, props, id_=f"dispatch:{n}:sent", customer=anna))
    order = {
        "order_id": "9",
        "total": "90.00",
        "currency": "EUR",
        "discount_codes": ["EMMA-CART-0001"],
        "discount_total": "10.00",
    }
    service.on_event(ev("order.placed", T0 + timedelta(days=1), order, customer=anna))
    arms = {key: row for _d, key, row in store.arms(SHOP)}
    assert arms["incentive:cart-coupon|band-2|coupon"]["discount"] == 10
    assert not arms["incentive:winback-coupon|band-2|control"].get("discount")  # the cart's code is not winback's
    assert arms["incentive:winback-coupon|band-2|control"]["converted"] == 1
