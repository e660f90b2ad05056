"""DynamoCoupons and DynamoCodePool against moto: a code's record found without case, a pool's code handed out
once (the same one on a retry, another to a concurrent claim), expired codes passed over, uploads idempotent."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from emma.adapters.offers import DynamoCodePool, DynamoCoupons
from emma.offers.ports import CouponRecord, PoolCode, PoolEmpty

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def tables(aws):
    session, provisioned = aws
    client, table = session.client("dynamodb"), provisioned.tables["ProfilesTable"]
    return DynamoCoupons(client, table), DynamoCodePool(client, table)


def test_a_coupon_record_round_trips_and_is_found_without_case(tables):
    coupons, _ = tables
    record = CouponRecord(
        shop="elektro-emma",
        code="EMMA-7K2P-Q9XD",
        profile_id="p_1",
        message_key="exec-1:coupon:1",
        template="cart-coupon",
        kind="offer",
        provider="woocommerce",
        provider_id="719",
        issued_at=T0,
        ends_at=T0 + timedelta(days=7),
    )
    coupons.save(record)
    assert coupons.get("elektro-emma", "emma-7k2p-q9xd") == record
    assert coupons.get("fahrrad-franz", "EMMA-7K2P-Q9XD") is None


def test_a_pool_hands_out_each_code_once_and_the_same_one_on_a_retry(tables):
    coupons, pool = tables
    codes = [PoolCode(f"POS-{n:03d}") for n in range(6)] + [PoolCode("POS-OLD", ends_at=T0 - timedelta(days=1))]
    assert pool.add("elektro-emma", "default", codes) == 7
    assert pool.add("elektro-emma", "default", codes[:3]) == 0 and pool.remaining("elektro-emma", "default") == 7
    first = pool.claim("elektro-emma", "default", "cart-coupon:aaa", T0)
    assert pool.claim("elektro-emma", "default", "cart-coupon:aaa", T0) == first  # a retry: the same code
    got: list[str] = []
    lock = threading.Lock()

    def claim(n: int) -> None:
        code = pool.claim("elektro-emma", "default", f"cart-coupon:{n}", T0)
        with lock:
            got.append(code.code)

    # DynamoDB runs transactions serializably; moto applies them without a lock (and restores a snapshot of the
    # table when one fails, undoing another thread's writes), so the test serialises the transaction calls only:
    # the claims still race between reading the candidates and claiming one.
    client, real = pool._client, pool._client.transact_write_items
    one_at_a_time = threading.Lock()

    def serializable(**kwargs):
        with one_at_a_time:
            return real(**kwargs)

    client.transact_write_items = serializable
    workers = [threading.Thread(target=claim, args=(n,)) for n in range(5)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    handed = sorted([first.code, *got])
    assert handed == [f"POS-{n:03d}" for n in range(6)]  # six claims, six different codes, the expired one never
    with pytest.raises(PoolEmpty):
        pool.claim("elektro-emma", "default", "cart-coupon:late", T0)
    assert pool.remaining("elektro-emma", "default") == 0
    coupons.save(
        CouponRecord("elektro-emma", first.code, "p_1", "k", "cart-coupon", "offer", "pool", "pool:default", T0)
    )
    assert pool.add("elektro-emma", "default", [PoolCode(first.code.lower()), PoolCode("POS-NEW")]) == 1  # once
    assert pool.remaining("elektro-emma", "default") == 1


def test_ended_or_nearly_ended_codes_are_passed_over_however_many_and_a_used_code_never_returns(tables):
    coupons, pool = tables
    ended = [PoolCode(f"OLD-{n:03d}", ends_at=T0 - timedelta(days=1)) for n in range(14)]
    soon = [PoolCode(f"SOON-{n}", ends_at=T0 + timedelta(hours=6)) for n in range(3)]  # too late to use
    assert pool.add("elektro-emma", "winter", [*ended, *soon, PoolCode("ZZ-VALID")]) == 18
    assert pool.claim("elektro-emma", "winter", "winback-coupon:1", T0).code == "ZZ-VALID"
    with pytest.raises(PoolEmpty):
        pool.claim("elektro-emma", "winter", "winback-coupon:2", T0)
    assert pool.remaining("elektro-emma", "winter") == 0
    # the customer's code record goes with an erasure: the same file uploaded again still does not bring it back
    assert coupons.get("elektro-emma", "ZZ-VALID") is None
    assert pool.add("elektro-emma", "winter", [PoolCode("zz-valid"), PoolCode("NEW-1")]) == 1
