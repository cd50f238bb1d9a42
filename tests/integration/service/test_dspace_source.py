"""The DSpace source through a stand-in ``bin/dspace`` (tests/fixtures/fake-dspace).

The stand-in runs aipsync's own packager as DSpace's ``packager`` command, so the AIPs are
real; it can also fail on demand (after writing files, as a JVM dying late would) and sleep.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from helpers import PROJECT_ROOT, RepoLocation, make_repo, run_cli, wait_for
from service_support import FAKE_DSPACE, SITE_FILE, BackupEnv, handle_of

from aip import constants as C
from daemon.core.errors import SourceError
from daemon.core.state import open_state
from daemon.source.base import IngestSpec
from daemon.source.dspace import DSpaceSource
from daemon.source.embedded import EmbeddedSource
from daemon.sync.backup import run_cycle


@pytest.fixture
def dspace_env(folder_env: BackupEnv, monkeypatch: pytest.MonkeyPatch,
               tmp_path: Path) -> BackupEnv:
    for key, value in folder_env.subprocess_env().items():
        if key.startswith("FAKE_DSPACE_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("FAKE_DSPACE_ARGS", str(tmp_path / "dspace-args.txt"))
    return folder_env


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


def staging_state(staging: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry of staging (temporary ones too) with its size, mtime and inode."""
    if not staging.exists():
        return {}
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_ino)
            for p in staging.iterdir()}


@pytest.mark.usefixtures("all_log_levels")
def test_a_full_cycle_through_the_dspace_cli(dspace_env: BackupEnv, tmp_path: Path) -> None:
    cfg = dspace_env.config(**dspace_env.dspace_sections())
    with structlog.testing.capture_logs() as logs:
        result = run_cycle(cfg)

    assert result.status == "ok" and result.plan.full
    staged = dspace_env.staged()
    assert SITE_FILE in staged and len(staged) >= 10
    assert set(result.mirror.uploaded) == set(staged)
    assert dspace_env.snapshot_entries(result.snapshot_id) == staged
    calls = (tmp_path / "dspace-args.txt").read_text().splitlines()
    assert calls == [f"packager -d -a -t AIP -e admin@example.org -i 123456789/0 "
                     f"{dspace_env.staging}/{calls[0].rpartition('/')[0].rpartition('/')[2]}/"
                     f"{SITE_FILE}"]
    # Its output went into the structured log, line by line.
    lines = [e["line"] for e in logs if e["event"] == "source.dspace.output"]
    assert any("exported" in line for line in lines), lines
    assert any("org.dspace.app.packager.Packager" in line for line in lines), lines

    # The same bytes as the embedded packager writes (same repository, same AIP format).
    embedded_dir = tmp_path / "embedded"
    embedded_dir.mkdir()
    EmbeddedSource(dspace_env.config()).export(embedded_dir, updated_after=None)
    assert {p.name for p in embedded_dir.glob("*.zip")} == set(staged)

    item = dspace_env.staged_items()[1]
    dspace_env.edit_item(handle_of(item), "Changed for the DSpace source")
    second = run_cycle(cfg)
    assert not second.plan.full
    assert second.mirror.uploaded == (item,)
    last = (tmp_path / "dspace-args.txt").read_text().splitlines()[-1]
    assert " -o updatedAfter=" in last and last.split("updatedAfter=")[1].split()[0].endswith("Z")


def test_a_failing_dspace_cli_gives_source_error_and_changes_nothing(
        dspace_env: BackupEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = dspace_env.config(**dspace_env.dspace_sections())
    first = run_cycle(cfg)
    item = dspace_env.staged_items()[0]
    dspace_env.edit_item(handle_of(item), "Never staged: the export fails")
    before = staging_state(dspace_env.staging)
    with open_state(dspace_env.state_dir) as state:
        watermark = state.export_watermark

    monkeypatch.setenv("FAKE_DSPACE_FAIL", "3")
    with pytest.raises(SourceError) as info:
        run_cycle(cfg)

    assert info.value.exit_code == C.EXIT_SOURCE
    assert "exited with code 3" in str(info.value)
    assert "simulated failure" in str(info.value)  # the last output lines name the cause
    assert staging_state(dspace_env.staging) == before, "a failed export must change nothing"
    assert dspace_env.snapshot_ids() == [first.snapshot_id]
    with open_state(dspace_env.state_dir) as state:
        assert state.export_watermark == watermark
        run = state.last_run("incremental")
        assert run is not None and run.status == "failed" and "SourceError" in (run.error or "")

    monkeypatch.delenv("FAKE_DSPACE_FAIL")
    again = run_cycle(cfg)  # the same Items are exported again: nothing was lost
    assert again.mirror.uploaded == (item,)


def test_a_missing_launcher_and_a_timeout_are_source_errors(
        dspace_env: BackupEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = dspace_env.config(repository={"kind": "dspace",
                                            "dspace_bin": str(dspace_env.root / "nope")})
    with pytest.raises(SourceError, match="cannot run"):
        run_cycle(missing)
    monkeypatch.setenv("FAKE_DSPACE_SLEEP", "30")
    slow = dspace_env.config(repository={"kind": "dspace", "dspace_bin": str(FAKE_DSPACE),
                                         "dspace_timeout": 1})
    with pytest.raises(SourceError, match="timed out after 1 s"):
        run_cycle(slow)
    assert dspace_env.staged() == {}
    assert not list(dspace_env.staging.glob(".aipsync-tmp-*"))


def test_kill_9_during_the_export_leaves_staging_alone_and_the_next_run_cleans_up(
        dspace_env: BackupEnv) -> None:
    cfg_file = dspace_env.write_config(**dspace_env.dspace_sections())
    run_cycle(dspace_env.config(**dspace_env.dspace_sections()))
    before = staging_state(dspace_env.staging)
    env = dspace_env.subprocess_env() | {"FAKE_DSPACE_SLEEP": "30"}
    proc = subprocess.Popen([sys.executable, "-m", "daemon", "backup", "--config",
                             str(cfg_file)], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_for(lambda: list(dspace_env.staging.glob(".aipsync-tmp-export-*")), timeout=30,
                 what="the export folder")
    finally:
        kill_tree(proc.pid)  # aipsync, and the stand-in DSpace in its own session
        proc.wait(timeout=30)

    now = staging_state(dspace_env.staging)
    left = set(now) - set(before)
    assert left and all(n.startswith(".aipsync-tmp-export-") for n in left), (left, before)
    assert {k: v for k, v in now.items() if k in before} == before

    result = run_cycle(dspace_env.config(**dspace_env.dspace_sections()))
    assert result.status == "ok"
    assert not list(dspace_env.staging.glob(".aipsync-tmp-*"))


def test_ingest_through_both_sources(dspace_env: BackupEnv, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The restore path a restore builds on: ``packager -r -a -f`` into an empty repository."""
    run_cycle(dspace_env.config())
    site = dspace_env.staging / SITE_FILE
    wanted = {handle_of(n) for n in dspace_env.staged()}
    for kind in ("embedded", "dspace"):
        fresh = make_repo(RepoLocation(tmp_path / f"restored-{kind}"))
        repository: dict[str, object] = {"path": str(fresh.folder)}
        if kind == "dspace":
            monkeypatch.setenv("FAKE_DSPACE_REPO", str(fresh.folder))
            repository.update(kind="dspace", dspace_bin=str(FAKE_DSPACE))
        cfg = dspace_env.config(repository=repository)
        source = DSpaceSource(cfg) if kind == "dspace" else EmbeddedSource(cfg)
        outcome = source.ingest(IngestSpec(site, mode="replace", recursive=True))
        assert outcome.exit_code == 0, outcome.lines
        dump = run_cli(*fresh.argv, "repo", "dump", "--json", expect=0).out
        assert wanted <= set(re.findall(r"\b123456789/\d+\b", dump)), kind
