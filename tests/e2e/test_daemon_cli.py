"""``python -m daemon`` end to end: the service under a fake systemd, and the one-shot commands.

The service runs as a subprocess with ``NOTIFY_SOCKET`` pointing at a datagram socket the test
reads (what systemd does for ``Type=notify``), and gets real signals.  Every call states the
exit code it expects (docs/style.md P4).  The target is a ``file://`` folder; the target-specific
behaviour is covered against moto's S3 server in tests/integration/service.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    ADMIN,
    PROJECT_ROOT,
    NotifySocket,
    RepoLocation,
    console_env,
    free_port,
    make_repo,
    run_console,
    wait_for,
)

from aip import constants as C
from aip.repository import seed as seedmod
from daemon.service.metrics import METRIC_NAMES


def write_config(root: Path, **extra: str) -> Path:
    """A configuration: embedded repository, file:// target, everything under ``root``."""
    (root / "target").mkdir(exist_ok=True)
    text = (f'[repository]\npath = "{root / "repo"}"\neperson = "{ADMIN}"\n'
            f'[staging]\ndir = "{root / "staging"}"\n[state]\ndir = "{root / "state"}"\n'
            f'[target]\nurl = "file://{root / "target"}"\n{extra.get("target", "")}\n'
            f'[watch]\ndebounce_seconds = 0.2\n{extra.get("rest", "")}\n')
    path = root / "aipsync.toml"
    path.write_text(text)
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    loc = make_repo(RepoLocation(tmp_path / "repo"))
    with loc.opened() as repo:
        seedmod.seed(repo, seedmod.SeedOptions(communities=1, depth=1, collections=1,
                                               items=4, seed=5))
    return tmp_path


class LogReader:
    """Collects a subprocess's JSON log lines from stderr as they come."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), name="log-reader")
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line)

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in list(self.lines):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("event") == name:
                found.append(doc)
        return found

    def join(self) -> None:
        self._thread.join(10)


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    sock = NotifySocket()
    try:
        yield sock
    finally:
        sock.close()


def test_the_daemon_under_a_fake_systemd(root: Path, notify: NotifySocket) -> None:
    port = free_port()
    config = write_config(root, rest=f"[metrics]\nenabled = true\nport = {port}\n")
    # A credential in the environment (as boto3's chain would read it) must never be logged.
    env = console_env(NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="400000",
                      AWS_SECRET_ACCESS_KEY="testing-secret-e2e-0123456789")
    proc = subprocess.Popen([sys.executable, "-m", "daemon", "daemon", "--config", str(config)],
                            cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None and proc.stdout is not None
    logs = LogReader(proc.stderr)
    try:
        wait_for(lambda: notify.count("READY=1"), timeout=30, what="READY=1")
        wait_for(lambda: notify.count("WATCHDOG=1") >= 2, timeout=10, what="watchdog pings")
        # The first cycle (never a success before) runs at start-up: a full export.
        done = wait_for(lambda: logs.events("backup.cycle.done"), timeout=60,
                        what="the first backup cycle")
        assert done[0]["kind"] == "full" and done[0]["uploaded"] > 0

        def counted() -> str:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                          timeout=10).read().decode()
            return str(text) if 'kind="full",status="ok"} 1.0' in text else ""

        # The service counts the cycle in its callback, just after the cycle logged its end.
        text = wait_for(counted, timeout=10, what="the cycle counted in the metrics")
        for name in METRIC_NAMES:
            assert f"# TYPE {name} " in text, name
        assert 'aipsync_runs_total{kind="full",status="ok"} 1.0' in text

        second = run_console("daemon", "--config", str(config), expect=C.EXIT_LOCKED, env=env)
        locked = [json.loads(line) for line in second.err.splitlines() if line.startswith("{")]
        assert any(e.get("msgid") == "LockedError" and e.get("exit_code") == C.EXIT_LOCKED
                   for e in locked), second.err
        assert proc.poll() is None
        status = json.loads(run_console("status", "--config", str(config), "--json",
                                        expect=0, env=env).out)
        assert status["daemon"] == {"running": True, "pid": proc.pid,
                                    "since": status["daemon"]["since"]}
        assert status["recovery_point"]["snapshot_id"] == done[0]["snapshot"]

        good = config.read_text()
        config.write_text(good + "\n[target\nbroken = \n")
        readies = notify.count("READY=1")
        proc.send_signal(signal.SIGHUP)
        failed = wait_for(lambda: logs.events("service.reload.failed"), timeout=10,
                          what="the failed reload")
        assert failed[0]["msgid"] == "ConfigError" and "not valid TOML" in failed[0]["error"]
        wait_for(lambda: notify.count("READY=1") > readies, timeout=10,
                 what="READY=1 after the reload")
        assert notify.count("RELOADING=1") == 1
        assert proc.poll() is None, "a bad reload must not stop the daemon"

        config.write_text(good.replace("debounce_seconds = 0.2", "debounce_seconds = 0.3"))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: logs.events("service.reloaded"), timeout=10, what="a good reload")

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == C.EXIT_OK
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        logs.join()
        proc.stdout.close()
        proc.stderr.close()
    assert notify.count("STOPPING=1") == 1
    assert logs.events("service.stopped")
    assert not [line for line in logs.lines if "testing-secret-e2e" in line]


def test_the_daemon_with_a_bad_configuration_exits_10(tmp_path: Path) -> None:
    config = tmp_path / "aipsync.toml"
    config.write_text("[repository]\nkind = \"embedded\"\n")
    result = run_console("daemon", "--config", str(config), expect=C.EXIT_CONFIG)
    events = [json.loads(line) for line in result.err.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events] == ["service.config.invalid"]
    assert events[0]["exit_code"] == C.EXIT_CONFIG and "[staging]" in events[0]["error"]
    run_console("daemon", "--config", str(tmp_path / "missing.toml"), expect=C.EXIT_CONFIG)


def test_backup_mirror_status_and_prune_commands(root: Path) -> None:
    config = str(write_config(root))

    status = json.loads(run_console("status", "--config", config, "--json", expect=0).out)
    assert status["last_run"] is None and status["recovery_point"] is None

    first = json.loads(run_console("backup", "--config", config, "--json", expect=0).out)
    assert first["kind"] == "full" and first["status"] == "ok" and first["snapshot_written"]
    assert len(first["uploaded"]) == first["exported"] > 5

    again = json.loads(run_console("backup", "--config", config, "--json", expect=0).out)
    assert again["kind"] == "incremental" and again["uploaded"] == []
    assert again["requests"] == 0 and again["snapshot_id"] == first["snapshot_id"]

    (root / "staging" / "ITEM@123456789-77.zip").write_bytes(b"dropped by hand")
    dry = json.loads(run_console("mirror", "--config", config, "--dry-run", "--json",
                                 expect=0).out)
    assert dry["to_upload"] == ["ITEM@123456789-77.zip"] and dry["requests"] == 0
    text = run_console("mirror", "--config", config, expect=0).out
    assert "1 uploaded" in text and text.splitlines()[-1].startswith("snapshot ")

    status = json.loads(run_console("status", "--config", config, "--json", expect=0).out)
    assert status["last_success"]["snapshot_id"] == first["snapshot_id"]
    assert status["recovery_point"]["objects"] == first["exported"] + 1
    assert status["pending"]["count"] == 0 and status["failed"]["count"] == 0
    human = run_console("status", "--config", config, expect=0).out
    assert "recovery point:  snapshot" in human

    pruned = json.loads(run_console("prune", "--config", config, "--keep-snapshots", "1",
                                    "--keep-days", "0", "--dry-run", "--json", expect=0).out)
    assert pruned["dry_run"] and pruned["deleted_snapshots"] == [first["snapshot_id"]]
    run_console("prune", "--config", config, "--keep-snapshots", "0", expect=C.EXIT_USAGE)
    run_console("backup", "--config", str(root / "nope.toml"), expect=C.EXIT_CONFIG)


def test_sigterm_stops_a_one_shot_backup_after_the_upload_in_flight(root: Path) -> None:
    config = write_config(root, target="bandwidth_limit = 2000\ntransfers = 1\n")
    proc = subprocess.Popen([sys.executable, "-m", "daemon", "backup", "--config", str(config)],
                            cwd=PROJECT_ROOT, env=console_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: any(p.name.endswith(".zip") for p in (root / "target").iterdir()),
                 timeout=60, what="the first upload")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == C.EXIT_SIGNAL_BASE + signal.SIGTERM
    assert "stopped before the end" in out
    assert not (root / "target" / "snapshots").exists() or not any(
        (root / "target" / "snapshots").iterdir()), "a stopped run must not commit"
