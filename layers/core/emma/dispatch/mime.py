"""The raw email: multipart/alternative (text, then HTML), UTF-8, one-click unsubscribe headers
(RFC 8058, required by Gmail and Yahoo for bulk senders since 2024) and the SES message tags in the
X-SES-MESSAGE-TAGS header (SES reads and strips it; its events carry the tags back)."""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from emma.templates.render import Rendered


def build_email(
    *,
    rendered: Rendered,
    sender: str,
    sender_name: str | None,
    to: str,
    reply_to: str | None,
    unsubscribe_url: str,
    tags: dict[str, str],
    sent_at: datetime,
) -> bytes:
    msg = EmailMessage()
    local, _, domain = sender.partition("@")
    msg["From"] = Address(display_name=sender_name or "", username=local, domain=domain)
    msg["To"] = to
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(sent_at)
    msg["Message-ID"] = make_msgid(domain=domain or None)
    msg["Content-Language"] = rendered.locale
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["X-SES-MESSAGE-TAGS"] = ", ".join(f"{k}={v}" for k, v in tags.items())
    msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return msg.as_bytes()
