"""Helpers for the service's integration tests: a seeded embedded repository, a staging and a
state folder, and a target (moto's S3 server on 127.0.0.1, or a file:// folder).

``BackupEnv`` builds configurations (as TOML files too, for subprocesses), opens targets whose
``requests`` counters tests read, edits the repository through the ``repo`` CLI and answers
"what does the target hold" questions the same way for both targets.  ``BackupEnv.dspace``
installs the DSpace stand-in (tests/fixtures/dspace-standin) over the same repository, for
``kind = "dspace"`` (``dspace_sections``); the fixtures drop its database after the test.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import (
    ADMIN,
    PREFIX,
    DaemonFolders,
    RepoLocation,
    make_repo,
    run_cli,
    to_toml,
)
from helpers.dspace_standin import Standin, make_standin

from aip.repository import seed as seedmod
from daemon.core.config import Config, parse_config
from daemon.service.lifecycle import Service
from daemon.sync.snapshots import list_snapshots, read_inventory
from daemon.targets import Target, open_target

REPO_ROOT = Path(__file__).resolve().parents[3]
SITE_FILE = f"SITE@{PREFIX}-0.zip"
#: One version string per DSpace generation the stand-in models (and the driver supports).
GENERATIONS = ["5.10", "6.3", "7.6.2", "8.1", "9.1", "10.0"]
#: What a DSpace child may get from aipsync's environment (``sh`` adds PWD).
CHILD_ENV = {"PATH", "HOME", "LANG", "JAVA_HOME", "JAVA_OPTS", "PWD"}


@dataclass
class BackupEnv(DaemonFolders):
    """An embedded repository, staging, state and a target, with helpers."""

    kind: str
    root: Path
    url: str
    endpoint: str | None
    bucket: str | None
    repo: RepoLocation
    opened: list[Target] = field(default_factory=list)
    installs: list[Standin] = field(default_factory=list)

    def tables(self, **sections: dict[str, Any]) -> dict[str, dict[str, Any]]:
        target: dict[str, Any] = {"url": self.url, "max_attempts": 2, "transfers": 4}
        if self.endpoint:
            target.update(endpoint_url=self.endpoint, region="us-east-1",
                          addressing_style="path")
        doc: dict[str, dict[str, Any]] = {
            "repository": {"path": str(self.repo.folder), "eperson": ADMIN,
                           "site_handle": f"{PREFIX}/0"},
            "staging": {"dir": str(self.staging)},
            "state": {"dir": str(self.state_dir)},
            "target": target,
            "watch": {"debounce_seconds": 0.2, "scan_interval_seconds": 300},
        }
        for name, table in sections.items():
            doc.setdefault(name, {}).update(table)
        return doc

    def config(self, **sections: dict[str, Any]) -> Config:
        return parse_config(self.tables(**sections))

    def write_config(self, path: Path | None = None, **sections: dict[str, Any]) -> Path:
        path = path or self.root / "aipsync.toml"
        path.write_text(to_toml(self.tables(**sections)))
        return path

    # --- the DSpace stand-in -------------------------------------------------------------------
    def dspace(self, version: str = "7.6.2", *, pg_server: str | None = None,
               **options: Any) -> Standin:
        """The stand-in for DSpace ``version`` over this repository; with ``pg_server`` (the
        session's PostgreSQL server, ``tests/conftest.py``) it gets its own database there
        with DSpace's tables, dropped by the fixtures after the test."""
        installed = make_standin(self.root / f"dspace-{len(self.installs)}", self.repo.folder,
                                 version, pg_url=pg_server, **options)
        self.installs.append(installed)
        return installed

    def dspace_sections(self, dspace: Standin, **repository: Any) -> dict[str, dict[str, Any]]:
        return {"repository": {"kind": "dspace", "dspace_bin": str(dspace.bin),
                               "dspace_timeout": 120, **repository}}

    def drop_installs(self) -> None:
        for installed in self.installs:
            installed.drop()

    def target(self, config: Config | None = None) -> Target:
        tgt = open_target((config or self.config()).target)
        self.opened.append(tgt)
        return tgt

    def subprocess_env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("AIPSYNC_")}

    # --- the repository -----------------------------------------------------------------------
    def edit_item(self, handle: str, title: str) -> None:
        run_cli(*self.repo.argv, "repo", "set-metadata", handle, "dc.title", title, expect=0)

    def delete(self, handle: str) -> None:
        run_cli(*self.repo.argv, "repo", "delete", handle, expect=0)

    def withdraw(self, handle: str) -> None:
        run_cli(*self.repo.argv, "repo", "withdraw", handle, expect=0)

    def staged(self) -> dict[str, str]:
        """File name -> SHA-256 of every AIP in staging."""
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(self.staging.glob("*.zip"))}

    def staged_items(self) -> list[str]:
        return sorted(n for n in self.staged() if n.startswith("ITEM@"))

    # --- the target ---------------------------------------------------------------------------
    def remote_sha256(self, key: str) -> str | None:
        head = self.target().head(key)
        return None if head is None else head.sha256

    def snapshot_ids(self) -> list[str]:
        """Complete snapshots in the target, newest first."""
        return [s.id for s in list_snapshots(self.target())]

    def snapshot_entries(self, snapshot_id: str) -> dict[str, str]:
        inv = read_inventory(self.target(), snapshot_id)
        return {e.key: e.sha256 for e in inv.entries()}


def handle_of(name: str) -> str:
    """``ITEM@123456789-12.zip`` -> ``123456789/12``."""
    return name.partition("@")[2].removesuffix(".zip").replace("-", "/", 1)


def seeded_repo(folder: Path, *, items: int = 6) -> RepoLocation:
    loc = make_repo(RepoLocation(folder))
    with loc.opened() as repo:
        seedmod.seed(repo, seedmod.SeedOptions(communities=1, depth=1, collections=2,
                                               items=items, seed=3))
    return loc


def no_db_config(dspace: Standin) -> None:
    """DSpace's db.* keys out of the install's configuration files: a DSpace whose database
    aipsync cannot find (a 7.x+ site that sets them through environment variables, which
    aipsync does not read).  The stand-in itself needs them only for its own database."""
    for name in ("local.cfg", "dspace.cfg"):
        path = dspace.home / "config" / name
        if path.exists():
            kept = [line for line in path.read_text().splitlines()
                    if not line.startswith("db.")]
            path.write_text("\n".join(kept) + "\n")


@contextlib.contextmanager
def running_service(cfg_file: Path) -> Iterator[Service]:
    """``aipsync daemon`` on ``cfg_file`` in a thread (no signal handlers, logs discarded),
    stopped and joined on leaving; the thread must have ended."""
    service = Service(cfg_file, environ={}, install_signals=False, log_stream=io.StringIO())
    thread = threading.Thread(target=service.run, name="test-service")
    thread.start()
    try:
        yield service
    finally:
        service.request_stop()
        thread.join(30)
    assert not thread.is_alive()
