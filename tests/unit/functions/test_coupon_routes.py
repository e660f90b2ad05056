"""POST/GET /v1/coupons/pools/{pool} through the ingest handler, with an in-memory code pool."""

from __future__ import annotations

import gzip
from types import SimpleNamespace

import pytest

from emma.errors import StoreError
from emma_local.fakes import InMemoryCodePool
from factories import T0

ADMIN = {"authorization": "Bearer ak_1", "content-type": "text/csv"}
PATH = "/v1/coupons/pools/winter"
CODES = b"code,expires_at\nWINTER-001,2026-12-31\nWINTER-002,\nWINTER-003,2026-06-30T18:00:00+02:00\n"


@pytest.fixture
def pool(world, monkeypatch):
    from ingest import deps

    found = InMemoryCodePool()
    monkeypatch.setattr(deps, "wiring", lambda: SimpleNamespace(pools=found))  # the route reads wiring().pools
    return found


def held(pool: InMemoryCodePool, shop: str = "elektro-emma", name: str = "winter") -> list[str]:
    return sorted(c.code for c in pool.codes.get((shop, name), {}).values())


def test_an_upload_adds_the_codes_and_answers_the_counts(api, pool):
    status, body = api.call("POST", PATH, CODES, ADMIN)
    assert status == 200, body
    assert body == {"pool": "winter", "received": 3, "added": 3, "already_known": 0, "remaining": 3}
    assert held(pool) == ["WINTER-001", "WINTER-002", "WINTER-003"]
    code = pool.codes[("elektro-emma", "winter")]["winter-001"]
    assert code.ends_at is not None and code.ends_at.isoformat() == "2027-01-01T00:00:00+00:00"
    assert held(pool, "fahrrad-franz") == []


def test_the_same_file_again_adds_nothing_and_a_handed_out_code_is_not_added_again(api, pool):
    api.call("POST", PATH, CODES, ADMIN)
    pool.claim("elektro-emma", "winter", "message-1", T0)  # WINTER-001 handed out
    status, body = api.call("POST", PATH, CODES + b"WINTER-004,\n", ADMIN)
    assert status == 200
    assert body == {"pool": "winter", "received": 4, "added": 1, "already_known": 3, "remaining": 3}
    assert held(pool) == ["WINTER-002", "WINTER-003", "WINTER-004"]


def test_remaining(api, pool):
    api.call("POST", PATH, CODES, ADMIN)
    assert api.call("GET", PATH, headers=ADMIN) == (200, {"pool": "winter", "remaining": 3})
    status, body = api.call("GET", "/v1/coupons/pools/never-used", headers=ADMIN)
    assert (status, body) == (200, {"pool": "never-used", "remaining": 0})


def test_a_semicolon_file_with_bom_crlf_and_gzip(api, pool):
    body = gzip.compress("\ufeffCode;Gültig bis\r\nÄPFEL-10;x\r\n".encode())
    status, answer = api.call("POST", PATH, body, {**ADMIN, "content-encoding": "gzip"})
    assert status == 200, answer
    assert held(pool) == ["ÄPFEL-10"]


@pytest.mark.parametrize(
    ("headers", "query", "status", "code"),
    [
        ({}, "", 401, "unauthorized"),
        ({"authorization": "Bearer nope"}, "", 401, "unauthorized"),
        ({"authorization": "Bearer ak_2"}, "shop=elektro-emma", 403, "forbidden"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_needs_the_shops_admin_key(api, pool, method, headers, query, status, code):
    got, body = api.call(method, PATH, b"code\nAB\n", headers, query=query)  # auth is checked before the body
    assert (got, body["error"]) == (status, code)
    assert pool.codes == {}


def test_another_shops_key_uploads_to_its_own_pool(api, pool):
    status, _ = api.call("POST", PATH, CODES, {"authorization": "Bearer ak_2", "content-type": "text/csv"})
    assert status == 200
    assert held(pool) == [] and len(held(pool, "fahrrad-franz")) == 3


@pytest.mark.parametrize("name", ["Winter", "-winter", "winter_10", "x" * 64, "a%20b"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_pool_name_that_is_not_valid_is_400(api, pool, method, name):
    status, body = api.call(method, f"/v1/coupons/pools/{name}", CODES, ADMIN)
    assert status == 400, body
    assert body["error"] == "invalid_pool_name" and "lower-case letters" in body["message"]
    assert pool.codes == {}


def test_bad_lines_are_422_each_named_and_nothing_is_stored(api, pool):
    body = b"code,expires_at\nGOOD-001,\nAB,\nGOOD-001,\nOLD-001,2026-03-01\nNEW-001,soon\n"
    status, answer = api.call("POST", PATH, body, ADMIN)
    assert status == 422
    assert answer["error"] == "invalid_codes" and answer["code"] == 422
    assert answer["problems"] == [
        'body:3: code "AB" is shorter than 3 characters',
        'body:4: code "GOOD-001" is already on line 2',
        'body:5: code "OLD-001" ended at 2026-03-02T00:00:00+00:00, before now',  # the clock says T0
        'body:6: expires_at "soon" is not an ISO date (2025-12-31) or time (2025-12-31T18:00:00+01:00) '
        "between the years 2000 and 2199",
    ]
    assert answer["message"].startswith('body:3: code "AB" is shorter') and answer["message"].endswith("nothing stored")
    assert pool.codes == {}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "body: the file is empty"),
        (b"code\n", "body: no codes after the header"),
        (b"WINTER-001\nWINTER-002\n", "body:1: the header has no column 'code'"),
        (b'{"codes": ["WINTER-001"]}', "body:1: the header has no column 'code'"),
        ("code\nÄPFEL\n".encode("latin-1"), "body:2: not UTF-8 text"),
        (b'code\n"A-1"x\n', "body:2: not readable as CSV"),
        (b"\x00\xff\xfe" * 100, "not UTF-8 text"),
    ],
)
def test_bodies_that_are_not_an_upload_are_4xx_never_500(api, pool, body, fragment):
    status, answer = api.call("POST", PATH, body, ADMIN)
    assert status == 422, answer
    assert fragment in answer["message"] and answer["problems"]
    assert pool.codes == {}


def test_too_many_codes_for_one_request_is_413(api, pool, monkeypatch):
    from ingest.routes import coupons

    monkeypatch.setattr(coupons, "MAX_REQUEST_CODES", 2)
    status, answer = api.call("POST", PATH, CODES, ADMIN)
    assert status == 413 and answer["error"] == "too_many_codes"
    assert "more than 2 codes" in answer["message"]
    assert pool.codes == {}


def test_a_body_over_the_limit_is_413(api, pool):
    body = b"code\n" + b"X" * (4 * 1024 * 1024 + 1)
    status, answer = api.call("POST", PATH, body, ADMIN)
    assert status == 413 and answer["error"] == "payload_too_large"


def test_a_store_that_fails_is_503_never_500(api, pool, monkeypatch):
    def broken(*args, **kwargs):
        raise StoreError("DynamoDB is throttling")

    monkeypatch.setattr(pool, "add", broken)
    status, answer = api.call("POST", PATH, CODES, ADMIN)
    assert status == 503 and answer["error"] == "store_unavailable"


def test_the_default_wiring_gives_the_dynamodb_pool_of_the_profiles_table():
    import boto3

    from emma.adapters.offers import DynamoCodePool
    from emma.config import IngestSettings
    from emma.wiring.ingest import IngestWiring

    settings = IngestSettings.model_construct(profiles_table="emma-profiles")
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-central-1")
    found = IngestWiring(settings, session).pools
    assert isinstance(found, DynamoCodePool) and found._table == "emma-profiles"


def test_openapi_documents_both_routes(api):
    status, doc = api.call("GET", "/v1/openapi.json")
    assert status == 200
    item = doc["paths"]["/v1/coupons/pools/{pool}"]
    assert set(item) == {"get", "post"}
    assert "InvalidCodesError" in doc["components"]["schemas"]
    assert {"200", "400", "401", "403", "413", "422"} <= set(item["post"]["responses"])
    assert item["post"]["tags"] == ["coupons"]
