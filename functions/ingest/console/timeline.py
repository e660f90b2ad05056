"""One customer's story as a single timeline, newest first: the events of their log, the messages Emma
decided about (with status and reasons), what happened in their journeys and every consent statement,
merged from the profile view (GET /v1/profiles/{ref}'s answer, emma.ingest.reads.ProfileReads.view).

Pure: takes the view as a dict and returns plain entries; the page translates and escapes them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_DETAILS = 8  # properties shown per event (the rest: in the API's answer)
_SKIP_PROPERTIES = {"proof", "traits", "items", "line_items", "products"}


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # event, message, journey, consent
    title: str  # what happened, in Emma's own terms (an event type, a template, a step)
    status: str = ""  # a message's status, a journey entry's verb, a consent's granted/withdrawn
    channel: str = ""
    details: list[tuple[str, str]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # a message's decisions that skipped or deferred it


def when(value: Any) -> datetime | None:
    """An ISO time from the view (timezone-aware, UTC when naive); None if missing or unreadable."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def scalar(value: Any, limit: int = 160) -> str:
    """A property value as short text (structures as compact JSON)."""
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _event_details(properties: dict[str, Any]) -> list[tuple[str, str]]:
    details = []
    for name, value in properties.items():
        if value in (None, "", [], {}) or name in _SKIP_PROPERTIES:
            continue
        details.append((name, scalar(value)))
        if len(details) >= MAX_DETAILS:
            break
    return details


def _consent_subject(properties: dict[str, Any]) -> str:
    for name in ("channel", "topic"):
        if properties.get(name):
            return str(properties[name])
    return "pause" if properties.get("paused_until") else ""


def _events(view: dict[str, Any]) -> list[Entry]:
    out = []
    for event in view.get("history") or []:
        at = when(event.get("occurred_at"))
        if at is None:
            continue
        kind = str(event.get("type") or "event")
        properties = event.get("properties") or {}
        source = (event.get("source") or {}).get("kind") or ""
        if kind == "consent.changed":
            proof = properties.get("proof") or {}
            details = [(k, scalar(proof[k])) for k in ("source", "wording", "ip") if proof.get(k)]
            if proof.get("double_opt_in"):
                details.append(("double_opt_in", "true"))
            if properties.get("paused_until"):
                details.append(("paused_until", scalar(properties["paused_until"])))
            out.append(
                Entry(
                    at,
                    "consent",
                    _consent_subject(properties),
                    status="granted" if properties.get("granted") else "withdrawn",
                    channel=str(properties.get("channel") or ""),
                    details=details,
                )
            )
            continue
        details = _event_details(properties)
        if source:
            details.insert(0, ("source", str(source)))
        out.append(Entry(at, "event", kind, details=details))
    return out


def _messages(view: dict[str, Any]) -> list[Entry]:
    out = []
    for message in view.get("messages") or []:
        at = when(message.get("requested_at")) or when(message.get("updated_at"))
        if at is None:
            continue
        details = [
            (k, scalar(message[k]))
            for k in ("journey", "subject", "locale", "coupon", "not_before", "attempts")
            if message.get(k) not in (None, "", 0)
        ]
        reasons = [
            f"{d.get('stage', '')}: {d.get('reason', '')}".strip(": ")
            for d in message.get("decisions") or []
            if d.get("outcome") in ("skip", "defer", "fail") or message.get("status") in ("skipped", "failed")
        ]
        out.append(
            Entry(
                at,
                "message",
                str(message.get("template") or ""),
                status=str(message.get("status") or ""),
                channel=str(message.get("channel") or message.get("requested_channel") or ""),
                details=details,
                reasons=[r for r in reasons if r],
            )
        )
    return out


def _journeys(view: dict[str, Any]) -> list[Entry]:
    out = []
    for state in view.get("journeys") or []:
        journey = str(state.get("journey") or "")
        for entry in state.get("log") or []:
            at = when(entry.get("at"))
            if at is None:
                continue
            details = [("step", str(entry.get("step") or ""))]
            if entry.get("detail"):
                details.append(("detail", scalar(entry["detail"])))
            out.append(Entry(at, "journey", journey, status=str(entry.get("what") or ""), details=details))
    return out


def _consent_states(view: dict[str, Any], seen: set[tuple[str, str]]) -> list[Entry]:
    """The current consent statements whose event is no longer (or never was) in the log shown."""
    out = []
    groups = (("channel", view.get("consent") or {}), ("topic", view.get("topic_consent") or {}))
    for kind, states in groups:
        for subject, state in states.items():
            proof = (state or {}).get("proof") or {}
            at = when(proof.get("at")) or when(state.get("since"))
            if at is None or (subject, at.isoformat()) in seen:
                continue
            details = [(k, scalar(proof[k])) for k in ("source", "wording") if proof.get(k)]
            if proof.get("double_opt_in"):
                details.append(("double_opt_in", "true"))
            out.append(
                Entry(
                    at,
                    "consent",
                    str(subject),
                    status="granted" if state.get("granted") else "withdrawn",
                    channel=str(subject) if kind == "channel" else "",
                    details=details,
                )
            )
    return out


def timeline(view: dict[str, Any], kinds: set[str] | None = None) -> list[Entry]:
    """Every entry of the view, newest first (equal times: consent, message, journey, event)."""
    entries = _events(view) + _messages(view) + _journeys(view)
    seen: set[tuple[str, str]] = set()
    for event in view.get("history") or []:
        if event.get("type") == "consent.changed":
            properties = event.get("properties") or {}
            for at in (when((properties.get("proof") or {}).get("at")), when(event.get("occurred_at"))):
                if at is not None:
                    seen.add((_consent_subject(properties), at.isoformat()))
    entries += _consent_states(view, seen)
    if kinds:
        entries = [e for e in entries if e.kind in kinds]
    order = {"consent": 0, "message": 1, "journey": 2, "event": 3}
    entries.sort(key=lambda e: (-e.at.timestamp(), order.get(e.kind, 9)))
    return entries
