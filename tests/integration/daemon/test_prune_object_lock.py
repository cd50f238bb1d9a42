"""``prune`` on a store that enforces S3 Object Lock: locked versions are kept and reported.

The store is moto's server, which enforces retention as S3 does: a DeleteObject with the
VersionId of a version whose COMPLIANCE or GOVERNANCE retention has not ended (or that is
under a legal hold) answers 403 AccessDenied (moto 5.x ``moto/s3/models.py``
``FakeKey.is_locked`` and ``delete_object`` raising ``AccessDeniedByLock``; Amazon S3 User
Guide, "Locking objects with Object Lock", how deletes work with Object Lock).  The first test
proves the enforcement, so the others could not pass against a store that ignores locks.

The scenario: a versioned, lock-enabled bucket; a first snapshot written without retention, a
second and third with ``object_lock_mode = "COMPLIANCE"`` (30 days).  Pruning to the newest
snapshot must delete what is not locked, keep the second snapshot (its inventory is locked,
and with it every version it names), keep a version of the first snapshot that got a
retention of its own, report both ("kept: ... locked until ..."), and exit 0; ``--dry-run``
says the same and deletes nothing.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from daemon_mirror_support import MirrorEnv, payload
from helpers import to_toml

from aip import cli as aip_cli
from daemon.cli import add_daemon_commands
from daemon.sync.layout import snapshot_key
from daemon.sync.mirror import run_mirror
from daemon.sync.prune import prune
from daemon.sync.snapshots import list_snapshots, read_inventory

ITEM = "ITEM@123456789-42.zip"
SITE = "SITE@123456789-0.zip"
LOCK = {"object_lock_mode": "COMPLIANCE", "object_lock_retain_days": 30}


@pytest.fixture
def locked_env(tmp_path: Path, s3_endpoint: str, aws_env: dict[str, str]
               ) -> Iterator[MirrorEnv]:
    bucket = f"lock-{uuid.uuid4().hex[:12]}"
    env = MirrorEnv("s3", tmp_path, f"s3://{bucket}/backup", s3_endpoint, bucket,
                    overrides={"versioning": "bucket"})
    # Object Lock is chosen when the bucket is made, and turns versioning on.
    env.raw_s3().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    env.staging.mkdir()
    yield env
    for tgt in env.opened:
        tgt.close()


def cli(*argv: str, expect: int) -> str:
    out, err = io.StringIO(), io.StringIO()
    rc = aip_cli.run(list(argv), out=out, err=err, extra=add_daemon_commands)
    assert rc == expect, f"exit {rc}\n{out.getvalue()}\n{err.getvalue()}"
    return out.getvalue()


def three_snapshots(env: MirrorEnv) -> tuple[str, str, str, str]:
    """Snapshots s1 (no retention), s2 and s3 (COMPLIANCE, 30 days); returns their ids and the
    VersionId of s1's ITEM, which then gets a retention of its own."""
    env.stage(ITEM, payload(1, 5_000))
    env.stage(SITE, payload(2, 1_000))
    s1 = run_mirror(env.config())
    first = read_inventory(env.target(), s1.snapshot_id or "").entry(ITEM)
    assert first is not None and first.version
    env.stage(ITEM, payload(3, 5_000))
    s2 = run_mirror(env.config(**LOCK))
    env.stage(ITEM, payload(4, 5_000))
    s3 = run_mirror(env.config(**LOCK))
    env.raw_s3().put_object_retention(
        Bucket=env.bucket, Key=f"backup/{ITEM}", VersionId=first.version,
        Retention={"Mode": "COMPLIANCE",
                   "RetainUntilDate": datetime.now(UTC) + timedelta(days=3)})
    ids = (s1.snapshot_id, s2.snapshot_id, s3.snapshot_id)
    assert all(ids) and len(set(ids)) == 3
    return (*ids, first.version)  # type: ignore[return-value]


def test_the_store_enforces_retention(locked_env: MirrorEnv) -> None:
    env = locked_env
    env.stage(ITEM, payload(1, 5_000))
    run_mirror(env.config(**LOCK))
    client = env.raw_s3()
    version = client.head_object(Bucket=env.bucket, Key=f"backup/{ITEM}")["VersionId"]
    with pytest.raises(ClientError) as refused:
        client.delete_object(Bucket=env.bucket, Key=f"backup/{ITEM}", VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_prune_keeps_locked_versions_and_goes_on(locked_env: MirrorEnv) -> None:
    env = locked_env
    s1, s2, s3, item_v1 = three_snapshots(env)

    dry = prune(env.config(), keep_snapshots=1, keep_days=0, dry_run=True)
    real = prune(env.config(), keep_snapshots=1, keep_days=0)

    for result in (dry, real):
        assert set(result.kept_snapshots) == {s2, s3}, "s2's inventory is locked: s2 stays"
        assert result.deleted_snapshots == (s1,)
        kept = {(k, v): why for k, v, why in result.kept_locked}
        assert set(kept) >= {(ITEM, item_v1)}
        assert any(k == snapshot_key(s2) for k, _ in kept)
        assert all(why.startswith("locked until ") and "(COMPLIANCE)" in why
                   for why in kept.values())
        deleted = dict(result.deleted_objects)
        assert snapshot_key(s1) in deleted, "s1's inventory is not locked"
        assert ITEM not in deleted and SITE not in deleted
    assert dry.deleted_objects == real.deleted_objects

    tgt = env.target()
    assert [s.id for s in list_snapshots(tgt)] == [s3, s2]
    assert tgt.head(ITEM, version_id=item_v1) is not None, "the locked version stays"
    for sid in (s2, s3):  # every version a kept snapshot names is still there
        for entry in read_inventory(tgt, sid).entries():
            assert tgt.head(entry.key, version_id=entry.version) is not None


def test_prune_command_reports_kept_versions_and_exits_0(locked_env: MirrorEnv) -> None:
    env = locked_env
    s1, s2, _, item_v1 = three_snapshots(env)
    path = env.root / "aipsync.toml"
    tables = {"repository": {"path": str(env.root / "repo"), "eperson": "admin@example.org"},
              "staging": {"dir": str(env.staging)}, "state": {"dir": str(env.state_dir)},
              "target": {"url": env.url, "endpoint_url": env.endpoint, "region": "us-east-1",
                         "addressing_style": "path", "max_attempts": 2}}
    path.write_text(to_toml(tables))
    base = ("prune", "--config", str(path), "--keep-snapshots", "1", "--keep-days", "0")

    for argv in ((*base, "--dry-run"), base):
        text = cli(*argv, expect=0)
        kept = [line for line in text.splitlines() if line.startswith("kept: ")]
        assert any(f"{ITEM} (version {item_v1}): locked until " in line for line in kept), text
        assert any(snapshot_key(s2) in line for line in kept), text
        assert "kept under Object Lock" in text.splitlines()[-1]
    assert [s.id for s in list_snapshots(env.target())][-1] == s2
    assert s1 not in [s.id for s in list_snapshots(env.target())]
