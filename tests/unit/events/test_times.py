"""Times at the edge of the calendar: a validation error, never an OverflowError escaping pydantic."""

import pytest
from pydantic import ValidationError

from emma.events.model import parse_event
from factories import T0


def _page(occurred_at: str) -> dict:
    return {
        "id": "tracker:m1",
        "shop": "elektro-emma",
        "type": "page.viewed",
        "occurred_at": occurred_at,
        "received_at": T0.isoformat(),
        "source": {"kind": "tracker", "name": "page"},
        "customer": {"anonymous_id": "a1"},
    }


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_outside_the_calendar_in_utc_is_a_validation_error(at):
    with pytest.raises(ValidationError) as info:
        parse_event(_page(at))
    assert "out of range once converted to UTC" in str(info.value)


def test_consent_proof_time_outside_the_calendar_is_a_validation_error():
    event = _page(T0.isoformat()) | {
        "type": "consent.changed",
        "properties": {
            "channel": "email",
            "granted": True,
            "proof": {"source": "tracker:identify", "at": "9999-12-31T23:59:59-01:00"},
        },
    }
    with pytest.raises(ValidationError):
        parse_event(event)


def test_times_at_the_edge_that_fit_are_kept_in_utc():
    event = parse_event(_page("0001-01-01T00:00:00-01:00"))
    assert event.occurred_at.isoformat() == "0001-01-01T01:00:00+00:00"
