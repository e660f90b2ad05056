"""The rules benchmark: its arithmetic (bench/capacity.py, scheduled-job part) against hand-computed
examples, and the inputs it builds (definitions, synthetic profiles, the scheduled run's setup)."""

import itertools
from pathlib import Path

import pytest

from bench.capacity import (
    QUERY_PAGE_BYTES,
    Units,
    batch_get_units,
    paged_query_units,
    paged_query_units_for_bytes,
    query_pages,
    scale,
)

ROOT = Path(__file__).resolve().parents[3]
MB = 1024 * 1024


# ---- arithmetic -------------------------------------------------------------------------------


def test_units_add_field_by_field():
    a = Units(rru=1.5, wru=2, items_read=1, keys_missing=0, items_written=1, bytes_read=10, bytes_written=20)
    b = Units(rru=0.5, wru=1, items_read=2, keys_missing=1, items_written=0, bytes_read=5, bytes_written=0)
    assert a + b == Units(
        rru=2.0, wru=3, items_read=3, keys_missing=1, items_written=1, bytes_read=15, bytes_written=20
    )


def test_query_pages_end_with_the_item_that_reaches_1_mb():
    assert query_pages([]) == [0]  # an empty result is still one request
    assert query_pages([100, 200]) == [300]
    assert query_pages([MB // 2, MB // 2, 10]) == [MB, 10]
    assert query_pages([MB - 1, 2, 3]) == [MB + 1, 3]
    assert query_pages([MB]) == [MB]


def test_paged_query_units_round_each_page_and_halve_when_eventually_consistent():
    assert paged_query_units([]) == (1, 0.5)  # 1 unit at least, halved
    assert paged_query_units([]) == paged_query_units([0])
    assert paged_query_units([4096, 1]) == (1, 1.0)  # 4,097 bytes: 2 units, halved
    assert paged_query_units([4096, 1], consistent=True) == (1, 2.0)
    # 300 items of 5,000 bytes: page 1 ends at item 210 (1,050,000 bytes: 257 units), page 2 holds
    # 90 items (450,000 bytes: 110 units); eventually consistent: 128.5 + 55
    assert paged_query_units([5000] * 300) == (2, 183.5)


def test_paged_query_units_for_a_total_size():
    assert paged_query_units_for_bytes(0) == (1, 0.5)
    assert paged_query_units_for_bytes(4097) == (1, 1.0)
    assert paged_query_units_for_bytes(QUERY_PAGE_BYTES) == (1, 128.0)
    assert paged_query_units_for_bytes(3 * MB + 5000) == (4, 3 * 128 + 1.0)
    assert paged_query_units_for_bytes(2.5 * MB, consistent=True) == (3, 2 * 256 + 128)


def test_batch_get_charges_every_key_found_or_missing():
    # a 4,312-byte profile (2 units), an 850-byte derived state (1), a missing marker (1)
    assert batch_get_units([4312, 850, 0]) == 4.0
    assert batch_get_units([4312, 850, 0], consistent=False) == 2.0
    assert batch_get_units([]) == 0


def test_scale_is_linear():
    assert scale(9550, 100_000, 1_000_000) == 95_500
    assert scale(17.0, 2, 3) == 25.5
    with pytest.raises(ValueError):
        scale(1, 0, 10)


# ---- the inputs --------------------------------------------------------------------------------


def test_bench_definitions_are_50_triggers_and_20_valid_segments():
    from bench.definitions import bench_definitions, describe

    defs = bench_definitions(ROOT)
    info = describe(defs)
    assert (info["triggers"], info["segments"]) == (50, 32)
    assert info["absence_triggers"] >= 5 and info["lifecycle_stages"] == 6
    ids = [s.id for s in defs.segments]

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            own = [node["segment"]] if isinstance(node.get("segment"), str) else []
            return own + [r for v in node.values() for r in refs(v)]
        return [r for v in node for r in refs(v)] if isinstance(node, list) else []

    ordered = {s.id: refs(s.model_dump(mode="json", by_alias=True)) for s in defs.segments}
    assert any(ordered.values())  # shipped or generated, some segments refer to others
    for segment, referred in ordered.items():  # each after the segments it refers to
        assert all(ids.index(r) < ids.index(segment) for r in referred), (segment, referred)


def test_synthetic_profiles_are_valid_profile_documents():
    from bench.synthetic import NOW, Population, Stream
    from emma.events.model import EVENT_ADAPTER
    from emma.profiles.model import MAX_EVENT_TIMES, Profile

    customers = list(Population(seed=5).customers(60))
    for c in customers:
        profile = Profile.model_validate(c.doc)
        stored = profile.model_dump(mode="json")
        assert stored == c.doc  # stored exactly as the repository keeps profiles
        counted = [r for r in profile.orders.recent if r.counted]
        assert profile.orders.count == len(counted)
        assert float(profile.orders.revenue) == pytest.approx(sum(float(r.total) for r in counted), abs=0.05)
        for type_, times in profile.event_times.items():
            assert times == sorted(times) and len(times) <= MAX_EVENT_TIMES
            assert profile.event_counts[type_] >= len(times)
            assert times[-1] <= NOW.timestamp()
        event = EVENT_ADAPTER.validate_python(c.last_event)
        assert event.customer.profile_id == c.profile_id
        newest = {t[-1] for type_, t in profile.event_times.items() if type_.split(".")[0] in ("page", "email")}
        newest |= {t[-1] for type_, t in profile.event_times.items() if type_ in ("order.placed", "product.viewed")}
        newest |= {t[-1] for type_, t in profile.event_times.items() if type_.split(".")[0] in ("cart", "checkout")}
        assert int(event.occurred_at.timestamp()) == max(newest)  # its newest visit, order or email event
    assert any(c.customer_id is None for c in customers) and any(c.doc["orders"]["count"] > 2 for c in customers)
    events = [EVENT_ADAPTER.validate_python(e) for e in Stream(customers).events(50)]
    assert len(events) == 50 and all(a.occurred_at <= b.occurred_at for a, b in itertools.pairwise(events))
    assert len({len(Population.ids(i, True)[0]) for i in (0, 99_999, 10**7)}) == 1  # clone items: same size


def test_the_scheduled_run_reads_only_due_timers():
    from bench import schedule

    result = schedule.measure(ROOT, profiles=600, templates=30)
    run, db = result["run"], result["dynamodb"]
    assert run["timers_due"] == run["profiles_loaded"] == db["requests"]["BatchGetItem"]
    assert run["evaluated"] + run["superseded"] == run["timers_due"]
    assert run["profiles_distinct"] < result["profiles"]
    assert db["requests"]["Query"] >= 16
    assert "load: marker (missing)" not in db["rru"]  # a timer's evaluation leaves and reads no marker
    assert "delete_timers BatchWriteItem" not in db["wru"]  # due timers expire, they are not deleted
    # what the service wrote, item by item, is what the run's WRU add up to (the cursor and the prior aside)
    by_item = sum(v["wru"] for v in db["wru_by_item"].values())
    assert by_item == pytest.approx(
        db["wru_total"] - db["wru"]["set_cursor PutItem"] - db["wru"].get("put_prior PutItem", 0)
    )
    assert result["clones_per_template"] == 20
