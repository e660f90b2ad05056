"""The incentive policy's arms: stable per customer and template, in the configured shares, and the bands."""

from __future__ import annotations

import pytest

from emma.offers.config import IncentiveConfig
from emma.offers.policy import BAND_EDGES, band_of, decide

CONFIG = IncentiveConfig(control_share=0.1, explore_share=0.05)


def arm(policy: str, pid: str, would_buy: bool | None, config: IncentiveConfig = CONFIG, **kw) -> str:
    return decide(
        policy,
        shop="elektro-emma",
        template="cart-coupon",
        customer=pid,
        would_buy=would_buy,
        p=0.6 if would_buy else 0.1,
        method="propensity",
        config=config,
        **kw,
    ).arm


@pytest.mark.parametrize(
    ("policy", "would_buy", "expected"),
    [
        ("always", True, {"control": 0.1, "coupon": 0.9}),
        ("always", False, {"control": 0.1, "coupon": 0.9}),
        ("predicted", False, {"control": 0.1, "coupon": 0.9}),
        ("predicted", None, {"control": 0.1, "coupon": 0.9}),  # no prediction: nothing says they would buy
        ("predicted", True, {"explore": 0.05, "withheld": 0.95}),
    ],
)
def test_arms_come_in_the_configured_shares(policy, would_buy, expected):
    n = 20_000
    arms = [arm(policy, f"p_{i:06x}", would_buy) for i in range(n)]
    assert set(arms) == set(expected)
    for name, share in expected.items():
        assert abs(arms.count(name) / n - share) < 0.01, name


def test_the_same_customer_lands_in_the_same_arm_every_time_and_templates_are_drawn_apart():
    ids = [f"p_{i:04x}" for i in range(2000)]
    assert [arm("always", p, False) for p in ids] == [arm("always", p, False) for p in ids]
    other = [
        decide(
            "always",
            shop="elektro-emma",
            template="winback-coupon",
            customer=p,
            would_buy=False,
            p=None,
            method=None,
            config=CONFIG,
        ).arm
        for p in ids
    ]
    both = sum(1 for p, o in zip(ids, other, strict=True) if o == "control" and arm("always", p, False) == "control")
    assert both < 0.03 * len(ids)  # independent draws: about 1 % are in both control groups, not 10 %


def test_a_promised_reward_and_a_zero_share_never_withhold():
    assert {arm("predicted", f"p_{i}", True, promised=True) for i in range(500)} == {"coupon"}
    none = IncentiveConfig(control_share=0.0, explore_share=0.0)
    assert {arm("always", f"p_{i}", False, none) for i in range(500)} == {"coupon"}
    assert {arm("predicted", f"p_{i}", True, none) for i in range(500)} == {"withheld"}


def test_bands_cover_zero_to_one_and_split_at_the_threshold():
    assert band_of(None) is None and band_of(0.0) == 0 and band_of(1.0) == len(BAND_EDGES) - 2
    assert band_of(0.4999) == 4 and band_of(0.5) == 5 and 0.5 in BAND_EDGES
    assert [band_of(x / 100) for x in range(101)] == sorted(band_of(x / 100) for x in range(101))


def test_the_decision_says_what_it_saw():
    decision = decide(
        "predicted",
        shop="s1",
        template="t",
        customer="p_1",
        would_buy=True,
        p=0.734567,
        method="propensity",
        config=IncentiveConfig(control_share=0.0, explore_share=0.0),
    )
    assert decision.as_dict() == {
        "policy": "predicted",
        "arm": "withheld",
        "p": 0.7346,
        "band": 6,
        "method": "propensity",
    }
    assert not decision.coupon and "buy without" in decision.reason
