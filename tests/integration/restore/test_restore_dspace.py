"""Restore with ``kind = "dspace"``: through the DSpace stand-in (tests/fixtures/dspace-standin).

The backup cycle exports through the stand-in's ``bin/dspace`` and the restore's ``dspace
packager -r ...`` ingests through it, into the embedded repository it plays; ``repo dump
--json`` of that repository is the oracle, as for the embedded kind.  The stand-in's
database (PostgreSQL) is what the driver asks which objects exist.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from helpers import PREFIX, dump_text, snapshot
from helpers.dspace_standin import Standin
from helpers.packager import child_hrefs, manifest_of
from restore_support import (
    BackupEnv,
    aipsync,
    collections_with_items,
    corrupt,
    error_line,
    no_db_config,
)

from aip import constants as C
from daemon.sync.backup import run_cycle

COLL = f"{PREFIX}/3"


def ingests(dspace: Standin, since: int = 0) -> list[list[str]]:
    """The argument lists of the stand-in's ingest calls (``-r`` or ``-s``)."""
    return [c["argv"] for c in dspace.calls()[since:]
            if c["argv"][0] == "packager" and "-d" not in c["argv"]]


def backed_up(env: BackupEnv, version: str, pg: str | None = None, **repository: Any
              ) -> tuple[Standin, str]:
    """A stand-in over the env's repository, one backup through it, and the config file."""
    dspace = env.dspace(version, pg_server=pg)
    sections = env.dspace_sections(dspace, **repository)
    assert run_cycle(env.config(**sections)).status == "ok"
    return dspace, str(env.write_config(**sections))


def restored_handles(out: str) -> dict[str, str]:
    """Handle -> action of the report's object lines."""
    found = {}
    for line in out.splitlines():
        match = re.match(r"^\s+(restored|replaced|skipped|submitted|mapped)\s+(\S+)", line)
        if match:
            found[match[2]] = match[1]
    return found


@pytest.mark.parametrize("version", ["5.10", "7.6.2"])
def test_a_deleted_collection_comes_back_through_dspace(folder_env: BackupEnv, pg_server: str,
                                                        version: str) -> None:
    env = folder_env
    dspace, config_file = backed_up(env, version, pg_server)
    before = dump_text(env.repo)
    items = collections_with_items(env)[COLL]
    env.delete(COLL)
    dspace.sync_db()
    calls = len(dspace.calls())

    dry = aipsync("restore", "--config", config_file, "--handle", COLL, "--dry-run", expect=0)
    # DSpace's database says what exists: the collection and its items are missing
    for handle in [COLL, *items]:
        assert re.search(rf"would restore\s+{re.escape(handle)}\s+missing", dry.out), dry.out
    assert ingests(dspace, calls) == [], "a dry run never ingests"

    result = aipsync("restore", "--config", config_file, "--handle", COLL, expect=0)

    assert dump_text(env.repo) == before
    argv = ingests(dspace, calls)
    assert len(argv) == 1
    assert argv[0][:7] == ["packager", "-r", "-a", "-u", "-t", "AIP", "-e"]
    assert argv[0][-1].endswith(f"COLLECTION@{COLL.replace('/', '-')}.zip")
    assert "-f" not in argv[0] and "-k" not in argv[0] and "-i" not in argv[0]
    report = restored_handles(result.out)
    assert report == dict.fromkeys([COLL, *items], "restored")
    assert result.out.splitlines()[-1] == f"restore: {len(items) + 1} restored"
    assert all(c["prompts"] == [] and c["stdin"] == "devnull" for c in dspace.calls())

    # the extent of a DSpace backup: DSpace's own objects, all of them in the snapshot
    dspace.sync_db()
    audit = json.loads(aipsync("verify", "--config", config_file, "--json", expect=0).out)
    assert audit["extent_checked"] and audit["extent_basis"].startswith("DSpace's database")
    assert audit["extent_objects"] == len(env.staged()) and audit["not_backed_up"] == 0


@pytest.mark.parametrize(("version", "database"), [("6.3", True), ("6.3", False),
                                                   ("9.1", False)])
def test_keep_existing_restores_what_is_missing_below_existing_objects(
        folder_env: BackupEnv, request: pytest.FixtureRequest, version: str,
        database: bool) -> None:
    """DSpace's -r -k -a skips an existing top object without visiting its children, and
    5.x/6.x fail on an existing Item: the driver restores the missing item all the same."""
    env = folder_env
    pg = request.getfixturevalue("pg_server") if database else None
    dspace, config_file = backed_up(env, version, pg)
    if not database:
        no_db_config(dspace)
    before = dump_text(env.repo)
    items = collections_with_items(env)[COLL]
    env.delete(items[0])
    if database:
        dspace.sync_db()
    calls = len(dspace.calls())
    if database:  # the dry run says what the driver will do
        dry = aipsync("restore", "--config", config_file, "--handle", COLL, "--mode",
                      "keep-existing", "--dry-run", expect=0)
        assert re.search(rf"would skip\s+{re.escape(COLL)}\s+exists\s+exists now; missing "
                         "objects below it are restored", dry.out), dry.out
        assert re.search(rf"would restore\s+{re.escape(items[0])}\s+missing", dry.out)

    result = aipsync("restore", "--config", config_file, "--handle", COLL, "--mode",
                     "keep-existing", expect=0)

    assert dump_text(env.repo) == before
    report = restored_handles(result.out)
    assert report == {COLL: "skipped", items[0]: "restored",
                      **dict.fromkeys(items[1:], "skipped")}
    argv = ingests(dspace, calls)
    item_pkg = f"ITEM@{items[0].replace('/', '-')}.zip"
    if database:  # exact: the one missing item, nothing else
        assert len(argv) == 1 and argv[0][-1].endswith(item_pkg)
        assert argv[0][:5] == ["packager", "-r", "-k", "-a", "-u"]
    else:  # the collection (skipped, children unvisited), then each item on its own
        assert argv[0][-1].endswith(f"COLLECTION@{COLL.replace('/', '-')}.zip")
        assert len(argv) == 1 + len(items)
        codes = {c["argv"][-1].rpartition("/")[2]: c["exit_code"]
                 for c in dspace.calls()[calls:]}
        assert codes[item_pkg] == 0
        if version.startswith("6"):  # an existing Item fails -k in 6.x (rolled back)
            assert sorted(set(codes.values())) == [0, 1]


@pytest.mark.parametrize("version", ["6.3", "10.0"])
def test_a_commit_failure_after_printed_results_is_56_and_changes_nothing(
        folder_env: BackupEnv, version: str) -> None:
    env = folder_env
    dspace, config_file = backed_up(env, version)
    items = collections_with_items(env)[COLL]
    env.delete(COLL)
    before = snapshot(env.repo)
    dspace.set_faults(fail_at="commit")

    failed = aipsync("restore", "--config", config_file, "--handle", COLL, expect=56)

    line = error_line(failed)
    assert ("exited with code 1: org.postgresql.util.PSQLException: An I/O error occurred "
            "while sending to the backend.") in line
    assert f"DSpace had claimed {len(items) + 1} object(s) ({COLL}, " in line
    assert "and rolled them back" in line
    assert snapshot(env.repo) == before
    assert dspace.last_call()["exit_code"] == 1


def test_failures_half_way_and_on_an_existing_object_change_nothing(
        folder_env: BackupEnv) -> None:
    env = folder_env
    dspace, config_file = backed_up(env, "8.1")
    env.delete(COLL)
    before = snapshot(env.repo)

    dspace.set_faults(fail_at="package:2")
    failed = aipsync("restore", "--config", config_file, "--handle", COLL, expect=56)
    assert ("exited with code 1: java.io.IOException: No space left on device"
            in error_line(failed))
    assert "DSpace claimed no object and rolled back" in error_line(failed)
    assert snapshot(env.repo) == before

    # mode restore on an existing object: DSpace refuses, nothing changes
    dspace.set_faults()
    failed = aipsync("restore", "--config", config_file, "--handle", f"{PREFIX}/2",
                     expect=56)
    assert "Attempted to create a handle which is already in use" in error_line(failed)
    assert "use --mode keep-existing or replace" in error_line(failed)
    assert snapshot(env.repo) == before


def test_replace_submit_and_a_corrupted_copy(folder_env: BackupEnv) -> None:
    env = folder_env
    dspace, config_file = backed_up(env, "7.6.2")
    before = snapshot(env.repo)
    calls = len(dspace.calls())

    # the whole site replaced, as DSpace's full restore: -r -f -a -i <site>
    result = aipsync("restore", "--config", config_file, "--site", "--yes", expect=0)
    argv = ingests(dspace, calls)[-1]
    assert argv[:5] == ["packager", "-r", "-f", "-a", "-u"]
    assert argv[argv.index("-i") + 1] == f"{PREFIX}/0"
    report = restored_handles(result.out)
    assert set(report.values()) == {"replaced"} and len(report) == len(env.staged())

    # a submit: new handles under the parent, without the collection's workflow (-w)
    calls = len(dspace.calls())
    result = aipsync("restore", "--config", config_file, "--handle", COLL, "--mode", "submit",
                     "--parent", f"{PREFIX}/1", expect=0)
    argv = ingests(dspace, calls)[-1]
    assert argv[:6] == ["packager", "-s", "-a", "-u", "-w", "-t"]
    assert argv[argv.index("-p") + 1] == f"{PREFIX}/1"
    submitted = restored_handles(result.out)
    assert submitted and set(submitted.values()) == {"submitted"}
    assert COLL not in submitted

    # a corrupted copy never reaches DSpace
    after_submit = snapshot(env.repo)
    calls = len(dspace.calls())
    item = collections_with_items(env)[COLL][0]
    corrupt(env, f"ITEM@{item.replace('/', '-')}.zip", same_size=True)
    aipsync("restore", "--config", config_file, "--handle", item, "--mode", "replace",
            "--yes", expect=C.EXIT_CHECKSUM)
    assert ingests(dspace, calls) == []
    assert snapshot(env.repo) == after_submit
    assert before != after_submit


@pytest.mark.parametrize(("version", "into"), [("6.3", "dspace"), ("9.1", "dspace"),
                                               ("9.1", "embedded")])
def test_restoring_a_collection_brings_back_its_withdrawn_items(folder_env: BackupEnv,
                                                                version: str, into: str) -> None:
    """DSpace's collection AIP does not point at a withdrawn item; the snapshot knows the
    item's owning collection, so the restore ingests its AIP explicitly (through DSpace, or
    into the embedded repository: a DSpace-made backup restored by aipsync's packager)."""
    env = folder_env
    dspace, config_file = backed_up(env, version)
    items = collections_with_items(env)[COLL]
    env.withdraw(items[0])
    assert run_cycle(env.config(**env.dspace_sections(dspace)), force_full=True).status == "ok"
    withdrawn_pkg = f"ITEM@{items[0].replace('/', '-')}.zip"
    coll_pkg = env.staging / f"COLLECTION@{COLL.replace('/', '-')}.zip"
    assert withdrawn_pkg in env.staged()
    assert withdrawn_pkg not in child_hrefs(manifest_of(coll_pkg)), "DSpace leaves it out"
    before = dump_text(env.repo)
    env.delete(COLL)
    calls = len(dspace.calls())

    if into == "embedded":
        config_file = str(env.write_config(env.root / "embedded.toml"))

    result = aipsync("restore", "--config", config_file, "--handle", COLL, expect=0)

    assert dump_text(env.repo) == before
    assert restored_handles(result.out) == dict.fromkeys([COLL, *items], "restored")
    argv = ingests(dspace, calls)
    if into == "dspace":
        assert len(argv) == 2 and argv[1][-1].endswith(withdrawn_pkg)
        assert argv[1][:4] == ["packager", "-r", "-u", "-t"]   # on its own, not recursive
    else:
        assert argv == []
