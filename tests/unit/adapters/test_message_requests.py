"""SqsMessageRequests: a MessageRequest goes on the messages queue as its JSON, which the dispatch
function parses back into the same request (a released one byte for byte as before it was typed)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emma.adapters.journeys import SqsMessageRequests
from emma.dispatch.request import MessageRequest
from emma.dispatch.service import release_due
from emma.errors import TransientError
from emma_local.fakes import InMemoryDeferrals
from tests.factories import T0

URL = "https://sqs.eu-central-1.amazonaws.com/123456789012/emma-messages"
REQUEST = MessageRequest(
    key="p_1-0123456789abcdef:reminder:2026-03-02T09:00:00.123Z",
    shop="elektro-emma",
    profile_id="p_1",
    journey="abandoned-cart",
    execution="p_1-0123456789abcdef",
    step="reminder",
    template="cart-reminder",
    channel="best",
    requested_at=T0,
    exclude_products=("pixel-9",),
    variant="aa",
)


class FakeSqs:
    def __init__(self, fail: Exception | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail = fail

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        if self.fail is not None:
            raise self.fail
        self.sent.append(kwargs)
        return {"MessageId": str(len(self.sent))}


def test_a_request_travels_as_its_json_and_parses_back_unchanged():
    sqs = FakeSqs()
    SqsMessageRequests(sqs, URL).request(REQUEST)
    (sent,) = sqs.sent
    assert sent["QueueUrl"] == URL
    assert MessageRequest.model_validate(json.loads(sent["MessageBody"])) == REQUEST  # as the dispatcher reads it
    assert json.loads(sent["MessageBody"])["exclude_products"] == ["pixel-9"]


def test_a_released_request_goes_back_on_the_queue_as_before():
    deferrals, sqs = InMemoryDeferrals(), FakeSqs()
    deferrals.defer(REQUEST, T0 + timedelta(hours=1))
    assert release_due(deferrals, SqsMessageRequests(sqs, URL), T0 + timedelta(hours=2)) == 1
    (sent,) = sqs.sent
    assert sent["MessageBody"] == json.dumps({**REQUEST.model_dump(mode="json"), "released": True})


def test_a_failed_send_is_transient():
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "SendMessage")
    with pytest.raises(TransientError, match="ThrottlingException"):
        SqsMessageRequests(FakeSqs(fail=throttled), URL).request(REQUEST)
