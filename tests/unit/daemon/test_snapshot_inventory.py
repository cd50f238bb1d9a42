"""Inventories: (de)serialisation, damage detection, selection by time, retention."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from daemon.core.errors import InventoryFormatError, SnapshotNotFoundError
from daemon.sync.layout import new_snapshot_id, snapshot_key
from daemon.sync.snapshots import (
    Inventory,
    InventoryEntry,
    SnapshotInfo,
    build_inventory,
    retained_snapshots,
    select_snapshot,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def inventory() -> Inventory:
    entries = [
        InventoryEntry("ITEM@1-2.zip", "b" * 64, "c" * 32, 20, "versions/ITEM@1-2.zip/" + "b" * 64),
        InventoryEntry("COLLECTION@1-1.zip", "a" * 64, "d" * 32, 10, None),
    ]
    return build_inventory("20260301T120000Z-abcdef", T0, "s3://b/p", "keys", entries)


def test_round_trip_and_determinism() -> None:
    inv = inventory()
    data = inv.to_json()
    assert Inventory.from_json(data, snapshot_id=inv.id) == inv
    assert data == build_inventory(inv.id, inv.created, inv.root, inv.versioning,
                                   reversed(inv.entries)).to_json()
    doc = json.loads(data)
    assert doc["object_count"] == 2 and doc["total_size"] == 30
    assert [o["key"] for o in doc["objects"]] == ["COLLECTION@1-1.zip", "ITEM@1-2.zip"]
    assert inv.entry("ITEM@1-2.zip") is not None and inv.entry("nope") is None


@pytest.mark.parametrize("damage", [
    lambda d: d.replace(b'"size": 20', b'"size": 21'),
    lambda d: d.replace(b"b" * 64, b"e" * 64, 1),
    lambda d: d.replace(b'"format": "aipsync-inventory/1"', b'"format": "other"'),
    lambda d: d[: len(d) // 2],
    lambda d: d.replace(b'"versioning": "keys"', b'"versioning": "maybe"'),
])
def test_damage_is_detected(damage) -> None:  # type: ignore[no-untyped-def]
    inv = inventory()
    with pytest.raises(InventoryFormatError):
        Inventory.from_json(damage(inv.to_json()), snapshot_id=inv.id)


def test_wrong_id_is_detected() -> None:
    with pytest.raises(InventoryFormatError, match="names itself"):
        Inventory.from_json(inventory().to_json(), snapshot_id="20990101T000000Z-000000")


def test_snapshot_ids_sort_by_time() -> None:
    a = new_snapshot_id(T0, "ffffff")
    b = new_snapshot_id(T0 + timedelta(seconds=1), "000000")
    assert a == "20260301T120000Z-ffffff" and a < b
    assert snapshot_key(a) == "snapshots/20260301T120000Z-ffffff.json"
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
