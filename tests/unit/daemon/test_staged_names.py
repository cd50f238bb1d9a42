"""``daemon.sync.scan.StagedNames``: staging's finished AIPs as a collection read from the
folder when asked (what a source is handed instead of a set of every name)."""

from __future__ import annotations

from pathlib import Path

from daemon.sync.scan import StagedNames


def test_only_finished_aips_count_and_the_folder_is_read_when_asked(tmp_path: Path) -> None:
    names = StagedNames(tmp_path)
    assert len(names) == 0 and list(names) == []  # (the folder is empty)
    for name in ("ITEM@1-1.zip", "COLLECTION@1-2.zip", ".hidden.zip", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "DIR.zip").mkdir()  # a folder is no AIP
    # Read now, not when it was made:
    assert sorted(names) == ["COLLECTION@1-2.zip", "ITEM@1-1.zip"]
    assert len(names) == 2
    assert "ITEM@1-1.zip" in names
    assert ".hidden.zip" not in names and "notes.txt" not in names
    assert "DIR.zip" not in names and "ITEM@1-9.zip" not in names
    assert 42 not in names  # type: ignore[comparison-overlap]
    (tmp_path / "ITEM@1-1.zip").unlink()
    assert "ITEM@1-1.zip" not in names and len(names) == 1


def test_a_missing_folder_holds_nothing(tmp_path: Path) -> None:
    names = StagedNames(tmp_path / "gone")
    assert len(names) == 0 and list(names) == [] and "ITEM@1-1.zip" not in names
