from bench import cold_import


def test_the_summary_gives_import_alone_and_import_with_the_first_webhook_over_the_same_floor():
    raw = {
        "pass": [20.0, 22.0, 21.0],
        "floor": [221.0, 222.0, 220.0],
        "ingest": [321.0, 320.0, 330.0],
        "first_webhook": [521.0, 540.0, 520.0],
        "floor_first_request": [271.0, 270.0, 290.0],
    }
    cpu = [{"import_cpu_ms": 90.0 + n, "request_cpu_ms": 100.0 + n} for n in range(3)]
    floor_cpu = [{"import_cpu_ms": 60.0, "request_cpu_ms": 40.0 + n} for n in range(3)]
    summary = cold_import.ColdImport(3, raw, cpu, floor_cpu).summary()
    assert summary["interpreter_start_ms_median"] == 21.0
    assert summary["floor_import_ms_median"] == 200.0
    assert summary["ingest_import_ms_median"] == 300.0
    assert summary["ingest_over_floor_ratio"] == 1.5
    assert summary["ingest_import_and_first_webhook_ms_median"] == 500.0
    assert summary["ingest_import_and_first_webhook_over_floor_ratio"] == 2.5
    assert summary["first_webhook_child_cpu_ms_median"] == {"import_cpu_ms": 91.0, "request_cpu_ms": 101.0}
    # against the naive pipeline's handler with its own first request
    assert summary["floor_import_and_first_request_ms_median"] == 250.0
    assert summary["ingest_import_and_first_webhook_over_floor_with_first_request_ratio"] == 2.0
    assert summary["floor_first_request_child_cpu_ms_median"] == {"import_cpu_ms": 60.0, "request_cpu_ms": 41.0}


def test_without_the_first_webhook_the_summary_has_import_alone():
    raw = {"pass": [20.0], "floor": [220.0], "ingest": [320.0]}
    summary = cold_import.ColdImport(1, raw).summary()
    assert summary["ingest_over_floor_ratio"] == 1.5
    assert "ingest_import_and_first_webhook_ms_median" not in summary


def test_the_first_webhook_child_imports_the_handler_before_anything_of_its_own():
    """Only `time` (a module built into the interpreter) comes before the timed import."""
    lines = cold_import.FIRST_WEBHOOK.splitlines()
    timed = ["import time", "cpu0 = time.process_time()", "import ingest.handler", "cpu1 = time.process_time()"]
    assert lines[:4] == timed


def test_the_floors_first_request_times_the_same_imports_and_does_the_naive_pipelines_writes():
    lines = cold_import.FLOOR_FIRST_REQUEST.splitlines()
    assert lines[:5] == [
        "import time",
        "cpu0 = time.process_time()",
        "import boto3",
        "from aws_lambda_powertools import Logger",
        "cpu1 = time.process_time()",
    ]
    assert cold_import.FLOOR_FIRST_REQUEST.count("put_item(") == 2
    assert cold_import.FLOOR_FIRST_REQUEST.count("put_events(") == 1
