"""Campaigns as typed data (campaigns/*.yaml): a newsletter or offer sent to an audience, once or on a schedule.

    id: weekly-newsletter
    description: The personalised newsletter, every Monday morning, to subscribers who are not new
    template: personalised-newsletter          # templates/*.yaml
    channel: email                             # email, sms, push, or best (each recipient's best channel)
    audience:
      segments: [reachable-email]              # members of any of these (segments/*.yaml) ...
      topic: newsletter                        # ... or: subscribers of a topic (the shop's dispatch.topics)
      exclude:
        segments: [lapsed]                     # not members of these
        journeys: [smartphone-onboarding]      # not in these journeys right now
        ordered_within: 7d                     # no order in the last 7 days
    schedule:
      at: "09:00"                              # the time of day ...
      timezone: recipient                      # ... in each recipient's timezone (or: shop), or best_hour: true
      every: {weekday: monday}                 # recurring: weekday (weekly) or day (monthly, 1-28); absent: once
    rate: 14                                   # messages per second at most (the shop's SES sending quota)
    test:
      seeds: [marketing@elektro-emma.example]  # test sends go here first, never to customers
    ab:                                        # a subject-line test on a sample; the winner goes to the rest
      subjects: ["Neu: dein Wochen-Update", {de: "Drei Tipps für dein Pixel", en: "Three tips for your Pixel"}]
      sample: 0.2                              # share of the audience in the test (split evenly)
      decide_after: 4h
      by: clicks                               # clicks or orders (the measurement's attribution)

Every recipient goes through the dispatcher's decisions (consent, topic, suppression, caps, quiet hours,
channel, relevance) exactly like a journey's message; the audience, the exclusions and the schedule say only
who is asked for and when. Validation (emma.campaigns.loader) names the file and line of every problem: unknown
segments, journeys, templates or topics, a template without content for the channel, a schedule that says
nothing, an A/B test without two subjects.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from emma.events.model import TOPIC_PATTERN, Channel
from emma.rules.definitions import SLUG, Duration

TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_RATE = 1000.0  # messages per second: SES's highest standard quota is far below this


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Exclusions(_Node):
    segments: tuple[str, ...] = Field((), description="not members of any of these segments")
    journeys: tuple[str, ...] = Field((), description="not in any of these journeys at the time of the send")
    ordered_within: Duration | None = Field(None, description="no order within this long before the send")


class Audience(_Node):
    segments: tuple[str, ...] = Field((), description="members of any of these segments")
    topic: str | None = Field(
        None, pattern=TOPIC_PATTERN, description="the customers who want this topic (with segments: members who do)"
    )
    exclude: Exclusions = Field(default_factory=Exclusions)

    @model_validator(mode="after")
    def _someone(self) -> Audience:
        if not self.segments and self.topic is None:
            raise ValueError("an audience names segments, a topic, or both")
        return self


class Recurrence(_Node):
    weekday: Literal[WEEKDAYS] | None = Field(None, description="weekly, on this day")  # type: ignore[valid-type]
    day: int | None = Field(None, ge=1, le=28, description="monthly, on this day of the month (1-28: every month)")

    @model_validator(mode="after")
    def _one(self) -> Recurrence:
        if (self.weekday is None) == (self.day is None):
            raise ValueError("every: either weekday (weekly) or day (monthly)")
        return self


class Schedule(_Node):
    """When: ``now`` (when started), ``on`` a date and time, or at a time of day (``at``) once or ``every``
    week or month; the time in the shop's or each recipient's timezone, or each recipient's best hour."""

    now: bool = Field(False, description="as soon as it is started")
    on: AwareDatetime | None = Field(None, description="once, at this moment")
    at: str | None = Field(None, description="HH:MM: the next such time once started, or on each recurrence")
    timezone: Literal["shop", "recipient"] = Field("shop", description="whose clock at reads: the shop's or each one's")
    best_hour: bool = Field(False, description="each recipient at their best hour (send-time optimisation)")
    every: Recurrence | None = None

    @model_validator(mode="after")
    def _says_when(self) -> Schedule:
        given = [name for name in ("now", "on", "at", "best_hour") if getattr(self, name) not in (None, False)]
        if len(given) != 1:
            raise ValueError(
                "a schedule says when with exactly one of now: true, on: <time>, at: HH:MM, best_hour: true"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.at is not None and not TIME_OF_DAY.match(self.at):
            raise ValueError(f"at {self.at!r} is not HH:MM")
        if self.every is not None and self.at is None and not self.best_hour:
            raise ValueError("a recurring schedule runs at a time of day (at: HH:MM) or each recipient's best_hour")
        if self.timezone == "recipient" and self.at is None:
            raise ValueError("timezone: recipient goes with at: HH:MM (each recipient's local time)")
        return self

    @property
    def recurring(self) -> bool:
        return self.every is not None


Seed = Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class SeedList(_Node):
    seeds: tuple[Seed, ...] = Field(min_length=1, max_length=50, description="email addresses test sends go to")


Subject = Annotated[str, Field(min_length=1, max_length=200)]


class AbTest(_Node):
    subjects: tuple[Subject | dict[Literal["de", "en"], Subject], ...] = Field(
        min_length=2,
        max_length=5,
        description="subject lines to compare: one text for every locale, or one per locale ({de: ..., en: ...})",
    )
    sample: float = Field(0.2, gt=0, le=0.5, description="share of the audience in the test, split evenly")
    decide_after: Duration = Field(default_factory=lambda: timedelta(hours=4))
    by: Literal["clicks", "orders"] = "clicks"

    @model_validator(mode="after")
    def _distinct(self) -> AbTest:
        seen = [json.dumps(s, sort_keys=True) for s in self.subjects]
        if len(set(seen)) != len(seen):
            raise ValueError("the subjects to compare must differ")
        for subject in self.subjects:
            if isinstance(subject, dict) and set(subject) != {"de", "en"}:
                raise ValueError("a subject given per locale names both de and en")
        if not timedelta(minutes=30) <= self.decide_after <= timedelta(days=3):
            raise ValueError("decide_after between 30m and 3d (the rest of the audience waits that long)")
        return self


class Campaign(_Node):
    id: str = Field(pattern=SLUG)
    description: str = Field("", max_length=500)
    template: str = Field(pattern=SLUG)
    channel: Channel | Literal["best"] = "email"
    audience: Audience
    schedule: Schedule
    rate: float = Field(14.0, gt=0, le=MAX_RATE, description="messages per second at most")
    test: SeedList | None = None
    ab: AbTest | None = None
    shops: tuple[str, ...] = Field((), description="only these shops (default: every shop)")

    @model_validator(mode="after")
    def _ab_needs_email(self) -> Campaign:
        if self.ab is not None and self.channel not in ("email", "best"):
            raise ValueError("a subject-line test needs email (the channel has no subject)")
        if self.ab is not None and self.schedule.recurring:
            raise ValueError("a subject-line test is for a one-off send (each recurrence would test again)")
        if self.ab is not None and (self.schedule.best_hour or self.schedule.timezone == "recipient"):
            raise ValueError(
                "a subject-line test sends its sample at one time: not with each recipient's own time or best hour"
            )
        return self

    def applies_to(self, shop: str) -> bool:
        return not self.shops or shop in self.shops
