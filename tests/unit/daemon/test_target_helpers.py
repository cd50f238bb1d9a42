"""Pure helpers of the targets: part sizes, backoff, bandwidth, S3 error classes."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from aip import constants as C
from aip.errors import AipError
from daemon.core import errors
from daemon.sync.layout import versioned_key
from daemon.targets.folder import FolderTarget
from daemon.targets.s3 import classify_client_error
from daemon.targets.transfer import BandwidthLimiter, backoff_delay, choose_part_size

MiB = 1024 * 1024


def test_part_size_is_raised_to_stay_within_10000_parts() -> None:
    assert choose_part_size(100 * MiB, 8 * MiB) == 8 * MiB
    big = 200 * 1024 * MiB  # 200 GiB
    size = choose_part_size(big, 8 * MiB)
    assert size % MiB == 0 and -(-big // size) <= 10_000


def test_backoff_is_capped_exponential_with_jitter() -> None:
    assert backoff_delay(1, rand=lambda: 0.0) == 0.125
    assert backoff_delay(1, rand=lambda: 0.999) < 0.25
    assert backoff_delay(3, rand=lambda: 0.0) == 0.5
    assert backoff_delay(50, rand=lambda: 0.999) < 20.0
    assert backoff_delay(50, rand=lambda: 0.0) == 10.0


def test_bandwidth_limiter_sleeps_for_debt() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    limiter = BandwidthLimiter(1000, clock=lambda: now[0], sleep=sleep)
    limiter.consume(1000)  # the burst
    assert slept == []
    limiter.consume(500)
    assert slept == [0.5]
    BandwidthLimiter(0, clock=lambda: 0.0, sleep=sleep).consume(10**9)
    assert slept == [0.5]


def test_s3_error_classes() -> None:
    assert classify_client_error("NoSuchBucket", 404) == "permanent"
    assert classify_client_error("InvalidAccessKeyId", 403) == "permanent"
    assert classify_client_error("403", 403) == "permanent"
    assert classify_client_error("SignatureDoesNotMatch", 403) == "permanent"
    assert classify_client_error("SlowDown", 503) == "retry"
    assert classify_client_error("InternalError", 500) == "retry"
    assert classify_client_error("Whatever", 502) == "retry"
    assert classify_client_error("", 429) == "retry"
    assert classify_client_error("NoSuchKey", 404) == "not_found"
    assert classify_client_error("404", 404) == "not_found"
    assert classify_client_error("PreconditionFailed", 412) == "precondition"
    assert classify_client_error("EntityTooSmall", 400) == "other"


def test_versioned_key_layout() -> None:
    assert versioned_key("ITEM@1-2.zip", "ab") == "versions/ITEM@1-2.zip/ab"


def test_every_daemon_error_is_an_aip_error_with_an_exit_code() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, AipError), name
        assert 3 <= cls.exit_code <= 99, name
        assert cls.__doc__, name
    err = errors.TargetPermanentError(target="s3://b/p", operation="PutObject", key="k",
                                      detail="access denied")
    assert err.exit_code == 52 and "PutObject" in str(err)


def test_a_folder_target_aborts_only_old_unknown_temp_files_at_any_depth(tmp_path: Path
                                                                        ) -> None:
    """Read a directory entry at a time (never a folder's whole listing): old temp files
    that no upload in progress owns go, nested ones too; everything else stays."""
    root = tmp_path / "target"
    (root / "versions" / "deep").mkdir(parents=True)
    old = {root / f"{C.TEMP_PREFIX}orphan", root / "versions" / "deep" / f"{C.TEMP_PREFIX}x"}
    kept = {root / f"{C.TEMP_PREFIX}known", root / f"{C.TEMP_PREFIX}fresh",
            root / "ITEM@1-1.zip", root / "versions" / "ITEM@1-1.zip"}
    for path in old | kept:
        path.write_bytes(b"x")
    for path in old | {root / f"{C.TEMP_PREFIX}known", root / "ITEM@1-1.zip"}:
        os.utime(path, (1_000_000, 1_000_000))
    aborted = FolderTarget(root).abort_orphaned_uploads(
        {f"{C.TEMP_PREFIX}known"}, older_than=timedelta(hours=1))
    assert aborted == 2
    assert not any(p.exists() for p in old) and all(p.exists() for p in kept)
