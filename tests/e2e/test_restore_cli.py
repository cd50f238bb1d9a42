"""``python -m daemon restore | snapshots | verify`` as subprocesses: every bad input and fault
gives one clear error line, its exit code from the table, and leaves the repository as it was.

The target is a ``file://`` folder (the S3 behaviour is covered against moto in
tests/integration/restore), except for the unreachable endpoint: an ``s3://`` target whose
endpoint is a closed port on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    ADMIN,
    PREFIX,
    PROJECT_ROOT,
    CliResult,
    RepoLocation,
    console_env,
    make_repo,
    run_console,
    snapshot,
)

from aip import constants as C
from aip.repository import seed as seedmod

COLL = f"{PREFIX}/3"


def write_config(root: Path, target: str = "", extra: str = "") -> Path:
    (root / "target").mkdir(exist_ok=True)
    target = target or f'url = "file://{root / "target"}"'
    path = root / "aipsync.toml"
    path.write_text(f'[repository]\npath = "{root / "repo"}"\neperson = "{ADMIN}"\n'
                    f'[staging]\ndir = "{root / "staging"}"\n[state]\ndir = "{root / "state"}"\n'
                    f"[target]\n{target}\n{extra}\n")
    return path


@pytest.fixture
def backed_up(tmp_path: Path) -> tuple[RepoLocation, Path]:
    """A seeded repository with one complete snapshot in a folder target."""
    loc = make_repo(RepoLocation(tmp_path / "repo"))
    with loc.opened() as repo:
        seedmod.seed(repo, seedmod.SeedOptions(communities=1, depth=1, collections=2,
                                               items=6, seed=3))
    config = write_config(tmp_path)
    run_console("backup", "--config", str(config), expect=0)
    return loc, config


def error_line(result: CliResult, code: int, *fragments: str) -> str:
    """A failed call: exit ``code``, nothing on stdout, and on stderr one ``aipsync: error:``
    line naming each fragment (the other lines are the JSON log events of the run)."""
    assert result.rc == code, (result.rc, result.err)
    assert result.out == "", result.out
    plain = [line for line in result.err.splitlines() if not line.startswith("{")]
    assert len(plain) == 1, result.err
    assert plain[0].startswith("aipsync: error: "), plain[0]
    for fragment in fragments:
        assert fragment in plain[0], (fragment, plain[0])
    for line in result.err.splitlines():
        if line.startswith("{"):
            json.loads(line)
    return plain[0]


def restore_console(*argv: str) -> CliResult:
    """``python -m daemon restore ARGV`` with no terminal on stdin (never asks)."""
    proc = subprocess.run([sys.executable, "-m", "daemon", "restore", *argv],
                          capture_output=True, text=True, env=console_env(),
                          cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, timeout=120, check=False)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def test_snapshots_restore_and_verify_succeed(backed_up: tuple[RepoLocation, Path]) -> None:
    loc, config = backed_up
    listed = json.loads(run_console("snapshots", "--config", str(config), "--json",
                                    expect=0).out)
    assert len(listed["snapshots"]) == 1 and listed["snapshots"][0]["objects"] > 5
    run_console("--repo", str(loc.folder), "repo", "delete", COLL, expect=0)
    restored = run_console("restore", "--config", str(config), "--handle", COLL, expect=0)
    assert restored.out.splitlines()[-1].startswith("restore: ")
    verified = run_console("verify", "--config", str(config), "--deep", expect=0)
    assert verified.out.rstrip().endswith(": ok")


def test_each_bad_input_has_its_exit_code_and_changes_nothing(
        backed_up: tuple[RepoLocation, Path]) -> None:
    loc, config = backed_up
    run_console("--repo", str(loc.folder), "repo", "delete", COLL, expect=0)
    before = snapshot(loc)
    c = str(config)
    cases = [
        (["--snapshot", "20000101T000000Z-000000", "--handle", COLL],
         C.EXIT_SNAPSHOT_NOT_FOUND, ["no complete snapshot with id"]),
        (["--at", "2000-01-01T00:00:00Z", "--handle", COLL], C.EXIT_SNAPSHOT_NOT_FOUND,
         ["no complete snapshot at or before 2000-01-01"]),
        (["--handle", f"{PREFIX}/4242"], C.EXIT_NOT_IN_SNAPSHOT,
         [f"{PREFIX}/4242 is not in snapshot"]),
        (["--handle", "not a handle"], C.EXIT_USAGE, ["is not a handle"]),
        (["--handle", COLL, "--mode", "replace"], C.EXIT_USAGE, ["--yes"]),
        (["--handle", COLL, "--at", "last tuesday"], C.EXIT_USAGE, ["ISO-8601"]),
    ]
    for argv, code, fragments in cases:
        result = restore_console("--config", c, *argv)
        error_line(result, code, *fragments)
    assert snapshot(loc) == before


def test_a_corrupted_or_truncated_object_fails_with_80(backed_up: tuple[RepoLocation, Path],
                                                       tmp_path: Path) -> None:
    loc, config = backed_up
    run_console("--repo", str(loc.folder), "repo", "delete", COLL, expect=0)
    before = snapshot(loc)
    target = tmp_path / "target"
    coll_aip = target / f"COLLECTION@{COLL.replace('/', '-')}.zip"
    good = coll_aip.read_bytes()
    coll_aip.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))          # bit rot
    rotten = run_console("restore", "--config", str(config), "--handle", COLL, expect=80)
    error_line(rotten, C.EXIT_CHECKSUM, coll_aip.name, "SHA-256 mismatch")
    coll_aip.write_bytes(good[: len(good) // 2])                      # a truncated copy
    short = run_console("restore", "--config", str(config), "--handle", COLL, expect=80)
    error_line(short, C.EXIT_CHECKSUM, coll_aip.name, "size mismatch")
    assert snapshot(loc) == before
    failed = run_console("verify", "--config", str(config), expect=C.EXIT_AUDIT_FAILED)
    assert f"corrupted      {coll_aip.name}: size" in failed.out
    coll_aip.write_bytes(good)
    run_console("restore", "--config", str(config), "--handle", COLL, expect=0)


def test_an_unreachable_endpoint_gives_51(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens
    make_repo(RepoLocation(tmp_path / "repo"))
    config = write_config(tmp_path, target=(
        f'url = "s3://bucket/prefix"\nendpoint_url = "http://127.0.0.1:{port}"\n'
        'region = "us-east-1"\nmax_attempts = 2\nconnect_timeout = 2'))
    env = console_env(AWS_ACCESS_KEY_ID="testing-access-key",
                      AWS_SECRET_ACCESS_KEY="testing-secret-key",
                      AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                      AWS_EC2_METADATA_DISABLED="true")
    for command in (["restore", "--handle", COLL], ["snapshots"], ["verify"]):
        result = run_console(command[0], "--config", str(config), *command[1:],
                             expect=C.EXIT_TARGET_UNREACHABLE, env=env)
        line = error_line(result, C.EXIT_TARGET_UNREACHABLE, "gave up after 2 attempt(s)",
                          f"127.0.0.1:{port}")
        assert "testing-secret-key" not in result.err and "testing-access-key" not in line
