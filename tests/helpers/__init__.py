"""Shared test helpers: repositories on either backend, the CLI in-process or as a process.

Import them as ``from helpers import ...``: pytest's default ("prepend") import mode puts
``tests/`` on ``sys.path`` when it loads ``tests/conftest.py``, so this package is importable
from every test module without installing anything.

What is here (all of it general; later issues reuse it):

- ``RepoLocation``: where a test repository lives (an SQLite folder, or a PostgreSQL URL plus
  an assetstore folder), with the CLI arguments that name it (``argv``) and ``open()`` for
  library access.
- ``location_for`` / ``BACKENDS`` / ``drop_database``: the two backends as pytest params
  (PostgreSQL through the ``pg_url`` fixture of ``tests/conftest.py``, so it is skipped when
  no server answers) and the clean-up of a test database.
- ``make_repo``: an initialised repository in one call.
- ``run_cli`` / ``repo_cli``: ``aip.cli.run`` in-process with captured output; the expected
  exit code is a required check of every call (docs/style.md P4).  ``run_console`` does the same
  through ``python -m daemon`` in a subprocess (the console path).
- ``snapshot`` / ``cli_snapshot`` / ``asset_files`` / ``dump_text``: the observable state of
  a repository (the canonical dump and every file under the assetstore), to prove "nothing
  changed".
- ``assert_one_line_error``: the shape of a CLI failure (one line on stderr, the exit code).
- ``dangling_references``: rows or files that point at something gone (empty when healthy);
  the check after deletes, rollbacks and, later, restores.

Beside it: ``helpers.packager`` (export/ingest through the CLI, test hierarchies, ``seed``)
and ``helpers.zips`` (zips written entry by entry, free to lie: the bad-AIP corpus and the
zip fuzzer).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from aip import cli
from aip import constants as C
from aip.repository import dump as dumpmod
from aip.repository import setup as setupmod
from aip.repository.store import ASSETSTORE_DIR, Repository

#: The handle prefix, site handle and first administrator of every helper-made repository.
PREFIX = "123456789"
SITE = f"{PREFIX}/0"
ADMIN = "admin@example.org"

#: The store backends as pytest params; PostgreSQL is marked and skipped without a server.
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]

#: Where the project's sources are (the cwd of console subprocesses).
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RepoLocation:
    """Where a test repository lives.

    ``folder`` is the repository folder for SQLite (``repository.sqlite`` + ``assetstore/``);
    with ``db_url`` (PostgreSQL) the database is on the server and ``folder`` only holds the
    assetstore.
    """

    folder: Path
    db_url: str | None = None

    @property
    def backend(self) -> str:
        return "sqlite" if self.db_url is None else "postgresql"

    @property
    def assetstore(self) -> Path:
        return self.folder / ASSETSTORE_DIR

    @property
    def argv(self) -> list[str]:
        """The global CLI options that name this repository."""
        if self.db_url is None:
            return ["--repo", str(self.folder)]
        return ["--db-url", self.db_url, "--assetstore", str(self.assetstore)]

    def open(self, *, create: bool = False, **kwargs: Any) -> Repository:
        """``Repository.open`` on this location (the caller closes it)."""
        if self.db_url is None:
            return Repository.open(self.folder, create=create, **kwargs)
        return Repository.open(db_url=self.db_url, assetstore=self.assetstore, create=create,
                               **kwargs)

    @contextlib.contextmanager
    def opened(self, **kwargs: Any) -> Iterator[Repository]:
        """The repository, open for the ``with`` block."""
        repo = self.open(**kwargs)
        try:
            yield repo
        finally:
            repo.close()


def location_for(request: pytest.FixtureRequest, backend: str, folder: Path) -> RepoLocation:
    """An empty location on ``backend`` (``"sqlite"`` or ``"postgresql"``).

    PostgreSQL comes from the ``pg_url`` fixture (a fresh database; the test is skipped when
    no server answers); the caller drops it with ``drop_database`` when done.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        return RepoLocation(folder)
    if backend == "postgresql":
        return RepoLocation(folder, request.getfixturevalue("pg_url"))
    raise ValueError(f"unknown backend {backend!r}")


def drop_database(db_url: str) -> None:
    """Drop a test database made by the ``pg_url`` fixture (connections are forced out).

    Connects to the server's ``postgres`` maintenance database to do it.
    """
    url = sa.engine.make_url(db_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    name = url.database
    engine = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def copy_repo(template: Path, folder: Path) -> RepoLocation:
    """An SQLite repository at ``folder``, a copy of the closed one at ``template`` (a
    session's template: a copy costs milliseconds where building costs seconds)."""
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(template, folder)
    return RepoLocation(folder)


def make_repo(location: RepoLocation, *, prefix: str = PREFIX, admin: str = ADMIN,
              admin_password: str | None = None) -> RepoLocation:
    """Initialise ``location`` as ``repo init`` does (library call, no CLI); returns it."""
    repo = location.open(create=True)
    try:
        setupmod.initialise(repo, handle_prefix=prefix, admin_email=admin,
                            admin_password=admin_password)
    finally:
        repo.close()
    return location


# -- the CLI -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CliResult:
    """What one CLI call did: exit code, stdout and stderr."""

    rc: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    @property
    def last(self) -> str:
        """The last stdout line (what a verb made)."""
        lines = self.lines
        assert lines, f"no output; stderr: {self.err!r}"
        return lines[-1]


def _check(result: CliResult, expect: int, argv: Sequence[str]) -> CliResult:
    assert result.rc == expect, (
        f"aipsync {' '.join(argv)} exited {result.rc}, expected {expect}\n"
        f"stdout: {result.out[-2000:]}\nstderr: {result.err[-2000:]}")
    return result


def run_cli(*argv: str, expect: int) -> CliResult:
    """Run ``aipsync ARGV`` in-process (``aip.cli.run``) and check its exit code.

    ``expect`` is required so that no call goes unchecked (docs/style.md P4).
    """
    out, err = io.StringIO(), io.StringIO()
    rc = cli.run(list(argv), out=out, err=err)
    return _check(CliResult(rc, out.getvalue(), err.getvalue()), expect, argv)


def repo_cli(location: RepoLocation, verb: str, *args: str, expect: int = 0) -> CliResult:
    """``aipsync <location> repo VERB ARGS`` in-process, checked against ``expect``."""
    return run_cli(*location.argv, "repo", verb, *args, expect=expect)


def console_env(**extra: str) -> dict[str, str]:
    """The environment for a console subprocess: ours without AIPSYNC_*, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(C.ENV_PREFIX)}
    env.update(extra)
    return env


def run_console(*argv: str, expect: int, env: dict[str, str] | None = None,
                timeout: float = 120) -> CliResult:
    """Run ``python -m daemon ARGV`` as a subprocess and check its exit code."""
    proc = subprocess.run(
        [sys.executable, "-m", "daemon", *argv], capture_output=True, text=True,
        env=env if env is not None else console_env(), cwd=PROJECT_ROOT, timeout=timeout,
        check=False)
    return _check(CliResult(proc.returncode, proc.stdout, proc.stderr), expect, argv)


def assert_one_line_error(result: CliResult, code: int, *fragments: str) -> str:
    """A failed call: exit ``code``, one ``aipsync: error:`` line on stderr naming each
    fragment, nothing on stdout.  Returns the line."""
    assert result.rc == code, (result.rc, result.err)
    lines = result.err.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {lines!r}"
    assert lines[0].startswith("aipsync: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert result.out == "", f"stdout not empty: {result.out!r}"
    return lines[0]


# -- observable state ----------------------------------------------------------------------------
def dump_text(location: RepoLocation, handle: str | None = None) -> str:
    """The canonical JSON dump (library call; the CLI prints the same text)."""
    with location.opened() as repo, repo.transaction(write=False) as tx:
        return dumpmod.to_json(dumpmod.dump(tx, handle))


def asset_files(location: RepoLocation) -> set[str]:
    """Every file under the assetstore (temp files and journals included), as relative paths."""
    root = location.assetstore
    if not root.is_dir():
        return set()
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@dataclass(frozen=True)
class Snapshot:
    """The observable state of a repository: its canonical dump and its assetstore files."""

    dump: str
    files: frozenset[str]


def snapshot(location: RepoLocation) -> Snapshot:
    """The state through the library (the dump first: opening may run crash recovery)."""
    text = dump_text(location)
    return Snapshot(text, frozenset(asset_files(location)))


def cli_snapshot(location: RepoLocation) -> Snapshot:
    """The state through the CLI: ``repo dump --json`` bytes plus the assetstore files."""
    text = repo_cli(location, "dump", "--json", expect=C.EXIT_OK).out
    return Snapshot(text, frozenset(asset_files(location)))


# -- referential health --------------------------------------------------------------------------
def dangling_references(location: RepoLocation) -> dict[str, list[Any]]:
    """Everything that points at something gone, by kind (an empty dict when healthy).

    Checks metadata values and policies of missing objects, bundles of missing items,
    bitstreams in no bundle that are no logo, handles bound to missing objects, role groups
    of missing objects, bitstream rows without a file and files without a row.
    """
    from aip.repository import tables as T

    tables = {C.TYPE_COMMUNITY: T.community, C.TYPE_COLLECTION: T.collection,
              C.TYPE_ITEM: T.item, C.TYPE_BUNDLE: T.bundle, C.TYPE_BITSTREAM: T.bitstream}
    found: dict[str, list[Any]] = {}
    with location.opened() as repo, repo.transaction(write=False) as tx:
        def ids(table: sa.Table) -> set[int]:
            return set(tx.execute(sa.select(table.c.id)).scalars())

        live = {name: ids(table) for name, table in tables.items()}
        for what, table in (("metadata_value", T.metadata_value),
                            ("resource_policy", T.resource_policy)):
            for rtype, rid in tx.execute(sa.select(table.c.resource_type,
                                                   table.c.resource_id)):
                if rid not in live[rtype]:
                    found.setdefault(what, []).append((rtype, rid))
        for bundle_id, item_id in tx.execute(sa.select(T.bundle.c.id, T.bundle.c.item_id)):
            if item_id not in live[C.TYPE_ITEM]:
                found.setdefault("bundle", []).append(bundle_id)
        logos = {v for t in (T.community, T.collection)
                 for v in tx.execute(sa.select(t.c.logo_id)).scalars() if v is not None}
        keys: set[str] = set()
        for bs_id, bundle_id, key in tx.execute(sa.select(
                T.bitstream.c.id, T.bitstream.c.bundle_id, T.bitstream.c.store_key)):
            keys.add(key)
            if bundle_id is None and bs_id not in logos:
                found.setdefault("bitstream", []).append(bs_id)
        for handle, rtype, rid in tx.execute(sa.select(
                T.handle.c.handle, T.handle.c.resource_type, T.handle.c.resource_id)):
            if rtype in live and rid not in live[rtype]:
                found.setdefault("handle", []).append(handle)
        for name in tx.execute(sa.select(T.epersongroup.c.name)).scalars():
            rtype, _, rest = name.partition("_")
            rid = rest.partition("_")[0]
            if rtype in (C.TYPE_COMMUNITY, C.TYPE_COLLECTION) and rid.isdigit() \
                    and int(rid) not in live[rtype]:
                found.setdefault("role_group", []).append(name)
        on_disk = set(repo.assetstore.iter_keys())
        if keys - on_disk:
            found["missing_file"] = sorted(keys - on_disk)
        if on_disk - keys:
            found["unreferenced_file"] = sorted(on_disk - keys)
    return found


def toml_value(value: Any) -> str:
    """``value`` as a TOML value (strings quoted and escaped, lists inline)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def to_toml(doc: dict[str, dict[str, Any]]) -> str:
    """A configuration file's text: one table per section; keys whose value is None are left
    out (they take their default)."""
    lines = []
    for section, table in doc.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items() if v is not None]
        lines.append("")
    return "\n".join(lines)


class DaemonFolders:
    """The staging and state folders a daemon test environment keeps under its ``root``
    (for the dataclasses of the mirror, service and fault suites)."""

    root: Path

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"


def wait_for(predicate: Callable[[], Any], *, timeout: float, what: str,
             step: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something true, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class NotifySocket:
    """What systemd's side of ``NOTIFY_SOCKET`` sees: every datagram, in order (a datagram
    socket in a short temporary folder, read on a thread; ``close`` removes it)."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="aipsync-n-", dir="/tmp")  # short AF_UNIX paths
        self.path = os.path.join(self.folder, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="notify-reader")
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue

    def count(self, field: str, start: int = 0, end: int | None = None) -> int:
        """Messages (of ``messages[start:end]``) holding the line ``field``."""
        return sum(1 for m in list(self.messages)[start:end] if field in m.split("\n"))

    def index_of(self, prefix: str) -> int | None:
        """The first message with a line starting with ``prefix``."""
        for n, message in enumerate(list(self.messages)):
            if any(line.startswith(prefix) for line in message.split("\n")):
                return n
        return None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.folder)
