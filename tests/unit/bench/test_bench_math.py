"""The benchmark's pure arithmetic (bench/capacity.py) against hand-computed examples."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.capacity import (
    CapacityMeter,
    RequestUsage,
    Units,
    api_gateway_billed_requests,
    eventbridge_billed_events,
    eventbridge_entry_size,
    item_size,
    lambda_billed_ms,
    lambda_cpu_share,
    number_size,
    per_million_events,
    query_read_units,
    read_units,
    request_cost,
    value_size,
    write_units,
)

PRICES = Path(__file__).resolve().parents[3] / "bench" / "prices.json"


def sized(pk: str, size: int, sk: str = "X") -> dict:
    """An item of exactly ``size`` bytes: pk (2 + len) + sk (2 + len) + d (1 + padding)."""
    padding = size - (2 + len(pk)) - (2 + len(sk)) - 1
    assert padding >= 0
    return {"pk": {"S": pk}, "sk": {"S": sk}, "d": {"S": "x" * padding}}


def key(pk: str, sk: str = "X") -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


# ---- item sizes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "size"),
    [("123", 3), ("100", 2), ("0.0012", 2), ("-12345.6789", 6), ("0", 2), ("1795346674", 6), (7, 2)],
)
def test_number_size_is_one_byte_per_two_significant_digits_plus_one(number, size):
    assert number_size(number) == size


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": "abc"}, 3),
        ({"S": "ü"}, 2),  # UTF-8 bytes, not characters
        ({"N": "42"}, 2),
        ({"B": b"\x00\x01"}, 2),
        ({"BOOL": False}, 1),
        ({"NULL": True}, 1),
        ({"SS": ["a", "bc"]}, 3),
        ({"NS": ["1", "22"]}, 4),
        ({"L": [{"S": "ab"}, {"N": "1"}]}, 3 + (1 + 2) + (1 + 2)),
        ({"M": {"a": {"S": "xy"}}}, 3 + 1 + 1 + 2),
        ({"M": {}}, 3),
    ],
)
def test_value_sizes(value, size):
    assert value_size(value) == size


def test_item_size_adds_names_and_values():
    item = {
        "pk": {"S": "S#shop#E#abc"},  # 2 + 12
        "sk": {"S": "EVENT"},  # 2 + 5
        "published": {"BOOL": False},  # 9 + 1
        "expires_at": {"N": "1795346674"},  # 10 + 6
    }
    assert item_size(item) == 14 + 7 + 10 + 16 == 47


def test_value_size_refuses_unknown_types():
    with pytest.raises(ValueError):
        value_size({"X": "?"})
    with pytest.raises(ValueError):
        value_size({"S": "a", "N": "1"})


# ---- units ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "transactional", "units"),
    [(0, False, 1), (1, False, 1), (1024, False, 1), (1025, False, 2), (1025, True, 4), (3000, True, 6)],
)
def test_write_units_per_started_kilobyte(size, transactional, units):
    assert write_units(size, transactional=transactional) == units


def test_read_units_per_started_4kb():
    assert read_units(0) == 1  # a key without an item is charged all the same
    assert read_units(4096) == 1
    assert read_units(4097) == 2
    assert read_units(4097, consistent=False) == 1.0
    assert read_units(100, consistent=False) == 0.5
    assert read_units(100, transactional=True) == 2
    assert read_units(8192, transactional=True) == 4


def test_query_rounds_the_sum_not_each_item():
    assert query_read_units([3000, 3000]) == 2  # 6,000 bytes -> 2 units; per item it would be 2 as well
    assert query_read_units([100] * 40) == 1  # 4,000 bytes: 1 unit, where 40 GetItems cost 40
    assert query_read_units([]) == 1
    assert query_read_units([5000], consistent=False) == 1.0


def test_put_counts_the_larger_of_old_and_new_item():
    meter = CapacityMeter({"t": ("pk", "sk")})
    assert meter.units("PutItem", {"TableName": "t", "Item": sized("a", 1500)}, {}).wru == 2
    assert meter.units("PutItem", {"TableName": "t", "Item": sized("a", 500)}, {}).wru == 2  # old was 1,500
    assert meter.units("PutItem", {"TableName": "t", "Item": sized("a", 500)}, {}).wru == 1
    assert meter.known_size("t", key("a")) == 500


def test_transaction_doubles_each_item():
    meter = CapacityMeter({"t": ("pk", "sk")})
    items = [
        {"Put": {"TableName": "t", "Item": sized("a", 100)}},
        {"Put": {"TableName": "t", "Item": sized("b", 1100)}},
    ]
    units = meter.units("TransactWriteItems", {"TransactItems": items}, {})
    assert units.wru == 2 + 4
    assert units.items_written == 2
    assert units.bytes_written == 1200


def test_failed_transaction_is_charged_but_stores_nothing():
    meter = CapacityMeter({"t": ("pk", "sk")})
    items = [{"Put": {"TableName": "t", "Item": sized("a", 2000)}}]
    assert meter.units("TransactWriteItems", {"TransactItems": items}, None, failed=True).wru == 4
    assert meter.known_size("t", key("a")) == 0


def test_batch_get_charges_each_key_found_or_not_and_skips_unprocessed():
    meter = CapacityMeter({"t": ("pk", "sk")})
    params = {"RequestItems": {"t": {"Keys": [key("found"), key("missing"), key("later")], "ConsistentRead": True}}}
    response = {
        "Responses": {"t": [sized("found", 5000)]},
        "UnprocessedKeys": {"t": {"Keys": [key("later")]}},
    }
    units = meter.units("BatchGetItem", params, response)
    assert units == Units(rru=2 + 1, items_read=1, keys_missing=1, bytes_read=5000)
    assert meter.known_size("t", key("found")) == 5000  # a read teaches the meter the item's size


def test_eventually_consistent_batch_get_costs_half():
    meter = CapacityMeter({"t": ("pk", "sk")})
    params = {"RequestItems": {"t": {"Keys": [key("a"), key("b")]}}}
    assert meter.units("BatchGetItem", params, {"Responses": {"t": [sized("a", 100)]}}).rru == 1.0


def test_batch_write_and_delete():
    meter = CapacityMeter({"t": ("pk", "sk")})
    meter.units("PutItem", {"TableName": "t", "Item": sized("old", 3000)}, {})
    params = {
        "RequestItems": {
            "t": [
                {"PutRequest": {"Item": sized("a", 1500)}},
                {"PutRequest": {"Item": sized("b", 100)}},
                {"DeleteRequest": {"Key": key("old")}},
            ]
        }
    }
    response = {"UnprocessedItems": {"t": [{"PutRequest": {"Item": sized("b", 100)}}]}}
    units = meter.units("BatchWriteItem", params, response)
    assert units.wru == 2 + 3  # a (1,500 bytes) + the deleted 3,000-byte item; b was not processed
    assert meter.known_size("t", key("old")) == 0


def test_on_item_sees_every_item_and_control_plane_calls_count_nothing():
    seen = []
    meter = CapacityMeter({"t": ("pk", "sk")}, on_item=lambda op, table, item, u: seen.append((op, u.wru)))
    items = [{"Put": {"TableName": "t", "Item": sized(pk, 100)}} for pk in ("a", "b")]
    meter.units("TransactWriteItems", {"TransactItems": items}, {})
    assert seen == [("TransactWriteItems", 2), ("TransactWriteItems", 2)]
    assert meter.units("DescribeTable", {"TableName": "t"}, {}) == Units()


# ---- EventBridge, Lambda, API Gateway -----------------------------------------------------------


def test_eventbridge_entry_size_and_chunks():
    entry = {
        "Source": "emma.ingest",  # 11
        "DetailType": "order.placed",  # 12
        "Detail": "{}",  # 2
        "EventBusName": "emma-events",  # not counted
        "Time": datetime(2026, 1, 1, tzinfo=UTC),  # 14
    }
    assert eventbridge_entry_size(entry) == 39
    assert eventbridge_entry_size({**entry, "Time": None, "Resources": ["arn:a"]}) == 25 + 5
    assert [eventbridge_billed_events(n) for n in (0, 65536, 65537, 200_000)] == [1, 1, 2, 4]


def test_lambda_cpu_share_and_billed_duration():
    assert lambda_cpu_share(1769) == 1.0
    assert lambda_cpu_share(4096) == 1.0
    assert lambda_cpu_share(1024) == pytest.approx(0.5789, abs=1e-4)
    # 1.769 ms of CPU at 1,024 MB takes 1.769 * 1769 / 1024 = 3.056 ms, plus 2 calls x 8 ms -> 19.06 -> 20
    assert lambda_billed_ms(1769, 2, per_call_ms=8, memory_mb=1024) == 20
    assert lambda_billed_ms(1769, 2, per_call_ms=8, memory_mb=1769) == 18
    assert lambda_billed_ms(0, 0, per_call_ms=8, memory_mb=1024) == 1


def test_api_gateway_meters_512_kb_increments():
    assert [api_gateway_billed_requests(n) for n in (0, 512 * 1024, 512 * 1024 + 1)] == [1, 1, 2]


PRICE_TABLE = {
    "services": {
        "apigateway_http": {"usd_per_million_requests": 1.0},
        "lambda_arm64": {"usd_per_gb_second": 0.0000133334, "usd_per_million_requests": 0.2},
        "dynamodb_on_demand": {"usd_per_million_wru": 0.625, "usd_per_million_rru": 0.125},
        "eventbridge": {"usd_per_million_custom_events": 1.0},
        "secrets_manager": {"usd_per_10k_api_calls": 0.05},
    }
}


def test_request_cost_by_service():
    usage = RequestUsage(
        request_bytes=1000, lambda_billed_ms=100, memory_mb=1024, wru=10, rru=4, eventbridge_events=3, secrets_calls=2
    )
    cost = request_cost(usage, PRICE_TABLE)
    assert cost == pytest.approx(
        {
            "api_gateway": 1e-6,
            "lambda_requests": 2e-7,
            "lambda_duration": 0.1 * 0.0000133334,  # 1 GB x 0.1 s
            "dynamodb_writes": 6.25e-6,
            "dynamodb_reads": 5e-7,
            "eventbridge": 3e-6,
            "secrets_manager": 1e-5,
            "publisher_lambda": 0.0,  # no outbox: no publisher invocation
        }
    )
    with_publisher = RequestUsage(
        request_bytes=1000,
        lambda_billed_ms=100,
        memory_mb=1024,
        wru=10,
        rru=4,
        eventbridge_events=1,
        secrets_calls=0,
        publisher_invocations=1,
        publisher_billed_ms=20,
        publisher_memory_mb=512,
    )
    # one invocation (2e-7) and 0.5 GB x 0.02 s
    assert request_cost(with_publisher, PRICE_TABLE)["publisher_lambda"] == pytest.approx(2e-7 + 0.01 * 0.0000133334)


def test_per_million_events():
    assert per_million_events({"a": 3e-6, "b": 0.0}, 3) == pytest.approx({"a": 1.0, "b": 0.0})
    with pytest.raises(ValueError):
        per_million_events({"a": 1e-6}, 0)


def test_price_table_has_what_the_cost_needs_and_says_it_was_not_rechecked():
    prices = json.loads(PRICES.read_text())
    usage = RequestUsage(1, 1, 1024, 1, 1, 1, 1)
    assert set(request_cost(usage, prices)) == set(request_cost(usage, PRICE_TABLE))
    assert prices["region"] == "us-east-1"
    assert "not re-checked" in prices["as_of"].lower() or "not re-checked" in prices["note"].lower()
    assert all(s["source"].startswith("https://aws.amazon.com/") for s in prices["services"].values())


# ---- payloads: every request a new delivery by a new customer ---------------------------------


def test_payloads_get_fresh_identities():
    from bench.payloads import ShopifyOrders, TrackerBatches
    from emma.sources.signatures import sign_base64

    orders = ShopifyOrders()
    a, b = orders.request("t", 1), orders.request("t", 2)
    assert a.body != b.body and a.headers["x-shopify-webhook-id"] != b.headers["x-shopify-webhook-id"]
    order = json.loads(a.body)
    assert b"lena.schmidt@example.de" not in a.body
    assert order["customer"]["id"] != 7008001 and order["customer"]["default_address"]["customer_id"] != 7008001
    assert order["customer"]["id"] != json.loads(b.body)["customer"]["id"]
    assert a.headers["x-shopify-hmac-sha256"] == sign_base64("shpss_local_elektro_emma", a.body)
    assert orders.request("t", 1, delivery_id="x").body == a.body  # same customer, another delivery

    batches = TrackerBatches()
    one, two = json.loads(batches.request("t", 1).body), json.loads(batches.request("t", 2).body)
    ids = lambda body, field: {c.get(field) for c in body["batch"]} - {None}  # noqa: E731
    assert not ids(one, "messageId") & ids(two, "messageId")
    assert not ids(one, "anonymousId") & ids(two, "anonymousId")
    assert "anon-9b1c" not in json.dumps(one)


def test_bench_sections_are_checked_and_kept_in_order():
    from bench import run as bench_run

    assert bench_run._sections(None) == list(bench_run.SECTIONS)
    assert bench_run._sections("schedule, ingest") == ["ingest", "schedule"]
    with pytest.raises(SystemExit, match=r"unknown section.*nope"):
        bench_run._sections("ingest,nope")


def test_calls_in_flight_together_are_one_wait():
    from bench.aws_calls import Call, sequential_waits

    def call(start, end):
        c = Call("dynamodb", "PutItem", {}, {}, None, "t")
        c.started, c.ended = start, end
        return c

    # lookup, the first alias, two aliases at once (overlapping), the profile
    calls = [call(0, 1), call(1, 2), call(2, 3), call(2.1, 3.2), call(3.2, 4)]
    assert sequential_waits(calls) == 4
    assert sequential_waits([call(0, 1), call(1, 2)]) == 2 and sequential_waits([]) == 0


def test_a_failed_section_keeps_the_others_and_resume_measures_only_the_rest(tmp_path, monkeypatch):
    """In a git repository of its own: the bench's own outputs (results, the soak's plot) written during the run do
    not make the tree dirty, so the resume is allowed; a resume of other sections or at another commit is refused;
    the cold start computed from the ingest section's AWS run is kept and comes back."""
    import subprocess

    from bench import run as bench_run

    repo = tmp_path / "repo"
    (repo / "bench").mkdir(parents=True)
    (repo / "bench" / "soak.svg").write_text("<svg/>")
    (repo / "code.py").write_text("x = 1\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.de"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], cwd=repo, check=True)
    monkeypatch.setattr(bench_run, "ROOT", repo)
    monkeypatch.setattr(bench_run, "RESULTS", repo / "bench" / "results.json")
    monkeypatch.setattr(bench_run, "findings", lambda results: [])
    monkeypatch.setattr(bench_run, "report", lambda results: "report")
    monkeypatch.setattr(bench_run, "cold_start", lambda aws, cold, prices, cpu_us: {"from": [aws, cold["ms"], cpu_us]})
    measured: list[str] = []
    failing = {"schedule"}

    def measure(name, plan, prices, output):
        if name in failing:
            raise RuntimeError(f"{name} broke")
        measured.append(name)
        (repo / "bench" / "soak.svg").write_text(f"<svg>{name}</svg>")  # the bench's own output changes
        if name == "cold_import":
            return {"cold_import": {"ms": 100}}
        if name == "ingest":
            return {
                "ingest": {"figure": 1},
                "aws": {"_run": "the-run"},
                "cpu": {"webhook": {"cpu_us_per_request": {"median": 7}}},
            }
        return {name: {"figure": len(measured)}}

    monkeypatch.setattr(bench_run, "measure_section", measure)
    out = repo / "bench" / "results.json"
    progress = repo / "bench" / "results.progress.json"
    command = ["--output", str(out), "--sections", "cold_import,ingest,rules,schedule,journeys"]
    with pytest.raises(RuntimeError, match="schedule broke"):
        bench_run.main(command)
    assert measured == ["cold_import", "ingest", "rules"] and not out.exists()
    kept = json.loads(progress.read_text())
    assert set(kept["sections"]) == {"cold_import", "ingest", "rules"}
    assert kept["sections"]["ingest"]["figures"]["cold_start"] == {"from": ["the-run", 100, 7]}

    with pytest.raises(SystemExit, match="same command at the same clean commit"):  # other sections
        bench_run.main(["--output", str(out), "--sections", "schedule,journeys", "--resume"])
    (repo / "code.py").write_text("x = 2\n")
    with pytest.raises(SystemExit, match="dirty worktree"):  # the code changed
        bench_run.main([*command, "--resume"])
    subprocess.run([*git, "commit", "-q", "-am", "two"], cwd=repo, check=True)
    with pytest.raises(SystemExit, match="same clean commit"):  # another commit
        bench_run.main([*command, "--resume"])
    subprocess.run([*git, "reset", "-q", "--hard", "HEAD~1"], cwd=repo, check=True)
    (repo / "bench" / "soak.svg").write_text("<svg>rules</svg>")  # as the failed run left it
    assert progress.exists()

    failing.clear()
    measured.clear()
    assert bench_run.main([*command, "--resume"]) == 0
    assert measured == ["schedule", "journeys"]
    results = json.loads(out.read_text())
    assert results["ingest"]["figure"] == 1 and results["rules"]["figure"] == 3 and results["journeys"]["figure"] == 2
    assert results["cold_start"] == {"from": ["the-run", 100, 7]}
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True).stdout
    assert set(results["measured_at"].values()) == {head.strip()}  # not "(dirty)": the plot is the bench's own
    assert not progress.exists()
