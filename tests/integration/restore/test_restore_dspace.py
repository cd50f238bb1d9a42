"""Restore with ``kind = "dspace"``, through the stand-in ``bin/dspace``
(tests/fixtures/fake-dspace).

The stand-in runs aipsync's own packager as DSpace's ``packager`` command on the embedded
repository named by ``FAKE_DSPACE_REPO``, so the backup cycle exports real AIPs through it
and the restore's ``dspace packager -r ...`` really ingests; ``repo dump --json`` of that
repository is the oracle, as for the embedded kind.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from helpers import PREFIX, dump_text, snapshot
from restore_support import BackupEnv, aipsync, collections_with_items, corrupt, error_line

from aip import constants as C
from daemon.restore.run import RestoreRequest, run_restore
from daemon.sync.backup import run_cycle

COLL = f"{PREFIX}/3"


@pytest.fixture(params=["s3", "folder"])
def dspace_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
               tmp_path: Path) -> BackupEnv:
    env: BackupEnv = request.getfixturevalue("s3_env" if request.param == "s3"
                                             else "folder_env")
    for key, value in env.subprocess_env().items():
        if key.startswith("FAKE_DSPACE_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("FAKE_DSPACE_ARGS", str(tmp_path / "dspace-args.txt"))
    return env


def dspace_calls(tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "dspace-args.txt"
    return [shlex.split(line) for line in path.read_text().splitlines()] if path.exists() \
        else []


def test_a_deleted_collection_comes_back_through_dspace_packager(dspace_env: BackupEnv,
                                                                   tmp_path: Path) -> None:
    env = dspace_env
    sections = env.dspace_sections()
    config_file = env.write_config(**sections)
    run_cycle(env.config(**sections))
    before = dump_text(env.repo)
    items = collections_with_items(env)[COLL]
    env.delete(COLL)
    exports = len(dspace_calls(tmp_path))

    dry = aipsync("restore", "--config", str(config_file), "--handle", COLL, "--dry-run",
                  expect=0)
    assert "unknown" in dry.out and "existence in DSpace unknown" in dry.out
    assert len(dspace_calls(tmp_path)) == exports, "a dry run never calls DSpace"

    result = aipsync("restore", "--config", str(config_file), "--handle", COLL, expect=0)

    assert dump_text(env.repo) == before
    calls = dspace_calls(tmp_path)[exports:]
    assert len(calls) == 1
    argv = calls[0]
    assert argv[:5] == ["packager", "-r", "-a", "-u", "-t"]
    assert argv[5:8] == ["AIP", "-e", "admin@example.org"]
    assert argv[-1].endswith(f"COLLECTION@{COLL.replace('/', '-')}.zip")
    assert "-f" not in argv and "-k" not in argv and "-i" not in argv
    lines = result.out.splitlines()
    for handle in [COLL, *items]:
        assert any(line.split()[:2] == ["restored", handle] for line in lines), handle
    assert lines[-1] == f"restore: {len(items) + 1} restored"

    # the extent audit of a DSpace source compares staging (what DSpace exported) with the
    # snapshot: everything there is backed up
    import json

    audit = json.loads(aipsync("verify", "--config", str(config_file), "--json",
                               expect=0).out)
    assert audit["extent_checked"] and audit["extent_objects"] == len(env.staged())


def test_dspace_replace_and_failures(dspace_env: BackupEnv, tmp_path: Path) -> None:
    env = dspace_env
    sections = env.dspace_sections()
    config_file = env.write_config(**sections)
    run_cycle(env.config(**sections))
    before = snapshot(env.repo)
    calls = len(dspace_calls(tmp_path))

    # the whole site in keep-existing mode: everything exists, everything is skipped
    result = run_restore(env.config(**sections), RestoreRequest(site=True, yes=True,
                                                                mode="keep-existing"))
    argv = dspace_calls(tmp_path)[-1]
    assert argv[:4] == ["packager", "-r", "-k", "-a"] and "-i" not in argv
    assert {o.action for o in result.objects} <= {"restored", "skipped"}
    assert snapshot(env.repo) == before
    calls = len(dspace_calls(tmp_path))

    # a corrupted copy never reaches DSpace
    item = collections_with_items(env)[COLL][0]
    corrupt(env, f"ITEM@{item.replace('/', '-')}.zip", same_size=True)
    aipsync("restore", "--config", str(config_file), "--handle", item, "--mode", "replace",
            "--yes", expect=C.EXIT_CHECKSUM)
    assert len(dspace_calls(tmp_path)) == calls
    assert snapshot(env.repo) == before

    # restore mode on an existing object: DSpace's packager fails, nothing changes (56)
    failed = aipsync("restore", "--config", str(config_file), "--handle", f"{PREFIX}/2",
                     expect=56)
    assert "ingest exited with code 42" in error_line(failed)
    assert len(dspace_calls(tmp_path)) == calls + 1
    assert snapshot(env.repo) == before
