"""Tracker calls through the ingest handler into the profile: invalid emails and refunds."""

import base64


def basic(key="wk_1"):
    return {"authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def bearer(key="ak_1"):
    return {"authorization": f"Bearer {key}"}


# ---- invalid emails -----------------------------------------------------------------------------


def test_an_invalid_tracker_email_is_recorded_on_the_profile_as_invalid_and_never_as_its_email(api, world):
    body = {"messageId": "i-1", "userId": "7008001", "traits": {"email": "lena at example", "plan": "vip"}}
    status, resp = api.call("POST", "/v1/identify", body, basic())
    assert status == 200 and resp["accepted"] == 1

    status, profile = api.call("GET", "/v1/profiles/cid:7008001", headers=bearer())
    assert status == 200
    assert profile["emails"] == [] and profile["email"] is None
    [invalid] = profile["invalid_addresses"]
    assert (invalid["kind"], invalid["value"], invalid["reason"]) == ("email", "lena at example", "contains a space")
    assert invalid["source"] == "tracker:identify"
    stored = world["publisher"].published[0]
    assert stored.customer.invalid[0].value == "lena at example"
