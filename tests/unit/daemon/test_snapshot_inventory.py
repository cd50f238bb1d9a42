"""Snapshots: ids and keys, selection by time, retention.

The inventory format is tested in tests/unit/daemon/test_inventory_file.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from daemon.core.errors import SnapshotNotFoundError
from daemon.sync.layout import new_snapshot_id, snapshot_id_of, snapshot_key
from daemon.sync.snapshots import SnapshotInfo, retained_snapshots, select_snapshot

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_snapshot_ids_sort_by_time() -> None:
    a = new_snapshot_id(T0, "ffffff")
    b = new_snapshot_id(T0 + timedelta(seconds=1), "000000")
    assert a == "20260301T120000Z-ffffff" and a < b
    assert snapshot_key(a) == "snapshots/20260301T120000Z-ffffff.jsonl"
    assert snapshot_id_of(snapshot_key(a)) == a
    assert snapshot_id_of("snapshots/20260301T120000Z-ffffff.json") == a  # format 1
    assert snapshot_id_of("snapshots/x/y.jsonl") is None
    assert snapshot_id_of("versions/a.jsonl") is None
    eastern = timezone(timedelta(hours=-5))
    assert new_snapshot_id(T0.astimezone(eastern), "x") == "20260301T120000Z-x"


SNAPS = [SnapshotInfo(f"s{i}", T0 + timedelta(days=i), i, i * 10) for i in range(5)]


def test_select_by_time_picks_newest_not_newer() -> None:
    assert select_snapshot(SNAPS).id == "s4"
    assert select_snapshot(SNAPS, at=T0 + timedelta(days=2, hours=5)).id == "s2"
    assert select_snapshot(SNAPS, at=T0 + timedelta(days=2)).id == "s2"  # inclusive
    assert select_snapshot(SNAPS, at=T0 + timedelta(days=30)).id == "s4"
    assert select_snapshot(SNAPS, snapshot_id="s1").id == "s1"
    with pytest.raises(SnapshotNotFoundError) as info:
        select_snapshot(SNAPS, at=T0 - timedelta(seconds=1))
    assert info.value.exit_code == 53
    with pytest.raises(SnapshotNotFoundError):
        select_snapshot(SNAPS, snapshot_id="zzz")
    with pytest.raises(SnapshotNotFoundError):
        select_snapshot([])
    with pytest.raises(ValueError):
        select_snapshot(SNAPS, at=datetime(2026, 3, 2))


def test_retention_keeps_newest_n_or_young_and_always_the_newest() -> None:
    now = T0 + timedelta(days=5)
    assert retained_snapshots(SNAPS, keep_snapshots=2, keep_days=0, now=now) == {"s4", "s3"}
    assert retained_snapshots(SNAPS, keep_snapshots=1, keep_days=3, now=now) == {
        "s4", "s3", "s2"}
    assert retained_snapshots(SNAPS, keep_snapshots=0, keep_days=0, now=now) == {"s4"}
