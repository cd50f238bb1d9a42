"""The DSpace stand-in (``tests/fixtures/dspace-standin``) for tests: install, run, inspect.

Import as ``from helpers.dspace_standin import ...``.  README.md beside the stand-in
describes the install folder, the knobs and the tables; this module makes installs:

- ``make_standin(folder, repository, version, pg_url=None, ...)`` makes an install folder
  for that DSpace version over an embedded repository (and, given a PostgreSQL server URL,
  its own database with DSpace's tables filled) and returns a ``Standin``.
- ``install(...)``, ``set_faults(...)``, ``create_database(...)``, ``drop_database(...)``:
  the same in parts (what ``ant fresh_install`` and a DBA would do for a real DSpace).
- ``Standin.run(...)`` runs ``bin/dspace`` as a driver would: a small environment (PATH,
  HOME, LANG plus what the test adds), stdin ``/dev/null`` by default or the given bytes;
  the exit code is a required check (style P4).
- ``Standin.calls()``: the stand-in's call log (argv, stdin kind, environment names, prompts
  reached, exit code per call); ``Standin.sync_db()``, ``Standin.db_rows(sql)``.

The stand-in's own package (``dspace_standin``) is importable once this module is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import PROJECT_ROOT, CliResult, to_toml

FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "dspace-standin"
if str(FIXTURE / "lib") not in sys.path:
    sys.path.insert(0, str(FIXTURE / "lib"))

from dspace_standin.dspacedb import connect, sync  # noqa: E402 - needs the path above
from dspace_standin.generation import DEFAULT_CONSUMERS, for_version  # noqa: E402
from dspace_standin.settings import load  # noqa: E402

__all__ = ["FIXTURE", "Database", "Standin", "create_database", "drop_database",
           "for_version", "install", "make_standin", "set_faults"]

#: The environment a driver gives its DSpace child, besides what a test adds.
BASE_ENV_NAMES = ("PATH", "HOME", "LANG")

LAUNCHER_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!-- The commands the stand-in implements, with the names, descriptions and classes of
     dspace/config/launcher.xml (every tag from dspace-5.10 to dspace-10.0). -->
<commands>
    <command>
        <name>packager</name>
        <description>Execute a packager</description>
        <step>
            <class>org.dspace.app.packager.Packager</class>
        </step>
    </command>
    <command>
        <name>version</name>
        <description>Display the version of DSpace and other troubleshooting information\
</description>
        <step>
            <class>org.dspace.app.util.Version</class>
        </step>
    </command>
</commands>
"""
#: dspace/config/dspace.cfg (6.x and later): the defaults local.cfg overrides.
DSPACE_DEFAULT_DB = ("jdbc:postgresql://localhost:5432/dspace", "dspace", "dspace")


# --- the install's database ---------------------------------------------------------------------
@dataclass(frozen=True)
class Database:
    """The install's own PostgreSQL database: the JDBC URL and credentials DSpace's keys
    hold, and the libpq URL of the server it was made on (for dropping it)."""

    jdbc_url: str
    username: str
    password: str
    server_url: str
    name: str


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def create_database(server_url: str, *, jdbc_form: str = "plain") -> Database:
    """A new, empty database ``dspace_standin_<hex>`` on the PostgreSQL server of
    ``server_url`` (a libpq URL such as ``postgresql://user:pw@127.0.0.1:5432/postgres``).

    ``jdbc_form``: ``plain`` (``jdbc:postgresql://host:port/name``) or ``params`` (the
    same with ``?ApplicationName=DSpace&sslmode=disable``, as some sites write it).
    """
    import psycopg
    from psycopg import conninfo

    info = conninfo.conninfo_to_dict(_libpq(server_url))
    name = f"dspace_standin_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        # the password libpq used: the URL's, or one from its password file (PGPASSFILE, as
        # for the test session's throwaway cluster), which DSpace's keys must then hold
        password = str(info.get("password") or conn.info.password or "")
    jdbc = f"jdbc:postgresql://{info.get('host') or '127.0.0.1'}:{info.get('port') or 5432}/{name}"
    if jdbc_form == "params":
        jdbc += "?ApplicationName=DSpace&sslmode=disable"
    return Database(jdbc, str(info.get("user") or ""), password, server_url, name)


def drop_database(database: Database) -> None:
    """Drop the install's database (connections forced out)."""
    import psycopg

    with psycopg.connect(_libpq(database.server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')


# --- the install folder ------------------------------------------------------------------------
def _handle_prefix(repository: Path) -> str:
    from aip.repository import objects
    from aip.repository.store import Repository

    repo = Repository.open(repository)
    try:
        with repo.transaction(write=False) as tx:
            return objects.site_model(tx).handle.partition("/")[0]
    finally:
        repo.close()


def _cfg(path: Path, title: str, values: dict[str, str]) -> None:
    path.write_text("\n".join([f"# {title}", *(f"{k} = {v}" for k, v in values.items()), ""]),
                    encoding="utf-8")
    path.chmod(0o600)  # it holds the database password


def install(home: Path, *, repository: Path, version: str, python: str = sys.executable,
            database: Database | None = None, java_version: str | None = None,
            java_vendor: str | None = None, timezone: str = "UTC",
            faults: dict[str, Any] | None = None,
            version_info: dict[str, Any] | None = None) -> Path:
    """Make the install folder ``home`` for DSpace ``version`` over the embedded repository
    ``repository`` (an initialised SQLite repository folder); returns its ``bin/dspace``.

    Copies ``bin/dspace`` and ``lib/dspace_standin``, writes ``config/dspace.cfg``,
    ``config/local.cfg`` (6.x and later), ``config/launcher.xml`` and
    ``config/standin.toml``, and with a database fills DSpace's tables.
    """
    gen = for_version(version)
    home, repository = home.resolve(), repository.resolve()
    for sub in ("bin", "config", "log", "var"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy2(FIXTURE / "bin" / "dspace", home / "bin" / "dspace")
    lib = home / "lib" / "dspace_standin"
    shutil.rmtree(lib, ignore_errors=True)
    shutil.copytree(FIXTURE / "lib" / "dspace_standin", lib,
                    ignore=shutil.ignore_patterns("__pycache__"))
    config = home / "config"
    prefix = _handle_prefix(repository)
    site_db = DSPACE_DEFAULT_DB if database is None else (
        database.jdbc_url, database.username, database.password)
    main_cfg = {"dspace.dir": str(home), "handle.prefix": prefix,
                "event.dispatcher.default.consumers": DEFAULT_CONSUMERS[gen.major]}
    # 5.x has no local.cfg: db.* live in dspace.cfg; from 6.x dspace.cfg keeps DSpace's
    # defaults and local.cfg holds the site's values
    in_main = DSPACE_DEFAULT_DB if gen.local_cfg else site_db
    main_cfg.update(zip(("db.url", "db.username", "db.password"), in_main, strict=True))
    _cfg(config / "dspace.cfg", "[dspace]/config/dspace.cfg (the keys the stand-in reads)",
         main_cfg)
    if gen.local_cfg:
        local = {"dspace.dir": str(home),
                 **dict(zip(("db.url", "db.username", "db.password"), site_db, strict=True)),
                 "handle.prefix": prefix}
        _cfg(config / "local.cfg", "[dspace]/config/local.cfg: this site's settings", local)
    (config / "launcher.xml").write_text(LAUNCHER_XML, encoding="utf-8")
    default_java, default_vendor = gen.default_java
    (config / "standin.toml").write_text(to_toml({
        "standin": {"version": version, "java_version": java_version or default_java,
                    "java_vendor": java_vendor or default_vendor,
                    "repository": str(repository), "python": python,
                    "timezone": timezone, "database": database is not None},
        "version": dict(version_info or {}),
        "faults": dict(faults or {}),
    }), encoding="utf-8")
    if database is not None:
        sync(load(home))
    return home / "bin" / "dspace"


def set_faults(home: Path, **knobs: Any) -> None:
    """Replace the ``[faults]`` table of ``home``'s standin.toml (no knob: no fault)."""
    path = home / "config" / "standin.toml"
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    doc["faults"] = {k: v for k, v in knobs.items() if v is not None}
    path.write_text(to_toml(doc), encoding="utf-8")


# --- an installed stand-in ---------------------------------------------------------------------
@dataclass
class Standin:
    """An installed stand-in."""

    home: Path
    repository: Path
    version: str
    database: Database | None = None

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
            timeout: float = 120) -> CliResult:
        """``bin/dspace ARGS`` in a subprocess; ``stdin`` None means /dev/null."""
        child_env = {k: os.environ[k] for k in BASE_ENV_NAMES if k in os.environ}
        child_env.update(env or {})
        proc = subprocess.run(
            [str(self.bin), *args], input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None, capture_output=True,
            env=child_env, cwd=cwd or self.home.parent, timeout=timeout, check=False)
        result = CliResult(proc.returncode, proc.stdout.decode("utf-8", "replace"),
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
        set_faults(self.home, **knobs)

    def sync_db(self) -> None:
        """Make DSpace's tables equal to the embedded repository (after a test changed it
        directly)."""
        sync(load(self.home))

    def db_rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a query on the install's database (through DSpace's own keys)."""
        with connect(load(self.home)) as conn:
            return list(conn.execute(sql).fetchall())  # type: ignore[arg-type,unused-ignore]

    def drop(self) -> None:
        if self.database is not None:
            drop_database(self.database)
            self.database = None


def make_standin(folder: Path, repository: Path, version: str, *,
                 pg_url: str | None = None, jdbc_form: str = "plain",
                 **options: Any) -> Standin:
    """An install of the stand-in for DSpace ``version`` at ``folder`` over the embedded
    repository folder ``repository``; with ``pg_url`` (a PostgreSQL server URL) it gets
    its own database there, filled from the repository.  ``options`` go to ``install``
    (``java_version``, ``java_vendor``, ``timezone``, ``faults``, ``version_info``)."""
    database = create_database(pg_url, jdbc_form=jdbc_form) if pg_url else None
    install(folder, repository=repository, version=version, database=database, **options)
    return Standin(folder.resolve(), repository.resolve(), version, database)
