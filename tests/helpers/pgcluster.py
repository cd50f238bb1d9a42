"""A throwaway PostgreSQL cluster for a test session, built from the installed server binaries.

``find_binaries()`` looks for ``initdb``, ``pg_ctl`` and ``postgres`` together: first on
``PATH`` (a symlink is followed to the folder that holds all three), then in Debian's
``/usr/lib/postgresql/<version>/bin``, newest version first.  ``None`` when there are none.

``ThrowawayCluster(binaries)`` is a context manager.  On entry it

- makes a private temporary folder (``data/``, ``sock/``, ``server.log``, ``pgpass``);
- runs ``initdb`` with superuser ``postgres``, a random password read from a file
  (``--pwfile``, removed straight after), SCRAM authentication for host and local
  connections, UTF-8 without locale (byte order, as SQLite compares) and no fsync;
- starts the server with ``pg_ctl -w`` listening on 127.0.0.1 only, on a free port (tried
  again on another port if that one was taken meanwhile), with its unix socket inside the
  folder and durability settings off (the data is thrown away);
- writes a libpq password file (``pgpass``, mode 0600) for that host and port.

``url`` is then ``postgresql://postgres@127.0.0.1:<port>/postgres``: it carries no password.
libpq, in this process and in every child, finds the password through ``PGPASSFILE`` set to
``pgpass`` (the caller sets it; the session fixture of ``tests/conftest.py`` does), so the
password never appears in a URL, an argument list, a log line or a test report.

On exit (and, should the exit never run, at interpreter exit) the server is stopped with
``pg_ctl stop -m fast``, or its postmaster is sent SIGQUIT if that fails, and the folder is
removed.  PostgreSQL refuses to run as root: as root, ``initdb`` and ``pg_ctl`` run as the
unprivileged ``postgres`` user (made by Debian's package), which then owns the folder.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

#: The superuser, database and address of every throwaway cluster.
SUPERUSER = "postgres"
DATABASE = "postgres"
HOST = "127.0.0.1"
#: The account that runs the server when the tests run as root.
SERVER_ACCOUNT = "postgres"
#: Where Debian's packages put each major version's server binaries.
DEBIAN_ROOT = Path("/usr/lib/postgresql")
#: Seconds ``pg_ctl`` may wait for the server to start or stop.
WAIT_SECONDS = 60
#: Settings for a cluster whose data is thrown away (postgresql.conf lines).
SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "logging_collector": "off",
}
_PROGRAMS = ("initdb", "pg_ctl", "postgres")
#: Why there is no throwaway cluster when ``find_binaries`` finds nothing (a skip reason).
NOT_INSTALLED = ("no PostgreSQL: install its server (Debian: apt-get install postgresql) for a "
                 "throwaway cluster, or name a server in AIPSYNC_TEST_PG_URL")


class ClusterError(RuntimeError):
    """The throwaway cluster could not be made, started or stopped (the message says why)."""


@dataclass(frozen=True)
class Binaries:
    """A folder holding PostgreSQL's ``initdb``, ``pg_ctl`` and ``postgres``."""

    bindir: Path

    def program(self, name: str) -> str:
        return str(self.bindir / name)


def _complete(folder: Path) -> bool:
    return all(os.access(folder / name, os.X_OK) for name in _PROGRAMS)


def _version_key(folder: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", folder.name)) or (0,)


def find_binaries(path: str | None = None, debian_root: Path = DEBIAN_ROOT) -> Binaries | None:
    """The server binaries on ``path`` (default ``$PATH``), else Debian's newest; or None."""
    found = shutil.which("initdb", path=path if path is not None else os.environ.get("PATH"))
    if found:
        folder = Path(found).resolve().parent
        if _complete(folder):
            return Binaries(folder)
    if debian_root.is_dir():
        for version in sorted(debian_root.iterdir(), key=_version_key, reverse=True):
            if _complete(version / "bin"):
                return Binaries(version / "bin")
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class ThrowawayCluster:
    """A PostgreSQL cluster in a temporary folder, for as long as the ``with`` block."""

    def __init__(self, binaries: Binaries) -> None:
        self.binaries = binaries
        self.folder: Path | None = None
        self.port = 0
        self.version = ""
        self._account: pwd.struct_passwd | None = None
        self._running = False

    # -- the public face -------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The superuser's URL (no password: libpq reads it from ``pgpass``)."""
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{DATABASE}"

    @property
    def pgpass(self) -> Path:
        """The libpq password file to point ``PGPASSFILE`` at."""
        assert self.folder is not None
        return self.folder / "pgpass"

    @property
    def log(self) -> Path:
        assert self.folder is not None
        return self.folder / "server.log"

    def describe(self) -> str:
        """One line for a report: version, binaries, address (never the password)."""
        return (f"{self.version or 'PostgreSQL'} from {self.binaries.bindir}, "
                f"throwaway cluster on {HOST}:{self.port}")

    def __enter__(self) -> ThrowawayCluster:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- start -----------------------------------------------------------------------------
    def start(self) -> None:
        """Make the folder and the cluster, start the server; on any failure, clean up and
        raise ``ClusterError``."""
        if os.geteuid() == 0:
            try:
                self._account = pwd.getpwnam(SERVER_ACCOUNT)
            except KeyError:
                raise ClusterError(
                    f"running as root and there is no '{SERVER_ACCOUNT}' user to run "
                    f"PostgreSQL as (PostgreSQL refuses root)") from None
        self.version = self._run(["pg_ctl", "--version"]).strip().replace(
            "pg_ctl (PostgreSQL)", "PostgreSQL", 1)
        self.folder = Path(tempfile.mkdtemp(prefix="aipsync-pg-"))
        atexit.register(self.stop)
        try:
            self._check_reachable(self.folder)
            self._own(self.folder)
            self._initdb()
            self._start_server()
            self._write_pgpass()
        except BaseException:
            self.stop()
            raise

    def _initdb(self) -> None:
        assert self.folder is not None
        password = secrets.token_urlsafe(32)
        self._password = password
        pwfile = self.folder / "pwfile"
        self._write_private(pwfile, password + "\n", own=True)
        (self.folder / "sock").mkdir(mode=0o700)
        self._own(self.folder / "sock")
        try:
            self._run(["initdb", "-D", str(self.folder / "data"), "-U", SUPERUSER,
                       f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
                       "--auth-local=scram-sha-256", "-E", "UTF8", "--no-locale", "-N"],
                      what="initdb")
        finally:
            pwfile.unlink(missing_ok=True)
        lines = [f"{key} = {value}" for key, value in SETTINGS.items()]
        lines.append(f"unix_socket_directories = '{self.folder / 'sock'}'")
        with open(self.folder / "data" / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# aipsync test session\n" + "\n".join(lines) + "\n")

    def _start_server(self) -> None:
        assert self.folder is not None
        for attempt in range(3):
            self.port = _free_port()
            try:
                self._run(["pg_ctl", "-D", str(self.folder / "data"), "-l", str(self.log),
                           "-w", "-t", str(WAIT_SECONDS), "-s", "-o", f"-p {self.port}",
                           "start"], what="pg_ctl start")
            except ClusterError:
                if attempt < 2 and "already in use" in _tail(self.log):
                    continue  # another process took the port in between: try another
                raise
            self._running = True
            return

    def _write_pgpass(self) -> None:
        self._write_private(self.pgpass, f"{HOST}:{self.port}:*:{SUPERUSER}:{self._password}\n",
                            own=False)

    # -- stop ------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the server and remove the folder (safe to call more than once)."""
        folder, self.folder = self.folder, None
        if folder is None:
            return
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        data = folder / "data"
        if self._running or (data / "postmaster.pid").exists():
            self._running = False
            try:
                self._run(["pg_ctl", "-D", str(data), "-m", "fast", "-w",
                           "-t", str(WAIT_SECONDS), "-s", "stop"], what="pg_ctl stop")
            except ClusterError:
                _kill_postmaster(data)
        shutil.rmtree(folder, ignore_errors=True)

    # -- running the binaries --------------------------------------------------------------
    def _run(self, argv: Sequence[str], what: str | None = None) -> str:
        """Run one of the binaries (as the server account when we are root), with a minimal
        environment; its output, or ``ClusterError`` with the output's end."""
        kwargs: dict[str, Any] = {}
        if self._account is not None:
            kwargs.update(user=self._account.pw_uid, group=self._account.pw_gid,
                          extra_groups=[])
        cwd = self.folder or Path(tempfile.gettempdir())
        env = {"PATH": os.defpath, "LC_ALL": "C", "LANG": "C", "HOME": str(cwd)}
        try:
            proc = subprocess.run([self.binaries.program(argv[0]), *argv[1:]], cwd=cwd,
                                  env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=WAIT_SECONDS + 30, check=False, **kwargs)
        except (OSError, subprocess.SubprocessError) as exc:
            raise ClusterError(f"{what or argv[0]} could not run: {exc}") from None
        if proc.returncode != 0:
            detail = "\n".join(s for s in (proc.stdout.strip(), proc.stderr.strip(),
                                           _tail(self.log) if self.folder else "") if s)
            raise ClusterError(f"{what or argv[0]} failed (exit {proc.returncode})"
                               + (f":\n{detail}" if detail else ""))
        return proc.stdout

    def _own(self, path: Path) -> None:
        if self._account is not None:
            os.chown(path, self._account.pw_uid, self._account.pw_gid)

    def _write_private(self, path: Path, text: str, *, own: bool) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        if own:
            self._own(path)

    def _check_reachable(self, folder: Path) -> None:
        """As root, the server account must be able to enter every folder above ours."""
        if self._account is None:
            return
        for parent in folder.parents:
            mode = parent.stat()
            if not mode.st_mode & stat.S_IXOTH and mode.st_uid != self._account.pw_uid:
                raise ClusterError(
                    f"user {SERVER_ACCOUNT} cannot enter {parent} (above the temporary "
                    f"folder {folder}); set TMPDIR to a folder it can reach")


def _kill_postmaster(data: Path) -> None:
    """SIGQUIT (immediate shutdown) to the postmaster named by ``postmaster.pid``, and wait
    a little for it to go."""
    try:
        pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGQUIT)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.1)
