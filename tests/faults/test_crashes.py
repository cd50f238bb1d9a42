"""``kill -9`` at chosen points of a backup and of a restore, then a restart.

The process is ``python -m daemon`` with ``AIPSYNC_TEST_CRASH_AT=<point>[:<n>]``: when it
reaches that point (``daemon/faultpoints.py``), it sends itself SIGKILL, so nothing cleans up,
as in a power cut.  The moment is deterministic (one upload at a time, one part at a time).
Every request goes through the fault proxy, which injects nothing here and counts what the
store received.

After each crash, the next run completes, and then:

- nothing in staging or the bucket is partial: no temporary name in staging, no multipart
  upload pending in the bucket, every key's bytes hash to its recorded SHA-256, the newest
  snapshot names exactly the staged AIPs (``FaultEnv.assert_consistent``);
- no upload is repeated that had completed: a key the state database recorded before the
  restart is not written again, nor a part it journalled;
- a restore leaves the repository either as it was or fully restored, never in between
  (``repo dump --json`` and the assetstore's files compared);
- nothing the killed command started outlives it: no process of its session is left
  (``FaultEnv.console`` checks it after every run; the export's worker processes are
  tested with a repository large enough for a parallel export).

Outcomes go to ``$AIPSYNC_FAULT_FIGURES`` like the fault scenarios' (docs/reliability.md).
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path

import pytest
from faults_support import (
    BIG_FILE,
    FaultEnv,
    aipsync,
    assert_no_survivors,
    log_events,
    make_template,
    record_figure,
    session_processes,
    temp_names,
)
from helpers import (
    PREFIX,
    RepoLocation,
    asset_files,
    dangling_references,
    dump_text,
    make_repo,
    snapshot,
)
from proxy import FaultProxy

from aip import constants as C
from aip.packager.pool import PARALLEL_MIN_ITEMS
from daemon.core.state import PendingUpload

KILLED = -signal.SIGKILL
#: One transfer and one part at a time: the crash points are reached in a fixed order
#: (uploads go largest first, so the big AIP's three parts come first).
SERIAL = {"transfers": 1, "part_concurrency": 1}


def record(point: str, outcome: str, **extra: object) -> None:
    record_figure(crash=point, outcome=outcome, **extra)


def pending_uploads(fenv: FaultEnv) -> list[PendingUpload]:
    with fenv.state() as st:
        return st.pending_uploads()


BACKUP_POINTS = [
    pytest.param("export.package:3", "export", id="during-export"),
    pytest.param("export.staged", "staged", id="between-export-and-upload"),
    pytest.param("upload.part:2", "multipart", id="mid-multipart-upload"),
    pytest.param("upload.recorded:1", "mirror", id="mid-mirror"),
    pytest.param("snapshot.write", "uploaded", id="before-the-inventory"),
]


@pytest.mark.parametrize(("point", "stage"), BACKUP_POINTS)
def test_a_backup_killed_then_restarted(fenv: FaultEnv, point: str, stage: str) -> None:
    config = fenv.write_config(target=SERIAL)
    aipsync("backup", "--config", str(config), expect=0)
    first = fenv.snapshot_ids()
    # Two edits: a small item, and the item with the big bitstream (a new 3-part upload).
    for handle in (f"{PREFIX}/4", f"{PREFIX}/5"):
        aipsync(*fenv.repo.argv, "repo", "set-metadata", handle, "dc.title", "edited",
                expect=0)
    staged_before = fenv.staged()

    crashed = fenv.console("backup", "--config", str(config), expect=KILLED,
                           AIPSYNC_TEST_CRASH_AT=point)

    # What the crash left: the previous snapshot is still the newest; staging holds only
    # whole files under final names (a temporary export folder at most); what the state
    # database recorded is in the bucket, whole.
    assert fenv.snapshot_ids() == first, crashed.err[-2000:]
    finals = fenv.staged()
    assert set(finals) == set(staged_before)
    leftovers = temp_names(fenv.staging)
    assert all(name.startswith(C.TEMP_PREFIX) for name in leftovers), leftovers
    assert bool(leftovers) == (stage == "export"), "only a killed export leaves a temp folder"
    recorded = fenv.recorded()
    objects = fenv.bucket_objects()
    for key, sha in recorded.items():
        if key in finals and sha == finals[key]:
            assert key in objects, key
    done_now = {k for k, sha in recorded.items() if finals.get(k) == sha
                and staged_before.get(k) != sha}
    pending = {p.key: p for p in pending_uploads(fenv)}
    if stage in ("export", "staged"):
        assert finals == staged_before if stage == "export" else finals != staged_before
        assert done_now == set() and pending == {}
    elif stage == "multipart":
        assert set(pending) == {BIG_FILE} and sorted(pending[BIG_FILE].parts) == [1, 2]
        assert fenv.multipart_uploads(), "the half-sent upload is pending in the store"
    elif stage == "mirror":
        assert done_now == {BIG_FILE} and pending == {}
    else:
        assert done_now == set(finals) - set(staged_before) | {
            k for k in finals if staged_before.get(k) != finals[k]}

    # The restart.
    mark = fenv.proxy.mark()
    aipsync("backup", "--config", str(config), expect=0)
    assert temp_names(fenv.staging) == []
    fenv.assert_consistent()
    assert len(fenv.snapshot_ids()) == len(first) + 1
    puts = Counter((e.key.removeprefix("backup/"), e.op) for e in fenv.proxy.iter_puts(mark))
    repeated = sorted(k for (k, op) in puts if k in done_now)
    assert repeated == [], f"completed uploads sent again: {repeated}"
    for key, upload in pending.items():
        again = {e.part_number for e in fenv.proxy.log(op="UploadPart", since=mark)
                 if e.key == f"backup/{key}" and e.upload_id == upload.upload_id}
        assert again.isdisjoint(upload.parts), f"journalled parts of {key} sent again"
        assert not [e for e in fenv.proxy.log(op="CreateMultipartUpload", since=mark)
                    if e.key == f"backup/{key}"], "the pending upload was not resumed"
    record(point, "killed; the restart completed; nothing partial; nothing sent twice",
           temp_left_by_crash=len(leftovers), completed_before_crash=len(done_now),
           parts_resumed=sum(len(p.parts) for p in pending.values()),
           uploads_on_restart=sum(1 for (_, op) in puts if op != "UploadPart"))


RESTORE_POINTS = [
    pytest.param("restore.downloaded:3", id="mid-download"),
    # The 10-package site takes 80 to 110 INSERTs to restore: the 60th is well inside.
    pytest.param("restore.ingest:60", id="mid-ingest"),
]


@pytest.mark.parametrize("point", RESTORE_POINTS)
def test_a_restore_killed_then_restarted(fenv: FaultEnv, tmp_path: Path, point: str) -> None:
    """The whole site restored into a fresh repository, killed while downloading or inside
    the ingest's transaction: the repository is exactly as before, and the restart restores
    it fully (AIPs verified before the crash are reused, not downloaded again)."""
    config = fenv.write_config(target=SERIAL)
    aipsync("backup", "--config", str(config), expect=0)
    fresh = make_repo(RepoLocation(tmp_path / "fresh"))
    fresh_config = fenv.write_config("fresh.toml", repo=fresh, target=SERIAL,
                                     state={"dir": str(tmp_path / "fresh-state")})
    before = snapshot(fresh)
    mark = fenv.proxy.mark()

    fenv.console("restore", "--config", str(fresh_config), "--site", "--yes",
                 expect=KILLED, AIPSYNC_TEST_CRASH_AT=point)

    # Inside the ingest, the dead process had written bitstream files (and the journal that
    # lists them); opening the repository rolls that back.
    written = asset_files(fresh) - before.files
    assert bool(written) == ("ingest" in point), sorted(written)[:5]
    assert snapshot(fresh) == before, "a killed restore left the repository in between"
    got_before = Counter(e.key for e in fenv.proxy.log(op="GetObject", since=mark) if e.ok)
    mark = fenv.proxy.mark()
    result = aipsync("restore", "--config", str(fresh_config), "--site", "--yes", "--json",
                     expect=0)
    assert dump_text(fresh) == dump_text(fenv.repo)
    assert dangling_references(fresh) == {}
    assert temp_names(tmp_path / "fresh-state") == []
    doc = json.loads(result.out)
    again = Counter(e.key for e in fenv.proxy.log(op="GetObject", since=mark) if e.ok)
    aips = {k for k in got_before if not k.startswith("backup/snapshots/")}
    assert doc["reused"] == len(aips) > 0
    assert not [k for k in aips if again[k]], "verified downloads fetched again"
    record(point, "killed; repository unchanged; the restart restored it fully",
           files_rolled_back=len(written), reused=doc["reused"],
           downloaded=doc["downloaded"])


@pytest.mark.parametrize("point", ["export.package:12", "export.package:60"],
                         ids=["early", "late"])
def test_a_backup_killed_during_a_parallel_export_leaves_no_process(
        tmp_path: Path, proxy: FaultProxy, s3_endpoint: str, s3_bucket: str,
        point: str) -> None:
    """Enough items for the export's worker processes (``aip.packager.worker``): killed
    mid-export, nothing of it is left running
    (``console`` waits for the session to empty), and the next backup completes."""
    repo = make_template(tmp_path / "repo", big=False, items=PARALLEL_MIN_ITEMS + 16)
    fenv = FaultEnv(root=tmp_path, repo=repo, proxy=proxy, moto=s3_endpoint, bucket=s3_bucket)
    try:
        config = fenv.write_config(target=SERIAL)
        proc = fenv.spawn("backup", "--config", str(config), AIPSYNC_TEST_CRASH_AT=point)
        try:
            _, err = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == KILLED, err[-3000:]
        started = [e for e in log_events(err, "aip.export.start")]
        assert started, "the export had started"
        assert_no_survivors(proc.pid)
        assert session_processes(proc.pid) == {}
        aipsync("backup", "--config", str(config), expect=0)
        fenv.assert_consistent()
        record(point, "killed during a parallel export; no process left; the restart "
                      "completed")
    finally:
        fenv.close()
