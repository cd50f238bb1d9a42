"""Parallel export: worker processes build and write item packages; bytes never change.

The exporter switches to worker processes from ``PARALLEL_MIN_ITEMS`` items up.  These tests
seed just enough items to take that path and check that it writes exactly what the
single-process path writes, and that a failure inside a worker leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ADMIN, SITE, RepoLocation, make_repo
from helpers.packager import folder_listing, seed, write_tx, zips

from aip.errors import AssetstoreCorruptError
from aip.packager import disseminator
from aip.packager.disseminator import ExportRequest, export
from aip.packager.pool import PARALLEL_MIN_ITEMS
from aip.repository import objects


@pytest.fixture(scope="module")
def many_items(tmp_path_factory: pytest.TempPathFactory) -> RepoLocation:
    location = make_repo(RepoLocation(tmp_path_factory.mktemp("parallel") / "repo"))
    seed(location, items=PARALLEL_MIN_ITEMS + 6, bitstream_size=300)
    return location


def _export(location: RepoLocation, out: Path, workers: int) -> None:
    out.mkdir()
    with location.opened() as repo:
        result = export(repo, ExportRequest(handle=SITE, eperson=ADMIN,
                                            output=out / "site.zip", recursive=True,
                                            workers=workers))
    assert result.written == len(list(out.iterdir()))


def test_worker_processes_write_the_same_bytes(many_items: RepoLocation,
                                               tmp_path: Path) -> None:
    _export(many_items, tmp_path / "one", workers=1)
    _export(many_items, tmp_path / "two", workers=2)
    one, two = zips(tmp_path / "one"), zips(tmp_path / "two")
    assert len(one) > PARALLEL_MIN_ITEMS
    assert one == two


@contextlib.contextmanager
def _corrupted(location: RepoLocation, handle: str) -> Iterator[None]:
    """The item's first stored bitstream overwritten (same size) for the block's length."""
    with write_tx(location) as tx:
        item = objects.item_model(tx, objects.item_id(tx, handle))
    key = item.bundles[0].bitstreams[0].key
    assert key is not None
    path = location.assetstore / key[0:2] / key[2:4] / key
    original = path.read_bytes()
    path.write_bytes(b"X" * len(original))
    try:
        yield
    finally:
        path.write_bytes(original)


def _failing_export(location: RepoLocation, out: Path) -> None:
    """A two-worker export that must fail on the corrupted bitstream of item 60."""
    out.mkdir()
    with _corrupted(location, "123456789/60"), location.opened() as repo, \
            pytest.raises(AssetstoreCorruptError):
        export(repo, ExportRequest(handle=SITE, eperson=ADMIN, output=out / "site.zip",
                                   recursive=True, workers=2))


def test_a_failure_in_a_worker_leaves_no_temp_file(many_items: RepoLocation,
                                                   tmp_path: Path) -> None:
    # The worker that packages the corrupted bitstream must fail the export.
    out = tmp_path / "out"
    _failing_export(many_items, out)
    assert not any(name.startswith(".aipsync-tmp-") for name in folder_listing(out))


def test_batches_committed_while_workers_run_give_the_same_bytes(
        many_items: RepoLocation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Small batches and small tasks: batches are made durable and renamed while later
    # tasks are still in the workers.
    _export(many_items, tmp_path / "one", workers=1)
    monkeypatch.setattr(disseminator, "BATCH_FILES", 7)
    monkeypatch.setattr(disseminator, "ITEMS_PER_TASK", 3)
    _export(many_items, tmp_path / "two", workers=2)
    assert zips(tmp_path / "one") == zips(tmp_path / "two")


def test_a_worker_failure_after_committed_batches_leaves_only_whole_packages(
        many_items: RepoLocation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _export(many_items, tmp_path / "whole", workers=1)
    whole = zips(tmp_path / "whole")
    monkeypatch.setattr(disseminator, "BATCH_FILES", 7)
    monkeypatch.setattr(disseminator, "ITEMS_PER_TASK", 3)
    out = tmp_path / "out"
    _failing_export(many_items, out)
    names = folder_listing(out)
    assert not any(name.startswith(".aipsync-tmp-") for name in names)
    written = zips(out)
    assert written, "batches before the failure were committed"
    assert "ITEM@123456789-60.zip" not in written
    # what was committed is whole: the same bytes as a clean export's
    assert {name: whole[name] for name in written} == written


def _children_named(word: str) -> list[int]:
    """Live child processes of this one whose command line holds ``word``."""
    me = str(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == me and word in cmdline:
            found.append(int(entry.name))
    return found


def test_the_workers_end_with_the_export_and_a_later_export_starts_others(
        many_items: RepoLocation, tmp_path: Path) -> None:
    """A backup mirrors, and the service waits for its next cycle, after the export: no
    worker process (nor any other helper process) stays behind once the export is done."""
    _export(many_items, tmp_path / "first", workers=2)
    assert _children_named("aip.packager.worker") == []
    assert _children_named("python") == []
    _export(many_items, tmp_path / "second", workers=2)
    assert _children_named("python") == []
    assert zips(tmp_path / "first") == zips(tmp_path / "second")
