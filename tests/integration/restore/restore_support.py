"""Helpers for the restore and audit integration tests.

They reuse the service tests' ``BackupEnv`` (a seeded embedded repository, staging, state and a
target: moto's S3 server on 127.0.0.1 or a ``file://`` folder), imported from
``tests/integration/service`` (pytest puts only a test file's own folder on ``sys.path``), and
add what a restore test needs: the ``aipsync`` command in-process, the collections and their
items, corrupting an object in the target behind aipsync's back, and fault injection into the
S3 client's response streams.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SERVICE = Path(__file__).resolve().parents[1] / "service"
if str(_SERVICE) not in sys.path:
    sys.path.insert(0, str(_SERVICE))

from helpers import ADMIN, CliResult, wait_for  # noqa: E402
from service_support import (  # noqa: E402
    GENERATIONS,
    SITE_FILE,
    BackupEnv,
    handle_of,
    no_db_config,
    seeded_repo,
    to_toml,
)

from aip import cli as aip_cli  # noqa: E402
from aip.repository import objects  # noqa: E402
from daemon.cli import add_daemon_commands  # noqa: E402
from daemon.targets import Target  # noqa: E402

__all__ = ["ADMIN", "GENERATIONS", "SITE_FILE", "BackupEnv", "CutStream", "aipsync",
           "boto_client", "collections_with_items", "corrupt", "error_line", "handle_of",
           "no_db_config",
           "remove",
           "seeded_repo", "to_toml", "wait_for"]


def aipsync(*argv: str, expect: int, stdin: Any = None) -> CliResult:
    """``aipsync ARGV`` in-process with the daemon's commands; the exit code is checked.

    ``stdin`` replaces ``sys.stdin`` for the call (default: an empty, non-terminal stream, so
    no call ever waits for an answer, even under ``pytest -s`` on a terminal).
    """
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = stdin if stdin is not None else io.StringIO("")
    try:
        rc = aip_cli.run(list(argv), out=out, err=err, extra=add_daemon_commands)
    finally:
        sys.stdin = saved
    result = CliResult(rc, out.getvalue(), err.getvalue())
    assert rc == expect, (f"aipsync {' '.join(argv)} exited {rc}, expected {expect}\n"
                          f"stdout: {result.out[-3000:]}\nstderr: {result.err[-3000:]}")
    return result


def error_line(result: CliResult) -> str:
    """The one ``aipsync: error:`` line of a failed call (in-process, stderr also carries the
    log and, for S3, the moto server's request lines)."""
    lines = [line for line in result.err.splitlines() if line.startswith("aipsync: ")]
    assert len(lines) == 1, result.err
    return lines[0]


def collections_with_items(env: BackupEnv) -> dict[str, list[str]]:
    """Collection handle -> the handles of the archived items it owns (not mapped ones)."""
    with env.repo.opened() as repo, repo.transaction(write=False) as tx:
        return {handle: [h for iid, h in objects.collection_item_ids(tx, cid).with_ids()
                         if objects.item_row(tx, iid).owning_collection_id == cid]
                for cid, handle in sorted(objects.collection_handles(tx).items())}


def corrupt(env: BackupEnv, key: str, *, same_size: bool) -> None:
    """Change the bytes of ``key`` in the target, keeping its stored metadata (SHA-256, MD5):
    bit rot (``same_size``) or a truncated copy.  Behind aipsync's back, as a failing disk or
    a buggy store would."""
    if env.kind == "s3":
        client = boto_client(env)
        full = f"backup/{key}"
        head = client.head_object(Bucket=env.bucket, Key=full)
        data = client.get_object(Bucket=env.bucket, Key=full)["Body"].read()
        client.put_object(Bucket=env.bucket, Key=full, Body=_damage(data, same_size),
                          Metadata=head["Metadata"])
        return
    path = Path(env.url.removeprefix("file://")) / key
    data = path.read_bytes()
    path.write_bytes(_damage(data, same_size))


def boto_client(env: BackupEnv) -> Any:
    """A plain boto3 client on the moto server (to set up and to damage things)."""
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.client(
        "s3", endpoint_url=env.endpoint, region_name="us-east-1",
        config=BotoConfig(s3={"addressing_style": "path"},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"))


def remove(env: BackupEnv, key: str) -> None:
    """Delete ``key`` from the target behind aipsync's back (every version of it)."""
    if env.kind == "s3":
        client = boto_client(env)
        full = f"backup/{key}"
        versions = client.list_object_versions(Bucket=env.bucket, Prefix=full)
        for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
            if v["Key"] == full:
                client.delete_object(Bucket=env.bucket, Key=full, VersionId=v["VersionId"])
        client.delete_object(Bucket=env.bucket, Key=full)
        return
    (Path(env.url.removeprefix("file://")) / key).unlink()


def _damage(data: bytes, same_size: bool) -> bytes:
    if same_size:
        middle = len(data) // 2
        return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]
    return data[: len(data) // 2]


@dataclass
class CutStream:
    """Fault injection for an ``S3Target``: the first ``times`` GetObject responses larger than
    ``min_size`` stop after ``after`` bytes with a streaming error (a connection that drops
    half way), and every GetObject's Range header is recorded."""

    after: int
    min_size: int
    times: int = 1
    ranges: list[str | None] = field(default_factory=list)
    cut: int = 0

    def install(self, target: Target) -> None:
        client: Any = target.client  # type: ignore[attr-defined]
        client.meta.events.register("before-send.s3.GetObject", self._before_send)
        client.meta.events.register("after-call.s3.GetObject", self._after_call)

    def _before_send(self, request: Any, **_: Any) -> None:
        value = request.headers.get("Range")
        self.ranges.append(value.decode() if isinstance(value, bytes) else value)

    def _after_call(self, parsed: dict[str, Any], **_: Any) -> None:
        if self.cut < self.times and int(parsed.get("ContentLength", 0)) > self.min_size:
            self.cut += 1
            parsed["Body"] = _CutBody(parsed["Body"], self.after)


class _CutBody:
    def __init__(self, body: Any, after: int) -> None:
        self._body = body
        self._after = after

    def iter_chunks(self, size: int) -> Any:
        from botocore.exceptions import ResponseStreamingError

        sent = 0
        for chunk in self._body.iter_chunks(size):
            if sent + len(chunk) >= self._after:
                yield chunk[: self._after - sent]
                raise ResponseStreamingError(error="connection reset (injected by the test)")
            sent += len(chunk)
            yield chunk

    def close(self) -> None:
        self._body.close()


Predicate = Callable[[], Any]
