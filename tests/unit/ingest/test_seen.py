"""A profile's memory of event ids (emma.ingest.seen): compact, bounded, and with a watermark that says
when the archive must be asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emma.ingest.seen import ENTRY_BYTES, KEEP_NEWEST, RECENT_HOURS, SPILL_AT, SeenIds, id_hash

NOW = datetime(2026, 12, 6, 10, 30, tzinfo=UTC)


def hashes(n, prefix="e"):
    return [id_hash("elektro-emma", f"{prefix}{i}") for i in range(n)]


def test_ids_are_six_bytes_per_shop_and_round_trip_with_their_hour():
    assert id_hash("a", "x") != id_hash("b", "x") and len(id_hash("a", "x")) == 6
    seen = SeenIds()
    seen.add(hashes(3), NOW)
    data = seen.to_bytes()
    assert len(data) == 3 * ENTRY_BYTES
    again = SeenIds.from_bytes(data)
    assert all(h in again for h in hashes(3)) and id_hash("elektro-emma", "other") not in again
    with pytest.raises(ValueError, match="whole number"):
        SeenIds.from_bytes(data[:-1])


def test_recent_ids_stay_and_aged_ones_move_together_once_enough_have_gathered():
    seen = SeenIds()
    old = NOW - timedelta(hours=RECENT_HOURS + 5)
    seen.add(hashes(SPILL_AT - 1, "old"), old)
    seen.add(hashes(KEEP_NEWEST, "new"), NOW)
    assert seen.take_aged(NOW) == {}  # fewer than SPILL_AT aged: they wait on the profile
    seen.add(hashes(1, "older"), old)
    seen.add(hashes(KEEP_NEWEST, "newer"), NOW)  # the newest stay whatever their age
    moved = seen.take_aged(NOW)
    assert sum(len(v) for v in moved.values()) == SPILL_AT and list(moved) == [old.date()]
    assert all(h not in seen for h in hashes(SPILL_AT - 1, "old")) and all(
        h in seen for h in hashes(KEEP_NEWEST, "new")
    )
    # the watermark: the end of the hour of the newest id moved
    assert seen.spilled_until == old.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    assert seen.needs_archive(old) and not seen.needs_archive(NOW - timedelta(hours=1))


def test_forced_spill_and_the_newest_are_kept():
    seen = SeenIds()
    seen.add(hashes(KEEP_NEWEST + 2), NOW - timedelta(days=10))
    moved = seen.take_aged(NOW, force=True)
    assert sum(len(v) for v in moved.values()) == 2 and len(seen) == KEEP_NEWEST


def test_a_merge_keeps_both_profiles_ids_and_the_later_watermark():
    a, b = SeenIds(), SeenIds(spilled_until=NOW - timedelta(days=2))
    a.add(hashes(2, "a"), NOW)
    b.add(hashes(2, "b"), NOW)
    a.merge(b)
    assert all(h in a for h in hashes(2, "a") + hashes(2, "b")) and a.spilled_until == NOW - timedelta(days=2)


def test_a_flood_keeps_the_profile_item_small_and_moves_the_watermark():
    from emma.ingest.seen import MAX_RECENT

    seen = SeenIds()
    seen.add(hashes(MAX_RECENT + 40), NOW - timedelta(hours=1))  # all recent
    moved = seen.take_aged(NOW)
    assert sum(len(v) for v in moved.values()) == 40 and len(seen) == MAX_RECENT
    assert seen.needs_archive(NOW - timedelta(hours=1)) and hashes(1)[0] not in seen  # the oldest went


def test_the_ids_received_since_a_time():
    seen = SeenIds()
    seen.add(hashes(2, "old"), NOW - timedelta(days=40))
    seen.add(hashes(2, "new"), NOW - timedelta(days=3))
    assert set(seen.received_since(NOW - timedelta(days=35), NOW)) == set(hashes(2, "new"))
