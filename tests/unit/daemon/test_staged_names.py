"""``daemon.sync.scan.StagedNames``: staging's finished AIPs as a collection read from the
folder when asked (what a source is handed instead of a set of every name); an export's
names on their way into staging (``packages_in``, ``name_set``, the move) and the hashing of
what is staged (its progress)."""

from __future__ import annotations

from pathlib import Path

from aip.progress import Progress, reporting
from aip.spill import SpillList
from daemon.core.state import PAGE, open_state
from daemon.source.base import name_set, packages_in
from daemon.sync.scan import StagedNames, scan_staging
from daemon.sync.staging import _move_into


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


def test_an_export_moves_into_staging_items_first_and_the_site_last(tmp_path: Path) -> None:
    """The written names are read from the export folder (a SpillList, unsorted) and moved
    rank by rank; the names expected in staging answer membership from a temp database."""
    out, staging = tmp_path / "export", tmp_path / "staging"
    out.mkdir()
    staging.mkdir()
    names = ["SITE@1-0.zip", "COMMUNITY@1-1.zip", "COLLECTION@1-2.zip",
             *(f"ITEM@1-{n}.zip" for n in range(3, 5003))]
    for name in names:
        (out / name).write_bytes(b"x")
    (out / "notes.txt").write_text("not an AIP")
    written = packages_in(out)
    assert isinstance(written, SpillList) and sorted(written) == sorted(names)
    expected = name_set(written)
    assert expected.spilled and "ITEM@1-4000.zip" in expected and "notes.txt" not in expected
    moved = list(_move_into(staging, out, written))
    assert moved[-3:] == ["COLLECTION@1-2.zip", "COMMUNITY@1-1.zip", "SITE@1-0.zip"]
    assert sorted(moved[:-3]) == sorted(names[3:])
    assert sorted(p.name for p in staging.iterdir()) == sorted(names)


def test_the_hashing_progress_knows_its_totals_from_the_first_report(tmp_path: Path) -> None:
    """More files than one page of the state's scan table: the first report already says
    how many files and bytes (it used to grow a page at a time: "60,001 of 62,000")."""
    staging = tmp_path / "staging"
    staging.mkdir()
    count = PAGE + 500
    for n in range(count):
        (staging / f"ITEM@1-{n}.zip").write_bytes(b"x" * 10)
    reports: list[Progress] = []
    with open_state(tmp_path / "state") as state, reporting(reports.append):
        assert scan_staging(staging, state, workers=2).hashed == count
    hashing = [r for r in reports if r.phase == "hash"]
    assert hashing[0].objects_total == count and hashing[0].bytes_total == 10 * count
    assert hashing[-1].finished and hashing[-1].objects_done == count
