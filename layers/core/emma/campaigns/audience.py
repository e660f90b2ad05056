"""Who a campaign is for: the audience its definition names, less its exclusions, each customer decided once
with the reason (emma.campaigns.definitions.Audience).

Candidates are the members of the audience's segments (their member lists: no scan), or for a topic audience the
members of the channel's reachable segment (``reachable-email`` ...); with a topic, only those who have not
declined it (segments and a topic: the segments' members who want the topic); each is
then decided against the exclusions (segments, journeys they are in now, an order within the window) and the
channel's consent as the profile shows it. What is decided here is who is *asked for*: at send time every
message still goes through the dispatcher's decisions (consent, topics, suppression, caps, quiet hours), which
have the last word. ``estimate`` counts the audience before a send, with the reasons customers are left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from emma.campaigns.definitions import Campaign
from emma.profiles.model import Profile

REACHABLE = {"email": "reachable-email", "sms": "reachable-sms", "push": "reachable-push"}
PAGE = 100  # candidates decided per read


@dataclass(frozen=True)
class Candidate:
    """What deciding one customer needs: the profile, their segments, the journeys they are in now."""

    profile: Profile
    segments: frozenset[str]
    active_journeys: frozenset[str] = frozenset()


class AudienceReader(Protocol):
    def members(self, shop: str, segment: str) -> Iterator[str]:
        """The profile ids in a segment's member list (every shard, each id once)."""
        ...

    def members_in_shard(self, shop: str, segment: str, shard: int) -> Iterator[str]:
        """The profile ids in one shard of a segment's member list (emma.rules.state.member_shard)."""
        ...

    def candidates(self, shop: str, profile_ids: Sequence[str], journeys: Sequence[str]) -> list[Candidate]:
        """The profiles (merged-away and unknown ones left out) with their segments and, of ``journeys``, the
        ones each is active in."""
        ...


def decide(campaign: Campaign, candidate: Candidate, now: datetime) -> str | None:
    """None: the customer is in the campaign's audience; else why not (a short reason, counted)."""
    audience, profile = campaign.audience, candidate.profile
    if audience.segments and not set(audience.segments) & candidate.segments:
        return "not in the audience's segments"
    if audience.topic is not None:
        statement = profile.topic_consent.get(audience.topic)
        if statement is not None and not statement.granted:  # absent a statement a topic is wanted (dispatch.md)
            return f"declined topic {audience.topic}"
    for segment in audience.exclude.segments:
        if segment in candidate.segments:
            return f"excluded: segment {segment}"
    for journey in audience.exclude.journeys:
        if journey in candidate.active_journeys:
            return f"excluded: in journey {journey}"
    window = audience.exclude.ordered_within
    last = profile.orders.last_order_at
    if window is not None and last is not None and now - last <= window:
        return f"excluded: ordered within {window.days} days"
    if campaign.channel != "best":
        state = profile.consent.get(campaign.channel)
        if state is None or not state.granted:
            return f"no {campaign.channel} consent"
    return None


@dataclass
class Estimate:
    candidates: int = 0
    included: int = 0
    left_out: Counter[str] = field(default_factory=Counter)

    def view(self) -> dict[str, object]:
        return {
            "candidates": self.candidates,
            "included": self.included,
            "left_out": dict(sorted(self.left_out.items(), key=lambda kv: (-kv[1], kv[0]))),
        }


def segments_of(campaign: Campaign) -> list[str]:
    """Whose members are the candidates: the audience's segments, else the channel's reachable segment."""
    if campaign.audience.segments:
        return list(campaign.audience.segments)
    channel = "email" if campaign.channel == "best" else str(campaign.channel)
    return [REACHABLE[channel]]


def candidate_ids(campaign: Campaign, shop: str, reader: AudienceReader) -> Iterator[str]:
    """Every candidate's profile id once: the audience's segments' members, else the channel's reachable one."""
    seen: set[str] = set()
    for segment in segments_of(campaign):
        for pid in reader.members(shop, segment):
            if pid not in seen:
                seen.add(pid)
                yield pid


def pages(ids: Iterable[str], size: int = PAGE) -> Iterator[list[str]]:
    page: list[str] = []
    for pid in ids:
        page.append(pid)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


def recipients(
    campaign: Campaign, shop: str, reader: AudienceReader, now: datetime, estimate: Estimate | None = None
) -> Iterator[Profile]:
    """The audience, a page of candidates at a time, each decided once (counted in ``estimate`` if given)."""
    journeys = list(campaign.audience.exclude.journeys)
    for page in pages(candidate_ids(campaign, shop, reader)):
        for candidate in reader.candidates(shop, page, journeys):
            reason = decide(campaign, candidate, now)
            if estimate is not None:
                estimate.candidates += 1
                if reason is None:
                    estimate.included += 1
                else:
                    estimate.left_out[reason] += 1
            if reason is None:
                yield candidate.profile


def estimate(campaign: Campaign, shop: str, reader: AudienceReader, now: datetime) -> Estimate:
    """How many customers the campaign would ask for now, and why the others are left out."""
    found = Estimate()
    for _ in recipients(campaign, shop, reader, now, found):
        pass
    return found
