"""The ``packager`` command line itself: DSpace's flags, help, usage errors, ``--config``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import ADMIN, SITE, RepoLocation, assert_one_line_error, run_cli, snapshot
from helpers.packager import export, folder_listing, ingest, manifest_attr, manifest_of, packager

from aip import constants as C


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_lists_dspace_flags_and_options(flag: str) -> None:
    result = run_cli("packager", flag, expect=0)
    for name in ("--disseminate", "--submit", "--restore", "--keep-existing",
                 "--force-replace", "--all", "--type", "--eperson", "--identifier",
                 "--parent", "--option", "--install", "--no-user-interaction"):
        assert name in result.out, name
    for option in ("filterBundles", "includeBundles", "manifestOnly", "passwords",
                   "unauthorized", "updatedAfter", "ignoreHandle", "ignoreParent",
                   "createMetadataFields", "skipIfParentMissing"):
        assert option in result.out, option
    assert result.err == ""


def test_long_flags_work_like_short_ones(seeded: RepoLocation, tmp_path: Path) -> None:
    short, long_ = tmp_path / "short", tmp_path / "long"
    short.mkdir()
    long_.mkdir()
    export(seeded, short / "site.zip", SITE, "passwords=true", recursive=False)
    packager(seeded, "--disseminate", "--type", "aip", "--eperson", ADMIN,
             "--identifier", SITE, "--option", "passwords=true", str(long_ / "site.zip"),
             expect=0)
    assert (short / "site.zip").read_bytes() == (long_ / "site.zip").read_bytes()


@pytest.mark.parametrize(("argv", "fragment"), [
    (["-d", "-e", ADMIN, "-i", SITE, "x.zip"], "-t/--type"),
    (["-d", "-t", "AIP", "-i", SITE, "x.zip"], "-e/--eperson"),
    (["-d", "-t", "AIP", "-e", ADMIN, "-i", SITE], "FILE"),
    (["-d", "-t", "AIP", "-e", ADMIN, "-i", SITE, "-l", "x.zip"], "-l"),  # no -l in DSpace
])
def test_usage_errors(seeded: RepoLocation, argv: list[str], fragment: str) -> None:
    result = packager(seeded, *argv, expect=C.EXIT_USAGE)
    assert_one_line_error(result, C.EXIT_USAGE, fragment)


@pytest.mark.parametrize("flags", [("-k",), ("-f",), ("-s", "-f")])
def test_keep_and_force_need_restore(seeded: RepoLocation, out: Path,
                                     flags: tuple[str, ...]) -> None:
    export(seeded, out / "site.zip", SITE, recursive=False)
    before = snapshot(seeded)
    result = ingest(seeded, out / "site.zip", *flags, "-p", "123456789/1",
                    expect=C.EXIT_USAGE)
    assert "-r" in result.err
    assert snapshot(seeded) == before


def test_restore_wins_over_disseminate(seeded: RepoLocation, out: Path) -> None:
    """DSpace: ``-r`` takes precedence over ``-d``."""
    export(seeded, out / "site.zip", SITE, recursive=False)
    before = snapshot(seeded)
    result = packager(seeded, "-d", "-r", "-k", "-t", "AIP", "-e", ADMIN, "-u",
                      str(out / "site.zip"), expect=0)
    assert "keep-existing" in result.out
    assert snapshot(seeded) == before
    assert folder_listing(out) == {"site.zip"}


def test_ingest_of_a_missing_package_file(seeded: RepoLocation, out: Path) -> None:
    result = ingest(seeded, out / "nothing.zip", "-r", expect=C.EXIT_INPUT_FILE)
    assert_one_line_error(result, C.EXIT_INPUT_FILE, "nothing.zip")


def test_config_file_shapes_the_package(seeded: RepoLocation, tmp_path: Path) -> None:
    """``--config``: the ``[aip.disseminate]`` table decides the sections (here: no MODS)."""
    config = tmp_path / "aip.toml"
    config.write_text('[aip.disseminate]\ndmd = ["DIM"]\n')
    out = tmp_path / "out"
    out.mkdir()
    packager(seeded, "-d", "-t", "AIP", "-e", ADMIN, "-i", SITE, "--config", str(config),
             str(out / "a.zip"), expect=0)
    export(seeded, out / "b.zip", SITE, recursive=False)
    assert b'MDTYPE="MODS"' not in manifest_of(out / "a.zip")
    assert b'MDTYPE="MODS"' in manifest_of(out / "b.zip")
    assert manifest_attr(manifest_of(out / "a.zip"), "OBJID") == f"hdl:{SITE}"


def test_bad_config_file(seeded: RepoLocation, tmp_path: Path) -> None:
    config = tmp_path / "aip.toml"
    config.write_text('[aip.disseminate]\ndmd = ["MARC"]\n')
    out = tmp_path / "out"
    out.mkdir()
    result = packager(seeded, "-d", "-t", "AIP", "-e", ADMIN, "-i", SITE, "--config",
                      str(config), str(out / "a.zip"), expect=C.EXIT_CONFIG)
    assert_one_line_error(result, C.EXIT_CONFIG, "aip.disseminate.dmd")
    assert folder_listing(out) == set()


def test_config_file_log_table_sets_level_and_format(seeded: RepoLocation,
                                                     tmp_path: Path) -> None:
    """``--config``'s ``[log]`` table applies to the packager as to the daemon's commands;
    ``--log-level`` goes above it."""
    config = tmp_path / "aip.toml"
    config.write_text('[log]\nlevel = "info"\nformat = "json"\n')
    out = tmp_path / "out"
    out.mkdir()
    result = packager(seeded, "-d", "-a", "-t", "AIP", "-e", ADMIN, "-i", SITE, "--config",
                      str(config), str(out / "a.zip"), expect=0)
    events = [json.loads(line) for line in result.err.splitlines()]
    assert events and {e["level"] for e in events} == {"info"}
    quiet = run_cli(*seeded.argv, "--log-level", "error", "packager", "-d", "-a", "-t", "AIP",
                    "-e", ADMIN, "-i", SITE, "--config", str(config), str(out / "b.zip"),
                    expect=0)
    assert quiet.err == ""


@pytest.mark.parametrize(("table", "key"), [('level = "loud"', "log.level"),
                                            ("format = 3", "log.format"),
                                            ("progress_interval_seconds = 0",
                                             "log.progress_interval_seconds")])
def test_bad_log_table(seeded: RepoLocation, tmp_path: Path, table: str, key: str) -> None:
    config = tmp_path / "aip.toml"
    config.write_text(f"[log]\n{table}\n")
    out = tmp_path / "out"
    out.mkdir()
    result = packager(seeded, "-d", "-t", "AIP", "-e", ADMIN, "-i", SITE, "--config",
                      str(config), str(out / "a.zip"), expect=C.EXIT_CONFIG)
    assert_one_line_error(result, C.EXIT_CONFIG, key)
    assert folder_listing(out) == set()
