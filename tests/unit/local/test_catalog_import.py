"""`emma catalog import`: reading CSV / JSON / JSON Lines, FILE:LINE errors, the progress bar, and
the whole command against the real ingest handler behind a local HTTP server."""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from emma.ingest.service import IngestService
from emma.shops import ShopConfig
from emma.wiring.ingest import Intake
from emma_local import catalog_import as ci
from emma_local.catalog_import import CatalogFileError, Progress, batches, read_products, run_import
from emma_local.cli import build_parser
from emma_local.fakes import (
    FixedClock,
    InMemoryCatalog,
    InMemoryProfileRepository,
    InMemoryPublisher,
    StaticShopDirectory,
)
from factories import T0

SAMPLE = Path(__file__).resolve().parents[3] / "events" / "catalog" / "elektro-emma.csv"
HEADER = "product_id,name,category,brand,price,currency,url,in_stock,tags,compatible_with,partner,sku\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(CatalogFileError) as exc:
        read_products(path)
    return exc.value.lines()


# ---- reading ----------------------------------------------------------------------------------


def test_csv_rows_become_products_with_lists_and_stock():
    rows = read_products(SAMPLE)
    by_id = {r.product["product_id"]: r for r in rows}
    assert 35 <= len(rows) <= 45
    case = by_id["case-9"].product
    assert case["compatible_with"] == ["pixel-9-pro"] and case["category"] == "accessories"
    assert case["price"] == "49.00" and case["currency"] == "EUR"
    assert case["url"] == "https://elektro-emma.example/p/case-9"
    assert by_id["pixel-9-pro"].where == "2"  # the line number (the header is line 1)
    assert by_id["pixel-9-pro"].product["tags"] == ["5G", "Android", "Neuheit"]
    assert "compatible_with" not in by_id["pixel-9-pro"].product  # empty cells are left out
    assert {p for p in by_id if by_id[p].product.get("in_stock") is False} >= {"iphone-16-pro"}
    assert {by_id[p].product.get("partner") for p in by_id} >= {"Telekom", "Wertgarantie"}
    assert any("camera" in r.product.get("tags", []) for r in rows)
    assert {r.product.get("currency") for r in rows} == {"EUR"}


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("true", True), ("Yes", True), ("1", True), ("false", False), ("no", False), ("0", False), ("", None)],
)
def test_in_stock_spellings(tmp_path, cell, expected):
    (row,) = read_products(write(tmp_path, "c.csv", f"product_id,in_stock\np1,{cell}\n"))
    assert row.product.get("in_stock") is expected


def test_list_cells_split_on_pipes_and_drop_blanks(tmp_path):
    path = write(tmp_path, "c.csv", "product_id,tags,compatible_with\np1, camera | Stativ || ,pixel-9 |galaxy-s25\n")
    (row,) = read_products(path)
    assert row.product["tags"] == ["camera", "Stativ"]
    assert row.product["compatible_with"] == ["pixel-9", "galaxy-s25"]


def test_semicolon_csv_with_comma_decimals_and_bom(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffproduct_id;name;price;currency\ncase-9;Hülle;49,90;EUR\n".encode())
    (row,) = read_products(path)
    assert row.product == {"product_id": "case-9", "name": "Hülle", "price": "49.90", "currency": "EUR"}


def test_csv_errors_name_file_and_line_and_every_bad_row(tmp_path):
    text = (
        HEADER
        + "ok-1,Ok,accessories,,1.00,EUR,,true,,,,\n"
        + "\n"  # blank lines are skipped but counted
        + "bad-1,Bad,accessories,,teuer,EUR,,vielleicht,,,,\n"
        + "bad-2,Bad,accessories,,1.00,euro,,,,,,\n"
        + "short,row\n"
        + "ok-1,Again,accessories,,2.00,EUR,,,,,,\n"
        + ',"multi\nline name",accessories,,1.00,EUR,,,,,,\n'
    )
    path = write(tmp_path, "bad.csv", text)
    lines = problems(path)
    assert lines == [
        f"emma: {path}:4: in_stock: expected true/false, yes/no or 1/0, got 'vielleicht'",
        f"emma: {path}:5: currency: String should match pattern '^[A-Z]{{3}}$'",
        f"emma: {path}:6: 2 fields, the header has 12",
        f"emma: {path}:7: product_id 'ok-1' appears twice (also line 2)",
        f"emma: {path}:8: product_id: Field required",
    ]


def test_csv_price_error_is_reported_when_the_row_is_otherwise_fine(tmp_path):
    path = write(tmp_path, "bad.csv", "product_id,price\np1,teuer\n")
    assert problems(path) == [f"emma: {path}:2: price: Input should be a valid decimal"]


def test_csv_header_problems_stop_at_line_one(tmp_path):
    path = write(tmp_path, "bad.csv", "id,name,colour,name\n1,a,b,c\n")
    lines = problems(path)
    assert lines[0].startswith(f"emma: {path}:1: unknown column 'id'")
    assert f"emma: {path}:1: column 'name' appears twice" in lines
    assert lines[-1] == f"emma: {path}:1: the header has no product_id column"


def test_json_list_or_products_object(tmp_path):
    items = [{"product_id": "a", "price": 1.5, "tags": ["x"]}, {"product_id": "b", "compatible_with": "a|c"}]
    for text in (json.dumps(items), json.dumps({"products": items}, indent=2)):
        rows = read_products(write(tmp_path, "c.json", text))
        assert [r.where for r in rows] == ["item 0", "item 1"]
        assert rows[0].product == {"product_id": "a", "price": "1.5", "tags": ["x"]}
        assert rows[1].product["compatible_with"] == ["a", "c"]


def test_json_errors_name_the_item(tmp_path):
    items = [{"product_id": "a"}, {"product_id": "b", "colour": "red"}, "c", {"product_id": "a"}]
    path = write(tmp_path, "c.json", json.dumps(items))
    assert problems(path) == [
        f"emma: {path}:item 1: colour: Extra inputs are not permitted",
        f"emma: {path}:item 2: expected an object with product fields, got str",
        f"emma: {path}:item 3: product_id 'a' appears twice (also item 0)",
    ]


def test_broken_json_names_the_line(tmp_path):
    path = write(tmp_path, "c.json", '[\n  {"product_id": "a"},\n  {"product_id": }\n]')
    (line,) = problems(path)
    assert line.startswith(f"emma: {path}:3: invalid JSON: Expecting value")


def test_json_lines(tmp_path):
    text = '{"product_id": "a"}\n\n{"product_id": "b", "in_stock": "maybe"}\n{"product_id": \n{"product_id": "c"}\n'
    path = write(tmp_path, "c.jsonl", text)
    lines = problems(path)
    assert lines[0] == f"emma: {path}:3: in_stock: Input should be a valid boolean, unable to interpret input"
    assert lines[1].startswith(f"emma: {path}:4: invalid JSON")
    good = write(tmp_path, "good.jsonl", '{"product_id": "a"}\n{"product_id": "b"}\n')
    assert [r.where for r in read_products(good)] == ["1", "2"]


def test_an_empty_file_is_an_error(tmp_path):
    path = write(tmp_path, "empty.csv", HEADER)
    assert problems(path) == [f"emma: {path}: no products in the file"]


def test_batches_respect_count_and_bytes(tmp_path):
    rows = read_products(write(tmp_path, "c.jsonl", "".join(f'{{"product_id": "p{i:03d}"}}\n' for i in range(250))))
    assert [len(b) for b in batches(rows, 100)] == [100, 100, 50]
    assert [len(b) for b in batches(rows, 100, max_bytes=24 * 10)] == [10] * 25


# ---- progress ---------------------------------------------------------------------------------


class Ticks:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_without_a_terminal_prints_a_line_per_ten_percent():
    out, clock = io.StringIO(), Ticks()
    bar = Progress(1000, out, tty=False, width=10, clock=clock)
    for _ in range(40):
        clock.now += 0.5
        bar.update(25)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0] == "[#.........] 100/1000 products  50/s"
    assert lines[4] == "[#####.....] 500/1000 products  50/s"
    assert lines[-1] == "[##########] 1000/1000 products  50/s"
    assert "\r" not in out.getvalue()


def test_progress_small_total_prints_once_at_the_end():
    out, clock = io.StringIO(), Ticks()
    bar = Progress(40, out, tty=False, width=10, clock=clock)
    clock.now = 2.0
    bar.update(40)
    assert out.getvalue() == "[##########] 40/40 products  20/s\n"


def test_progress_on_a_terminal_redraws_in_place():
    out, clock = io.StringIO(), Ticks()
    bar = Progress(200, out, tty=True, width=10, clock=clock)
    clock.now = 1.0
    bar.update(100)
    clock.now = 1.05
    bar.update(50)  # within 0.1 s of the last draw: not redrawn
    clock.now = 2.0
    bar.update(50)
    bar.close()
    assert out.getvalue() == "\r[#####.....] 100/200 products  100/s\r[##########] 200/200 products  100/s\n"


# ---- the whole command ------------------------------------------------------------------------


class Answer:
    def __init__(self, result):
        from emma_local.lambdas import response_body

        self.status_code = result["statusCode"]
        self.text = response_body(result).decode()
        self.reason = ""

    def json(self):
        return json.loads(self.text)


class HandlerSession:
    """A requests session that hands each request to the real ingest handler in-process, as API
    Gateway would (unit tests have no network)."""

    def __init__(self):
        self.requests = []

    def put(self, url, params, data, headers, timeout):
        from emma_local.lambdas import LambdaContext, api_event
        from ingest.handler import lambda_handler

        parts = urlsplit(url)
        self.requests.append((parts.path, params, len(json.loads(data)["products"])))
        path = parts.path.removeprefix("/api")  # the base path, as an API Gateway custom domain mapping
        event = api_event("PUT", path, urlencode(params), headers, data)
        return Answer(lambda_handler(event, LambdaContext("ingest")))


@pytest.fixture
def api_server(monkeypatch):
    """The real ingest handler with in-memory ports, reached through `requests.Session`."""
    import requests

    from ingest import deps

    repo = InMemoryProfileRepository()
    catalog = InMemoryCatalog(repo)
    service = IngestService(repo, catalog, InMemoryPublisher(), FixedClock(T0), sleep=lambda s: None)
    shops = StaticShopDirectory(
        [
            ShopConfig(shop="elektro-emma", admin_keys=("ak_1",)),
            ShopConfig(shop="fahrrad-franz", admin_keys=("ak_2",)),
        ]
    )
    monkeypatch.setattr(deps, "intake", lambda: Intake(service, shops))
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Emma")
    session = HandlerSession()
    monkeypatch.setattr(requests, "Session", lambda: session)
    return "https://emma.example/api", catalog, session


def run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    parsed = build_parser().parse_args(args)
    code = run_import(
        parsed.file,
        shop=parsed.shop,
        api=parsed.api,
        admin_key=parsed.admin_key,
        batch=parsed.batch,
        dry_run=parsed.dry_run,
        stdout=out,
        stderr=err,
        tty=False,
        sleep=lambda s: None,
    )
    return code, out.getvalue(), err.getvalue()


def test_import_sends_batches_with_progress_and_is_idempotent(api_server):
    url, catalog, session = api_server
    args = ["catalog", "import", str(SAMPLE), "--shop", "elektro-emma", "--api", url, "--admin-key", "ak_1"]
    code, out, err = run([*args, "--batch", "15"])
    total = len(read_products(SAMPLE))
    assert code == 0, err
    assert f"Imported {total} products from {SAMPLE} into elektro-emma: {total} stored, 0 duplicates in" in out
    assert err.splitlines()[-1].startswith(f"[####################] {total}/{total} products")
    assert len(err.splitlines()) == 3  # one line per batch of 15 here (each crosses a 10 % step)
    assert session.requests == [("/api/v1/catalog/products", {"shop": "elektro-emma"}, n) for n in (15, 15, total - 30)]
    stored = {pid: p for (shop, pid), p in catalog.products.items() if shop == "elektro-emma"}
    assert len(stored) == total and stored["case-9"]["compatible_with"] == ["pixel-9-pro"]

    code, out, _ = run(args)
    assert code == 0 and f": 0 stored, {total} duplicates in" in out


def test_http_errors_exit_1_with_the_servers_message(api_server, tmp_path):
    url, catalog, _ = api_server
    path = write(tmp_path, "c.csv", "product_id,name\np1,One\n")
    base = ["catalog", "import", str(path), "--api", url]
    code, _, err = run([*base, "--shop", "elektro-emma", "--admin-key", "wrong"])
    assert code == 1 and err.strip() == f"emma: PUT {url}/v1/catalog/products: 401 unknown admin key"
    code, _, err = run([*base, "--shop", "elektro-emma", "--admin-key", "ak_2"])
    assert code == 1 and "403 this admin key belongs to shop 'fahrrad-franz', not 'elektro-emma'" in err
    assert catalog.products == {}


def test_a_bad_file_exits_2_and_sends_nothing(tmp_path, monkeypatch):
    path = write(tmp_path, "c.csv", "product_id,price\np1,1.00\np2,teuer\n")

    class NoSession:
        def put(self, *a, **kw):
            raise AssertionError("nothing may be sent")

    err = io.StringIO()
    code = run_import(path, shop="elektro-emma", api="http://x", admin_key="k", session=NoSession(), stderr=err)
    assert code == 2
    assert err.getvalue().splitlines() == [
        f"emma: {path}:3: price: Input should be a valid decimal",
        f"emma: {path}: nothing was sent",
    ]


def test_retries_unavailable_then_maps_a_422_to_the_file_line(tmp_path):
    path = write(tmp_path, "c.csv", "product_id,name\np1,One\np2,Two\n")

    class Resp:
        def __init__(self, status, body):
            self.status_code, self._body, self.text, self.reason = status, body, json.dumps(body), ""

        def json(self):
            return self._body

    class Flaky:
        def __init__(self):
            self.calls = 0

        def put(self, url, params, data, headers, timeout):
            self.calls += 1
            assert params == {"shop": "elektro-emma"} and headers["authorization"] == "Bearer k"
            assert [p["product_id"] for p in json.loads(data)["products"]] == ["p1", "p2"]
            if self.calls == 1:
                return Resp(503, {"error": "store_unavailable", "message": "try again"})
            return Resp(422, {"error": "invalid_products", "message": "products[1].name: too odd"})

    session, err = Flaky(), io.StringIO()
    code = run_import(
        path, shop="elektro-emma", api="http://x/", admin_key="k", session=session, stderr=err, sleep=lambda s: None
    )
    assert code == 1 and session.calls == 2
    assert err.getvalue().strip() == f"emma: PUT http://x/v1/catalog/products: 422 {path}:3.name: too odd"


def test_arguments_are_checked(tmp_path, monkeypatch):
    path = write(tmp_path, "c.csv", "product_id\np1\n")
    err = io.StringIO()
    assert run_import(path, shop="s", api="http://x", admin_key="k", batch=101, stderr=err) == 2
    monkeypatch.delenv("EMMA_ADMIN_KEY", raising=False)
    assert run_import(path, shop="s", api="http://x", admin_key=None, stderr=err) == 2
    assert run_import(tmp_path / "missing.csv", shop="s", api="http://x", admin_key="k", stderr=err) == 2
    assert "--batch must be 1 to 100" in err.getvalue() and "EMMA_ADMIN_KEY" in err.getvalue()
    assert "missing.csv: no such file" in err.getvalue()
    out = io.StringIO()
    assert run_import(path, shop="s", api="http://x", admin_key=None, dry_run=True, stdout=out) == 0
    assert "1 valid products" in out.getvalue()
    assert ci.MAX_BATCH == 100
