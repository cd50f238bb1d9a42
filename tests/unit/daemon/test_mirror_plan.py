"""The mirror's decisions: what to upload, what a snapshot says, and the plan as a merge of
staged files with the state database (a real SQLite file, a page at a time)."""

from __future__ import annotations

from pathlib import Path

from daemon.core.state import PAGE, CachedHash, RemoteRecord, open_state
from daemon.sync.layout import versioned_key
from daemon.sync.mirror import _plan, _planned, inventory_entry, needs_upload


def staged(name: str, sha: str, size: int = 10, parent: str | None = "1/2") -> CachedHash:
    return CachedHash(name, size, 1, 2, sha, "m" + sha, parent)


def remote(name: str, sha: str, size: int = 10, version_id: str | None = None,
           parent: str | None = None) -> RemoteRecord:
    return RemoteRecord(key=name, size=size, sha256=sha, md5="m" + sha, version_id=version_id,
                        parent=parent)


def test_new_changed_and_resized_files_are_uploaded_and_the_same_bytes_are_not() -> None:
    assert needs_upload(staged("A.zip", "a"), None)
    assert needs_upload(staged("A.zip", "a2"), remote("A.zip", "a"))
    assert needs_upload(staged("A.zip", "a", 11), remote("A.zip", "a", 10))
    assert not needs_upload(staged("A.zip", "a"), remote("A.zip", "a"))


def test_inventory_entries_name_the_uploaded_bytes_and_their_parent() -> None:
    rec = remote("A.zip", "a", version_id="v1", parent="1/7")
    keys = inventory_entry(rec, "keys")
    assert (keys.key, keys.version, keys.parent) == ("A.zip", versioned_key("A.zip", "a"), "1/7")
    assert inventory_entry(rec, "bucket").version == "v1"
    assert inventory_entry(remote("SITE@1-0.zip", "s", parent=""), "keys").parent is None


def test_the_plan_merges_staging_with_the_last_uploads(tmp_path: Path) -> None:
    with open_state(tmp_path) as state:
        state.record_hashes([staged("A.zip", "a"), staged("B.zip", "b2"), staged("S.zip", "s", 1),
                             staged("L.zip", "l", 100), staged("M.zip", "m", 50)])
        state.record_upload(remote("A.zip", "a"))
        state.record_upload(remote("B.zip", "b1"))
        state.record_upload(remote("GONE.zip", "g"))  # not staged: left alone
        plan = _plan(state, scanned_only=False)
        assert (plan.uploads, plan.skips, plan.overwrites) == (4, 1, 1)
        assert plan.bytes_to_upload == 10 + 1 + 100 + 50
        order = [(f.name, old is not None) for f, old in _planned(state, tmp_path)]
        # Largest first (big transfers start early), then by name.
        assert order == [("L.zip", False), ("M.zip", False), ("B.zip", True), ("S.zip", False)]


def test_a_plan_larger_than_a_page(tmp_path: Path) -> None:
    with open_state(tmp_path) as state:
        names = [f"ITEM@1-{n:05d}.zip" for n in range(PAGE * 2 + 7)]
        state.record_hashes(staged(n, n) for n in names)
        state.record_upload(remote(names[5], names[5]))
        plan = _plan(state, scanned_only=False)
        assert (plan.uploads, plan.skips) == (len(names) - 1, 1)
        planned = [f.name for f, _ in _planned(state, tmp_path)]
        assert planned == sorted(set(names) - {names[5]})
