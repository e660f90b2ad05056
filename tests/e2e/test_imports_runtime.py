"""`emma import` end to end on the local runtime, over real HTTP: a generated shop history (Emma's customers
CSV with consent and its proof, Shopify's orders CSV export matched to the catalog by SKU) builds profiles,
segments and predictions, and nothing is published, started or sent; the same files again change nothing;
an import interrupted half way resumes where it stopped; a file with bad lines writes nothing."""

from __future__ import annotations

import functools
import io
import shutil
from pathlib import Path

import pytest
import requests

from emma.imports.formats import ReadOptions
from emma.imports.model import ImportKind
from emma_local import imports as cli_imports
from emma_local.catalog_import import run_import as import_catalog
from emma_local.config import load_config
from emma_local.imports import ApiTarget, FileJournal, Importer, run_import
from emma_local.lab.shop_history import generate, write_emma_customers, write_shopify_orders
from emma_local.runtime import LocalRuntime

pytestmark = pytest.mark.e2e
SHOP = "elektro-emma"
KEY = "ak_local_elektro_emma"
ADMIN = {"authorization": f"Bearer {KEY}"}
ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = 150


@pytest.fixture(scope="module")
def rt():
    runtime = LocalRuntime(load_config(), port=0, log_level="ERROR", environments=0, schedule=False).start()
    yield runtime
    runtime.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("history")
    people, orders = generate(CUSTOMERS, seed=3)
    write_emma_customers(people, folder / "customers.csv")
    write_shopify_orders(orders, folder / "orders.csv")
    return folder, people, orders


@pytest.fixture(scope="module")
def imported(rt, files, tmp_path_factory, monkeypatch_module):
    folder, _, _ = files
    monkeypatch_module.setenv("EMMA_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    out = io.StringIO()
    catalog = ROOT / "events" / "catalog" / "elektro-emma.csv"
    assert import_catalog(catalog, shop=SHOP, api=rt.api_url, admin_key=KEY) == 0
    rt.drain()
    rt.published()  # the catalog's own events: not the import's
    for kind in ("customers", "orders"):
        code = run_import(kind, folder / f"{kind}.csv", shop=SHOP, api=rt.api_url, admin_key=KEY, out=out, err=out)
        assert code == 0, out.getvalue()
    rt.drain()
    return out.getvalue()


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def profile(rt, ref):
    resp = requests.get(f"{rt.api_url}/v1/profiles/{ref}", headers=ADMIN, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def sizes(rt):
    resp = requests.get(f"{rt.api_url}/v1/segments", headers=ADMIN, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["segments"]


def test_the_history_builds_profiles_segments_and_predictions(rt, files, imported):
    _, people, orders = files
    assert "nothing was sent" in imported
    buyer = next(p for p in people if sum(1 for o in orders if o.email == p.email and not o.cancelled_at) >= 3)
    doc = profile(rt, buyer.email)
    assert buyer.customer_id in doc["customer_ids"]
    counted = [o for o in orders if o.email == buyer.email and not o.cancelled_at]
    assert doc["orders"]["count"] == len(counted)
    # Shopify's export names line items by SKU: matched to the catalog's products (ids, categories)
    catalog_ids = {i.product_id for o in counted for i in o.items}
    assert set(doc["products_owned"]) == catalog_ids
    assert set(doc["affinities"]["categories"]) >= {i.category for o in counted for i in o.items}
    assert doc["predictions"]["p_alive"] is not None and doc["lifecycle_stage"]
    subscribed = next(p for p in people if p.consents and p.consents[-1].granted)
    consent = profile(rt, subscribed.email)["consent"]["email"]
    assert consent["granted"] is True and consent["proof"]["source"] == "elektro-emma:newsletter-form"
    found = sizes(rt)
    assert found["known-customers"] == CUSTOMERS
    assert found["lapsed"] > 0 and found["reachable-email"] > 0


def test_the_weekly_newsletter_s_audience_is_estimated_from_the_imported_shop(rt, imported):
    listed = requests.get(f"{rt.api_url}/v1/campaigns", headers=ADMIN, timeout=10).json()
    assert "weekly-newsletter" in [c["id"] for c in listed["campaigns"]]
    resp = requests.get(f"{rt.api_url}/v1/campaigns/weekly-newsletter/estimate", headers=ADMIN, timeout=30)
    assert resp.status_code == 200, resp.text
    found = resp.json()
    assert found["candidates"] == sizes(rt)["reachable-email"] > 0
    assert found["included"] + sum(found["left_out"].values()) == found["candidates"] and found["included"] > 0
    from emma_local.campaigns_cli import run_campaigns

    out = io.StringIO()
    assert run_campaigns("estimate", "weekly-newsletter", api=rt.api_url, admin_key=KEY, stdout=out) == 0
    assert f"{found['included']:,} of {found['candidates']:,} candidates would be asked for" in out.getvalue()
    out = io.StringIO()
    assert run_campaigns("list", None, api=rt.api_url, admin_key=KEY, stdout=out) == 0
    assert [line.split()[0] for line in out.getvalue().splitlines()] == [
        "advent-newsletter",
        "weekly-newsletter",
        "winter-greeting",
    ]
    err = io.StringIO()
    assert run_campaigns("estimate", "nope", api=rt.api_url, admin_key=KEY, stderr=err) == 2 and "404" in err.getvalue()
    other = {"authorization": "Bearer ak_local_fahrrad_franz"}
    url = f"{rt.api_url}/v1/campaigns/nope/estimate"
    assert requests.get(url, headers=ADMIN, timeout=10).status_code == 404
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, params={"shop": SHOP}, headers=other, timeout=10).status_code == 403


def test_nothing_was_published_started_or_sent(rt, imported):
    assert [e for e in rt.published() if e["detail"]["source"]["kind"] == "import"] == []
    assert rt.published() == []
    for journey in rt.resources.state_machines:
        assert rt.executions(journey) == []
    assert rt.outbox is None or rt.outbox.collect() == []


def test_the_same_files_again_change_nothing(rt, files, imported):
    folder, people, _ = files
    before = sizes(rt)
    somebody = profile(rt, people[0].email)
    out = io.StringIO()
    for kind in ("customers", "orders"):
        assert run_import(kind, folder / f"{kind}.csv", shop=SHOP, api=rt.api_url, admin_key=KEY, out=out, err=out) == 0
    assert "0 events stored" in out.getvalue()
    assert sizes(rt) == before
    again = profile(rt, people[0].email)
    assert again["version"] == somebody["version"]
    assert rt.published() == []


def test_an_interrupted_import_resumes_where_it_stopped(rt, tmp_path):
    people, _ = generate(40, seed=11)
    people = [
        p.model_copy(update={"email": p.email.replace("@", "+r@"), "customer_id": "r" + p.customer_id}) for p in people
    ]
    write_emma_customers(people, tmp_path / "customers.csv")
    journal = FileJournal(tmp_path / "journal")

    class Dies(ApiTarget):
        calls = 0

        def store(self, kind, fmt, records):
            Dies.calls += 1
            if Dies.calls == 3:
                raise cli_imports.ApiError("the connection dropped", 0)
            return super().store(kind, fmt, records)

    session = requests.Session()
    opener = functools.partial(Path.open, tmp_path / "customers.csv", "rb")
    importer = Importer(Dies(rt.api_url, KEY, SHOP, session), journal, batch_records=10)
    with pytest.raises(cli_imports.ApiError):
        importer.run(SHOP, ImportKind.CUSTOMERS, "customers.csv", opener, ReadOptions())
    (state,) = [journal.state(p.name) for p in (tmp_path / "journal").iterdir()]
    assert state.phase == "ingest" and state.batches_done == 2 and state.next_line == 22
    resumed = Importer(ApiTarget(rt.api_url, KEY, SHOP, session), journal, batch_records=10)
    final = resumed.run(SHOP, ImportKind.CUSTOMERS, "customers.csv", opener, ReadOptions())
    assert final.phase == "done" and final.records_done == 40 and final.batches_done == 4
    assert final.duplicates == 0  # the two stored batches were not sent again
    assert people[-1].customer_id in profile(rt, people[-1].email)["customer_ids"]


def test_a_file_with_bad_lines_names_them_and_writes_nothing(rt, tmp_path, capsys):
    bad = tmp_path / "orders.csv"
    shutil.copy(ROOT / "tests" / "fixtures" / "imports" / "emma-orders.csv", bad)
    with open(bad, "a") as f:
        f.write("o-bad,,,nobody@example.com,yesterday,EUR,12.00" + "," * 21 + "\n")
    before = sizes(rt)
    err = io.StringIO()
    code = run_import("orders", bad, shop=SHOP, api=rt.api_url, admin_key=KEY, out=io.StringIO(), err=err)
    assert code == 2
    assert f"{bad}:" in err.getvalue() and "placed_at" in err.getvalue() and "nothing imported" in err.getvalue()
    assert sizes(rt) == before
    assert requests.get(f"{rt.api_url}/v1/profiles/nobody@example.com", headers=ADMIN, timeout=10).status_code == 404


def test_the_admin_routes_refuse_what_they_must(rt):
    url = f"{rt.api_url}/v1/imports/orders/batches"
    assert requests.post(url, json={"format": "emma", "records": []}, timeout=10).status_code == 401
    other = {"authorization": "Bearer ak_local_fahrrad_franz"}
    assert requests.post(url, params={"shop": SHOP}, headers=other, json={}, timeout=10).status_code == 403
    resp = requests.post(url, headers=ADMIN, data=b"{", timeout=10)
    assert resp.status_code == 400
    broken = {"format": "emma", "records": [{"line": 2, "order_id": "x"}]}
    resp = requests.post(url, headers=ADMIN, json=broken, timeout=10)
    assert resp.status_code == 422 and "records[0]" in resp.json()["message"]
    resp = requests.post(
        f"{rt.api_url}/v1/imports/conclusions", headers=ADMIN, json={"batch": "b", "profiles": ["nope"]}, timeout=10
    )
    assert resp.status_code == 422


# ---- a file uploaded to the imports bucket, imported on the import state machine --------------------------------


def _upload(rt, path: Path, name: str) -> str:
    resp = requests.post(f"{rt.api_url}/v1/imports/uploads", headers=ADMIN, json={"file": name}, timeout=10)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["key"].startswith(f"{SHOP}/uploads/") and answer["expires_in"] > 0
    put = requests.put(answer["url"], data=path.read_bytes(), timeout=30)
    assert put.status_code == 200, put.text
    return answer["key"]


def _wait(rt, job: str, timeout: float = 120.0) -> dict:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = requests.get(f"{rt.api_url}/v1/imports/{job}", headers=ADMIN, timeout=10).json()
        if view["status"] in ("done", "invalid", "failed"):
            return view
        time.sleep(0.5)
    raise AssertionError(f"import {job} still {view['status']} after {timeout} s: {view}")


def test_a_file_uploaded_to_the_bucket_is_imported_on_the_state_machine(rt, tmp_path):
    people, orders = generate(60, seed=21)
    people = [
        p.model_copy(update={"email": p.email.replace("@", "+s3@"), "customer_id": "s3" + p.customer_id})
        for p in people
    ]
    orders = [
        o.model_copy(update={"email": o.email.replace("@", "+s3@"), "customer_id": None, "order_id": "s3" + o.order_id})
        for o in orders
    ]
    write_emma_customers(people, tmp_path / "customers.csv")
    write_shopify_orders(orders, tmp_path / "orders.csv")
    for kind in ("customers", "orders"):
        key = _upload(rt, tmp_path / f"{kind}.csv", f"{kind}.csv")
        resp = requests.post(f"{rt.api_url}/v1/imports", headers=ADMIN, json={"kind": kind, "key": key}, timeout=10)
        assert resp.status_code == 202, resp.text
        job = resp.json()["job"]
        assert resp.headers["Location"] == f"/v1/imports/{job}"
        again = requests.post(f"{rt.api_url}/v1/imports", headers=ADMIN, json={"kind": kind, "key": key}, timeout=10)
        assert again.status_code == 202 and again.json()["job"] == job  # the same file is the same job, run once
        view = _wait(rt, job)
        assert view["status"] == "done", view
        expected = len(people) if kind == "customers" else len(orders)
        assert view["records"] == view["records_done"] == expected and view["parts_done"] == view["parts"] >= 1
        assert view["concluded"] == view["profiles"] > 0 and view["accepted"] > 0
        late = requests.post(f"{rt.api_url}/v1/imports", headers=ADMIN, json={"kind": kind, "key": key}, timeout=10)
        assert late.status_code == 404  # a finished import deleted its file
    rt.drain()
    buyer = next(p for p in people if any(o.email == p.email and not o.cancelled_at for o in orders))
    doc = profile(rt, buyer.email)
    assert doc["orders"]["count"] == sum(1 for o in orders if o.email == buyer.email and not o.cancelled_at)
    assert doc["segments"] and doc["predictions"]["p_alive"] is not None
    assert rt.published() == []


def test_a_bad_file_in_the_bucket_is_refused_with_its_lines_and_nothing_is_written(rt, tmp_path):
    bad = tmp_path / "orders.csv"
    text = (ROOT / "tests" / "fixtures" / "imports" / "emma-orders.csv").read_text()
    bad.write_text(text + "o-s3-bad,,,s3bad@example.com,someday,EUR,12.00" + "," * 21 + "\n")
    key = _upload(rt, bad, "orders.csv")
    resp = requests.post(f"{rt.api_url}/v1/imports", headers=ADMIN, json={"kind": "orders", "key": key}, timeout=10)
    view = _wait(rt, resp.json()["job"])
    assert view["status"] == "invalid" and view["error_count"] >= 1
    assert view["execution"]["status"] == "SUCCEEDED"  # a refused file is the shop's to fix: no failure, no alarm
    lines = len(bad.read_text().splitlines())
    assert any(e.startswith(f"{key}:{lines}:") and "placed_at" in e for e in view["errors"]), view["errors"]
    assert requests.get(f"{rt.api_url}/v1/profiles/s3bad@example.com", headers=ADMIN, timeout=10).status_code == 404


def test_file_imports_refuse_what_they_must(rt):
    url = f"{rt.api_url}/v1/imports"
    assert requests.post(url, json={"kind": "orders", "key": f"{SHOP}/x"}, timeout=10).status_code == 401
    other = {"authorization": "Bearer ak_local_fahrrad_franz"}
    resp = requests.post(url, headers=other, json={"kind": "orders", "key": f"{SHOP}/uploads/x/orders.csv"}, timeout=10)
    assert resp.status_code == 403  # another shop's upload
    resp = requests.post(url, headers=ADMIN, json={"kind": "orders", "key": f"{SHOP}/uploads/none.csv"}, timeout=10)
    assert resp.status_code == 404
    assert requests.post(url, headers=ADMIN, json={"kind": "nope", "key": f"{SHOP}/a"}, timeout=10).status_code == 422
    assert requests.get(f"{url}/unknown-job", headers=ADMIN, timeout=10).status_code == 404
    outside = {"kind": "orders", "key": f"{SHOP}/jobs/x/parts/000000.jsonl"}  # not an upload
    assert requests.post(url, headers=ADMIN, json=outside, timeout=10).status_code == 403
    bad = {"kind": "orders", "key": f"{SHOP}/uploads/x/o.csv", "timezone": "Mars/Olympus"}
    resp = requests.post(url, headers=ADMIN, json=bad, timeout=10)
    assert resp.status_code == 422 and "timezone" in resp.json()["message"]
    bad = {"kind": "orders", "key": f"{SHOP}/uploads/x/o.csv", "consent_as_of": "2026-13-45x"}
    assert requests.post(url, headers=ADMIN, json=bad, timeout=10).status_code == 422
    bad = {"kind": "orders", "key": f"{SHOP}/uploads/x/o.csv", "consent_as_of": "0001-01-01"}  # no consent holds it
    resp = requests.post(url, headers=ADMIN, json=bad, timeout=10)
    assert resp.status_code == 422 and "0001-01-01" in resp.json()["message"]


def test_a_finished_import_leaves_no_customer_data_in_the_bucket(rt, tmp_path):
    people, _ = generate(5, seed=33)
    people = [p.model_copy(update={"email": p.email.replace("@", "+gone@"), "customer_id": None}) for p in people]
    write_emma_customers(people, tmp_path / "customers.csv")
    key = _upload(rt, tmp_path / "customers.csv", "customers.csv")
    resp = requests.post(f"{rt.api_url}/v1/imports", headers=ADMIN, json={"kind": "customers", "key": key}, timeout=10)
    assert _wait(rt, resp.json()["job"])["status"] == "done"
    s3 = rt.emulator.session().client("s3")
    left = [o["Key"] for o in s3.list_objects_v2(Bucket="emma-imports").get("Contents", [])]
    job = resp.json()["job"]
    assert key not in left and not [k for k in left if f"/{job}/" in k]
