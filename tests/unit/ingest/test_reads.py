"""GET /v1/profiles' predictions are current when read: stored ones older than a day are scored again, as of the
read, with the shop's prior (nothing written); fresh ones are shown as stored."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from emma.ingest.reads import ProfileReads
from emma.predict.model import score_profile
from emma.predict.prior import default_prior
from emma.rules.state import Derived
from tests.factories import order
from tests.unit.dispatch.conftest import SHOP, World


class Rules:
    def __init__(self, derived: Derived) -> None:
        self._derived = derived
        self.prior_reads = 0

    def derived(self, shop, profile_id):
        return self._derived

    def prior(self, shop):
        self.prior_reads += 1
        return None  # no fitted prior: the default


class Nothing:
    def list(self, shop, profile_id):
        return []

    def recent(self, shop, profile_id, limit):
        return []


def _reads():
    world = World()
    pid = world.customer("r-1")
    world.ingest.ingest([order("o-1", "120.00", customer={"customer_id": "r-1"}, at=world.clock.now())])
    profile = world.ingest.resolve(SHOP.shop, pid)
    stored = score_profile(profile, world.clock.now(), default_prior()).model_dump(mode="json")
    rules = Rules(Derived(profile_id=pid, predictions=stored))
    return world, profile, stored, rules, ProfileReads(world.ingest, rules, Nothing(), Nothing())


def test_fresh_predictions_are_shown_as_stored():
    world, profile, stored, rules, reads = _reads()
    world.clock.advance(hours=23)
    assert reads.view(profile, history=0, messages=0)["predictions"] == stored
    assert rules.prior_reads == 0


def test_a_dormant_customers_predictions_are_scored_as_of_the_read():
    world, profile, stored, rules, reads = _reads()
    world.clock.advance(days=200)
    shown = reads.view(profile, history=0, messages=0)["predictions"]
    assert datetime.fromisoformat(shown["scored_at"]) == world.clock.now()
    assert shown["stored_scored_at"] == stored["scored_at"]
    assert shown["p_alive"] < stored["p_alive"] and shown["days_since_last_order"] == pytest.approx(200, abs=0.01)
    assert rules.prior_reads == 1


def test_the_view_shows_the_loyalty_tier_and_the_document_names_it():
    world, profile, *_ = _reads()
    rules = Rules(Derived(profile_id=profile.profile_id, segments=["tier-silver"], loyalty_tier="tier-silver"))
    view = ProfileReads(world.ingest, rules, Nothing(), Nothing()).view(profile, history=0, messages=0)
    assert view["loyalty_tier"] == "tier-silver" and "tier-silver" in view["segments"]
    assert (
        ProfileReads(world.ingest, Rules(Derived()), Nothing(), Nothing()).view(profile, history=0, messages=0)[
            "loyalty_tier"
        ]
        is None
    )
    document = json.loads((Path(__file__).resolve().parents[3] / "docs" / "openapi.json").read_text())  # emma schema
    schema = document["components"]["schemas"]["ProfileView"]["properties"]
    assert {"type": "null"} in schema["loyalty_tier"]["anyOf"]
