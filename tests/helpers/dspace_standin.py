"""The DSpace stand-in (``tests/fixtures/dspace-standin``) for tests: install, run, inspect.

Import as ``from helpers.dspace_standin import ...``.

- ``make_standin(folder, repository, version, pg_url=None, ...)`` makes an install folder
  for that DSpace version over an embedded repository (and, given a PostgreSQL server URL,
  its own database with DSpace's tables filled) and returns a ``Standin``.
- ``Standin.run(...)`` runs ``bin/dspace`` as a driver would: a small environment (PATH,
  HOME, LANG plus what the test adds), stdin closed to ``/dev/null`` by default or fed the
  given bytes; the exit code is a required check (style P4).
- ``Standin.calls()``: the stand-in's call log (argv, stdin kind, environment names, prompts
  reached, exit code per call).
- ``Standin.set_faults(...)``, ``Standin.sync_db()``, ``Standin.db_rows(sql)``,
  ``Standin.drop()``.

The stand-in's own package (``dspace_standin``) is importable after this module is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import PROJECT_ROOT

FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "dspace-standin"
if str(FIXTURE / "lib") not in sys.path:
    sys.path.insert(0, str(FIXTURE / "lib"))

from dspace_standin import dspacedb, install  # noqa: E402 - needs the path above
from dspace_standin.generation import for_version  # noqa: E402
from dspace_standin.settings import load  # noqa: E402

__all__ = ["FIXTURE", "Standin", "StandinResult", "for_version", "make_standin"]

#: The environment a driver gives its DSpace child, besides what a test adds.
BASE_ENV_NAMES = ("PATH", "HOME", "LANG")


@dataclass(frozen=True)
class StandinResult:
    """One ``bin/dspace`` call: exit code, stdout, stderr (text)."""

    rc: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


@dataclass
class Standin:
    """An installed stand-in."""

    home: Path
    repository: Path
    version: str
    database: install.Database | None = None

    @property
    def bin(self) -> Path:
        return self.home / "bin" / "dspace"

    @property
    def config_file(self) -> Path:
        """Where ``db.*`` lives: ``config/local.cfg`` (6.x+) or ``config/dspace.cfg``."""
        local = self.home / "config" / "local.cfg"
        return local if local.exists() else self.home / "config" / "dspace.cfg"

    def run(self, *args: str, expect: int, stdin: bytes | None = None,
            env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120) -> StandinResult:
        """``bin/dspace ARGS`` in a subprocess; ``stdin`` None means /dev/null."""
        child_env = {k: os.environ[k] for k in BASE_ENV_NAMES if k in os.environ}
        child_env.update(env or {})
        proc = subprocess.run(
            [str(self.bin), *args], input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None, capture_output=True,
            env=child_env, cwd=cwd or self.home.parent, timeout=timeout, check=False)
        result = StandinResult(proc.returncode, proc.stdout.decode("utf-8", "replace"),
                               proc.stderr.decode("utf-8", "replace"))
        assert result.rc == expect, (
            f"dspace {' '.join(args)} exited {result.rc}, expected {expect}\n"
            f"stdout: {result.out[-3000:]}\nstderr: {result.err[-3000:]}")
        return result

    def calls(self) -> list[dict[str, Any]]:
        """Every call, start and end records merged by process id, oldest first."""
        path = self.home / "log" / "standin-calls.jsonl"
        merged: dict[int, dict[str, Any]] = {}
        if not path.exists():
            return []
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            merged.setdefault(record["pid"], {}).update(
                {k: v for k, v in record.items() if k != "event"})
        return list(merged.values())

    def last_call(self) -> dict[str, Any]:
        calls = self.calls()
        assert calls, "the stand-in was never called"
        return calls[-1]

    def set_faults(self, **knobs: Any) -> None:
        """Replace the ``[faults]`` table (README.md lists the knobs)."""
        install.set_faults(self.home, **knobs)

    def sync_db(self) -> None:
        """Make DSpace's tables equal to the embedded repository (after a test changed it
        directly)."""
        dspacedb.sync(load(self.home))

    def db_rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a query on the install's database (through DSpace's own keys)."""
        with dspacedb.connect(load(self.home)) as conn:
            return list(conn.execute(sql).fetchall())

    def drop(self) -> None:
        if self.database is not None:
            install.drop_database(self.database)
            self.database = None


def make_standin(folder: Path, repository: Path, version: str, *,
                 pg_url: str | None = None, jdbc_form: str = "plain",
                 **options: Any) -> Standin:
    """An install of the stand-in for DSpace ``version`` at ``folder`` over the embedded
    repository folder ``repository``; with ``pg_url`` (a PostgreSQL server URL) it gets
    its own database there, filled from the repository.  ``options`` go to
    ``install.create`` (``java_version``, ``timezone``, ``faults``, ``version_info``)."""
    database = install.create_database(pg_url, jdbc_form=jdbc_form) if pg_url else None
    install.create(folder, repository=repository, version=version, python=sys.executable,
                   database=database, **options)
    return Standin(folder.resolve(), repository.resolve(), version, database)
