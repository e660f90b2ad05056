"""GET /v1/segments/{segment}/members: a segment's member list behind the admin key, searched and paged."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from emma.rules.state import member_key

ROOT = Path(__file__).resolve().parents[3]  # triggers/ and segments/ as the definitions layer holds them
PATH = "/v1/segments/first-time-buyers/members"


def bearer(key="ak_1"):
    return {"authorization": f"Bearer {key}"}


@pytest.fixture
def members(api, monkeypatch):
    from ingest import deps

    monkeypatch.setattr(deps, "report_settings", lambda: SimpleNamespace(definitions=ROOT))
    entries = {}
    for n, email in enumerate(["bea@example.de", "anna@example.de", "anne@example.de", None, "carl@example.de"]):
        pid = f"p_{n}"
        entries[member_key(email, f"C{n}", pid)] = {
            "profile_id": pid,
            "email": email,
            "customer_id": f"C{n}",
            "since": "2026-03-02T09:00:00+00:00",
        }
    deps.reads().rules.members[("elektro-emma", "first-time-buyers")] = entries
    return entries


def test_members_in_email_order_behind_the_admin_key(api, members):
    status, body = api.call("GET", PATH, headers=bearer())
    assert status == 200 and body["shop"] == "elektro-emma" and body["segment"] == "first-time-buyers"
    emails = [m["email"] for m in body["members"]]
    assert emails == ["anna@example.de", "anne@example.de", "bea@example.de", None, "carl@example.de"]  # None: c3
    assert body["members"][0] == {
        "profile_id": "p_1",
        "email": "anna@example.de",
        "customer_id": "C1",
        "since": "2026-03-02T09:00:00+00:00",
    }
    assert body["next_cursor"] is None and body["query"] is None
    assert api.call("GET", PATH)[0] == 401
    assert api.call("GET", PATH, headers=bearer("wrong"))[0] == 401


def test_search_and_pages(api, members):
    _, body = api.call("GET", PATH, headers=bearer(), query="q=ANN")
    assert [m["email"] for m in body["members"]] == ["anna@example.de", "anne@example.de"] and body["query"] == "ANN"
    _, body = api.call("GET", PATH, headers=bearer(), query="q=c3")
    assert [m["customer_id"] for m in body["members"]] == ["C3"]  # no email: found by the customer id
    seen, cursor = [], None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, body = api.call("GET", PATH, headers=bearer(), query=query)
        assert status == 200 and len(body["members"]) <= 2
        seen += [m["profile_id"] for m in body["members"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["p_1", "p_2", "p_0", "p_3", "p_4"]


def test_an_unknown_segment_is_404_and_another_shops_list_is_its_own(api, members):
    status, body = api.call("GET", "/v1/segments/no-such-segment/members", headers=bearer())
    assert status == 404 and body["error"] == "not_found"
    status, body = api.call("GET", PATH, headers=bearer("ak_2"))  # fahrrad-franz: the segment, none of its members
    assert status == 200 and body["members"] == [] and body["shop"] == "fahrrad-franz"


def test_limits_and_cursors_out_of_range_are_400(api, members):
    for query in ("limit=0", "limit=201", "cursor=abcde", "cursor=a%2Bb", "q=" + "x" * 255):
        assert api.call("GET", PATH, headers=bearer(), query=query)[0] == 400, query
    assert api.call("GET", PATH, headers=bearer(), query="limit=200")[0] == 200
    assert api.call("GET", PATH, headers=bearer(), query="cursor=_-_-")[0] == 200  # any position: a page
