"""plan_mirror and inventory_entries: pure decisions, no I/O."""

from __future__ import annotations

from pathlib import Path

from daemon.core.state import RemoteRecord
from daemon.sync.layout import versioned_key
from daemon.sync.mirror import inventory_entries, plan_mirror
from daemon.sync.scan import StagedFile


def staged(name: str, sha: str, size: int = 10) -> StagedFile:
    return StagedFile(name, Path("/staging"), size, 1, 2, sha, "m" + sha)


def remote(name: str, sha: str, size: int = 10, version_id: str | None = None) -> RemoteRecord:
    return RemoteRecord(key=name, size=size, sha256=sha, md5="m" + sha, version_id=version_id)


def test_new_files_are_uploaded() -> None:
    plan = plan_mirror([staged("A.zip", "a"), staged("B.zip", "b")], {})
    assert [f.name for f in plan.uploads] == ["A.zip", "B.zip"]
    assert plan.skips == () and plan.overwrites == frozenset()


def test_same_sha_is_skipped_and_changed_sha_is_uploaded() -> None:
    plan = plan_mirror([staged("A.zip", "a"), staged("B.zip", "b2")],
                       {"A.zip": remote("A.zip", "a"), "B.zip": remote("B.zip", "b1")})
    assert [f.name for f in plan.uploads] == ["B.zip"]
    assert [f.name for f in plan.skips] == ["A.zip"]
    assert plan.overwrites == frozenset({"B.zip"})


def test_remote_keys_not_staged_are_left_alone() -> None:
    plan = plan_mirror([staged("A.zip", "a")], {"A.zip": remote("A.zip", "a"),
                                                "GONE.zip": remote("GONE.zip", "g")})
    assert plan.uploads == () and [f.name for f in plan.skips] == ["A.zip"]


def test_largest_first_and_bytes() -> None:
    plan = plan_mirror([staged("S.zip", "s", 1), staged("L.zip", "l", 100),
                        staged("M.zip", "m", 50)], {})
    assert [f.name for f in plan.uploads] == ["L.zip", "M.zip", "S.zip"]
    assert plan.bytes_to_upload == 151


def test_size_difference_alone_forces_upload() -> None:
    plan = plan_mirror([staged("A.zip", "a", 11)], {"A.zip": remote("A.zip", "a", 10)})
    assert [f.name for f in plan.uploads] == ["A.zip"]


def test_inventory_entries_name_only_uploaded_bytes() -> None:
    files = [staged("A.zip", "a"), staged("B.zip", "b")]
    recs = {"A.zip": remote("A.zip", "a", version_id="v1")}
    keys = inventory_entries(files, recs, "keys")
    assert [(e.key, e.version) for e in keys] == [("A.zip", versioned_key("A.zip", "a"))]
    bucket = inventory_entries(files, recs, "bucket")
    assert [(e.key, e.version) for e in bucket] == [("A.zip", "v1")]
