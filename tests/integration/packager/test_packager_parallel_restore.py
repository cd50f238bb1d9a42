"""Parallel restore: worker processes read packages ahead of the ingest; the result never
changes.

A recursive ingest hands the packages it will visit next to worker processes
(``aip.packager.prepare``) once ``PARALLEL_MIN_ITEMS`` are expected.  These tests restore a
site just large enough to take that path and compare it with a one-process restore of the
same packages, and check that a damaged package met half-way fails the restore at that
package, leaving the repository and its assetstore as they were.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import ADMIN, RepoLocation, asset_files, dump_text, make_repo, snapshot
from helpers.packager import export, ingest, packager, rewrite_zip, seed

from aip import constants as C
from aip.packager import prepare
from aip.packager.pool import PARALLEL_MIN_ITEMS

DAMAGED = "ITEM@123456789-60.zip"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site of PARALLEL_MIN_ITEMS + 6 items exported whole; its SITE package."""
    root = tmp_path_factory.mktemp("parallel-restore")
    source = make_repo(RepoLocation(root / "source"))
    seed(source, items=PARALLEL_MIN_ITEMS + 6, bitstream_size=300, bitstreams=2)
    out = root / "out"
    out.mkdir()
    export(source, out / "site.zip")
    assert (out / DAMAGED).is_file()
    return out / "site.zip"


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The worker count of every pool the prefetcher starts."""
    started: list[int] = []
    real = prepare.process_pool

    def counting(workers: int, **kwargs: Any) -> Any:
        started.append(workers)
        return real(workers, **kwargs)

    monkeypatch.setattr(prepare, "process_pool", counting)
    yield started


def _restore(folder: Path, package: Path, *flags: str, workers: int,
             into: RepoLocation | None = None, expect: int = 0) -> RepoLocation:
    location = into or make_repo(RepoLocation(folder))
    ingest(location, package, "--workers", str(workers), *flags, expect=expect)
    return location


def _damaged_copy(site: Path, folder: Path,
                  change: Callable[[str, bytes], tuple[str, bytes] | None]) -> Path:
    """The exported site copied to ``folder`` with ``DAMAGED`` rewritten by ``change``."""
    shutil.copytree(site.parent, folder)
    rewrite_zip(site.parent / DAMAGED, folder / DAMAGED, change)
    return folder / site.name


def _flip_bitstream(name: str, data: bytes) -> tuple[str, bytes]:
    """The first bitstream's bytes changed, its size kept: only its checksum tells."""
    if name.startswith("bitstream_") and data:
        return name, bytes([data[0] ^ 0xFF]) + data[1:]
    return name, data


def test_worker_processes_restore_what_one_process_restores(
        site: Path, tmp_path: Path, pools: list[int]) -> None:
    one = _restore(tmp_path / "one", site, "-r", "-a", "-f", workers=1)
    assert pools == []
    two = _restore(tmp_path / "two", site, "-r", "-a", "-f", workers=2)
    assert pools == [2], "the parallel path was not taken"
    assert dump_text(one) == dump_text(two)
    assert len(asset_files(one)) == len(asset_files(two))


def test_replace_and_keep_existing_in_parallel(site: Path, tmp_path: Path,
                                               pools: list[int]) -> None:
    one = _restore(tmp_path / "one", site, "-r", "-a", "-f", workers=1)
    two = _restore(tmp_path / "two", site, "-r", "-a", "-f", workers=1)
    whole = dump_text(one)
    # Replacing everything in a full repository, through workers.
    _restore(tmp_path, site, "-r", "-a", "-f", workers=2, into=two)
    assert dump_text(two) == whole
    assert pools == [2]


def test_keep_existing_in_parallel_reads_ahead_without_storing(
        site: Path, tmp_path: Path, pools: list[int]) -> None:
    # Keep-existing may skip most packages: workers parse them, the ingest stores the files.
    one = _restore(tmp_path / "one", site, "-r", "-a", "-k", workers=1)
    two = _restore(tmp_path / "two", site, "-r", "-a", "-k", workers=2)
    assert pools == [2]
    assert dump_text(one) == dump_text(two)
    assert len(asset_files(one)) == len(asset_files(two))


def _break_manifest(name: str, data: bytes) -> tuple[str, bytes]:
    """The manifest no longer well-formed XML."""
    if name == "mets.xml":
        broken = data.replace(b"</mets>", b"</notmets>", 1)
        assert broken != data
        return name, broken
    return name, data


@pytest.mark.parametrize(("change", "code"), [
    pytest.param(_flip_bitstream, C.EXIT_CHECKSUM, id="checksum"),
    pytest.param(_break_manifest, C.EXIT_MANIFEST_PARSE, id="manifest"),
])
def test_a_damaged_package_half_way_fails_there_and_changes_nothing(
        site: Path, tmp_path: Path, pools: list[int],
        change: Callable[[str, bytes], tuple[str, bytes] | None], code: int) -> None:
    damaged = _damaged_copy(site, tmp_path / "damaged", change)
    fresh = make_repo(RepoLocation(tmp_path / "fresh"))
    before = snapshot(fresh)
    result = _restore(tmp_path, damaged, "-r", "-a", "-f", workers=2, into=fresh,
                      expect=code)
    assert pools == [2]
    assert result is fresh
    # Nothing written: no row, and no file a worker stored ahead (no orphan, no temp file).
    assert snapshot(fresh) == before


def test_the_error_names_the_damaged_package(site: Path, tmp_path: Path,
                                             pools: list[int]) -> None:
    damaged = _damaged_copy(site, tmp_path / "damaged", _flip_bitstream)
    fresh = make_repo(RepoLocation(tmp_path / "fresh"))
    argv = ["-r", "-a", "-f", "-t", "AIP", "-e", ADMIN, "-u", str(damaged)]
    one = packager(fresh, "--workers", "1", *argv, expect=C.EXIT_CHECKSUM)
    two = packager(fresh, "--workers", "2", *argv, expect=C.EXIT_CHECKSUM)
    assert pools == [2]
    assert DAMAGED in one.err
    assert one.err.strip().splitlines()[-1] == two.err.strip().splitlines()[-1]
