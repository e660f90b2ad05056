"""`emma coupons upload|remaining` against the real ingest handler, reached in-process through a requests session:
the file checked whole first (FILE:LINE), parts, idempotent re-runs, the API's problems mapped to the file's lines."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode, urlsplit

import pytest

from emma.ingest.service import IngestService
from emma.shops import ShopConfig
from emma.wiring.ingest import Intake
from emma_local import coupons_cli
from emma_local.fakes import (
    FixedClock,
    InMemoryCatalog,
    InMemoryCodePool,
    InMemoryProfileRepository,
    InMemoryPublisher,
    StaticShopDirectory,
)
from factories import T0

API = "https://emma.example"


class Answer:
    def __init__(self, result):
        from emma_local.lambdas import response_body

        self.status_code = result["statusCode"]
        self.text = response_body(result).decode()

    def json(self):
        return json.loads(self.text)


class HandlerSession:
    """Hands each request to the real ingest handler in-process (unit tests have no network)."""

    def __init__(self):
        self.requests: list[tuple[str, str, dict, int]] = []

    def _call(self, method, url, params, headers, data=b""):
        from emma_local.lambdas import LambdaContext, api_event
        from ingest.handler import lambda_handler

        path = urlsplit(url).path
        self.requests.append((method, path, params, data.count(b"\n") - 1 if data else 0))
        event = api_event(method, path, urlencode(params), headers, data)
        return Answer(lambda_handler(event, LambdaContext("ingest")))

    def post(self, url, params, data, headers, timeout):
        return self._call("POST", url, params, headers, data)

    def get(self, url, params, headers, timeout):
        return self._call("GET", url, params, headers)


@pytest.fixture
def pool(monkeypatch):
    from ingest import deps

    repo = InMemoryProfileRepository()
    service = IngestService(repo, InMemoryCatalog(repo), InMemoryPublisher(), FixedClock(T0), sleep=lambda s: None)
    shops = StaticShopDirectory([ShopConfig(shop="elektro-emma", admin_keys=("ak_1",))])
    found = InMemoryCodePool()
    monkeypatch.setattr(deps, "intake", lambda: Intake(service, shops))
    monkeypatch.setattr(deps, "wiring", lambda: SimpleNamespace(pools=found))
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Emma")
    monkeypatch.delenv("EMMA_ADMIN_KEY", raising=False)
    return found


def write(tmp_path: Path, text: str, name: str = "codes.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def upload(path: Path, session=None, **kwargs) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    options = {"shop": "elektro-emma", "pool": "winter", "api": API, "admin_key": "ak_1", "now": T0, **kwargs}
    code = coupons_cli.run_upload(path, session=session, stdout=out, stderr=err, sleep=lambda s: None, **options)
    return code, out.getvalue(), err.getvalue()


def test_upload_in_parts_then_again_adds_nothing(pool, tmp_path):
    path = write(tmp_path, "code;expires_at\n" + "".join(f"W-{i:04d};2026-12-31\n" for i in range(5)))
    session = HandlerSession()
    code, out, err = upload(path, session, part=2)
    assert code == 0, err
    assert out == f"{path}: 5 codes for pool winter of elektro-emma: 5 added, 0 already known; 5 left in the pool\n"
    sent = [(method, route, n) for method, route, _, n in session.requests]
    assert sent == [("POST", "/v1/coupons/pools/winter", n) for n in (2, 2, 1)]
    assert session.requests[0][2] == {"shop": "elektro-emma"}
    assert len(pool.codes[("elektro-emma", "winter")]) == 5
    code, out, _ = upload(path, HandlerSession(), part=2)
    assert code == 0 and "0 added, 5 already known; 5 left" in out


def test_remaining(pool, tmp_path):
    upload(write(tmp_path, "code\nW-0001\nW-0002\n"), HandlerSession())
    out, err = io.StringIO(), io.StringIO()
    code = coupons_cli.run_remaining(
        shop="elektro-emma", pool="winter", api=API, admin_key="ak_1", session=HandlerSession(), stdout=out, stderr=err
    )
    assert code == 0 and out.getvalue() == "pool winter of elektro-emma: 2 codes left\n"


def test_a_bad_file_names_file_and_line_and_sends_nothing(pool, tmp_path):
    path = write(tmp_path, "code\nGOOD-001\nAB\nGOOD-001\n")
    session = HandlerSession()
    code, _, err = upload(path, session)
    assert code == 2
    assert err.splitlines() == [
        f'emma: {path}:3: code "AB" is shorter than 3 characters',
        f'emma: {path}:4: code "GOOD-001" is already on line 2',
        f"emma: {path}: nothing was sent",
    ]
    assert session.requests == []


def test_the_apis_problems_name_the_files_lines(pool, tmp_path):
    # checked locally a day earlier than the API's clock: the API refuses the code that ended meanwhile
    path = write(tmp_path, "code,expires_at\n\nA-001,\nB-001,2026-03-01\n")
    code, _, err = upload(path, HandlerSession(), now=T0.replace(day=1))
    assert code == 2
    assert f'emma: {path}:4: code "B-001" ended at 2026-03-02T00:00:00+00:00, before now' in err.splitlines()
    assert pool.codes == {}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"pool": "Winter"}, "emma: --pool: pool name 'Winter' is not valid"),
        ({"admin_key": "nope"}, "401 unknown admin key"),
        ({"admin_key": None, "shop": "nowhere"}, "emma: give shop 'nowhere''s admin key"),
    ],
)
def test_arguments_and_keys(pool, tmp_path, kwargs, expected):
    code, _, err = upload(write(tmp_path, "code\nW-0001\n"), HandlerSession(), **kwargs)
    assert code == 2 and expected in err, err


def test_the_admin_key_defaults_to_the_shops_key_in_the_local_config(pool, tmp_path, monkeypatch):
    monkeypatch.setattr(coupons_cli, "local_admin_key", lambda shop: {"elektro-emma": "ak_1"}.get(shop))
    code, out, err = upload(write(tmp_path, "code\nW-0001\n"), HandlerSession(), admin_key=None)
    assert code == 0 and "1 added" in out, err


def test_no_such_file_and_dry_run(pool, tmp_path):
    code, _, err = upload(tmp_path / "missing.csv", HandlerSession())
    assert code == 2 and "missing.csv: no such file" in err
    session = HandlerSession()
    code, out, _ = upload(write(tmp_path, "code\nW-0001\nW-0002\n"), session, dry_run=True, part=1)
    assert code == 0 and "2 valid codes, 2 request(s); nothing sent (--dry-run)" in out
    assert session.requests == []


def test_an_api_that_is_down_is_retried_then_exit_1(tmp_path):
    import requests

    class Down:
        calls = 0

        def post(self, *args, **kwargs):
            Down.calls += 1
            raise requests.ConnectionError("refused")

    code, _, err = upload(write(tmp_path, "code\nW-0001\n"), Down())
    assert code == 1 and "is the API running (emma dev)?" in err
    assert Down.calls == len(coupons_cli.RETRY_DELAYS) + 1


def test_register_adds_the_commands():
    parser = argparse.ArgumentParser(prog="emma")
    coupons_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["coupons", "upload", "--shop", "s", "--pool", "p", "codes.csv", "--dry-run"])
    assert (args.coupons_command, args.file, args.dry_run, args.api) == (
        "upload",
        Path("codes.csv"),
        True,
        coupons_cli.DEFAULT_API,
    )
    args = parser.parse_args(["coupons", "remaining", "--shop", "s", "--pool", "p", "--admin-key", "k"])
    assert (args.coupons_command, args.admin_key, args.func) == ("remaining", "k", coupons_cli._command)


def test_local_admin_key_reads_the_local_config():
    from emma_local.config import load_config

    shop = load_config().shops[0]
    assert coupons_cli.local_admin_key(shop.shop) == (shop.admin_keys[0] if shop.admin_keys else None)
    assert coupons_cli.local_admin_key("no-such-shop") is None
