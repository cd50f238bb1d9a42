"""The ``[notify]`` hooks, received by loopback HTTP servers: what a Healthchecks check and a
webhook see of a successful backup, a failed one (the target unreachable), an audit that
finds a corrupted copy, and a scheduled cycle of the service; a ping server that hangs does
not hold the backup; a hook's token never reaches the log.

The servers are ``http.server`` on 127.0.0.1 (port 0) in threads; they record every request
(method, path, query, body).  The commands run in-process (``aip.cli.run`` with the daemon's
commands), so their JSON log lines are read from the captured stderr.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import ADMIN, free_port, to_toml, wait_for
from service_support import seeded_repo

from aip import cli as aip_cli
from aip import constants as C
from aip.spill import SpillList
from daemon.cli import add_daemon_commands
from daemon.core.config import NotifyConfig, load_config, parse_config
from daemon.core.jsondoc import CAP
from daemon.service.hooks import Hooks
from daemon.service.scheduler import CycleRunner

TOKEN = "0f7c9d1e-5a9b-4b1e-9d7a-6c1f00c0ffee"


@dataclass(frozen=True)
class Hit:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HookServer:
    """A loopback HTTP server that records requests; with ``hang`` it never answers (until
    closed)."""

    def __init__(self, *, hang: bool = False) -> None:
        self.hits: list[Hit] = []
        self.release = threading.Event()
        self.holding = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                server.hits.append(Hit("POST", parts.path, parse_qs(parts.query), body))
                if hang:
                    server.holding += 1
                    server.release.wait(60)
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, *_: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="hook-server")
        self._thread.start()

    def paths(self) -> list[str]:
        return [h.path for h in self.hits]

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(10)


@pytest.fixture
def hooks() -> Iterator[HookServer]:
    server = HookServer()
    yield server
    server.close()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    seeded_repo(tmp_path / "repo", items=4)
    (tmp_path / "target").mkdir()
    return tmp_path


def write_config(root: Path, notify: dict[str, Any], target: dict[str, Any] | None = None
                 ) -> Path:
    tables = {"repository": {"path": str(root / "repo"), "eperson": ADMIN},
              "staging": {"dir": str(root / "staging")}, "state": {"dir": str(root / "state")},
              "target": target or {"url": f"file://{root / 'target'}"},
              "watch": {"enabled": False}, "log": {"format": "json"}, "notify": notify}
    path = root / "aipsync.toml"
    path.write_text(to_toml(tables))
    path.chmod(0o600)
    return path


def aipsync(*argv: str, expect: int) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = aip_cli.run(list(argv), out=out, err=err, extra=add_daemon_commands)
    assert rc == expect, f"exit {rc}\n{out.getvalue()[-2000:]}\n{err.getvalue()[-3000:]}"
    return out.getvalue(), err.getvalue()


def events(err: str, name: str) -> list[dict[str, Any]]:
    docs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return [d for d in docs if d.get("event") == name]


def notify_tables(server: HookServer, **extra: Any) -> dict[str, Any]:
    return {"healthchecks_url": f"{server.url}/ping/{TOKEN}",
            "webhook_urls": [f"{server.url}/hook/T000/B000/secret-{TOKEN}"], **extra}


def ping_pair(server: HookServer, end: str) -> tuple[Hit, Hit]:
    """The start ping and the end ping of one run (same rid), the end being ``end``."""
    pings = [h for h in server.hits if h.path.startswith(f"/ping/{TOKEN}")]
    assert [h.path for h in pings] == [f"/ping/{TOKEN}/start", f"/ping/{TOKEN}{end}"], \
        server.paths()
    assert pings[0].query["rid"] == pings[1].query["rid"]
    return pings[0], pings[1]


def webhook(server: HookServer) -> dict[str, Any]:
    (hit,) = [h for h in server.hits if h.path.startswith("/hook/")]
    doc: dict[str, Any] = hit.json()
    assert doc["source"] == "aipsync" and doc["host"] and doc["text"].startswith("aipsync ")
    return doc


def test_a_successful_backup(root: Path, hooks: HookServer) -> None:
    config = write_config(root, notify_tables(hooks))
    out, err = aipsync("backup", "--config", str(config), "--json", expect=0)
    result = json.loads(out)
    _, end = ping_pair(hooks, "")
    assert f"snapshot {result['snapshot_id']}" in end.body.decode()
    doc = webhook(hooks)
    assert doc["event"] == "backup" and doc["status"] == "ok" and doc["exit_code"] == 0
    assert doc["result"]["snapshot_id"] == result["snapshot_id"]
    assert doc["result"]["uploaded"] == result["uploaded"]
    assert f"aipsync backup on {doc['host']}: ok: full backup" in doc["text"]
    assert TOKEN not in err and "secret-" not in err


class _BigResult:
    """A full backup of 2,500 AIPs as a cycle's result gives it: its names spilled."""

    def __init__(self) -> None:
        self.names: SpillList[str] = SpillList(keep=100)
        self.names.extend(f"ITEM@123456789-{n}.zip" for n in range(2500))

    def as_json(self) -> dict[str, Any]:
        return {"kind": "full", "status": "ok", "exported": 2500, "uploaded": self.names,
                "bytes_uploaded": 1, "snapshot_id": "s1"}


def test_a_webhook_gets_the_first_names_of_a_long_list_and_its_length(
        hooks: HookServer) -> None:
    notify = NotifyConfig(webhook_urls=(f"{hooks.url}/hook/{TOKEN}",), events=("backup",))
    with Hooks(notify).watch("backup") as run:
        run.finish(_BigResult())
    result = webhook(hooks)["result"]
    assert result["uploaded"] == [f"ITEM@123456789-{n}.zip" for n in range(CAP)]
    assert result["truncated"] == {"uploaded": 2500}
    assert "2500 uploaded" in webhook(hooks)["summary"]


def test_a_backup_whose_target_is_unreachable(root: Path, hooks: HookServer,
                                              aws_env: dict[str, str]) -> None:
    closed = free_port()
    config = write_config(root, notify_tables(hooks), target={
        "url": "s3://bucket/backup", "endpoint_url": f"http://127.0.0.1:{closed}",
        "region": "us-east-1", "addressing_style": "path", "max_attempts": 1,
        "connect_timeout": 1, "read_timeout": 1})
    _, err = aipsync("backup", "--config", str(config), expect=C.EXIT_TARGET_UNREACHABLE)
    (line,) = [ln for ln in err.splitlines() if ln.startswith("aipsync: error: ")]
    _, end = ping_pair(hooks, "/fail")
    assert end.body.decode() == line.removeprefix("aipsync: error: ")
    doc = webhook(hooks)
    assert doc["status"] == "failed" and doc["exit_code"] == C.EXIT_TARGET_UNREACHABLE
    assert doc["error"] == end.body.decode() and doc["result"] is None


def test_an_audit_that_finds_a_corrupted_copy(root: Path, hooks: HookServer) -> None:
    config = write_config(root, notify_tables(hooks, events=["audit"]))
    aipsync("backup", "--config", str(config), expect=0)
    assert hooks.hits == [], "events = [\"audit\"]: a backup tells no hook"
    victim = sorted((root / "target").glob("ITEM@*.zip"))[0]
    victim.write_bytes(victim.read_bytes() + b"rot")
    aipsync("verify", "--config", str(config), expect=C.EXIT_AUDIT_FAILED)
    _, end = ping_pair(hooks, "/fail")
    assert "1 corrupted" in end.body.decode()
    doc = webhook(hooks)
    assert doc["event"] == "audit" and doc["status"] == "failed"
    assert doc["result"]["corrupted"] == 1 and doc["exit_code"] == C.EXIT_AUDIT_FAILED
    assert doc["result"]["problems"][0]["key"] == victim.name


def test_a_hanging_ping_server_does_not_hold_the_backup(root: Path) -> None:
    hanging = HookServer(hang=True)
    try:
        config = write_config(root, {"healthchecks_url": f"{hanging.url}/ping/{TOKEN}",
                                     "timeout_seconds": 1.0, "attempts": 2})
        out, err = aipsync("backup", "--config", str(config), expect=0)
        # The backup ended while the server still held both pings unanswered.
        assert out.splitlines()[-1].startswith("snapshot ")
        wait_for(lambda: hanging.holding >= 2, timeout=30, what="both pings at the server")
        assert not hanging.release.is_set()
        assert [h.path for h in hanging.hits[:2]] == [f"/ping/{TOKEN}/start", f"/ping/{TOKEN}"]
        failed = events(err, "notify.failed")
        assert failed and {e["hook"] for e in failed} <= {"start", "success"}
        assert all(e["error"] == "timed out" and e["url"] == f"{hanging.url}/..."
                   for e in failed)
        assert TOKEN not in err
    finally:
        hanging.close()


def test_a_scheduled_cycle_tells_the_hooks(root: Path, hooks: HookServer) -> None:
    """The service's cycle runner (what APScheduler calls) tells the hooks too."""
    config = load_config(write_config(root, notify_tables(hooks)))
    current = [config]
    runner = CycleRunner(lambda: current[0])
    result = runner.run(trigger="test")
    assert result is not None and result.status == "ok"
    ping_pair(hooks, "")
    assert webhook(hooks)["result"]["snapshot_id"] == result.snapshot_id

    # The repository is gone: the next cycle fails, and the check hears why.
    (root / "repo" / "repository.sqlite").rename(root / "moved.sqlite")
    hooks.hits.clear()
    assert runner.run(trigger="test") is None
    _, end = ping_pair(hooks, "/fail")
    assert end.body and webhook(hooks)["status"] == "failed"


def test_a_hook_url_with_a_password_makes_the_file_a_secret_file() -> None:
    doc = {"repository": {"path": "/r", "eperson": ADMIN}, "staging": {"dir": "/s"},
           "state": {"dir": "/st"}, "target": {"url": "file:///t"},
           "notify": {"webhook_urls": ["https://user:pw@hooks.example.org/x"]}}
    assert parse_config(doc).holds_secret
    doc["notify"] = {"healthchecks_url": f"https://hc-ping.com/{TOKEN}"}
    assert not parse_config(doc).holds_secret
