"""Backups through DSpace's command line: the daemon against the DSpace stand-in
(tests/fixtures/dspace-standin, README.md there), generation by generation.

The stand-in behaves as DSpace's ``bin/dspace`` does (its questions, its NullPointerException
at the end of input, withdrawn items left out of ``-d -a``, its lines and exit codes, its
database); its call log records every call's arguments, stdin, environment *names* and the
questions reached, which is what "no prompt reached" and "no credential in the child's
environment" are checked against.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog
from helpers import PROJECT_ROOT, wait_for
from helpers.dspace_standin import Standin
from service_support import (
    CHILD_ENV,
    GENERATIONS,
    SITE_FILE,
    BackupEnv,
    handle_of,
    no_db_config,
    running_service,
)

from aip import constants as C
from aip.repository import objects
from daemon.audit import run_audit
from daemon.core.errors import SourceError
from daemon.core.state import open_state
from daemon.service.status import collect_status
from daemon.source.embedded import EmbeddedSource
from daemon.sync.backup import run_cycle


# --- helpers ----------------------------------------------------------------------------------
def item_handles(env: BackupEnv) -> list[str]:
    """The handles of the repository's archived items, in handle order."""
    with env.repo.opened() as repo, repo.transaction(write=False) as tx:
        return sorted({h for cid in objects.collection_handles(tx)
                       for _, h in objects.collection_item_ids(tx, cid).with_ids()})


def item_file(handle: str) -> str:
    return f"ITEM@{handle.replace('/', '-')}.zip"


def staging_state(staging: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry of staging (temporary ones too) with its size, mtime and inode."""
    if not staging.exists():
        return {}
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_ino)
            for p in staging.iterdir()}


def assert_calls_clean(dspace: Standin, *, extra_env: set[str] = frozenset()) -> None:
    """Every call: stdin /dev/null, -u on packager calls, no question reached, and an
    environment of the allowed names only."""
    calls = dspace.calls()
    assert calls
    for call in calls:
        argv = call["argv"]
        assert call["stdin"] == "devnull", call
        assert call["prompts"] == [], call
        if argv[0] == "packager":
            assert "-u" in argv, argv
        names = set(call["env"])
        allowed = {n for n in names if n.startswith(("LC_", "DSPACE_"))} | CHILD_ENV
        assert names <= allowed | extra_env, names - allowed - extra_env


# --- a full and an incremental cycle, each generation -----------------------------------------
@pytest.mark.parametrize("version", GENERATIONS)
def test_full_and_incremental_cycles_in_each_generation(folder_env: BackupEnv, pg_server: str,
                                                        tmp_path: Path, version: str) -> None:
    env = folder_env
    items = item_handles(env)
    env.withdraw(items[0])   # withdrawn before the first backup: -d -a never writes it
    dspace = env.dspace(version, pg_server=pg_server)
    cfg = env.config(**env.dspace_sections(dspace))

    first = run_cycle(cfg)

    assert first.status == "ok" and first.plan.full
    staged = env.staged()
    assert item_file(items[0]) in staged, "found in DSpace's database, exported on its own"
    assert env.snapshot_entries(first.snapshot_id) == staged
    # the same set of AIPs as aipsync's own export of the same repository (withdrawn included)
    embedded = tmp_path / "embedded"
    embedded.mkdir()
    EmbeddedSource(env.config()).export(embedded, updated_after=None)
    assert {p.name for p in embedded.glob("*.zip")} == set(staged)
    argv = [c["argv"] for c in dspace.calls()]
    assert argv[0] == ["version"]
    shown = collect_status(cfg).render()
    assert f"dspace:          {version} ({version.partition('.')[0]}.x), read " in shown
    assert ": DSpace's database listed 1 withdrawn item(s)" in shown
    assert argv[2][:9] == ["packager", "-d", "-u", "-t", "AIP", "-e", "admin@example.org",
                           "-i", items[0]]

    env.edit_item(items[1], "Changed through DSpace")
    dspace.sync_db()
    second = run_cycle(cfg)

    assert second.status == "ok" and not second.plan.full
    assert tuple(second.mirror.uploaded) == (item_file(items[1]),)
    last = [c["argv"] for c in dspace.calls() if "-a" in c["argv"]][-1]
    assert re.fullmatch(r"updatedAfter=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                        last[last.index("-o") + 1])
    assert [c["argv"][0] for c in dspace.calls()].count("version") == 2  # once per command
    assert_calls_clean(dspace)

    # the audit's extent: DSpace's own list of objects, from its database
    audit = run_audit(cfg)
    assert audit.status == "ok", audit.problems
    assert audit.extent_basis.startswith("DSpace's database postgresql://")
    assert audit.extent_objects == len(staged) and audit.extent_note == ""


# --- withdrawn items kept, deleted ones removed, nothing else in the child's environment ------
@pytest.mark.parametrize("version", ["5.10", "9.1"])
def test_withdrawn_items_stay_deleted_ones_leave(folder_env: BackupEnv,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 version: str) -> None:
    env = folder_env
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIATEST", "AWS_SECRET_ACCESS_KEY": "s3cr3t",
                        "AWS_SESSION_TOKEN": "tok", "AIPSYNC_TEST_SECRET": "x",
                        "PGPASSWORD": "pw", "TZ": "UTC", "LC_ALL": "C.UTF-8",
                        "DSPACE_EXTRA": "1", "JAVA_OPTS": "-Xmx1g"}.items():
        monkeypatch.setenv(name, value)
    items = item_handles(env)
    dspace = env.dspace(version)
    no_db_config(dspace)
    cfg = env.config(**env.dspace_sections(dspace, dspace_env=["TZ"]))
    with structlog.testing.capture_logs() as logs:
        first = run_cycle(cfg)
    assert first.status == "ok"
    said = [e for e in logs if e["event"] == "source.dspace.withdrawn"]
    assert said and said[0]["how"].startswith("cannot be discovered: DSpace's database is "
                                              "unknown: no db.url in ")
    assert "withdrawn items: cannot be discovered" in collect_status(cfg).render()

    env.withdraw(items[0])
    second = run_cycle(cfg, force_full=True)
    assert second.plan.full
    assert item_file(items[0]) in env.staged(), "a withdrawn item never leaves staging"
    assert item_file(items[0]) in env.snapshot_entries(second.snapshot_id)
    assert item_file(items[0]) in second.staging.staged  # exported again, on its own

    env.delete(items[1])
    third = run_cycle(cfg, force_full=True)
    assert item_file(items[0]) in env.snapshot_entries(third.snapshot_id)
    assert item_file(items[1]) not in env.staged()
    assert item_file(items[1]) not in env.snapshot_entries(third.snapshot_id)
    assert third.staging.removed == (item_file(items[1]),)
    gone = [c for c in dspace.calls() if items[1] in c["argv"]]
    assert [c["exit_code"] for c in gone] == [1], "DSpace said the handle does not exist"

    assert_calls_clean(dspace, extra_env={"TZ"})
    for call in dspace.calls():
        assert not {n for n in call["env"] if n.startswith(("AWS_", "AIPSYNC_"))}
        assert "PGPASSWORD" not in call["env"]
    audit = run_audit(cfg)
    assert audit.extent_basis.startswith("staging")
    assert "withdrawn items never backed up are not counted" in audit.extent_note
    assert "cannot be discovered" in audit.extent_note


def test_dspace_db_url_finds_withdrawn_items_and_its_password_is_never_shown(
        folder_env: BackupEnv, pg_server: str) -> None:
    env = folder_env
    items = item_handles(env)
    env.withdraw(items[0])
    dspace = env.dspace("6.3", pg_server=pg_server)
    database = dspace.database
    assert database is not None and database.password
    no_db_config(dspace)  # only repository.dspace_db_url says where DSpace's database is
    where = database.jdbc_url.removeprefix("jdbc:postgresql://")
    url = f"postgresql://{database.username}:{database.password}@{where}"
    cfg = env.config(**env.dspace_sections(dspace, dspace_db_url=url))
    with structlog.testing.capture_logs() as logs:
        result = run_cycle(cfg)
    assert result.status == "ok"
    assert item_file(items[0]) in env.staged()
    status = collect_status(cfg)
    assert (f"withdrawn items: read from DSpace's database postgresql://{database.username}@"
            f"{where} (from repository.dspace_db_url)") in status.render()
    shown = status.render() + json.dumps(status.as_json()) + repr(logs) + repr(cfg)
    assert database.password not in shown


# --- faults: one-line errors, staging unchanged, no snapshot moved ----------------------------
@pytest.mark.parametrize(("faults", "timeout", "message"), [
    ({"sleep_seconds": 60, "sleep_at": "package:2"}, 2, "export timed out after 2 s"),
    ({"omit_top_file": True}, 60, f"the export exited 0 but wrote no {SITE_FILE}"),
    ({"fail_at": "package:3"}, 60,
     "the export exited with code 1: java.io.IOException: No space left on device"),
    ({"kill_at": "package:2"}, 60, "the export exited with code -9"),
    ({"garbage_output": True, "omit_top_file": True}, 60, "wrote no SITE@"),
], ids=["hang", "no-site-file", "fails-half-way", "killed", "garbage-and-no-site-file"])
def test_a_failing_dspace_changes_nothing(folder_env: BackupEnv, faults: dict[str, Any],
                                          timeout: int, message: str) -> None:
    env = folder_env
    dspace = env.dspace("7.6.2")
    no_db_config(dspace)
    cfg = env.config(**env.dspace_sections(dspace, dspace_timeout=timeout))
    first = run_cycle(cfg)
    env.edit_item(item_handles(env)[0], "Never staged: the export fails")
    before = staging_state(env.staging)
    with open_state(env.state_dir) as state:
        watermark = state.export_watermark
    dspace.set_faults(**faults)

    with pytest.raises(SourceError) as info:
        run_cycle(cfg, force_full=True)

    assert info.value.exit_code == C.EXIT_SOURCE
    text = str(info.value)
    assert message in text and "\n" not in text
    assert staging_state(env.staging) == before, "a failed export must change nothing"
    assert env.snapshot_ids() == [first.snapshot_id]
    with open_state(env.state_dir) as state:
        assert state.export_watermark == watermark
    call = dspace.last_call()
    if "exit_code" not in call:  # killed (or hung and killed by aipsync): the process is gone
        with pytest.raises(ProcessLookupError):
            os.kill(call["pid"], 0)


@pytest.mark.usefixtures("all_log_levels")
def test_garbage_output_is_logged_printable(folder_env: BackupEnv) -> None:
    env = folder_env
    dspace = env.dspace("8.1", faults={"garbage_output": True})
    no_db_config(dspace)
    with structlog.testing.capture_logs() as logs:
        result = run_cycle(env.config(**env.dspace_sections(dspace)))
    assert result.status == "ok" and SITE_FILE in env.staged()
    lines = [e["line"] for e in logs if e["event"] == "source.dspace.output"]
    assert any("\\x1b[31m" in line for line in lines)
    assert not any(re.search(r"[\x00-\x08\x0b-\x1f\x7f]", line) for line in lines)
    assert max(len(line) for line in lines) <= 2000


def test_a_missing_launcher_is_a_source_error(folder_env: BackupEnv) -> None:
    missing = folder_env.config(repository={"kind": "dspace",
                                             "dspace_bin": str(folder_env.root / "nope")})
    with pytest.raises(SourceError, match="cannot run"):
        run_cycle(missing)
    assert folder_env.staged() == {}
    assert not list(folder_env.staging.glob(".aipsync-tmp-*"))


# --- the service: dspace version once, at start-up --------------------------------------------
def test_the_service_reads_the_version_once(folder_env: BackupEnv) -> None:
    env = folder_env
    dspace = env.dspace("10.0")
    no_db_config(dspace)
    with running_service(env.write_config(**env.dspace_sections(dspace))) as service:
        wait_for(lambda: service._runner is not None and service._runner.completed >= 1,
                 timeout=60, what="the first cycle")
        assert service._runner is not None
        assert service._runner.run(trigger="test") is not None
    assert [c["argv"][0] for c in dspace.calls()] == ["version", "packager", "packager"]
    with open_state(env.state_dir) as state:
        assert (state.get_meta("dspace.version") or "").startswith("10.0 (10.x), read ")


# --- kill -9 of aipsync during the export -----------------------------------------------------
def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc), children first."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found, frontier = [], [pid]
    while frontier:
        kids = [p for p, parent in parents.items() if parent in frontier]
        found += kids
        frontier = kids
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and all its descendants, whatever session they started."""
    for victim in [pid, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


def test_kill_9_during_the_export_leaves_staging_alone_and_the_next_run_cleans_up(
        folder_env: BackupEnv) -> None:
    env = folder_env
    dspace = env.dspace("6.3")
    no_db_config(dspace)
    sections = env.dspace_sections(dspace)
    cfg_file = env.write_config(**sections)
    run_cycle(env.config(**sections))
    before = staging_state(env.staging)
    dspace.set_faults(sleep_seconds=30, sleep_at="package:1")
    proc = subprocess.Popen([sys.executable, "-m", "daemon", "backup", "--config",
                             str(cfg_file), "--full"], cwd=PROJECT_ROOT,
                            env=env.subprocess_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: len(dspace.calls()) >= 4, timeout=60,
                 what="the second export's DSpace call")
        wait_for(lambda: list(env.staging.glob(".aipsync-tmp-export-*")), timeout=30,
                 what="the export folder")
    finally:
        kill_tree(proc.pid)  # aipsync, and the stand-in DSpace in its own session
        proc.wait(timeout=30)

    now = staging_state(env.staging)
    left = set(now) - set(before)
    assert left and all(n.startswith(".aipsync-tmp-export-") for n in left), (left, before)
    assert {k: v for k, v in now.items() if k in before} == before

    dspace.set_faults()
    result = run_cycle(env.config(**sections))
    assert result.status == "ok"
    assert not list(env.staging.glob(".aipsync-tmp-*"))
    assert {handle_of(n) for n in env.staged()} >= set(item_handles(env))


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent's wait() does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_a_killed_aipsync_takes_its_dspace_process_with_it(folder_env: BackupEnv) -> None:
    """DSpace runs in a session of its own; kill -9 of aipsync alone (no signal reaches that
    session) still ends it, through the guard process (daemon/source/process.py)."""
    env = folder_env
    dspace = env.dspace("6.3")
    no_db_config(dspace)
    sections = env.dspace_sections(dspace)
    cfg_file = env.write_config(**sections)
    dspace.set_faults(sleep_seconds=120, sleep_at="package:1")
    proc = subprocess.Popen([sys.executable, "-m", "daemon", "backup", "--config",
                             str(cfg_file), "--full"], cwd=PROJECT_ROOT,
                            env=env.subprocess_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    children: list[int] = []
    try:
        wait_for(lambda: len(dspace.calls()) >= 2, timeout=60, what="the export's DSpace call")
        children = descendants(proc.pid)
        assert children
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        wait_for(lambda: not any(alive(p) for p in children), timeout=60,
                 what="the DSpace process to end with aipsync")
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
