"""The dispatcher's decisions, in order, as a pure function of the request, the profile, the template,
the shop's settings, the recent sends and the time:

consent -> suppression -> address -> preferences (pause, topic) -> frequency cap -> timing (quiet
hours, send-time optimisation) -> channel -> relevance.

A confirmation (the double opt-in mail, ``purpose: confirmation``) has its own short plan: it goes by
email only while an email grant awaits confirmation in a shop that requires it (plan_confirmation).

Every step records a Decision with its reason (the profile's message log shows them). Consent and
suppression are per channel, so a "best" request narrows its candidates step by step; a request for
one channel that fails one of them is skipped. Timing defers (never drops): the request comes back
when it may go. The cap is checked here against what the store reported and reserved atomically
afterwards (CapStore), so two workers cannot both take the last slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from emma.addresses import ascii_email, check_phone, email_problem
from emma.dispatch.request import MessageRequest
from emma.events.model import Channel
from emma.profiles.model import ConsentState, Profile
from emma.shops import DispatchConfig, FrequencyCap, ShopConfig
from emma.templates.definitions import Template

JUST_BOUGHT = timedelta(days=30)
STO_MIN_OBSERVATIONS = 3  # opens + clicks before a customer's own hours are trusted
STO_HORIZON = timedelta(hours=23)  # send-time optimisation defers by less than a day
STO_TOLERANCE = timedelta(minutes=45)  # close enough to the best hour: send now
# Responsiveness prior: a channel nobody has used yet is neither good nor bad (Beta-like smoothing).
PRIOR_WEIGHT = 3.0
PRIOR_RATE = 0.15

Outcome = Literal["pass", "skip", "defer", "fail", "send"]


@dataclass(frozen=True)
class Decision:
    stage: str
    outcome: Outcome
    reason: str
    channel: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"stage": self.stage, "outcome": self.outcome, "reason": self.reason}
        if self.channel:
            out["channel"] = self.channel
        return out


@dataclass
class Plan:
    outcome: Literal["send", "skip", "defer"]
    decisions: list[Decision] = field(default_factory=list)
    channel: Channel | None = None
    not_before: datetime | None = None
    address: str | None = None  # email address (domain as A-label), E.164 phone number or push token
    timezone: str = "UTC"
    locale: str = "en"

    def add(self, stage: str, outcome: Outcome, reason: str, channel: Channel | None = None) -> None:
        self.decisions.append(Decision(stage, outcome, reason, str(channel) if channel else None))


def customer_timezone(profile: Profile, shop: ShopConfig) -> str:
    for candidate in (trait(profile, "timezone"), shop.timezone):
        if candidate:
            try:
                ZoneInfo(candidate)
                return candidate
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return "UTC"


def customer_locale(profile: Profile, config: DispatchConfig) -> str:
    raw = (trait(profile, "locale") or "").replace("_", "-").split("-")[0].lower()
    return raw if raw in ("de", "en") else config.default_locale


def trait(profile: Profile, name: str) -> str | None:
    trait = profile.traits.get(name)
    return str(trait.value) if trait is not None and trait.value not in (None, "") else None


def address_of(profile: Profile, channel: Channel) -> tuple[str | None, str | None]:
    """(address, problem) of the profile on a channel."""
    if channel == Channel.EMAIL:  # checked again: profiles written before ingest checked addresses
        problem = email_problem(profile.email)
        return (None, problem) if problem else (ascii_email(profile.email or ""), None)
    if channel == Channel.SMS:
        raw = (profile.phones[0] if profile.phones else None) or trait(profile, "phone")
        if not raw:
            return None, "no phone number"
        checked = check_phone(raw)
        return (checked.address, None) if checked.ok else (None, f"the phone number is not valid: {checked.problem}")
    token = trait(profile, "push_token")
    return (token, None) if token else (None, "no push token (the app sends it as the push_token trait)")


def responsiveness(profile: Profile, channel: Channel) -> tuple[float, str]:
    """Smoothed response rate: (clicks + half the opens) per message sent, and how it was computed."""
    stats = profile.channels.get(channel)
    sent = stats.sent if stats else 0
    response = (stats.clicked + 0.5 * stats.opened) if stats else 0.0
    # SES counts opens of emails sent before Emma counted sends: never let a rate exceed 1.
    rate = min(1.0, (response + PRIOR_WEIGHT * PRIOR_RATE) / (max(sent, response) + PRIOR_WEIGHT))
    detail = f"{rate:.2f} ({sent} sent, {stats.opened if stats else 0} opened, {stats.clicked if stats else 0} clicked)"
    return rate, detail


def recent_sends_problem(caps: tuple[FrequencyCap, ...], sends: list[datetime], now: datetime) -> str | None:
    for cap in caps:
        since = now - timedelta(days=cap.days)
        within = sorted(t for t in sends if t > since)
        if len(within) >= cap.messages:
            frees = within[len(within) - cap.messages] + timedelta(days=cap.days)
            return (
                f"{len(within)} marketing messages in the last {cap.days} days (cap {cap.messages}); "
                f"the next is possible after {frees.isoformat()}"
            )
    return None


def best_hour(profile: Profile) -> tuple[int, int] | None:
    """(UTC hour, observations) this customer opens or clicks most, smoothed over neighbouring hours."""
    hours = [0] * 24
    for stats in profile.channels.values():
        if len(stats.hours) == 24:
            hours = [a + b for a, b in zip(hours, stats.hours, strict=True)]
    total = sum(hours)
    if total < STO_MIN_OBSERVATIONS:
        return None
    smoothed = [hours[h - 1] + 2 * hours[h] + hours[(h + 1) % 24] for h in range(24)]
    return max(range(24), key=lambda h: (smoothed[h], -h)), total


def _next_end_of_quiet(local: datetime, config: DispatchConfig) -> datetime:
    assert config.quiet_hours is not None
    end = local.replace(hour=config.quiet_hours.end.hour, minute=config.quiet_hours.end.minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end


def preferences_problem(profile: Profile, template: Template, config: DispatchConfig, now: datetime) -> str | None:
    """Why the customer's own choices in the preference centre hold this marketing message back: a
    pause that has not ended, or the template's topic declined. None: nothing holds it back."""
    pause = profile.pause
    if pause is not None and pause.until > now:
        return (
            f"marketing paused by the customer until {pause.until.isoformat()} "
            f"(since {pause.proof.at.isoformat()} via {pause.proof.source})"
        )
    if template.topic is not None:
        state = profile.topic_consent.get(template.topic)
        if state is not None and not state.granted:
            known = config.topic(template.topic)
            label = f" ({known.label['en']})" if known else ""
            return (
                f"topic {template.topic!r}{label} declined by the customer "
                f"{state.proof.at.isoformat()} via {state.proof.source}"
            )
    return None


def pending_email_grant(profile: Profile, config: DispatchConfig) -> ConsentState | None:
    """The email grant awaiting confirmation by double opt-in (the shop requires it, the customer
    granted email consent without such proof), or None."""
    state = profile.consent.get(Channel.EMAIL)
    if state is None or not state.granted or state.proof.double_opt_in:
        return None
    return state if config.double_opt_in or state.confirm_required else None


def plan_confirmation(request: MessageRequest, profile: Profile, template: Template, shop: ShopConfig) -> Plan:
    """The double opt-in mail: by email, only while the grant awaits confirmation; not capped, never
    deferred (it answers the customer's own sign-up); suppressions (bounce, complaint) and the address
    are checked as for every message."""
    config = shop.dispatch
    result = Plan(outcome="skip", timezone=customer_timezone(profile, shop), locale=customer_locale(profile, config))
    email = Channel.EMAIL
    state = profile.consent.get(email)
    if request.channel not in ("best", "email"):
        result.add(
            "channel", "skip", f"a confirmation ({template.template}) goes by email only", Channel(request.channel)
        )
        return result
    if not config.double_opt_in and not (state is not None and state.confirm_required):
        result.add("consent", "skip", "the shop does not require double opt-in: nothing to confirm", email)
        return result
    if state is None:
        result.add("consent", "skip", "no email consent on record: nothing to confirm", email)
        return result
    if not state.granted:
        result.add(
            "consent",
            "skip",
            f"email consent withdrawn {state.proof.at.isoformat()} ({state.proof.source}): nothing to confirm",
            email,
        )
        return result
    if state.proof.double_opt_in:
        result.add(
            "consent", "skip", f"email consent already confirmed by double opt-in {state.proof.at.isoformat()}", email
        )
        return result
    result.add(
        "consent",
        "pass",
        f"email grant of {state.started.isoformat()} via {state.proof.source} awaits confirmation",
        email,
    )
    sup = profile.suppressions.get(email)
    if sup is not None:
        result.add("suppression", "skip", f"suppressed since {sup.at.isoformat()}: {sup.reason}", email)
        return result
    address, problem = address_of(profile, email)
    if problem:
        result.add("address", "skip", problem, email)
        return result
    result.add("frequency", "pass", "a confirmation: not capped")
    result.add("timing", "pass", "a confirmation: now")
    result.add("channel", "pass", "email: a confirmation goes to the address it confirms", email)
    result.outcome, result.channel, result.address = "send", email, address
    return result


def plan(
    request: MessageRequest,
    profile: Profile,
    template: Template,
    shop: ShopConfig,
    now: datetime,
    recent_sends: list[datetime],
    *,
    push_ready: bool = False,
) -> Plan:
    if template.confirmation:
        return plan_confirmation(request, profile, template, shop)
    config = shop.dispatch
    result = Plan(outcome="skip", timezone=customer_timezone(profile, shop), locale=customer_locale(profile, config))
    requested = [Channel(request.channel)] if request.channel != "best" else list(config.channel_order)
    candidates = [c for c in requested if c in template.channels]
    for channel in requested:
        if channel not in template.channels:
            result.add("channel", "skip", f"template {template.template!r} has no {channel} content", channel)
    # 1. consent: an opt-in with proof; email confirmed by double opt-in where the shop requires it
    consented = []
    for channel in candidates:
        state = profile.consent.get(channel)
        if state is None:
            result.add("consent", "skip", f"no consent for {channel} on record", channel)
        elif not state.granted:
            result.add(
                "consent", "skip", f"consent withdrawn {state.proof.at.isoformat()} ({state.proof.source})", channel
            )
        elif state.confirm_required and not state.proof.double_opt_in:
            result.add(
                "consent",
                "skip",
                f"{channel} consent is not confirmed by double opt-in (the address belonged to an erased customer)",
                channel,
            )
        elif channel == Channel.EMAIL and config.double_opt_in and not state.proof.double_opt_in:
            result.add(
                "consent", "skip", "email consent is not confirmed by double opt-in (the shop requires it)", channel
            )
        else:
            consented.append(channel)
            result.add("consent", "pass", f"opt-in {state.proof.at.isoformat()} via {state.proof.source}", channel)
    # 2. suppression: hard bounce, complaint, unsubscribe
    allowed = []
    for channel in consented:
        sup = profile.suppressions.get(channel)
        if sup is not None:
            result.add("suppression", "skip", f"suppressed since {sup.at.isoformat()}: {sup.reason}", channel)
        else:
            allowed.append(channel)
    # 3. address: rejected before any send
    reachable: dict[Channel, str] = {}
    for channel in allowed:
        address, problem = address_of(profile, channel)
        if channel == Channel.PUSH and address and not push_ready:
            problem = "the shop has no push application configured"
        if problem:
            result.add("address", "skip", problem, channel)
        else:
            reachable[channel] = address  # type: ignore[assignment]
    if not reachable:
        result.add("dispatch", "skip", "no channel left this customer may be reached on")
        return result
    # 4. preferences (marketing only): a pause, a declined topic (the preference centre)
    if not request.transactional:
        problem = preferences_problem(profile, template, config, now)
        if problem:
            result.add("preferences", "skip", problem)
            return result
        result.add(
            "preferences",
            "pass",
            f"topic {template.topic!r} wanted, no pause" if template.topic else "no topic, no pause",
        )
    # 5. frequency cap (marketing only)
    if not request.transactional:
        problem = recent_sends_problem(config.caps, recent_sends, now)
        if problem:
            result.add("frequency", "skip", problem)
            return result
        result.add(
            "frequency",
            "pass",
            f"{len(recent_sends)} recent marketing messages; caps "
            + ", ".join(f"{c.messages}/{c.days}d" for c in config.caps),
        )
    else:
        result.add("frequency", "pass", "transactional: not capped")
    # 6. timing: quiet hours in the customer's timezone, then the customer's own best hour
    zone = ZoneInfo(result.timezone)
    local = now.astimezone(zone)
    if not request.transactional and config.quiet_hours is not None and config.quiet_hours.contains(local.time()):
        until = _next_end_of_quiet(local, config).astimezone(UTC)
        result.add(
            "timing",
            "defer",
            f"quiet hours ({config.quiet_hours.start:%H:%M}-{config.quiet_hours.end:%H:%M} "
            f"{result.timezone}); until {until.isoformat()}",
        )
        result.outcome, result.not_before = "defer", until
        return result
    if template.send_time == "optimise" and not request.transactional and not request.released:
        best = best_hour(profile)
        if best is None:
            result.add("timing", "pass", "too few opens and clicks to know this customer's hours: now")
        else:
            hour, seen = best
            target = now.replace(hour=hour, minute=0, second=0, microsecond=0)
            while target < now - STO_TOLERANCE:
                target += timedelta(days=1)
            in_quiet = config.quiet_hours is not None and config.quiet_hours.contains(target.astimezone(zone).time())
            if abs(target - now) <= STO_TOLERANCE or target - now > STO_HORIZON or in_quiet:
                result.add("timing", "pass", f"best hour {hour:02d}:00 UTC from {seen} opens/clicks: now")
            else:
                result.add(
                    "timing",
                    "defer",
                    f"best hour {hour:02d}:00 UTC from {seen} opens/clicks; until {target.isoformat()}",
                )
                result.outcome, result.not_before = "defer", target
                return result
    else:
        result.add("timing", "pass", "now")
    # 7. channel: the requested one, or the one this customer responds to most
    if request.channel != "best":
        channel = Channel(request.channel)
        result.add("channel", "pass", f"{channel} as requested", channel)
    else:
        scored = sorted(
            ((responsiveness(profile, c), -config.channel_order.index(c), c) for c in reachable),
            key=lambda item: (item[0][0], item[1]),
            reverse=True,
        )
        channel = scored[0][2]
        detail = "; ".join(f"{c}: {score[1]}" for score, _, c in scored)
        result.add("channel", "pass", f"best responding channel {channel} ({detail})", channel)
    # 8. relevance: never offer what the customer just bought
    just_bought = {
        (owned.category or "").lower(): (pid, owned.last_bought_at)
        for pid, owned in profile.products_owned.items()
        if now - owned.last_bought_at <= JUST_BOUGHT and owned.category
    }
    for category in template.offers:
        hit = just_bought.get(category.lower())
        if hit:
            result.add(
                "relevance",
                "skip",
                f"offers {category}, and the customer bought {hit[0]} in it on {hit[1].date().isoformat()}",
                channel,
            )
            return result
    result.add("relevance", "pass", "nothing offered was bought recently" if template.offers else "offers no category")
    result.outcome, result.channel, result.address = "send", channel, reachable[channel]
    return result
