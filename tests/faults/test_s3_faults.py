"""aipsync against a store that fails: the fault proxy between aipsync and moto's server.

Each scenario runs the real commands (``aipsync backup``, ``restore``, ``verify``) with
``[target] endpoint_url`` at the proxy, then checks the bucket *directly on moto*, bypassing
the proxy (``FaultEnv.assert_consistent``): every object's bytes hash to the SHA-256 stored
with it and recorded in the state database, no multipart upload is left, nothing but the
staged AIPs, their archived versions and the snapshot inventories is in the bucket, and the
newest snapshot names exactly the staged files.

The faults injected are counted per type and appended to ``$AIPSYNC_FAULT_FIGURES`` when that
variable names a file (docs/reliability.md is written from it).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from faults_support import (
    BIG_FILE,
    FaultEnv,
    aipsync,
    error_lines,
    log_events,
    record_figure,
    sha256,
    temp_names,
)
from helpers import PREFIX, RepoLocation, dump_text, make_repo, snapshot
from proxy import RETRYABLE_MIX, Fault, FaultProxy

from aip import constants as C
from daemon.sync.layout import snapshot_key


def record(scenario: str, proxy: FaultProxy, outcome: str, **extra: object) -> Counter[str]:
    """Count the faults injected in a scenario (and write them out for the docs)."""
    injected = proxy.faults_injected()
    record_figure(scenario=scenario, faults=dict(injected), requests=len(proxy.log()),
                  outcome=outcome, **extra)
    return injected


def backup(fenv: FaultEnv, config: Path, *, expect: int) -> tuple[float, str, str]:
    started = time.monotonic()
    result = aipsync("backup", "--config", str(config), "--json", expect=expect)
    return time.monotonic() - started, result.out, result.err


# --- retryable failures -----------------------------------------------------------------------
def test_a_fifth_of_requests_fail_and_the_backup_completes(fenv: FaultEnv) -> None:
    """20 % of requests get a 500, a 503, a SlowDown or a reset (before the store saw the
    request, or after it applied it): two cycles (the first full, the second after edits,
    so old bytes are archived) complete, and the bucket is exactly what they say."""
    config = fenv.write_config()
    # The worst of them for certain: the store starts the big AIP's multipart upload but the
    # response (its upload id) is lost; it completes it, and that response is lost too. One
    # of each error status on fixed requests, so every kind is seen whatever the draw; then
    # the mix at random.
    mix = Fault(RETRYABLE_MIX, rate=0.2)
    fenv.proxy.add(Fault("reset-after", op="CreateMultipartUpload", nth=1),
                   Fault("reset-after", op="CompleteMultipartUpload", nth=1),
                   Fault("500", op="PutObject", nth=2),
                   Fault("503", op="PutObject", nth=4),
                   Fault("slowdown", op="UploadPart", nth=2),
                   mix)
    backup(fenv, config, expect=0)
    first = fenv.snapshot_ids()
    fenv.assert_consistent()
    for handle in (f"{PREFIX}/4", f"{PREFIX}/7"):
        aipsync(*fenv.repo.argv, "repo", "set-metadata", handle, "dc.title", "edited", expect=0)
    backup(fenv, config, expect=0)
    objects = fenv.assert_consistent()
    assert len(fenv.snapshot_ids()) == len(first) + 1
    assert [k for k in objects if k.startswith("versions/")], "edits archived the old bytes"
    injected = record("retryable 20%", fenv.proxy, "backup completed, bucket consistent")
    assert {"reset-after", "500", "503", "slowdown"} <= set(injected), injected
    # About 60 requests: some 12 random faults on top (the draw is seeded per request, but
    # snapshot ids and which upload finishes first vary, so the exact count does too; none at
    # all has a chance of 0.8**60, about one in 650,000).
    assert mix.fired >= 1, injected
    # The big AIP went up in parts, and some of them were hit.
    parts = fenv.proxy.log(op="UploadPart", key=f"backup/{BIG_FILE}")
    assert {e.part_number for e in parts if e.ok} == {1, 2, 3}


# --- corrupted bytes --------------------------------------------------------------------------
@pytest.mark.parametrize("fault", [
    pytest.param(Fault("corrupt-request", op="PutObject", path="@", per_key=1), id="put-body"),
    pytest.param(Fault("corrupt-request", op="UploadPart", nth=2), id="part-body"),
    pytest.param(Fault("error", op="PutObject", path="@", per_key=1, status=400,
                       code="BadDigest"), id="store-says-bad-digest"),
])
def test_bytes_corrupted_on_upload_are_never_recorded(fenv: FaultEnv, fault: Fault) -> None:
    """The store receives other bytes than aipsync sent (one flipped byte in the body of
    every AIP's first PUT, or of one part).  moto ignores Content-MD5, so the store keeps
    them: aipsync must notice (the response's ETag is not the MD5 it sent) and send again;
    a store that checks Content-MD5 answers BadDigest, which is retried too."""
    config = fenv.write_config()
    fenv.proxy.add(fault)
    backup(fenv, config, expect=0)
    fenv.assert_consistent()
    injected = record(f"upload corrupted ({fault.action}, {fault.op})", fenv.proxy,
                      "detected and sent again; bucket consistent")
    assert sum(injected.values()) >= 1


def test_bytes_corrupted_on_download_are_never_accepted(fenv: FaultEnv) -> None:
    """Every item AIP comes back with a flipped byte: a restore (replace mode, into the
    repository itself) fails with 80 before its ingest, ``verify --deep`` reports the keys
    corrupted (82), and neither changes the repository or keeps a wrong byte on disk."""
    config = fenv.write_config()
    backup(fenv, config, expect=0)
    before = snapshot(fenv.repo)
    inventory = fenv.inventory()
    fenv.proxy.add(Fault("corrupt-response", op="GetObject", path="ITEM@"))

    failed = aipsync("restore", "--config", str(config), "--handle", f"{PREFIX}/2",
                     "--mode", "replace", "--yes", expect=C.EXIT_CHECKSUM)
    (line,) = error_lines(failed.err)
    assert "SHA-256" in line and "ITEM@" in line, line
    assert snapshot(fenv.repo) == before
    assert temp_names(fenv.restore_dir) == []
    for path in fenv.restore_dir.rglob("*.zip"):  # what is kept is whole and verified
        entry = inventory.entry(path.name)
        assert entry is not None and sha256(path.read_bytes()) == entry.sha256, path

    audit = aipsync("verify", "--config", str(config), "--deep", "--json",
                    expect=C.EXIT_AUDIT_FAILED)
    doc = json.loads(audit.out)
    items = {e.key for e in inventory.entries() if e.key.startswith("ITEM@")}
    assert {p["key"] for p in doc["problems"] if p["kind"] == "corrupted"} == items
    assert doc["missing"] == 0 and snapshot(fenv.repo) == before
    assert temp_names(fenv.restore_dir) == []
    record("download corrupted", fenv.proxy, "restore 80 and verify 82; repository unchanged")

    fenv.proxy.clear()  # the network heals: the same restore now goes through
    aipsync("restore", "--config", str(config), "--handle", f"{PREFIX}/2", "--mode",
            "replace", "--yes", expect=0)
    assert dump_text(fenv.repo) == before.dump


# --- stalls and truncated bodies --------------------------------------------------------------
def test_stalls_and_truncated_bodies_are_retried(fenv: FaultEnv) -> None:
    """A PUT that never answers (the store did not get it), a part whose answer never comes
    (the store kept it), a listing cut in half; then, restoring the whole site into a fresh
    repository, the big AIP and the inventory cut in half and a GET that stalls: every one is
    retried (a cut download resumes with a range read), and nothing partial is accepted."""
    config = fenv.write_config()
    fenv.proxy.add(Fault("stall", op="PutObject", path="@", nth=1, stall_seconds=6),
                   Fault("stall-after", op="UploadPart", nth=2, stall_seconds=6),
                   Fault("truncate", op="ListObjectsV2", nth=1))
    backup(fenv, config, expect=0)
    fenv.assert_consistent()

    fresh = make_repo(RepoLocation(fenv.root / "fresh"))
    fresh_config = fenv.write_config("fresh.toml", repo=fresh,
                                     state={"dir": str(fenv.root / "fresh-state")})
    fenv.proxy.add(Fault("truncate", op="GetObject", path=BIG_FILE, nth=1),
                   Fault("truncate", op="GetObject", path="snapshots/", nth=1),
                   Fault("stall", op="GetObject", path="COLLECTION@", nth=1, stall_seconds=6))
    result = aipsync("--log-level", "info", "--log-format", "json", "restore", "--config",
                     str(fresh_config), "--site", "--yes", "--json", expect=0)
    assert dump_text(fresh) == dump_text(fenv.repo)
    assert temp_names(fenv.root / "fresh-state") == []
    resumed = log_events(result.err, "download.resume")
    inventory = snapshot_key(json.loads(result.out)["snapshot"]["id"])
    assert sorted(e["key"] for e in resumed) == sorted([BIG_FILE, inventory]), (
        "the cut downloads (an AIP, and the inventory a site restore fetches) resumed by range")
    big = fenv.proxy.log(op="GetObject", key=f"backup/{BIG_FILE}")
    assert [e.fault for e in big] == ["truncate", None]
    injected = record("stalls and truncated bodies", fenv.proxy,
                      "retried (downloads resumed by range); bucket and restore whole")
    assert injected == {"stall": 2, "stall-after": 1, "truncate": 3}, injected


# --- permanent errors -------------------------------------------------------------------------
@pytest.mark.parametrize(("fault", "why"), [
    pytest.param(Fault("error", op="PutObject", path="@", status=403, code="AccessDenied"),
                 "access denied (AccessDenied, HTTP 403)", id="AccessDenied"),
    pytest.param(Fault("error", status=404, code="NoSuchBucket"),
                 "no such bucket", id="NoSuchBucket"),
    pytest.param(Fault("error", status=403, code="InvalidAccessKeyId"),
                 "credentials refused (unknown access key)", id="InvalidAccessKeyId"),
])
def test_a_permanent_error_stops_the_run_at_once(fenv: FaultEnv, fault: Fault,
                                                 why: str) -> None:
    """The store refuses for good: the run stops after one attempt per request in flight
    (retries would take over 30 s with eight attempts), says why in one line, exits 52, and
    the snapshot of the previous run stays the newest complete one."""
    config = fenv.write_config()
    backup(fenv, config, expect=0)
    before = fenv.snapshot_ids()
    aipsync(*fenv.repo.argv, "repo", "set-metadata", f"{PREFIX}/4", "dc.title", "edited",
            expect=0)
    mark = fenv.proxy.mark()
    fenv.proxy.add(fault)

    elapsed, out, err = backup(fenv, config, expect=C.EXIT_TARGET_PERMANENT)

    (line,) = error_lines(err)
    assert line.startswith("aipsync: error: ") and why in line and "(permanent" in line, line
    assert "testing-secret-key" not in err + out
    refused = [e for e in fenv.proxy.log(since=mark) if e.fault]
    assert refused, "the fault never fired"
    assert max(Counter(e.key for e in refused).values()) == 1, "a permanent error was retried"
    assert len(refused) <= fenv.config().target.transfers
    assert elapsed < 10, f"took {elapsed:.1f} s to give up"
    assert fenv.snapshot_ids() == before
    status = json.loads(aipsync("status", "--config", str(config), "--json", expect=0).out)
    assert status["recovery_point"]["snapshot_id"] == before[0]
    assert status["last_run"]["status"] == "failed"
    record(f"permanent {fault.code}", fenv.proxy, f"exit 52 after {elapsed:.1f} s",
           attempts_per_key=1)
