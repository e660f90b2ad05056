"""The local outbox (emma_local.outbox) against moto's SES: every email sent gets its own file."""

from email.message import EmailMessage

from emma_local.outbox import Outbox


def raw_email(to: str, template: str, unsubscribe: str) -> bytes:
    message = EmailMessage()
    message["From"] = "shop@example.com"
    message["To"] = to
    message["Subject"] = f"for {to}"
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["X-SES-MESSAGE-TAGS"] = f"emma-shop=elektro-emma, emma-template={template}"
    message.set_content(f"hello {to}")
    return message.as_bytes()


def test_emails_collected_together_each_keep_their_own_file(aws, tmp_path):
    """Collected in one call, two emails of one template got one number, and the second's file replaced
    the first's: Clara's email in the outbox showed David's content and David's unsubscribe link."""
    session, _ = aws
    ses = session.client("ses")
    ses.verify_email_identity(EmailAddress="shop@example.com")
    outbox = Outbox(tmp_path / "outbox", session.client("events"), "123456789012", "eu-central-1")
    for name in ("clara", "david"):
        ses.send_raw_email(
            Source="shop@example.com",
            Destinations=[f"{name}@example.com"],
            RawMessage={"Data": raw_email(f"{name}@example.com", "winback-coupon", f"https://u.example/{name}")},
        )
    collected = outbox.collect()
    assert [m.to for m in collected] == ["clara@example.com", "david@example.com"]
    assert len({m.path for m in collected}) == 2
    for m in collected:
        name = m.to.split("@")[0]
        assert f"https://u.example/{name}" in m.path.read_text()
