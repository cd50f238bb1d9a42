"""Daemon-side security: a planted credential never comes out; secret files must be private;
the metrics endpoint listens on loopback only.

A secret is planted where an operator would put it: ``[target] secret_access_key`` (and the
access key id) in a 0600 configuration file, and, against PostgreSQL, a password in
``repository.db_url``.  Then every command runs as the operator would run it (``python -m
daemon``, JSON logs at debug level), successful and failing runs alike (an unreachable
endpoint, a missing bucket, a handle not in the snapshot, a wrong database password), and the
daemon itself with metrics on.  Every output is searched for the secret: stdout, stderr (log
lines and the one-line errors), the metrics endpoint's body, the state database and every
other file the runs wrote (state folder, staging, restore work folder), and the ``repr`` of
the loaded configuration (what an exception or a debugger would show).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    ADMIN,
    PREFIX,
    PROJECT_ROOT,
    CliResult,
    RepoLocation,
    console_env,
    drop_database,
    free_port,
    make_repo,
    run_console,
    to_toml,
)

from aip import constants as C
from aip.repository import seed as seedmod
from daemon.core.config import DEFAULT_METRICS_ADDRESS, MetricsConfig, load_config

ACCESS_KEY = "AKIAPLANTED7Q3ZK2XW"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+planted-secret-8c1f0e"
DB_PASSWORD = "pg-planted-password-51d7a3"
WRONG_DB_PASSWORD = "pg-planted-wrong-password-9e04b7"


class Scene:
    """A repository, staging, state and a bucket on moto, with planted credentials."""

    def __init__(self, root: Path, repo: RepoLocation, endpoint: str, bucket: str) -> None:
        self.root = root
        self.repo = repo
        self.endpoint = endpoint
        self.bucket = bucket
        self.outputs: dict[str, str] = {}

    def tables(self, **override: dict[str, Any]) -> dict[str, dict[str, Any]]:
        repository: dict[str, Any] = {"eperson": ADMIN, "site_handle": f"{PREFIX}/0",
                                      "path": str(self.repo.folder)}
        if self.repo.db_url is not None:
            repository.update(db_url=self.repo.db_url, assetstore=str(self.repo.assetstore))
        doc: dict[str, dict[str, Any]] = {
            "repository": repository,
            "staging": {"dir": str(self.root / "staging")},
            "state": {"dir": str(self.root / "state")},
            "target": {"url": f"s3://{self.bucket}/backup", "endpoint_url": self.endpoint,
                       "region": "us-east-1", "addressing_style": "path",
                       "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY,
                       "max_attempts": 1, "connect_timeout": 1, "read_timeout": 5},
            "watch": {"enabled": False},
        }
        for section, table in override.items():
            doc.setdefault(section, {}).update(table)
        return doc

    def config(self, name: str = "aipsync.toml", mode: int = 0o600,
               **override: dict[str, Any]) -> Path:
        path = self.root / name
        path.write_text(to_toml(self.tables(**override)))
        path.chmod(mode)
        return path

    def run(self, label: str, *argv: str, expect: int) -> CliResult:
        """``python -m daemon --log-level debug --log-format json ARGV``; outputs kept."""
        result = run_console("--log-level", "debug", "--log-format", "json", *argv,
                             expect=expect, env=console_env())
        self.outputs[f"{label} stdout"] = result.out
        self.outputs[f"{label} stderr"] = result.err
        return result

    def files(self) -> Iterator[tuple[str, bytes]]:
        """Every file the runs wrote (the configuration files themselves excepted)."""
        for folder in sorted(self.root.glob("state*")) + sorted(self.root.glob("staging*")):
            for path in folder.rglob("*"):
                if path.is_file():
                    yield str(path), path.read_bytes()

    def assert_never_shown(self, *secrets: str) -> int:
        """No output and no file holds any of ``secrets``; returns how many were searched."""
        searched = 0
        for label, text in self.outputs.items():
            searched += 1
            for secret in secrets:
                assert secret not in text, f"{secret!r} in {label}"
        for path, data in self.files():
            searched += 1
            for secret in secrets:
                assert secret.encode() not in data, f"{secret!r} in {path}"
        return searched


def seeded(location: RepoLocation) -> RepoLocation:
    make_repo(location)
    with location.opened() as repo:
        seedmod.seed(repo, seedmod.SeedOptions(communities=1, depth=1, collections=1,
                                               items=3, seed=9))
    return location


@pytest.fixture
def scene(tmp_path: Path, s3_endpoint: str, s3_bucket: str) -> Scene:
    return Scene(tmp_path, seeded(RepoLocation(tmp_path / "repo")), s3_endpoint, s3_bucket)


def run_daemon(scene: Scene, config: Path) -> tuple[str, str, list[tuple[str, int]]]:
    """The daemon with metrics on: wait for its first cycle, scrape, note its listening
    sockets, stop it with SIGTERM; returns (stderr, metrics body, listening addresses)."""
    port = free_port()
    text = config.read_text() + f"[metrics]\nenabled = true\nport = {port}\n"
    config.write_text(text)
    proc = subprocess.Popen([sys.executable, "-m", "daemon", "daemon", "--config",
                             str(config)], cwd=PROJECT_ROOT, env=console_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        body = ""
        while time.monotonic() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                              timeout=5).read().decode()
            except OSError:
                body = ""
            if 'aipsync_runs_total{kind="full",status="ok"} 1.0' in body:
                break
            time.sleep(0.1)
        assert 'status="ok"} 1.0' in body, "the daemon's first cycle did not finish"
        listening = listeners(port)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    scene.outputs["daemon stdout"] = out
    scene.outputs["daemon stderr"] = err
    scene.outputs["metrics body"] = body
    return err, body, listening


def listeners(port: int) -> list[tuple[str, int]]:
    """Every listening TCP socket on ``port`` (Linux ``/proc/net/tcp{,6}``): (address, port)."""
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, _, hexport = local.partition(":")
            if state != "0A" or int(hexport, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            if width == 8:
                found.append((socket.inet_ntop(socket.AF_INET, raw[::-1]), port))
            else:
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                found.append((socket.inet_ntop(socket.AF_INET6, words), port))
    return found


# =============================================================================================
# The planted secret never comes out
# =============================================================================================
def test_a_planted_s3_secret_never_comes_out(scene: Scene) -> None:
    config = scene.config()
    cfg = str(config)
    assert SECRET_KEY not in repr(load_config(config)), "the secret is in the config's repr"
    assert ACCESS_KEY not in repr(load_config(config))

    scene.run("backup", "backup", "--config", cfg, "--json", expect=0)
    scene.run("backup again", "backup", "--config", cfg, "--json", expect=0)
    scene.run("mirror", "mirror", "--config", cfg, "--dry-run", "--json", expect=0)
    scene.run("status", "status", "--config", cfg, "--json", expect=0)
    scene.run("status text", "status", "--config", cfg, expect=0)
    scene.run("snapshots", "snapshots", "--config", cfg, "--json", expect=0)
    scene.run("verify", "verify", "--config", cfg, "--deep", "--json", expect=0)
    scene.run("restore", "restore", "--config", cfg, "--handle", f"{PREFIX}/2", "--dry-run",
              "--json", expect=0)
    scene.run("prune", "prune", "--config", cfg, "--dry-run", "--json", expect=0)
    # Failing runs: their errors and tracebacks are outputs too.
    scene.run("not in snapshot", "restore", "--config", cfg, "--handle", f"{PREFIX}/999",
              "--dry-run", expect=C.EXIT_NOT_IN_SNAPSHOT)
    nobucket = scene.config("nobucket.toml",
                            target={"url": f"s3://missing-{uuid.uuid4().hex[:8]}/backup"})
    refused = scene.run("no such bucket", "snapshots", "--config", str(nobucket),
                        expect=C.EXIT_TARGET_PERMANENT)
    assert "no such bucket" in refused.err
    down = scene.config("down.toml", target={"endpoint_url": f"http://127.0.0.1:{free_port()}"},
                        state={"dir": str(scene.root / "state-down")})
    scene.run("unreachable", "backup", "--config", str(down),
              expect=C.EXIT_TARGET_UNREACHABLE)

    # The daemon, with a state folder of its own so that its first cycle runs at start-up.
    run_daemon(scene, scene.config("daemon.toml", state={"dir": str(scene.root / "state-d")},
                                   staging={"dir": str(scene.root / "staging-d")}))

    searched = scene.assert_never_shown(SECRET_KEY, ACCESS_KEY)
    assert searched > 25
    assert (scene.root / "state" / "state.db").is_file()


@pytest.mark.postgres
def test_a_planted_database_password_never_comes_out(tmp_path: Path, pg_url: str,
                                                     s3_endpoint: str, s3_bucket: str) -> None:
    import sqlalchemy as sa

    role = f"planted_{uuid.uuid4().hex[:8]}"
    url = sa.engine.make_url(pg_url)
    admin = sa.create_engine(url.set(drivername="postgresql+psycopg"),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN PASSWORD '{DB_PASSWORD}'"))
        conn.execute(sa.text(f'ALTER DATABASE "{url.database}" OWNER TO {role}'))
        conn.execute(sa.text(f"GRANT ALL ON SCHEMA public TO {role}"))
    admin.dispose()
    secret_url = url.set(username=role, password=DB_PASSWORD).render_as_string(
        hide_password=False)
    wrong_url = secret_url.replace(DB_PASSWORD, WRONG_DB_PASSWORD)
    try:
        repo = seeded(RepoLocation(tmp_path / "repo", secret_url))
        scene = Scene(tmp_path, repo, s3_endpoint, s3_bucket)
        config = scene.config()
        cfg = str(config)
        assert DB_PASSWORD not in repr(load_config(config))
        scene.run("backup", "backup", "--config", cfg, "--json", expect=0)
        scene.run("status", "status", "--config", cfg, "--json", expect=0)
        scene.run("verify", "verify", "--config", cfg, "--json", expect=0)
        scene.run("restore", "restore", "--config", cfg, "--handle", f"{PREFIX}/2",
                  "--dry-run", "--json", expect=0)
        wrong = scene.config("wrong.toml", repository={"db_url": wrong_url},
                             state={"dir": str(tmp_path / "state-wrong")})
        failed = scene.run("wrong password", "backup", "--config", str(wrong),
                           expect=C.EXIT_STORE)
        (line,) = [ln for ln in failed.err.splitlines() if ln.startswith("aipsync: ")]
        assert line.startswith("aipsync: error: cannot open database postgresql://") \
            and ":***@" in line, line
        scene.assert_never_shown(DB_PASSWORD, WRONG_DB_PASSWORD, SECRET_KEY)
    finally:
        drop_database(pg_url)
        admin = sa.create_engine(url.set(drivername="postgresql+psycopg", database="postgres"),
                                 isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


# =============================================================================================
# Secret files must be private
# =============================================================================================
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_secret_file_readable_by_others_is_refused(scene: Scene, mode: int) -> None:
    config = scene.config(mode=mode)
    for argv in (["status"], ["backup"], ["verify"], ["snapshots"],
                 ["restore", "--handle", f"{PREFIX}/2", "--dry-run"]):
        result = run_console(argv[0], "--config", str(config), *argv[1:],
                             expect=C.EXIT_CONFIG_PERMISSIONS)
        assert result.err.splitlines() == [
            f"aipsync: error: {config}: holds a secret and is readable by other users; "
            "chmod 600 it"], result.err
    daemon = run_console("daemon", "--config", str(config), expect=C.EXIT_CONFIG_PERMISSIONS)
    events = [json.loads(line) for line in daemon.err.splitlines() if line.startswith("{")]
    assert [e["exit_code"] for e in events] == [C.EXIT_CONFIG_PERMISSIONS]
    assert not (scene.root / "state").exists(), "a refused run must not start anything"


def test_a_password_in_the_database_url_makes_the_file_secret(scene: Scene) -> None:
    config = scene.config(mode=0o644, repository={
        "db_url": f"postgresql://aipsync:{DB_PASSWORD}@127.0.0.1:1/aipsync"},
        target={"access_key_id": None, "secret_access_key": None})
    result = run_console("status", "--config", str(config), expect=C.EXIT_CONFIG_PERMISSIONS)
    assert DB_PASSWORD not in result.err
    config.chmod(0o600)
    run_console("status", "--config", str(config), expect=0)


def test_a_file_without_a_secret_may_be_readable(scene: Scene) -> None:
    doc = scene.tables()
    del doc["target"]["access_key_id"], doc["target"]["secret_access_key"]
    path = scene.root / "public.toml"
    path.write_text(to_toml(doc))
    path.chmod(0o644)
    run_console("status", "--config", str(path), expect=0)


def test_the_state_folder_is_private_and_holds_no_secret(scene: Scene) -> None:
    config = scene.config()
    scene.run("backup", "backup", "--config", str(config), expect=0)
    state = scene.root / "state"
    assert state.stat().st_mode & 0o777 == 0o700
    private = [p for p in state.iterdir() if p.is_file()]
    assert private, "no state file"
    for path in private:
        assert path.stat().st_mode & 0o077 == 0, f"{path.name} is readable by others"
    scene.outputs.clear()
    scene.assert_never_shown(SECRET_KEY, ACCESS_KEY)


# =============================================================================================
# Loopback only
# =============================================================================================
def test_the_metrics_endpoint_listens_on_loopback_by_default(scene: Scene) -> None:
    assert MetricsConfig().address == DEFAULT_METRICS_ADDRESS == "127.0.0.1"
    config = scene.config()
    assert not re.search(r"^address\s*=", config.read_text(), re.MULTILINE)
    _, body, listening = run_daemon(scene, config)
    assert "aipsync_up 1.0" in body
    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("no /proc/net/tcp to read the listening sockets from")
    assert listening and {address for address, _ in listening} == {"127.0.0.1"}, listening
