"""The mirror against real targets: moto's S3 server on 127.0.0.1 and a file:// folder.

Every test runs against both targets (the ``env`` fixture).  Request counts come from the
targets' ``requests`` counters; for S3 they count HTTP requests actually sent (a botocore
``before-send`` hook), so "lists nothing" means no ListObjects request left the process.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from daemon_mirror_support import MiB, MirrorEnv, payload

import daemon.sync.scan as scan_mod
from aip import constants as C
from aip.files import hash_file
from daemon.core.errors import (
    DownloadChecksumError,
    StagingError,
    StopRequestedError,
    TargetPermanentError,
    UploadError,
)
from daemon.core.journal import MemoryJournal, PartRecord
from daemon.core.state import open_state
from daemon.sync.download import download_entry, download_object
from daemon.sync.layout import versioned_key
from daemon.sync.mirror import run_mirror, target_binding
from daemon.sync.prune import prune
from daemon.sync.snapshots import list_snapshots, read_inventory
from daemon.targets.transfer import partial_path

ITEM = "ITEM@123456789-42.zip"
COLL = "COLLECTION@123456789-2.zip"
SITE = "SITE@123456789-0.zip"
BIG = "ITEM@123456789-99.zip"


def seed(env: MirrorEnv, *, big: bool = False) -> dict[str, bytes]:
    files = {ITEM: payload(1, 10_000), COLL: payload(2, 3_000), SITE: payload(3, 1_000)}
    if big:
        files[BIG] = payload(4, 13 * MiB)  # 3 parts of 5 MiB, 5 MiB, 3 MiB
    for name, data in files.items():
        env.stage(name, data)
    return files


def remote_sha256(env: MirrorEnv, key: str) -> str | None:
    head = env.target().head(key)
    return None if head is None else head.sha256


# --- first run, change, no-op ------------------------------------------------------------------
def test_first_mirror_uploads_everything(env: MirrorEnv) -> None:
    files = seed(env, big=True)
    (env.staging / ".aipsync-tmp-half-written").write_bytes(b"partial")
    (env.staging / "notes.txt").write_text("not an AIP")

    result = run_mirror(env.config())

    planned = sorted(files, key=lambda name: (-len(files[name]), name))
    assert list(result.uploaded) == planned, "every one, in the plan's order (largest first)"
    assert result.snapshot_written and result.snapshot_id
    for name, data in files.items():
        assert remote_sha256(env, name) == hashlib.sha256(data).hexdigest()
    tgt = env.target()
    assert tgt.head(".aipsync-tmp-half-written") is None
    assert tgt.head("notes.txt") is None
    big = tgt.head(BIG)
    assert big is not None and big.part_size == 5 * MiB
    assert big.md5 == hashlib.md5(files[BIG]).hexdigest()
    snaps = list_snapshots(tgt)
    assert [s.id for s in snaps] == [result.snapshot_id]
    inv = read_inventory(tgt, result.snapshot_id)
    assert {e.key for e in inv.entries()} == set(files)
    assert inv.total_size == sum(len(d) for d in files.values())
    assert all(e.sha256 == hashlib.sha256(files[e.key]).hexdigest() for e in inv.entries())
    with open_state(env.state_dir) as state:
        assert state.newest_snapshot == result.snapshot_id
        assert state.last_success("mirror") is not None


def test_changing_one_file_uploads_exactly_that_one(env: MirrorEnv) -> None:
    seed(env)
    first = run_mirror(env.config())
    new = payload(10, 10_500)
    env.stage(ITEM, new)
    # Same bytes re-exported (a container AIP): new inode and mtime, same hash: no upload.
    env.stage(COLL, payload(2, 3_000))

    tgt = env.target()
    result = run_mirror(env.config(), target=tgt)

    assert tuple(result.uploaded) == (ITEM,)
    assert result.skipped == 2  # COLL and SITE: the same bytes as uploaded
    assert tgt.requests["PutObject"] == 2  # the AIP and the inventory
    assert remote_sha256(env, ITEM) == hashlib.sha256(new).hexdigest()
    assert result.snapshot_written and result.snapshot_id != first.snapshot_id


def test_restart_with_nothing_changed_uploads_nothing_and_lists_nothing(env: MirrorEnv) -> None:
    seed(env, big=True)
    first = run_mirror(env.config())

    tgt = env.target()  # a new process would open a new client
    result = run_mirror(env.config(), target=tgt)

    assert tuple(result.uploaded) == ()
    assert not result.snapshot_written
    assert result.snapshot_id == first.snapshot_id
    assert sum(tgt.requests.values()) == 0, dict(tgt.requests)
    with open_state(env.state_dir) as state:
        runs = state.runs(kind="mirror")
        assert runs[0].status == "ok" and runs[0].counts.uploaded == 0


def test_no_rehash_when_stat_key_unchanged(env: MirrorEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(env)
    run_mirror(env.config())
    calls: list[str] = []
    real = scan_mod._hash

    def counting(folder: Path, name: str):  # type: ignore[no-untyped-def]
        calls.append(name)
        return real(folder, name)

    monkeypatch.setattr(scan_mod, "_hash", counting)
    run_mirror(env.config())
    assert calls == []
    env.stage(SITE, payload(3, 1_000))  # new inode: hashed again, but not uploaded
    result = run_mirror(env.config())
    assert calls == [SITE]
    assert tuple(result.uploaded) == ()


def test_dry_run_sends_nothing(env: MirrorEnv) -> None:
    seed(env)
    tgt = env.target()
    result = run_mirror(env.config(), dry_run=True, target=tgt)
    assert {name for name, _ in result.to_upload} == {ITEM, COLL, SITE}
    assert sum(tgt.requests.values()) == 0
    assert list_snapshots(env.target()) == []


def test_removed_object_stays_remote_but_leaves_the_inventory(env: MirrorEnv) -> None:
    seed(env)
    run_mirror(env.config())
    (env.staging / COLL).unlink()
    result = run_mirror(env.config())
    assert result.snapshot_written
    inv = read_inventory(env.target(), result.snapshot_id or "")
    assert {e.key for e in inv.entries()} == {ITEM, SITE}
    assert env.target().head(COLL) is not None  # a backup never deletes by default


def test_empty_staging_is_refused(env: MirrorEnv) -> None:
    seed(env)
    first = run_mirror(env.config())
    for path in env.staging.iterdir():
        path.unlink()
    with pytest.raises(StagingError):
        run_mirror(env.config())
    assert list_snapshots(env.target())[0].id == first.snapshot_id


# --- multipart resume ------------------------------------------------------------------------
class StopAfter(MemoryJournal):
    """A journal that records into the state database and asks to stop after N parts."""

    def __init__(self, inner: object, parts: int, stop: threading.Event) -> None:
        super().__init__()
        self.inner = inner
        self.parts = parts
        self.stop = stop
        self.done = 0

    def load(self, key):  # type: ignore[no-untyped-def]
        return self.inner.load(key)  # type: ignore[attr-defined]

    def begin(self, *args):  # type: ignore[no-untyped-def]
        self.inner.begin(*args)  # type: ignore[attr-defined]

    def part_done(self, key: str, part: PartRecord) -> None:
        self.inner.part_done(key, part)  # type: ignore[attr-defined]
        self.done += 1
        if self.done >= self.parts:
            self.stop.set()

    def finish(self, key: str) -> None:
        self.inner.finish(key)  # type: ignore[attr-defined]


def test_interrupted_multipart_upload_resumes_without_resending_parts(env: MirrorEnv) -> None:
    data = payload(7, 22 * MiB)  # 5 parts of 5 MiB (the last 2 MiB)
    path = env.stage(BIG, data)
    digests = hash_file(path)
    config = env.config(part_concurrency=1)
    stop = threading.Event()
    with open_state(env.state_dir) as state:
        state.bind_target(target_binding(config))
        journal = StopAfter(state, 2, stop)
        with pytest.raises(StopRequestedError):
            env.target(config).put_file(BIG, path, digests, journal=journal, stop=stop)
        pending = state.load(BIG)
        assert pending is not None and sorted(pending.parts) == [1, 2]
    assert env.target().head(BIG) is None  # nothing half-written under the final key

    tgt = env.target(config)
    result = run_mirror(config, target=tgt)

    assert tuple(result.uploaded) == (BIG,)
    assert tgt.requests["UploadPart"] == 3  # parts 3, 4 and 5 only
    assert result.bytes_uploaded == len(data) - 10 * MiB
    assert remote_sha256(env, BIG) == hashlib.sha256(data).hexdigest()
    out = env.root / "restore" / BIG
    download_object(config, BIG, None, out, sha256=digests.sha256, size=digests.size)
    assert out.read_bytes() == data
    with open_state(env.state_dir) as state:
        assert state.load(BIG) is None


def test_stop_event_ends_run_without_snapshot(env: MirrorEnv) -> None:
    seed(env)
    stop = threading.Event()
    stop.set()
    result = run_mirror(env.config(), stop=stop)
    assert result.stopped and not result.snapshot_written
    assert list_snapshots(env.target()) == []
    result = run_mirror(env.config())  # the next run completes it
    assert result.snapshot_written and len(result.uploaded) == 3


# --- permanent errors ------------------------------------------------------------------------
def test_missing_bucket_or_folder_fails_fast(env: MirrorEnv) -> None:
    seed(env)
    if env.kind == "s3":
        config = env.config(url="s3://no-such-bucket-aipsync/backup", max_attempts=5)
    else:
        config = env.config(url=f"file://{env.root / 'unmounted'}", max_attempts=5)
    tgt = env.target(config)
    started = time.monotonic()
    with pytest.raises(TargetPermanentError) as info:
        run_mirror(config, target=tgt)
    assert info.value.exit_code == C.EXIT_TARGET_PERMANENT == 52
    assert time.monotonic() - started < 5
    assert all(count == 1 for count in tgt.requests.values()), dict(tgt.requests)
    with open_state(env.state_dir) as state:
        assert state.newest_snapshot is None
        assert state.last_run("mirror").status == "failed"  # type: ignore[union-attr]


@pytest.fixture
def refuse_credentials(env: MirrorEnv):  # type: ignore[no-untyped-def]
    """Make the target refuse us: moto checks credentials (none are valid), or the folder goes."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    saved = (settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count)

    def refuse() -> None:
        if env.kind == "s3":
            settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
            ActionAuthenticatorMixin.request_count = 0
        else:
            shutil.move(env.root / "target", env.root / "target-away")

    def allow() -> None:
        if env.kind == "s3":
            settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = saved
        else:
            shutil.move(env.root / "target-away", env.root / "target")

    yield refuse, allow
    settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = saved


def test_permanent_error_keeps_previous_snapshot_newest(env: MirrorEnv,
                                                        refuse_credentials) -> None:  # type: ignore[no-untyped-def]
    refuse, allow = refuse_credentials
    seed(env)
    first = run_mirror(env.config())
    env.stage(ITEM, payload(11, 9_000))
    tgt = env.target(env.config(max_attempts=5))
    refuse()
    try:
        with pytest.raises(TargetPermanentError) as info:
            run_mirror(env.config(max_attempts=5), target=tgt)
    finally:
        allow()
    assert info.value.exit_code == 52
    assert "secret" not in str(info.value).lower()
    assert all(count == 1 for count in tgt.requests.values()), dict(tgt.requests)
    assert list_snapshots(env.target())[0].id == first.snapshot_id
    with open_state(env.state_dir) as state:
        assert state.newest_snapshot == first.snapshot_id
    result = run_mirror(env.config())  # the next run completes the work
    assert tuple(result.uploaded) == (ITEM,) and result.snapshot_written


# --- downloads -------------------------------------------------------------------------------
def test_corrupted_download_is_detected_and_never_named(env: MirrorEnv) -> None:
    files = seed(env)
    result = run_mirror(env.config())
    inv = read_inventory(env.target(), result.snapshot_id or "")
    bad = bytearray(files[ITEM])
    bad[100] ^= 0xFF
    env.corrupt(ITEM, bytes(bad))
    dest = env.root / "restore" / ITEM
    with pytest.raises(DownloadChecksumError) as info:
        download_entry(env.config(), inv, ITEM, dest)
    assert info.value.exit_code == C.EXIT_CHECKSUM
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # the partial file is gone too


def test_download_resumes_from_partial_file(env: MirrorEnv) -> None:
    files = seed(env, big=True)
    result = run_mirror(env.config())
    inv = read_inventory(env.target(), result.snapshot_id or "")
    entry = inv.entry(BIG)
    assert entry is not None
    dest = env.root / "restore" / BIG
    dest.parent.mkdir()
    half = 7 * MiB
    partial_path(dest, entry.sha256).write_bytes(files[BIG][:half])
    tgt = env.target()
    download_object(env.config(), BIG, None, dest, sha256=entry.sha256, size=entry.size,
                    target=tgt)
    assert dest.read_bytes() == files[BIG]
    assert tgt.requests["GetObject"] == 1
    assert not partial_path(dest, entry.sha256).exists()


# --- versions --------------------------------------------------------------------------------
def test_versioned_keys_keep_old_bytes_reachable(env: MirrorEnv) -> None:
    files = seed(env)
    first = run_mirror(env.config(versioning="keys"))
    env.stage(ITEM, payload(20, 12_000))
    run_mirror(env.config(versioning="keys"))
    env.stage(ITEM, payload(21, 13_000))
    third = run_mirror(env.config(versioning="keys"))

    old = read_inventory(env.target(), first.snapshot_id or "")
    assert old.versioning == "keys"
    entry = old.entry(ITEM)
    assert entry is not None and entry.version == versioned_key(ITEM, entry.sha256)
    dest = env.root / "restore" / "old.zip"
    download_entry(env.config(), old, ITEM, dest)
    assert dest.read_bytes() == files[ITEM]
    new = read_inventory(env.target(), third.snapshot_id or "")
    dest2 = env.root / "restore" / "new.zip"
    download_entry(env.config(), new, ITEM, dest2)
    assert dest2.read_bytes() == payload(21, 13_000)


@pytest.mark.parametrize("env", ["s3"], indirect=True)  # bucket versioning is S3's own
def test_bucket_versioning_is_detected_and_used(env: MirrorEnv) -> None:
    env.raw_s3().put_bucket_versioning(Bucket=env.bucket,
                                       VersioningConfiguration={"Status": "Enabled"})
    files = seed(env)
    first = run_mirror(env.config())
    env.stage(ITEM, payload(30, 11_000))
    run_mirror(env.config())
    old = read_inventory(env.target(), first.snapshot_id or "")
    assert old.versioning == "bucket"
    entry = old.entry(ITEM)
    assert entry is not None and entry.version and not entry.version.startswith("versions/")
    dest = env.root / "restore" / ITEM
    download_entry(env.config(), old, ITEM, dest)
    assert dest.read_bytes() == files[ITEM]
    assert not any(o.key.startswith("versions/") for o in env.target().list_keys(""))


def test_prune_respects_retention(env: MirrorEnv) -> None:
    seed(env)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    s1 = run_mirror(env.config(), now=t0)
    env.stage(ITEM, payload(40, 10_001))
    s2 = run_mirror(env.config(), now=t0 + timedelta(days=1))
    env.stage(ITEM, payload(41, 10_002))
    (env.staging / COLL).unlink()
    s3 = run_mirror(env.config(), now=t0 + timedelta(days=2))
    now = t0 + timedelta(days=3)

    dry = prune(env.config(), keep_snapshots=2, keep_days=0, dry_run=True, now=now)
    assert dry.deleted_snapshots == (s1.snapshot_id,)
    assert len(list_snapshots(env.target())) == 3

    result = prune(env.config(), keep_snapshots=2, keep_days=0, now=now)
    assert set(result.kept_snapshots) == {s2.snapshot_id, s3.snapshot_id}
    s1_item = hashlib.sha256(payload(1, 10_000)).hexdigest()
    assert (versioned_key(ITEM, s1_item), None) in result.deleted_objects
    tgt = env.target()
    assert [s.id for s in list_snapshots(tgt)] == [s3.snapshot_id, s2.snapshot_id]
    # Everything a kept snapshot names is still downloadable, old versions included.
    for sid in (s2.snapshot_id, s3.snapshot_id):
        inv = read_inventory(tgt, sid or "")
        for entry in inv.entries():
            dest = env.root / "restore" / sid / entry.key  # type: ignore[operator]
            download_entry(env.config(), inv, entry.key, dest)
    assert tgt.head(COLL) is not None  # still named by s2

    only_newest = prune(env.config(), keep_snapshots=1, keep_days=0, now=now)
    assert only_newest.kept_snapshots == (s3.snapshot_id,)
    assert env.target().head(COLL) is None  # no kept snapshot names it, and it is not staged
    assert env.target().head(ITEM) is not None
    assert remote_sha256(env, SITE) is not None
    # The next mirror run after a prune is still a no-op.
    tgt = env.target()
    assert tuple(run_mirror(env.config(), target=tgt).uploaded) == ()
    assert sum(tgt.requests.values()) == 0


# --- state loss --------------------------------------------------------------------------------
def test_lost_state_adopts_identical_objects_without_reupload(env: MirrorEnv) -> None:
    seed(env, big=True)
    run_mirror(env.config())
    shutil.rmtree(env.state_dir)
    env.stage(SITE, payload(50, 2_000))
    tgt = env.target()
    result = run_mirror(env.config(), target=tgt)
    assert tuple(result.uploaded) == (SITE,)
    assert tgt.requests["ListObjectsV2"] == 1
    assert tgt.requests["UploadPart"] == 0
    # keys mode archived the overwritten SITE bytes even though the state had been lost
    old = hashlib.sha256(payload(3, 1_000)).hexdigest()
    assert env.target().head(versioned_key(SITE, old)) is not None


def test_failed_verification_means_no_snapshot(env: MirrorEnv,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seed(env)
    first = run_mirror(env.config())
    env.stage(ITEM, payload(60, 5_000))
    tgt = env.target()
    real_head = tgt.head

    def lying_head(key: str, **kw):  # type: ignore[no-untyped-def]
        obj = real_head(key, **kw)
        if obj is not None and key == ITEM:
            from dataclasses import replace
            return replace(obj, metadata={**obj.metadata, "sha256": "0" * 64})
        return obj

    monkeypatch.setattr(tgt, "head", lying_head)
    with pytest.raises(UploadError):
        run_mirror(env.config(), target=tgt)
    with open_state(env.state_dir) as state:
        assert state.newest_snapshot == first.snapshot_id
        assert [f.key for f in state.failures()] == [ITEM]


# --- upload shapes and verification modes ------------------------------------------------------
def test_large_single_put_streams_from_disk(env: MirrorEnv) -> None:
    data = payload(70, 9 * MiB + 123)  # above the in-memory limit, below the threshold
    env.stage(BIG, data)
    config = env.config(multipart_threshold="64MiB", multipart_chunksize="8MiB")
    tgt = env.target(config)
    result = run_mirror(config, target=tgt)
    assert tuple(result.uploaded) == (BIG,)
    assert tgt.requests["UploadPart"] == 0
    head = env.target().head(BIG)
    assert head is not None and head.part_size == 0 and head.size == len(data)
    assert head.sha256 == hashlib.sha256(data).hexdigest()


def test_etag_verification_reads_back_only_the_first_upload(env: MirrorEnv) -> None:
    seed(env)
    config = env.config(verify_uploads="etag")
    tgt = env.target(config)
    result = run_mirror(config, target=tgt)
    assert len(result.uploaded) == 3
    if env.kind == "s3":
        assert tgt.requests["HeadObject"] == 1
    for name in (ITEM, COLL, SITE):
        assert remote_sha256(env, name) is not None


def test_etag_mismatch_fails_the_upload(env: MirrorEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(env)
    first = run_mirror(env.config())
    env.stage(ITEM, payload(80, 4_000))
    env.stage(SITE, payload(81, 4_000))
    config = env.config(verify_uploads="etag", transfers=1)
    tgt = env.target(config)
    real_put = tgt.put_file

    def bad_etag(key: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        from dataclasses import replace
        result = real_put(key, *args, **kwargs)
        return replace(result, remote=replace(result.remote, etag='"' + "0" * 32 + '"'))

    monkeypatch.setattr(tgt, "put_file", bad_etag)
    with pytest.raises(UploadError):
        run_mirror(config, target=tgt)
    with open_state(env.state_dir) as state:
        assert state.newest_snapshot == first.snapshot_id
        assert len(state.failures()) == 1  # the first upload was read back, the second failed


def test_prune_never_touches_objects_it_did_not_write(env: MirrorEnv) -> None:
    seed(env)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    run_mirror(env.config(), now=t0)
    tgt = env.target()
    tgt.put_bytes("README.txt", b"operator's notes")
    tgt.put_bytes("other-tool/data.bin", b"not ours")
    (env.staging / COLL).unlink()
    run_mirror(env.config(), now=t0 + timedelta(days=1))
    result = prune(env.config(), keep_snapshots=1, keep_days=0, now=t0 + timedelta(days=2))
    assert {k for k, _ in result.deleted_objects} >= {COLL}
    assert tgt.head("README.txt") is not None
    assert tgt.head("other-tool/data.bin") is not None
