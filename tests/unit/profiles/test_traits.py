"""Traits are kept whole: nested objects (Segment's address, company) within the profile's size bounds."""

from emma.profiles.apply import MAX_NESTED_TRAIT_BYTES, apply_event
from emma.profiles.model import new_profile
from factories import T0, event

ADDRESS = {"street": "6th St", "city": "San Francisco", "state": "CA", "postalCode": "94103", "country": "USA"}


def test_a_nested_address_and_custom_traits_are_kept_whole():
    p = new_profile("elektro-emma", "p_1", T0)
    apply_event(p, event("customer.identified", city="San Francisco", traits={"address": ADDRESS, "logins": 5}))
    assert p.traits["address"].value == ADDRESS
    assert p.traits["logins"].value == 5 and p.traits["city"].value == "San Francisco"
    assert p.view()["traits"]["address"] == ADDRESS


def test_a_newer_address_replaces_the_whole_older_one():
    p = new_profile("elektro-emma", "p_1", T0)
    apply_event(p, event("customer.identified", traits={"address": ADDRESS}))
    apply_event(p, event("customer.identified", minutes=5, traits={"address": {"city": "Berlin"}}))
    assert p.traits["address"].value == {"city": "Berlin"}


def test_a_nested_trait_over_the_bound_is_not_stored():
    p = new_profile("elektro-emma", "p_1", T0)
    huge = {"notes": ["x" * 100] * (MAX_NESTED_TRAIT_BYTES // 100)}
    apply_event(p, event("customer.identified", traits={"history": huge, "plan": "vip"}))
    assert "history" not in p.traits and p.traits["plan"].value == "vip"
