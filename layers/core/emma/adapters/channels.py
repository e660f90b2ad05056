"""Channel providers: one adapter per provider, the only code that talks to SES, SNS or a webhook.

Errors are classified once here: throttling and service trouble are TransientError (SQS retries
the request), a refusal that will not change on retry (an unverified sender, an invalid number) is
SendError (the request is parked in the DLQ after its retries, for a person to look at).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emma.adapters.signing import signed_headers
from emma.dispatch.ports import Outgoing, SendError
from emma.errors import TransientError

_TRANSIENT = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalError",
    "KMSThrottlingException",
    "RequestTimeout",
}


def _classify(service: str, exc: Exception) -> Exception:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "?")
        message = exc.response.get("Error", {}).get("Message", "")
        if code in _TRANSIENT or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400) >= 500:
            return TransientError(f"{service} failed: {code}")
        return SendError(f"{service} refused the message: {code}: {message}"[:500])
    return TransientError(f"{service} failed: {type(exc).__name__}")


class SesEmail:
    def __init__(self, client: Any, configuration_set: str) -> None:
        self._client, self._configuration_set = client, configuration_set

    def send(self, message: Outgoing) -> str:
        kwargs: dict[str, Any] = {
            "Source": message.sender,
            "Destinations": [message.to],
            "RawMessage": {"Data": message.raw_email},
        }
        if self._configuration_set:
            kwargs["ConfigurationSetName"] = self._configuration_set
        try:
            return self._client.send_raw_email(**kwargs)["MessageId"]
        except (ClientError, BotoCoreError) as exc:
            raise _classify("SES SendRawEmail", exc) from exc


class SnsSms:
    def __init__(self, client: Any, sender_id: str | None = None) -> None:
        self._client, self._sender_id = client, sender_id

    def send(self, message: Outgoing) -> str:
        attributes = {
            "AWS.SNS.SMS.SMSType": {
                "DataType": "String",
                "StringValue": "Transactional" if message.transactional else "Promotional",
            }
        }
        if self._sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": self._sender_id}
        try:
            return self._client.publish(PhoneNumber=message.to, Message=message.sms, MessageAttributes=attributes)[
                "MessageId"
            ]
        except (ClientError, BotoCoreError) as exc:
            raise _classify("SNS Publish (SMS)", exc) from exc


class SnsPush:
    """Push through an SNS platform application: the device token becomes an endpoint (idempotent
    for the same token), then one JSON message per platform."""

    def __init__(self, client: Any, application_arn: str) -> None:
        self._client, self._application = client, application_arn

    def send(self, message: Outgoing) -> str:
        data = {"emma_message": message.tags.get("emma-message"), "template": message.template}
        payload = {
            "default": f"{message.push_title}: {message.push_body}",
            "GCM": json.dumps({"notification": {"title": message.push_title, "body": message.push_body}, "data": data}),
            "APNS": json.dumps({"aps": {"alert": {"title": message.push_title, "body": message.push_body}}, **data}),
        }
        try:
            endpoint = self._client.create_platform_endpoint(PlatformApplicationArn=self._application, Token=message.to)
            return self._client.publish(
                TargetArn=endpoint["EndpointArn"], MessageStructure="json", Message=json.dumps(payload)
            )["MessageId"]
        except (ClientError, BotoCoreError) as exc:
            raise _classify("SNS Publish (push)", exc) from exc


class Webhook:
    """Any other provider: the rendered message POSTed as JSON, signed like Emma's own webhooks
    (X-Emma-Signature: sha256=HMAC(secret, "<timestamp>.<body>"), X-Emma-Timestamp)."""

    def __init__(self, url: str, secret: str, timeout: float = 5.0, opener: Any = None) -> None:
        self._url, self._secret, self._timeout = url, secret, timeout
        self._open = opener or urllib.request.urlopen

    def send(self, message: Outgoing) -> str:
        body = json.dumps(
            {
                "shop": message.shop,
                "profile_id": message.profile_id,
                "message": message.tags.get("emma-message"),
                "channel": str(message.channel),
                "to": message.to,
                "template": message.template,
                "journey": message.journey,
                "subject": message.subject or None,
                "text": message.text or message.sms or None,
                "html": message.html or None,
                "push": {"title": message.push_title, "body": message.push_body} if message.push_title else None,
            },
            sort_keys=True,
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - the shop's configured https URL
            self._url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                **signed_headers(self._secret, body),
                "Idempotency-Key": message.tags.get("emma-message", ""),
            },
        )
        try:
            with self._open(request, timeout=self._timeout) as response:
                return response.headers.get("X-Message-Id") or f"webhook-{message.tags.get('emma-message', '')}"
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise TransientError(f"webhook answered {exc.code}") from exc
            raise SendError(f"webhook refused the message: HTTP {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise TransientError(f"webhook unreachable: {type(exc).__name__}") from exc
