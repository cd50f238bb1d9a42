"""``packager -d`` with bad input: a clear one-line error, the documented exit code, and
nothing at all in the output folder (no package, no temporary file)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import SITE, RepoLocation, assert_one_line_error, repo_cli, snapshot
from helpers.packager import export, folder_listing, packager

from aip import constants as C


@pytest.fixture
def item_handle(seeded: RepoLocation) -> str:
    import json

    from helpers import dump_text

    return str(json.loads(dump_text(seeded))["items"][0]["handle"])


@pytest.mark.parametrize(("handle", "fragment"), [
    ("123456789/9999", "'123456789/9999' not found"),
    ("987654321/1", "'987654321/1' not found"),
])
def test_unknown_handle(seeded: RepoLocation, out: Path, handle: str, fragment: str) -> None:
    result = export(seeded, out / "x.zip", handle, expect=C.EXIT_NOT_FOUND)
    assert_one_line_error(result, C.EXIT_NOT_FOUND, fragment)
    assert folder_listing(out) == set()


def test_malformed_handle(seeded: RepoLocation, out: Path) -> None:
    result = export(seeded, out / "x.zip", "not-a-handle", expect=C.EXIT_HANDLE_FORMAT)
    assert_one_line_error(result, C.EXIT_HANDLE_FORMAT, "not-a-handle")
    assert folder_listing(out) == set()


def test_unknown_eperson(seeded: RepoLocation, out: Path) -> None:
    result = export(seeded, out / "x.zip", eperson="nobody@example.org",
                    expect=C.EXIT_NOT_FOUND)
    assert_one_line_error(result, C.EXIT_NOT_FOUND, "nobody@example.org")
    assert folder_listing(out) == set()


def test_non_administrator_may_not_export_the_site(seeded: RepoLocation, out: Path) -> None:
    repo_cli(seeded, "create-eperson", "--email", "joe@example.org")
    for recursive in (True, False):
        result = export(seeded, out / "x.zip", SITE, recursive=recursive,
                        eperson="joe@example.org", expect=C.EXIT_PERMISSION)
        assert_one_line_error(result, C.EXIT_PERMISSION, "joe@example.org",
                              "an administrator is needed")
    assert folder_listing(out) == set()


def test_e_person_without_read_on_the_object(seeded: RepoLocation, out: Path,
                                             item_handle: str) -> None:
    repo_cli(seeded, "create-eperson", "--email", "joe@example.org")
    repo_cli(seeded, "clear-policies", item_handle)
    result = export(seeded, out / "x.zip", item_handle, recursive=False,
                    eperson="joe@example.org", expect=C.EXIT_PERMISSION)
    assert_one_line_error(result, C.EXIT_PERMISSION, f"read {item_handle}")
    assert folder_listing(out) == set()


@pytest.mark.parametrize(("options", "fragment"), [
    (("fooBar=1",), "unknown export option 'fooBar'"),
    (("filterbundles=TEXT",), "unknown export option 'filterbundles'"),
    (("unauthorized=maybe",), "unauthorized"),
    (("validate=perhaps",), "validate"),
    (("=x",), "expected name=value"),
    (("updatedAfter=2020-01-01",), "Invalid date passed in via 'updatedAfter' option"),
    (("updatedAfter=not a date",), "include both a day and time"),
])
def test_bad_option(seeded: RepoLocation, out: Path, options: tuple[str, ...],
                    fragment: str) -> None:
    result = export(seeded, out / "x.zip", SITE, *options, expect=C.EXIT_BAD_OPTION)
    assert_one_line_error(result, C.EXIT_BAD_OPTION, fragment)
    assert folder_listing(out) == set()


def test_unknown_package_type(seeded: RepoLocation, out: Path) -> None:
    result = packager(seeded, "-d", "-t", "METS", "-e", "admin@example.org", "-i", SITE,
                      str(out / "x.zip"), expect=C.EXIT_USAGE)
    assert_one_line_error(result, C.EXIT_USAGE, "METS")
    assert folder_listing(out) == set()


def test_missing_identifier(seeded: RepoLocation, out: Path) -> None:
    result = packager(seeded, "-d", "-t", "AIP", "-e", "admin@example.org",
                      str(out / "x.zip"), expect=C.EXIT_USAGE)
    assert_one_line_error(result, C.EXIT_USAGE, "-i")
    assert folder_listing(out) == set()


def test_output_folder_missing(seeded: RepoLocation, tmp_path: Path) -> None:
    result = export(seeded, tmp_path / "nowhere" / "x.zip", expect=C.EXIT_OUTPUT)
    assert_one_line_error(result, C.EXIT_OUTPUT, "nowhere", "no such folder")
    assert not (tmp_path / "nowhere").exists()


def test_output_parent_is_a_file(seeded: RepoLocation, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    result = export(seeded, tmp_path / "afile" / "x.zip", expect=C.EXIT_OUTPUT)
    assert_one_line_error(result, C.EXIT_OUTPUT, "afile")
    assert (tmp_path / "afile").read_text() == "x"


def test_output_name_is_a_folder(seeded: RepoLocation, out: Path) -> None:
    """The package cannot take the place of a folder: error, and no temporary file left."""
    (out / "site.zip").mkdir()
    result = export(seeded, out / "site.zip", expect=C.EXIT_OUTPUT)
    assert_one_line_error(result, C.EXIT_OUTPUT, "site.zip")
    assert folder_listing(out) == {"site.zip"}
    assert list((out / "site.zip").iterdir()) == []


def test_unwritable_output_folder(seeded: RepoLocation, out: Path) -> None:
    """A folder the process may not write into (root may write anywhere but in /proc)."""
    folder = out if os.geteuid() != 0 else Path("/proc")
    out.chmod(0o555)
    try:
        result = export(seeded, folder / "site.zip", expect=C.EXIT_OUTPUT)
    finally:
        out.chmod(0o755)
    assert_one_line_error(result, C.EXIT_OUTPUT, str(folder / "site.zip"))
    left = {n for n in folder_listing(folder) if n == "site.zip" or n.startswith(C.TEMP_PREFIX)}
    assert left == set()


def test_a_failing_export_changes_nothing_in_the_repository(seeded: RepoLocation,
                                                            out: Path) -> None:
    before = snapshot(seeded)
    export(seeded, out / "x.zip", SITE, "updatedAfter=bad", expect=C.EXIT_BAD_OPTION)
    export(seeded, out / "x.zip", "123456789/9999", expect=C.EXIT_NOT_FOUND)
    assert snapshot(seeded) == before


def _bitstream_file(location: RepoLocation, handle: str) -> Path:
    """The assetstore file of the item's first ORIGINAL bitstream."""
    with location.opened() as repo, repo.transaction(write=False) as tx:
        from aip.repository import objects

        item = objects.item_model(tx, objects.item_id(tx, handle))
        key = item.bundles[0].bitstreams[0].key
        assert key is not None
        return repo.assetstore.path(key)


@pytest.mark.parametrize("damage", ["flip", "truncate", "remove"])
def test_a_damaged_assetstore_file_is_caught_not_packaged(seeded: RepoLocation, out: Path,
                                                          item_handle: str,
                                                          damage: str) -> None:
    stored = _bitstream_file(seeded, item_handle)
    data = stored.read_bytes()
    if damage == "flip":
        stored.write_bytes(bytes(b ^ 0xFF for b in data[:10]) + data[10:])
    elif damage == "truncate":
        stored.write_bytes(data[:-1])
    else:
        stored.unlink()
    result = export(seeded, out / "item.zip", item_handle, recursive=False,
                    expect=C.EXIT_ASSETSTORE_CORRUPT)
    assert_one_line_error(result, C.EXIT_ASSETSTORE_CORRUPT, item_handle
                          if damage != "remove" else "assetstore file")
    assert folder_listing(out) == set()
