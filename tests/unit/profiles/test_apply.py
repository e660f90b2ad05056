from datetime import timedelta
from decimal import Decimal

from emma.profiles.apply import apply_event, merge_profiles, merge_rank
from emma.profiles.model import new_profile
from factories import T0, event, order


def fresh(pid="p_1"):
    return new_profile("elektro-emma", pid, T0)


def item(pid, price="10.00", quantity=1, category="accessories"):
    return {"product_id": pid, "price": price, "quantity": quantity, "category": category}


def test_cart_add_and_remove_change_the_known_cart():
    p = fresh()
    apply_event(p, event("cart.updated", cart_id="c1", items=[item("case"), item("charger", "20.00")], value="30.00"))
    apply_event(p, event("cart.updated", minutes=1, action="add", items=[item("film", "5.00", 2)]))
    assert p.cart.items == {"case": 1, "charger": 1, "film": 2} and p.cart.value == Decimal("40.0000")
    apply_event(p, event("cart.updated", minutes=2, action="remove", items=[item("charger", "20.00")]))
    assert p.cart.items == {"case": 1, "film": 2} and p.cart.value == Decimal("20.0000")
    assert p.cart.cart_id == "c1"


def test_checkout_start_is_kept_while_the_cart_changes():
    p = fresh()
    apply_event(p, event("checkout.started", cart_id="c1", items=[item("case")], value="10.00"))
    apply_event(p, event("cart.updated", minutes=5, action="add", items=[item("film")]))
    assert p.cart.checkout_started_at == T0


def test_older_cart_events_do_not_overwrite_newer_ones():
    p = fresh()
    apply_event(p, event("cart.updated", minutes=10, cart_id="c1", items=[item("new")]))
    apply_event(p, event("cart.updated", minutes=0, cart_id="c1", items=[item("old")]))
    assert p.cart.items == {"new": 1}


def test_consent_keeps_the_newest_statement_whatever_the_arrival_order():
    p = fresh()
    proof = {"source": "shopify:customers/update", "double_opt_in": True}
    apply_event(
        p, event("consent.changed", channel="email", granted=False, proof={**proof, "at": T0 + timedelta(days=2)})
    )
    apply_event(p, event("consent.changed", channel="email", granted=True, proof={**proof, "at": T0}))
    assert p.consent["email"].granted is False


def test_unsubscribe_withdraws_consent_and_suppresses():
    p = fresh()
    apply_event(p, event("email.unsubscribed", source="ses"))
    assert p.consent["email"].granted is False and p.suppressions["email"].reason == "unsubscribe"


def test_hard_bounce_suppresses_soft_bounce_does_not():
    p = fresh()
    apply_event(p, event("email.bounced", source="ses", bounce_type="Transient"))
    assert "email" not in p.suppressions
    apply_event(p, event("email.bounced", source="ses", bounce_type="Permanent"))
    assert p.suppressions["email"].reason == "hard_bounce" and p.channels["email"].bounced == 2


def test_order_aggregates_first_last_average_and_owned_products():
    p = fresh()
    apply_event(p, order("o2", "300.00", minutes=60))
    apply_event(p, order("o1", "100.00", minutes=0))  # arrives late, happened first
    assert p.orders.first_order_at == T0 and p.orders.last_order_at == T0 + timedelta(minutes=60)
    assert p.orders.average_basket == Decimal("200.00")
    assert p.products_owned["pixel-9"].quantity == 2


def test_affinities_decay_with_a_90_day_half_life():
    p = fresh()
    apply_event(p, event("product.viewed", product={"product_id": "x", "category": "Smartphones"}))
    aff = p.affinities.categories["smartphones"]
    assert abs(aff.decayed(T0 + timedelta(days=90)) - 0.5) < 1e-9
    apply_event(p, order("o1", "10.00", minutes=1))
    assert p.affinities.categories["smartphones"].score > 5  # purchase weighs 5, view 1


def test_traits_keep_the_newest_value_per_trait():
    p = fresh()
    apply_event(p, event("customer.updated", minutes=10, first_name="Lena"))
    apply_event(p, event("customer.updated", minutes=0, first_name="Helene", city="Köln"))
    assert p.traits["first_name"].value == "Lena" and p.traits["city"].value == "Köln"


def test_merge_adds_histories_without_double_counting_shared_orders():
    a, b = fresh("p_a"), fresh("p_b")
    apply_event(a, order("o1", "100.00", customer={"customer_id": "1"}))
    apply_event(b, order("o1", "100.00", customer={"anonymous_id": "x"}))  # the same order, seen twice
    apply_event(b, order("o2", "50.00", customer={"anonymous_id": "x"}))
    winner, loser = sorted([b, a], key=merge_rank)
    assert winner.profile_id == "p_a"  # the known customer wins
    merged = merge_profiles(winner, loser)
    assert merged.orders.count == 2 and merged.orders.revenue == Decimal("150.0000")
    assert merged.anonymous_ids == ["x"] and merged.merged_from == ["p_b"]


def test_event_times_are_kept_in_order_and_bounded():
    p = fresh()
    for minutes in [30, 10, 20, *range(100, 125)]:
        apply_event(p, event("email.opened", source="ses", minutes=minutes))
    times = p.event_times["email.opened"]
    assert len(times) == 20 and times == sorted(times)
    assert times[-1] == int((T0 + timedelta(minutes=124)).timestamp())


def test_merge_of_a_shared_order_counts_products_once_and_keeps_a_cancellation():
    a, b = fresh("p_a"), fresh("p_b")
    apply_event(a, order("o1", "100.00", customer={"customer_id": "1"}))
    apply_event(b, order("o1", "100.00", customer={"email": "x@example.de"}, type_="order.paid"))
    merged = merge_profiles(*sorted([a, b], key=merge_rank))
    assert merged.orders.count == 1 and merged.products_owned["pixel-9"].quantity == 1
    assert merged.orders.recent[0].status == "paid"
    c, d = fresh("p_c"), fresh("p_d")
    apply_event(c, order("o2", "50.00", customer={"customer_id": "2"}))
    apply_event(d, order("o2", "50.00", customer={"email": "y@example.de"}))
    apply_event(d, order("o2", "50.00", customer={"email": "y@example.de"}, type_="order.cancelled"))
    merged = merge_profiles(*sorted([c, d], key=merge_rank))
    assert merged.orders.count == 0 and merged.orders.revenue == 0 and merged.orders.cancelled == 1
    assert "pixel-9" not in merged.products_owned


def test_profiles_stay_bounded_whatever_the_input():
    p = fresh()
    for i in range(150):
        apply_event(p, event("cart.updated", minutes=i, action="add", items=[{"product_id": f"x{i}"}]))
    apply_event(p, event("customer.identified", customer={"anonymous_id": "a"}, traits={"bio": "L" * 5000}))
    assert len(p.cart.items) == 100 and "x149" in p.cart.items
    assert len(p.traits["bio"].value) == 256
    big = [{"product_id": f"p{i}", "quantity": 1, "price": "1.00"} for i in range(80)]
    apply_event(p, order("o1", "80.00", items=big))
    assert len(p.orders.recent[0].items) == 50


# ---- test orders and orders that never stood -------------------------------------------------


def test_a_test_order_is_recorded_but_never_counted():
    p = fresh()
    apply_event(p, order("t1", "404.95", test=True))
    apply_event(p, order("t1", "404.95", type_="order.paid", test=True, minutes=5))
    apply_event(p, order("t1", "404.95", type_="order.fulfilled", test=True, minutes=9))
    stats = p.orders
    assert (stats.count, stats.revenue, stats.cancelled) == (0, Decimal("0"), 0)
    assert stats.first_order_at is None and stats.last_order_at is None and stats.currency is None
    assert stats.average_basket is None
    (record,) = stats.recent
    assert (record.order_id, record.status, record.counted) == ("t1", "fulfilled", False)
    assert p.products_owned == {} and p.affinities.products == {}


def test_a_cancelled_test_order_is_no_cancellation_either():
    p = fresh()
    apply_event(p, order("t1", "404.95", test=True))
    apply_event(p, order("t1", "404.95", type_="order.cancelled", test=True, minutes=5))
    apply_event(p, order("t2", "19.99", type_="order.cancelled", test=True))  # cancelled before it was seen
    assert (p.orders.count, p.orders.revenue, p.orders.cancelled) == (0, Decimal("0"), 0)
    assert [(r.order_id, r.status, r.counted) for r in p.orders.recent] == [
        ("t1", "cancelled", False),
        ("t2", "cancelled", False),
    ]


def test_a_merged_away_profiles_cancelled_test_order_is_no_cancellation_of_the_merged_one():
    a, b = fresh("p_a"), fresh("p_b")
    apply_event(a, order("o1", "100.00", customer={"customer_id": "1"}))
    apply_event(b, order("t1", "404.95", type_="order.cancelled", test=True, customer={"anonymous_id": "x"}))
    merged = merge_profiles(*sorted([b, a], key=merge_rank))
    assert (merged.orders.count, merged.orders.revenue, merged.orders.cancelled) == (1, Decimal("100.0000"), 0)
    assert {r.order_id: r.test for r in merged.orders.recent} == {"o1": False, "t1": True}


def test_a_test_order_leaves_real_orders_alone():
    p = fresh()
    apply_event(p, order("o1", "100.00"))
    apply_event(p, order("t1", "404.95", test=True, minutes=10))
    apply_event(p, order("o2", "50.00", minutes=20))
    assert (p.orders.count, p.orders.revenue) == (2, Decimal("150.00"))
    assert p.orders.last_order_at == T0 + timedelta(minutes=20)
    assert p.products_owned["pixel-9"].quantity == 2


def test_an_order_cancelled_at_once_never_counts_and_a_late_placed_does_not_either():
    p = fresh()
    apply_event(p, order("o1", "404.95", type_="order.cancelled"))
    apply_event(p, order("o1", "404.95"))
    apply_event(p, order("o1", "404.95", type_="order.paid"))
    assert (p.orders.count, p.orders.revenue, p.orders.cancelled) == (0, Decimal("0"), 1)
    assert [(r.status, r.counted) for r in p.orders.recent] == [("cancelled", False)]
    assert p.products_owned == {}


def test_placed_then_paid_counts_one_order_once():
    p = fresh()
    apply_event(p, order("5778367414385", "600.00"))
    apply_event(p, order("5778367414385", "600.00", type_="order.paid", minutes=1))
    assert (p.orders.count, p.orders.revenue) == (1, Decimal("600.00"))
    assert p.orders.recent[0].status == "paid"


def test_merge_keeps_both_sides_invalid_addresses_once_with_the_widest_seen_times():
    from emma.profiles.model import MAX_INVALID_ADDRESSES

    a, b = new_profile("s", "p_a", T0), new_profile("s", "p_b", T0)
    apply_event(a, event("customer.updated", customer={"customer_id": "1", "email": "a@b@c.de"}))
    apply_event(b, event("customer.updated", customer={"customer_id": "2", "email": "a@b@c.de"}, minutes=9))
    apply_event(b, event("customer.updated", customer={"customer_id": "2", "phone": "0151 1234567"}, minutes=5))
    merged = merge_profiles(a, b)
    by_value = {x.value: x for x in merged.invalid_addresses}
    assert set(by_value) == {"a@b@c.de", "0151 1234567"} and merged.emails == [] and merged.phones == []
    assert by_value["a@b@c.de"].first_seen_at == T0 and by_value["a@b@c.de"].last_seen_at == T0 + timedelta(minutes=9)
    for n in range(MAX_INVALID_ADDRESSES + 3):
        apply_event(merged, event("customer.updated", customer={"customer_id": "1", "email": f"x{n}"}, minutes=10 + n))
    assert len(merged.invalid_addresses) == MAX_INVALID_ADDRESSES
    assert merged.invalid_addresses[-1].value == f"x{MAX_INVALID_ADDRESSES + 2}"  # the newest are kept


# ---- refunds ------------------------------------------------------------------------------------


def refund(order_id, amount, *, refund_id=None, items=(), currency="EUR", **kw):
    return event(
        "order.refunded",
        source=kw.pop("source", "shopify"),
        order_id=order_id,
        amount=amount,
        currency=currency,
        items=list(items),
        **({"refund_id": refund_id} if refund_id else {}),
        **kw,
    )


def phone_and_case(total="1000.00"):
    return order(
        "o1",
        total,
        items=[
            {"product_id": "pixel-9", "quantity": 1, "price": "900.00", "category": "smartphones"},
            {"product_id": "case", "quantity": 2, "price": "50.00", "category": "accessories"},
        ],
    )


def test_a_partial_refund_takes_its_amount_off_the_revenue_and_the_order_keeps_counting():
    p = fresh()
    apply_event(p, phone_and_case())
    assert apply_event(p, refund("o1", "50.00", items=[{"product_id": "case", "quantity": 1}], minutes=5))
    stats = p.orders
    assert (stats.count, stats.revenue, stats.cancelled) == (1, Decimal("950.00"), 0)
    (record,) = stats.recent
    assert (record.status, record.counted, record.refunded, record.net) == ("placed", True, 50, 950)
    assert record.items == {"pixel-9": 1, "case": 1}
    assert p.products_owned["case"].quantity == 1 and p.products_owned["pixel-9"].quantity == 1
    assert p.event_counts["order.refunded"] == 1


def test_a_product_refunded_in_its_full_quantity_is_no_longer_owned():
    p = fresh()
    apply_event(p, phone_and_case())
    apply_event(p, refund("o1", "100.00", items=[{"product_id": "case", "quantity": 2}]))
    assert "case" not in p.products_owned and p.products_owned["pixel-9"].quantity == 1
    assert p.orders.recent[0].items == {"pixel-9": 1}


def test_two_partial_refunds_add_up_and_once_they_reach_the_total_the_order_is_cancelled():
    p = fresh()
    apply_event(p, phone_and_case())
    apply_event(p, order("o2", "200.00", minutes=1))
    apply_event(p, refund("o1", "400.00", refund_id="r1", minutes=5))
    assert (p.orders.count, p.orders.revenue) == (2, Decimal("800.00"))
    apply_event(p, refund("o1", "600.00", refund_id="r2", minutes=6))
    stats = p.orders
    assert (stats.count, stats.revenue, stats.cancelled) == (1, Decimal("200.00"), 1)
    record = stats.recent[0]
    assert (record.status, record.counted, record.refunded) == ("cancelled", False, Decimal("1000.00"))
    assert "case" not in p.products_owned and p.products_owned["pixel-9"].quantity == 1  # o2's phone
    # a late cancellation of the same order changes nothing more
    apply_event(p, order("o1", "1000.00", type_="order.cancelled", minutes=7))
    assert (stats.count, stats.revenue, stats.cancelled) == (1, Decimal("200.00"), 1)


def test_a_full_refund_with_an_amount_ends_the_profile_exactly_as_a_cancellation():
    refunded, cancelled = fresh("p_r"), fresh("p_c")
    for p in (refunded, cancelled):
        apply_event(p, phone_and_case())
        apply_event(p, order("o2", "200.00", minutes=1))
    apply_event(refunded, refund("o1", "1000.00", minutes=5))
    apply_event(cancelled, order("o1", "1000.00", type_="order.cancelled", minutes=5))
    for field in ("count", "revenue", "cancelled", "first_order_at", "last_order_at"):
        assert getattr(refunded.orders, field) == getattr(cancelled.orders, field), field
    assert refunded.orders.average_basket == cancelled.orders.average_basket == Decimal("200.00")
    assert refunded.products_owned == cancelled.products_owned
    assert refunded.affinities == cancelled.affinities
    assert [(r.order_id, r.status, r.counted) for r in refunded.orders.recent] == [
        (r.order_id, r.status, r.counted) for r in cancelled.orders.recent
    ]
    # more than the total (shipping refunded on top, a rounding) is a full refund too, counted once
    more = fresh()
    apply_event(more, phone_and_case())
    apply_event(more, refund("o1", "1004.90"))
    assert (more.orders.count, more.orders.revenue, more.orders.cancelled) == (0, 0, 1)


def test_the_same_refund_delivered_twice_is_applied_once():
    p = fresh()
    apply_event(p, phone_and_case())
    first = refund("o1", "50.00", items=[{"product_id": "case", "quantity": 1}], id="tracker:m-1")
    again = refund("o1", "50.00", items=[{"product_id": "case", "quantity": 1}], id="tracker:m-2")
    assert apply_event(p, first) is True
    assert apply_event(p, again) is False  # a repeat: stored, published marked repeat, counted once
    assert p.orders.revenue == Decimal("950.00") and p.products_owned["case"].quantity == 1
    assert p.event_counts["order.refunded"] == 1
    # with the source's refund id: the same id twice is one refund, another id is another refund
    apply_event(p, refund("o1", "20.00", refund_id="r9"))
    assert apply_event(p, refund("o1", "20.00", refund_id="r9")) is False
    apply_event(p, refund("o1", "20.00", refund_id="r10"))
    assert p.orders.revenue == Decimal("910.00") and p.orders.recent[0].refunded == Decimal("90.00")
    assert p.event_counts["order.refunded"] == 3


def test_a_refund_of_an_order_the_profile_does_not_know_changes_no_aggregate():
    p = fresh()
    apply_event(p, order("o2", "200.00"))
    before = p.orders.model_copy(deep=True), dict(p.products_owned)
    assert apply_event(p, refund("unknown", "50.00", items=[{"product_id": "pixel-9", "quantity": 1}]))
    assert (p.orders, dict(p.products_owned)) == before
    assert p.event_counts["order.refunded"] == 1  # stored and counted as a refund that happened


def test_a_refund_of_a_test_order_changes_no_aggregate_and_a_full_one_is_no_cancellation():
    p = fresh()
    apply_event(p, order("o1", "100.00"))
    apply_event(p, order("t1", "404.95", test=True, minutes=1))
    apply_event(p, refund("t1", "100.00", minutes=2))
    assert (p.orders.count, p.orders.revenue, p.orders.cancelled) == (1, Decimal("100.00"), 0)
    test = p.orders.recent[1]
    assert (test.status, test.counted, test.refunded) == ("placed", False, Decimal("100.00"))
    apply_event(p, refund("t1", "304.95", minutes=3))
    assert (p.orders.count, p.orders.revenue, p.orders.cancelled) == (1, Decimal("100.00"), 0)
    assert (test.status, test.counted) == ("cancelled", False)
    assert p.products_owned["pixel-9"].quantity == 1  # o1's


def test_a_refund_in_another_currency_takes_its_products_but_no_money():
    p = fresh()
    apply_event(p, phone_and_case())
    apply_event(p, refund("o1", "1000.00", currency="USD", items=[{"product_id": "case", "quantity": 2}]))
    assert (p.orders.count, p.orders.revenue) == (1, Decimal("1000.00"))
    assert "case" not in p.products_owned


def test_a_paid_total_below_the_refunds_ends_the_order():
    p = fresh()
    apply_event(p, order("o1", "100.00"))
    apply_event(p, refund("o1", "60.00", minutes=1))
    apply_event(p, order("o1", "50.00", type_="order.paid", minutes=2))  # corrected total
    assert (p.orders.count, p.orders.revenue, p.orders.cancelled) == (0, Decimal("0"), 1)


def test_merging_applies_each_refund_once_whichever_profile_saw_it():
    a, b = fresh("p_a"), fresh("p_b")
    for p in (a, b):
        apply_event(p, phone_and_case())
    apply_event(a, refund("o1", "50.00", refund_id="r1", items=[{"product_id": "case", "quantity": 1}]))
    apply_event(b, refund("o1", "50.00", refund_id="r1", items=[{"product_id": "case", "quantity": 1}]))  # both saw it
    apply_event(b, refund("o1", "100.00", refund_id="r2", items=[{"product_id": "pixel-9", "quantity": 1}]))  # only b
    merged = merge_profiles(a, b)
    assert (merged.orders.count, merged.orders.revenue) == (1, Decimal("850.00"))
    record = merged.orders.recent[0]
    assert record.refunded == Decimal("150.00") and set(record.refunds) == set(b.orders.recent[0].refunds)
    assert record.items == {"case": 1} and merged.products_owned["case"].quantity == 1
    assert "pixel-9" not in merged.products_owned
    assert merged.event_counts["order.refunded"] == 2  # r1 once, r2 once
    # refunds seen on different sides that together reach the total cancel the order
    c, d = fresh("p_c"), fresh("p_d")
    for p in (c, d):
        apply_event(p, order("o1", "100.00"))
    apply_event(c, refund("o1", "60.00", refund_id="r1"))
    apply_event(d, refund("o1", "40.00", refund_id="r2"))
    merged = merge_profiles(c, d)
    assert (merged.orders.count, merged.orders.revenue, merged.orders.cancelled) == (0, Decimal("0"), 1)
    # an order only the loser knew counts for what its refunds left of it
    e, f = fresh("p_e"), fresh("p_f")
    apply_event(f, order("o9", "100.00"))
    apply_event(f, refund("o9", "30.00"))
    merged = merge_profiles(e, f)
    assert (merged.orders.count, merged.orders.revenue) == (1, Decimal("70.00"))


def test_a_merge_keeps_the_products_a_loser_that_never_named_them_did_not_refund():
    """The winner knows order o1 with its products (Shopify); an anonymous loser saw the same order from
    a tracker without products, then a partial refund of 10. Merging must not take the products off:
    the loser's record never named them (it removed p1 and p2 from the order and products_owned)."""
    winner = fresh("p_w")
    apply_event(winner, phone_and_case())
    loser = fresh("p_l")
    bare = event("order.placed", order_id="o1", total="1000.00", currency="EUR", items=[], id="tracker:o1")
    apply_event(loser, bare)  # no products named
    assert next(r for r in loser.orders.recent if r.order_id == "o1").items == {}
    apply_event(loser, refund("o1", "10.00", refund_id="r1", id="tracker:r1"))
    merged = merge_profiles(winner, loser)
    record = next(r for r in merged.orders.recent if r.order_id == "o1")
    assert record.items == {"pixel-9": 1, "case": 2}
    assert set(merged.products_owned) == {"pixel-9", "case"}
    assert record.refunded == Decimal("10.00") and merged.orders.revenue == Decimal("990.00")
