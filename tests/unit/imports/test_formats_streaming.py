"""Reading streams: memory does not grow with the file, and a record is yielded after reading only the
piece of the file it is in. (Measured once, too slow for the suite: a 200,000-row CSV of 19 MB peaks at
1.4 MB of Python allocations, a 200,000-order JSON array of 38 MB at 1.8 MB.)"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from emma.imports.formats import ReadOptions, read
from emma.imports.model import CustomerRecord, ImportKind, OrderRecord

PEAK_LIMIT = 16 * 1024 * 1024
GROWTH_LIMIT = 128 * 1024


class Counting:
    """A stream with only ``read`` (as the import service's digesting wrapper), counting bytes read."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self.read_bytes += len(data)
        return data

    def close(self) -> None:
        self._file.close()


def customers_csv(path: Path, rows: int, unique: bool = True) -> Path:
    """``unique`` False: every row the same customer (pydantic keeps up to 16,384 distinct short strings
    in a cache of its own, which would fill while the first thousands of distinct records are read)."""
    with path.open("w", encoding="utf-8") as out:
        out.write("customer_id,email,first_name,created_at,email_consent,email_consent_at,email_consent_source\n")
        out.writelines(
            f"c{i},user{i}@example.com,Name {i},2023-01-01T10:00:00Z,granted,2023-01-01T10:00:00Z,form\n"
            for i in (range(rows) if unique else [0] * rows)
        )
    return path


def orders_json(path: Path, orders: int, unique: bool = True) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write("[\n")
        for i in range(orders):
            n = i if unique else 0
            order = {
                "order_id": f"o{n}",
                "email": f"user{n}@example.com",
                "placed_at": "2023-01-01T10:00:00Z",
                "currency": "EUR",
                "total": 25.8,
                "items": [{"product_id": "p1", "quantity": 2, "price": 12.9}],
            }
            out.write(("" if i == 0 else ",\n") + json.dumps(order))
        out.write("\n]\n")
    return path


def peaks_while_reading(kind: ImportKind, path: Path, warm_up: int = 2_500) -> tuple[int, int, int, int]:
    """Records read, the last one's line, the peak of Python allocations while reading the first
    ``warm_up`` records, and the peak while reading all the others (the peak reset in between)."""
    tracemalloc.start()
    try:
        count = last = first_peak = 0
        with path.open("rb") as stream:
            for item in read(kind, path.name, stream, ReadOptions()):
                assert isinstance(item, CustomerRecord | OrderRecord), item
                count, last = count + 1, item.line
                if count == warm_up:
                    first_peak = tracemalloc.get_traced_memory()[1]
                    tracemalloc.reset_peak()
        return count, last, first_peak, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("kind", "write", "records"),
    [(ImportKind.CUSTOMERS, customers_csv, 10_000), (ImportKind.ORDERS, orders_json, 6_000)],
    ids=["csv", "json-array"],
)
def test_memory_does_not_grow_with_the_records_read(tmp_path, kind, write, records):
    path = write(tmp_path / f"file.{'csv' if kind == ImportKind.CUSTOMERS else 'json'}", records, unique=False)
    count, last, first_peak, rest_peak = peaks_while_reading(kind, path)
    assert (count, last) == (records, records + 1)
    assert first_peak < PEAK_LIMIT
    # Reading thousands more records needs no more than the first 2,500 did (which held every piece of text
    # in flight: 64 KB chunks, up to 256 KB of JSON text before the part read is dropped).
    assert rest_peak < first_peak + GROWTH_LIMIT, f"{first_peak / 1e6:.2f} MB, then {rest_peak / 1e6:.2f} MB"


def test_the_first_record_comes_after_reading_only_the_first_pieces(tmp_path):
    for kind, path, records_in_file in (
        (ImportKind.CUSTOMERS, customers_csv(tmp_path / "customers.csv", 12_000), 12_000),
        (ImportKind.ORDERS, orders_json(tmp_path / "orders.json", 6_000), 6_000),
    ):
        stream = Counting(path)
        try:
            records = read(kind, path.name, stream, ReadOptions())
            first = next(records)
            assert first.line == 2
            assert stream.read_bytes <= 128 * 1024 < path.stat().st_size / 8
            assert 1 + sum(1 for _ in records) == records_in_file
            assert stream.read_bytes == path.stat().st_size
        finally:
            stream.close()
