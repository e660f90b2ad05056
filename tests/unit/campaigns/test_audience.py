"""Who a campaign asks for: its segments or its topic, less its exclusions and those without the channel's consent,
each customer once, with the reason the others are left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from emma.campaigns.audience import Candidate, decide, estimate
from emma.campaigns.definitions import Campaign
from emma.events.model import Channel, ConsentProof
from emma.profiles.model import ConsentState, new_profile

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
SHOP = "elektro-emma"


def campaign(**audience) -> Campaign:
    return Campaign.model_validate(
        {"id": "nl", "template": "personalised-newsletter", "audience": audience, "schedule": {"now": True}}
    )


def person(pid: str, *, consent: bool = True, topic: bool | None = None, ordered_days_ago: int | None = None):
    profile = new_profile(SHOP, pid, NOW - timedelta(days=400))
    proof = ConsentProof(source="test", at=NOW - timedelta(days=300))
    if consent:
        profile.consent[Channel.EMAIL] = ConsentState(granted=True, proof=proof, since=proof.at)
    if topic is not None:
        profile.topic_consent["newsletter"] = ConsentState(granted=topic, proof=proof, since=proof.at)
    if ordered_days_ago is not None:
        profile.orders.last_order_at = NOW - timedelta(days=ordered_days_ago)
    return profile


class Reader:
    def __init__(self, members: dict[str, list[str]], people: dict[str, Candidate]) -> None:
        self._members, self._people = members, people
        self.pages: list[int] = []

    def members(self, shop, segment):
        yield from self._members.get(segment, [])

    def candidates(self, shop, profile_ids, journeys):
        self.pages.append(len(profile_ids))
        return [self._people[p] for p in profile_ids if p in self._people]


def test_each_reason_in_turn():
    c = campaign(
        segments=["reachable-email"],
        topic="newsletter",
        exclude={"segments": ["lapsed"], "journeys": ["smartphone-onboarding"], "ordered_within": "7d"},
    )
    seg = frozenset({"reachable-email"})
    assert decide(c, Candidate(person("p1"), seg), NOW) is None
    assert decide(c, Candidate(person("p2"), frozenset()), NOW) == "not in the audience's segments"
    assert decide(c, Candidate(person("p3", topic=False), seg), NOW) == "declined topic newsletter"
    assert decide(c, Candidate(person("p4", topic=True), seg), NOW) is None
    assert decide(c, Candidate(person("p5"), seg | {"lapsed"}), NOW) == "excluded: segment lapsed"
    assert decide(c, Candidate(person("p6"), seg, frozenset({"smartphone-onboarding"})), NOW) == (
        "excluded: in journey smartphone-onboarding"
    )
    assert decide(c, Candidate(person("p7", ordered_days_ago=3), seg), NOW) == "excluded: ordered within 7 days"
    assert decide(c, Candidate(person("p8", ordered_days_ago=30), seg), NOW) is None
    assert decide(c, Candidate(person("p9", consent=False), seg), NOW) == "no email consent"


def test_a_topic_audience_reads_the_channels_reachable_segment_and_counts_everyone_once():
    c = campaign(topic="newsletter")
    people = {f"p{i}": Candidate(person(f"p{i}", topic=i % 3 != 0), frozenset({"reachable-email"})) for i in range(250)}
    reader = Reader({"reachable-email": [*people, "p1", "gone"]}, people)
    found = estimate(c, SHOP, reader, NOW)
    declined = sum(1 for i in range(250) if i % 3 == 0)
    assert found.candidates == 250 and found.included == 250 - declined
    assert found.left_out == {"declined topic newsletter": declined}
    assert reader.pages == [100, 100, 51]  # one read per 100 candidates; "p1" listed twice is one candidate


def test_segments_are_a_union():
    c = campaign(segments=["loyal", "champions"])
    people = {p: Candidate(person(p), frozenset({s})) for p, s in (("a", "loyal"), ("b", "champions"), ("c", "loyal"))}
    reader = Reader({"loyal": ["a", "c"], "champions": ["b", "a"]}, people)
    assert estimate(c, SHOP, reader, NOW).view() == {"candidates": 3, "included": 3, "left_out": {}}
