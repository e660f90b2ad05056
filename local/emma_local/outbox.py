"""The local outbox: every message the emulator's SES and SNS accepted, written where a person can
open it, and the SES events SES would publish (locally nobody else does).

    outbox/index.html                           every message, newest first, with links
    outbox/<shop>/<n>-email-<template>.eml      the raw email (open in any mail client)
    outbox/<shop>/<n>-email-<template>.html     its HTML part (open in a browser)
    outbox/<shop>/<n>-sms-<template>.txt        an SMS: number and text
    outbox/<shop>/<n>-push-<template>.json      a push notification: endpoint and payload

The emails are read from the emulator's SES backend, exactly the bytes Emma's dispatcher handed to
SendRawEmail, minus the X-SES-MESSAGE-TAGS header (SES strips it before delivery). For each email
a "Delivery" event goes to the default bus, as SES's configuration-set event destination would
send it; ``ses_event`` sends opens, clicks, bounces and complaints on request (the demo's people).
"""

from __future__ import annotations

import email
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from html import escape
from pathlib import Path
from typing import Any

from emma.clock import clock_from_env
from emma.resources import SES_CONFIGURATION_SET, SES_EVENT_SOURCE

_DETAIL_TYPE = {
    "Delivery": "Email Delivered",
    "Open": "Email Opened",
    "Click": "Email Clicked",
    "Bounce": "Email Bounced",
    "Complaint": "Email Complaint Received",
}


@dataclass
class OutboxMessage:
    n: int
    channel: str
    shop: str
    to: str
    template: str
    at: str
    path: Path
    subject: str = ""
    message_id: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    html_path: Path | None = None
    text: str = ""


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:60] or "message"


def _tags(header: str | None) -> dict[str, str]:
    out = {}
    for part in (header or "").split(","):
        name, _, value = part.strip().partition("=")
        if name:
            out[name] = value
    return out


class Outbox:
    def __init__(self, directory: Path, events: Any, account: str, region: str) -> None:
        self.directory = directory
        self._events = events
        self._account, self._region = account, region
        self._seen_email = 0
        self._seen_sms: set[str] = set()
        self._seen_push: set[tuple[str, str]] = set()
        self.messages: list[OutboxMessage] = []
        self._numbered = 0  # messages given a number (and a file) so far
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("**/*"):  # a fresh outbox per run
            if old.is_file():
                old.unlink()
        self._write_index()

    # ---- collecting -----------------------------------------------------------------------------

    def collect(self) -> list[OutboxMessage]:
        """Write what was sent since the last call; returns the new messages."""
        from moto.ses.models import ses_backends
        from moto.sns.models import sns_backends

        with self._lock:
            new: list[OutboxMessage] = []
            ses = ses_backends[self._account][self._region]
            sent = list(ses.sent_messages)
            for raw in sent[self._seen_email :]:
                if hasattr(raw, "raw_data"):
                    new.append(self._email(raw))
            self._seen_email = len(sent)
            sns = sns_backends[self._account][self._region]
            for message_id, (phone, text) in list(sns.sms_messages.items()):
                if message_id not in self._seen_sms:
                    self._seen_sms.add(message_id)
                    new.append(self._sms(message_id, phone, text))
            for endpoint in list(sns.platform_endpoints.values()):
                for message_id, payload in list(endpoint.messages.items()):
                    if (endpoint.arn, message_id) not in self._seen_push:
                        self._seen_push.add((endpoint.arn, message_id))
                        new.append(self._push(endpoint, message_id, payload))
            if new:
                self.messages += new
                self._write_index()
        for message in new:
            if message.channel == "email":
                self.ses_event(message, "Delivery")
        return new

    def _next(self) -> int:
        """The next message's number: every message its own file, also when one call collects several
        (numbering by ``len(self.messages)`` gave them all the same number, and the last one's file
        replaced the others': an email to one customer showed another's content and unsubscribe link)."""
        self._numbered += 1
        return self._numbered

    def _email(self, raw: Any) -> OutboxMessage:
        parsed = email.message_from_string(raw.raw_data, policy=policy.default)
        tags = _tags(parsed.get("X-SES-MESSAGE-TAGS"))
        del parsed["X-SES-MESSAGE-TAGS"]
        shop = tags.get("emma-shop") or (f"{tags['emma-test']}-tests" if "emma-test" in tags else "unknown")
        template = tags.get("emma-template", "message")
        n = self._next()
        folder = self.directory / _safe(shop)
        folder.mkdir(exist_ok=True)
        path = folder / f"{n:03d}-email-{_safe(template)}.eml"
        path.write_bytes(parsed.as_bytes())
        html_part = parsed.get_body(preferencelist=("html",))
        text_part = parsed.get_body(preferencelist=("plain",))
        html_path = None
        if html_part is not None:
            html_path = path.with_suffix(".html")
            html_path.write_text(html_part.get_content(), encoding="utf-8")
        to = str(parsed["To"])
        return OutboxMessage(
            n,
            "email",
            shop,
            to,
            template,
            _now(),
            path,
            subject=str(parsed["Subject"]),
            message_id=raw.id,
            tags=tags,
            html_path=html_path,
            text=text_part.get_content() if text_part is not None else "",
        )

    def _sms(self, message_id: str, phone: str, text: str) -> OutboxMessage:
        n = self._next()
        shop = "sms"
        path = self.directory / shop / f"{n:03d}-sms.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"To: {phone}\n\n{text}\n", encoding="utf-8")
        return OutboxMessage(n, "sms", shop, phone, "sms", _now(), path, message_id=message_id, text=text)

    def _push(self, endpoint: Any, message_id: str, payload: str) -> OutboxMessage:
        n = self._next()
        path = self.directory / "push" / f"{n:03d}-push.json"
        path.parent.mkdir(exist_ok=True)
        data = json.loads(payload) if payload.startswith("{") else {"default": payload}
        path.write_text(json.dumps({"endpoint": endpoint.arn, "token": endpoint.token, "message": data}, indent=2))
        return OutboxMessage(
            n, "push", "push", endpoint.token, "push", _now(), path, message_id=message_id, text=data.get("default", "")
        )

    def _write_index(self) -> None:
        rows = "\n".join(
            f"<tr><td>{m.n}</td><td>{escape(m.at)}</td><td>{escape(m.shop)}</td><td>{m.channel}</td>"
            f"<td>{escape(m.to)}</td><td>{escape(m.template)}</td><td>{escape(m.subject or m.text[:80])}</td>"
            f'<td><a href="{m.path.relative_to(self.directory)}">{m.path.suffix[1:]}</a>'
            + (f' <a href="{m.html_path.relative_to(self.directory)}">html</a>' if m.html_path else "")
            + "</td></tr>"
            for m in reversed(self.messages)
        )
        (self.directory / "index.html").write_text(
            '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Emma outbox</title>'
            "<style>body{font-family:sans-serif}td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left}"
            "</style></head><body><h1>Emma outbox</h1><p>Every message the local runtime sent, newest first. "
            ".eml files open in any mail client; .html shows the email in a browser.</p>"
            "<table><tr><th>#</th><th>sent (UTC, local clock)</th><th>shop</th><th>channel</th><th>to</th>"
            f"<th>template</th><th>subject / text</th><th>files</th></tr>{rows}</table></body></html>",
            encoding="utf-8",
        )

    # ---- SES events ---------------------------------------------------------------------------

    def ses_event(
        self,
        message: OutboxMessage,
        kind: str,
        *,
        link: str | None = None,
        bounce: str = "Permanent",
        user_agent: str = "emma-local",
        ip: str = "127.0.0.1",
        at: datetime | None = None,
    ) -> None:
        """Publish what SES would: an EventBridge event of this email on the default bus (at ``at``, by
        default now on the local clock; the same message, kind and time is the same SES event)."""
        at = (at or clock_from_env().now()).astimezone(UTC)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
        recipient = email.utils.parseaddr(message.to)[1]
        detail: dict[str, Any] = {
            "eventType": kind,
            "mail": {
                "timestamp": stamp,
                "messageId": message.message_id,
                "source": "",
                "destination": [recipient],
                "tags": {"ses:configuration-set": [SES_CONFIGURATION_SET], **{k: [v] for k, v in message.tags.items()}},
            },
        }
        if kind == "Delivery":
            detail["delivery"] = {"timestamp": stamp, "recipients": [recipient], "smtpResponse": "250 OK"}
        elif kind == "Open":
            detail["open"] = {"timestamp": stamp, "ipAddress": ip, "userAgent": user_agent}
        elif kind == "Click":
            detail["click"] = {"timestamp": stamp, "ipAddress": ip, "userAgent": user_agent, "link": link}
        elif kind == "Bounce":
            detail["bounce"] = {
                "timestamp": stamp,
                "bounceType": bounce,
                "bounceSubType": "General",
                "bouncedRecipients": [{"emailAddress": recipient}],
                "feedbackId": str(uuid.uuid4()),
            }
        elif kind == "Complaint":
            detail["complaint"] = {
                "timestamp": stamp,
                "complainedRecipients": [{"emailAddress": recipient}],
                "feedbackId": str(uuid.uuid4()),
                "complaintFeedbackType": "abuse",
            }
        self._events.put_events(
            Entries=[
                {
                    "Source": SES_EVENT_SOURCE,
                    "DetailType": _DETAIL_TYPE[kind],
                    "Detail": json.dumps(detail),
                    "EventBusName": "default",
                }
            ]
        )


def _now() -> str:
    return clock_from_env().now().astimezone(UTC).strftime("%Y-%m-%d %H:%M")
