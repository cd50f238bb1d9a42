"""What the fault, crash and disk-full tests share.

- ``make_template``: the seeded repository the ``template`` fixture copies (six small items
  and one item with an 11 MiB incompressible bitstream: its AIP is a three-part upload with
  the test configuration's 5 MiB parts).
- ``FaultEnv``: one scenario: the repository, staging, state, a fresh bucket on moto's server
  reached *through the fault proxy* (``[target] endpoint_url`` is the proxy), and the checks
  made *directly on moto* (bypassing the proxy): every key's bytes against its stored
  SHA-256, no multipart upload left, no stray key, the newest snapshot naming exactly the
  staged AIPs.
- ``aipsync``: the CLI in-process with the daemon's commands (exit code checked);
  ``FaultEnv.console``/``spawn``: ``python -m daemon`` as a subprocess.
- ``session_processes``/``assert_no_survivors``: every process of a killed command's session
  (its worker processes among them), read from ``/proc``.
- ``DiskQuota``: an injected full disk: every file opened for writing under a folder fails
  with ``ENOSPC`` once a byte budget is spent (no privileges or tmpfs needed).
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import hashlib
import io
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import (
    ADMIN,
    PREFIX,
    PROJECT_ROOT,
    CliResult,
    DaemonFolders,
    RepoLocation,
    make_repo,
    run_cli,
    to_toml,
)
from proxy import FaultProxy

from aip import cli as aip_cli
from aip import constants as C
from aip.repository import seed as seedmod
from daemon.cli import add_daemon_commands
from daemon.core.config import Config, parse_config
from daemon.core.state import STATE_FILE_NAME, StateDB
from daemon.sync.inventory import InventoryReader
from daemon.sync.layout import snapshot_key
from daemon.sync.snapshots import list_snapshots, read_inventory
from daemon.targets import Target, open_target

MiB = 1024 * 1024
#: The item that carries the big bitstream, and the size of that bitstream.
BIG_ITEM = f"{PREFIX}/5"
BIG_SIZE = 11 * MiB
BIG_FILE = f"ITEM@{PREFIX}-5.zip"
SITE_FILE = f"SITE@{PREFIX}-0.zip"
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing-access-key",
            "AWS_SECRET_ACCESS_KEY": "testing-secret-key", "AWS_DEFAULT_REGION": "us-east-1"}
PREFIX_KEY = "backup"


def make_template(folder: Path, *, big: bool = True, items: int = 6) -> RepoLocation:
    """A seeded repository: 1 community, 2 collections, ``items`` items; and the big
    bitstream."""
    loc = make_repo(RepoLocation(folder))
    with loc.opened() as repo:
        seedmod.seed(repo, seedmod.SeedOptions(communities=1, depth=1, collections=2,
                                               items=items, seed=3))
    if big:
        data = folder.parent / "big.bin"
        data.write_bytes(random.Random(11).randbytes(BIG_SIZE))
        run_cli(*loc.argv, "repo", "add-bitstream", BIG_ITEM, str(data), "--name",
                "big.bin", expect=0)
        data.unlink()
    return loc


def aipsync(*argv: str, expect: int | None) -> CliResult:
    """``aipsync ARGV`` in-process with the daemon's commands; ``expect`` (unless None) is
    the exit code it must give.  stdin is an empty non-terminal stream (no question waits)."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO("")
    try:
        rc = aip_cli.run(list(argv), out=out, err=err, extra=add_daemon_commands)
    finally:
        sys.stdin = saved
    result = CliResult(rc, out.getvalue(), err.getvalue())
    if expect is not None:
        assert rc == expect, (f"aipsync {' '.join(argv)} exited {rc}, expected {expect}\n"
                              f"stdout: {result.out[-3000:]}\nstderr: {result.err[-3000:]}")
    return result


def error_lines(text: str) -> list[str]:
    """The ``aipsync: ...`` lines of a stderr that also carries JSON log lines."""
    return [line for line in text.splitlines() if line.startswith("aipsync: ")]


def log_events(text: str, name: str | None = None) -> list[dict[str, Any]]:
    """The JSON log events of a stderr (optionally only those named ``name``)."""
    found = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if name is None or doc.get("event") == name:
            found.append(doc)
    return found


def session_processes(sid: int) -> dict[int, str]:
    """Pid -> command line of every live process of session ``sid`` (zombies excluded).

    A command started with ``start_new_session`` leads its own session, and everything it
    starts stays in it (the packager's worker processes never call ``setsid``), even once
    re-parented to init after the leader died.
    """
    found: dict[int, str] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...: comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            found[int(entry.name)] = cmdline.strip()
    return found


def assert_no_survivors(sid: int, *, timeout: float = 30) -> None:
    """Every process of session ``sid`` ends (within ``timeout``: a killed parent's children
    notice it through a pipe and exit at once; the deadline only bounds a failure)."""
    deadline = time.monotonic() + timeout
    while (left := session_processes(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == {}, f"processes outlived the killed command: {left}"


def temp_names(folder: Path) -> list[str]:
    """Every file or folder under ``folder`` with a temporary name (or a ``.part`` file)."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.name.startswith(C.TEMP_PREFIX) or p.name.endswith(".part"))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_figure(**fields: object) -> None:
    """Append one outcome to ``$AIPSYNC_FAULT_FIGURES`` when it names a file (the figures
    docs/reliability.md is written from; ``bench/reliability.py`` sets it)."""
    figures = os.environ.get("AIPSYNC_FAULT_FIGURES")
    if figures:
        with open(figures, "a") as out:
            out.write(json.dumps(fields) + "\n")


@dataclass
class FaultEnv(DaemonFolders):
    """A repository, staging, state and a bucket behind the fault proxy."""

    root: Path
    repo: RepoLocation
    proxy: FaultProxy
    moto: str
    bucket: str
    opened: list[Target] = field(default_factory=list)

    @property
    def restore_dir(self) -> Path:
        return self.state_dir / "restore"

    # --- configuration ------------------------------------------------------------------------
    def tables(self, *, direct: bool = False, repo: RepoLocation | None = None,
               **sections: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The configuration: through the proxy (or ``direct``ly to moto), 5 MiB parts,
        short timeouts (a stall outlives them), and enough attempts for a 20 % failure rate
        (five in a row fail with probability 0.2^8)."""
        target: dict[str, Any] = {
            "url": f"s3://{self.bucket}/{PREFIX_KEY}",
            "endpoint_url": self.moto if direct else self.proxy.url,
            "region": "us-east-1", "addressing_style": "path", "max_attempts": 8,
            "transfers": 4, "part_concurrency": 2, "multipart_threshold": "5MiB",
            "multipart_chunksize": "5MiB", "connect_timeout": 2, "read_timeout": 2}
        doc: dict[str, dict[str, Any]] = {
            # passwords=true: a site restored into a fresh repository dumps identically.
            "repository": {"path": str((repo or self.repo).folder), "eperson": ADMIN,
                           "site_handle": f"{PREFIX}/0", "dspace_options": ["passwords=true"]},
            "staging": {"dir": str(self.staging)},
            "state": {"dir": str(self.state_dir)},
            "target": target,
            "watch": {"enabled": False},
        }
        for name, table in sections.items():
            doc.setdefault(name, {}).update(table)
        return doc

    def config(self, **kwargs: Any) -> Config:
        return parse_config(self.tables(**kwargs))

    def write_config(self, name: str = "aipsync.toml", **kwargs: Any) -> Path:
        path = self.root / name
        path.write_text(to_toml(self.tables(**kwargs)))
        path.chmod(0o600)
        return path

    # --- running ------------------------------------------------------------------------------
    def subprocess_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith((C.ENV_PREFIX, "AWS_"))}
        env.update(FAKE_AWS, AWS_CONFIG_FILE=os.devnull,
                   AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")
        env.update(extra)
        return env

    def spawn(self, *argv: str, **extra_env: str) -> subprocess.Popen[str]:
        """``python -m daemon --log-level info --log-format json ARGV`` as a subprocess, in a
        session of its own (so what it leaves running can be found: ``session_processes``)."""
        return subprocess.Popen(
            [sys.executable, "-m", "daemon", "--log-level", "info", "--log-format", "json",
             *argv], cwd=PROJECT_ROOT, env=self.subprocess_env(**extra_env),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    def console(self, *argv: str, expect: int | None, timeout: float = 120,
                **extra_env: str) -> CliResult:
        """Run ``spawn(ARGV)`` to its end; ``expect`` (unless None) is its exit code."""
        proc = self.spawn(*argv, **extra_env)
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        result = CliResult(proc.returncode, out, err)
        # However it ended, nothing it started may outlive it.
        assert_no_survivors(proc.pid)
        if expect is not None:
            assert proc.returncode == expect, (
                f"aipsync {' '.join(argv)} exited {proc.returncode}, expected {expect}\n"
                f"stdout: {out[-3000:]}\nstderr: {err[-5000:]}")
        return result

    # --- looking at the bucket directly (not through the proxy) -------------------------------
    def direct_client(self) -> Any:
        import boto3
        from botocore.config import Config as BotoConfig

        return boto3.client(
            "s3", endpoint_url=self.moto, region_name="us-east-1",
            aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
            config=BotoConfig(s3={"addressing_style": "path"},
                              request_checksum_calculation="when_required",
                              response_checksum_validation="when_required"))

    def direct_target(self) -> Target:
        tgt = open_target(self.config(direct=True).target)
        self.opened.append(tgt)
        return tgt

    def bucket_objects(self) -> dict[str, tuple[bytes, dict[str, str]]]:
        """Key (relative to the prefix) -> (bytes, metadata) of every object in the bucket."""
        client = self.direct_client()
        found: dict[str, tuple[bytes, dict[str, str]]] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                obj = client.get_object(Bucket=self.bucket, Key=item["Key"])
                key = item["Key"]
                assert key.startswith(PREFIX_KEY + "/"), f"a key outside the prefix: {key}"
                found[key[len(PREFIX_KEY) + 1:]] = (obj["Body"].read(), obj["Metadata"])
        return found

    def multipart_uploads(self) -> list[str]:
        resp = self.direct_client().list_multipart_uploads(Bucket=self.bucket)
        return sorted(f"{u['Key']} {u['UploadId']}" for u in resp.get("Uploads", []))

    def snapshot_ids(self) -> list[str]:
        """Complete snapshots, newest first (read directly)."""
        return [s.id for s in list_snapshots(self.direct_target())]

    def inventory(self, snapshot_id: str | None = None) -> InventoryReader:
        ids = self.snapshot_ids()
        assert ids, "no complete snapshot"
        return read_inventory(self.direct_target(), snapshot_id or ids[0])

    def staged(self) -> dict[str, str]:
        """File name -> SHA-256 of every finished AIP in staging."""
        return {p.name: sha256(p.read_bytes()) for p in sorted(self.staging.glob("*.zip"))
                if not p.name.startswith(C.TEMP_PREFIX)}

    def state(self) -> StateDB:
        return StateDB(self.state_dir / STATE_FILE_NAME)

    def recorded(self) -> dict[str, str]:
        """Key -> SHA-256 of every upload the state database recorded."""
        if not (self.state_dir / STATE_FILE_NAME).exists():
            return {}
        with contextlib.closing(sqlite3.connect(self.state_dir / STATE_FILE_NAME)) as db:
            return dict(db.execute("SELECT key, sha256 FROM remote_objects").fetchall())

    def assert_consistent(self) -> dict[str, tuple[bytes, dict[str, str]]]:
        """The bucket holds exactly what the newest snapshot and staging say, whole.

        - no multipart upload is pending (no orphan, nothing half-sent);
        - every object's bytes hash to the SHA-256 stored with it (nothing partial, nothing
          corrupted), and an archived version's bytes to the digest in its key;
        - the AIP keys are exactly the staged files, each with the staged file's SHA-256,
          and the upload records of the state database agree;
        - the newest snapshot names exactly the staged files, with their SHA-256;
        - nothing else is in the bucket (no stray key).
        """
        assert self.multipart_uploads() == [], "multipart uploads left in the bucket"
        objects = self.bucket_objects()
        staged = self.staged()
        assert staged, "staging is empty"
        for key, (data, meta) in objects.items():
            assert sha256(data) == meta.get("sha256"), f"{key}: bytes differ from its SHA-256"
            if key.startswith("versions/"):
                assert key.rpartition("/")[2] == sha256(data), f"{key}: wrong archived bytes"
        aips = {k: sha256(d) for k, (d, _) in objects.items() if "/" not in k}
        assert aips == staged, "the AIP keys differ from staging"
        recorded = self.recorded()
        assert {k: recorded.get(k) for k in staged} == staged, "state records differ"
        ids = self.snapshot_ids()
        inv = self.inventory(ids[0])
        assert {e.key: e.sha256 for e in inv.entries()} == staged, "snapshot != staging"
        stray = [k for k in objects if "/" in k and not k.startswith("versions/")
                 and k not in {snapshot_key(i) for i in ids}]
        assert stray == [], f"stray keys: {stray}"
        return objects

    def close(self) -> None:
        for tgt in self.opened:
            tgt.close()
        self.opened.clear()


# --- an injected full disk --------------------------------------------------------------------
class _QuotaFile:
    """A writable file under the quota: writes fail with ENOSPC once the budget is spent."""

    def __init__(self, quota: DiskQuota, handle: Any) -> None:
        self._quota = quota
        self._handle = handle

    def write(self, data: Any) -> int:
        self._quota.spend(len(data))
        return int(self._handle.write(data))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __enter__(self) -> _QuotaFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.__exit__(*exc)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._handle)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


class DiskQuota:
    """A disk that fills up: files opened for writing under ``root`` (with ``open``,
    ``io.open``, ``Path.open`` or ``os.fdopen``) raise ``OSError(ENOSPC)`` from ``write``
    once ``budget`` bytes were written in all of them together, as a full filesystem does.

    ``install(monkeypatch)`` arms it for the test; ``full = False`` frees the space (the
    operator cleaned up).  Writes made outside Python's file objects (SQLite) are not
    counted, so the state database keeps working, as it would on another disk.
    """

    def __init__(self, root: Path, budget: int) -> None:
        self.root = str(root.resolve())
        self.budget = budget
        self.used = 0
        self.full = True
        self.refused = 0

    def spend(self, amount: int) -> None:
        if self.full and self.used + amount > self.budget:
            self.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.used += amount

    def _covers(self, path: str) -> bool:
        return path == self.root or path.startswith(self.root + os.sep)

    def install(self, monkeypatch: Any) -> DiskQuota:
        real_open: Callable[..., Any] = builtins.open
        real_fdopen: Callable[..., Any] = os.fdopen
        quota = self

        def writes(mode: str) -> bool:
            return any(c in mode for c in "wax+")

        def patched_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            handle = real_open(file, mode, *args, **kwargs)
            if isinstance(file, str | bytes | os.PathLike) and writes(mode):
                path = os.path.abspath(os.fsdecode(os.fspath(file)))
                if quota._covers(path):
                    return _QuotaFile(quota, handle)
            return handle

        def patched_fdopen(fd: int, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            handle = real_fdopen(fd, mode, *args, **kwargs)
            if writes(mode):
                with contextlib.suppress(OSError):
                    if quota._covers(os.readlink(f"/proc/self/fd/{fd}")):
                        return _QuotaFile(quota, handle)
            return handle

        monkeypatch.setattr(builtins, "open", patched_open)
        monkeypatch.setattr(io, "open", patched_open)
        monkeypatch.setattr(os, "fdopen", patched_fdopen)
        return self
